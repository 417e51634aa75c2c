"""The fake master's HTTP endpoints: /api/v1/scheduler, /version, /health, /redirect.

`POST /api/v1/scheduler` applies the real handler's checks in the real order (mesos-protocol.md
a.2): leadership (307 / 503), method (405), Content-Type (400 / 415), body (400), call
validation (400), Accept for SUBSCRIBE and RECONCILE_OPERATIONS (406), Mesos-Stream-Id on
SUBSCRIBE (400), then the framework checks and dispatch (harness/calls.py). Error bodies are
plain text, as Mesos sends them.

The transport is harness/http.py (HTTP/1.1 with keep-alive and pipelining); every handler here
is synchronous, so the answers to pipelined calls go back in order and in one write.

A SUBSCRIBE answer is a chunked 200 whose body is the event stream. `HttpStream` is the master's
EventSink for it: events are encoded and RecordIO-framed as they are sent, and everything sent
in one turn of the event loop goes out together in one chunk, so several records often share a
chunk; with `chunk_size` set, the bytes are cut into chunks of that size regardless of record
boundaries, which exercises a client's reassembly (checklist item 3).

The routes work on a `ServerState`, so the master behind them can change (failover) and the
server can act as a standby or leaderless master.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

from harness import calls
from harness.codec import CallDecodeError, Encoding, OutEvent, call_to_dict, decode_call
from harness.fastack import Acknowledgement, read_acknowledge
from harness.http import Channel, Request, Response, Route, StreamingResponse, get_route, text
from harness.ledger import Ledger, ReceivedCall
from harness.master import VERSION, Master
from harness.validation import validate_call
from proto.mesos.v1.scheduler import scheduler_pb2

# The message class carries the enum values as plain class attributes; going through the
# EnumTypeWrapper (scheduler_pb2.Call.Type.X) costs a __getattr__ call, ~2 us, per comparison.
CallType = scheduler_pb2.Call
SCHEDULER_PATH = "/api/v1/scheduler"
BUILD_TIME = time.time()
_STREAMING_TYPES = (CallType.SUBSCRIBE, CallType.RECONCILE_OPERATIONS)


class Mode(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"  # 307 to the leader
    NO_LEADER = "no-leader"  # 503


# Read on every request, as globals: an Enum member looked up on its class goes through the enum
# metaclass (four times slower).
_LEADER = Mode.LEADER
_PROTOBUF = Encoding.PROTOBUF


@dataclass(slots=True)
class ServerState:
    master: Master | None  # None until the master is up: answered like a recovering master
    ledger: Ledger
    chunk_size: int | None = None
    mode: Mode = Mode.LEADER
    leader: str | None = None  # "host:port" of the leader while in STANDBY
    streams: set[HttpStream] = field(default_factory=set)
    errors: list[BaseException] = field(default_factory=list)  # harness bugs met while serving


class HttpStream:
    """EventSink for one SUBSCRIBE response, and the StreamSource of that response."""

    def __init__(
        self, state: ServerState, master: Master, call: scheduler_pb2.Call, encoding: Encoding
    ) -> None:
        self.stream_id = str(uuidlib.uuid4())
        self.encoding = encoding
        self.owner = master
        self._state = state
        self._call = call
        self._chunk_size = state.chunk_size
        self._pending: list[bytes] = []
        self._channel: Channel | None = None
        self._loop = asyncio.get_running_loop()
        self._flush_scheduled = False
        self._closing = False
        self._aborted = False

    # -- EventSink (the master) ---------------------------------------------------------------------

    def send(self, event: OutEvent) -> None:
        if self._closing or self._aborted:
            return
        self._pending.append(event.encode(self.encoding))
        if not self._flush_scheduled:  # _schedule_flush's test, without the call (two per task)
            self._schedule_flush()

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._schedule_flush()

    def abort(self) -> None:
        self._aborted = True
        self._pending.clear()
        if self._channel is not None:
            self._channel.abort()

    @property
    def aborted(self) -> bool:
        return self._aborted

    # -- StreamSource (the connection) --------------------------------------------------------------

    def opened(self, channel: Channel) -> None:
        self._channel = channel
        self._state.streams.add(self)
        self.owner.subscribe(self._call, self)

    def closed(self) -> None:
        self._state.streams.discard(self)
        self._aborted = True
        self.owner.stream_closed(self)

    # -- internals ----------------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        # Events sent in one turn of the loop (an offer cycle, a batch of updates) share one write.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        channel = self._channel
        if self._aborted or channel is None:
            return
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            size = self._chunk_size or len(data)
            channel.write([data[start : start + size] for start in range(0, len(data), size)])
        if self._closing:
            channel.end()


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


def _leader_redirect(state: ServerState, request: Request) -> Response | None:
    if state.mode is Mode.STANDBY:
        return Response(307, headers=(("Location", f"//{state.leader}{request.target}"),))
    if state.mode is Mode.NO_LEADER:
        return text(503, "No leader elected")
    return None


def scheduler(state: ServerState, request: Request) -> Response | StreamingResponse:
    if state.mode is not _LEADER:
        redirect = _leader_redirect(state, request)
        if redirect is not None:
            return redirect
    master = state.master
    if master is None:
        return text(503, "Master has not finished recovery")
    if request.method != "POST":
        message = f"Expecting one of {{ 'POST' }}, but received '{request.method}'"
        return _refused(state, 405, message, (("Allow", "POST"),))
    headers = request.headers
    content_type = headers.get("content-type")
    if content_type is None:
        return _refused(state, 400, "Expecting 'Content-Type' to be present")
    if content_type == _PROTOBUF:
        if not state.ledger.record_calls:
            ack = read_acknowledge(request.body)
            if ack is not None and _acknowledge_fast(master, ack, headers.get("mesos-stream-id")):
                return _ACCEPTED
        encoding = _PROTOBUF
    elif content_type == Encoding.JSON:
        encoding = Encoding.JSON
    else:
        return _refused(state, 415, "Expecting 'Content-Type' of application/json or application/x-protobuf")
    try:
        call = decode_call(request.body, encoding)
    except CallDecodeError as decode_error:
        return _refused(state, 400, str(decode_error))
    invalid = validate_call(call)
    if invalid is not None:
        message = f"Failed to validate scheduler::Call: {invalid}"
        return _record(state, call, encoding, 400, message, violation=True)
    kind = call.type
    accept = encoding
    if kind in _STREAMING_TYPES:
        header = headers.get("accept")
        if _accepts(header, Encoding.JSON):
            accept = Encoding.JSON
        elif _accepts(header, Encoding.PROTOBUF):
            accept = Encoding.PROTOBUF
        else:
            message = "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"
            return _record(state, call, encoding, 406, message, violation=True)
    if kind == CallType.SUBSCRIBE:
        if "mesos-stream-id" in headers:
            message = "Subscribe calls should not include the 'Mesos-Stream-Id' header"
            return _record(state, call, encoding, 400, message, violation=True)
        _record(state, call, encoding, 200, "")
        stream = HttpStream(state, master, call, accept)
        stream_headers = (("Content-Type", accept.value), ("Mesos-Stream-Id", stream.stream_id))
        return StreamingResponse(200, stream_headers, stream)
    checked = calls.check_caller(master, call.framework_id.value, headers.get("mesos-stream-id"))
    if isinstance(checked, tuple):
        return _record(state, call, encoding, checked[0], checked[1])
    status, message = calls.dispatch(master, checked, call)
    if status == 202 and not message and not state.ledger.record_calls:
        return _ACCEPTED  # the answer to nearly every call of a launch: nothing to record
    return _record(state, call, encoding, status, message)


def _acknowledge_fast(master: Master, ack: Acknowledgement, stream_id: str | None) -> bool:
    """The rest of the generic path for a body `read_acknowledge` understood, when its answer is
    202 with nothing to record (the generic path's last step); False, having changed nothing, when
    the caller check fails: the generic path then gives that answer."""
    framework_id, agent_id, task_id, uuid = ack
    fw = calls.check_caller(master, framework_id, stream_id)
    if isinstance(fw, tuple):
        return False
    master.acknowledge(fw, agent_id, task_id, uuid)
    return True


def _refused(
    state: ServerState, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """A request refused before it could be decoded into a call: always the client's mistake."""
    state.ledger.violation(f"HTTP {status} before decoding: {message}")
    return text(status, message, headers)


_ACCEPTED = Response(202)


def _record(
    state: ServerState,
    call: scheduler_pb2.Call,
    encoding: Encoding,
    status: int,
    message: str,
    violation: bool = False,
) -> Response:
    ledger = state.ledger
    if violation or ledger.record_calls:
        name = scheduler_pb2.Call.Type.Name(call.type) if call.HasField("type") else "UNSET"
        if violation:
            ledger.violation(f"HTTP {status} for {name}: {message}")
        if ledger.record_calls:
            fid = call.framework_id.value if call.HasField("framework_id") else None
            ledger.call(ReceivedCall(name, fid, encoding.value, status, call_to_dict(call)))
    if status == 202 and not message:
        return _ACCEPTED
    return text(status, message)


def version(_: Request) -> Response:
    body = {
        "version": VERSION,
        "build_date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(BUILD_TIME)),
        "build_time": BUILD_TIME,
        "build_user": "gantry-harness",
    }
    return Response(200, json.dumps(body).encode(), "application/json; charset=utf-8")


def health(_: Request) -> Response:
    return Response(200)


def redirect(state: ServerState, request: Request) -> Response:
    answer = _leader_redirect(state, request)
    if answer is not None:
        if answer.status == 307:
            return Response(307, headers=(("Location", f"//{state.leader}"),))
        return answer
    if state.master is None:
        return text(503, "Master has not finished recovery")
    info = state.master.info
    return Response(307, headers=(("Location", f"//{info.hostname}:{info.port}"),))


def build_routes(state: ServerState) -> dict[str, Route]:
    """Every path the fake master serves. The scheduler endpoint takes every method (405 itself)."""
    return {
        SCHEDULER_PATH: Route(partial(scheduler, state)),  # a partial: no Python frame per call
        "/version": get_route(version),
        "/health": get_route(health),
        "/redirect": get_route(lambda request: redirect(state, request)),
        "/master/redirect": get_route(lambda request: redirect(state, request)),
    }


def close_streams(state: ServerState, chooser: Callable[[HttpStream], bool]) -> int:
    """Abort the subscription connections `chooser` picks (fault injection); how many."""
    chosen = [s for s in state.streams if chooser(s)]
    for stream in chosen:
        stream.abort()
    return len(chosen)
