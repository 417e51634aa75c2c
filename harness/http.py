"""A small HTTP/1.1 server on asyncio.Protocol: the transport under the fake master (harness/server.py).

Why not aiohttp's web Application: a scheduler at scale sends two ACKNOWLEDGE calls per task,
each its own POST, and aiohttp's per-request machinery (a task per request, routing, middleware,
Request and Response objects, one socket write per response) cost more CPU than the master's own
work on the call. Here a request is parsed straight out of the connection's buffer and handled
synchronously (every handler of the fake master is synchronous), and every response produced from
one read of the socket goes out in one write. That is what makes HTTP/1.1 pipelining cheap:
libprocess, which serves the real master, answers pipelined requests in order, and so does this.

What it implements (RFC 9112, the parts a scheduler client can exercise):
- request line and header fields; `Content-Length` or `Transfer-Encoding: chunked` bodies (chunk
  extensions and trailer fields accepted and ignored); a request may arrive split across any
  number of reads, and one read may carry several requests;
- persistent connections: HTTP/1.1 keeps the connection unless `Connection: close`, HTTP/1.0
  closes it unless `Connection: keep-alive`; pipelined requests are answered in order;
- `Expect: 100-continue` (curl sends it for larger bodies): 100 Continue before the body is read;
- HEAD on GET routes (headers, no body); 404 for an unknown path, 405 with `Allow` for a method a
  route does not serve;
- streaming responses (the SUBSCRIBE event stream): chunked for HTTP/1.1, a plain body ended by
  closing the connection for HTTP/1.0. Requests pipelined behind a stream wait until it ends.
- malformed requests get 400 (413 for a body above the limit) and the connection is closed, as
  the request boundary is lost.

A handler that raises is a bug of the harness, not a protocol answer: the exception goes to
`on_error` (Harness.errors) and the client gets 500.

Must not: know about Mesos. Routing is a dict of path -> Route given by the caller.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Protocol
from urllib.parse import unquote

MAX_HEAD = 64 * 1024  # request line and header fields together
MAX_BODY = 64 * 1024 * 1024
TEXT = "text/plain; charset=utf-8"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a field name (RFC 9110 5.6.2)
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


@dataclass(slots=True)
class Request:
    method: str
    target: str  # as sent: path and query (absolute-form is reduced to this)
    path: str  # decoded path, no query
    version: str  # "1.0" or "1.1"
    # Lower-case field names; the first value of a repeated field. Read-only: one mapping is
    # shared by every request that sent the same head.
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def text(status: int, body: str = "", headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """A plain-text answer (Mesos' error bodies are plain text); no body, no Content-Type, if empty."""
    if not body:
        return Response(status, headers=headers)
    return Response(status, body.encode(), TEXT, headers)


class Channel(Protocol):
    """The open body of a streaming response."""

    def write(self, chunks: list[bytes]) -> None:
        """Send these pieces, each as its own chunk, in one write to the socket."""
        ...

    def end(self) -> None:
        """Finish the body cleanly; the connection then serves its next request."""
        ...

    def abort(self) -> None:
        """Drop the connection at once (a network failure); nothing pending is sent."""
        ...


class StreamSource(Protocol):
    def opened(self, channel: Channel) -> None:
        """The status line and header fields have been written; body chunks may follow."""
        ...

    def closed(self) -> None:
        """The stream is over: ended, aborted, or the client went away. Called exactly once."""
        ...


@dataclass(slots=True)
class StreamingResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    source: StreamSource


Handler = Callable[[Request], Response | StreamingResponse]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    methods: frozenset[str] | None = None  # None: every method goes to the handler

    def allows(self, method: str) -> bool:
        return self.methods is None or method in self.methods


def get_route(handler: Handler) -> Route:
    return Route(handler, frozenset({"GET", "HEAD"}))


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_REASONS = {s.value: s.phrase for s in HTTPStatus}
_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    """The Date field, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode())
    return _date_cache[1]


def render(response: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    status = response.status
    parts = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
    if response.content_type is not None:
        parts.append(f"Content-Type: {response.content_type}\r\n")
    for name, value in response.headers:
        parts.append(f"{name}: {value}\r\n")
    parts.append(f"Content-Length: {len(response.body)}\r\n")
    if not keep_alive:
        parts.append("Connection: close\r\n")
    head = "".join(parts).encode("latin-1") + b"Date: " + _date() + b"\r\n\r\n"
    return head if head_only else head + response.body


# The commonest response, "202 Accepted" with no body, is formatted once per second (the Date
# field is the only part that changes) rather than 100,000 times: (date, kept-alive, closing).
_202_cache: tuple[bytes, bytes, bytes] = (b"", b"", b"")


def _empty_202() -> tuple[bytes, bytes, bytes]:
    """(date, the answer on a kept-alive connection, the answer that closes it)."""
    global _202_cache
    date = _date()
    cached = _202_cache
    if cached[0] is not date:
        head = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n"
        tail = b"Date: " + date + b"\r\n\r\n"
        cached = _202_cache = (date, head + tail, head + b"Connection: close\r\n" + tail)
    return cached


@dataclass(slots=True)
class _Pending:
    """A request whose head is parsed and whose body is still arriving."""

    request: Request
    keep_alive: bool
    length: int  # Content-Length, or -1 for chunked
    chunks: list[bytes] = field(default_factory=list)
    received: int = 0  # chunked: body bytes so far
    continue_sent: bool = False


class HttpConnection(asyncio.Protocol):
    def __init__(
        self,
        routes: Mapping[str, Route],
        on_error: Callable[[BaseException], None],
        connections: set[HttpConnection],
        max_body: int = MAX_BODY,
    ) -> None:
        self._routes = routes
        self._on_error = on_error
        self._connections = connections
        self._max_body = max_body
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._pos = 0  # where the unparsed part of the buffer starts (compacted after each read)
        self._pending: _Pending | None = None
        self._stream: _StreamChannel | None = None
        self._closing = False

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._closing = True
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.finish()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._stream is None and not self._closing:
            self._serve()

    def eof_received(self) -> bool | None:
        return None  # close our side too once the client has finished sending

    def close(self) -> None:
        """Server shutdown: close after what is already queued (streams are aborted by their owner)."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    # -- requests ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        """Answer every complete request in the buffer, all answers in one write."""
        out: list[bytes] = []
        transport = self._transport
        assert transport is not None
        empty_202 = None  # the answers of one read are written at one instant: one Date for all
        while not self._closing:
            try:
                pending = self._next_request(out)
            except BadRequest as error:
                out.append(render(text(error.status, str(error)), keep_alive=False))
                self._closing = True
                break
            if pending is None:
                break
            request, keep_alive = pending
            if not keep_alive:
                self._closing = True
            try:
                answer = self._dispatch(request)
            except Exception as error:  # a harness bug: recorded, and 500 rather than a protocol answer
                self._on_error(error)
                answer = text(500, f"harness internal error: {error!r}")
            if isinstance(answer, StreamingResponse):
                if out:
                    transport.write(b"".join(out))
                    out = []
                del self._buffer[: self._pos]
                self._pos = 0
                self._open_stream(request, answer, keep_alive)
                return
            if answer.status == 202 and not answer.body and not answer.headers:
                if empty_202 is None:
                    empty_202 = _empty_202()
                out.append(empty_202[1] if keep_alive else empty_202[2])
            else:
                out.append(render(answer, keep_alive, request.method == "HEAD"))
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        if out:
            transport.write(b"".join(out))
        if self._closing:
            transport.close()

    def _dispatch(self, request: Request) -> Response | StreamingResponse:
        route = self._routes.get(request.path)
        if route is None:
            return text(404, "404: Not Found")
        methods = route.methods  # (Route.allows spelled out: a call fewer per request)
        if methods is not None and request.method not in methods:
            allowed = ",".join(sorted(methods))
            return text(405, "405: Method Not Allowed", (("Allow", allowed),))
        return route.handler(request)

    def _next_request(self, out: list[bytes]) -> tuple[Request, bool] | None:
        """The next complete request from the buffer (consumed) and whether to keep the connection,
        or None until more arrives."""
        pending = self._pending
        if pending is None:
            # The usual case inline: the whole head buffered, no empty lines before it, seen before
            # (in _HEADS) and within the limits; anything else goes through _read_head.
            buffer, pos = self._buffer, self._pos
            end = buffer.find(b"\r\n\r\n", pos)
            head = _HEADS.get(bytes(buffer[pos:end])) if pos < end <= pos + MAX_HEAD else None
            if head is not None and head[6] <= self._max_body and not buffer.startswith(b"\r\n", pos):
                self._pos = end + 4
            else:
                head = self._read_head()
            if head is None:
                return None
            method, target, path, version, headers, keep_alive, length = head
            request = Request(method, target, path, version, headers)
            if length >= 0:
                pos = self._pos
                if len(self._buffer) - pos >= length:  # the usual case: all there, no _Pending
                    if length:
                        request.body = bytes(self._buffer[pos : pos + length])
                        self._pos = pos + length
                    return request, keep_alive
            pending = self._pending = _Pending(request, keep_alive, length)
        length = pending.length
        if length >= 0:
            pos = self._pos
            if len(self._buffer) - pos < length:
                self._maybe_continue(pending, out)
                return None
            if length:
                pending.request.body = bytes(self._buffer[pos : pos + length])
                self._pos = pos + length
        elif not self._read_chunked(pending):
            self._maybe_continue(pending, out)
            return None
        self._pending = None
        return pending.request, pending.keep_alive

    def _maybe_continue(self, pending: _Pending, out: list[bytes]) -> None:
        if not pending.continue_sent and pending.request.headers.get("expect", "").lower() == "100-continue":
            pending.continue_sent = True
            out.append(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_head(self) -> _Head | None:
        """The next request's head (consumed), or None until all of it has arrived."""
        buffer, pos = self._buffer, self._pos
        # Tolerate empty lines before a request line (RFC 9112 2.2).
        while buffer.startswith(b"\r\n", pos):
            pos += 2
        self._pos = pos
        end = buffer.find(b"\r\n\r\n", pos)
        if end < 0:
            if len(buffer) - pos > MAX_HEAD:
                raise BadRequest(431, "Request header fields too large")
            return None
        if end - pos > MAX_HEAD:
            raise BadRequest(431, "Request header fields too large")
        raw = bytes(buffer[pos:end])
        self._pos = end + 4
        # A client sends the same few heads over and over (only Content-Length varies between its
        # calls): each distinct head is parsed and checked once and remembered (bounded).
        head = _HEADS.get(raw)
        if head is None:
            head = _parse_head(raw)
            if len(_HEADS) >= _MEMO_SIZE:
                _HEADS.clear()
            _HEADS[raw] = head
        length = head[6]
        if length > self._max_body:
            raise BadRequest(
                413, f"Maximum request body size {self._max_body} exceeded, actual body size {length}"
            )
        return head

    def _read_chunked(self, pending: _Pending) -> bool:
        """Consume chunks from the buffer; True once the last chunk and trailers are in."""
        buffer = self._buffer
        while True:
            pos = self._pos
            eol = buffer.find(b"\r\n", pos)
            if eol < 0:
                if len(buffer) - pos > MAX_HEAD:
                    raise BadRequest(400, "Chunk size line too long")
                return False
            size_text = bytes(buffer[pos:eol]).split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise BadRequest(400, f"Invalid chunk size: {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                if len(buffer) < eol + 4:
                    return False
                if buffer[eol + 2 : eol + 4] == b"\r\n":
                    end = eol + 4
                else:  # trailer fields, ignored: up to the empty line
                    found = buffer.find(b"\r\n\r\n", eol + 2)
                    if found < 0:
                        if len(buffer) - pos > MAX_HEAD:
                            raise BadRequest(400, "Trailer fields too large")
                        return False
                    end = found + 4
                self._pos = end
                pending.request.body = b"".join(pending.chunks)
                return True
            start = eol + 2
            if len(buffer) < start + size + 2:
                return False
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise BadRequest(400, "Chunk data not followed by CRLF")
            pending.chunks.append(bytes(buffer[start : start + size]))
            pending.received += size
            if pending.received > self._max_body:
                raise BadRequest(413, f"Maximum request body size {self._max_body} exceeded")
            self._pos = start + size + 2

    # -- streaming responses ------------------------------------------------------------------------

    def _open_stream(self, request: Request, answer: StreamingResponse, keep_alive: bool) -> None:
        transport = self._transport
        assert transport is not None
        chunked = request.version != "1.0"
        parts = [f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Unknown')}\r\n"]
        parts += [f"{name}: {value}\r\n" for name, value in answer.headers]
        parts.append("Transfer-Encoding: chunked\r\n" if chunked else "Connection: close\r\n")
        transport.write("".join(parts).encode("latin-1") + b"Date: " + _date() + b"\r\n\r\n")
        stream = _StreamChannel(self, answer.source, chunked, keep_alive and chunked)
        self._stream = stream
        try:
            answer.source.opened(stream)
        except Exception as error:  # a harness bug: the stream cannot go on
            self._on_error(error)
            stream.abort()

    def _stream_ended(self, stream: _StreamChannel, reuse: bool) -> None:
        """The stream's body is complete: serve what was pipelined behind it, or close."""
        if self._stream is not stream or self._transport is None:
            return
        self._stream = None
        stream.finish()
        if not reuse:
            self._closing = True
            self._transport.close()
        elif self._buffer:
            self._serve()


class _StreamChannel:
    """Channel of one streaming response; `finish` tells the source exactly once."""

    __slots__ = ("_chunked", "_connection", "_done", "_reuse", "_source")

    def __init__(self, connection: HttpConnection, source: StreamSource, chunked: bool, reuse: bool) -> None:
        self._connection = connection
        self._source = source
        self._chunked = chunked
        self._reuse = reuse
        self._done = False

    def write(self, chunks: list[bytes]) -> None:
        transport = self._connection._transport
        if self._done or transport is None:
            return
        if self._chunked:
            framed: list[bytes] = []
            for chunk in chunks:
                if chunk:
                    framed += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
            transport.write(b"".join(framed))
        else:
            transport.write(b"".join(chunks))

    def end(self) -> None:
        transport = self._connection._transport
        if self._done or transport is None:
            return
        if self._chunked:
            transport.write(b"0\r\n\r\n")
        self._connection._stream_ended(self, self._reuse)

    def abort(self) -> None:
        transport = self._connection._transport
        if self._done or transport is None:
            return
        transport.abort()  # connection_lost follows and finishes the stream

    def finish(self) -> None:
        if not self._done:
            self._done = True
            self._source.closed()


_MEMO_SIZE = 1024
# method, target, path, version, header fields, keep-alive, body length (-1: chunked)
_Head = tuple[str, str, str, str, Mapping[str, str], bool, int]
_HEADS: dict[bytes, _Head] = {}
_FIELDS: dict[str, tuple[str, str]] = {}  # field line -> (lower-case name, value)


def _parse_head(raw: bytes) -> _Head:
    """The request line and header fields (without the blank line); BadRequest if malformed."""
    lines = raw.decode("latin-1").split("\r\n")
    method, target, path, version = _request_line(lines[0])
    headers: dict[str, str] = {}
    lengths: list[str] = []
    for line in lines[1:]:
        field = _FIELDS.get(line)
        if field is None:
            field = _field(line)
        key, value = field
        if key == "content-length":
            lengths.append(value)
        if key not in headers:
            headers[key] = value
    return (
        method,
        target,
        path,
        version,
        MappingProxyType(headers),
        _keep_alive(headers, version),
        _body_length(headers, lengths, version),
    )


def _body_length(headers: dict[str, str], lengths: list[str], version: str) -> int:
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if lengths:
            raise BadRequest(400, "Transfer-Encoding and Content-Length must not both be present")
        codings = [c.strip().lower() for c in coding.split(",")]
        if version == "1.0" or codings[-1] != "chunked" or len(codings) > 1:
            raise BadRequest(400, f"Unsupported Transfer-Encoding: {coding!r}")
        return -1
    if not lengths:
        return 0
    if len(lengths) == 1 and lengths[0].isdigit():
        value = lengths[0]
    else:
        values = {v.strip() for v in ",".join(lengths).split(",")}
        if len(values) != 1 or not (value := values.pop()).isdigit():
            raise BadRequest(400, f"Invalid Content-Length: {', '.join(lengths)!r}")
    return int(value)


def _field(line: str) -> tuple[str, str]:
    name, sep, value = line.partition(":")
    if not sep or not _TOKEN.fullmatch(name):
        raise BadRequest(400, f"Invalid header field: {line[:80]!r}")
    field = (name.lower(), value.strip(" \t"))
    if len(_FIELDS) >= _MEMO_SIZE:
        _FIELDS.clear()
    _FIELDS[line] = field
    return field


def _request_line(line: str) -> tuple[str, str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise BadRequest(400, f"Invalid request line: {line[:80]!r}")
    method, target, protocol = parts
    if protocol not in ("HTTP/1.1", "HTTP/1.0"):
        if protocol.startswith("HTTP/"):
            raise BadRequest(505, f"Unsupported HTTP version: {protocol[:20]!r}")
        raise BadRequest(400, f"Invalid request line: {line[:80]!r}")
    if not method.isalpha() or not method.isupper():
        raise BadRequest(400, f"Invalid method: {method[:20]!r}")
    if target.startswith(("http://", "https://")):
        # absolute-form (RFC 9112 3.2.2): keep the path and query only.
        slash = target.find("/", target.index("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    if not target.startswith("/") and not (method == "OPTIONS" and target == "*"):
        raise BadRequest(400, f"Invalid request target: {target[:80]!r}")
    raw_path = target.partition("?")[0]
    path = unquote(raw_path) if "%" in raw_path else raw_path
    return method, target, path, protocol[5:]


def _keep_alive(headers: dict[str, str], version: str) -> bool:
    tokens = headers.get("connection")
    options = {t.strip().lower() for t in tokens.split(",")} if tokens else set()
    if version == "1.0":
        return "keep-alive" in options
    return "close" not in options


class HttpServer:
    """Serves `routes` on host:port; `close` shuts the listener and every connection."""

    def __init__(
        self, routes: Mapping[str, Route], on_error: Callable[[BaseException], None], max_body: int = MAX_BODY
    ) -> None:
        self._routes = routes
        self._on_error = on_error
        self._max_body = max_body
        self._server: asyncio.Server | None = None
        self.connections: set[HttpConnection] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self._routes, self._on_error, self.connections, self._max_body), host, port
        )
        for sock in self._server.sockets:
            address = sock.getsockname()
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        raise RuntimeError("the harness server has no bound address")

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self.connections):
            connection.close()
        await server.wait_closed()
        # Let the transports run their connection_lost callbacks before the loop may close.
        await asyncio.sleep(0)
