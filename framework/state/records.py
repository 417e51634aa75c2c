"""The persistence vocabulary: what a Store keeps (records) and how it is told to change (changes).

Role: plain frozen values shared by every Store implementation and by the driver, which maps the
core's Persist* effects onto these types (mapping.py). App specs, deployment details and event
payloads are opaque JSON strings here: the stored shape is a contract with files on disk that
outlive any one release, so the store never depends on how the core models them. The one core type
reused as is, TaskRecord (framework.core.effects), is a flat value whose fields map one to one onto
columns; the store keeps its state as the Mesos state name. Nothing here does I/O or knows SQL.

Times are Unix seconds (float) supplied by the caller; the store never reads a clock, so what is
stored is exactly what the driver decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from framework.core.effects import TaskRecord

__all__ = [
    "AdvanceTaskCounter",
    "AppVersionRecord",
    "AppendEvent",
    "Change",
    "DeleteApp",
    "DeploymentRecord",
    "EventRecord",
    "PutAppVersion",
    "PutDeployment",
    "PutTask",
    "RemoveTask",
    "SetFrameworkId",
    "Snapshot",
    "TaskRecord",
]


@dataclass(frozen=True, slots=True)
class AppVersionRecord:
    """One immutable version of an app spec. `spec` is the spec serialised as JSON by the caller."""

    app_id: str
    version: str
    spec: str
    created_at: float


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """A deployment (rollout) of an app from one version to another.

    Kept generic on purpose: `state` is whatever the rollout machine names its states and `details`
    is its own JSON document (plan, step, traffic weights ...). The store only understands
    `finished_at`: a deployment without it is active and is part of every Snapshot.
    """

    deployment_id: str
    app_id: str
    from_version: str | None
    to_version: str
    state: str
    created_at: float
    updated_at: float
    finished_at: float | None = None
    details: str = "{}"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One entry of the append-only event log. `payload` is JSON.

    `seq` is assigned by the store when the event is appended (strictly increasing, never reused,
    even after old events are pruned); it is None on events the driver has not stored yet.
    """

    ts: float
    kind: str
    payload: str = "{}"
    app_id: str | None = None
    task_id: str | None = None
    deployment_id: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the driver needs at start to rebuild its in-memory state.

    - `apps`: the current version of every app that exists (deleted apps are absent).
    - `versions`: every stored version the driver may need to act on: the current ones, and any
      that a stored task runs or an active deployment names (e.g. the old side of a rollout).
    - `tasks`: every live task plus the most recent terminal ones the store retained, in no
      particular order (terminal as defined by the core's TERMINAL_STATES).
    - `task_counters`: the highest task number handed out per app id, including apps since
      deleted, so that a re-created app never reuses a task id.
    - `deployments`: the active (unfinished) deployments.
    - `last_event_seq`: the seq of the newest event (0 when the log is empty).
    """

    framework_id: str | None = None
    apps: Mapping[str, AppVersionRecord] = field(default_factory=dict)
    versions: Sequence[AppVersionRecord] = ()
    tasks: Sequence[TaskRecord] = ()
    task_counters: Mapping[str, int] = field(default_factory=dict)
    deployments: Sequence[DeploymentRecord] = ()
    last_event_seq: int = 0


# --- Changes: the only way to write. A Store applies a sequence of them in one transaction. ---


@dataclass(frozen=True, slots=True)
class SetFrameworkId:
    """Remember the id the master assigned, so a restart re-subscribes as the same framework."""

    framework_id: str


@dataclass(frozen=True, slots=True)
class PutAppVersion:
    """Add a version to an app's history and (by default) make it the current one.

    Versions are immutable: putting an existing (app_id, version) again is allowed only with the
    same spec (it then just moves the current pointer, which is how a rollback to a stored version
    is recorded); a different spec under an existing version is refused. Putting a version of a
    deleted app re-creates the app; its history and task counter continue.
    """

    record: AppVersionRecord
    make_current: bool = True


@dataclass(frozen=True, slots=True)
class DeleteApp:
    """Mark an app deleted: it leaves the Snapshot, its version history and task counter remain.

    Tasks are not touched: they keep running until killed, and the driver removes their records.
    """

    app_id: str
    deleted_at: float


@dataclass(frozen=True, slots=True)
class PutTask:
    """Insert or replace the record of one task."""

    record: TaskRecord


@dataclass(frozen=True, slots=True)
class RemoveTask:
    """Forget a task (its record is gone from the next Snapshot). Unknown ids are ignored."""

    task_id: str


@dataclass(frozen=True, slots=True)
class AdvanceTaskCounter:
    """Raise an app's task counter to `value`. Never lowers it, so task ids are never reused."""

    app_id: str
    value: int


@dataclass(frozen=True, slots=True)
class PutDeployment:
    """Insert or replace a deployment."""

    record: DeploymentRecord


@dataclass(frozen=True, slots=True)
class AppendEvent:
    """Append an event to the log (its `seq` field is ignored; the store assigns one)."""

    record: EventRecord


Change = (
    SetFrameworkId
    | PutAppVersion
    | DeleteApp
    | PutTask
    | RemoveTask
    | AdvanceTaskCounter
    | PutDeployment
    | AppendEvent
)
