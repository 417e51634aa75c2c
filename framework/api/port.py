"""The API's only window on the scheduler: the `SchedulerPort` protocol, its views and its errors.

Role: everything the HTTP layer may ask of the running scheduler, stated as one small protocol the
driver implements (framework/driver.py), plus the domain errors it raises. Answers are frozen values:
the core's own read-only views (`framework.core.views.AppStatus` and `QueueEntry`, built by
`SchedulerState.app_statuses/app_status/queue_view`, and `framework.core.effects.TaskRecord` from
`SchedulerState.tasks_of`), plus the few views defined here for what lives outside the core (version
history from the store, framework identity, readiness). The API never touches the scheduler's
mutable state, the store or the Mesos client, and tests drive the whole API over an in-memory fake.

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
from typing import Protocol

from framework.core.effects import TaskRecord
from framework.core.spec import AppSpec
from framework.core.views import AppStatus, QueueEntry

__all__ = [
    "AppAlreadyExists",
    "AppNotFound",
    "AppStatus",
    "DomainError",
    "FrameworkView",
    "QueueEntry",
    "Readiness",
    "ReadinessCheck",
    "SchedulerPort",
    "SchedulerUnavailable",
    "Submitted",
    "TaskRecord",
    "VersionView",
]


@dataclass(frozen=True, slots=True)
class Submitted:
    """What `submit_app` did: `created` is False when an existing app got a new version."""

    app: AppStatus
    created: bool


@dataclass(frozen=True, slots=True)
class VersionView:
    version: str
    created_at: float
    spec: AppSpec


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

    async def apps(self) -> Sequence[AppStatus]:
        """Every app, sorted by id (SchedulerState.app_statuses(now))."""
        ...

    async def app(self, app_id: str) -> AppStatus:
        """One app (SchedulerState.app_status(app_id, now)); AppNotFound if unknown."""
        ...

    async def tasks(self, app_id: str) -> Sequence[TaskRecord]:
        """The app's live tasks (SchedulerState.tasks_of(app_id)); AppNotFound if the app is unknown."""
        ...

    async def versions(self, app_id: str) -> Sequence[VersionView]:
        """The app's versions from the store, newest first; AppNotFound if unknown."""
        ...

    async def queue(self) -> Sequence[QueueEntry]:
        """Apps with instances waiting to be placed, sorted by id (SchedulerState.queue_view(now))."""
        ...

    async def info(self) -> FrameworkView:
        ...

    async def ready(self) -> Readiness:
        """Subscribed and store writable (and anything else the driver needs to serve)."""
        ...
