"""Read-only views of the scheduler state for the API: app status, the launch queue, backoff.

Role: frozen values and the pure functions that build them. SchedulerState's read-only views
(`tasks_of`, `fleet`, `app_statuses`, `app_status`, `queue_view`) are one-line calls of the `list_*`
and `find_*` functions here, which read its per-app state through `AppView`; the API renders the
values as JSON (GET /v1/apps, GET /v1/queue) and the metrics module counts unplaced work by
`QueueReason.kind`.

Must not: mutate anything, read a clock (`now` is passed in), or know about HTTP.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, assert_never

from framework.core.backoff import LaunchDelay
from framework.core.effects import TaskRecord
from framework.core.events import TaskState
from framework.core.placement import ConstraintUnmet, NoFit, NoOffers, UnplacedReport
from framework.core.slots import task_seq
from framework.core.spec import AppSpec

__all__ = [
    "AppStatus",
    "AppView",
    "BackoffStatus",
    "QueueEntry",
    "QueueReason",
    "backoff_status",
    "build_app_status",
    "find_app_status",
    "list_app_statuses",
    "list_fleet",
    "list_queue",
    "list_tasks",
    "queue_reasons",
    "task_ready",
]


@dataclass(frozen=True, slots=True)
class BackoffStatus:
    """The app's launches are delayed `delay_seconds` after `crashes` crashes, until `until`
    (`remaining_seconds` from the view's `now`). Views show it only while it is in force."""

    delay_seconds: float
    until: float
    remaining_seconds: float
    crashes: int
    last_crash: str


@dataclass(frozen=True, slots=True)
class AppStatus:
    """GET /v1/apps. `tasks` counts live tasks in slots; `ready` is RUNNING and healthy (or without
    health checks); `killing` counts tasks Gantry is killing; `waiting` instances not yet launched."""

    app_id: str
    version: str
    spec: AppSpec
    created_at: float
    instances: int
    tasks: int
    staged: int
    running: int
    healthy: int
    unhealthy: int
    ready: int
    unreachable: int
    killing: int
    waiting: int
    deploying: bool  # tasks of an older configuration are still being replaced
    backoff: BackoffStatus | None  # present while launches are delayed
    status: str  # "running", "deploying", "scaling", "waiting", "backing_off" or "suspended"


@dataclass(frozen=True, slots=True)
class QueueReason:
    """One reason offers were refused in a placement round: `agents` agents refused for it."""

    kind: str  # placement ReasonKind: "no_fit", "constraint_unmet", "no_offers"
    label: str  # kind plus what: "no_fit:mem", "constraint_unmet:hostname:UNIQUE", "no_offers"
    agents: int
    message: str


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """GET /v1/queue. `refused` sums, per label, the agents that refused since the app began waiting."""

    app_id: str
    version: str
    waiting: int
    since: float
    offer_rounds: int
    last_round: tuple[QueueReason, ...]
    refused: tuple[tuple[str, int], ...]
    backoff: BackoffStatus | None

    @classmethod
    def of(cls, app_id: str, version: str, waiting: int, since: float | None, offer_rounds: int,
           last_round: tuple[QueueReason, ...], refusals: Mapping[str, int], delay: LaunchDelay | None,
           now: float) -> QueueEntry:
        """Most frequent refusal first."""
        refused = tuple(sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0])))
        return cls(app_id, version, waiting, now if since is None else since, offer_rounds, last_round,
                   refused, backoff_status(delay, now))



def task_ready(spec: AppSpec, record: TaskRecord) -> bool:
    """RUNNING, and healthy when the app has health checks (Mesos reports `healthy` on RUNNING)."""
    return record.state is TaskState.RUNNING and (record.healthy is True or not spec.health_checks)


def backoff_status(delay: LaunchDelay | None, now: float) -> BackoffStatus | None:
    """The delay as seen at `now`; None when there is none or it has passed."""
    if delay is None or not delay.active(now):
        return None
    return BackoffStatus(
        delay.delay_seconds, delay.until, delay.remaining(now), delay.crashes, delay.last_crash
    )


def queue_reasons(report: UnplacedReport | None) -> tuple[QueueReason, ...]:
    """One QueueReason per placement reason; NoOffers counts as one refusal per round."""
    if report is None:
        return ()
    out = []
    for reason in report.reasons:
        match reason:
            case NoFit():
                label = f"{reason.kind.value}:{reason.resource}"
                agents = reason.agents
            case ConstraintUnmet():
                label = f"{reason.kind.value}:{reason.constraint.field}:{reason.constraint.operator.value}"
                agents = reason.agents
            case NoOffers():
                label, agents = reason.kind.value, 1
            case _:
                assert_never(reason)
        out.append(QueueReason(reason.kind.value, label, agents, str(reason)))
    return tuple(out)


def _summary(
    instances: int, tasks: int, waiting: int, killing: int, deploying: bool, backing_off: bool
) -> str:
    if backing_off:
        return "backing_off"
    if deploying:
        return "deploying"
    if instances == 0 and not tasks:
        return "suspended"
    if waiting:
        return "waiting"
    if killing or tasks != instances:
        return "scaling"
    return "running"


def build_app_status(
    *,
    app_id: str,
    version: str,
    spec: AppSpec,
    created_at: float,
    records: Iterable[TaskRecord],
    killing_ids: Collection[str],
    waiting: int,
    deploying: bool,
    delay: LaunchDelay | None,
    now: float,
) -> AppStatus:
    """Count an app's live tasks (those in slots) by what they are doing.

    One pass over the records into counters (CI jobs poll this while 100,000 tasks launch; the
    sums it replaced walked the records seven times)."""
    tasks = list(records)
    by_state = Counter(r.state for r in tasks)
    running = by_state[TaskState.RUNNING]
    health = Counter(r.healthy for r in tasks if r.state is TaskState.RUNNING) if running else Counter()
    backoff = backoff_status(delay, now)
    killing = sum(1 for r in tasks if r.task_id in killing_ids) if killing_ids else 0
    return AppStatus(
        app_id=app_id,
        version=version,
        spec=spec,
        created_at=created_at,
        instances=spec.instances,
        tasks=len(tasks),
        staged=by_state[TaskState.STAGING] + by_state[TaskState.STARTING],
        running=running,
        healthy=health[True],
        unhealthy=health[False],
        ready=health[True] if spec.health_checks else running,  # task_ready, counted
        unreachable=by_state[TaskState.UNREACHABLE],
        killing=killing,
        waiting=waiting,
        deploying=deploying,
        backoff=backoff,
        status=_summary(spec.instances, len(tasks), waiting, killing, deploying, backoff is not None),
    )


class AppView(Protocol):
    """What the views read of one app's scheduling state (the scheduler's `_App`; read-only here)."""

    @property
    def spec(self) -> AppSpec: ...
    @property
    def version(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def tasks(self) -> Mapping[str, TaskRecord]: ...  # live tasks in slots, by task id
    @property
    def outdated(self) -> Collection[str]: ...  # ids of its tasks of an older configuration
    @property
    def pending(self) -> Sequence[int]: ...  # slots waiting to be launched into
    @property
    def delay(self) -> LaunchDelay | None: ...
    @property
    def waiting_since(self) -> float | None: ...
    @property
    def offer_rounds(self) -> int: ...
    @property
    def refusals(self) -> Mapping[str, int]: ...
    @property
    def last_reasons(self) -> tuple[QueueReason, ...]: ...


def list_tasks(app_id: str, app: AppView | None, orphans: Iterable[TaskRecord]) -> tuple[TaskRecord, ...]:
    """The app's live tasks, in slots or detached (`orphans` holds every detached task, of any app),
    ordered by task number. An app that no longer exists may still have detached tasks being killed."""
    records = [*(app.tasks.values() if app else ()), *(r for r in orphans if r.app_id == app_id)]
    return tuple(sorted(records, key=lambda r: task_seq(r.task_id)))


def list_fleet(apps: Mapping[str, AppView], orphans: Collection[TaskRecord]) \
        -> Iterator[tuple[AppSpec, list[TaskRecord]]]:
    """Each app's spec (by app id) with the records `list_tasks` gives, unordered: for gauges over the
    whole fleet, which need no order and should not pay for sorting 100,000 records."""
    for app_id in sorted(apps):
        app = apps[app_id]
        yield app.spec, [*app.tasks.values(), *(r for r in orphans if r.app_id == app_id)]


def list_app_statuses(apps: Mapping[str, AppView], killing_ids: Collection[str], now: float) \
        -> tuple[AppStatus, ...]:
    """Every app's status, by app id."""
    return tuple(_status(app_id, apps[app_id], killing_ids, now) for app_id in sorted(apps))


def find_app_status(apps: Mapping[str, AppView], app_id: str, killing_ids: Collection[str], now: float) \
        -> AppStatus | None:
    """One app's status, or None if there is no such app."""
    app = apps.get(app_id)
    return None if app is None else _status(app_id, app, killing_ids, now)


def _status(app_id: str, app: AppView, killing_ids: Collection[str], now: float) -> AppStatus:
    return build_app_status(app_id=app_id, version=app.version, spec=app.spec, created_at=app.created_at,
                            records=app.tasks.values(), killing_ids=killing_ids, waiting=len(app.pending),
                            deploying=bool(app.outdated), delay=app.delay, now=now)


def list_queue(apps: Mapping[str, AppView], waiting_ids: Iterable[str], now: float) -> tuple[QueueEntry, ...]:
    """Every app of `waiting_ids` (those waiting to launch, backed-off ones included), by app id, with
    why its offers were refused."""
    return tuple(
        QueueEntry.of(app_id, app.version, len(app.pending), app.waiting_since, app.offer_rounds,
                      app.last_reasons, app.refusals, app.delay, now)
        for app_id, app in ((a, apps[a]) for a in sorted(waiting_ids))
    )
