"""The API's only window on the scheduler: the `SchedulerPort` protocol, its views and its errors.

Role: everything the HTTP layer may ask of the running scheduler, stated as one small protocol the
driver implements (framework/driver.py), plus the read-only views it answers with and the domain
errors it raises. The API never sees the core's internal state, the store or the Mesos client; the
driver copies what the API needs into these frozen views. That keeps the API's JSON a stable contract
even while core types evolve, and lets tests drive the whole API over an in-memory fake port.

Contract for implementers (the driver):
- Every method is a coroutine and is called on the API's event loop; none may block it.
- Write methods (`submit_app`, `delete_app`) return once the change is durable (persisted) and
  queued for the core; launching or killing tasks happens afterwards, asynchronously.
- App ids arrive canonical ('/shop/web', as `framework.core.spec.normalize_app_id` makes them).
- Unknown ids raise `AppNotFound`; creating an existing app raises `AppAlreadyExists`; a scheduler
  that cannot take writes right now (store failing, state not yet recovered) raises
  `SchedulerUnavailable` with a reason. Any other exception is a bug and becomes a bare 500.
- Times are Unix seconds (float); the API renders them as ISO 8601 UTC.

Must not: import framework.mesos or do any I/O (this module is vocabulary only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from framework.core.spec import AppSpec

__all__ = [
    "AppAlreadyExists",
    "AppNotFound",
    "AppState",
    "AppStatus",
    "AppView",
    "DomainError",
    "FrameworkView",
    "QueueEntry",
    "Readiness",
    "ReadinessCheck",
    "SchedulerPort",
    "SchedulerUnavailable",
    "Submitted",
    "TaskView",
    "UnplacedReason",
    "VersionView",
]


class AppState(StrEnum):
    """One word for where an app stands; `AppStatus.message` says the rest."""

    RUNNING = "running"  # every desired instance is running (and healthy, if it has health checks)
    SCALING = "scaling"  # instances are being launched or killed towards the desired count
    WAITING = "waiting"  # instances are pending and no offer fits them (GET /v1/queue says why)
    DELAYED = "delayed"  # crash-looping: launches are held back until `delayed_until`
    SUSPENDED = "suspended"  # instances == 0 and nothing runs
    DELETING = "deleting"  # deleted; its tasks are being killed


@dataclass(frozen=True, slots=True)
class AppStatus:
    state: AppState
    running: int  # tasks in TASK_RUNNING
    staged: int  # launched but not yet running (STAGING/STARTING)
    healthy: int  # running tasks whose health checks pass (0 when the app has none)
    unhealthy: int  # running tasks whose health checks fail
    message: str | None = None
    delayed_until: float | None = None


@dataclass(frozen=True, slots=True)
class AppView:
    """An app as the API shows it: the current spec, its version, and its live status."""

    spec: AppSpec
    version: str
    version_created_at: float
    status: AppStatus


@dataclass(frozen=True, slots=True)
class Submitted:
    """What `submit_app` did: `created` is False when an existing app got a new version."""

    app: AppView
    created: bool


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task, live or recently terminal. `state` is the Mesos state name ('TASK_RUNNING')."""

    id: str
    app_id: str
    state: str
    version: str
    healthy: bool | None = None  # None until a health check answered (or the app has none)
    agent_id: str | None = None
    host: str | None = None
    ports: tuple[int, ...] = ()
    started_at: float | None = None


@dataclass(frozen=True, slots=True)
class VersionView:
    version: str
    created_at: float
    spec: AppSpec


@dataclass(frozen=True, slots=True)
class UnplacedReason:
    """Why some agents refused an app's pending instances (from the placement engine's report).

    `kind` is a short stable word (no_fit, constraint_unmet, no_offers, ...); the optional numbers
    say by how much: `resource`, `requested` and `best_available` for a resource that did not fit,
    `constraint` (as in the app spec, e.g. ('hostname', 'UNIQUE')) for a constraint that refused.
    """

    kind: str
    message: str
    agents: int | None = None
    resource: str | None = None
    requested: float | None = None
    best_available: float | None = None
    constraint: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """An app with instances waiting for an offer, and what the last offers said about them."""

    app_id: str
    version: str
    waiting: int
    reasons: tuple[UnplacedReason, ...] = ()
    delayed_until: float | None = None
    last_offer_at: float | None = None


@dataclass(frozen=True, slots=True)
class FrameworkView:
    """The framework's identity and connection, for GET /v1/info."""

    name: str
    framework_id: str | None  # None until the first SUBSCRIBED
    master: str | None  # the master currently subscribed to (or being tried), as a URL
    subscribed: bool
    embedded_cluster: bool


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    name: str  # "subscribed", "store_writable", ...
    ok: bool
    message: str | None = None  # why not, when not ok


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[ReadinessCheck, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failing(self) -> tuple[ReadinessCheck, ...]:
        return tuple(check for check in self.checks if not check.ok)


class DomainError(Exception):
    """A refusal the client can understand; framework/api/errors.py maps each to one HTTP status."""


class AppNotFound(DomainError):
    def __init__(self, app_id: str) -> None:
        super().__init__(f"app {app_id} does not exist")
        self.app_id = app_id


class AppAlreadyExists(DomainError):
    def __init__(self, app_id: str) -> None:
        super().__init__(f"app {app_id} already exists; use PUT /v1/apps{app_id} to change it")
        self.app_id = app_id


class SchedulerUnavailable(DomainError):
    """The scheduler cannot take this request now; retrying later may succeed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SchedulerPort(Protocol):
    """What the driver offers the API. See the module docstring for the contract."""

    async def submit_app(self, spec: AppSpec, *, create_only: bool) -> Submitted:
        """Store `spec` as the app's new version. With create_only, raise AppAlreadyExists if it exists."""
        ...

    async def delete_app(self, app_id: str) -> None:
        """Mark the app deleted (its tasks get killed afterwards); AppNotFound if unknown."""
        ...

    async def apps(self) -> Sequence[AppView]:
        """Every app, sorted by id."""
        ...

    async def app(self, app_id: str) -> AppView:
        """One app; AppNotFound if unknown."""
        ...

    async def tasks(self, app_id: str) -> Sequence[TaskView]:
        """The app's live tasks and recently terminal ones; AppNotFound if the app is unknown."""
        ...

    async def versions(self, app_id: str) -> Sequence[VersionView]:
        """The app's versions, newest first; AppNotFound if unknown."""
        ...

    async def queue(self) -> Sequence[QueueEntry]:
        """Apps with instances waiting to be placed, sorted by app id."""
        ...

    async def info(self) -> FrameworkView:
        ...

    async def ready(self) -> Readiness:
        """Subscribed and store writable (and anything else the driver needs to serve)."""
        ...
