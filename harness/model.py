"""Value types shared by the fake master, its agents and their runtimes.

These are the harness' own records, not protobuf: harness/codec.py converts at the wire. They
carry exactly what the simulation needs (a TaskSpec is the part of a TaskInfo that a runtime
acts on), so 100,000 tasks fit comfortably in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from harness.resources import Resources


class TaskState(StrEnum):
    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    TASK_UNKNOWN = "TASK_UNKNOWN"


# mesos::internal::protobuf::isTerminalState. LOST counts (it may not be final in reality, but
# the master releases the task's resources on it); UNREACHABLE and UNKNOWN do not.
TERMINAL: frozenset[TaskState] = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
    }
)


class Source(StrEnum):
    SOURCE_MASTER = "SOURCE_MASTER"
    SOURCE_AGENT = "SOURCE_AGENT"
    SOURCE_EXECUTOR = "SOURCE_EXECUTOR"


class ExecutorKind(StrEnum):
    COMMAND = "command"  # LAUNCH with `command`: one built-in executor per task, id = task id
    CUSTOM = "custom"  # LAUNCH with `executor`
    DEFAULT = "default"  # LAUNCH_GROUP: the built-in default executor running a pod


class Status(NamedTuple):
    """One TaskStatus. `uuid` is set only on updates that must be acknowledged (agent/executor).

    An immutable record like the others, but a NamedTuple: four are built per launched task
    (executor report, agent stamp; STARTING and RUNNING), and a tuple is built five times faster
    than a frozen dataclass, whose __init__ goes through object.__setattr__ field by field.
    """

    task_id: str
    state: TaskState
    source: Source
    reason: str | None = None
    message: str | None = None
    agent_id: str | None = None
    executor_id: str | None = None
    timestamp: float | None = None
    uuid: bytes | None = None
    healthy: bool | None = None
    unreachable_time: float | None = None


# Builds a NamedTuple below from a tuple of ALL its fields, in order: `new_record(Status, (...))`.
# A NamedTuple's generated __new__ is a Python function (a lambda around tuple.__new__), which
# makes it cost three times a plain tuple; this skips it where records are built per launched
# task. No defaults and no arity check: a caller must list every field (tests read them all).
new_record = tuple.__new__


@dataclass(frozen=True, slots=True)
class FrameworkSpec:
    """What an agent knows about a framework (Mesos agents keep the FrameworkInfo)."""

    framework_id: str
    name: str
    capabilities: frozenset[str]
    info: bytes = b""  # the serialized FrameworkInfo, handed to a new master on re-registration

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def killing_state(self) -> bool:
        return "TASK_KILLING_STATE" in self.capabilities


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    """Timing of a task's health check, as the built-in executors apply it (seconds)."""

    delay: float = 15.0
    interval: float = 10.0
    timeout: float = 20.0
    consecutive_failures: int = 3
    grace_period: float = 10.0


NO_LABELS: Mapping[str, str] = MappingProxyType({})


class TaskSpec(NamedTuple):
    """The part of a TaskInfo a runtime needs to run (or simulate) the task.

    Immutable; a NamedTuple rather than a frozen dataclass for the same reason as Status: one
    per launched task, built five times faster."""

    task_id: str
    framework_id: str
    executor_id: str
    name: str
    role: str
    resources: Resources
    labels: Mapping[str, str] = NO_LABELS
    health_check: HealthCheckSpec | None = None
    kill_grace: float | None = None  # TaskInfo.kill_policy; None: the executor's default (3 s)
    max_completion_time: float | None = None
    group: tuple[str, ...] = ()  # task ids launched together in one LAUNCH_GROUP, this one included
    kind: ExecutorKind = ExecutorKind.COMMAND


class ExecutorSpec(NamedTuple):
    """An executor on an agent. `identity` is the serialized ExecutorInfo: a later launch naming
    the same executor id must carry an identical one. (A NamedTuple: a LAUNCH with a command has
    an executor of its own per task.)"""

    executor_id: str
    framework_id: str
    kind: ExecutorKind
    role: str
    resources: Resources
    identity: bytes = b""
    shutdown_grace: float = 5.0


AttributeValue = str | float | tuple[tuple[int, int], ...] | frozenset[str]


@dataclass(frozen=True, slots=True)
class Attribute:
    """An agent attribute: TEXT (str), SCALAR (float), RANGES (tuple of intervals) or SET."""

    name: str
    value: AttributeValue
