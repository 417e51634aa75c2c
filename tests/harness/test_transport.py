"""Checklist items 1-7: transport and framing of /api/v1/scheduler (mesos-protocol.md b)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from harness import Harness
from proto import recordio
from tests.harness.client import JSON, PATH, Client


async def test_item_01_subscribe_response_headers(h: Harness, client: Client, encoding: str) -> None:
    first = await client.subscribe()
    second = await client.subscribe()
    for stream in (first, second):
        headers = stream.response.headers
        assert stream.response.status == 200
        assert headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in headers
        assert headers["Content-Type"] == encoding  # exactly, no parameters
        assert 0 < len(headers["Mesos-Stream-Id"].encode()) <= 128
    assert first.stream_id != second.stream_id


async def test_item_02_events_are_recordio_without_raw_newlines(
    h: Harness, session: aiohttp.ClientSession
) -> None:
    client = Client(session, h.url, JSON)
    stream = await client.subscribe()
    await stream.offers()
    raw = b"".join(stream.chunks)
    records = recordio.Decoder().feed(raw)
    assert len(records) >= 3
    position = 0
    for record in records:
        header = f"{len(record)}\n".encode()
        assert raw[position : position + len(header)] == header
        assert len(record) > 0 and b"\n" not in record
        assert json.loads(record)["type"]  # each record is one compact JSON event
        position += len(header) + len(record)
    await client.close()


async def test_item_03_records_split_across_chunks_and_several_per_chunk(
    make_harness: Any, session: aiohttp.ClientSession, encoding: str
) -> None:
    # chunk_size=7 cuts every record across chunks; the flush after SUBSCRIBED+HEARTBEAT
    # (written together) also puts several records' bytes into consecutive chunks.
    async with make_harness(chunk_size=7) as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe()
        await stream.offers()
        assert [e["type"] for e in stream.events[:2]] == ["SUBSCRIBED", "HEARTBEAT"]
        assert h.errors == []
        await client.close()
    async with make_harness() as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe()
        await stream.next("HEARTBEAT")
        # SUBSCRIBED and the first HEARTBEAT are flushed in one write: one chunk, two records.
        assert len(recordio.Decoder().feed(stream.chunks[0])) >= 2
        await client.close()


async def test_item_04_first_event_is_subscribed(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    first = await stream.next("SUBSCRIBED")
    assert stream.events[0] is first
    subscribed = first["subscribed"]
    assert subscribed["framework_id"]["value"]
    assert subscribed["heartbeat_interval_seconds"] == 0.2
    master = subscribed["master_info"]
    assert master["port"] == h.port and master["address"]["port"] == h.port
    assert master["pid"] == f"master@127.0.0.1:{h.port}"
    assert master["ip"] == 16777343  # 127.0.0.1 as a uint32 in network byte order


async def test_item_05_heartbeat_right_after_subscribed_then_every_interval(
    h: Harness, client: Client
) -> None:
    stream = await client.subscribe()
    await stream.wait(lambda: len(stream.of_type("HEARTBEAT")) >= 3)
    assert stream.events[1]["type"] == "HEARTBEAT"
    assert stream.events[1] == {"type": "HEARTBEAT"}


async def test_item_06_version(h: Harness, session: aiohttp.ClientSession) -> None:
    async with session.get(h.url + "/version") as response:
        assert response.status == 200
        body = await response.json()
    major, minor, _ = (int(p) for p in body["version"].split("."))
    assert (major, minor) >= (1, 0)
    assert {"build_date", "build_time", "build_user"} <= set(body)
    async with session.get(h.url + "/health") as response:
        assert response.status == 200


async def test_item_07_non_post_is_405(h: Harness, session: aiohttp.ClientSession) -> None:
    for method in ("GET", "PUT", "DELETE"):
        async with session.request(method, h.url + PATH) as response:
            assert response.status == 405
            assert response.headers["Allow"] == "POST"
    assert len(h.violations) == 3  # a client that does this is broken, and the ledger says so
    h.violations.clear()
