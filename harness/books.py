"""The fake master's books: its configuration and the records it keeps of frameworks, agents,
offers and tasks, and the EventSink a framework's events go through.

Plain mutable records owned by harness/master.py's `Master` (and read by harness/accept.py and
harness/calls.py); they hold no behaviour beyond derived properties, so nothing here sends,
schedules or validates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from harness.agent import Agent
from harness.clock import Timer
from harness.codec import OutEvent
from harness.model import ExecutorSpec, FrameworkSpec, TaskSpec, TaskState
from harness.resources import Resources
from proto.mesos.v1 import mesos_pb2


@dataclass(frozen=True, slots=True)
class MasterConfig:
    heartbeat_interval: float = 15.0
    allocation_interval: float = 1.0
    failover_timeout_cap: float | None = None  # shortens frameworks' failover_timeout (tests)
    offer_timeout: float | None = None  # --offer_timeout; None: offers never expire
    offer_hoard_intervals: int | None = None  # violation when an offer outlives this many intervals
    offers_per_event: int = 1000  # split huge OFFERS events (clients cap frames at 4 MiB)


class EventSink(Protocol):
    """The open SUBSCRIBE response of one framework."""

    stream_id: str

    def send(self, event: OutEvent) -> None: ...

    def close(self) -> None:
        """End the stream cleanly after what was sent."""
        ...

    def abort(self) -> None:
        """Drop the connection (a network failure)."""
        ...


@dataclass(slots=True)
class MasterTask:
    spec: TaskSpec
    agent_id: str
    state: TaskState = TaskState.TASK_STAGING
    status_update_state: TaskState | None = None
    status_update_uuid: bytes | None = None
    healthy: bool | None = None


@dataclass(slots=True)
class Framework:
    framework_id: str
    info: mesos_pb2.FrameworkInfo
    roles: set[str]
    capabilities: frozenset[str]
    sink: EventSink | None = None
    recovered: bool = False  # re-created from an agent after master failover, not subscribed yet
    failover_timer: Timer | None = None
    heartbeat_timer: Timer | None = None
    offers: set[str] = field(default_factory=set)
    tasks: dict[str, MasterTask] = field(default_factory=dict)
    unreachable_tasks: set[str] = field(default_factory=set)

    @property
    def connected(self) -> bool:
        return self.sink is not None

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    def spec(self) -> FrameworkSpec:
        return FrameworkSpec(
            self.framework_id, self.info.name, self.capabilities, self.info.SerializeToString()
        )


@dataclass(slots=True)
class Offer:
    offer_id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources


@dataclass(slots=True)
class AgentState:
    """The master's view of a registered agent."""

    agent: Agent
    offers: set[str] = field(default_factory=set)
    tasks: dict[tuple[str, str], MasterTask] = field(default_factory=dict)
    executors: dict[tuple[str, str], ExecutorSpec] = field(default_factory=dict)
