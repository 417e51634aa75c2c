"""Timer checks of the scheduler core: what a Tick finds due, and when the next Tick is worth having.

Role: `SchedulerState` (scheduler.py) owns the scheduling state and calls these from its Tick handling,
from `next_deadline()`, where a reconciliation or a KILL starts, and where offers are declined. The
timed policies (docs/app-spec.md describes them for users; SchedulerConfig fields in backquotes):
- Reconciliation (`ReconcileTimer`): every Subscribed sends an explicit Reconcile of all live tasks;
  tasks that have not answered are re-sent with backoff (`reconcile_retry_seconds`, doubling, capped
  at `reconcile_retry_max_seconds`); once all have answered, an implicit Reconcile goes out every
  `implicit_reconcile_interval_seconds`.
- Lost launches (`ReconcileTimer.check_staging`): a task still STAGING `staging_reconcile_seconds`
  after launch is reconciled explicitly (an ACCEPT lost in flight is never retried); TASK_GONE/UNKNOWN
  frees its slot.
- Kills (`KillRequest`, `retry_kills`) are re-sent after every Subscribed and every
  `kill_retry_seconds` past the grace period until a terminal state arrives (a KILL can be lost with a
  connection or a master failover).
- Unreachable policy, PARTITION_AWARE (`due_unreachable`): an UNREACHABLE task keeps its slot for
  `unreachable_replace_seconds`; then it is detached (slot -1, persisted), its slot is refilled, and
  should it ever report again in a live state it is killed. A detached task still unreachable after
  `unreachable_expunge_seconds` is forgotten; if it resurfaces later it is an unknown task: killed.
- Backoff: an app's launch delay resets once a task started after the last crash has been ready for
  `backoff_reset_seconds` (`backoff_reset_at`); while only backed-off work waits, offers are declined
  until the earliest backoff ends (`idle_refuse`).

They take the state they read as arguments (a task-record lookup, the pending reconciliation map,
the kill table) and return what is due or append the Mesos calls it needs (Reconcile, Kill) to `out`.
Whatever changes apps or task records (detaching, forgetting, resetting a delay) stays in
SchedulerState, which acts on what these return, so the order of effects is decided in one place.

Must not: read a clock (`now` is passed in), change task records or apps, or import anything outside
the standard library and `framework.core`. The deadlines they compute must stay the exact float
expressions `next_deadline()` has always returned (the driver sleeps until them).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence

from framework.core.backoff import LaunchDelay
from framework.core.effects import Effect, Kill, Reconcile, ReconcileTask, TaskRecord
from framework.core.events import TaskState
from framework.core.spec import AppSpec
from framework.core.views import task_ready

__all__ = [
    "Expiry",
    "KillRequest",
    "ReconcileTimer",
    "RecordOf",
    "backoff_reset_at",
    "due_unreachable",
    "earliest",
    "idle_refuse",
    "kill_retry_at",
    "retry_kills",
    "unreachable_deadline",
]

RecordOf = Callable[[str], TaskRecord | None]  # task id -> its live record (SchedulerState._record)
_INF = float("inf")


class ReconcileTimer:
    """The timing of reconciliation and the STAGING watch (mutable; one per SchedulerState).

    The map of tasks that have not answered yet (`pending`: task id -> agent id) stays with
    SchedulerState, whose status-update path reads it for every update; it is passed in."""

    __slots__ = ("_interval", "_retry", "_retry_max", "_staging_wait", "attempt", "implicit_next", "next",
                 "staging")

    def __init__(self, *, retry: float, retry_max: float, interval: float, staging_wait: float) -> None:
        self._retry = retry  # SchedulerConfig.reconcile_retry_seconds
        self._retry_max = retry_max  # reconcile_retry_max_seconds
        self._interval = interval  # implicit_reconcile_interval_seconds
        self._staging_wait = staging_wait  # staging_reconcile_seconds
        self.attempt = 0  # explicit reconciliations sent since the last Subscribed
        self.next: float | None = None  # when the explicit reconciliation is re-sent
        self.implicit_next: float | None = None  # when the next implicit one goes out
        # Task id -> when it was launched or the master last asked about it, in that order (so a
        # tick reads only the entries old enough to check). Entries of tasks that left STAGING are
        # dropped when a tick reaches them: a task never returns to STAGING.
        self.staging: OrderedDict[str, float] = OrderedDict()

    def watch_staging(self, records: Iterable[TaskRecord]) -> None:
        """Watch these STAGING tasks (restored from the store) from when they last changed, oldest first."""
        staging = sorted((r.updated_at, r.task_id) for r in records)
        self.staging = OrderedDict((task_id, at) for at, task_id in staging)

    def start(self, pending: Mapping[str, str | None], now: float, out: list[Effect]) -> None:
        """A new subscription: reconcile every task in `pending` explicitly, from the first attempt."""
        self.attempt = 0
        self.implicit_next = None
        self.send(pending, now, out)

    def stop(self) -> None:
        """The subscription ended: nothing is due until the next one."""
        self.next = None
        self.implicit_next = None

    def send(self, pending: Mapping[str, str | None], now: float, out: list[Effect]) -> None:
        """(Re-)send the explicit reconciliation of `pending`; with nothing pending, stop retrying and
        start the implicit period unless it is already running."""
        if not pending:
            self.next = None
            if self.implicit_next is None:
                self.implicit_next = now + self._interval
            return
        out.append(Reconcile(tuple(ReconcileTask(t, a) for t, a in pending.items())))
        delay = self._retry * 2**self.attempt
        self.next = now + min(delay, self._retry_max)
        self.attempt += 1

    def ask(self, records: Sequence[TaskRecord], pending: dict[str, str | None], now: float,
            out: list[Effect]) -> None:
        """Reconcile `records` explicitly now; they join `pending` and are retried like the rest."""
        out.append(Reconcile(tuple(ReconcileTask(r.task_id, r.agent_id) for r in records)))
        pending.update((r.task_id, r.agent_id) for r in records)
        if self.next is None:
            self.attempt = 1
            self.next = now + self._retry

    def settled(self, now: float) -> None:
        """The last pending task answered: no more retries; implicit reconciliation from now on."""
        self.next = None
        self.implicit_next = now + self._interval

    def tick(self, pending: Mapping[str, str | None], now: float, out: list[Effect]) -> None:
        """Re-send the explicit reconciliation when its retry is due, else the implicit one when due."""
        if self.next is not None and now >= self.next:
            self.send(pending, now, out)
        elif not pending and now >= (self.implicit_next or _INF):
            out.append(Reconcile())
            self.implicit_next = now + self._interval

    def check_staging(self, record_of: RecordOf, pending: dict[str, str | None], now: float,
                      out: list[Effect]) -> None:
        """Ask the master about tasks still STAGING `staging_reconcile_seconds` after launch (or after
        we last asked). An ACCEPT lost in flight is never retried (a retried ACCEPT that did arrive
        would fail running tasks), so without this its tasks would hold their slots forever: the
        master answers TASK_GONE/UNKNOWN for a task it never saw, which frees the slot."""
        wait, since = self._staging_wait, self.staging
        stale: list[TaskRecord] = []
        # Oldest first, stopping at the first young one: this runs every tick while tens of
        # thousands of launches are in flight, so it must not copy or walk the whole table.
        for _ in range(len(since)):
            task_id, at = next(iter(since.items()))
            record = record_of(task_id)
            if record is None or record.state is not TaskState.STAGING:
                del since[task_id]
                continue
            if now - at < wait:
                break
            since[task_id] = now  # to the back: asked now, or already being asked (pending)
            since.move_to_end(task_id)
            if task_id not in pending:
                stale.append(record)
        if stale:
            self.ask(stale, pending, now, out)


class KillRequest:
    """A KILL Gantry wants delivered (mutable): re-sent until the task reports a terminal state."""

    __slots__ = ("grace", "sent_at")

    def __init__(self, grace: float | None) -> None:
        self.grace = grace  # the kill policy's grace period; None: the task's own
        self.sent_at: float | None = None  # None: not sent since it was requested

    def send(self, task_id: str, record: TaskRecord, now: float) -> Kill:
        self.sent_at = now
        return Kill(task_id, record.agent_id, self.grace)


def retry_kills(kills: Mapping[str, KillRequest], record_of: RecordOf, now: float, retry_seconds: float,
                out: list[Effect]) -> None:
    """Send every KILL that was never sent, or got no terminal answer `retry_seconds` past its grace
    period, in task id order. Only while subscribed (the caller checks)."""
    for task_id in sorted(kills):
        kill = kills[task_id]
        record = record_of(task_id)
        if record is None or record.state is TaskState.UNREACHABLE:
            continue  # an unreachable agent cannot act on a KILL; it is re-sent when it returns
        retry = retry_seconds + (kill.grace or 0.0)
        if kill.sent_at is None or now >= kill.sent_at + retry:
            out.append(kill.send(task_id, record, now))


def kill_retry_at(kill: KillRequest, retry_seconds: float) -> float | None:
    """When `retry_kills` re-sends `kill` (as `next_deadline()` has always summed it), or None if unsent."""
    return None if kill.sent_at is None else kill.sent_at + (kill.grace or 0.0) + retry_seconds


class Expiry(enum.StrEnum):
    """What the unreachable policy does to a task whose time is up."""

    REPLACE = "replace"  # still in its slot: detach it (killed when it returns) and refill the slot
    EXPUNGE = "expunge"  # already detached: forget it (should it report again, it is unknown: killed)


def unreachable_deadline(record: TaskRecord, owned: bool, replace_seconds: float,
                         expunge_seconds: float) -> float:
    """When an UNREACHABLE task is replaced (`owned`: it holds a slot) or expunged (detached)."""
    return record.updated_at + (replace_seconds if owned else expunge_seconds)


def due_unreachable(unreachable: set[str], record_of: RecordOf, owner: Mapping[str, str | None],
                    now: float, replace_seconds: float, expunge_seconds: float) \
        -> list[tuple[TaskRecord, Expiry]]:
    """The UNREACHABLE tasks whose time is up, in task id order, with what is due. Ids of tasks no
    longer known are dropped from `unreachable` (their record went with a terminal update)."""
    due: list[tuple[TaskRecord, Expiry]] = []
    for task_id in sorted(unreachable):
        record = record_of(task_id)
        app_id = owner.get(task_id)
        if record is None:
            unreachable.discard(task_id)
            continue
        if app_id is not None and now >= record.updated_at + replace_seconds:
            due.append((record, Expiry.REPLACE))
        elif app_id is None and now >= record.updated_at + expunge_seconds:
            due.append((record, Expiry.EXPUNGE))
    return due


def backoff_reset_at(delay: LaunchDelay, spec: AppSpec, current: Iterable[TaskRecord],
                     reset_seconds: float) -> float:
    """When an app's launch delay resets: the earliest time one of `current` (its tasks of the current
    configuration) that started after the last crash has been ready for `reset_seconds`; infinity
    if none qualifies. Tasks that were already running before the crash prove nothing about the
    crashing instance."""
    crashed_at = delay.until - delay.delay_seconds
    starts = [
        r.started_at for r in current
        if r.started_at is not None and r.started_at >= crashed_at and task_ready(spec, r)
    ]
    return min(starts) + reset_seconds if starts else _INF


def idle_refuse(delays: Iterable[LaunchDelay | None], now: float, busy: float, idle: float) -> float:
    """The refuse filter when nothing launchable is left unplaced: `idle` (long), unless backed-off
    work is waiting (`delays` of the apps with slots to fill): then until the earliest of their
    backoffs ends, within [`busy`, `idle`], so the offers come back when that app may launch."""
    waits = [d.remaining(now) for d in delays if d is not None and d.active(now)]
    if not waits:
        return idle
    return min(max(min(waits), busy), idle)


def earliest(times: Iterable[float | None]) -> float | None:
    """The smallest of `times` that is set and finite, or None."""
    finite = [t for t in times if t is not None and t != _INF]
    return min(finite) if finite else None
