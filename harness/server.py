"""The HTTP face of the fake master (aiohttp): /api/v1/scheduler, /version, /health, /redirect.

`POST /api/v1/scheduler` applies the real handler's checks in the real order (mesos-protocol.md
a.2): leadership (307 / 503), method (405), Content-Type (400 / 415), body (400), call
validation (400), Accept for SUBSCRIBE and RECONCILE_OPERATIONS (406), Mesos-Stream-Id on
SUBSCRIBE (400), then the framework checks and dispatch (harness/calls.py). Error bodies are
plain text, as Mesos sends them.

A SUBSCRIBE answer is a chunked 200 whose body is the event stream. `HttpStream` is the master's
EventSink for it: events are appended to a buffer (already encoded and RecordIO-framed) and a
writer coroutine flushes whatever has accumulated, so several records often share a chunk;
with `chunk_size` set, the bytes are cut into chunks of that size regardless of record
boundaries, which exercises a client's reassembly (checklist item 3).

The app is built around a `ServerState` so the master behind it can change (failover) and the
server can act as a standby or leaderless master.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from aiohttp.typedefs import Handler

from harness import calls
from harness.codec import CallDecodeError, Encoding, OutEvent, call_to_dict, decode_call
from harness.ledger import Ledger, ReceivedCall
from harness.master import VERSION, Master
from harness.validation import validate_call
from proto.mesos.v1.scheduler import scheduler_pb2

CallType = scheduler_pb2.Call.Type
SCHEDULER_PATH = "/api/v1/scheduler"
BUILD_TIME = time.time()


class Mode(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"  # 307 to the leader
    NO_LEADER = "no-leader"  # 503


@dataclass(slots=True)
class ServerState:
    master: Master | None  # None until the master is up: answered like a recovering master
    ledger: Ledger
    chunk_size: int | None = None
    mode: Mode = Mode.LEADER
    leader: str | None = None  # "host:port" of the leader while in STANDBY
    streams: set[HttpStream] = field(default_factory=set)
    errors: list[BaseException] = field(default_factory=list)  # harness bugs met while serving


STATE = web.AppKey("harness_state", ServerState)


class HttpStream:
    """EventSink for one SUBSCRIBE response."""

    def __init__(self, encoding: Encoding, chunk_size: int | None) -> None:
        self.stream_id = str(uuidlib.uuid4())
        self.encoding = encoding
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._wake = asyncio.Event()
        self._closing = False
        self._aborted = False
        self.owner: Master | None = None

    def send(self, event: OutEvent) -> None:
        if self._closing or self._aborted:
            return
        self._buffer += event.encode(self.encoding)
        self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    def abort(self) -> None:
        self._aborted = True
        self._wake.set()

    @property
    def aborted(self) -> bool:
        return self._aborted

    async def pump(self, request: web.Request, response: web.StreamResponse) -> None:
        """Write events until the stream is closed (clean end) or aborted (connection dropped)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._aborted:
                if request.transport is not None:
                    request.transport.abort()
                return
            if self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                size = self._chunk_size or len(data)
                for start in range(0, len(data), size):
                    await response.write(data[start : start + size])
            if self._closing and not self._buffer:
                await response.write_eof()
                return


def _accepts(header: str | None, media: str) -> bool:
    """libprocess Request::acceptsMediaType: no header accepts anything; q=0 refuses."""
    if header is None:
        return True
    kind, _, _ = media.partition("/")
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        candidate = fields[0].lower()
        quality = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if candidate in (media, "*/*", f"{kind}/*"):
            return True
    return False


def _text(status: int, body: str, headers: dict[str, str] | None = None) -> web.Response:
    if not body:
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, text=body, content_type="text/plain", headers=headers)


def _leader_redirect(state: ServerState, request: web.Request) -> web.Response | None:
    if state.mode is Mode.STANDBY:
        return web.Response(status=307, headers={"Location": f"//{state.leader}{request.path_qs}"})
    if state.mode is Mode.NO_LEADER:
        return _text(503, "No leader elected")
    return None


async def scheduler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    redirect = _leader_redirect(state, request)
    if redirect is not None:
        return redirect
    master = state.master
    if master is None:
        return _text(503, "Master has not finished recovery")
    if request.method != "POST":
        return _refused(
            state, 405, f"Expecting one of {{ 'POST' }}, but received '{request.method}'", {"Allow": "POST"}
        )
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        return _refused(state, 400, "Expecting 'Content-Type' to be present")
    if content_type not in (Encoding.JSON, Encoding.PROTOBUF):
        return _refused(state, 415, "Expecting 'Content-Type' of application/json or application/x-protobuf")
    encoding = Encoding(content_type)
    body = await request.read()
    try:
        call = decode_call(body, encoding)
    except CallDecodeError as decode_error:
        return _refused(state, 400, str(decode_error))
    invalid = validate_call(call)
    if invalid is not None:
        message = f"Failed to validate scheduler::Call: {invalid}"
        return _record(state, call, encoding, 400, message, violation=True)
    accept = encoding
    if call.type in (CallType.SUBSCRIBE, CallType.RECONCILE_OPERATIONS):
        header = request.headers.get("Accept")
        if _accepts(header, Encoding.JSON):
            accept = Encoding.JSON
        elif _accepts(header, Encoding.PROTOBUF):
            accept = Encoding.PROTOBUF
        else:
            message = "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"
            return _record(state, call, encoding, 406, message, violation=True)
    if call.type == CallType.SUBSCRIBE:
        if "Mesos-Stream-Id" in request.headers:
            message = "Subscribe calls should not include the 'Mesos-Stream-Id' header"
            return _record(state, call, encoding, 400, message, violation=True)
        _record(state, call, encoding, 200, "")
        return await _subscribe(state, master, request, call, accept)
    checked = calls.check_caller(master, call.framework_id.value, request.headers.get("Mesos-Stream-Id"))
    if isinstance(checked, tuple):
        return _record(state, call, encoding, checked[0], checked[1])
    status, text = calls.dispatch(master, checked, call)
    return _record(state, call, encoding, status, text)


def _refused(
    state: ServerState, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A request refused before it could be decoded into a call: always the client's mistake."""
    state.ledger.violation(f"HTTP {status} before decoding: {message}")
    return _text(status, message, headers)


def _record(
    state: ServerState,
    call: scheduler_pb2.Call,
    encoding: Encoding,
    status: int,
    message: str,
    violation: bool = False,
) -> web.Response:
    name = scheduler_pb2.Call.Type.Name(call.type) if call.HasField("type") else "UNSET"
    if violation:
        state.ledger.violation(f"HTTP {status} for {name}: {message}")
    if state.ledger.record_calls:
        fid = call.framework_id.value if call.HasField("framework_id") else None
        state.ledger.call(ReceivedCall(name, fid, encoding.value, status, call_to_dict(call)))
    return _text(status, message)


async def _subscribe(
    state: ServerState, master: Master, request: web.Request, call: scheduler_pb2.Call, accept: Encoding
) -> web.StreamResponse:
    stream = HttpStream(accept, state.chunk_size)
    response = web.StreamResponse(
        status=200, headers={"Content-Type": accept.value, "Mesos-Stream-Id": stream.stream_id}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    stream.owner = master
    state.streams.add(stream)
    try:
        master.subscribe(call, stream)
        await stream.pump(request, response)
        # After an abort the connection is gone; wait to be cancelled rather than return into it.
        if stream.aborted:
            await asyncio.Event().wait()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        state.streams.discard(stream)
        master.stream_closed(stream)
    return response


async def version(_: web.Request) -> web.Response:
    return web.json_response(
        {
            "version": VERSION,
            "build_date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(BUILD_TIME)),
            "build_time": BUILD_TIME,
            "build_user": "gantry-harness",
        }
    )


async def health(_: web.Request) -> web.Response:
    return web.Response(status=200)


async def redirect(request: web.Request) -> web.Response:
    state = request.app[STATE]
    answer = _leader_redirect(state, request)
    if answer is not None:
        if answer.status == 307:
            return web.Response(status=307, headers={"Location": f"//{state.leader}"})
        return answer
    if state.master is None:
        return _text(503, "Master has not finished recovery")
    info = state.master.info
    return web.Response(status=307, headers={"Location": f"//{info.hostname}:{info.port}"})


@web.middleware
async def _record_crashes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A harness bug must not pass for a protocol answer: record it (Harness.errors), answer 500."""
    try:
        return await handler(request)
    except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as error:
        request.app[STATE].errors.append(error)
        return _text(500, f"harness internal error: {error!r}")


def build_app(state: ServerState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_record_crashes])
    app[STATE] = state
    app.router.add_route("*", SCHEDULER_PATH, scheduler)
    app.router.add_get("/version", version)
    app.router.add_get("/health", health)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/master/redirect", redirect)
    return app


def close_streams(state: ServerState, chooser: Callable[[HttpStream], bool]) -> int:
    """Abort the subscription connections `chooser` picks (fault injection); how many."""
    chosen = [s for s in state.streams if chooser(s)]
    for stream in chosen:
        stream.abort()
    return len(chosen)
