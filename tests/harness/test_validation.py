"""Checklist items 8-19: request validation and status codes of /api/v1/scheduler."""

from __future__ import annotations

import json

import aiohttp
import pytest

from harness import Harness
from tests.harness.client import JSON, PROTOBUF, Client, framework_info, uuid_b64


def subscribe_body(**extra: object) -> dict[str, object]:
    return {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info(**extra)}}


async def test_item_08_content_type_missing_or_unsupported(
    h: Harness, session: aiohttp.ClientSession
) -> None:
    body = json.dumps(subscribe_body()).encode()
    async with session.post(h.url + "/api/v1/scheduler", data=body, skip_auto_headers=["Content-Type"]) as r:
        assert r.status == 400
        assert "Content-Type" in await r.text()
    for bad in ("text/plain", "application/json; charset=utf-8", "application/protobuf"):
        async with session.post(h.url + "/api/v1/scheduler", data=body, headers={"Content-Type": bad}) as r:
            assert r.status == 415, bad
    assert len(h.violations) == 4
    h.violations.clear()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "no user"}}}).encode(),
        json.dumps({"type": 1, "subscribe": {"framework_info": framework_info()}}).encode(),
        json.dumps(
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info(capabilities=[{"type": 5}])}}
        ).encode(),
    ],
    ids=["malformed", "not-an-object", "missing-required", "enum-number", "nested-enum-number"],
)
async def test_item_09_bad_json_is_400(h: Harness, session: aiohttp.ClientSession, body: bytes) -> None:
    client = Client(session, h.url, JSON)
    status, text = await client.post(body)
    assert status == 400
    assert text.startswith(("Failed to parse body into JSON", "Failed to convert JSON into Call protobuf"))
    h.violations.clear()


async def test_item_09_bad_protobuf_is_400(h: Harness, session: aiohttp.ClientSession) -> None:
    client = Client(session, h.url, PROTOBUF)
    for body in (b"\xff\xff\xff", b"\x1a\x00"):  # garbage; a subscribe missing framework_info
        status, text = await client.post(body)
        assert (status, text) == (400, "Failed to parse body into Call protobuf")
    h.violations.clear()


async def test_item_10_type_missing_or_unknown(h: Harness, client: Client) -> None:
    for body in ({"subscribe": {"framework_info": framework_info()}}, {"type": "NO_SUCH_CALL"}):
        if client.encoding == PROTOBUF and "type" in body:
            continue  # an unknown enum name cannot be written in protobuf at all
        status, text = await client.post(body)
        assert status == 400
        assert "Expecting 'type' to be present" in text
    h.violations.clear()


async def test_item_11_non_subscribe_without_framework_id(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    await stream.next("SUBSCRIBED")
    status, text = await client.post({"type": "REVIVE"}, stream_id=stream.stream_id)
    assert (status, text) == (
        400,
        "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
    )
    status, _ = await client.post({"type": "KILL", "framework_id": {"value": stream.framework_id}})
    assert status == 400  # no `kill` sub-message
    h.violations.clear()


async def test_item_12_subscribe_with_stream_id_header(h: Harness, client: Client) -> None:
    body = subscribe_body()
    status, text = await client.post(body, headers={"Mesos-Stream-Id": "abc"})
    assert status == 400
    assert "Mesos-Stream-Id" in text
    h.violations.clear()


async def test_item_13_subscribe_framework_id_mismatch(h: Harness, client: Client) -> None:
    info = framework_info(id={"value": "one"})
    status, text = await client.post(
        {"type": "SUBSCRIBE", "framework_id": {"value": "two"}, "subscribe": {"framework_info": info}}
    )
    assert (status, text) == (
        400,
        "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'",
    )
    status, _ = await client.post({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}})
    assert status == 400  # one side set, the other not
    h.violations.clear()


async def test_item_14_accept_header(h: Harness, client: Client) -> None:
    status, text = await client.post(subscribe_body(), headers={"Accept": "text/html"})
    assert status == 406 and "Accept" in text
    h.violations.clear()
    stream = await client.subscribe(accept="*/*")
    assert stream.response.headers["Content-Type"] == JSON  # JSON is preferred
    stream = await client.subscribe(accept=f"{JSON};q=0, {PROTOBUF}")
    assert stream.response.headers["Content-Type"] == PROTOBUF
    await stream.next("SUBSCRIBED")
    # No Accept header at all: anything goes, and the answer is JSON.
    url = h.url + "/api/v1/scheduler"
    data = client.encode(subscribe_body())
    async with client.session.post(
        url, data=data, headers={"Content-Type": client.encoding}, skip_auto_headers=["Accept"]
    ) as r:
        assert r.status == 200 and r.headers["Content-Type"] == JSON


async def test_item_15_unknown_or_disconnected_framework(h: Harness, client: Client) -> None:
    status, text = await client.post({"type": "REVIVE", "framework_id": {"value": "nobody"}}, stream_id="x")
    assert (status, text) == (400, "Framework cannot be found")
    stream = await client.subscribe(framework_info(failover_timeout=60))
    await stream.next("SUBSCRIBED")
    fid, sid = stream.framework_id, stream.stream_id
    await stream.close()
    await h.until(lambda: not h.master.frameworks[fid].connected)
    status, text = await client.post({"type": "REVIVE", "framework_id": {"value": fid}}, stream_id=sid)
    assert (status, text) == (403, "Framework is not subscribed")


async def test_item_16_stream_id_missing_or_stale(h: Harness, client: Client) -> None:
    stream = await client.subscribe(framework_info(failover_timeout=60))
    await stream.next("SUBSCRIBED")
    fid = stream.framework_id
    status, _ = await client.post({"type": "REVIVE", "framework_id": {"value": fid}})
    assert status == 400
    status, _ = await client.post({"type": "REVIVE", "framework_id": {"value": fid}}, stream_id="stale")
    assert status == 400
    status, _ = await client.post(
        {"type": "REVIVE", "framework_id": {"value": fid}}, stream_id=stream.stream_id
    )
    assert status == 202


async def test_item_17_unknown_keys_ignored_and_null_is_absent(
    h: Harness, session: aiohttp.ClientSession
) -> None:
    client = Client(session, h.url, JSON)
    info = framework_info(capabilities=None, slave_id="legacy", webui_url=None, something_new={"a": 1})
    body = {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": info, "suppressed_roles": None},
        "extra": [1, 2],
    }
    stream = await client.subscribe(info)
    await stream.next("SUBSCRIBED")
    status, _ = await client.post(
        {"type": "REVIVE", "framework_id": {"value": stream.framework_id}, "revive": None, "junk": True},
        stream_id=stream.stream_id,
    )
    assert status == 202
    data = json.dumps(body).encode()
    async with session.post(h.url + "/api/v1/scheduler", data=data, headers={"Content-Type": JSON}) as r:
        assert r.status == 200
    await client.close()


async def test_item_18_acknowledge_uuid_must_be_16_bytes(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    await stream.next("SUBSCRIBED")
    for raw in (b"", b"short", bytes(17)):
        status, text = await client.call(
            stream,
            "ACKNOWLEDGE",
            acknowledge={"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": uuid_b64(raw)},
        )
        assert status == 400 and text.startswith("Failed to validate scheduler::Call")
    h.violations.clear()


async def test_item_19_async_calls_202_update_framework_200(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    await stream.next("SUBSCRIBED")
    replies = [
        await client.call(stream, "REVIVE"),
        await client.call(stream, "SUPPRESS"),
        await client.call(stream, "DECLINE", decline={"offer_ids": [{"value": "gone"}]}),
        await client.call(stream, "RECONCILE", reconcile={"tasks": []}),
        await client.call(stream, "REQUEST", request={"requests": []}),
        await client.call(stream, "KILL", kill={"task_id": {"value": "none"}}),
    ]
    assert replies == [(202, "")] * len(replies)
    info = framework_info(id={"value": stream.framework_id})
    status, text = await client.call(stream, "UPDATE_FRAMEWORK", update_framework={"framework_info": info})
    assert (status, text) == (200, "")
    assert (await client.call(stream, "UNKNOWN"))[0] == 501
