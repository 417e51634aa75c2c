"""Inputs to the scheduler core: past-tense facts, each stamped with the time it was observed.

Role: the vocabulary in which the outside world talks to `SchedulerState.handle(*events)`. The Mesos
codec (framework/mesos/codec.py) turns stream events into `Subscribed`, `OffersReceived`,
`StatusUpdated` ...; the driver turns API requests into `AppSubmitted` / `AppDeleted`, connection
loss into `Disconnected`, and its timer into `Tick`. Every event carries `now` (Unix seconds, from
the driver's clock): the core never reads a clock, so tests drive it on injected time.

Must not: hold protobuf objects, mutable containers or behaviour. Adding an event is an additive
change; renaming or removing a field breaks the codec, the driver and the store.

`TaskState` values are the Mesos v1 enum names ("TASK_RUNNING"), which is also how the store spells
states, so no table is needed between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from framework.core.model import Offer
from framework.core.spec import AppSpec

__all__ = [
    "TERMINAL_STATES",
    "AgentFailed",
    "AppDeleted",
    "AppSubmitted",
    "Disconnected",
    "Event",
    "ExecutorFailed",
    "OfferRescinded",
    "OffersReceived",
    "StatusUpdated",
    "Subscribed",
    "TaskState",
    "Tick",
]


class TaskState(StrEnum):
    """Mesos' TaskState (mesos.proto), by name. We declare PARTITION_AWARE, so the master sends
    UNREACHABLE / GONE / GONE_BY_OPERATOR / UNKNOWN / DROPPED instead of LOST."""

    STAGING = "TASK_STAGING"  # our own state between ACCEPT and the first update; the master's too
    STARTING = "TASK_STARTING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"
    KILLED = "TASK_KILLED"
    ERROR = "TASK_ERROR"
    LOST = "TASK_LOST"
    DROPPED = "TASK_DROPPED"
    UNREACHABLE = "TASK_UNREACHABLE"
    GONE = "TASK_GONE"
    GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    UNKNOWN = "TASK_UNKNOWN"


# States after which the task frees its instance slot. UNREACHABLE is deliberately absent (the agent
# may come back; see scheduler.py "Unreachable policy"). LOST and UNKNOWN are present: the master has
# already forgotten the task when it says so, and should the task resurface it is an unknown task,
# which the core kills, so treating them as terminal can never leave two tasks in one slot.
TERMINAL_STATES: Final = frozenset(
    {
        TaskState.FINISHED,
        TaskState.FAILED,
        TaskState.KILLED,
        TaskState.ERROR,
        TaskState.LOST,
        TaskState.DROPPED,
        TaskState.GONE,
        TaskState.GONE_BY_OPERATOR,
        TaskState.UNKNOWN,
    }
)


@dataclass(frozen=True, slots=True)
class Subscribed:
    """SUBSCRIBED arrived: offers will follow; outstanding offers and filters from before are void."""

    now: float
    framework_id: str
    master: str = ""  # MasterInfo rendered by the codec (e.g. "master@10.0.0.1:5050"), for status only


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The subscription stream is gone (closed, heartbeats missed, ERROR). Calls cannot be sent."""

    now: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OffersReceived:
    """An OFFERS event. Every offer in it is answered (ACCEPT or DECLINE) by the same handle() call.
    Offers that arrive while the core believes it is disconnected are void and left unanswered."""

    now: float
    offers: tuple[Offer, ...]


@dataclass(frozen=True, slots=True)
class OfferRescinded:
    now: float
    offer_id: str


@dataclass(frozen=True, slots=True)
class StatusUpdated:
    """An UPDATE event. `uuid` is present only on updates that must be acknowledged (agent/executor
    generated); master-generated ones (reconciliation replies, TASK_DROPPED ...) carry None.

    `reason` and `source` are Mesos enum names ("REASON_RECONCILIATION", "SOURCE_MASTER") or None;
    `timestamp` is the status' own time as sent by Mesos (informational: ordering uses `now`).
    """

    now: float
    task_id: str
    state: TaskState
    agent_id: str | None = None
    healthy: bool | None = None
    reason: str | None = None
    message: str | None = None
    source: str | None = None
    uuid: bytes | None = None
    timestamp: float | None = None
    executor_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentFailed:
    """A FAILURE event with only agent_id: the agent was removed. Task updates arrive separately."""

    now: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class ExecutorFailed:
    """A FAILURE event with an executor_id: the executor exited. Task updates arrive separately."""

    now: float
    agent_id: str | None
    executor_id: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class AppSubmitted:
    """A user created or replaced an app (POST/PUT). The spec is already validated (spec.validate_app).

    Submitting a spec equal to the current one is a no-op; a spec that differs only in `instances`
    scales; any other difference is a new configuration and replaces the app's tasks (rolling, one
    instance at a time).
    """

    now: float
    spec: AppSpec


@dataclass(frozen=True, slots=True)
class AppDeleted:
    """A user deleted an app: its tasks are killed, its record removed. Unknown ids are ignored."""

    now: float
    app_id: str


@dataclass(frozen=True, slots=True)
class Tick:
    """The driver's timer fired. Timers in the core (launch backoff expiry, deferred REVIVE,
    reconciliation retries and period, kill retries, unreachable replacement, backoff reset) only
    advance on events, so the driver must deliver a Tick by `SchedulerState.next_deadline()` (and
    may tick more often: an early Tick is harmless)."""

    now: float


Event = (
    Subscribed
    | Disconnected
    | OffersReceived
    | OfferRescinded
    | StatusUpdated
    | AgentFailed
    | ExecutorFailed
    | AppSubmitted
    | AppDeleted
    | Tick
)
