"""The `gantry` CLI: client commands against the real API (over a fake port) on a free port, `run`'s
hand-off to the composition root, and the failure messages (never a traceback)."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import sys
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from framework import cli
from framework.api import build_api
from framework.core.effects import TaskRecord
from framework.core.events import TaskState
from framework.logging import build_logger
from framework.metrics import build_metrics
from framework.settings import LogFormat, LogLevel, Settings
from tests.api.fakes import T0, FakePort

WEB = {"id": "/shop/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 64, "instances": 2,
       "ports": ["http"]}


@dataclass
class Result:
    code: int
    out: str
    err: str


def gantry(*argv: str, env: dict[str, str] | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err, env=env or {})
    return Result(code, out.getvalue(), err.getvalue())


async def agantry(*argv: str, env: dict[str, str] | None = None) -> Result:
    # The CLI blocks (urllib); the server runs on this loop, so the CLI goes to a thread.
    return await asyncio.to_thread(gantry, *argv, env=env)


@dataclass
class Served:
    port: FakePort
    url: str


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    port = FakePort()
    app = build_api(port, build_metrics("test"), Settings(max_body_bytes=64 * 1024),
                    build_logger(LogFormat.JSON, LogLevel.ERROR, io.StringIO()))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Served(port, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


@pytest.fixture
def free_url() -> Iterator[str]:
    """A URL on which nothing listens: the port stays bound (so nobody else takes it) but not listening,
    so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def write(tmp_path: Path, content: str | dict[str, object], name: str = "app.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# --- deploy --------------------------------------------------------------------------------------


async def test_deploy_creates_then_updates(served: Served, tmp_path: Path) -> None:
    path = write(tmp_path, WEB)
    first = await agantry("deploy", str(path), "--url", served.url)
    assert (first.code, first.out, first.err) == (0, "created /shop/web version v1 (2 instances)\n", "")
    write(tmp_path, {**WEB, "instances": 4})
    second = await agantry("deploy", str(path), "--url", served.url)
    assert (second.code, second.out) == (0, "updated /shop/web version v2 (4 instances)\n")
    assert [v.spec.instances for v in served.port.versions_by_app["/shop/web"]] == [4, 2]


async def test_deploy_uses_gantry_url_from_the_environment(served: Served, tmp_path: Path) -> None:
    result = await agantry("deploy", str(write(tmp_path, WEB)), env={"GANTRY_URL": served.url + "/"})
    assert result.code == 0 and result.out.startswith("created /shop/web")


async def test_deploy_json_output(served: Served, tmp_path: Path) -> None:
    result = await agantry("deploy", str(write(tmp_path, WEB)), "--url", served.url, "--json")
    assert result.code == 0
    assert json.loads(result.out)["spec"]["instances"] == 2


async def test_deploy_lists_each_field_error_on_its_own_line(served: Served, tmp_path: Path) -> None:
    path = write(tmp_path, {**WEB, "cpus": -1, "mem": "lots", "colour": "blue"})
    result = await agantry("deploy", str(path), "--url", served.url)
    assert result.code == 1 and result.out == ""
    lines = result.err.splitlines()
    assert lines[0] == (
        f"gantry deploy: deploying {path} failed: HTTP 422 invalid_app: the app spec is invalid"
    )
    assert sorted(line.split(":")[0] for line in lines[1:]) == ["  colour", "  cpus", "  mem"]
    assert "Traceback" not in result.err


async def test_deploy_without_an_id_posts_and_reports_the_missing_id(
    served: Served, tmp_path: Path
) -> None:
    path = write(tmp_path, {key: value for key, value in WEB.items() if key != "id"})
    result = await agantry("deploy", str(path), "--url", served.url)
    assert result.code == 1
    assert "  id: is required" in result.err.splitlines()


BAD_JSON = "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 12"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a",', BAD_JSON),
        ("[1, 2]", "expected a JSON object (one app spec), got list"),
    ],
)
def test_deploy_refuses_a_bad_file_before_calling_the_api(tmp_path: Path, free_url: str, content: str,
                                                          message: str) -> None:
    path = write(tmp_path, content)
    result = gantry("deploy", str(path), "--url", free_url)
    assert (result.code, result.err) == (1, f"gantry deploy: {path}: {message}\n")


def test_deploy_missing_file(tmp_path: Path, free_url: str) -> None:
    result = gantry("deploy", str(tmp_path / "nope.json"), "--url", free_url)
    assert (result.code, result.err) == (1, f"gantry deploy: {tmp_path / 'nope.json'}: no such file\n")


def test_deploy_a_directory(tmp_path: Path, free_url: str) -> None:
    result = gantry("deploy", str(tmp_path), "--url", free_url)
    assert result.code == 1
    assert result.err == f"gantry deploy: {tmp_path}: is a directory, expected a JSON file\n"


def test_connection_refused_is_one_clear_line(tmp_path: Path, free_url: str) -> None:
    result = gantry("deploy", str(write(tmp_path, WEB)), "--url", free_url)
    assert result.code == 1
    assert result.err == (
        f"gantry deploy: cannot reach Gantry at {free_url}: connection refused "
        "(is `gantry run` running? set --url or GANTRY_URL)\n"
    )


# --- apps and tasks ------------------------------------------------------------------------------


async def test_apps_table(served: Served, tmp_path: Path) -> None:
    empty = await agantry("apps", "--url", served.url)
    assert (empty.code, empty.out) == (0, "no apps\n")
    await agantry("deploy", str(write(tmp_path, WEB)), "--url", served.url)
    batch = write(tmp_path, {**WEB, "id": "/batch/nightly-report", "instances": 0})
    await agantry("deploy", str(batch), "--url", served.url)
    result = await agantry("apps", "--url", served.url)
    assert result.code == 0
    assert result.out.splitlines() == [
        "ID                     STATE      READY  RUNNING  WAITING  VERSION",
        "/batch/nightly-report  suspended  0/0    0        0        v1",
        "/shop/web              waiting    0/2    0        2        v1",
    ]


async def test_client_options_before_or_after_the_command(served: Served, tmp_path: Path) -> None:
    await agantry("deploy", str(write(tmp_path, WEB)), "--url", served.url)
    before = await agantry("--url", served.url, "--json", "apps")
    after = await agantry("apps", "--url", served.url, "--json")
    assert before.code == after.code == 0 and before.out == after.out
    assert [app["id"] for app in json.loads(before.out)["apps"]] == ["/shop/web"]
    # A value after the command wins over one before it.
    assert (await agantry("--url", "http://bad host", "apps", "--url", served.url)).code == 0


async def test_apps_json(served: Served, tmp_path: Path) -> None:
    await agantry("deploy", str(write(tmp_path, WEB)), "--url", served.url)
    result = await agantry("apps", "--url", served.url, "--json")
    assert [app["id"] for app in json.loads(result.out)["apps"]] == ["/shop/web"]


async def test_tasks_table_for_an_id_with_slashes(served: Served, tmp_path: Path) -> None:
    await agantry("deploy", str(write(tmp_path, WEB)), "--url", served.url)
    served.port.tasks_by_app["/shop/web"] = [
        TaskRecord(task_id="shop_web.1", app_id="/shop/web", version="v1", slot=0, state=TaskState.RUNNING,
                   updated_at=T0, healthy=True, agent_id="a1", hostname="10.0.0.7", ports=(31000, 31001),
                   started_at=T0),
        TaskRecord(task_id="shop_web.2", app_id="/shop/web", version="v1", slot=1, state=TaskState.STAGING,
                   updated_at=T0),
    ]
    result = await agantry("tasks", "shop/web", "--url", served.url)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "ID          STATE         HEALTHY  HOST      PORTS        VERSION  STARTED",
        "shop_web.1  TASK_RUNNING  yes      10.0.0.7  31000,31001  v1       2023-11-14T22:13:20.000Z",
        "shop_web.2  TASK_STAGING  -        -         -            v1       -",
    ]
    served.port.tasks_by_app["/shop/web"] = []
    assert (await agantry("tasks", "/shop/web", "--url", served.url)).out == "no tasks for /shop/web\n"


async def test_tasks_of_an_unknown_app(served: Served) -> None:
    result = await agantry("tasks", "shop/nope", "--url", served.url)
    assert result.code == 1
    assert result.err == (
        "gantry tasks: listing tasks of shop/nope failed: "
        "HTTP 404 app_not_found: app /shop/nope does not exist\n"
    )


async def test_server_errors_are_reported_without_details(served: Served) -> None:
    served.port.explode = True
    result = await agantry("apps", "--url", served.url)
    assert result.code == 1
    assert result.err == (
        "gantry apps: listing apps failed: "
        "HTTP 500 internal: internal error; the server log has the details\n"
    )


async def test_a_url_that_is_not_gantry(served: Served) -> None:
    result = await agantry("apps", "--url", served.url + "/metrics#")
    assert result.code == 1
    assert "is not JSON" in result.err and "pointing at Gantry" in result.err


@pytest.mark.parametrize(
    "url", ["localhost:8080", "http://[::1", "http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://:80",
            "http://exa mple:80"],
)
def test_bad_url(url: str) -> None:
    # Each used to reach urllib and end as "internal error: ValueError/InvalidURL" (exit 1).
    result = gantry("apps", "--url", url)
    assert (result.code, result.err) == (
        2, f"gantry apps: --url / GANTRY_URL must be http(s)://host:port, got {url!r}\n"
    )


# --- later commands, usage ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["wait", "promote", "abort", "rollback"])
def test_later_commands_say_so_and_exit_2(command: str) -> None:
    result = gantry(command, "shop/web")
    assert result.code == 2
    assert result.err.startswith(f"gantry {command}: not yet available in this version of Gantry")


def test_usage_errors_exit_2_with_usage_on_stderr() -> None:
    result = gantry("tasks")
    assert result.code == 2 and result.out == ""
    assert "usage: gantry tasks" in result.err and "the following arguments are required: APP" in result.err
    assert gantry().code == 2


def test_help_and_version_go_to_stdout() -> None:
    helped = gantry("--help")
    assert helped.code == 0 and "deploy" in helped.out and helped.err == ""
    version = gantry("--version")
    assert version.code == 0 and version.out.startswith("gantry ")


# --- run -----------------------------------------------------------------------------------------


@pytest.fixture
def fake_root(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Stand in for framework.app (the composition root) and record what `run` was given."""
    received: list[Settings] = []
    module = types.ModuleType("framework.app")

    def run(settings: Settings) -> int:
        received.append(settings)
        return 0

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "framework.app", module)
    return received


def test_run_hands_parsed_settings_to_the_composition_root(fake_root: list[Settings]) -> None:
    result = gantry(
        "run", "--listen", "127.0.0.1:0", "--local-agents", "5", "--mesos-content-type", "json",
        env={"GANTRY_DATA_DIR": "/tmp/gantry-test", "USER": "ci"},
    )
    assert result.code == 0, result.err
    (settings,) = fake_root
    assert (settings.listen_port, settings.local_agents, settings.mesos_content_type) == (0, 5, "json")
    assert str(settings.data_dir) == "/tmp/gantry-test" and settings.framework_user == "ci"


def test_run_with_bad_settings_lists_every_problem(fake_root: list[Settings]) -> None:
    result = gantry("run", "--master", "mesos", "--local-agents", "x", env={"USER": "ci"})
    assert result.code == 2 and fake_root == []
    assert result.err.splitlines() == [
        "gantry run: invalid settings:",
        "  --master / GANTRY_MASTER: expected http://host:port or zk://host:port/path, got 'mesos'",
        "  --local-agents / GANTRY_LOCAL_AGENTS: expected a whole number, got 'x'",
    ]


def test_run_returns_the_composition_root_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("framework.app")
    module.run = lambda settings: 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "framework.app", module)
    assert gantry("run", env={"USER": "ci"}).code == 3


def test_run_reports_crashes_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("framework.app")

    def run(settings: Settings) -> int:
        raise OSError(98, "Address already in use")

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "framework.app", module)
    result = gantry("run", env={"USER": "ci"})
    assert result.code == 1
    assert result.err == "gantry run: internal error: OSError: [Errno 98] Address already in use\n"


def test_run_without_a_composition_root_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail exactly as a missing module does.
    monkeypatch.setitem(sys.modules, "framework.app", None)
    result = gantry("run", env={"USER": "ci"})
    assert (result.code, result.err) == (
        1, "gantry run: this build has no composition root (framework/app.py); cannot run\n"
    )
