"""The asyncio v1 scheduler HTTP client: one SUBSCRIBE stream in, calls out.

Role: keep Gantry subscribed to the leading Mesos master and move messages across the wire. Events
from the stream are decoded (RecordIO, then protobuf or JSON) and handed to the driver as
framework.core events through the ``on_event`` callback, in stream order; effects the driver wants
performed go out as calls through :meth:`MesosClient.send` (a coroutine) or
:meth:`MesosClient.submit` (returns a future at once, no task needed: what a caller sending
thousands of ACKNOWLEDGEs per second wants). Callers: framework/driver.py and app.py.

Theory of operation
- ``run()`` loops forever: ask the detector for the leader, POST SUBSCRIBE (following 307s to the
  leader, which the client remembers), read the chunked RecordIO stream until it breaks, tell the
  driver it is disconnected, wait a capped exponential backoff with jitter, resubscribe with the same
  framework id (in ``framework_info.id`` and the top-level ``framework_id``).
- The stream is watched: if nothing (not even a HEARTBEAT) arrives for ``heartbeat_misses`` heartbeat
  intervals, the connection is presumed dead (a silent partition never closes a TCP socket).
- Calls go through pipeline.py, not aiohttp: a few persistent keep-alive connections per master,
  requests written as soon as they are submitted (pipelined), answers matched in order. They never
  share the stream's connection (Mesos requires calls on other connections). Each carries
  ``Content-Type`` and ``Mesos-Stream-Id``; the stream id and the master are read afresh for every
  attempt, so after a resubscription (new stream id, or a new master after a 307 or a ZooKeeper
  change) calls go to the new master, and the connections to the old one close once idle.
- A call's life (calls.py's ``PendingCall``): submitted; answered 202/200 (done), 307 (resubmitted
  at once to the Location, at most ``max_redirects`` times), or an error; an error that may be
  retried goes again after a backoff (injected ``sleep``), up to ``call_attempts`` attempts in all.
- Errors are typed (errors.py). Transient ones are retried here (stream) or raised for the caller to
  retry after the next SUBSCRIBED (calls). Permanent ones end ``run()`` (SUBSCRIBE refused, framework
  removed) or are raised to the caller (a call the master rejects); either makes ``ready`` False.

Retry hazard: an ACCEPT is retried only when it certainly never reached the master (connection
refused or never written, 503, 429, 307). Written but unanswered (the connection dropped, closed
or stalled before the answer) counts as "may have reached the master". A retried ACCEPT that the
master did process would fail its tasks as launched on invalid offers while they actually run.
Every other call is idempotent at the master and is retried.

Must not: make scheduling decisions, touch the store, or let protobuf objects out of framework/mesos.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Self, cast

import aiohttp
import structlog
from structlog.typing import FilteringBoundLogger
from yarl import URL

from framework.core.effects import Accept, Acknowledge, MesosCall
from framework.core.events import Event as CoreEvent
from framework.mesos import codec, taskbytes
from framework.mesos.calls import AckDone, PendingAck, PendingCall, error_for_status, send_in_order
from framework.mesos.detector import MasterDetector, detector_for
from framework.mesos.errors import (
    FrameworkRemovedError,
    MesosError,
    PermanentMesosError,
    TransientMesosError,
)
from framework.mesos.pipeline import Pipeline, Response
from framework.mesos.wire import (
    SCHEDULER_PATH,
    ContentType,
    EventDecodeError,
    FrameworkConfig,
    decode_event,
    encode_call,
    media_type_of,
    subscribe_call,
)
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler
from proto.recordio import Decoder, RecordIOError

OnEvent = Callable[[CoreEvent], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

STREAM_ID = "Mesos-Stream-Id"
DEFAULT_HEARTBEAT_INTERVAL = 15.0  # what every real master sends; used until SUBSCRIBED says otherwise
_STREAM_MEDIA = ("application/json", "application/x-protobuf")
_UPDATE = scheduler.Event.UPDATE
_ACKNOWLEDGE = scheduler.Call.ACKNOWLEDGE


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with "equal jitter": half the delay fixed, half random.

    The fixed half keeps a retry from ever being immediate; the random half keeps many schedulers
    that lost the same master from stampeding the new one in lockstep.
    """

    initial: float = 0.25
    factor: float = 2.0
    cap: float = 15.0

    def delay(self, attempt: int, jitter: float) -> float:
        """Delay before retry number ``attempt`` (0-based); ``jitter`` is in [0, 1)."""
        base = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        return base / 2 + base / 2 * jitter


def _base_of(url: URL) -> str:
    return str(url.origin())


class MesosClient:
    """Subscribes to the Mesos master and keeps the subscription alive; sends calls for effects.

    Use it either as ``async with MesosClient(...) as client:`` (runs in a background task) or by
    awaiting ``client.run()`` inside the application's TaskGroup. The client owns its detector:
    ``run()`` starts it and closes it on the way out.
    """

    def __init__(
        self,
        master: str | MasterDetector,
        framework: FrameworkConfig,
        on_event: OnEvent,
        *,
        framework_id: str | None = None,
        content_type: ContentType = ContentType.PROTOBUF,
        suppressed_roles: tuple[str, ...] = (),
        backoff: Backoff | None = None,
        jitter: Callable[[], float] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        heartbeat_misses: float = 5.0,
        first_event_timeout: float = 5 * DEFAULT_HEARTBEAT_INTERVAL,
        connect_timeout: float = 10.0,
        call_timeout: float = 10.0,
        call_attempts: int = 3,
        max_redirects: int = 5,
        call_connections: int = 4,
        call_depth: int = 256,
        logger: FilteringBoundLogger | None = None,
    ) -> None:
        self._detector = detector_for(master) if isinstance(master, str) else master
        self._framework = framework
        self._on_event = on_event
        self._content_type = ContentType(content_type)
        self._suppressed_roles = suppressed_roles
        self._backoff = backoff or Backoff()
        self._jitter = jitter or random.Random().random
        self._sleep = sleep
        self._clock = clock  # stamps core events (`now`); wall time, like the rest of the driver
        self._heartbeat_misses = heartbeat_misses
        self._first_event_timeout = first_event_timeout
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._call_attempts = max(1, call_attempts)
        self._max_redirects = max_redirects
        self._call_connections = call_connections
        self._call_depth = call_depth
        self._log: FilteringBoundLogger = logger or cast(
            FilteringBoundLogger, structlog.get_logger("gantry.mesos")
        )

        # Observable state (read by the driver, /v1/info, /readyz and metrics).
        self.framework_id: str | None = framework_id
        self.master_url: str | None = None
        self.heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
        self.reconnects = 0  # SUBSCRIBE attempts after the first
        self.heartbeats = 0
        self.events_received = 0
        self.events_undecodable = 0
        self.calls_sent = 0
        self.failure: PermanentMesosError | None = None  # why run() stopped for good
        self.call_failure: PermanentMesosError | None = None  # the latest call the master refused
        self.last_error: str | None = None  # latest transient problem, for operators

        self._subscribed = False
        self._stream_id: str | None = None
        self._redirected: str | None = None  # leader learnt from a 307, tried before the detector
        self._stream: aiohttp.ClientResponse | None = None
        self._drop_reason: str | None = None
        # Call pipelines by master origin while run() runs (None otherwise), and the calls waiting
        # out a backoff before their next attempt.
        self._pipelines: dict[str, Pipeline] | None = None
        self._retired: list[Pipeline] = []
        self._retries: set[asyncio.Task[None]] = set()
        self._subscribed_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---- public state ---------------------------------------------------------------------------

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    @property
    def stream_id(self) -> str | None:
        return self._stream_id

    @property
    def ready(self) -> bool:
        """Subscribed, and nothing the master said needs an operator: what /readyz reports."""
        return self._subscribed and self.failure is None and self.call_failure is None

    async def wait_subscribed(self) -> None:
        """Return once subscribed; raise the permanent error if the client gave up instead."""
        while not self._subscribed:
            if self.failure is not None:
                raise self.failure
            if self._task is not None and self._task.done():
                raise TransientMesosError("the client is not running")
            waiter = asyncio.ensure_future(self._subscribed_event.wait())
            try:
                if self._task is not None:
                    await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
                else:
                    await waiter
            finally:
                waiter.cancel()

    # ---- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.run(), name="mesos-client")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop ``run()`` (if running in another task) and wait until every connection is closed."""
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """Stay subscribed until cancelled. Raises PermanentMesosError when Mesos will not have us."""
        if self._pipelines is not None:
            raise RuntimeError("MesosClient.run() is already running")
        self._task = asyncio.current_task()
        timeout = aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_read=None)
        # force_close: a stream connection is never reused, and dies with its subscription.
        stream_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, force_close=True), timeout=timeout
        )
        self._pipelines = {}
        leader_watch: asyncio.Task[None] | None = None
        try:
            await self._detector.start()
            leader_watch = asyncio.create_task(self._follow_leader(), name="mesos-leader-watch")
            await self._stay_subscribed(stream_session)
        except PermanentMesosError as exc:
            self.failure = exc
            await self._mark_disconnected(str(exc))
            self._log.error("mesos_subscription_failed", error=str(exc), status=exc.status, detail=exc.detail)
            raise
        finally:
            if leader_watch is not None:
                leader_watch.cancel()
                await asyncio.gather(leader_watch, return_exceptions=True)
            self._subscribed = False
            self._subscribed_event.clear()
            self._stream_id = None
            # Unanswered calls fail now (not retried: no pipelines left); retries waiting out a
            # backoff are cancelled, and fail their callers as they go.
            retries = self._close_pipelines()
            await asyncio.gather(*retries, return_exceptions=True)
            await stream_session.close()
            await self._detector.close()

    # ---- the subscription loop --------------------------------------------------------------------

    async def _stay_subscribed(self, session: aiohttp.ClientSession) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self._subscribe_once(session)
            except (TransientMesosError, aiohttp.ClientError, OSError, TimeoutError, RecordIOError) as exc:
                reason = self._drop_reason or f"{type(exc).__name__}: {exc}"
            self._drop_reason = None
            was_subscribed = self._subscribed
            await self._mark_disconnected(reason)
            if not was_subscribed:
                # The remembered leader did not take us: ask the detector again next time.
                self._redirected = None
            elif loop.time() - started >= self._backoff.cap:
                attempt = 0  # a long healthy subscription: start the backoff over
            delay = self._backoff.delay(attempt, self._jitter())
            attempt += 1
            self._log.warning("mesos_resubscribing", reason=reason, delay=round(delay, 3), attempt=attempt)
            await self._sleep(delay)
            self.reconnects += 1

    async def _subscribe_once(self, session: aiohttp.ClientSession) -> None:
        """One subscription: POST SUBSCRIBE (following redirects), then read until the stream breaks."""
        base = self._redirected or await self._detector.leader()
        body = encode_call(
            subscribe_call(self._framework, self.framework_id, self._suppressed_roles), self._content_type
        )
        headers = {"Content-Type": self._content_type.media_type, "Accept": self._content_type.media_type}
        for _ in range(self._max_redirects + 1):
            self.master_url = base
            async with session.post(
                base + SCHEDULER_PATH, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if resp.status == 307:
                    base = self._follow_redirect(resp.headers.get("Location"), base)
                    continue
                if resp.status != 200:
                    raise await _error_for(resp, "SUBSCRIBE")
                self._stream = resp
                try:
                    await self._read_stream(resp, base)
                finally:
                    self._stream = None
                    resp.close()
        raise TransientMesosError(f"more than {self._max_redirects} redirects subscribing to {base}")

    def _follow_redirect(self, location: str | None, base: str) -> str:
        if not location:
            raise TransientMesosError(f"{base} answered 307 without a Location")
        # Masters send a protocol-relative "//host:port/api/v1/scheduler": resolve against our URL.
        target = _base_of(URL(base + SCHEDULER_PATH).join(URL(location)))
        self._log.info("mesos_redirected", source=base, leader=target)
        self._redirected = target
        return target

    async def _read_stream(self, resp: aiohttp.ClientResponse, base: str) -> None:
        media = media_type_of(resp.headers.get("Content-Type"))
        if media not in _STREAM_MEDIA:
            raise PermanentMesosError(
                f"{base} answered SUBSCRIBE with Content-Type {media!r}: not a Mesos master?", status=200
            )
        stream_id = resp.headers.get(STREAM_ID)
        decoder = Decoder()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._first_event_timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await resp.content.readany()
            except TimeoutError:
                raise TransientMesosError(
                    f"no event from {base} for {self._heartbeat_misses:g} heartbeat intervals"
                ) from None
            received = loop.time()
            if not chunk:
                decoder.close()  # raises if the stream stopped inside a record
                raise TransientMesosError(f"{base} closed the event stream")
            try:
                records = decoder.feed(chunk)
            except RecordIOError as exc:
                # Framing is lost; act on what was complete before the bad bytes, then drop the stream.
                await self._handle_records(exc.complete, media, stream_id, base)
                raise
            await self._handle_records(records, media, stream_id, base)
            # Any event proves the connection alive, not only HEARTBEAT.
            deadline = received + self._heartbeat_misses * self.heartbeat_interval

    async def _handle_records(
        self, records: list[bytes], media: str, stream_id: str | None, base: str
    ) -> None:
        """The records of one read, in order. UPDATE (the bulk of the stream: two per launched task,
        100,000 reconciliation replies after a restart) goes straight to the codec in this loop; the
        rest through `_dispatch`."""
        on_event, clock, status_from = self._on_event, self._clock, codec.status_from
        for record in records:
            try:
                event = decode_event(record, media)
            except EventDecodeError as exc:
                # One bad event must not cost the subscription (framing is intact); the master
                # re-sends status updates until acknowledged, so skipping loses nothing durable.
                self.events_undecodable += 1
                self._log.warning("mesos_event_undecodable", error=str(exc))
                continue
            self.events_received += 1
            if event.type != _UPDATE:
                await self._dispatch(event, stream_id, base)
                continue
            try:
                update = status_from(event.update.status, clock())
            except (ValueError, OverflowError) as exc:
                self._skip_unusable(event, exc)
                continue
            await on_event(update)

    async def _dispatch(self, event: scheduler.Event, stream_id: str | None, base: str) -> None:
        match event.type:
            case scheduler.Event.SUBSCRIBED:
                await self._on_subscribed(event.subscribed, stream_id, base)
            case scheduler.Event.HEARTBEAT:
                self.heartbeats += 1
            case scheduler.Event.ERROR:
                raise self._classify_error(event.error.message)
            case _:
                try:
                    core_events = codec.events_from(event, self._clock())
                except (ValueError, OverflowError) as exc:
                    self._skip_unusable(event, exc)
                    return
                for core_event in core_events:
                    await self._on_event(core_event)

    def _skip_unusable(self, event: scheduler.Event, exc: Exception) -> None:
        # Well-formed protobuf with values Gantry cannot represent (an inverted port range, a scalar
        # of 1e308): skip the event rather than let the exception end run() and, with it, the whole
        # scheduler.
        self.events_undecodable += 1
        self._log.warning("mesos_event_unusable", type=scheduler.Event.Type.Name(event.type), error=str(exc))

    async def _on_subscribed(
        self, subscribed: scheduler.Event.Subscribed, stream_id: str | None, base: str
    ) -> None:
        if not stream_id:
            raise PermanentMesosError(f"{base} sent SUBSCRIBED without a {STREAM_ID} header", status=200)
        resubscribed = self.framework_id is not None
        self.framework_id = subscribed.framework_id.value
        if subscribed.HasField("heartbeat_interval_seconds") and subscribed.heartbeat_interval_seconds > 0:
            self.heartbeat_interval = subscribed.heartbeat_interval_seconds
        self._stream_id = stream_id
        self.master_url = base
        self._retire_pipelines(keep=base)
        self._subscribed = True
        self._subscribed_event.set()
        self.last_error = None
        self._log.info(
            "mesos_subscribed", framework_id=self.framework_id, master=base, resubscribed=resubscribed
        )
        await self._on_event(codec.subscribed_event(subscribed, base, self._clock()))

    def _classify_error(self, message: str) -> MesosError:
        lowered = message.lower()
        if "removed" in lowered:
            return FrameworkRemovedError(
                f"Mesos removed framework {self.framework_id}: {message}", detail=message
            )
        if "failed over" in lowered:
            # Another SUBSCRIBE took our framework id (maybe our own retry racing this stream).
            return TransientMesosError(f"master sent ERROR: {message}")
        if not self._subscribed:
            # A refusal of the subscription itself (bad role, principal change, ...): no retry fixes it.
            return PermanentMesosError(f"Mesos refused SUBSCRIBE: {message}", detail=message)
        return TransientMesosError(f"master sent ERROR: {message}")

    async def _mark_disconnected(self, reason: str) -> None:
        self.last_error = reason
        if not self._subscribed:
            return
        self._subscribed = False
        self._subscribed_event.clear()
        self._stream_id = None
        self._log.warning("mesos_disconnected", reason=reason, master=self.master_url)
        await self._on_event(codec.disconnected_event(reason, self._clock()))

    def _drop_stream(self, reason: str) -> None:
        """Abort the current stream from outside the reader; the loop then resubscribes."""
        stream = self._stream
        if stream is not None and self._drop_reason is None:
            self._drop_reason = reason
            stream.close()

    async def _follow_leader(self) -> None:
        # Only a ZooKeeper detector ever changes its mind; a static one waits here until closed.
        seen = self._detector.current()
        while True:
            leader = await self._detector.changed(seen)
            seen = leader
            if leader is not None and leader != self.master_url:
                self._redirected = None
                self._drop_stream(f"leading master changed to {leader}")

    # ---- calls ------------------------------------------------------------------------------------

    async def send(self, effect: MesosCall) -> None:
        """Perform one effect as the call(s) it maps to. Raises TransientMesosError when not subscribed
        or the master is unreachable (retry after the next SUBSCRIBED), PermanentMesosError when the
        master rejects the call."""
        await self.submit(effect)

    def submit(self, effect: MesosCall) -> asyncio.Future[None]:
        """`send` without a coroutine: the call goes out now, and the future settles like `send`.

        The future gets None once the master answered 202 (every call of the effect, in order), or
        the TransientMesosError / PermanentMesosError `send` would raise. Cancelling it stops
        retries and resends, never a request already written. Call it from the event loop; the
        caller must consume the outcome (await it, or read `exception()` in a done callback).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        framework_id = self.framework_id
        if not self._subscribed or framework_id is None:
            future.set_exception(TransientMesosError(f"cannot send {type(effect).__name__}: not subscribed"))
            return future
        if type(effect) is Acknowledge and self._content_type is ContentType.PROTOBUF:
            # Half the calls at scale: bytes straight from the effect (codec.acknowledge_bytes).
            body = codec.acknowledge_bytes(effect, framework_id)
            if body is not None:
                PendingCall(self, _ACKNOWLEDGE, body, future).attempt()
                return future
        if type(effect) is Accept and self._content_type is ContentType.PROTOBUF:
            # One per agent per offer round, carrying every launched task: the TaskInfos' bytes come
            # from per-app templates (taskbytes.accept_bytes); None leaves the effect to the codec.
            body = taskbytes.accept_bytes(effect, framework_id)
            if body is not None:
                PendingCall(self, scheduler.Call.ACCEPT, body, future).attempt()
                return future
        try:
            calls = codec.calls_for(effect, framework_id, self._framework.roles)
        except Exception as exc:
            # A value the codec cannot encode: raised where `send` would raise it, not into the
            # caller's loop turn.
            future.set_exception(exc)
            return future
        if len(calls) == 1:
            PendingCall(self, calls[0].type, encode_call(calls[0], self._content_type), future).attempt()
        else:
            send_in_order(self, calls, future)
        return future

    def acknowledge(self, effect: Acknowledge, done: AckDone) -> None:
        """`submit` for an ACKNOWLEDGE, settled by a callback instead of a future.

        `done(effect, None)` runs once the master answered 202, `done(effect, error)` with the
        error `submit`'s future would get; exactly once, synchronously from the code that learned
        the outcome (the answer's read, a retry, or this call when not subscribed), so it must be
        cheap and must not raise. ACKs are two of a launched task's three calls: a future per ACK
        and the two loop callbacks its settling schedules cost more than the ACK's own encoding.
        """
        framework_id = self.framework_id
        if not self._subscribed or framework_id is None:
            done(effect, TransientMesosError("cannot send Acknowledge: not subscribed"))
            return
        body = None
        if self._content_type is ContentType.PROTOBUF:
            body = codec.acknowledge_bytes(effect, framework_id)
        if body is None:
            try:
                body = encode_call(codec.calls_for(effect, framework_id, self._framework.roles)[0],
                                   self._content_type)  # fmt: skip
            except Exception as exc:
                done(effect, exc)
                return
        ack = PendingAck(self, body, effect, done)
        # The first attempt, inline: PendingCall.attempt's work for a call that cannot be settled
        # yet, to a master whose pipeline exists (every ACK but the first after a subscription).
        stream_id, base, pipelines = self._stream_id, self.master_url, self._pipelines
        pipeline = pipelines.get(base) if pipelines is not None and base is not None else None
        if pipeline is None or stream_id is None or base is None:
            ack.attempt()  # creates the pipeline, or fails the ACK when there is none to have
            return
        ack.base, ack.stream_id = base, stream_id
        pipeline.submit(body, stream_id, ack.on_answer, urgent=False)

    def _pipeline(self, base: str) -> Pipeline | None:
        pipelines = self._pipelines
        if pipelines is None:
            return None
        pipeline = pipelines.get(base)
        if pipeline is None:
            pipeline = pipelines[base] = Pipeline(
                base,
                path=SCHEDULER_PATH,
                content_type=self._content_type.media_type,
                connections=self._call_connections,
                depth=self._call_depth,
                connect_timeout=self._connect_timeout,
                response_timeout=self._call_timeout,
            )
        return pipeline

    def _retire_pipelines(self, keep: str) -> None:
        """A subscription to `keep`: calls to any other master finish, then their connections close."""
        if self._pipelines is None:
            return
        for base in [b for b in self._pipelines if b != keep]:
            pipeline = self._pipelines.pop(base)
            pipeline.close_when_idle()
            self._retired.append(pipeline)
        self._retired = [p for p in self._retired if p.connections]

    def _close_pipelines(self) -> list[asyncio.Task[None]]:
        pipelines, self._pipelines = self._pipelines or {}, None
        for pipeline in [*pipelines.values(), *self._retired]:
            pipeline.close()
        self._retired = []
        retries = list(self._retries)
        for retry in retries:
            retry.cancel()
        return retries

    def _retry_later(self, call: PendingCall, delay: float) -> None:
        retry = asyncio.ensure_future(self._retry_after(call, delay))
        self._retries.add(retry)
        retry.add_done_callback(partial(self._retry_ended, call))

    async def _retry_after(self, call: PendingCall, delay: float) -> None:
        await self._sleep(delay)
        call.attempt()

    def _retry_ended(self, call: PendingCall, retry: asyncio.Future[None]) -> None:
        self._retries.discard(retry)
        # Cancelled when the client stops, possibly before the retry ever ran (then no except
        # clause inside it would see the cancellation): the call still settles, once.
        if retry.cancelled():
            call.fail(TransientMesosError(f"{call.name}: the client stopped"))

    def _call_error(self, response: Response, name: str, stream_id: str, base: str) -> MesosError:
        detail = response.body.decode("utf-8", "replace").strip()[:500]
        error = error_for_status(response.status, response.reason, detail, f"{name} to {base}")
        if response.status == 403:
            # "Framework is not subscribed": our stream is gone as far as the master knows.
            self._drop_stream(f"{name} got 403: {error}")
            return TransientMesosError(str(error))
        if isinstance(error, PermanentMesosError) and (stream_id != self._stream_id or not self._subscribed):
            # A resubscription raced this call (stale stream id, framework not yet re-created):
            # the call was fine, its moment was not.
            return TransientMesosError(str(error))
        if isinstance(error, PermanentMesosError):
            self.call_failure = error
            self._log.error("mesos_call_rejected", call=name, status=response.status, detail=error.detail)
        return error


async def _error_for(resp: aiohttp.ClientResponse, what: str) -> MesosError:
    detail = (await resp.text(errors="replace")).strip()[:500]
    return error_for_status(resp.status, resp.reason or "", detail, f"{what} to {resp.url.origin()}")
