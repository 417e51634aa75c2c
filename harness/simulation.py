"""SimulatedRuntime: runs an agent's tasks as scripted timelines, the way built-in executors behave.

No processes are started. Each task follows what Mesos' command and default executors send:

    launch -> TASK_STARTING -> TASK_RUNNING -> ... -> terminal

and the task label `harness.behaviour` (comma-separated items) scripts the rest:

    (none)          run until killed
    finish:<s>      TASK_FINISHED <s> seconds after TASK_RUNNING ("Command exited with status 0")
    fail:<s>        TASK_FAILED after <s> seconds ("Command exited with status 1")
    crash-loop      TASK_FAILED shortly after TASK_RUNNING (`crash_delay`), every time it is launched
    lost:<s>        after <s> seconds the agent loses the container: TASK_LOST (TASK_GONE for
                    PARTITION_AWARE frameworks), SOURCE_AGENT, REASON_EXECUTOR_TERMINATED
    unhealthy:<s>   the health check starts failing <s> seconds after TASK_RUNNING (needs a
                    health_check on the task; without one nothing is visible, as in Mesos)
    never-start     the executor never picks the task up: no update at all until it is killed
    slow-stop:<s>   the process needs <s> seconds to exit after SIGTERM (so the kill grace
                    period decides between a clean TASK_KILLED and a SIGKILL at the deadline)

Health checks follow Mesos' HealthChecker: the first check runs `delay_seconds` after launch and
then every `interval_seconds`; the first success and every failure are reported as TASK_RUNNING
with `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; failures inside the grace period
before the first success are ignored; after `consecutive_failures` failures the task is killed
and ends TASK_KILLED with healthy=false.

Kill: TASK_KILLING first only for frameworks with TASK_KILLING_STATE; the grace period is the
KILL call's kill_policy, else the task's, else 3 s. A task not yet handed to its executor ends
TASK_KILLED with REASON_TASK_KILLED_DURING_LAUNCH from the agent. Default executor (LAUNCH_GROUP):
killing one task, or one task failing or being killed, kills the rest of its group. An executor
whose tasks are all terminal exits; SHUTDOWN kills its tasks (TASK_KILLED) and then it exits.
Simulated executors answer every framework MESSAGE by sending the same bytes back.

Everything is driven by the injected Clock; callbacks report through the RuntimeListener (the
agent), which stamps uuids and handles delivery.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from harness.agent import RuntimeListener
from harness.clock import Clock, Timer
from harness.model import (
    TERMINAL,
    ExecutorKind,
    ExecutorSpec,
    FrameworkSpec,
    Source,
    Status,
    TaskSpec,
    TaskState,
    new_record,
)

# Members read on every launched task, as plain globals: an Enum member looked up on its class
# goes through the enum metaclass (four times slower than a global).
_STARTING = TaskState.TASK_STARTING
_RUNNING = TaskState.TASK_RUNNING
_EXECUTOR = Source.SOURCE_EXECUTOR

BEHAVIOUR_LABEL = "harness.behaviour"
HEALTH_REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"


class BehaviourError(ValueError):
    """The `harness.behaviour` label could not be understood."""


@dataclass(frozen=True, slots=True)
class Behaviour:
    finish_after: float | None = None
    fail_after: float | None = None
    lost_after: float | None = None
    unhealthy_after: float | None = None
    crash_loop: bool = False
    never_start: bool = False
    stop_time: float = 0.0


_TIMED = {
    "finish": "finish_after",
    "fail": "fail_after",
    "lost": "lost_after",
    "unhealthy": "unhealthy_after",
}


@functools.lru_cache(maxsize=1024)  # one label value per app, parsed once (errors are not cached)
def parse_behaviour(text: str) -> Behaviour:
    """Parse the label value, e.g. "finish:30" or "unhealthy:5,slow-stop:2"."""
    values: dict[str, float | bool] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, arg = item.partition(":")
        if name in ("crash-loop", "never-start") and not sep:
            values["crash_loop" if name == "crash-loop" else "never_start"] = True
            continue
        if name not in _TIMED and name != "slow-stop":
            raise BehaviourError(f"unknown behaviour {item!r}")
        try:
            seconds = float(arg)
        except ValueError:
            raise BehaviourError(f"behaviour {item!r}: {arg!r} is not a number of seconds") from None
        if not seconds >= 0 or seconds == float("inf"):
            raise BehaviourError(f"behaviour {item!r}: seconds must be finite and >= 0")
        values[_TIMED.get(name, "stop_time")] = seconds
    return Behaviour(**values)  # type: ignore[arg-type]


# The behaviour of a task without the label (parse_behaviour's answers are cached, so every such
# task shares this object; one that does not is merely checked the long way).
_PLAIN = parse_behaviour("")


@dataclass(frozen=True, slots=True)
class SimulationTimings:
    start_delay: float = 0.0  # launch -> TASK_STARTING
    running_delay: float = 0.0  # TASK_STARTING -> TASK_RUNNING
    crash_delay: float = 0.5  # crash-loop: TASK_RUNNING -> TASK_FAILED
    executor_exit_delay: float = 0.0  # last task terminal (or SHUTDOWN) -> executor exits
    default_kill_grace: float = 3.0  # built-in executors' default


@dataclass(slots=True)
class _Task:
    spec: TaskSpec
    framework: FrameworkSpec
    kind: ExecutorKind
    behaviour: Behaviour
    state: TaskState = TaskState.TASK_STAGING
    started: bool = False
    killing: bool = False
    running_since: float = 0.0
    failures: int = 0
    initializing: bool = True
    unhealthy_kill: bool = False
    timers: list[Timer] | None = None  # pending steps; None when there are none (most of the time)
    check_timer: Timer | None = None


@dataclass(slots=True)
class _Executor:
    spec: ExecutorSpec
    # Task ids as a dict's keys: a dict of strings is never tracked by the cyclic collector, a
    # set always is (a command task has an executor of its own).
    tasks: dict[str, None] = field(default_factory=dict)
    exit_timer: Timer | None = None


class SimulatedRuntime:
    def __init__(
        self, clock: Clock, listener: RuntimeListener, timings: SimulationTimings | None = None
    ) -> None:
        self._clock = clock
        self._listener = listener
        self.timings = timings or SimulationTimings()
        self._tasks: dict[tuple[str, str], _Task] = {}
        self._executors: dict[tuple[str, str], _Executor] = {}

    # -- Runtime interface --------------------------------------------------------------------------

    def launch(self, framework: FrameworkSpec, executor: ExecutorSpec, tasks: Sequence[TaskSpec]) -> None:
        self.launch_all(framework, [(executor, tasks)])

    def launch_all(
        self, framework: FrameworkSpec, launches: Sequence[tuple[ExecutorSpec, Sequence[TaskSpec]]]
    ) -> None:
        """Several launches at once (one ACCEPT's tasks on this agent): their tasks start together.

        The tasks of one call go through their start and running delays as one batch, one timer
        per step rather than one per task (a 100,000-task launch made the timers and callbacks a
        visible cost). What each task sees is unchanged: the same delays, STARTING before RUNNING,
        and a task killed or forgotten meanwhile is skipped when its batch's step comes.
        """
        fid = framework.framework_id
        batch: list[_Task] = []
        for executor, tasks in launches:
            key = (fid, executor.executor_id)
            ex = self._executors.get(key)
            if ex is None:
                ex = self._executors[key] = _Executor(executor)
            if ex.exit_timer is not None:  # new work arrived before the idle executor exited
                ex.exit_timer.cancel()
                ex.exit_timer = None
            for spec in tasks:
                ex.tasks[spec.task_id] = None
                try:
                    behaviour = parse_behaviour(spec.labels.get(BEHAVIOUR_LABEL, ""))
                except BehaviourError as error:
                    task = _Task(spec, framework, executor.kind, Behaviour(), started=True)
                    self._tasks[(fid, spec.task_id)] = task
                    self._later(task, self.timings.start_delay, partial(self._bad_label, task, error))
                    continue
                task = _Task(spec, framework, executor.kind, behaviour)
                self._tasks[(fid, spec.task_id)] = task
                batch.append(task)
        if batch:
            self._clock.call_later(self.timings.start_delay, partial(self._start, fid, batch))

    def _kill_undelivered(self, task: _Task) -> None:
        """A KILL that reaches a task its executor has not started yet (Mesos' agent answers it)."""
        self._terminate(
            task,
            TaskState.TASK_KILLED,
            "Killed before delivery to the executor",
            reason="REASON_TASK_KILLED_DURING_LAUNCH",
            source=Source.SOURCE_AGENT,
        )

    def kill(self, framework_id: str, task_id: str, grace: float | None) -> None:
        task = self._tasks.get((framework_id, task_id))
        if task is None or task.state in TERMINAL or task.killing:
            return
        if not task.started:
            self._kill_undelivered(task)
            return
        for member in self._group_of(task):
            self._kill_one(member, grace)

    def shutdown_executor(self, framework_id: str, executor_id: str) -> None:
        ex = self._executors.get((framework_id, executor_id))
        if ex is None:
            return
        for task_id in sorted(ex.tasks):
            task = self._tasks.get((framework_id, task_id))
            if task is not None and task.state not in TERMINAL:
                self._terminate(task, TaskState.TASK_KILLED, "Executor shutdown", cascade=False)
        self._schedule_exit(ex, status=0, force=True)

    def shutdown_framework(self, framework_id: str) -> None:
        for key in [k for k in self._tasks if k[0] == framework_id]:
            self._cancel(self._tasks.pop(key))
        for key in [k for k in self._executors if k[0] == framework_id]:
            ex = self._executors.pop(key)
            if ex.exit_timer is not None:
                ex.exit_timer.cancel()

    def message(self, framework_id: str, executor_id: str, data: bytes) -> None:
        # Echo, so a framework can see its MESSAGE arrive (real executors do what they like).
        self._clock.call_later(0, lambda: self._listener.executor_message(framework_id, executor_id, data))

    def stop(self) -> None:
        for task in self._tasks.values():
            self._cancel(task)
        for ex in self._executors.values():
            if ex.exit_timer is not None:
                ex.exit_timer.cancel()
        self._tasks.clear()
        self._executors.clear()

    # -- timeline -------------------------------------------------------------------------------------

    def _start(self, fid: str, batch: list[_Task]) -> None:
        started: list[_Task] = []
        statuses: list[Status] = []
        tasks = self._tasks
        for task in batch:
            # A batched step applies to a task only while it is the runtime's task of that id (not
            # forgotten by a shutdown or stop, not replaced by a relaunch) and not killed meanwhile
            # (checked inline: this loop and the next run once per launched task).
            if (
                task.state in TERMINAL
                or task.killing
                or tasks.get((fid, task.spec.task_id)) is not task
                or task.behaviour.never_start
            ):
                continue
            task.started = True
            task.state = _STARTING
            started.append(task)
            # Every field, in order (new_record skips the NamedTuple's Python __new__): reason,
            # message, agent, executor, timestamp, uuid, healthy, unreachable_time unset (the
            # agent stamps what it adds).
            status: Status = new_record(
                Status,
                (task.spec.task_id, _STARTING, _EXECUTOR, None, None, None, None, None, None, None, None),
            )
            statuses.append(status)
        if not started:
            return
        self._listener.task_statuses(fid, statuses)
        self._clock.call_later(self.timings.running_delay, partial(self._run_batch, fid, started))

    def _run_batch(self, fid: str, batch: list[_Task]) -> None:
        running: list[_Task] = []
        statuses: list[Status] = []
        now = self._clock.monotonic()
        tasks = self._tasks
        for task in batch:
            if task.state in TERMINAL or task.killing or tasks.get((fid, task.spec.task_id)) is not task:
                continue
            task.running_since = now
            task.state = _RUNNING
            running.append(task)
            status: Status = new_record(  # as in _start
                Status,
                (task.spec.task_id, _RUNNING, _EXECUTOR, None, None, None, None, None, None, None, None),
            )
            statuses.append(status)
        if not running:
            return
        self._listener.task_statuses(fid, statuses)
        for task in running:
            spec = task.spec
            # Nothing follows TASK_RUNNING for a task without a script, deadline or health check.
            plain = task.behaviour is _PLAIN and spec.health_check is None
            if not plain or spec.max_completion_time is not None:
                self._after_running(task)

    def _after_running(self, task: _Task) -> None:
        """What follows TASK_RUNNING for a scripted task: its exit, loss, deadline or health checks."""
        b = task.behaviour
        if b.crash_loop:
            self._later(task, self.timings.crash_delay, lambda: self._exit(task, 1))
        if b.finish_after is not None:
            self._later(task, b.finish_after, lambda: self._exit(task, 0))
        if b.fail_after is not None:
            self._later(task, b.fail_after, lambda: self._exit(task, 1))
        if b.lost_after is not None:
            self._later(task, b.lost_after, lambda: self._lose(task))
        if task.spec.max_completion_time is not None:
            self._later(task, task.spec.max_completion_time, lambda: self._overdue(task))
        hc = task.spec.health_check
        if hc is not None:
            task.check_timer = self._clock.call_later(hc.delay, lambda: self._check(task))

    def _exit(self, task: _Task, code: int) -> None:
        if task.state in TERMINAL or task.killing:
            return
        state = TaskState.TASK_FINISHED if code == 0 else TaskState.TASK_FAILED
        self._terminate(task, state, f"Command exited with status {code}")

    def _lose(self, task: _Task) -> None:
        if task.state in TERMINAL:
            return
        state = TaskState.TASK_GONE if task.framework.partition_aware else TaskState.TASK_LOST
        self._terminate(
            task,
            state,
            "Executor terminated",
            reason="REASON_EXECUTOR_TERMINATED",
            source=Source.SOURCE_AGENT,
        )

    def _overdue(self, task: _Task) -> None:
        if task.state in TERMINAL or task.killing:
            return
        self._terminate(
            task,
            TaskState.TASK_FAILED,
            "Task exceeded its max completion time",
            reason="REASON_MAX_COMPLETION_TIME_REACHED",
        )

    def _bad_label(self, task: _Task, error: BehaviourError) -> None:
        self._terminate(task, TaskState.TASK_FAILED, f"harness: label {BEHAVIOUR_LABEL!r}: {error}")

    # -- health checks ------------------------------------------------------------------------------

    def _check(self, task: _Task) -> None:
        hc = task.spec.health_check
        if hc is None or task.state in TERMINAL or task.killing:
            return
        now = self._clock.monotonic()
        since = now - task.running_since
        after = task.behaviour.unhealthy_after
        if after is None or since < after:
            if task.initializing or task.failures > 0:
                self._emit(task, TaskState.TASK_RUNNING, healthy=True, reason=HEALTH_REASON)
            task.initializing = False
            task.failures = 0
        elif not (task.initializing and hc.grace_period > 0 and since <= hc.grace_period):
            task.failures += 1
            self._emit(task, TaskState.TASK_RUNNING, healthy=False, reason=HEALTH_REASON)
            if task.failures >= hc.consecutive_failures:
                task.unhealthy_kill = True
                for member in self._group_of(task):
                    self._kill_one(member, None)
                return
        task.check_timer = self._clock.call_later(hc.interval, lambda: self._check(task))

    # -- kill ----------------------------------------------------------------------------------------

    def _kill_one(self, task: _Task, grace: float | None) -> None:
        if task.state in TERMINAL or task.killing:
            return
        self._cancel(task)
        task.killing = True
        if not task.started:
            self._kill_undelivered(task)
            return
        if task.framework.killing_state:
            self._emit(task, TaskState.TASK_KILLING)
        if grace is None:
            grace = (
                task.spec.kill_grace if task.spec.kill_grace is not None else self.timings.default_kill_grace
            )
        stop = task.behaviour.stop_time
        message = (
            "Command terminated with signal Terminated"
            if stop <= grace
            else "Command terminated with signal Killed"
        )
        self._later(task, min(stop, grace), lambda: self._terminate(task, TaskState.TASK_KILLED, message))

    def _group_of(self, task: _Task) -> list[_Task]:
        """The tasks a kill takes down: the whole group under the default executor, else just this one."""
        if task.kind is not ExecutorKind.DEFAULT or not task.spec.group:
            return [task]
        fid = task.spec.framework_id
        members = [self._tasks.get((fid, tid)) for tid in task.spec.group]
        return [m for m in members if m is not None]

    # -- plumbing ------------------------------------------------------------------------------------

    def _terminate(
        self,
        task: _Task,
        state: TaskState,
        message: str,
        *,
        reason: str | None = None,
        source: Source = Source.SOURCE_EXECUTOR,
        cascade: bool = True,
    ) -> None:
        if task.state in TERMINAL:
            return
        self._cancel(task)
        healthy = False if task.unhealthy_kill else None
        self._emit(task, state, message=message, reason=reason, source=source, healthy=healthy)
        if not cascade:
            return
        if state in (TaskState.TASK_FAILED, TaskState.TASK_KILLED):
            # The default executor's restart policy: one task failing or killed takes the group down.
            for member in self._group_of(task):
                if member is not task:
                    self._kill_one(member, None)
        ex = self._executors.get((task.spec.framework_id, task.spec.executor_id))
        if ex is not None:
            self._schedule_exit(ex, status=0 if state is TaskState.TASK_FINISHED else 1)

    def _schedule_exit(self, ex: _Executor, status: int, force: bool = False) -> None:
        fid = ex.spec.framework_id
        live = [
            t
            for t in ex.tasks
            if (task := self._tasks.get((fid, t))) is not None and task.state not in TERMINAL
        ]
        if (live and not force) or ex.exit_timer is not None:
            return
        key = (fid, ex.spec.executor_id)

        def exit_now() -> None:
            if self._executors.get(key) is not ex:
                return
            del self._executors[key]
            for tid in ex.tasks:
                self._tasks.pop((fid, tid), None)
            self._listener.executor_exited(fid, ex.spec.executor_id, status)

        ex.exit_timer = self._clock.call_later(self.timings.executor_exit_delay, exit_now)

    def _emit(
        self,
        task: _Task,
        state: TaskState,
        *,
        message: str | None = None,
        reason: str | None = None,
        source: Source = Source.SOURCE_EXECUTOR,
        healthy: bool | None = None,
    ) -> None:
        task.state = state
        self._listener.task_status(
            task.spec.framework_id,
            Status(task.spec.task_id, state, source, reason=reason, message=message, healthy=healthy),
        )

    def _later(self, task: _Task, delay: float, callback: Callable[[], None]) -> None:
        timer = self._clock.call_later(delay, callback)
        if task.timers is None:
            task.timers = [timer]
        else:
            task.timers.append(timer)

    @staticmethod
    def _cancel(task: _Task) -> None:
        if task.timers is not None:
            for timer in task.timers:
                timer.cancel()
            task.timers = None
        if task.check_timer is not None:
            task.check_timer.cancel()
            task.check_timer = None
