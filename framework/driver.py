"""The reactor: one inbox -> `SchedulerState.handle` -> perform effects -> results become events.

Role: the only place where Gantry's pure decisions meet the world. Events arrive from the Mesos
client (`on_event`), from the API (`submit_app`, `delete_app`) and from the driver's own timer
(`Tick`); the driver drains whatever is queued, hands it to the core in ONE `handle(*events)` call,
then performs the returned effects in order. The driver also implements the API's `SchedulerPort`:
reads are answered from the in-memory core state (single-threaded asyncio, so always consistent),
writes go through the inbox like every other event and return once their effects are durable.

Theory of operation (ordering hazards live here):
- A turn's Persist* effects are stored ahead of the calls that follow them, in one transaction per
  segment (`_segments`: the calls no Persist precedes first, with nothing to store; then FIRST_CHUNK
  records, doubling up to PERSIST_CHUNK); then those calls are submitted to the client in list
  order without waiting for their answers (the client pipelines them on keep-alive connections and
  writes them in one go, offer answers ahead of ACKs), so the next turn (and the offers waiting in
  it) never waits for the master's answers to this turn's calls. SUPPRESS and REVIVE are barriers:
  each goes out only after every offer answer and barrier submitted before it has been answered.
  Hoisting persists is safe because the core only ever needs a Persist before a call, never a call
  before a Persist (effects.py).
- Offers queued among other events get a turn of their own (`_next_items`), pulled ahead of the
  status updates queued before them and never past any other event (`_offers_ahead`); everything
  else waits for the next turn, which is never another such turn (updates wait at most one), and
  only that turn may take a Tick. So the core sees the events in the order one turn would give it;
  what differs is that handle() runs twice, and the offers' answers do not wait for thousands of
  updates to be handled. Handling an update one turn later can still change what the core asks for
  (a SUPPRESS after the offer turn, a REVIVE after the next), as it can when an update arrives late.
- Persist before acknowledge / launch: the core places every `PersistTask` before the `Acknowledge`
  or `Accept` that depends on it; because the driver awaits the store before sending the calls that
  follow, an ACK never reaches the master for an update that is not on disk.
- A failed store write is fatal: the core's memory now holds changes the disk does not, so nothing
  after it may be performed. `run()` raises `DriverFailed`; the composition root stops the process
  (the supervisor restarts it, and the restored state plus reconciliation repair everything).
- A failed Mesos call is logged and dropped: offers die with the connection, kills are retried by the
  core, updates are resent by the agent until acknowledged (effects.py says which calls may be lost).

Must not: make scheduling decisions (that is framework/core), build protobuf (framework/mesos/codec.py),
or block the event loop (the store runs on its own thread through AsyncStore).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, cast

from structlog.typing import FilteringBoundLogger

from framework.api.port import (
    AppAlreadyExists,
    AppNotFound,
    FrameworkView,
    Readiness,
    ReadinessCheck,
    SchedulerUnavailable,
    Submitted,
    VersionView,
)
from framework.core.effects import (
    Accept,
    Acknowledge,
    Decline,
    Effect,
    MesosCall,
    Persist,
    RecordEvent,
    Revive,
    Suppress,
    TaskRecord,
)
from framework.core.events import (
    AppDeleted,
    AppSubmitted,
    Disconnected,
    Event,
    OffersReceived,
    StatusUpdated,
    Subscribed,
    Tick,
)
from framework.core.scheduler import SchedulerState
from framework.core.spec import AppSpec
from framework.core.views import AppStatus, QueueEntry
from framework.metrics import Metrics, task_state_counts, unplaced_by_reason
from framework.state.aio import AsyncStore
from framework.state.mapping import app_spec, changes_for
from framework.state.store import StoreError

__all__ = ["CallSender", "Driver", "DriverFailed"]

# Bounds on one reactor turn. A turn handles every event queued so far (up to MAX_BATCH), so a burst
# of status updates costs one core call and one store transaction instead of thousands.
MAX_BATCH = 5_000
PERSIST_CHUNK = 2_000  # records stored before the calls that follow them go out (see _perform)
FIRST_CHUNK = 250  # the first segment's share (see _segments); later ones double up to PERSIST_CHUNK
MAX_OUTSTANDING_CALLS = 5_000  # a turn waits (backpressure) while more non-ACK calls are in flight
BARRIER_ATTEMPTS = 5
BARRIER_RETRY_SECONDS = 1.0
STORE_FRESH_SECONDS = 5.0  # a store write this recent proves the store writable (no ping needed)
TICK_EVERY = 1.0  # at least this often, even when the core names no deadline
METRICS_EVERY = 1.0  # cheap gauges (subscribed, reconnects, reconciliation) at most this often
# The O(tasks) gauges (tasks by state, allocation, unplaced) may use at most this share of the
# reactor's time: at 30,000 tasks one refresh took ~0.2 s, which every second was a fifth of the
# reactor. Spacing refreshes by cost / budget keeps them cheap; Prometheus scrapes every ~15 s anyway.
TASK_METRICS_BUDGET = 0.02
READY_PING_TIMEOUT = 2.0
_LOG_RESERVED = frozenset({"event", "app_id", "task_id", "message", "level", "timestamp"})


class CallSender(Protocol):
    """What the driver needs of the Mesos client (framework.mesos.client.MesosClient satisfies it)."""

    framework_id: str | None
    master_url: str | None
    reconnects: int

    @property
    def subscribed(self) -> bool: ...

    @property
    def ready(self) -> bool: ...

    def submit(self, effect: MesosCall) -> asyncio.Future[None]:
        """Send the call(s) for `effect` now; the future settles with the master's answer (an
        exception when the call may not have been performed). Cancelling it stops retries."""
        ...

    def acknowledge(self, effect: Acknowledge, done: Callable[[Acknowledge, Exception | None], None]) -> None:
        """`submit` for an ACKNOWLEDGE: `done(effect, error or None)` runs once, when it settles."""
        ...


class DriverFailed(Exception):
    """The driver stopped because performing an effect failed in a way that cannot be retried."""


@dataclass(slots=True)
class _Waited:
    """An API event in the inbox, with the future its caller awaits. Events from the Mesos client
    (nearly all of them: two status updates per launched task) go into the inbox bare, without
    a wrapper object each; nothing waits on them."""

    event: Event
    done: asyncio.Future[None]


_Item = Event | _Waited  # what the inbox holds


@dataclass(slots=True)
class _AgentCapacity:
    """What Gantry last knew to be free on an agent: the last offer minus what it launched since.

    Only cpus, mem and disk (the allocation gauges' resources), as plain floats: this is updated
    for every launched task, and Resources arithmetic (port ranges included) cost 40 us a launch."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0


class Driver:
    """Runs the core against the world; implements the API's SchedulerPort. See the module docstring."""

    def __init__(
        self,
        state: SchedulerState,
        store: AsyncStore,
        metrics: Metrics,
        log: FilteringBoundLogger,
        *,
        framework_name: str,
        embedded_cluster: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._store = store
        self._metrics = metrics
        self._log = log
        self._name = framework_name
        self._embedded = embedded_cluster
        self._clock = clock
        self._client: CallSender | None = None
        # A deque and a flag rather than an asyncio.Queue: after a restart 100,000 reconciliation
        # replies arrive in a burst, and Queue's per-item bookkeeping was a tenth of handling them.
        self._inbox: deque[_Item] = deque()
        self._offer_items = 0  # OffersReceived items in the inbox (see _offers_ahead)
        self._offers_alone = False  # the turn being taken holds only offers pulled ahead of others
        self._inbox_ready = asyncio.Event()  # set whenever an item is appended; cleared before waiting
        self._write_lock = asyncio.Lock()
        self._failed: str | None = None
        self._running = False
        self._last_tick = 0.0
        self._last_metrics = 0.0
        self._next_task_metrics = 0.0
        self._reconnects_seen = 0
        self._agents: dict[str, _AgentCapacity] = {}
        # When each offer of the current turn was received (its event's `now`, stamped by the client
        # as it decoded the event): the answer's submission observes the difference. A turn answers
        # every offer it handles, so whatever is left at its end (offers on a lost subscription) goes.
        self._offers_received: dict[str, float] = {}
        self._reconcile_started: float | None = None
        self._inflight: set[asyncio.Future[None]] = set()  # submitted calls other than ACKs
        self._ordered: set[asyncio.Future[None]] = set()  # of those, offer answers and barriers
        self._latest_barrier: asyncio.Task[None] | None = None
        self._last_persisted = float("-inf")  # time.monotonic() of the last successful store write
        self._acking: set[tuple[str, bytes]] = set()  # (task id, uuid) of the ACKs not yet answered

    @property
    def reconciled(self) -> bool:
        """Subscribed, and every live task has answered the explicit reconciliation that followed."""
        return self._state.subscribed and not self._state.reconciling

    def attach(self, client: CallSender) -> None:
        """Give the driver the client it sends calls through (built after the driver: it needs on_event)."""
        self._client = client

    # ---- inputs ---------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """The Mesos client's callback: queue the event for the next reactor turn."""
        inbox = self._inbox
        inbox.append(event)
        if type(event) is OffersReceived:
            self._offer_items += 1
        # The flag is cleared only while the inbox is empty (_next_items), so it needs setting only
        # when this append made the inbox non-empty: one length test per status update, not a call.
        if len(inbox) == 1:
            self._inbox_ready.set()

    async def _submit(self, event: Event) -> None:
        """Queue an API event and wait until its effects were performed (persisted at least)."""
        if self._failed is not None:
            raise SchedulerUnavailable(self._failed)
        if not self._running:
            raise SchedulerUnavailable("the scheduler is starting")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.append(_Waited(event, done))
        self._inbox_ready.set()
        await done

    # ---- the reactor ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled; raise DriverFailed if an effect could not be performed safely."""
        self._running = True
        try:
            while True:
                items = await self._next_items()
                await self._turn(items)
        finally:
            self._running = False
            # Unanswered ACKs need nothing: the client settles or drops them when it stops.
            outstanding = list(self._inflight)
            for task in outstanding:
                task.cancel()
            await asyncio.gather(*outstanding, return_exceptions=True)
            reason = self._failed or "the scheduler stopped"
            while self._inbox:
                item = self._inbox.popleft()
                if type(item) is _Waited and not item.done.done():
                    item.done.set_exception(SchedulerUnavailable(reason))

    async def _next_items(self) -> list[_Item]:
        timeout = self._tick_timeout()
        if not self._inbox:
            self._inbox_ready.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can drop a cancellation that
            # arrives in the same loop iteration as the result, after which the driver never stops
            # and neither does serve() (tests/integration/test_runtime_shutdown.py).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._inbox_ready.wait()
        if self._offer_items > 0 and not self._offers_alone:
            # A turn for the offers alone, when others are queued around them: handle() returns and
            # the answers go out without waiting for the updates behind (or before) them to be
            # handled, stored and acknowledged. The next turn takes everything else, so updates wait
            # at most one offer turn, however often offers arrive.
            pulled = self._offers_ahead()
            self._offers_alone = bool(pulled) and bool(self._inbox)
            if pulled:
                return pulled
        else:
            self._offers_alone = False
        inbox = self._inbox
        if len(inbox) <= MAX_BATCH:
            # The whole inbox (the usual case): copied and cleared at C speed, and the offers in it
            # are exactly those the counter holds, so nothing is tested per status update.
            items = list(inbox)
            inbox.clear()
            offers, self._offer_items = self._offer_items, 0
            return _offers_first(items) if offers else items
        items = [inbox.popleft() for _ in range(MAX_BATCH)]
        offers = sum(1 for item in items if type(item) is OffersReceived) if self._offer_items else 0
        self._offer_items -= offers
        if self._offer_items > 0:
            pulled = self._offers_ahead()
            items += pulled
            offers += len(pulled)
        return _offers_first(items) if offers else items

    def _offers_ahead(self) -> list[_Item]:
        """Pull offer events forward past the status updates queued before them.

        After a burst the inbox can hold tens of thousands of updates; offers behind them would
        wait several turns and be answered after their allocation interval. Handling an offer
        before older updates is safe: an offer only holds resources that are free now, and an
        update the core has not seen yet can only make it launch less (a finished task's slot is
        refilled a round later). Offers never move past any other event (a Disconnected, say), so
        they are always handled on the subscription that brought them."""
        inbox, kept, pulled = self._inbox, deque[_Item](), []
        while inbox and self._offer_items > 0:
            item = inbox.popleft()
            kind = type(item)  # an API event (_Waited) is neither kind: offers stop in front of it
            if kind is OffersReceived:
                pulled.append(item)
                self._offer_items -= 1
            elif kind is StatusUpdated:
                kept.append(item)
            else:
                inbox.appendleft(item)
                break
        kept.extend(inbox)
        self._inbox = kept
        return pulled

    def _due_deadline(self) -> float | None:
        """The core's next deadline, unless a Tick at or after it was already delivered.

        A deadline that a Tick did not move (a KILL retry while disconnected, say) would otherwise
        make every loop iteration a reactor turn; the regular tick still covers it."""
        deadline = self._state.next_deadline()
        return deadline if deadline is not None and deadline > self._last_tick else None

    def _tick_timeout(self) -> float:
        now = self._clock()
        wait = self._last_tick + TICK_EVERY - now
        deadline = self._due_deadline()
        if deadline is not None:
            wait = min(wait, deadline - now)
        return max(0.0, wait)

    async def _turn(self, items: list[_Item]) -> None:
        now = self._clock()
        waited = [item for item in items if type(item) is _Waited] if _Waited in map(type, items) else []
        # Nearly always no API event: then the items are the events, and the list is the turn's own.
        events: list[Event] = (
            [i.event if isinstance(i, _Waited) else i for i in items] if waited else cast(list[Event], items)
        )
        deadline = self._due_deadline()
        due = now >= self._last_tick + TICK_EVERY or (deadline is not None and now >= deadline)
        # An offers-alone turn takes no Tick: the core would see it ahead of events that arrived
        # before it. The next turn, right behind, takes it after them, as it always does.
        if due and not self._offers_alone:
            events.append(Tick(now))
            self._last_tick = now
        self._observe_events(events)
        offers = OffersReceived in map(type, events)  # not a generator step per status update
        # In a turn with offers the collector stays paused (as handle() pauses it) until the turn's
        # last answer is handed to the client (_perform calls back), not for the rest of the turn:
        # otherwise the young-generation pass over everything handle() built (about 30 ms for
        # 10,000 launches) lands between handle() and the first answer.
        paused = offers and gc.isenabled()
        if paused:
            gc.disable()
        try:
            started = time.perf_counter()
            effects = self._state.handle(*events)
            if offers:
                self._metrics.placement_latency.observe(time.perf_counter() - started)
            self._metrics.count_effects(effects)
            await self._perform(effects, gc.enable if paused else None)
        except BaseException as exc:
            for item in waited:
                if not item.done.done():
                    item.done.set_exception(SchedulerUnavailable(self._failed or "the scheduler stopped"))
            if isinstance(exc, StoreError):
                raise DriverFailed(self._failed or str(exc)) from exc
            raise
        finally:
            self._offers_received.clear()
            if paused:
                gc.enable()
        for item in waited:
            if not item.done.done():
                item.done.set_result(None)
        if now >= self._last_metrics + METRICS_EVERY:
            self._refresh_metrics(now)
            self._last_metrics = now
        if now >= self._next_task_metrics:
            started = time.perf_counter()
            self._refresh_task_metrics(now)
            cost = time.perf_counter() - started
            self._next_task_metrics = now + max(METRICS_EVERY, cost / TASK_METRICS_BUDGET)

    # ---- effects --------------------------------------------------------------------------------

    async def _perform(self, effects: Sequence[Effect], answered: Callable[[], None] | None = None) -> None:
        """Store and send a turn's effects; `answered` is called once its last ACCEPT or DECLINE has
        been handed to the client (the turn goes on with the segments after it)."""
        # Every ordering the core relies on is "this Persist before that call" (effects.py), never
        # the reverse, so Persist* effects may be stored earlier than their place in the list, in one
        # transaction, and the calls after them follow in list order. Performing strictly in list
        # order instead costs one transaction and one awaited round trip per status update, because
        # the core interleaves PersistTask and Acknowledge update by update: a burst of 600 updates
        # held the reactor (and every offer that arrived meanwhile) for seconds.
        # A large turn goes in segments of up to about PERSIST_CHUNK records (_segments). A
        # segment's calls are sent once its records are stored, while the store thread already
        # writes the next segment's: the core puts each Accept right behind its own tasks' records,
        # so a decision of 10,000 launches sends its DECLINE before any write and its first ACCEPTs
        # after storing FIRST_CHUNK records, not 10,000, and the master works on them while Gantry
        # stores the rest.
        segments = _segments(effects)
        last_answer = -1
        if answered is not None:
            answering = (i for i, (_, calls) in enumerate(segments) if any(map(_is_answer, calls)))
            last_answer = max(answering, default=-1)
        storing = self._start_persist(segments[0][0])
        try:
            for index, (_, calls) in enumerate(segments):
                if storing is not None:
                    await storing
                storing = None
                if index + 1 < len(segments):
                    storing = self._start_persist(segments[index + 1][0])
                if calls:
                    await self._send_calls(calls)
                if index == last_answer and answered is not None:
                    answered()
        finally:
            # Only reached with a write still pending when the turn is failing or cancelled: the
            # write itself still ends on the store's thread; its outcome yields to the turn's error.
            if storing is not None and not storing.done():
                storing.cancel()
            elif storing is not None and not storing.cancelled():
                storing.exception()

    def _start_persist(self, persists: list[Persist]) -> asyncio.Task[None] | None:
        return asyncio.create_task(self._persist(persists)) if persists else None

    async def _persist(self, effects: list[Persist]) -> None:
        try:
            await self._store.apply(changes_for(effects))
            self._last_persisted = time.monotonic()
        except StoreError as exc:
            # Nothing after this may happen: the core's memory is ahead of the disk.
            self._failed = f"the state store failed: {exc}"
            self._log.error("store_write_failed", error=str(exc))
            raise
        for effect in effects:
            if isinstance(effect, RecordEvent):
                # The event log is also the operator's log: one line per lifecycle fact, bound to
                # the app and task it concerns (only after it is durable, so logs never run ahead).
                self._log.info(
                    effect.kind,
                    app_id=effect.app_id,
                    task_id=effect.task_id,
                    message=effect.message,
                    **{k: v for k, v in effect.details if k not in _LOG_RESERVED},
                )

    async def _send_calls(self, calls: list[MesosCall]) -> None:
        """Submit a turn's calls without waiting for the master's answers.

        The turn only waits while too many calls are outstanding (backpressure). The client puts
        offer answers (ACCEPT, DECLINE) ahead of queued ACKs, so every offer is answered within its
        allocation interval however many updates are being acknowledged.
        """
        while len(self._inflight) >= MAX_OUTSTANDING_CALLS:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
        for call in calls:
            self._track_launches(call)
            if isinstance(call, Acknowledge):
                # An ACK lost in flight is answered by the agent resending the update; a copy whose
                # ACK is still unanswered needs no second one (under load the copies would otherwise
                # multiply the queue).
                key = (call.task_id, call.uuid)
                if key not in self._acking:
                    self._acking.add(key)
                    if self._client is None:
                        self._acked(call, ConnectionError("no Mesos client"))
                    else:
                        self._client.acknowledge(call, self._acked)
            elif isinstance(call, Suppress | Revive):
                # A barrier, in the background: it goes on the wire after every offer answer and
                # barrier submitted before it was answered (a DECLINE landing after a REVIVE would
                # install the very filter the REVIVE meant to clear), so SUPPRESS/REVIVE keep their
                # order too. KILLs and reconciliations do not hold it back: their order does not matter.
                barrier = asyncio.create_task(self._send_barrier(tuple(self._ordered), call))
                self._track(barrier, ordered=True)
                self._latest_barrier = barrier
            elif isinstance(call, Accept | Decline):
                self._track(self._submit_call(call), ordered=True)
                self._observe_answer(call.offer_ids)
            else:
                self._track(self._submit_call(call), ordered=False)

    def _track(self, future: asyncio.Future[None], *, ordered: bool) -> None:
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        if ordered:
            self._ordered.add(future)
            future.add_done_callback(self._ordered.discard)

    def _submit_call(self, call: MesosCall) -> asyncio.Future[None]:
        """Hand one call to the client; a failure is logged when its future settles."""
        if self._client is None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.set_exception(ConnectionError("no Mesos client"))
        else:
            future = self._client.submit(call)
        future.add_done_callback(partial(self._log_failure, call))
        return future

    def _log_failure(self, call: MesosCall, future: asyncio.Future[None]) -> None:
        # Reading the exception also marks it retrieved: a lost call is expected, not a bug.
        if not future.cancelled() and (exc := future.exception()) is not None:
            self._log.warning("call_failed", call=type(call).__name__, error=str(exc))

    async def _send_barrier(self, before: tuple[asyncio.Future[None], ...], call: MesosCall) -> None:
        """Send SUPPRESS/REVIVE once `before` are done; retry it while it is still the latest one.

        The core believes a barrier it emitted took effect: a REVIVE lost while still subscribed
        would leave the master suppressing offers that pending work needs. A newer barrier
        supersedes an older one, so only the latest is retried (retrying an older one could
        reorder them)."""
        if before:
            await asyncio.wait(before)
        for attempt in range(BARRIER_ATTEMPTS):
            if await self._send(call) or self._latest_barrier is not asyncio.current_task():
                return
            await asyncio.sleep(BARRIER_RETRY_SECONDS * (attempt + 1))

    def _acked(self, call: Acknowledge, error: Exception | None) -> None:
        self._acking.discard((call.task_id, call.uuid))
        if error is not None:
            self._log.warning("call_failed", call="Acknowledge", error=str(error))

    async def _send(self, call: MesosCall) -> bool:
        """Send one call and wait for its answer; False (logged) if it may not have reached the master."""
        try:
            await self._submit_call(call)
            return True
        except Exception:  # every MesosError and transport failure, logged by _submit_call's callback
            return False

    # ---- metrics --------------------------------------------------------------------------------

    def _observe_events(self, events: Sequence[Event]) -> None:
        m = self._metrics
        for event in events:
            if type(event) is StatusUpdated:
                continue  # the bulk of most turns (100,000 at once after a restart), and never counted here
            match event:
                case OffersReceived(offers=offers):
                    m.offers_received.inc(len(offers))
                    for offer in offers:
                        r = offer.resources
                        self._agents[offer.agent_id] = _AgentCapacity(r.cpus, r.mem, r.disk)
                        self._offers_received[offer.offer_id] = event.now
                case Subscribed():
                    m.set_subscribed(True)
                    self._reconcile_started = event.now
                case Disconnected():
                    m.set_subscribed(False)

    def _observe_answer(self, offer_ids: tuple[str, ...]) -> None:
        """An ACCEPT or DECLINE was just handed to the client: how long after each offer arrived."""
        now, received, observe = self._clock(), self._offers_received, self._metrics.observe_offer_answer
        for offer_id in offer_ids:
            at = received.pop(offer_id, None)
            if at is not None:
                observe(now - at)

    def _track_launches(self, call: MesosCall) -> None:
        """Keep the per-agent free estimate current: what an Accept launches is no longer free."""
        if isinstance(call, Accept):
            capacity = self._agents.get(call.agent_id)
            if capacity is not None:
                for launch in call.launches:
                    r = launch.resources
                    capacity.cpus = max(0.0, capacity.cpus - r.cpus)
                    capacity.mem = max(0.0, capacity.mem - r.mem)
                    capacity.disk = max(0.0, capacity.disk - r.disk)

    def _refresh_task_metrics(self, now: float) -> None:
        m = self._metrics
        used: dict[str, list[float]] = {}
        records: list[TaskRecord] = []
        for spec, tasks in self._state.fleet():
            cpus, mem, disk = spec.cpus, spec.mem, spec.disk
            records += tasks
            for record in tasks:  # 100,000 at the target scale: kept to plain arithmetic
                if record.agent_id is not None and not record.terminal:
                    totals = used.get(record.agent_id)
                    if totals is None:
                        used[record.agent_id] = [cpus, mem, disk]
                    else:
                        totals[0] += cpus
                        totals[1] += mem
                        totals[2] += disk
        m.set_tasks_by_state(task_state_counts(records))
        m.agents_used.set(len(used))
        m.set_allocation(self._allocation(used))
        m.set_unplaced(unplaced_by_reason(self._state.queue_view(now)))

    def _refresh_metrics(self, now: float) -> None:
        m = self._metrics
        client = self._client
        if client is not None:
            m.set_subscribed(client.subscribed)
            if client.reconnects > self._reconnects_seen:
                m.reconnects.inc(client.reconnects - self._reconnects_seen)
                self._reconnects_seen = client.reconnects
        if self._reconcile_started is not None and not self._state.reconciling:
            m.reconciliation_duration.observe(max(0.0, now - self._reconcile_started))
            self._reconcile_started = None

    def _allocation(self, used: dict[str, list[float]]) -> dict[str, float]:
        """Our allocation over (ours + last known free) on the agents running our tasks.

        Mesos offers say what is free, never an agent's total, so capacity is estimated as what we
        run there plus what the agent last offered (less what we launched from that offer).
        """
        ours = [0.0, 0.0, 0.0]
        capacity = [0.0, 0.0, 0.0]
        for agent_id, totals in used.items():
            known = self._agents.get(agent_id)
            free = (known.cpus, known.mem, known.disk) if known else (0.0, 0.0, 0.0)
            for k in range(3):
                ours[k] += totals[k]
                capacity[k] += totals[k] + free[k]
        names = ("cpus", "mem", "disk")
        return {names[k]: ours[k] / capacity[k] for k in range(3) if capacity[k] > 0}

    # ---- SchedulerPort: writes ------------------------------------------------------------------

    async def submit_app(self, spec: AppSpec, *, create_only: bool) -> Submitted:
        async with self._write_lock:
            existed = self._state.app_spec(spec.id) is not None
            if create_only and existed:
                raise AppAlreadyExists(spec.id)
            await self._submit(AppSubmitted(self._clock(), spec))
            # Read back under the lock: a DELETE right behind must not turn this write into a 404.
            return Submitted(app=await self.app(spec.id), created=not existed)

    async def delete_app(self, app_id: str) -> None:
        async with self._write_lock:
            if self._state.app_spec(app_id) is None:
                raise AppNotFound(app_id)
            await self._submit(AppDeleted(self._clock(), app_id))

    # ---- SchedulerPort: reads -------------------------------------------------------------------

    async def apps(self) -> Sequence[AppStatus]:
        return self._state.app_statuses(self._clock())

    async def app(self, app_id: str) -> AppStatus:
        status = self._state.app_status(app_id, self._clock())
        if status is None:
            raise AppNotFound(app_id)
        return status

    async def tasks(self, app_id: str) -> Sequence[TaskRecord]:
        if self._state.app_spec(app_id) is None:
            raise AppNotFound(app_id)
        return self._state.tasks_of(app_id)

    async def versions(self, app_id: str) -> Sequence[VersionView]:
        records = await self._store.app_versions(app_id)
        if not records:
            raise AppNotFound(app_id)
        return [VersionView(r.version, r.created_at, app_spec(r)) for r in reversed(records)]

    async def queue(self) -> Sequence[QueueEntry]:
        return self._state.queue_view(self._clock())

    async def info(self) -> FrameworkView:
        client = self._client
        return FrameworkView(
            name=self._name,
            framework_id=self._state.framework_id or (client.framework_id if client else None),
            master=client.master_url if client else None,
            subscribed=bool(client and client.subscribed),
            embedded_cluster=self._embedded,
        )

    async def ready(self) -> Readiness:
        client = self._client
        subscribed = ReadinessCheck(
            "subscribed",
            bool(client and client.ready),
            None if client and client.ready else _not_subscribed_reason(client),
        )
        try:
            # Under load the ping queues behind every write on the store's thread: a recent
            # successful write already proves what the ping would.
            if time.monotonic() - self._last_persisted > STORE_FRESH_SECONDS:
                await asyncio.wait_for(self._store.ping(), READY_PING_TIMEOUT)
            store = ReadinessCheck("store_writable", True)
        except (StoreError, TimeoutError) as exc:
            store = ReadinessCheck("store_writable", False, f"the state store is not writable: {exc}")
        driver = ReadinessCheck(
            "scheduler_running", self._running and self._failed is None, self._failed
        )
        return Readiness((subscribed, store, driver))


def _offers_first(items: list[_Item]) -> list[_Item]:
    """Move offer events ahead of the status updates before them (never past any other event), so
    a turn answers its offers before it stores and acknowledges a burst of updates: the decision's
    DECLINE and first ACCEPTs then go out in the turn's first segments. Used for turns that are not
    offers alone (the inbox held offers only, or the last turn was offers alone: `_next_items`).
    Safe for the reason given in Driver._offers_ahead."""
    front: list[_Item] = []
    rest: list[_Item] = []
    blocked = False
    for item in items:
        kind = type(item)
        if kind is OffersReceived and not blocked:
            front.append(item)
        else:
            blocked = blocked or (kind is not StatusUpdated and kind is not OffersReceived)
            rest.append(item)
    return front + rest


def _is_answer(call: MesosCall) -> bool:
    return isinstance(call, Accept | Decline)


def _segments(effects: Sequence[Effect]) -> list[tuple[list[Persist], list[MesosCall]]]:
    """Cut a turn's effects into (records to store, calls to send once they are stored) segments.

    Every call lands in the segment of the last Persist before it (or a later one's, never an
    earlier one's), so it goes out after every Persist that precedes it in the list. When the list
    starts with calls, the first segment stores nothing: the calls no Persist precedes (the round's
    DECLINE, which the core puts first) go out before the first write starts. A new segment starts
    at a Persist right after a call (an ACCEPT's records are never split from it) once the segment
    holds its share of records: FIRST_CHUNK for the first one, so the first ACCEPTs wait for a short
    write, then twice as many each time up to PERSIST_CHUNK (fewer, larger transactions for the bulk).
    """
    persists: list[Persist] = []
    calls: list[MesosCall] = []
    segments = [(persists, calls)]
    # A list that starts with a Persist (a burst of status updates: record, ACK, record, ACK ...)
    # starts with a FIRST_CHUNK segment, not a one-record transaction.
    chunk = min(FIRST_CHUNK, PERSIST_CHUNK) if effects and isinstance(effects[0], Persist) else 0
    after_call = False
    for effect in effects:
        if isinstance(effect, Persist):
            if after_call and len(persists) >= chunk:
                persists, calls = [], []
                segments.append((persists, calls))
                chunk = min(PERSIST_CHUNK, chunk * 2 if chunk else FIRST_CHUNK)
            persists.append(effect)
            after_call = False
        else:
            calls.append(effect)
            after_call = True
    return segments


def _not_subscribed_reason(client: CallSender | None) -> str:
    if client is None:
        return "no Mesos client"
    failure = getattr(client, "failure", None) or getattr(client, "call_failure", None)
    if failure is not None:
        return f"the Mesos master refused us: {failure}"
    return "not subscribed to a Mesos master"

