"""An in-memory SchedulerPort: enough scheduler behaviour to drive every API route, with knobs for
the states the real driver can be in (not subscribed, store failing, a bug raising).

App status comes from the core's real `build_app_status`, so the fake answers with the same values
the driver will, computed the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
from framework.core.backoff import LaunchDelay
from framework.core.effects import TaskRecord
from framework.core.spec import AppSpec
from framework.core.views import AppStatus, QueueEntry, build_app_status

T0 = 1_700_000_000.0


@dataclass
class FakePort:
    """Apps with version history; tasks, delays and queue set directly by tests; virtual clock `now`."""

    now: float = T0
    subscribed: bool = True
    store_writable: bool = True
    unavailable: str | None = None  # when set, writes raise SchedulerUnavailable(reason)
    explode: bool = False  # when set, every call raises a plain bug
    versions_by_app: dict[str, list[VersionView]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    tasks_by_app: dict[str, list[TaskRecord]] = field(default_factory=dict)
    delays: dict[str, LaunchDelay] = field(default_factory=dict)
    waiting: list[QueueEntry] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.explode:
            raise RuntimeError("secret internal detail: db password is hunter2")

    def _status(self, app_id: str) -> AppStatus:
        history = self.versions_by_app.get(app_id)
        if not history:
            raise AppNotFound(app_id)
        latest = history[0]
        tasks = self.tasks_by_app.get(app_id, [])
        return build_app_status(
            app_id=app_id,
            version=latest.version,
            spec=latest.spec,
            created_at=latest.created_at,
            records=tasks,
            killing_ids=(),
            waiting=max(0, latest.spec.instances - len(tasks)),
            deploying=False,
            delay=self.delays.get(app_id),
            now=self.now,
        )

    async def submit_app(self, spec: AppSpec, *, create_only: bool) -> Submitted:
        self._enter("submit_app")
        if self.unavailable is not None:
            raise SchedulerUnavailable(self.unavailable)
        history = self.versions_by_app.setdefault(spec.id, [])
        created = not history
        if not created and create_only:
            raise AppAlreadyExists(spec.id)
        self.now += 1
        history.insert(0, VersionView(version=f"v{len(history) + 1}", created_at=self.now, spec=spec))
        return Submitted(app=self._status(spec.id), created=created)

    async def delete_app(self, app_id: str) -> None:
        self._enter("delete_app")
        if app_id not in self.versions_by_app:
            raise AppNotFound(app_id)
        del self.versions_by_app[app_id]
        self.deleted.append(app_id)

    async def apps(self) -> Sequence[AppStatus]:
        self._enter("apps")
        return [self._status(app_id) for app_id in sorted(self.versions_by_app)]

    async def app(self, app_id: str) -> AppStatus:
        self._enter("app")
        return self._status(app_id)

    async def tasks(self, app_id: str) -> Sequence[TaskRecord]:
        self._enter("tasks")
        self._status(app_id)
        return list(self.tasks_by_app.get(app_id, []))

    async def versions(self, app_id: str) -> Sequence[VersionView]:
        self._enter("versions")
        self._status(app_id)
        return list(self.versions_by_app[app_id])

    async def queue(self) -> Sequence[QueueEntry]:
        self._enter("queue")
        return list(self.waiting)

    async def info(self) -> FrameworkView:
        self._enter("info")
        return FrameworkView(
            name="gantry",
            framework_id="fw-0001" if self.subscribed else None,
            master="http://127.0.0.1:5050",
            subscribed=self.subscribed,
            embedded_cluster=True,
        )

    async def ready(self) -> Readiness:
        self._enter("ready")
        return Readiness(
            checks=(
                ReadinessCheck(
                    "subscribed", self.subscribed, None if self.subscribed else "connection refused"
                ),
                ReadinessCheck(
                    "store_writable", self.store_writable, None if self.store_writable else "disk I/O error"
                ),
            )
        )
