"""The harness' HTTP/1.1 transport (harness/http.py) over real sockets, byte by byte where it matters.

What a Mesos client may do on the wire besides one request per connection: pipeline calls on a
keep-alive connection (libprocess answers them in order), split a request across TCP segments,
send a chunked body, ask for `Expect: 100-continue`, close with `Connection: close`, or speak
HTTP/1.0. The plain aiohttp client of the other tests covers none of these.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from harness import Harness
from harness.http import HttpConnection, Response, Route
from tests.harness.client import JSON, PATH

Raw = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def raw(h: Harness) -> AsyncIterator[Raw]:
    reader, writer = await asyncio.open_connection(h.host, h.port)
    yield reader, writer
    writer.close()
    await writer.wait_closed()


def post(body: bytes, *headers: str, content_type: str = JSON) -> bytes:
    lines = [f"POST {PATH} HTTP/1.1", "Host: harness", f"Content-Type: {content_type}", *headers]
    if not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await asyncio.wait_for(reader.readline(), 5)
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: dict[str, str] = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await asyncio.wait_for(reader.readline(), 5)).strip(), 16)
    data = await reader.readexactly(size + 2)
    assert data.endswith(b"\r\n")
    return data[:-2]


SUBSCRIBE = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}})


async def subscribe(h: Harness) -> tuple[str, str, Raw]:
    """A SUBSCRIBE on its own connection; (framework id, stream id, the connection)."""
    reader, writer = await asyncio.open_connection(h.host, h.port)
    writer.write(post(SUBSCRIBE.encode(), "Accept: application/json"))
    status_line = await reader.readline()
    assert b" 200 " in status_line
    headers: dict[str, str] = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    assert headers["transfer-encoding"] == "chunked"
    first = await read_chunk(reader)
    record = first.split(b"\n", 1)[1]
    framework_id = json.loads(record[: int(first.split(b"\n", 1)[0])])["subscribed"]["framework_id"]["value"]
    return framework_id, headers["mesos-stream-id"], (reader, writer)


def revive(framework_id: str) -> bytes:
    return json.dumps({"type": "REVIVE", "framework_id": {"value": framework_id}}).encode()


async def test_pipelined_requests_are_answered_in_order_on_one_connection(h: Harness, raw: Raw) -> None:
    framework_id, stream_id, (_, stream_writer) = await subscribe(h)
    reader, writer = raw
    good = post(revive(framework_id), f"Mesos-Stream-Id: {stream_id}")
    stale = post(revive(framework_id), "Mesos-Stream-Id: stale")
    missing_type = post(b"{}")
    # Five requests in one write: each answer is in request order, on the same connection.
    writer.write(good + stale + good + missing_type + good)
    statuses = [(await read_response(reader))[0] for _ in range(5)]
    assert statuses == [202, 400, 202, 400, 202]
    assert [c.status for c in h.calls if c.type == "REVIVE"] == [202, 400, 202, 202]
    h.violations.clear()  # the missing type is a violation, on purpose
    stream_writer.close()


async def test_request_split_across_segments(h: Harness, raw: Raw) -> None:
    framework_id, stream_id, (_, stream_writer) = await subscribe(h)
    reader, writer = raw
    data = post(revive(framework_id), f"Mesos-Stream-Id: {stream_id}") * 2
    # Every byte its own segment, the second request starting inside the last segment of the first.
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await writer.drain()
        if i % 37 == 0:
            await asyncio.sleep(0)
    assert [(await read_response(reader))[0] for _ in range(2)] == [202, 202]
    stream_writer.close()


async def test_chunked_request_body_with_extension_and_trailer(h: Harness, raw: Raw) -> None:
    framework_id, stream_id, (_, stream_writer) = await subscribe(h)
    reader, writer = raw
    body = revive(framework_id)
    head = post(b"", "Transfer-Encoding: chunked", f"Mesos-Stream-Id: {stream_id}")
    chunks = b"5;ext=1\r\n" + body[:5] + b"\r\n" + f"{len(body) - 5:X}\r\n".encode() + body[5:] + b"\r\n"
    writer.write(head + chunks[:9])
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(chunks[9:] + b"0\r\nX-Trailer: yes\r\n\r\n")
    status, _, text = await read_response(reader)
    assert (status, text) == (202, b"")
    # The same connection then serves a plain request.
    writer.write(post(body, f"Mesos-Stream-Id: {stream_id}"))
    assert (await read_response(reader))[0] == 202
    stream_writer.close()


async def test_connection_close_ends_a_keep_alive_connection(h: Harness, raw: Raw) -> None:
    reader, writer = raw
    writer.write(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await read_response(reader)
    assert status == 200 and "connection" not in headers and json.loads(body)["version"]
    # Connection: close is honoured after the answer; a request pipelined behind it is not served.
    writer.write(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\nGET /version HTTP/1.1\r\n\r\n")
    status, headers, _ = await read_response(reader)
    assert status == 200 and headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_http_10_closes_unless_keep_alive(h: Harness) -> None:
    reader, writer = await asyncio.open_connection(h.host, h.port)
    writer.write(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n")
    assert (await read_response(reader))[0] == 200
    status, headers, _ = await read_response(reader)
    assert status == 200 and headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_expect_100_continue(h: Harness, raw: Raw) -> None:
    reader, writer = raw
    body = b"{}"
    writer.write(post(body, "Expect: 100-continue")[: -len(body)])
    assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
    assert await reader.readline() == b"\r\n"
    writer.write(body)
    status, _, text = await read_response(reader)
    assert status == 400 and b"Expecting 'type' to be present" in text
    h.violations.clear()


async def test_head_unknown_path_and_wrong_method(h: Harness, raw: Raw) -> None:
    reader, writer = raw
    writer.write(b"HEAD /version HTTP/1.1\r\n\r\n")
    status_line = await reader.readline()
    head = b""
    while (line := await reader.readline()) != b"\r\n":
        head += line
    assert b" 200 " in status_line and b"Content-Length: " in head
    writer.write(b"GET /nowhere HTTP/1.1\r\n\r\nPOST /version HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert (await read_response(reader))[0] == 404
    status, headers, _ = await read_response(reader)
    assert status == 405 and headers["allow"] == "GET,HEAD"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT HTTP\r\n\r\n",
        b"POST /api/v1/scheduler HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST /api/v1/scheduler HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /api/v1/scheduler HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /api/v1/scheduler HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
    ids=["request-line", "length", "two-lengths", "chunk-size", "header"],
)
async def test_malformed_requests_get_400_and_a_close(h: Harness, raw: Raw, request_bytes: bytes) -> None:
    reader, writer = raw
    writer.write(request_bytes)
    status, headers, _ = await read_response(reader)
    assert status == 400 and headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_requests_pipelined_behind_a_subscription_wait_for_its_end(h: Harness, raw: Raw) -> None:
    reader, writer = raw
    writer.write(post(SUBSCRIBE.encode()) + b"GET /health HTTP/1.1\r\n\r\n")
    assert b" 200 " in await reader.readline()
    headers: dict[str, str] = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    first = await read_chunk(reader)
    length, _, record = first.partition(b"\n")
    framework_id = json.loads(record[: int(length)])["subscribed"]["framework_id"]["value"]
    # TEARDOWN on another connection ends the stream cleanly; the pipelined GET is served after it.
    other_reader, other_writer = await asyncio.open_connection(h.host, h.port)
    teardown = json.dumps({"type": "TEARDOWN", "framework_id": {"value": framework_id}}).encode()
    other_writer.write(post(teardown, f"Mesos-Stream-Id: {headers['mesos-stream-id']}"))
    assert (await read_response(other_reader))[0] == 202
    while await read_chunk(reader) != b"":  # the last chunk, and the CRLF that ends the body
        pass
    assert (await read_response(reader))[0] == 200
    other_writer.close()


class _Transport(asyncio.Transport):
    """What the server writes, kept (no socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True


def _connection(max_body: int) -> tuple[HttpConnection, _Transport]:
    routes = {"/echo": Route(lambda request: Response(200, request.body))}
    connection = HttpConnection(routes, _raise, set(), max_body=max_body)
    transport = _Transport()
    connection.connection_made(transport)
    return connection, transport


def _raise(error: BaseException) -> None:
    raise error


def test_a_head_seen_before_still_gets_every_check() -> None:
    """Heads already parsed are recognised inline (http.py _next_request); the limits, empty
    lines before the request line and a head still arriving take the general path, as before."""
    request = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"
    first, sent = _connection(max_body=100)
    first.data_received(request + request)  # parsed once, then recognised
    assert sent.written.count(b"HTTP/1.1 200 OK") == 2 and sent.written.count(b"0123456789") == 2
    small, refused = _connection(max_body=5)  # the same head, over this connection's limit
    small.data_received(request)
    assert refused.written.startswith(b"HTTP/1.1 413 ") and refused.closed
    later, answers = _connection(max_body=100)
    later.data_received(b"\r\n" + request[:20])  # an empty line first, then half the head
    assert answers.written == b""
    later.data_received(request[20:])
    assert answers.written.startswith(b"HTTP/1.1 200 OK") and answers.written.endswith(b"0123456789")
