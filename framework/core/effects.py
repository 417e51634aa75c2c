"""Outputs of the scheduler core: imperatives the driver performs, in list order.

Role: `SchedulerState.handle(*events)` returns a list of these. The driver performs them in order:
Persist* and RecordEvent through the Store (consecutive ones may share one transaction), Mesos
calls through the client (the codec builds protobuf from them). Order carries meaning and the
driver must keep it:

- Persist before acknowledge: every `Acknowledge` is preceded, in the same list, by the `PersistTask`
  (or `PersistTaskRemoved`) that stores the update it acknowledges. An ACK for an update we have not
  stored would lose it on a crash, since the agent stops resending it.
- Persist before launch: the `PersistTask` (state TASK_STAGING) and `PersistTaskCounter` of every
  task in an `Accept` precede the `Accept`. After a crash mid-launch the restored core therefore
  knows every task id it may have launched, reconciles it, and never launches a second task for the
  same instance slot.
- If a Persist* fails, the driver must not perform the effects after it (it stops the framework or
  retries the whole list); Mesos calls before the first Persist* never depend on it.

Mesos calls (`Accept`, `Decline`, `Kill`, `Acknowledge`, `Reconcile`, `Suppress`, `Revive`) are only
emitted while the core believes it is subscribed. A call that fails in flight (the stream died before
the driver saw `Disconnected`) may be dropped: offers die with the connection, kills are re-issued on
the next `Subscribed` and on kill retries, updates are resent by the agent until acknowledged.

Must not: carry protobuf or mutable containers. Additive changes only (others build on these).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from framework.core.events import TERMINAL_STATES, StatusUpdated, TaskState
from framework.core.resources import Resources
from framework.core.spec import AppSpec, ContainerSpec, HealthCheckSpec, ReadinessCheckSpec, build_env

_new = object.__new__

__all__ = [
    "Accept",
    "Acknowledge",
    "Decline",
    "Effect",
    "Kill",
    "MesosCall",
    "Persist",
    "PersistApp",
    "PersistAppDeleted",
    "PersistFrameworkId",
    "PersistTask",
    "PersistTaskCounter",
    "PersistTaskRemoved",
    "Reconcile",
    "ReconcileTask",
    "RecordEvent",
    "Revive",
    "Suppress",
    "TaskLaunch",
    "TaskRecord",
    "new_acknowledge",
    "new_persist_task",
    "new_task_launch",
    "new_task_record",
]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """What the core knows about one task; field for field the store's `framework.state.records.TaskRecord`
    (the driver copies it across, `state.value` as the state string).

    - `version`: the app version the task was launched with (see spec.app_version).
    - `slot`: the instance slot; at most one live task per (app_id, slot) at any time.
    - `updated_at`: when `state` last changed. A repeated state (e.g. a reconciliation reply) does not
      move it, so for an UNREACHABLE task it is the moment it became unreachable, which is what the
      unreachable policy needs after a restart.
    - `started_at`: the first time the task was seen RUNNING.
    - `status_uuid`: the uuid of the last stored update (None for master-generated updates).
    """

    task_id: str
    app_id: str
    version: str
    slot: int
    state: TaskState
    updated_at: float
    agent_id: str | None = None
    hostname: str | None = None
    ports: tuple[int, ...] = ()
    healthy: bool | None = None
    reason: str | None = None
    message: str | None = None
    started_at: float | None = None
    status_uuid: bytes | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def after(self, ev: StatusUpdated) -> TaskRecord:
        """This record once `ev` (an update for this task) is applied; the record itself, and only
        then, when the update changes nothing (callers test `is` instead of comparing 14 fields).

        Health is kept only while the task stays RUNNING (Mesos reports `healthy` on RUNNING
        updates). A master-generated repeat of the same state (a reconciliation reply) only fills in
        health and agent, so reconciling 100,000 unchanged tasks leaves every record as it was."""
        state = ev.state
        running = state is TaskState.RUNNING
        if ev.healthy is not None:
            healthy: bool | None = ev.healthy
        else:
            healthy = self.healthy if running and self.state is TaskState.RUNNING else None
        if ev.uuid is None and state is self.state:
            agent_id = self.agent_id or ev.agent_id
            if healthy == self.healthy and agent_id == self.agent_id:
                return self  # the usual reconciliation reply: no copy
            return replace(self, healthy=healthy, agent_id=agent_id)
        agent_id = ev.agent_id or self.agent_id
        started_at = ev.now if running and self.started_at is None else self.started_at
        uuid = ev.uuid if ev.uuid is not None else self.status_uuid
        if state is not self.state:
            updated_at = ev.now
        elif (agent_id == self.agent_id and healthy == self.healthy and ev.reason == self.reason
              and ev.message == self.message and started_at == self.started_at and uuid == self.status_uuid):
            return self  # e.g. a resent copy of the update stored last (same uuid)
        else:
            updated_at = self.updated_at
        # Built with new_task_record rather than dataclasses.replace or the constructor (see there):
        # this runs for every status update, two per launched task.
        return new_task_record(self.task_id, self.app_id, self.version, self.slot, state, updated_at,
                               agent_id, self.hostname, self.ports, healthy, ev.reason, ev.message,
                               started_at, uuid)


# -- fast construction -------------------------------------------------------------------------
#
# A frozen dataclass's __init__ sets every field with `object.__setattr__(self, "name", value)`: for
# the 14 fields of a TaskRecord that is about 3 us, more than all the rest of handling a status update.
# The builders below fill an instance of a plain slotted "draft" class with exactly the same slots
# (plain attribute stores, several times cheaper) and then turn it into the frozen class by assigning
# `__class__`, which Python allows between classes of identical slot layout. The result is an
# ordinary frozen instance, equal to the one the constructor builds (tests/unit/test_launching.py).
# Only for values the core built itself from already-valid parts: nothing is checked here.


class _RecordDraft:
    __slots__ = TaskRecord.__slots__


def new_task_record(task_id: str, app_id: str, version: str, slot: int, state: TaskState, updated_at: float,
                    agent_id: str | None, hostname: str | None, ports: tuple[int, ...], healthy: bool | None,
                    reason: str | None, message: str | None, started_at: float | None,
                    status_uuid: bytes | None) -> TaskRecord:
    """`TaskRecord(...)` with every field given positionally, about three times faster (same value)."""
    draft: Any = _new(_RecordDraft)
    draft.task_id = task_id
    draft.app_id = app_id
    draft.version = version
    draft.slot = slot
    draft.state = state
    draft.updated_at = updated_at
    draft.agent_id = agent_id
    draft.hostname = hostname
    draft.ports = ports
    draft.healthy = healthy
    draft.reason = reason
    draft.message = message
    draft.started_at = started_at
    draft.status_uuid = status_uuid
    draft.__class__ = TaskRecord
    record: TaskRecord = draft
    return record


@dataclass(frozen=True, slots=True)
class TaskLaunch:
    """One task to launch: everything the codec needs to build a Mesos TaskInfo (command task).

    - `name`: a human-readable task name (the app id without its leading '/').
    - `resources`: cpus/mem/disk of the task plus exactly its host ports as ranges, all from `role`.
    - `ports`: the host ports in the order of `port_names` (the app's `ports`); PORT0.. and PORT_<NAME>
      in `env` already hold them.
    - `env`: the user's env (key-sorted), then HOST, GANTRY_APP_ID, GANTRY_APP_VERSION, GANTRY_TASK_ID,
      GANTRY_INSTANCE, PORT, PORTS, PORT0.., PORT_<NAME> (spec.build_env). No key repeats.
    - `labels`: the user's labels (key-sorted), then gantry.app_id, gantry.version, gantry.slot.
    - `container`: None runs `cmd` directly on the agent (HOST networking); otherwise the image, with
      `port_mappings` naming which host port maps to which container port (BRIDGE networking).
    - `kill_grace_seconds`: the TaskInfo kill_policy grace period.
    """

    task_id: str
    name: str
    app_id: str
    version: str
    slot: int
    agent_id: str
    hostname: str
    role: str
    resources: Resources
    ports: tuple[int, ...]
    port_names: tuple[str, ...]
    cmd: str | None
    env: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    container: ContainerSpec | None
    health_checks: tuple[HealthCheckSpec, ...]
    readiness_checks: tuple[ReadinessCheckSpec, ...]
    kill_grace_seconds: float

    @classmethod
    def of(cls, spec: AppSpec, version: str, task_id: str, slot: int, agent_id: str, hostname: str, role: str,
           resources: Resources, ports: tuple[int, ...]) -> TaskLaunch:
        """The launch of one instance of `spec` with the resources and host ports placement chose."""
        # Validation reserves the "gantry." label prefix, so appending cannot repeat a key.
        labels = (*spec.labels, ("gantry.app_id", spec.id), ("gantry.version", version),
                  ("gantry.slot", str(slot)))
        return cls(
            task_id=task_id,
            name=spec.id.lstrip("/"),
            app_id=spec.id,
            version=version,
            slot=slot,
            agent_id=agent_id,
            hostname=hostname,
            role=role,
            resources=resources,
            ports=ports,
            port_names=spec.ports,
            cmd=spec.cmd,
            env=build_env(spec, version, task_id, slot, hostname, ports),
            labels=labels,
            container=spec.container,
            health_checks=spec.health_checks,
            readiness_checks=spec.readiness_checks,
            kill_grace_seconds=spec.kill_grace_period_seconds,
        )


class _LaunchDraft:
    __slots__ = TaskLaunch.__slots__


def new_task_launch(task_id: str, name: str, app_id: str, version: str, slot: int, agent_id: str,
                    hostname: str, role: str, resources: Resources, ports: tuple[int, ...],
                    port_names: tuple[str, ...], cmd: str | None, env: tuple[tuple[str, str], ...],
                    labels: tuple[tuple[str, str], ...], container: ContainerSpec | None,
                    health_checks: tuple[HealthCheckSpec, ...],
                    readiness_checks: tuple[ReadinessCheckSpec, ...],
                    kill_grace_seconds: float) -> TaskLaunch:
    """`TaskLaunch(...)` with every field given positionally, about three times faster (same value; see
    "fast construction" above)."""
    draft: Any = _new(_LaunchDraft)
    draft.task_id = task_id
    draft.name = name
    draft.app_id = app_id
    draft.version = version
    draft.slot = slot
    draft.agent_id = agent_id
    draft.hostname = hostname
    draft.role = role
    draft.resources = resources
    draft.ports = ports
    draft.port_names = port_names
    draft.cmd = cmd
    draft.env = env
    draft.labels = labels
    draft.container = container
    draft.health_checks = health_checks
    draft.readiness_checks = readiness_checks
    draft.kill_grace_seconds = kill_grace_seconds
    draft.__class__ = TaskLaunch
    launch: TaskLaunch = draft
    return launch


# --- Mesos calls ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    """ACCEPT `offer_ids` (all of one agent and role) with one LAUNCH of `launches`. Resources left
    unused are declined implicitly with `refuse_seconds` as the filter."""

    agent_id: str
    offer_ids: tuple[str, ...]
    launches: tuple[TaskLaunch, ...]
    refuse_seconds: float


@dataclass(frozen=True, slots=True)
class Decline:
    offer_ids: tuple[str, ...]
    refuse_seconds: float


@dataclass(frozen=True, slots=True)
class Kill:
    """KILL, with a kill_policy of `grace_seconds` (None: the task's own)."""

    task_id: str
    agent_id: str | None
    grace_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """ACKNOWLEDGE one update; `uuid` is the 16 raw bytes from the update. Only ever for updates
    that carried a uuid, and only after the update was persisted (see module docstring)."""

    agent_id: str
    task_id: str
    uuid: bytes


class _AcknowledgeDraft:
    __slots__ = Acknowledge.__slots__


def new_acknowledge(agent_id: str, task_id: str, uuid: bytes) -> Acknowledge:
    """`Acknowledge(agent_id, task_id, uuid)`, about twice as fast (see "fast construction" above):
    one per status update."""
    draft: Any = _new(_AcknowledgeDraft)
    draft.agent_id = agent_id
    draft.task_id = task_id
    draft.uuid = uuid
    draft.__class__ = Acknowledge
    ack: Acknowledge = draft
    return ack


@dataclass(frozen=True, slots=True)
class ReconcileTask:
    task_id: str
    agent_id: str | None


@dataclass(frozen=True, slots=True)
class Reconcile:
    """RECONCILE. Empty `tasks` asks for implicit reconciliation (every task the master knows)."""

    tasks: tuple[ReconcileTask, ...] = ()


@dataclass(frozen=True, slots=True)
class Suppress:
    """SUPPRESS all roles: nothing is pending, stop sending offers."""


@dataclass(frozen=True, slots=True)
class Revive:
    """REVIVE all roles: work is pending (also clears every refuse filter; the core rate-limits it)."""


# --- Persistence ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersistFrameworkId:
    framework_id: str


@dataclass(frozen=True, slots=True)
class PersistApp:
    """Store `spec` (as `spec.to_json()`) as version `version` of the app and make it current.

    Versions are content-addressed (spec.app_version), so the same spec always gets the same
    version string and re-storing it is idempotent."""

    app_id: str
    version: str
    spec: AppSpec
    created_at: float


@dataclass(frozen=True, slots=True)
class PersistAppDeleted:
    app_id: str
    deleted_at: float


@dataclass(frozen=True, slots=True)
class PersistTask:
    """Insert or replace one task record (terminal records are kept by the store as history)."""

    record: TaskRecord


class _PersistTaskDraft:
    __slots__ = PersistTask.__slots__


def new_persist_task(record: TaskRecord) -> PersistTask:
    """`PersistTask(record)`, about twice as fast (see "fast construction" above): one per launch and
    per status update."""
    draft: Any = _new(_PersistTaskDraft)
    draft.record = record
    draft.__class__ = PersistTask
    persist: PersistTask = draft
    return persist


@dataclass(frozen=True, slots=True)
class PersistTaskRemoved:
    """Forget a task record entirely."""

    task_id: str


@dataclass(frozen=True, slots=True)
class PersistTaskCounter:
    """Raise the app's task counter to `value` (the highest task number handed out so far). It
    survives the app's deletion, so a re-created app never reuses a task id."""

    app_id: str
    value: int


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """Append to the event log (and the API's event stream). `details` are JSON-ready scalars."""

    at: float
    kind: str
    message: str
    app_id: str | None = None
    task_id: str | None = None
    details: tuple[tuple[str, str | int | float | bool | None], ...] = ()

    @classmethod
    def for_task(cls, record: TaskRecord, now: float, kind: str) -> RecordEvent:
        """An event about one task, carrying its state, agent and reason."""
        text = f"task {record.task_id} of {record.app_id}: {record.state.value}"
        if record.message:
            text += f" ({record.message})"
        details = (("state", record.state.value), ("agent_id", record.agent_id), ("reason", record.reason))
        return cls(now, kind, text, app_id=record.app_id, task_id=record.task_id, details=details)


MesosCall = Accept | Decline | Kill | Acknowledge | Reconcile | Suppress | Revive
Persist = (
    PersistFrameworkId
    | PersistApp
    | PersistAppDeleted
    | PersistTask
    | PersistTaskRemoved
    | PersistTaskCounter
    | RecordEvent
)
Effect = MesosCall | Persist
