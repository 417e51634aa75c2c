"""What the real master rejects, in the order it checks, with its wording.

Pure functions over protobuf messages, each returning an error message or None. They follow
src/master/validation.cpp and src/common/validation.cpp of Apache Mesos 1.x (read for facts,
re-expressed here): scheduler call validation, FrameworkInfo validation, and the per-task,
per-executor and per-task-group checks of LAUNCH and LAUNCH_GROUP.

The master (harness/master.py, harness/accept.py) decides what an error leads to: a 400, an
ERROR event, or TASK_ERROR updates. Nothing here has side effects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from harness.codec import resource_error, resources_from_proto
from harness.resources import EMPTY, Resources, to_fixed
from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

# The message class carries the enum values as plain class attributes; going through the
# EnumTypeWrapper (scheduler_pb2.Call.Type.X) costs a __getattr__ call, ~2 us, per comparison.
CallType = scheduler_pb2.Call
MIN_CPUS = 10  # 0.01 cpus, thousandths
MIN_MEM = 32_000  # 32 MB, thousandths
NAME_MAX = 255
# Whitespace and backspace: characters a role component may not contain.
_SCALAR = mesos_pb2.Value.SCALAR
_ROLE_BAD_CHARS = frozenset("\t\n\v\f\r \b")
_BAD_ID_CHAR = re.compile(r"[/\\\x00-\x1f\x7f]")  # what validateID refuses: slashes, control characters

# Calls other than SUBSCRIBE that must carry their sub-message (and its name in the error).
_SUBMESSAGE = {
    CallType.ACCEPT: "accept",
    CallType.DECLINE: "decline",
    CallType.ACCEPT_INVERSE_OFFERS: "accept_inverse_offers",
    CallType.DECLINE_INVERSE_OFFERS: "decline_inverse_offers",
    CallType.KILL: "kill",
    CallType.SHUTDOWN: "shutdown",
    CallType.ACKNOWLEDGE: "acknowledge",
    CallType.ACKNOWLEDGE_OPERATION_STATUS: "acknowledge_operation_status",
    CallType.RECONCILE: "reconcile",
    CallType.RECONCILE_OPERATIONS: "reconcile_operations",
    CallType.MESSAGE: "message",
    CallType.REQUEST: "request",
    CallType.UPDATE_FRAMEWORK: "update_framework",
}


def validate_id(value: str) -> str | None:
    """common::validation::validateID (task, executor, framework and agent ids)."""
    if not value:
        return "ID must not be empty"
    if len(value) > NAME_MAX:
        return f"ID must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if _BAD_ID_CHAR.search(value):
        return f"'{value}' contains invalid characters"
    return None


def validate_role(role: str) -> str | None:
    """roles::validate."""
    if role == "*":
        return None
    if role.startswith("/"):
        return f"Role '{role}' cannot start with a slash"
    if role.endswith("/"):
        return f"Role '{role}' cannot end with a slash"
    if "//" in role:
        return f"Role '{role}' cannot contain two adjacent slashes"
    components = [c for c in role.split("/") if c]
    if not components:
        return "Role names cannot be the empty string"
    for component in components:
        if component in (".", "..", "*"):
            return f"Role '{role}' cannot include '{component}' as a component"
        if component.startswith("-"):
            return f"Role component '{component}' is invalid because it starts with a dash"
        if any(c in _ROLE_BAD_CHARS for c in component):
            return f"Role component '{component}' is invalid because it contains backspace or whitespace"
    return None


def _uuid_error(uuid: bytes) -> str | None:
    if len(uuid) != 16:
        return f"Invalid UUID: expected 16 bytes, got {len(uuid)}"
    return None


def validate_call(call: scheduler_pb2.Call) -> str | None:
    """validation::scheduler::call::validate (step 6 of the handler; a 400 when it fails)."""
    if not call.HasField("type"):
        return "Expecting 'type' to be present"
    kind = call.type
    if kind == CallType.SUBSCRIBE:
        if not call.HasField("subscribe"):
            return "Expecting 'subscribe' to be present"
        # Mesos compares FrameworkIDs by value: unset and "" are the same id.
        if call.subscribe.framework_info.id.value != call.framework_id.value:
            return "'framework_id' differs from 'subscribe.framework_info.id'"
        return None
    if not call.HasField("framework_id"):
        return "Expecting 'framework_id' to be present"
    field = _SUBMESSAGE.get(kind)
    if field is not None and not call.HasField(field):  # type: ignore[arg-type]
        return f"Expecting '{field}' to be present"
    if kind == CallType.ACKNOWLEDGE:
        return _uuid_error(call.acknowledge.uuid)
    if kind == CallType.ACKNOWLEDGE_OPERATION_STATUS:
        error = _uuid_error(call.acknowledge_operation_status.uuid)
        if error is not None:
            return error
        if not call.acknowledge_operation_status.HasField("agent_id"):
            return "Expecting 'agent_id' to be present"
    if (
        kind == CallType.UPDATE_FRAMEWORK
        and call.update_framework.framework_info.id.value != call.framework_id.value
    ):
        return "'framework_id' differs from 'update_framework.framework_info.id'"
    return None


# -- frameworks -------------------------------------------------------------------------------------


def capabilities(info: mesos_pb2.FrameworkInfo) -> frozenset[str]:
    names = mesos_pb2.FrameworkInfo.Capability.Type.Name
    return frozenset(names(c.type) for c in info.capabilities if c.HasField("type"))


def framework_roles(info: mesos_pb2.FrameworkInfo) -> set[str]:
    if "MULTI_ROLE" in capabilities(info):
        return set(info.roles)
    return {info.role}


def validate_framework(info: mesos_pb2.FrameworkInfo, is_removed: Callable[[str], bool]) -> str | None:
    """validation::framework::validate plus the master's own checks (Master::validateFramework)."""
    multi_role = "MULTI_ROLE" in capabilities(info)
    if multi_role and info.HasField("role"):
        return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    if not multi_role and len(info.roles) > 0:
        return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    if multi_role:
        seen: set[str] = set()
        duplicates = sorted({r for r in info.roles if r in seen or seen.add(r)})  # type: ignore[func-returns-value]
        if duplicates:
            return "'FrameworkInfo.roles' contains duplicate items: { " + ", ".join(duplicates) + " }"
        for role in info.roles:
            error = validate_role(role)
            if error is not None:
                return f"'FrameworkInfo.roles' contains invalid role: {error}"
    else:
        error = validate_role(info.role)
        if error is not None:
            return f"'FrameworkInfo.role' is not a valid role: {error}"
    if info.HasField("id") and info.id.value:
        error = validate_id(info.id.value)
        if error is not None:
            return error
    timeout = info.failover_timeout
    # Duration::create fails for values that do not fit in int64 nanoseconds (and NaN).
    if timeout != timeout or abs(timeout) * 1e9 >= 2**63:
        return f"The framework failover_timeout ({timeout:g}) is invalid"
    if info.HasField("id") and is_removed(info.id.value):
        return "Framework has been removed"
    return None


def validate_allocator_options(
    roles: set[str], suppressed: Iterable[str], constraints: scheduler_pb2.OfferConstraints | None
) -> str | None:
    """createAllocatorFrameworkOptions: suppressed roles and offer constraints must name known roles."""
    outside = sorted(set(suppressed) - roles)
    if outside:
        return "Suppressed roles { " + ", ".join(outside) + " } are not contained in the set of roles"
    if constraints is not None:
        for role in constraints.role_constraints:
            if role not in roles:
                return (
                    f"Offer constraints specify `role_constraints` for a role '{role}'"
                    "not contained in the set of roles"
                )
    return None


def validate_update(old: mesos_pb2.FrameworkInfo, new: mesos_pb2.FrameworkInfo) -> str | None:
    """validation::framework::validateUpdate (UPDATE_FRAMEWORK; SUBSCRIBE keeps user/checkpoint first)."""
    old_p = old.principal if old.HasField("principal") else None
    new_p = new.principal if new.HasField("principal") else None
    if old_p != new_p:
        return "Changing framework's principal is not allowed."
    if new.user != old.user:
        return (
            "Updating 'FrameworkInfo.user' is unsupported"
            f"; attempted to update from '{old.user}' to '{new.user}'"
        )
    if new.checkpoint != old.checkpoint:
        return (
            "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update"
            f" from '{str(old.checkpoint).lower()}' to '{str(new.checkpoint).lower()}'"
        )
    return None


# -- launches ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """What task validation needs to know about the framework and the agent."""

    framework_id: str
    agent_id: str
    role: str
    task_id_in_use: Callable[[str], str | None]  # "active" / "unreachable" / None
    executor_identity: Callable[[str], bytes | None]  # serialized ExecutorInfo running on the agent


def executor_identity(executor: mesos_pb2.ExecutorInfo) -> bytes:
    return executor.SerializeToString(deterministic=True)


def operation_resource_error(
    tasks: Sequence[mesos_pb2.TaskInfo],
    executor: mesos_pb2.ExecutorInfo | None,
    shapes: Sequence[bytes] | None = None,
) -> str | None:
    """validateAndUpgradeResources: every Resource of the operation must be well-formed.

    `shapes` (the tasks' task_shape) lets a task shaped like an earlier one be skipped: it
    carries the same resources, so it cannot hold the first error."""
    groups = [executor.resources] if executor is not None else []
    seen: set[bytes] = set()
    for i, task in enumerate(tasks):
        if shapes is not None:
            if shapes[i] in seen:
                continue
            seen.add(shapes[i])
        groups.append(task.resources)
        if task.HasField("executor"):
            groups.append(task.executor.resources)
    for group in groups:
        for resource in group:
            key = resource.SerializeToString()
            error = _CHECKED.get(key, _UNCHECKED)
            if error is _UNCHECKED:
                error = resource_error(resource)
                if error is None and not len(resource.reservations):
                    error = validate_role(resource.role)
                if len(_CHECKED) >= 4096:
                    _CHECKED.clear()
                _CHECKED[key] = error
            if error is not None:
                return error
    return None


# The checks above are a pure function of the Resource's bytes, and every task of an app carries
# the same few: their verdicts are remembered (bounded, cleared when full).
_UNCHECKED = "unchecked"
_CHECKED: dict[bytes, str | None] = {}


def infer_health_check_type(task: mesos_pb2.TaskInfo) -> None:
    """The master fills in a missing health check type from `command` xor `http` (v0/v1 compatibility)."""
    if not task.HasField("health_check") or task.health_check.HasField("type"):
        return
    hc = task.health_check
    if hc.HasField("command") and not hc.HasField("http"):
        hc.type = mesos_pb2.HealthCheck.COMMAND
    elif hc.HasField("http") and not hc.HasField("command"):
        hc.type = mesos_pb2.HealthCheck.HTTP


def _duration_negative(d: mesos_pb2.DurationInfo) -> bool:
    return d.nanoseconds < 0


def _health_check_error(hc: mesos_pb2.HealthCheck) -> str | None:
    if not hc.HasField("type"):
        return "HealthCheck must specify 'type'"
    kind = hc.type
    if kind == mesos_pb2.HealthCheck.COMMAND:
        if not hc.HasField("command"):
            return "Expecting 'command' to be set for COMMAND health check"
        if not hc.command.HasField("value"):
            kind_name = "'shell command'" if hc.command.shell else "'executable path'"
            return f"Command health check must contain {kind_name}"
        error = _command_error(hc.command)
        if error is not None:
            return f"Health check's `CommandInfo` is invalid: {error}"
    elif kind == mesos_pb2.HealthCheck.HTTP:
        if not hc.HasField("http"):
            return "Expecting 'http' to be set for HTTP health check"
        if hc.http.HasField("scheme") and hc.http.scheme not in ("http", "https"):
            return f"Unsupported HTTP health check scheme: '{hc.http.scheme}'"
        if hc.http.HasField("path") and not hc.http.path.startswith("/"):
            return f"The path '{hc.http.path}' of HTTP health check must start with '/'"
    elif kind == mesos_pb2.HealthCheck.TCP:
        if not hc.HasField("tcp"):
            return "Expecting 'tcp' to be set for TCP health check"
    else:
        return f"'{mesos_pb2.HealthCheck.Type.Name(kind)}' is not a valid health check type"
    for name in ("delay_seconds", "grace_period_seconds", "interval_seconds", "timeout_seconds"):
        if hc.HasField(name) and getattr(hc, name) < 0:
            return f"Expecting '{name}' to be non-negative"
    return None


def _check_error(check: mesos_pb2.CheckInfo) -> str | None:
    if not check.HasField("type"):
        return "CheckInfo must specify 'type'"
    kind = check.type
    if kind == mesos_pb2.CheckInfo.COMMAND:
        if not check.HasField("command"):
            return "Expecting 'command' to be set for COMMAND check"
        if not check.command.command.HasField("value"):
            kind_name = "'shell command'" if check.command.command.shell else "'executable path'"
            return f"Command check must contain {kind_name}"
    elif kind == mesos_pb2.CheckInfo.HTTP:
        if not check.HasField("http"):
            return "Expecting 'http' to be set for HTTP check"
        if check.http.HasField("path") and not check.http.path.startswith("/"):
            return f"The path '{check.http.path}' of HTTP check must start with '/'"
    elif kind == mesos_pb2.CheckInfo.TCP:
        if not check.HasField("tcp"):
            return "Expecting 'tcp' to be set for TCP check"
    else:
        return f"'{mesos_pb2.CheckInfo.Type.Name(kind)}' is not a valid check type"
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds"):
        if check.HasField(name) and getattr(check, name) < 0:
            return f"Expecting '{name}' to be non-negative"
    return None


def _command_error(command: mesos_pb2.CommandInfo) -> str | None:
    for var in command.environment.variables:
        kind = var.type
        if kind == mesos_pb2.Environment.Variable.VALUE:
            if not var.HasField("value"):
                return f"Environment variable '{var.name}' of type 'VALUE' must have a value set"
            if var.HasField("secret"):
                return f"Environment variable '{var.name}' of type 'VALUE' must not have a secret set"
        elif kind == mesos_pb2.Environment.Variable.SECRET:
            if not var.HasField("secret"):
                return f"Environment variable '{var.name}' of type 'SECRET' must have a secret set"
            if var.HasField("value"):
                return f"Environment variable '{var.name}' of type 'SECRET' must not have a value set"
        else:
            return "Environment variable of type 'UNKNOWN' is not allowed"
    return None


def _container_error(container: mesos_pb2.ContainerInfo) -> str | None:
    for volume in container.volumes:
        count = sum(volume.HasField(f) for f in ("host_path", "image", "source"))
        if count != 1:
            return "Invalid volume: Only one of them should be set: 'host_path', 'image' and 'source'"
    if container.type == mesos_pb2.ContainerInfo.DOCKER:
        if not container.HasField("docker"):
            return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
        if any(p.key == "name" for p in container.docker.parameters):
            return "Parameter in DockerInfo must not be 'name'"
    return None


def _limits_error(task: mesos_pb2.TaskInfo) -> str | None:
    limits = task.limits
    if not len(limits):
        return None
    if set(limits) - {"cpus", "mem"}:
        return "Only cpus and mem may be included in a task's resource limits"
    requested = resources_from_proto(task.resources, "*")
    for name, noun in (("cpus", "CPU"), ("mem", "memory")):
        if name not in limits:
            continue
        if name not in requested.scalars:
            return f"When a {noun} limit is specified, a {noun} request must also be specified"
        limit = limits[name].value
        if limit != float("inf") and to_fixed(limit) < requested.scalars[name]:
            what = "cpu" if name == "cpus" else "memory"
            return f"The {what} limit must be greater than or equal to the {what} request"
    return None


def _task_id_error(task: mesos_pb2.TaskInfo, ctx: LaunchContext) -> str | None:
    """The first of validateTask's checks: the id itself, and no other task of the framework's."""
    tid = task.task_id.value
    error = validate_id(tid)
    if error is not None:
        return error
    in_use = ctx.task_id_in_use(tid)
    if in_use == "active":
        return f"Task has duplicate ID: {tid}"
    if in_use == "unreachable":
        return f"Task reuses the ID of an unreachable task: {tid}"
    return None


def _agent_error(task: mesos_pb2.TaskInfo, ctx: LaunchContext) -> str | None:
    if task.agent_id.value != ctx.agent_id:
        return f"Task uses invalid agent {task.agent_id.value} while agent {ctx.agent_id} is expected"
    return None


def validate_task(task: mesos_pb2.TaskInfo, ctx: LaunchContext) -> str | None:
    """task::internal::validateTask: the checks every task passes, LAUNCH or LAUNCH_GROUP."""
    error = _task_id_error(task, ctx)
    if error is not None:
        return error
    error = _agent_error(task, ctx)
    if error is not None:
        return error
    if (
        task.HasField("kill_policy")
        and task.kill_policy.HasField("grace_period")
        and _duration_negative(task.kill_policy.grace_period)
    ):
        return "Task's 'kill_policy.grace_period' must be non-negative"
    if task.HasField("max_completion_time") and _duration_negative(task.max_completion_time):
        return "Task's `max_completion_time` must be non-negative"
    if task.HasField("check"):
        error = _check_error(task.check)
        if error is not None:
            return f"Task uses invalid check: {error}"
    if task.HasField("health_check"):
        error = _health_check_error(task.health_check)
        if error is not None:
            return f"Task uses invalid health check: {error}"
    resources = task.resources
    if not len(resources):
        return "Task uses no resources"
    # One pass for the gpus amount and the allocation roles (checked in that order).
    gpus = 0
    roles: set[str] = set()
    for r in resources:
        if r.name == "gpus" and r.type == _SCALAR:
            gpus += to_fixed(r.scalar.value)
        if r.HasField("allocation_info"):
            roles.add(r.allocation_info.role)
    if gpus % 1000:
        return (
            "Task uses invalid resources: Invalid 'gpus' resource:"
            " The 'gpus' resource must be an unsigned integer"
        )
    if len(roles) > 1:
        return "Invalid task resources: Expecting resources to be allocated to a single role"
    if task.HasField("command"):
        error = _command_error(task.command)
        if error is not None:
            return f"Task's `CommandInfo` is invalid: {error}"
    if task.HasField("container"):
        error = _container_error(task.container)
        if error is not None:
            return f"Task's `ContainerInfo` is invalid: {error}"
    return _limits_error(task)


def _executor_error(executor: mesos_pb2.ExecutorInfo, ctx: LaunchContext) -> str | None:
    """executor::internal::validate: type, id, grace, command, container, framework id, identity."""
    kind = executor.type
    if kind == mesos_pb2.ExecutorInfo.DEFAULT:
        if executor.HasField("command"):
            return "'ExecutorInfo.command' must not be set for 'DEFAULT' executor"
        if executor.HasField("container"):
            if executor.container.type != mesos_pb2.ContainerInfo.MESOS:
                return "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor"
            if executor.container.mesos.HasField("image"):
                return "'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor"
    elif kind == mesos_pb2.ExecutorInfo.CUSTOM and not executor.HasField("command"):
        return "'ExecutorInfo.command' must be set for 'CUSTOM' executor"
    error = validate_id(executor.executor_id.value)
    if error is not None:
        return error
    if executor.HasField("shutdown_grace_period") and _duration_negative(executor.shutdown_grace_period):
        return "ExecutorInfo's 'shutdown_grace_period' must be non-negative"
    if executor.HasField("command"):
        error = _command_error(executor.command)
        if error is not None:
            return f"Executor's `CommandInfo` is invalid: {error}"
    if executor.HasField("container"):
        error = _container_error(executor.container)
        if error is not None:
            return f"Executor's `ContainerInfo` is invalid: {error}"
    if not executor.HasField("framework_id"):
        return "'ExecutorInfo.framework_id' must be set"
    if executor.framework_id.value != ctx.framework_id:
        return (
            f"ExecutorInfo has an invalid FrameworkID (Actual: {executor.framework_id.value}"
            f" vs Expected: {ctx.framework_id})"
        )
    roles = {r.allocation_info.role for r in executor.resources if r.HasField("allocation_info")}
    if len(roles) > 1:
        return "Invalid executor resources: Expecting resources to be allocated to a single role"
    existing = ctx.executor_identity(executor.executor_id.value)
    if existing is not None and existing != executor_identity(executor):
        return "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID."
    return None


def task_shape(task: mesos_pb2.TaskInfo) -> bytes:
    """The task without what differs between the instances of one app: id, name, labels, agent
    id and the values of its command's environment variables (their names, types and presence
    stay). Two tasks of one shape pass or fail every check but the id, agent and fit checks
    alike: nothing else a LAUNCH task is checked for reads those fields."""
    shape = mesos_pb2.TaskInfo()
    shape.CopyFrom(task)
    shape.ClearField("task_id")
    shape.ClearField("name")
    shape.ClearField("labels")
    shape.ClearField("agent_id")
    # Gantry-like schedulers put the task id, instance and ports in the environment: only the
    # presence of a value is ever checked. Non-empty values become "" (still present in proto2);
    # empty and absent ones stay as they are (reading the value is cheaper than HasField).
    for variable in shape.command.environment.variables:
        if variable.value:
            variable.value = ""
    return shape.SerializePartialToString()


class ShapeMemo:
    """Command task shapes found valid (task_shape, before normalising) with the role they were
    launched for: the resources such a task consumes.

    Every check of a command task but the id, agent and fit checks is a pure function of its
    normalised shape, and normalising (allocation role, health check type) is a pure function of
    the shape and the role, so the verdict holds for every later task of that shape and role,
    in any ACCEPT. Bounded: cleared when full (an app's tasks repeat a handful of shapes)."""

    __slots__ = ("_limit", "_valid")

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._valid: dict[tuple[bytes, str], Resources] = {}

    def get(self, shape: bytes, role: str) -> Resources | None:
        return self._valid.get((shape, role))

    def add(self, shape: bytes, role: str, resources: Resources) -> None:
        if len(self._valid) >= self._limit:
            self._valid.clear()
        self._valid[(shape, role)] = resources

    def __len__(self) -> int:
        return len(self._valid)


def launch_task_error(
    task: mesos_pb2.TaskInfo,
    ctx: LaunchContext,
    remaining: Resources,
    shapes: ShapeMemo | None = None,
    shape: bytes | None = None,
) -> tuple[str | None, Resources, Resources]:
    """A LAUNCH task: (error, resources it consumes including a new executor's, its own resources).

    With `shapes`, a command task shaped like one already found valid for this role (the usual
    case: N instances of one app) gets only the checks that can differ, in their place in
    Mesos' order: its id first, then its agent, the fit after everything else. Tasks with an
    ExecutorInfo always get every check (the executors already launched change what they are
    checked against). `shape` is the task's task_shape when the caller has it, taken before
    normalising (as the memo's keys are).
    """
    key = None
    if shapes is not None and not task.HasField("executor"):
        key = shape if shape is not None else task_shape(task)
        known = shapes.get(key, ctx.role)
        if known is not None:
            error, _ = known_shape_launch(task, ctx, remaining, known)
            return (error, EMPTY, EMPTY) if error is not None else (None, known, known)
    error, total, own = _launch_task_error(task, ctx, remaining)
    if error is None and key is not None and shapes is not None:
        shapes.add(key, ctx.role, own)
    return error, total, own


def known_shape_launch(
    task: mesos_pb2.TaskInfo, ctx: LaunchContext, remaining: Resources, known: Resources
) -> tuple[str | None, Resources]:
    """The checks left for a command task whose shape a ShapeMemo holds for this role (`known`:
    the resources it consumes), in Mesos' order: id, agent, then the fit. Returns (error, what
    is left of `remaining` once the task has taken its resources; `remaining` on an error).
    launch_task_error answers memoised tasks through this; accept.py calls it directly when it
    has looked the memo up itself."""
    error = _task_id_error(task, ctx)
    if error is None:
        error = _agent_error(task, ctx)
    if error is not None:
        return error, remaining
    left = remaining.take(known)
    if left is None:
        return (
            f"Total resources {known} required by task and its executor is more than available {remaining}",
            remaining,
        )
    return None, left


def _launch_task_error(
    task: mesos_pb2.TaskInfo, ctx: LaunchContext, remaining: Resources
) -> tuple[str | None, Resources, Resources]:
    error = validate_task(task, ctx)
    if error is not None:
        return error, EMPTY, EMPTY
    if task.HasField("executor") == task.HasField("command"):
        return (
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
            EMPTY,
            EMPTY,
        )
    task_resources = resources_from_proto(task.resources, ctx.role)
    total = task_resources
    if task.HasField("executor"):
        executor = task.executor
        error = _executor_error(executor, ctx)
        if error is not None:
            return error, EMPTY, EMPTY
        if executor.HasField("type") and executor.type != mesos_pb2.ExecutorInfo.CUSTOM:
            return "'ExecutorInfo.type' must be 'CUSTOM'", EMPTY, EMPTY
        if not executor.HasField("command"):
            return "'ExecutorInfo.command' must be set", EMPTY, EMPTY
        linux = executor.container.linux_info
        if executor.HasField("container") and linux.HasField("share_cgroups") and linux.share_cgroups:
            return "The 'share_cgroups' field cannot be set to 'true' on executor containers", EMPTY, EMPTY
        executor_resources = resources_from_proto(executor.resources, ctx.role)
        if task_resources.overlaps(executor_resources):
            return (
                f"There are overlapping resources in the task resources {task_resources}"
                f" and executor resources {executor_resources}",
                EMPTY,
                EMPTY,
            )
        if ctx.executor_identity(executor.executor_id.value) is None:
            total = total + executor_resources
    if not remaining.contains(total):
        return (
            f"Total resources {total} required by task and its executor is more than available {remaining}",
            EMPTY,
            EMPTY,
        )
    if (
        task.HasField("container")
        and task.container.linux_info.HasField("share_cgroups")
        and not task.container.linux_info.share_cgroups
    ):
        return "Only tasks in a task group may have 'share_cgroups' set to 'false'", EMPTY, EMPTY
    return None, total, task_resources


def launch_group_error(
    executor: mesos_pb2.ExecutorInfo,
    tasks: list[mesos_pb2.TaskInfo],
    ctx: LaunchContext,
    remaining: Resources,
) -> tuple[str | None, Resources]:
    """A LAUNCH_GROUP (atomic): (error for every task, resources the group consumes)."""
    seen: set[str] = set()
    for task in tasks:
        error = validate_task(task, ctx)
        if error is None and task.task_id.value in seen:
            error = f"Task has duplicate ID: {task.task_id.value}"
        seen.add(task.task_id.value)
        if error is None:
            error = _group_task_error(task)
        if error is not None:
            return f"Task '{task.task_id.value}' is invalid: {error}", EMPTY
    error = _executor_error(executor, ctx)
    if error is not None:
        return error, EMPTY
    eid = executor.executor_id.value
    if not executor.HasField("type"):
        return "'ExecutorInfo.type' must be set", EMPTY
    if executor.type == mesos_pb2.ExecutorInfo.UNKNOWN:
        return "Unknown executor type", EMPTY
    if executor.HasField("container") and executor.container.type == mesos_pb2.ContainerInfo.DOCKER:
        return "Docker ContainerInfo is not supported on the executor", EMPTY
    for task in tasks:
        if task.HasField("executor") and executor_identity(task.executor) != executor_identity(executor):
            return (
                f"The `ExecutorInfo` of task '{task.task_id.value}' is different from executor '{eid}'",
                EMPTY,
            )
    executor_resources = resources_from_proto(executor.resources, ctx.role)
    cpus = executor_resources.scalars.get("cpus")
    if cpus is None or cpus < MIN_CPUS:
        shown = "None" if cpus is None else f"{cpus / 1000:g}"
        return f"Executor '{eid}' uses less CPUs ({shown}) than the minimum required (0.01)", EMPTY
    mem = executor_resources.scalars.get("mem")
    if mem is None or mem < MIN_MEM:
        shown = "None" if mem is None else f"{mem / 1000:g}MB"
        return f"Executor '{eid}' uses less memory ({shown}) than the minimum required (32MB)", EMPTY
    if "disk" not in executor_resources.scalars:
        return f"Executor '{eid}' uses no disk", EMPTY
    task_resources = [resources_from_proto(t.resources, ctx.role) for t in tasks]
    every = [*task_resources, executor_resources]
    for i, a in enumerate(every):
        if any(a.overlaps(b) for b in every[i + 1 :]):
            return (
                "There are overlapping resources in the task group's task resources"
                " and/or executor resources",
                EMPTY,
            )
    total = EMPTY
    for r in task_resources:
        total = total + r
    if ctx.executor_identity(eid) is None:
        total = total + executor_resources
    if not remaining.contains(total):
        return (
            f"Total resources {total} required by task group and its executor"
            f" are more than available {remaining}",
            EMPTY,
        )
    if executor.HasField("command"):
        error = _command_error(executor.command)
        if error is not None:
            return f"Executor '{eid}'contains an invalid command: {error}", EMPTY
    linux = executor.container.linux_info
    if executor.HasField("container") and linux.HasField("share_cgroups") and linux.share_cgroups:
        return "The 'share_cgroups' field cannot be set to 'true' on executor containers", EMPTY
    return None, total


def _group_task_error(task: mesos_pb2.TaskInfo) -> str | None:
    if not task.HasField("executor"):
        return "'TaskInfo.executor' must be set"
    if task.HasField("container"):
        network_check = task.health_check.type in (mesos_pb2.HealthCheck.HTTP, mesos_pb2.HealthCheck.TCP)
        if len(task.container.network_infos) and task.HasField("health_check") and network_check:
            return (
                "HTTP and TCP health checks are not supported for nested containers"
                " not joining parent's network"
            )
        if task.container.type == mesos_pb2.ContainerInfo.DOCKER:
            return "Docker ContainerInfo is not supported on the task"
    container = task.container
    shares = not (
        task.HasField("container")
        and container.HasField("linux_info")
        and not container.linux_info.share_cgroups
    )
    if len(task.limits) and shares:
        return (
            "Resource limits may only be set for tasks within a task group when the 'share_cgroups'"
            " field is set to 'false'."
        )
    return None
