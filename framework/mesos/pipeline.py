"""Pipelined keep-alive HTTP/1.1 for scheduler calls: a few persistent connections per master.

Role: the call path of `MesosClient` (client.py). A call costs one POST; at scale that is two
ACKNOWLEDGEs per launched task (Mesos has no batch ACK), so the per-call cost of a general HTTP
client (a task, a request object, a pooled-connection dance per call) bounded Gantry's launch
rate. `Pipeline` does only what scheduler calls need: POST a body with fixed headers and read the
answer. SUBSCRIBE stays on aiohttp (client.py): its answer is an endless stream. Callers:
client.py, and the tests. Must not: know protobuf or framework.core, or retry anything itself;
only the client knows which calls are idempotent.

Theory of operation
- Pipelining (RFC 9112 section 9.3): a client may write request after request on one connection
  without waiting; the server answers them in order. Each connection keeps a FIFO of the
  callbacks of the requests it wrote, and each response parsed off the socket goes to the
  callback at its head. Nothing but a response or the loss of the connection removes an entry:
  a caller that stopped caring (a cancelled send) leaves its entry, its answer is read and
  dropped by the client, and every answer after it still finds its own request.
- Writes are coalesced per event-loop turn: a request goes into the connection's output list
  and everything submitted in one turn leaves in one `transport.write` (one syscall, not one per
  call) at the end of that turn, before the loop next waits for I/O.
- One `Pipeline` per master origin: at most `connections` connections (the Mesos docs allow a
  scheduler several) and at most `depth` unanswered requests on each. The first connection with
  room takes a request (fuller writes); another opens only when all are full. Beyond that,
  requests wait in the pool, "urgent" ones (everything but ACKNOWLEDGE: offer answers must
  leave within their allocation interval) ahead of the rest, and go out as answers free room.
- What a failure means for a request that was not answered (the retry hazard in client.py):
  - `NotSentError`: it never reached a socket (waiting in the pool, behind a connect that
    failed, or in the output list when the connection died). The master cannot have seen it;
    any call may go again.
  - `MayHaveReachedError`: it was written and the connection died, timed out or went
    unparseable before its answer came. The master may have processed it; only idempotent
    calls may go again.
- `Connection: close` in a response (or an HTTP/1.0 answer without keep-alive, or a body that
  runs to EOF): that response is delivered, then the connection is closed at once. Requests
  written after it fail with `MayHaveReachedError`: a server should not process them after
  announcing the close, but nothing proves it did not.
- Stuck connections: the master answers a call as soon as it has validated it (202, before any
  processing), so a connection that has unanswered requests and has received nothing for
  `response_timeout` seconds is presumed dead and aborted. One timer per connection checks for
  progress every `response_timeout`, so a dead connection is noticed between one and two
  timeouts after its last answer.
- Reconnection is lazy: a lost connection leaves the pool, and the next request (or the
  requests waiting in the pool) opens a fresh one. A connect that fails fails the requests
  waiting in the pool too (`NotSentError`): the master is unreachable for them as well.

Callbacks (`on_done`) are never called from inside `submit`: they run from the event loop when
the answer arrives, or from `close`/`close_when_idle` and the transport's callbacks.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # status line plus headers; a master's are a few hundred bytes
MAX_BODY = 16 * 1024 * 1024  # answers to calls are empty or a line of error text
_CRLF = b"\r\n"
_HEAD_END = b"\r\n\r\n"
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Header lines as RFC 9110 spells them: a token, a colon, a value without CR or LF.
_FIELD = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*"
_FIELDS = re.compile(_FIELD + rb"(?:\r\n" + _FIELD + rb")*")


class HTTPResponseError(Exception):
    """The server sent bytes that are not an HTTP/1.x response this parser can frame."""


class PipelineError(Exception):
    """A request got no answer. The subclass says whether it can have reached the server."""


class NotSentError(PipelineError):
    """The request never reached a socket: resending it cannot duplicate anything."""


class MayHaveReachedError(PipelineError):
    """The request was written but never answered: the server may have processed it."""


@dataclass(frozen=True, slots=True)
class Response:
    """One complete answer. `fields` is the raw header block (lines after the status line)."""

    status: int
    reason: str
    fields: bytes
    body: bytes
    keep_alive: bool

    @property
    def headers(self) -> Mapping[str, str]:
        """The header fields by lower-case name; repeated fields joined by ", ".

        Built on demand: the parser reads only the framing fields, and most answers (202) need
        nothing else."""
        out: dict[str, str] = {}
        for line in self.fields.split(_CRLF) if self.fields else ():
            name, _, value = line.partition(b":")
            key, text = name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")
            out[key] = f"{out[key]}, {text}" if key in out else text
        return out


OnDone = Callable[[Response | PipelineError], None]


# ---- the response parser (sans-IO) --------------------------------------------------------------

# Parser states: what the next bytes are.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_EOF = range(7)


class ResponseParser:
    """Turns the bytes of a connection into complete `Response`s, in order.

    `feed(data)` returns the responses completed by `data` (none until enough bytes arrived);
    `feed_eof()` returns the last one when its body is delimited by the end of the connection,
    None after a clean end, and raises if the connection ended inside a response. Interim 1xx
    answers are skipped. Framing follows RFC 9112 section 6.3: chunked, else Content-Length,
    else until EOF (and then the connection cannot be reused); 204 and 304 have no body.
    """

    __slots__ = (
        "_body",
        "_buf",
        "_head",
        "_last",
        "_last_answer",
        "_last_framing",
        "_remaining",
        "_seen",
        "_state",
    )

    def __init__(self) -> None:
        self._buf = b""  # bytes not consumed yet (a partial head or size line)
        self._state = _HEAD
        self._head: tuple[int, str, bytes, bool] = (0, "", b"", True)
        self._body: list[bytes] = []
        self._remaining = 0  # body or chunk bytes still to come
        self._seen = 0  # body bytes so far (bounded by MAX_BODY)
        # The previous head and what it meant: a master answers call after call with the same
        # "202 Accepted" head (until its Date changes), so most heads need no parsing at all.
        self._last = b""
        self._last_framing: tuple[tuple[int, str, bytes, bool], int, int] = ((0, "", b"", True), _HEAD, 0)
        # When that head is a whole answer (no body: a 202), the Response itself, shared by every
        # repeat of it (it is immutable): one allocation per distinct head, not one per call.
        self._last_answer: Response | None = None

    def feed(self, data: bytes) -> list[Response]:
        buf = self._buf + data if self._buf else data
        pos, end, out = 0, len(buf), []
        while pos < end:
            state = self._state
            if state == _HEAD:
                stop = buf.find(_HEAD_END, pos)
                if stop < 0:
                    if end - pos > MAX_HEAD:
                        raise HTTPResponseError(f"response head longer than {MAX_HEAD} bytes")
                    break
                if stop - pos > MAX_HEAD:
                    raise HTTPResponseError(f"response head longer than {MAX_HEAD} bytes")
                head = buf[pos:stop]
                pos = stop + 4
                if head == self._last and self._last_answer is not None:
                    out.append(self._last_answer)
                    continue
                self._start(head)
                if self._state == _HEAD and self._head[0] >= 200:  # a complete body-less answer
                    out.append(self._last_answer or self._finish())
            elif state in (_LENGTH, _CHUNK_DATA):
                take = min(self._remaining, end - pos)
                self._append(buf[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == _LENGTH:
                        out.append(self._finish())
                    else:
                        self._state = _CHUNK_END
            elif state == _UNTIL_EOF:
                self._append(buf[pos:] if pos else buf)
                pos = end
            elif state == _CHUNK_END:
                if end - pos < 2:
                    if buf[pos:end] != b"\r":
                        raise HTTPResponseError("chunk data not followed by CRLF")
                    break
                if buf[pos : pos + 2] != _CRLF:
                    raise HTTPResponseError("chunk data not followed by CRLF")
                pos += 2
                self._state = _CHUNK_SIZE
            else:
                stop = buf.find(_CRLF, pos)
                if stop < 0:
                    if end - pos > MAX_HEAD:
                        raise HTTPResponseError("chunk framing line too long")
                    break
                line = buf[pos:stop]
                pos = stop + 2
                if state == _CHUNK_SIZE:
                    self._chunk_size(line)
                elif not line:  # _TRAILER: an empty line ends the message; trailer fields are ignored
                    out.append(self._finish())
        self._buf = buf[pos:] if pos < end else b""
        return out

    def feed_eof(self) -> Response | None:
        if self._state == _UNTIL_EOF:
            return self._finish()
        if self._state == _HEAD and not self._buf:
            return None
        raise HTTPResponseError("connection closed inside a response")

    def _start(self, head: bytes) -> None:
        if head == self._last:
            self._head, self._state, self._remaining = self._last_framing
            self._body, self._seen = [], 0
            return
        end = head.find(_CRLF)
        status_line, fields = (head, b"") if end < 0 else (head[:end], head[end + 2 :])
        version, _, rest = status_line.partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise HTTPResponseError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        if fields and _FIELDS.fullmatch(fields) is None:
            # Also rejects obsolete line folding (RFC 9112 lets a client refuse it).
            raise HTTPResponseError(f"malformed header block: {fields[:120]!r}")
        status = int(code)
        lower = _CRLF + fields.lower()
        tokens = {t.strip() for v in _values(lower, b"\r\nconnection:") for t in v.split(b",")}
        keep_alive = b"close" not in tokens and (version == b"HTTP/1.1" or b"keep-alive" in tokens)
        if 100 <= status < 200:
            if status == 101:
                raise HTTPResponseError("101 Switching Protocols: no upgrade was asked for")
            self._state = _HEAD  # interim answer: the real one follows
            self._head = (status, "", b"", keep_alive)
            return
        self._body, self._seen = [], 0
        codings = _values(lower, b"\r\ntransfer-encoding:")
        lengths = _values(lower, b"\r\ncontent-length:")
        if status in (204, 304):
            self._state = _HEAD
        elif codings:
            if b",".join(codings).rsplit(b",", 1)[-1].strip() == b"chunked":
                self._state = _CHUNK_SIZE
                # With both headers, Content-Length is a smuggling risk: framing by chunks, then close.
                keep_alive = keep_alive and not lengths
            else:
                self._state, keep_alive = _UNTIL_EOF, False
        elif lengths:
            self._remaining = _content_length(lengths)
            if self._remaining > MAX_BODY:
                raise HTTPResponseError(f"response body of {self._remaining} bytes is too large")
            self._state = _LENGTH if self._remaining else _HEAD
        else:
            self._state, keep_alive = _UNTIL_EOF, False
        self._head = (status, reason.decode("latin-1"), fields, keep_alive)
        self._last, self._last_framing = head, (self._head, self._state, self._remaining)
        body_less = self._state == _HEAD
        self._last_answer = Response(status, self._head[1], fields, b"", keep_alive) if body_less else None

    def _chunk_size(self, line: bytes) -> None:
        digits = line.split(b";", 1)[0].strip(b" \t")
        if not digits or len(digits) > 16 or not _HEX.issuperset(digits):
            raise HTTPResponseError(f"bad chunk size line: {line[:80]!r}")
        size = int(digits, 16)
        if size == 0:
            self._state = _TRAILER
        else:
            self._remaining, self._state = size, _CHUNK_DATA

    def _append(self, data: bytes) -> None:
        self._seen += len(data)
        if self._seen > MAX_BODY:
            raise HTTPResponseError(f"response body longer than {MAX_BODY} bytes")
        self._body.append(data)

    def _finish(self) -> Response:
        status, reason, headers, keep_alive = self._head
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body, self._state = [], _HEAD
        return Response(status, reason, headers, body, keep_alive)


def _values(lower: bytes, key: bytes) -> list[bytes]:
    """Every value of one field, found in the CRLF-prefixed, lower-cased header block."""
    out = []
    at = lower.find(key)
    while at >= 0:
        start = at + len(key)
        stop = lower.find(_CRLF, start)
        out.append(lower[start : stop if stop >= 0 else len(lower)].strip(b" \t"))
        at = lower.find(key, start)
    return out


def _content_length(values: list[bytes]) -> int:
    if len(values) == 1 and values[0].isdigit():
        return int(values[0])
    # "5, 5" or a repeated field is allowed when all copies agree (RFC 9110 section 8.6).
    copies = {v.strip() for value in values for v in value.split(b",")}
    if len(copies) != 1 or not (only := copies.pop()).isdigit():
        raise HTTPResponseError(f"bad Content-Length: {b', '.join(values)!r}")
    return int(only)


# ---- one connection -----------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes requests, hands answers to callbacks in FIFO order."""

    def __init__(self, pool: Pipeline) -> None:
        self._pool = pool
        self._loop = pool.loop
        self._transport: asyncio.Transport | None = None
        self._parser = ResponseParser()
        self._waiting: deque[OnDone] = deque()  # every request on this connection not yet answered
        self._out: list[bytes] = []  # the newest len(_out) of them, not yet handed to the transport
        self._flushing = False
        self._answered = 0  # answers received: the watchdog's sign of progress
        self._watch: asyncio.TimerHandle | None = None
        self.open = True  # False once it takes no more requests (closing, closed or lost)
        self._idle_close = False

    @property
    def load(self) -> int:
        return len(self._waiting)

    # -- requests out --

    def send(self, request: bytes, on_done: OnDone) -> None:
        self._waiting.append(on_done)
        self._out.append(request)
        if self._transport is not None and not self._flushing:
            self._flushing = True
            self._loop.call_soon(self._flush)
        if self._watch is None:
            self._arm_watch()

    def _flush(self) -> None:
        self._flushing = False
        if self._out and self._transport is not None and self.open:
            data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
            self._out.clear()
            self._transport.write(data)

    # -- transport callbacks --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self.open:
            transport.close()  # the pool closed while we were connecting
            return
        self._flush()
        if self is self._pool._lane:
            self._pool._refill()  # urgent requests that waited in the pool may take the lane now

    def data_received(self, data: bytes) -> None:
        if not self.open:
            return  # shut already: whatever still arrives answers requests that were failed
        try:
            responses = self._parser.feed(data)
        except HTTPResponseError as exc:
            self._shut(f"unparseable answer from {self._pool.base}: {exc}")
            return
        if not responses:
            return
        self._answered += len(responses)
        waiting = self._waiting
        for response in responses:
            if len(waiting) <= len(self._out):
                self._shut(f"{self._pool.base} answered a request that was not sent")
                return
            _deliver(self._loop, waiting.popleft(), response)
            if not self.open:
                return  # a callback closed the pool, and with it this connection
            if not response.keep_alive:
                self._shut(f"{self._pool.base} closed the connection (Connection: close)")
                return
        if self._idle_close and not waiting:
            self._shut("idle after the master changed")
            return
        self._pool._refill()

    def eof_received(self) -> bool:
        try:
            last = self._parser.feed_eof()
        except HTTPResponseError as exc:
            self._shut(f"{self._pool.base} closed the connection: {exc}")
            return False
        if last is not None and len(self._waiting) > len(self._out):
            _deliver(self._loop, self._waiting.popleft(), last)
        self._shut(f"{self._pool.base} closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._shut(f"connection to {self._pool.base} lost" + (f": {exc}" if exc else ""))

    # -- ending --

    def _arm_watch(self) -> None:
        timeout = self._pool.response_timeout
        if timeout > 0:
            self._watch = self._loop.call_later(timeout, self._check_progress, self._answered)

    def _check_progress(self, answered_before: int) -> None:
        self._watch = None
        if not self._waiting or not self.open:
            return
        if self._transport is not None and self._answered == answered_before:
            self._shut(f"no answer from {self._pool.base} for {self._pool.response_timeout:g} s")
            return
        self._arm_watch()  # answers are flowing (or still connecting: the connect has its own timeout)

    def close_when_idle(self) -> None:
        self._idle_close = True
        if not self._waiting:
            self._shut("idle after the master changed")

    def connect_failed(self, reason: str) -> None:
        self._shut(reason, sent=False)

    def _shut(self, reason: str, *, sent: bool = True) -> None:
        """Stop for good: fail every unanswered request (split by whether it was written)."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        was_open, self.open = self.open, False
        if self._transport is not None and not self._transport.is_closing():
            if self._waiting:
                self._transport.abort()  # answers still due would be read for nothing
            else:
                self._transport.close()
        waiting, unsent = self._waiting, len(self._out)
        self._waiting, self._out = deque(), []
        if was_open:
            self._pool._forget(self)
        written = len(waiting) - unsent if sent else 0
        for index, on_done in enumerate(waiting):
            error = MayHaveReachedError(reason) if index < written else NotSentError(reason)
            _deliver(self._loop, on_done, error)


def _deliver(loop: asyncio.AbstractEventLoop, on_done: OnDone, outcome: Response | PipelineError) -> None:
    # A callback's bug must not cost the other requests on the connection their answers.
    try:
        on_done(outcome)
    except Exception as exc:
        loop.call_exception_handler({"message": "pipeline callback failed", "exception": exc})


# ---- the pool -----------------------------------------------------------------------------------


class Pipeline:
    """Scheduler calls to one master origin over up to `connections` pipelined connections.

    `submit(body, stream_id, on_done)` queues one POST of `path` with `Content-Type` and
    `Mesos-Stream-Id`; `on_done` later gets the `Response` or a `PipelineError`. `request()` is
    the same as a future. `close()` fails everything unanswered; `close_when_idle()` stops taking
    requests and closes each connection once its answers are in.
    """

    def __init__(
        self,
        base: str,
        *,
        path: str,
        content_type: str,
        connections: int = 4,
        depth: int = 256,
        connect_timeout: float = 10.0,
        response_timeout: float = 10.0,
    ) -> None:
        url = urlsplit(base)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base!r}")
        self.base = base
        self.loop = asyncio.get_running_loop()
        self.response_timeout = response_timeout
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._max_connections = max(1, connections)
        self._depth = max(1, depth)
        self._connect_timeout = connect_timeout
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{self._port}\r\nContent-Type: {content_type}\r\n"
        ).encode("latin-1")
        self._prefix_for: tuple[str, bytes] = ("", b"")  # (stream id, header block up to the length)
        self._connections: list[_Connection] = []
        self._current: _Connection | None = None
        # With two connections or more, one of them is a lane for urgent requests only (offer
        # answers, kills, reconciliations), never for ACKs: see _urgent_room.
        self._has_lane = self._max_connections >= 2
        self._lane: _Connection | None = None
        self._urgent: deque[tuple[bytes, OnDone]] = deque()
        self._later: deque[tuple[bytes, OnDone]] = deque()
        self._connecting: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def queued(self) -> int:
        """Requests waiting in the pool for room on a connection."""
        return len(self._urgent) + len(self._later)

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def lane_ready(self) -> bool:
        """Whether the lane for urgent requests is connected (they take it from then on)."""
        lane = self._lane
        return lane is not None and lane.open and lane._transport is not None

    def submit(self, body: bytes, stream_id: str, on_done: OnDone, *, urgent: bool = True) -> None:
        stream, prefix = self._prefix_for
        if stream != stream_id:
            if "\r" in stream_id or "\n" in stream_id:
                raise ValueError(f"stream id {stream_id!r} would split the header")
            prefix = self._head + f"Mesos-Stream-Id: {stream_id}\r\nContent-Length: ".encode("latin-1")
            self._prefix_for = (stream_id, prefix)
        request = b"%s%d\r\n\r\n%s" % (prefix, len(body), body)
        if self._closed:
            self.loop.call_soon(
                _deliver, self.loop, on_done, NotSentError(f"the pipeline to {self.base} is closed")
            )
            return
        # Requests already waiting mean every connection is full (each answer or loss refills
        # from the queue first): join the line without looking for room.
        if urgent:
            connection = None if self._urgent else self._urgent_room()
        else:
            connection = None if self._urgent or self._later else self._room()
        if connection is None:
            (self._urgent if urgent else self._later).append((request, on_done))
        else:
            connection.send(request, on_done)

    def request(self, body: bytes, stream_id: str, *, urgent: bool = True) -> asyncio.Future[Response]:
        """`submit` as a future: the `Response`, or the `PipelineError` raised."""
        future: asyncio.Future[Response] = self.loop.create_future()

        def settle(outcome: Response | PipelineError) -> None:
            if future.done():
                return
            if isinstance(outcome, Response):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

        self.submit(body, stream_id, settle, urgent=urgent)
        return future

    def close(self) -> None:
        """Abort every connection; everything unanswered fails (synchronously, here)."""
        self._closed = True
        for task in self._connecting:
            task.cancel()
        for connection in list(self._connections):
            connection._shut(f"the pipeline to {self.base} was closed")
        self._fail_queued(f"the pipeline to {self.base} was closed")

    def close_when_idle(self) -> None:
        """Take no more requests; close each connection once everything on it is answered."""
        self._closed = True
        # Not sent yet, so free to go again (to whichever master the caller now knows).
        self._fail_queued(f"the pipeline to {self.base} was closed")
        for connection in list(self._connections):
            connection.close_when_idle()

    # -- internals --

    def _urgent_room(self) -> _Connection | None:
        """Room for an urgent request: the lane first, then any connection.

        An urgent request sent behind a connection's unanswered ACKs waits for the master to work
        through them (up to `depth`, on each connection), and under load the master answers ACKs
        slower than the allocation interval allows for an offer answer: an ACCEPT written behind
        them reached the master 0.3-0.5 s after it was submitted at 10,000 launches a second."""
        if self._closed:
            return None
        if self._has_lane:
            lane = self._lane
            if lane is None:
                lane = self._lane = self._open(lane=True)
            # Only once connected: a lane still connecting (the first, or one replacing a lost one)
            # would hold offer answers for a TCP handshake that connected connections do not need.
            if self.lane_ready and len(lane._waiting) < self._depth:
                return lane
        return self._room()

    def _room(self) -> _Connection | None:
        if self._closed:
            return None
        current = self._current  # where the last request went: usually it still has room
        if current is not None and current.open and len(current._waiting) < self._depth:
            return current
        depth = self._depth
        lane = self._lane
        for connection in self._connections:
            if connection is not lane and connection.open and connection.load < depth:
                self._current = connection
                return connection
        if len(self._connections) - (lane is not None) < self._max_connections - self._has_lane:
            return self._open()
        return None

    def _open(self, *, lane: bool = False) -> _Connection:
        connection = _Connection(self)
        self._connections.append(connection)
        if not lane:
            self._current = connection
        task = self.loop.create_task(self._connect(connection), name=f"pipeline-connect {self.base}")
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return connection

    async def _connect(self, connection: _Connection) -> None:
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self.loop.create_connection(lambda: connection, self._host, self._port, ssl=self._ssl)
        except (OSError, TimeoutError) as exc:
            reason = f"cannot connect to {self.base}: {type(exc).__name__}: {exc}"
            # The queue first: failing the connection refills from the queue, which would only
            # try the unreachable master again.
            self._fail_queued(reason)
            connection.connect_failed(reason)
        except asyncio.CancelledError:
            connection.connect_failed(f"the pipeline to {self.base} was closed")
            raise

    def _forget(self, connection: _Connection) -> None:
        if connection in self._connections:
            self._connections.remove(connection)
        if self._current is connection:
            self._current = None
        if self._lane is connection:
            self._lane = None
        self._refill()

    def _refill(self) -> None:
        """Move waiting requests onto connections with room (opening one if allowed)."""
        urgent, later = self._urgent, self._later
        while urgent:
            connection = self._urgent_room()
            if connection is None:
                return
            request, on_done = urgent.popleft()
            connection.send(request, on_done)
        while later:
            connection = self._room()
            if connection is None:
                return
            request, on_done = later.popleft()
            connection.send(request, on_done)

    def _fail_queued(self, reason: str) -> None:
        queued = [*self._urgent, *self._later]
        self._urgent.clear()
        self._later.clear()
        for _, on_done in queued:
            _deliver(self.loop, on_done, NotSentError(reason))
