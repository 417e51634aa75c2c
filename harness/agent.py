"""A simulated Mesos agent: resources, attributes, executors, tasks and reliable status updates.

An `Agent` outlives masters: on a master failover the new master learns the agent's tasks when
it re-registers, exactly as in Mesos. What actually runs the tasks is a `Runtime` behind a small
interface. The harness ships `SimulatedRuntime` (harness/simulation.py: scripted timelines, no
processes); a runtime that starts real executors and serves them /api/v1/executor plugs in at
the same place, reporting through the `RuntimeListener` methods of the agent.

Message flow (all asynchronous, as between real processes; the master schedules delivery):

    master --run/kill/shutdown/ack/message--> Agent --launch/kill/...--> Runtime
    master <--status_update/executor_exited-- Agent <--task_status/...-- Runtime

The agent stamps updates (agent id, executor id, timestamp, a fresh uuid when the executor gave
none), keeps each task's latest state and queues updates in its StatusUpdateManager, which
delivers them one at a time per task until acknowledged. A task is forgotten when its terminal
update is acknowledged.

Must not: validate scheduler input (the master does), or know about HTTP or protobuf.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.clock import Clock
from harness.model import (
    TERMINAL,
    Attribute,
    ExecutorKind,
    ExecutorSpec,
    FrameworkSpec,
    Source,
    Status,
    TaskSpec,
    TaskState,
    new_record,
)
from harness.resources import Resources
from harness.updates import DEFAULT_RETRY, StatusUpdateManager

# How many finished tasks an agent remembers for `Harness.tasks` after they are gone.
COMPLETED_TASKS_KEPT = 1000


def random_uuid() -> bytes:
    """16 random bytes shaped as a version-4 UUID, like the agent's id::UUID::random()."""
    # A generator seeded from os.urandom, not a syscall per update: these ids only need to be unique.
    return ((_RANDOM.getrandbits(128) & _UUID_KEEP) | _UUID_V4).to_bytes(16, "big")


_RANDOM = random.Random()  # private: drawing from the global generator would disturb a host's seeded one


_UUID_KEEP = ~((0xF0 << 72) | (0xC0 << 56)) & ((1 << 128) - 1)  # clear the version and variant bits
_UUID_V4 = (0x40 << 72) | (0x80 << 56)  # version 4, variant RFC 4122


Forward = tuple[str, Status, TaskState]
"""(framework_id, status, latest state of its task): one update forwarded to the master."""


class MasterLink(Protocol):
    """What an agent tells its master. Calls are fire-and-forget messages."""

    def status_update(self, agent_id: str, framework_id: str, status: Status, latest: TaskState) -> None: ...

    def status_updates(self, agent_id: str, updates: Sequence[Forward]) -> None:
        """Several updates in one message, in order: what one batch of executor steps or acks sent."""
        ...

    def executor_exited(self, agent_id: str, framework_id: str, executor_id: str, status: int) -> None: ...

    def executor_message(self, agent_id: str, framework_id: str, executor_id: str, data: bytes) -> None: ...


class RuntimeListener(Protocol):
    """What a runtime reports to its agent."""

    def task_status(self, framework_id: str, status: Status) -> None: ...

    def task_statuses(self, framework_id: str, statuses: Sequence[Status]) -> None:
        """Updates of several tasks at once, in order (as if reported one by one)."""
        ...

    def executor_exited(self, framework_id: str, executor_id: str, status: int) -> None: ...

    def executor_message(self, framework_id: str, executor_id: str, data: bytes) -> None: ...


class Runtime(Protocol):
    """Runs an agent's executors and tasks (simulated, or for real in a later runtime)."""

    def launch(self, framework: FrameworkSpec, executor: ExecutorSpec, tasks: Sequence[TaskSpec]) -> None: ...

    def launch_all(
        self, framework: FrameworkSpec, launches: Sequence[tuple[ExecutorSpec, Sequence[TaskSpec]]]
    ) -> None:
        """Several launches in one message (one ACCEPT's on this agent), in order."""
        ...

    def kill(self, framework_id: str, task_id: str, grace: float | None) -> None:
        """Kill a task; `grace` (seconds) overrides the task's kill policy when not None."""
        ...

    def shutdown_executor(self, framework_id: str, executor_id: str) -> None: ...

    def shutdown_framework(self, framework_id: str) -> None:
        """Stop everything of a removed framework, reporting nothing."""
        ...

    def message(self, framework_id: str, executor_id: str, data: bytes) -> None: ...

    def stop(self) -> None:
        """The agent is gone: stop everything, report nothing."""
        ...


@dataclass(slots=True)
class AgentTask:
    """A task as the agent sees it (state = the newest state reported by its executor)."""

    spec: TaskSpec
    agent_id: str
    state: TaskState = TaskState.TASK_STAGING
    healthy: bool | None = None
    kill_grace: float | None = None  # the grace period of the last KILL, after overrides
    statuses: list[TaskState] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    """What an agent reports about a task when it (re-)registers with a master."""

    spec: TaskSpec
    state: TaskState
    healthy: bool | None
    in_flight: Status | None  # the update currently waiting for an ack


class Agent:
    def __init__(
        self,
        clock: Clock,
        agent_id: str,
        hostname: str,
        total: Resources,
        attributes: Sequence[Attribute] = (),
        port: int = 5051,
        retry: tuple[float, float] = DEFAULT_RETRY,
    ) -> None:
        self.clock = clock
        self.agent_id = agent_id
        self.hostname = hostname
        self.port = port
        self.total = total
        self.attributes = tuple(attributes)
        self.frameworks: dict[str, FrameworkSpec] = {}
        self.executors: dict[tuple[str, str], ExecutorSpec] = {}
        # Each executor's task ids, as the keys of a dict rather than a set: a dict holding only
        # strings is never tracked by the cyclic collector, a set always is, and a command task
        # has an executor of its own (one fewer object per task for every collection to visit).
        self.executor_tasks: dict[tuple[str, str], dict[str, None]] = {}
        self.tasks: dict[tuple[str, str], AgentTask] = {}
        self.completed: deque[AgentTask] = deque(maxlen=COMPLETED_TASKS_KEPT)
        self.live = 0  # tasks not in a terminal state, kept as they change (counting 100,000 is slow)
        self.updates = StatusUpdateManager(clock, self._forward, self._terminal_acknowledged, retry)
        self.updates.pause()  # nothing is forwarded until a master registers us
        self.runtime: Runtime | None = None
        self.master: MasterLink | None = None
        self.removed = False
        # While a batch (several executor updates, several acks) is handled, the updates it
        # forwards collect here and go to the master as one message; None otherwise.
        self._outbox: list[Forward] | None = None

    # -- registration ----------------------------------------------------------------------------

    def register(self, master: MasterLink) -> None:
        """A master accepted our (re-)registration: resend everything unacknowledged to it."""
        self.master = master
        self.updates.resume()

    def disconnect(self) -> None:
        """The master went away (failover): hold updates until the next registration."""
        self.master = None
        self.updates.pause()

    def remove(self) -> None:
        """The agent leaves the cluster for good; its tasks vanish without updates."""
        self.removed = True
        self.disconnect()
        if self.runtime is not None:
            self.runtime.stop()

    def snapshot(self) -> list[TaskSnapshot]:
        out = []
        for (fid, tid), task in self.tasks.items():
            pending = self.updates.pending(fid, tid)
            out.append(TaskSnapshot(task.spec, task.state, task.healthy, pending[0] if pending else None))
        return out

    # -- from the master ----------------------------------------------------------------------

    def run(self, framework: FrameworkSpec, executor: ExecutorSpec, tasks: Sequence[TaskSpec]) -> None:
        """Launch tasks (one for LAUNCH, a group for LAUNCH_GROUP) on a new or running executor."""
        self.run_all(framework, [(executor, tasks)])

    def run_all(
        self, framework: FrameworkSpec, launches: Sequence[tuple[ExecutorSpec, Sequence[TaskSpec]]]
    ) -> None:
        """Several launches from one ACCEPT, in order, handed to the runtime together."""
        if self.removed or self.runtime is None:
            return
        self.frameworks[framework.framework_id] = framework
        for executor, tasks in launches:
            self._add(framework, executor, tasks)
        self.runtime.launch_all(framework, launches)

    def _add(self, framework: FrameworkSpec, executor: ExecutorSpec, tasks: Sequence[TaskSpec]) -> None:
        key = (framework.framework_id, executor.executor_id)
        self.executors.setdefault(key, executor)
        members = self.executor_tasks.get(key)
        if members is None:
            members = self.executor_tasks[key] = {}
        for spec in tasks:
            key = (spec.framework_id, spec.task_id)
            old = self.tasks.get(key)
            if old is None or old.state in TERMINAL:
                self.live += 1
            self.tasks[key] = AgentTask(spec, self.agent_id)
            members[spec.task_id] = None

    def kill(self, framework_id: str, task_id: str, grace: float | None) -> None:
        task = self.tasks.get((framework_id, task_id))
        if task is None or task.state in TERMINAL or self.runtime is None:
            return
        task.kill_grace = grace if grace is not None else task.spec.kill_grace
        self.runtime.kill(framework_id, task_id, grace)

    def shutdown_executor(self, framework_id: str, executor_id: str) -> None:
        if (framework_id, executor_id) in self.executors and self.runtime is not None:
            self.runtime.shutdown_executor(framework_id, executor_id)

    def shutdown_framework(self, framework_id: str) -> None:
        """The master removed the framework: kill its work silently and forget its updates."""
        if self.runtime is not None:
            self.runtime.shutdown_framework(framework_id)
        self.updates.remove_framework(framework_id)
        for key in [k for k in self.tasks if k[0] == framework_id]:
            task = self.tasks.pop(key)
            if task.state not in TERMINAL:
                task.state = TaskState.TASK_KILLED
                self.live -= 1
            self.completed.append(task)
        for key in [k for k in self.executors if k[0] == framework_id]:
            del self.executors[key]
            self.executor_tasks.pop(key, None)
        self.frameworks.pop(framework_id, None)

    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> None:
        self.updates.acknowledge(framework_id, task_id, uuid)

    def acknowledge_all(self, acks: Sequence[tuple[str, str, bytes]]) -> None:
        """Several acks (framework_id, task_id, uuid) in order; the updates they release (each
        task's next one) reach the master together."""
        outer, self._outbox = self._outbox, []
        try:
            for framework_id, task_id, uuid in acks:
                self.updates.acknowledge(framework_id, task_id, uuid)
        finally:
            self._flush(outer)

    def message(self, framework_id: str, executor_id: str, data: bytes) -> None:
        if (framework_id, executor_id) in self.executors and self.runtime is not None:
            self.runtime.message(framework_id, executor_id, data)

    # -- from the runtime (RuntimeListener) -----------------------------------------------------

    def task_statuses(self, framework_id: str, statuses: Sequence[Status]) -> None:
        outer, self._outbox = self._outbox, []
        try:
            # Reported together, stamped together: one timestamp for the batch (when the
            # executor gave none), as the updates arrived at one instant.
            now = self.clock.time()
            for status in statuses:
                self._stamp(framework_id, status, now)
        finally:
            self._flush(outer)

    def task_status(self, framework_id: str, status: Status) -> None:
        self._stamp(framework_id, status, None)

    def _stamp(self, framework_id: str, status: Status, now: float | None) -> None:
        """Record an executor's (or our own) update and queue it stamped: agent id, executor id,
        timestamp (`now`, else the clock's, unless the status has one) and a fresh uuid."""
        # One unpacking instead of a NamedTuple property call per field read.
        task_id, state, source, reason, message, _, executor_id, timestamp, uuid, healthy, _ = status
        task = self.tasks.get((framework_id, task_id))
        if task is None or self.removed:
            return
        if task.state in TERMINAL:
            return  # an executor cannot take a task back from a terminal state
        if state in TERMINAL:
            self.live -= 1
        task.state = state
        task.statuses.append(state)
        if healthy is not None:
            task.healthy = healthy
        if timestamp is None:
            timestamp = now if now is not None else self.clock.time()
        # Every field, in order (new_record: two are built per launched task).
        stamped: Status = new_record(
            Status,
            (
                task_id,
                state,
                source,
                reason,
                message,
                self.agent_id,
                executor_id or task.spec.executor_id,
                timestamp,
                uuid if uuid is not None else random_uuid(),
                healthy,
                None,  # unreachable_time: only the master sets it
            ),
        )
        self.updates.update(framework_id, stamped)

    def executor_exited(self, framework_id: str, executor_id: str, status: int) -> None:
        key = (framework_id, executor_id)
        executor = self.executors.pop(key, None)
        if executor is None:
            return
        # Tasks the executor left behind fail: the agent reports them (Slave::executorTerminated).
        for task_id in sorted(self.executor_tasks.pop(key, {})):
            task = self.tasks.get((framework_id, task_id))
            if task is not None and task.state not in TERMINAL:
                self.task_status(
                    framework_id,
                    Status(
                        task_id,
                        TaskState.TASK_FAILED,
                        Source.SOURCE_AGENT,
                        reason="REASON_EXECUTOR_TERMINATED",
                        message="Executor terminated",
                    ),
                )
        # The master does not track built-in command executors, so it is not told about them.
        if executor.kind is not ExecutorKind.COMMAND and self.master is not None:
            self.master.executor_exited(self.agent_id, framework_id, executor_id, status)

    def executor_message(self, framework_id: str, executor_id: str, data: bytes) -> None:
        if self.master is not None:
            self.master.executor_message(self.agent_id, framework_id, executor_id, data)

    # -- internals --------------------------------------------------------------------------------

    def _forward(self, framework_id: str, status: Status, latest: TaskState) -> None:
        if self._outbox is not None:
            self._outbox.append((framework_id, status, latest))
        elif self.master is not None:
            self.master.status_update(self.agent_id, framework_id, status, latest)

    def _flush(self, outer: list[Forward] | None) -> None:
        """End a batch: send what it forwarded as one message (into the enclosing batch, if any)."""
        out = self._outbox
        self._outbox = outer
        if not out:
            return
        if outer is not None:
            outer.extend(out)
        elif self.master is not None:
            self.master.status_updates(self.agent_id, out)

    def _terminal_acknowledged(self, framework_id: str, task_id: str) -> None:
        task = self.tasks.pop((framework_id, task_id), None)
        if task is None:
            return
        self.completed.append(task)
        members = self.executor_tasks.get((framework_id, task.spec.executor_id))
        if members is not None:
            members.pop(task_id, None)

    def used_by(self) -> Mapping[tuple[str, str], Resources]:
        """Resources in use per (framework, role): live tasks plus their executors."""
        out: dict[tuple[str, str], Resources] = {}
        for task in self.tasks.values():
            if task.state not in TERMINAL:
                key = (task.spec.framework_id, task.spec.role)
                out[key] = out.get(key, Resources()) + task.spec.resources
        for executor in self.executors.values():
            if executor.kind is not ExecutorKind.COMMAND:
                key = (executor.framework_id, executor.role)
                out[key] = out.get(key, Resources()) + executor.resources
        return out
