"""The shared checks of same-shaped command tasks (harness/validation.py ShapeMemo) answer every
task exactly as the full checks do, and what accept.py reads once per shape for their TaskSpecs
is what each task would give.

Hypothesis draws a sequence of launches of tasks built from a few variants of every field the
checks read (environment types, values and secrets, health checks, kill policy, limits, resources
and their roles, container, executor) plus what differs between instances (id, agent, name,
labels, environment values), against contexts that differ in agent, role, ids in use and what
is left of the offer. One memo lives through the whole sequence, as VALID_SHAPES lives through
the process: every answer must equal the uncached one, whatever was memoised before.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.codec import SpecParts, inject_allocation_role, spec_parts
from harness.resources import EMPTY, Resources, parse_resources
from harness.validation import (
    LaunchContext,
    ShapeMemo,
    infer_health_check_type,
    launch_task_error,
    task_shape,
)
from proto.mesos.v1 import mesos_pb2

Variable = mesos_pb2.Environment.Variable
_PLENTY = parse_resources("cpus:4;mem:1024")


@dataclass(frozen=True)
class _Launch:
    task: mesos_pb2.TaskInfo
    agent: str
    role: str
    in_use: frozenset[str]
    remaining: Resources


def _add_env(task: mesos_pb2.TaskInfo, name: str, kind: str, value: str) -> None:
    variables = task.command.environment.variables
    match kind:
        case "value":
            variables.add(name=name, value=value, type=Variable.VALUE)
        case "empty":
            variables.add(name=name, value="", type=Variable.VALUE)
        case "missing":
            variables.add(name=name, type=Variable.VALUE)
        case "secret":
            variable = variables.add(name=name, type=Variable.SECRET)
            variable.secret.type = mesos_pb2.Secret.VALUE
            variable.secret.value.data = value.encode()
        case "secret-with-value":
            variable = variables.add(name=name, value=value, type=Variable.SECRET)
            variable.secret.type = mesos_pb2.Secret.VALUE
        case "unknown":
            variables.add(name=name, value=value)


def _add_resources(task: mesos_pb2.TaskInfo, kind: str, cpus: float) -> None:
    if kind == "none":
        return
    cpu = task.resources.add(name="cpus", type=mesos_pb2.Value.SCALAR)
    cpu.scalar.value = cpus
    mem = task.resources.add(name="mem", type=mesos_pb2.Value.SCALAR)
    mem.scalar.value = 64.0
    match kind:
        case "roled":
            cpu.allocation_info.role = "*"
            mem.allocation_info.role = "*"
        case "two-roles":
            cpu.allocation_info.role = "*"
            mem.allocation_info.role = "web"
        case "gpus":
            gpu = task.resources.add(name="gpus", type=mesos_pb2.Value.SCALAR)
            gpu.scalar.value = 0.5
        case _:
            pass


def _mostly(draw: st.DrawFn, good: str, *bad: str) -> str:
    """`good` seven times in eight: most drawn apps must be valid for the memo to be exercised."""
    return good if draw(st.integers(0, 7)) else draw(st.sampled_from(bad))


@st.composite
def _tasks(draw: st.DrawFn) -> mesos_pb2.TaskInfo:
    """One app's task: a few variants of every field the checks read, mostly valid ones."""
    task = mesos_pb2.TaskInfo(name="web")
    task.task_id.value = "t0"
    task.agent_id.value = "a1"
    _add_resources(
        task,
        draw(st.sampled_from(["plain", "roled"])) if draw(st.integers(0, 3)) else
        draw(st.sampled_from(["two-roles", "gpus", "none"])),
        draw(st.sampled_from([0.5, 1.0, 3.0])),
    )  # fmt: skip
    body = _mostly(draw, "command", "executor", "both", "neither")
    if body in ("command", "both"):
        task.command.value = "sleep 1"
        for _ in range(draw(st.integers(0, 3))):
            kind = _mostly(draw, "value", "empty", "missing", "secret", "secret-with-value", "unknown")
            _add_env(task, draw(st.sampled_from(["A", "B"])), kind, draw(st.sampled_from(["x", "y", ""])))
    if body in ("executor", "both"):
        task.executor.executor_id.value = "e1"
        task.executor.command.value = "run"
    grace = _mostly(draw, "unset", "-1", "0", "3000000000")
    if grace != "unset":
        task.kill_policy.grace_period.nanoseconds = int(grace)
    health = _mostly(draw, "none", "http", "bad-path", "untyped-command", "negative")
    match health:
        case "none":
            pass
        case "http":
            task.health_check.type = mesos_pb2.HealthCheck.HTTP
            task.health_check.http.port = 80
        case "bad-path":
            task.health_check.type = mesos_pb2.HealthCheck.HTTP
            task.health_check.http.path = "health"
        case "untyped-command":
            task.health_check.command.value = "true"
        case _:
            task.health_check.type = mesos_pb2.HealthCheck.TCP
            task.health_check.tcp.port = 80
            task.health_check.interval_seconds = -1.0
    limit = _mostly(draw, "unset", "0.1", "10")
    if limit != "unset":
        task.limits["cpus"].value = float(limit)
    container = _mostly(draw, "unset", "docker", "docker-without-info")
    if container != "unset":
        task.container.type = mesos_pb2.ContainerInfo.DOCKER
        if container == "docker":
            task.container.docker.image = "nginx"
    return task


@st.composite
def _instance(draw: st.DrawFn, bases: list[mesos_pb2.TaskInfo]) -> mesos_pb2.TaskInfo:
    """Another instance of one of the drawn apps: what differs between instances redrawn, and
    sometimes one variable's value dropped (a change of shape the memo must not miss)."""
    task = mesos_pb2.TaskInfo()
    task.CopyFrom(draw(st.sampled_from(bases)))
    task.name = draw(st.sampled_from(["web", "web.1", "other"]))
    task.task_id.value = _mostly(draw, f"t{draw(st.integers(0, 9))}", "used", "bad/id", "")
    task.agent_id.value = _mostly(draw, "a1", "a2")
    task.labels.labels.add(key="slot", value=draw(st.sampled_from(["1", "2"])))
    for variable in task.command.environment.variables:
        if variable.HasField("value"):
            if draw(st.integers(0, 5)) == 0:
                variable.ClearField("value")
            else:
                variable.value = draw(st.sampled_from(["x", "y", ""]))
    return task


@st.composite
def _launches(draw: st.DrawFn) -> list[_Launch]:
    bases = draw(st.lists(_tasks(), min_size=1, max_size=3))
    return draw(
        st.lists(
            st.builds(
                _Launch,
                task=_instance(bases),
                agent=st.sampled_from(["a1", "a1", "a1", "a2"]),
                role=st.sampled_from(["*", "*", "*", "web"]),
                in_use=st.sampled_from([frozenset(), frozenset({"used"}), frozenset({"t1", "used"})]),
                remaining=st.sampled_from([_PLENTY, _PLENTY, parse_resources("cpus:1;mem:1024"), EMPTY]),
            ),
            min_size=1,
            max_size=12,
        )
    )


def _context(launch: _Launch) -> LaunchContext:
    in_use = launch.in_use
    return LaunchContext(
        "f1", launch.agent, launch.role, lambda tid: "active" if tid in in_use else None, lambda eid: None
    )


def _normalised(task: mesos_pb2.TaskInfo, role: str) -> mesos_pb2.TaskInfo:
    """What accept._normalise_task does to a command task before it is checked (on a copy)."""
    copy = mesos_pb2.TaskInfo()
    copy.CopyFrom(task)
    inject_allocation_role(copy.resources, role)
    infer_health_check_type(copy)
    return copy


@settings(max_examples=400, deadline=None)
@given(_launches())
def test_memoised_checks_answer_as_the_full_checks(launches: list[_Launch]) -> None:
    memo = ShapeMemo()
    parts: dict[bytes, SpecParts] = {}  # as accept._SPEC_PARTS: what a TaskSpec reads, per shape
    for launch in launches:
        ctx = _context(launch)
        shape = task_shape(launch.task)  # before normalising, as accept._apply takes it
        normalised = _normalised(launch.task, launch.role)
        # accept._apply normalises only the tasks the memo does not know.
        checked_in_full = launch.task.HasField("executor") or memo.get(shape, launch.role) is None
        task = normalised if checked_in_full else launch.task
        cached = launch_task_error(task, ctx, launch.remaining, memo, shape)
        assert cached == launch_task_error(normalised, ctx, launch.remaining)
        assert parts.setdefault(shape, spec_parts(launch.task)) == spec_parts(normalised)


def test_instances_differing_in_id_agent_labels_and_env_values_share_one_shape() -> None:
    tasks = []
    for i, agent in enumerate(["a1", "a2"]):
        task = mesos_pb2.TaskInfo(name=f"web.{i}")
        task.task_id.value = f"web.{i}"
        task.agent_id.value = agent
        task.command.value = "serve"
        task.command.environment.variables.add(name="GANTRY_TASK_ID", value=f"web.{i}", type=Variable.VALUE)
        task.labels.labels.add(key="slot", value=str(i))
        tasks.append(task)
    assert task_shape(tasks[0]) == task_shape(tasks[1])
    unset = mesos_pb2.TaskInfo()
    unset.CopyFrom(tasks[0])
    unset.command.environment.variables[0].ClearField("value")  # presence is checked: another shape
    assert task_shape(unset) != task_shape(tasks[0])


def test_the_memo_is_bounded() -> None:
    memo = ShapeMemo(limit=2)
    for i in range(5):
        memo.add(bytes([i]), "*", parse_resources("cpus:1"))
        assert len(memo) <= 2
    assert memo.get(bytes([4]), "*") == parse_resources("cpus:1")
    assert memo.get(bytes([4]), "web") is None
