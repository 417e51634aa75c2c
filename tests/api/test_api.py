"""The HTTP API over a fake port: every route, every error status with its JSON body, ids with '/'."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from framework.api import build_api
from framework.api.routes import RESERVED_LAST_SEGMENTS
from framework.core.backoff import LaunchDelay
from framework.core.effects import TaskRecord
from framework.core.events import TaskState
from framework.core.model import Constraint, ConstraintOperator
from framework.core.placement import ConstraintUnmet, NoFit, UnplacedReport
from framework.core.spec import validate_app
from framework.core.views import QueueEntry, queue_reasons
from framework.logging import build_logger
from framework.metrics import Metrics
from framework.settings import LogFormat, LogLevel, Settings
from tests.api.conftest import BODY_CAP, Client
from tests.api.fakes import T0, FakePort

WEB = {"id": "shop/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 64, "instances": 2,
       "ports": ["http"]}


async def error_of(response: ClientResponse, status: int) -> dict[str, Any]:
    """Assert the status and the stable problem shape; return the inner error object."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) >= {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], list)
    return dict(error)


async def post_app(client: Client, body: object) -> dict[str, object]:
    response = await client.post("/v1/apps", json=body)
    assert response.status == 201, await response.text()
    return dict(await response.json())


# --- apps ----------------------------------------------------------------------------------------


async def test_create_app_answers_201_with_location_and_the_app(client: Client, port: FakePort) -> None:
    response = await client.post("/v1/apps", json=WEB)
    assert response.status == 201
    assert response.headers["Location"] == "/v1/apps/shop/web"
    body = await response.json()
    assert body["id"] == "/shop/web"
    assert body["version"] == "v1"
    assert body["version_created_at"] == "2023-11-14T22:13:21.000Z"
    assert body["spec"] == validate_app(WEB).to_json()
    assert body["status"] == {
        "state": "waiting", "instances": 2, "tasks": 0, "staged": 0, "running": 0, "healthy": 0,
        "unhealthy": 0, "ready": 0, "unreachable": 0, "killing": 0, "waiting": 2, "deploying": False,
        "backoff": None,
    }
    assert port.versions_by_app["/shop/web"][0].spec == validate_app(WEB)


async def test_create_existing_app_is_409(client: Client) -> None:
    await post_app(client, WEB)
    error = await error_of(await client.post("/v1/apps", json=WEB), 409)
    assert error["code"] == "app_exists"
    assert "/shop/web" in str(error["message"]) and "PUT /v1/apps/shop/web" in str(error["message"])


async def test_list_and_get_apps(client: Client) -> None:
    await post_app(client, WEB)
    await post_app(client, {**WEB, "id": "/shop/api"})
    listed = await (await client.get("/v1/apps")).json()
    assert [app["id"] for app in listed["apps"]] == ["/shop/api", "/shop/web"]
    for path in ("/v1/apps/shop/web", "/v1/apps//shop/web", "/v1/apps/shop/web/"):
        response = await client.get(path)
        assert response.status == 200, path
        assert (await response.json())["id"] == "/shop/web"


async def test_empty_list(client: Client) -> None:
    assert await (await client.get("/v1/apps")).json() == {"apps": []}


async def test_put_creates_then_updates(client: Client) -> None:
    body = {key: value for key, value in WEB.items() if key != "id"}  # the URL gives the id
    created = await client.put("/v1/apps/shop/web", json=body)
    assert created.status == 201
    assert created.headers["Location"] == "/v1/apps/shop/web"
    updated = await client.put("/v1/apps/shop/web", json={**WEB, "instances": 5})
    assert updated.status == 200
    got = await updated.json()
    assert (got["version"], got["spec"]["instances"]) == ("v2", 5)


async def test_put_with_an_id_that_differs_from_the_url_is_422(client: Client) -> None:
    error = await error_of(await client.put("/v1/apps/shop/web", json={**WEB, "id": "/shop/api"}), 422)
    assert error["code"] == "invalid_app"
    assert error["fields"] == [{"path": "id", "message": "is '/shop/api' but the URL names '/shop/web'"}]


async def test_put_with_an_invalid_url_id_is_422_on_id(client: Client) -> None:
    error = await error_of(await client.put("/v1/apps/Shop/Web", json=WEB), 422)
    assert [f["path"] for f in error["fields"]] == ["id"]


async def test_delete(client: Client, port: FakePort) -> None:
    await post_app(client, WEB)
    response = await client.delete("/v1/apps/shop/web")
    assert response.status == 202
    assert await response.json() == {"id": "/shop/web", "state": "deleting"}
    assert port.deleted == ["/shop/web"]
    error = await error_of(await client.get("/v1/apps/shop/web"), 404)
    assert error["code"] == "app_not_found"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("path", ["/v1/apps/nope", "/v1/apps/nope/tasks", "/v1/apps/a/b/versions"])
async def test_unknown_app_is_404(client: Client, method: str, path: str) -> None:
    if method == "DELETE" and not path.endswith("nope"):
        path = path.rsplit("/", 1)[0]
    error = await error_of(await client.request(method, path), 404)
    assert error["code"] == "app_not_found"
    assert error["message"] in ("app /nope does not exist", "app /a/b does not exist")


async def test_an_id_that_cannot_be_valid_is_404_without_asking_the_port(
    client: Client, port: FakePort
) -> None:
    error = await error_of(await client.get("/v1/apps/UPPER/case"), 404)
    assert error["code"] == "app_not_found" and "UPPER" in str(error["message"])
    assert port.calls == []


@pytest.mark.parametrize("segment", sorted(RESERVED_LAST_SEGMENTS))
async def test_ids_ending_in_a_route_word_are_refused(client: Client, segment: str) -> None:
    error = await error_of(await client.post("/v1/apps", json={**WEB, "id": f"shop/{segment}"}), 422)
    assert error["fields"] == [
        {"path": "id", "message": "must not end in a 'tasks' or 'versions' segment (reserved by the API)"}
    ]


async def test_route_words_inside_an_id_are_fine(client: Client, port: FakePort) -> None:
    await post_app(client, {**WEB, "id": "/tasks/versions/web"})
    assert (await (await client.get("/v1/apps/tasks/versions/web")).json())["id"] == "/tasks/versions/web"
    tasks = await (await client.get("/v1/apps/tasks/versions/web/tasks")).json()
    versions = await (await client.get("/v1/apps/tasks/versions/web/versions")).json()
    assert tasks == {"app_id": "/tasks/versions/web", "tasks": []}
    assert versions["app_id"] == "/tasks/versions/web" and len(versions["versions"]) == 1


# --- tasks, versions, queue ----------------------------------------------------------------------


async def test_tasks_of_an_app_with_slashes_in_its_id(client: Client, port: FakePort) -> None:
    await post_app(client, {**WEB, "id": "/a/b/c"})
    port.tasks_by_app["/a/b/c"] = [
        TaskRecord(task_id="a_b_c.1", app_id="/a/b/c", version="v1", slot=0, state=TaskState.RUNNING,
                   updated_at=T0, healthy=True, agent_id="agent-1", hostname="10.0.0.1", ports=(31001,),
                   started_at=T0 + 0.25),
        TaskRecord(task_id="a_b_c.2", app_id="/a/b/c", version="v1", slot=1, state=TaskState.STAGING,
                   updated_at=T0),
    ]
    response = await client.get("/v1/apps/a/b/c/tasks")
    assert response.status == 200
    assert await response.json() == {
        "app_id": "/a/b/c",
        "tasks": [
            {"id": "a_b_c.1", "app_id": "/a/b/c", "state": "TASK_RUNNING", "healthy": True,
             "agent": "agent-1", "host": "10.0.0.1", "ports": [31001], "version": "v1",
             "started_at": "2023-11-14T22:13:20.250Z"},
            {"id": "a_b_c.2", "app_id": "/a/b/c", "state": "TASK_STAGING", "healthy": None, "agent": None,
             "host": None, "ports": [], "version": "v1", "started_at": None},
        ],
    }
    # The app itself is still reachable under the same prefix, and sees its running task.
    assert (await (await client.get("/v1/apps/a/b/c")).json())["status"]["running"] == 1


async def test_versions_newest_first(client: Client) -> None:
    await post_app(client, WEB)
    await client.put("/v1/apps/shop/web", json={**WEB, "instances": 3})
    body = await (await client.get("/v1/apps/shop/web/versions")).json()
    assert body["app_id"] == "/shop/web"
    assert [(v["version"], v["spec"]["instances"]) for v in body["versions"]] == [("v2", 3), ("v1", 2)]
    assert body["versions"][0]["created_at"] == "2023-11-14T22:13:22.000Z"


async def test_queue_lists_waiting_apps_with_reasons_and_numbers(client: Client, port: FakePort) -> None:
    # Reasons built by the core from a real placement report, as the driver will pass them on.
    report = UnplacedReport(
        app_id="/shop/web", version="v1", placed=0, unplaced=3,
        reasons=(
            NoFit(resource="mem", requested=512, best_available=256, agents=4),
            ConstraintUnmet(Constraint("hostname", ConstraintOperator.UNIQUE), agents=2),
        ),
    )
    port.waiting = [
        QueueEntry(app_id="/shop/web", version="v1", waiting=3, since=T0, offer_rounds=5,
                   last_round=queue_reasons(report),
                   refused=(("no_fit:mem", 20), ("constraint_unmet:hostname:UNIQUE", 10)), backoff=None),
        QueueEntry(app_id="/batch", version="v7", waiting=1, since=T0 + 1, offer_rounds=0, last_round=(),
                   refused=(), backoff=None),
    ]
    body = await (await client.get("/v1/queue")).json()
    assert body == {
        "queue": [
            {
                "app_id": "/shop/web", "version": "v1", "waiting": 3, "since": "2023-11-14T22:13:20.000Z",
                "offer_rounds": 5,
                "last_round": [
                    {"kind": "no_fit", "label": "no_fit:mem", "agents": 4,
                     "message": "4 agent(s) with insufficient mem (requested 512, best available 256)"},
                    {"kind": "constraint_unmet", "label": "constraint_unmet:hostname:UNIQUE", "agents": 2,
                     "message": "2 agent(s) refused by constraint hostname:UNIQUE"},
                ],
                "refused": [{"label": "no_fit:mem", "agents": 20},
                            {"label": "constraint_unmet:hostname:UNIQUE", "agents": 10}],
                "backoff": None,
            },
            {"app_id": "/batch", "version": "v7", "waiting": 1, "since": "2023-11-14T22:13:21.000Z",
             "offer_rounds": 0, "last_round": [], "refused": [], "backoff": None},
        ]
    }


async def test_a_crash_looping_app_shows_its_backoff(client: Client, port: FakePort) -> None:
    await post_app(client, WEB)
    port.delays["/shop/web"] = LaunchDelay(delay_seconds=8.0, until=port.now + 5.5, crashes=4,
                                           last_crash="task shop_web.4 TASK_FAILED: exited with status 1")
    status = (await (await client.get("/v1/apps/shop/web")).json())["status"]
    assert status["state"] == "backing_off"
    assert status["backoff"] == {
        "delay_seconds": 8.0, "until": "2023-11-14T22:13:26.500Z", "remaining_seconds": 5.5, "crashes": 4,
        "last_crash": "task shop_web.4 TASK_FAILED: exited with status 1",
    }


# --- info, health, readiness, metrics ------------------------------------------------------------


async def test_info(client: Client) -> None:
    body = await (await client.get("/v1/info")).json()
    assert body == {"name": "gantry", "framework_id": "fw-0001", "master": "http://127.0.0.1:5050",
                    "subscribed": True, "embedded_cluster": True, "version": body["version"]}
    assert isinstance(body["version"], str) and body["version"]


async def test_healthz_is_liveness_only(client: Client, port: FakePort) -> None:
    port.subscribed = False
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_readyz_ready(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "ready": True,
        "checks": [{"name": "subscribed", "ok": True, "message": None},
                   {"name": "store_writable", "ok": True, "message": None}],
    }


async def test_readyz_names_each_failing_check(client: Client, port: FakePort) -> None:
    port.subscribed = False
    port.store_writable = False
    response = await client.get("/readyz")
    error = await error_of(response, 503)
    assert error["code"] == "not_ready"
    assert error["message"] == "not ready: subscribed: connection refused; store_writable: disk I/O error"
    body = await response.json()
    assert [c["ok"] for c in body["checks"]] == [False, False]


async def test_metrics_endpoint_uses_route_templates_not_ids(client: Client) -> None:
    await post_app(client, WEB)
    await client.get("/v1/apps/shop/web/tasks")
    await client.get("/no/such/thing")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    assert 'gantry_http_requests_total{method="POST",route="/v1/apps",status="2xx"} 1.0' in text
    assert 'gantry_http_requests_total{method="GET",route="/v1/apps/{id}/tasks",status="2xx"} 1.0' in text
    assert 'gantry_http_requests_total{method="GET",route="unmatched",status="4xx"} 1.0' in text
    assert "shop/web" not in text


async def test_request_log_lines_carry_the_app_id(client: Client, log_buffer: io.StringIO) -> None:
    await post_app(client, WEB)
    lines = [json.loads(line) for line in log_buffer.getvalue().splitlines()]
    (line,) = [line for line in lines if line.get("method") == "POST"]
    assert (line["event"], line["route"], line["status"]) == ("http request", "/v1/apps", 201)
    assert line["level"] == "info"
    put_line_count = len(lines)
    await client.put("/v1/apps/shop/web", json=WEB)
    put = [json.loads(line) for line in log_buffer.getvalue().splitlines()][put_line_count:]
    assert put[-1]["app_id"] == "/shop/web"


# --- request errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{", "not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        (b'{"id": "a", "id": "b"}', "duplicate key 'id'"),
        (b'{"id": "a", "cpus": NaN}', "NaN is not valid JSON"),
        (b"   ", "the request body is empty"),
        (b'{"id": "\xff"}', "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
async def test_bad_json_is_400(client: Client, metrics: Metrics, raw: bytes, fragment: str) -> None:
    if len(raw) > BODY_CAP:
        # The nesting case needs a bigger cap than the fixture's; build a dedicated server.
        app = build_api(FakePort(), metrics, Settings(max_body_bytes=1 << 20),
                        build_logger(LogFormat.JSON, LogLevel.ERROR, io.StringIO()))
        async with TestClient(TestServer(app)) as big:
            response = await big.post("/v1/apps", data=raw, headers={"Content-Type": "application/json"})
            error = await error_of(response, 400)
    else:
        response = await client.post("/v1/apps", data=raw, headers={"Content-Type": "application/json"})
        error = await error_of(response, 400)
    assert error["code"] == "bad_json"
    assert fragment in str(error["message"])


async def test_unknown_route_is_404(client: Client) -> None:
    error = await error_of(await client.get("/v2/apps"), 404)
    assert error["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/apps", "GET,HEAD,POST"),
        ("POST", "/v1/apps/shop/web", "DELETE,GET,HEAD,PUT"),
        ("POST", "/healthz", "GET,HEAD"),
        ("PUT", "/v1/queue", "GET,HEAD"),
    ],
)
async def test_wrong_method_is_405_with_allow(client: Client, method: str, path: str, allow: str) -> None:
    response = await client.request(method, path, json={})
    error = await error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert response.headers["Allow"] == allow


async def test_body_over_the_cap_is_413(client: Client, port: FakePort) -> None:
    big = {**WEB, "env": {"PADDING": "x" * BODY_CAP}}
    error = await error_of(await client.post("/v1/apps", json=big), 413)
    assert error["code"] == "payload_too_large"
    assert str(BODY_CAP) in str(error["message"])
    assert port.calls == []


async def test_chunked_body_over_the_cap_is_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(BODY_CAP // 512 + 2):
            yield b" " * 512

    response = await client.put(
        "/v1/apps/shop/web", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert (await error_of(response, 413))["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Content-Type": "text/plain"}, "text/plain"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "application/x-www-form-urlencoded"),
        ({"Content-Type": "application/json; charset=latin-1"}, "charset=latin-1"),
        ({}, "application/octet-stream"),
    ],
)
async def test_wrong_content_type_is_415(client: Client, headers: dict[str, str], named: str) -> None:
    response = await client.post("/v1/apps", data=json.dumps(WEB).encode(), headers=headers)
    error = await error_of(response, 415)
    assert error["code"] == "unsupported_media_type"
    assert named in str(error["message"])


async def test_content_type_with_utf8_charset_is_accepted(client: Client) -> None:
    response = await client.post("/v1/apps", data=json.dumps(WEB).encode(),
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status == 201


async def test_invalid_spec_is_422_naming_every_field(client: Client, port: FakePort) -> None:
    body = {"id": "shop/web", "cmd": "x", "cpus": -1, "mem": "lots", "instances": 1.5, "colour": "blue"}
    error = await error_of(await client.post("/v1/apps", json=body), 422)
    assert error["code"] == "invalid_app"
    paths = [f["path"] for f in error["fields"]]
    assert sorted(paths) == ["colour", "cpus", "instances", "mem"]
    assert all(f["message"] for f in error["fields"])
    assert port.calls == []


async def test_a_body_that_is_not_an_object_is_422(client: Client) -> None:
    error = await error_of(await client.post("/v1/apps", json=[1, 2]), 422)
    assert error["fields"] == [{"path": "(root)", "message": "must be a JSON object"}]


async def test_unexpected_errors_are_500_without_details(client: Client, port: FakePort,
                                                         log_buffer: io.StringIO) -> None:
    port.explode = True
    response = await client.get("/v1/apps")
    error = await error_of(response, 500)
    assert error == {
        "code": "internal", "message": "internal error; the server log has the details", "fields": []
    }
    assert "hunter2" not in await response.text() and "Traceback" not in await response.text()
    logged = [json.loads(line) for line in log_buffer.getvalue().splitlines()]
    assert any(line["event"] == "unhandled error in API handler" and "exception" in line for line in logged)


async def test_scheduler_unavailable_is_503_with_retry_after(client: Client, port: FakePort) -> None:
    port.unavailable = "state not yet recovered from the store"
    response = await client.post("/v1/apps", json=WEB)
    error = await error_of(response, 503)
    assert (error["code"], error["message"]) == ("unavailable", "state not yet recovered from the store")
    assert response.headers["Retry-After"] == "5"
