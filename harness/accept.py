"""ACCEPT and DECLINE: what happens to offers and to the tasks a framework launches on them.

Order of events, as in Master::accept/_accept:
1. Offer-level validation of the whole call (non-empty, no duplicates, all valid, all ours, one
   role, one agent). Failure: every task of every LAUNCH/LAUNCH_GROUP gets TASK_LOST (TASK_DROPPED
   for PARTITION_AWARE) with REASON_INVALID_OFFERS from the master, no uuid; listed offers that
   still existed are discarded without a filter.
2. The offers are consumed. Operations run in order against the *remaining* offered resources:
   a task that does not fit, or fails any check, gets TASK_ERROR on its own (a LAUNCH_GROUP fails
   as a whole); earlier valid tasks keep their resources.
3. Whatever is left is declined implicitly with the ACCEPT's filters (default 5 s).

Master-generated updates never carry a uuid, so they are never acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from harness import codec
from harness.books import AgentState, Framework
from harness.master import Master
from harness.model import ExecutorKind, ExecutorSpec, Source, Status, TaskSpec, TaskState, new_record
from harness.resources import EMPTY, Resources
from harness.validation import (
    LaunchContext,
    ShapeMemo,
    executor_identity,
    infer_health_check_type,
    known_shape_launch,
    launch_group_error,
    launch_task_error,
    operation_resource_error,
    task_shape,
)
from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

Operation = mesos_pb2.Offer.Operation
LAUNCH_TYPES = (Operation.LAUNCH, Operation.LAUNCH_GROUP)
_COMMAND = ExecutorKind.COMMAND  # a global: read per task, an Enum class lookup is 4x slower
_COMMAND_GRACE = ExecutorSpec._field_defaults["shutdown_grace"]
# The instances of one app share their checks (all but id, agent and fit), across ACCEPTs: the
# memo holds pure verdicts, so every master in the process may share it.
VALID_SHAPES = ShapeMemo()
# What a task's TaskSpec reads besides id, name and labels is part of its shape (task_shape): read
# once per shape (bounded, cleared when full). Normalising changes none of it.
_SPEC_PARTS: dict[bytes, codec.SpecParts] = {}
_SPEC_PARTS_KEPT = 1024


def refuse_seconds(filters: mesos_pb2.Filters, present: bool) -> float | None:
    """The refusal the client asked for; None means the default (no Filters, or no refuse_seconds)."""
    if present and filters.HasField("refuse_seconds"):
        return filters.refuse_seconds
    return None


def decline(master: Master, fw: Framework, call: scheduler_pb2.Call.Decline) -> None:
    seconds = refuse_seconds(call.filters, call.HasField("filters"))
    for oid in (o.value for o in call.offer_ids):
        master.ledger.offer_answered(fw.framework_id, oid, "DECLINE")
        offer = master.offers.get(oid)
        if offer is None or offer.framework_id != fw.framework_id:
            continue  # no longer valid (rescinded, raced) or not ours: ignored, still 202
        master.take_offer(oid)
        master.allocator.recover(
            fw.framework_id, offer.role, offer.agent_id, offer.resources, seconds, install_filter=True
        )


def _offer_error(master: Master, fw: Framework, ids: list[str]) -> str | None:
    if not ids:
        return "No offers specified"
    seen: set[str] = set()
    for oid in ids:
        if oid in seen:
            return f"Duplicate offer {oid} in offer list"
        seen.add(oid)
    for oid in ids:
        if oid not in master.offers:
            return f"Offer {oid} is no longer valid"
    for oid in ids:
        owner = master.offers[oid].framework_id
        if owner != fw.framework_id:
            return f"Offer {oid} has invalid framework {owner} while framework {fw.framework_id} is expected"
    role = master.offers[ids[0]].role
    for oid in ids:
        other = master.offers[oid].role
        if other != role:
            return (
                f"Aggregated offers must be allocated to the same role. Offer {oid} uses role '{other}"
                f" but another is using role '{role}"
            )
    agent = master.offers[ids[0]].agent_id
    for oid in ids:
        other = master.offers[oid].agent_id
        if other != agent:
            return (
                f"Aggregated offers must belong to one single agent. Offer {oid} uses agent {other}"
                f" and agent {agent}"
            )
    return None


def _tasks_of(op: mesos_pb2.Offer.Operation) -> list[mesos_pb2.TaskInfo]:
    if op.type == Operation.LAUNCH:
        return list(op.launch.task_infos)
    if op.type == Operation.LAUNCH_GROUP:
        return list(op.launch_group.task_group.tasks)
    return []


def _master_update(
    task: mesos_pb2.TaskInfo, state: TaskState, reason: str, message: str, now: float
) -> codec.OutEvent:
    return codec.update_event(
        Status(
            task.task_id.value,
            state,
            Source.SOURCE_MASTER,
            reason=reason,
            message=message,
            agent_id=task.agent_id.value if task.HasField("agent_id") else None,
            timestamp=now,
        )
    )


def accept(master: Master, fw: Framework, call: scheduler_pb2.Call.Accept) -> None:
    ids = [o.value for o in call.offer_ids]
    for oid in ids:
        master.ledger.offer_answered(fw.framework_id, oid, "ACCEPT")
    now = master.clock.time()
    error = _offer_error(master, fw, ids)
    if error is not None:
        for oid in ids:
            master.remove_offer(oid)
        lost = TaskState.TASK_DROPPED if fw.partition_aware else TaskState.TASK_LOST
        for op in call.operations:
            if op.type in LAUNCH_TYPES:
                for task in _tasks_of(op):
                    message = f"Task launched with invalid offers: {error}"
                    master.send(fw, _master_update(task, lost, "REASON_INVALID_OFFERS", message, now))
            elif op.HasField("id"):
                message = f"Operation attempted with invalid offers: {error}"
                master.send(fw, codec.operation_status_event(op.id.value, "OPERATION_ERROR", message, None))
        return
    offers = [o for o in (master.take_offer(oid) for oid in ids) if o is not None]
    role, agent_id = offers[0].role, offers[0].agent_id
    remaining = EMPTY
    for offer in offers:
        remaining = remaining + offer.resources
    state = master.agents[agent_id]
    ctx = LaunchContext(
        framework_id=fw.framework_id,
        agent_id=agent_id,
        role=role,
        task_id_in_use=lambda tid: (
            "active" if tid in fw.tasks else "unreachable" if tid in fw.unreachable_tasks else None
        ),
        executor_identity=lambda eid: _identity(state, fw.framework_id, eid),
    )
    spec = fw.spec()  # what the agent keeps of the framework: built once for every launch here
    # Operations are normalised as the master does; on a copy when the call is recorded as sent
    # (Harness.calls), else in place: nothing reads the call afterwards.
    copy = master.ledger.record_calls
    launches: list[tuple[ExecutorSpec, Sequence[TaskSpec]]] = []  # for the agent, in order
    for original in call.operations:
        op = original
        if copy:
            op = Operation()
            op.CopyFrom(original)
        remaining = _apply(master, fw, state, ctx, op, remaining, now, launches)
    if launches:
        # One message to the agent for the whole ACCEPT (in Mesos, one RunTaskMessage per task;
        # they would arrive back to back anyway): the agent starts them as one batch.
        master.to_agent(agent_id, partial(state.agent.run_all, spec, launches))
    if not remaining.is_empty():
        seconds = refuse_seconds(call.filters, call.HasField("filters"))
        master.allocator.recover(fw.framework_id, role, agent_id, remaining, seconds, install_filter=True)


def _identity(state: AgentState, framework_id: str, executor_id: str) -> bytes | None:
    executor = state.executors.get((framework_id, executor_id))
    return executor.identity if executor is not None else None


def _apply(
    master: Master,
    fw: Framework,
    state: AgentState,
    ctx: LaunchContext,
    op: mesos_pb2.Offer.Operation,
    remaining: Resources,
    now: float,
    launches: list[tuple[ExecutorSpec, Sequence[TaskSpec]]],
) -> Resources:
    """Run one operation; returns what is left of the offered resources. Launched tasks are
    added to `launches`, which the caller sends to the agent."""
    shapes: list[bytes] = []
    if op.type == Operation.LAUNCH:
        group_reason, tasks, executor = "REASON_TASK_INVALID", list(op.launch.task_infos), None
        if not op.HasField("launch"):
            error: str | None = "A LAUNCH offer operation must have the Offer.Operation.launch field set."
        else:
            # Taken before normalising, which treats tasks of one shape alike: still one shape after.
            shapes = [task_shape(task) for task in tasks]
            error = operation_resource_error(tasks, None, shapes)
        if error is None and op.HasField("id"):
            error = "The `id` field cannot be set on LAUNCH operations"
    elif op.type == Operation.LAUNCH_GROUP:
        group_reason = "REASON_TASK_GROUP_INVALID"
        tasks, executor = list(op.launch_group.task_group.tasks), op.launch_group.executor
        error = operation_resource_error(tasks, executor)
        if error is None and op.HasField("id"):
            error = "The `id` field cannot be set on LAUNCH_GROUP operations"
    else:
        if op.HasField("id"):
            message = "The harness models LAUNCH and LAUNCH_GROUP only; this operation was dropped"
            master.send(
                fw, codec.operation_status_event(op.id.value, "OPERATION_ERROR", message, ctx.agent_id)
            )
        return remaining
    if error is not None:
        for task in tasks:
            master.send(fw, _master_update(task, TaskState.TASK_ERROR, group_reason, error, now))
        return remaining
    if op.type == Operation.LAUNCH:
        for task, shape in zip(tasks, shapes, strict=True):
            # Each task is normalised on its own, and only when it is checked in full: a task
            # whose shape is known valid is checked only for what normalising leaves alone (id,
            # agent, fit), and nothing launched reads what normalising fills in of a command task.
            known = None if task.HasField("executor") else VALID_SHAPES.get(shape, ctx.role)
            if known is not None:
                # (launch_task_error's memoised answer, without looking the memo up again; the
                # fit check and the subtraction in one step.)
                error, left = known_shape_launch(task, ctx, remaining, known)
                own = known
            else:
                _normalise_task(task, fw.framework_id, ctx.role)
                error, consumed, own = launch_task_error(task, ctx, remaining, VALID_SHAPES, shape)
                left = remaining - consumed if error is None else remaining
            if error is not None:
                master.send(fw, _master_update(task, TaskState.TASK_ERROR, "REASON_TASK_INVALID", error, now))
                continue
            remaining = left
            parts = _SPEC_PARTS.get(shape)
            if parts is None:
                parts = codec.spec_parts(task)
                if len(_SPEC_PARTS) >= _SPEC_PARTS_KEPT:
                    _SPEC_PARTS.clear()
                _SPEC_PARTS[shape] = parts
            _launch(master, fw, state, ctx.role, task, own, parts, launches)
        return remaining
    _normalise_group(op.launch_group, ctx.role)
    group = op.launch_group
    tasks = list(group.task_group.tasks)
    error, consumed = launch_group_error(group.executor, tasks, ctx, remaining)
    if error is not None:
        for task in tasks:
            master.send(
                fw, _master_update(task, TaskState.TASK_ERROR, "REASON_TASK_GROUP_INVALID", error, now)
            )
        return remaining
    _launch_group(master, fw, state, ctx.role, group.executor, tasks, launches)
    return remaining - consumed


def _normalise_task(task: mesos_pb2.TaskInfo, framework_id: str, role: str) -> None:
    """What the master fills in before validating a LAUNCH task: allocation role, executor
    framework id, health check type."""
    codec.inject_allocation_role(task.resources, role)
    if task.HasField("executor"):
        codec.inject_allocation_role(task.executor.resources, role)
        if not task.executor.HasField("framework_id"):
            task.executor.framework_id.value = framework_id
    infer_health_check_type(task)


def _normalise_group(group: mesos_pb2.Offer.Operation.LaunchGroup, role: str) -> None:
    """The same for LAUNCH_GROUP: allocation roles, and the group's executor in every task."""
    codec.inject_allocation_role(group.executor.resources, role)
    for task in group.task_group.tasks:
        codec.inject_allocation_role(task.resources, role)
        if task.HasField("executor"):
            codec.inject_allocation_role(task.executor.resources, role)
        else:
            task.executor.CopyFrom(group.executor)


def _launch(
    master: Master,
    fw: Framework,
    state: AgentState,
    role: str,
    task: mesos_pb2.TaskInfo,
    resources: Resources,
    parts: codec.SpecParts,
    launches: list[tuple[ExecutorSpec, Sequence[TaskSpec]]],
) -> None:
    fid, tid = fw.framework_id, task.task_id.value
    if task.HasField("command"):
        # Every field, in order (new_record: one is built per launched command task).
        executor = new_record(ExecutorSpec, (tid, fid, _COMMAND, role, EMPTY, b"", _COMMAND_GRACE))
    else:
        info = task.executor
        eid = info.executor_id.value
        existing = state.executors.get((fid, eid))
        if existing is None:
            existing = ExecutorSpec(
                eid,
                fid,
                ExecutorKind.CUSTOM,
                role,
                codec.resources_from_proto(info.resources, role),
                executor_identity(info),
                info.shutdown_grace_period.nanoseconds / 1e9
                if info.HasField("shutdown_grace_period")
                else 5.0,
            )
            state.executors[(fid, eid)] = existing
        executor = existing
    spec = codec.task_spec(task, fid, executor.executor_id, role, executor.kind, (), resources, parts)
    master.add_task(fw, state, spec)
    launches.append((executor, (spec,)))


def _launch_group(
    master: Master,
    fw: Framework,
    state: AgentState,
    role: str,
    info: mesos_pb2.ExecutorInfo,
    tasks: list[mesos_pb2.TaskInfo],
    launches: list[tuple[ExecutorSpec, Sequence[TaskSpec]]],
) -> None:
    fid, eid = fw.framework_id, info.executor_id.value
    executor = state.executors.get((fid, eid))
    if executor is None:
        executor = ExecutorSpec(
            eid,
            fid,
            ExecutorKind.DEFAULT,
            role,
            codec.resources_from_proto(info.resources, role),
            executor_identity(info),
            info.shutdown_grace_period.nanoseconds / 1e9 if info.HasField("shutdown_grace_period") else 5.0,
        )
        state.executors[(fid, eid)] = executor
    group = tuple(t.task_id.value for t in tasks)
    specs = [codec.task_spec(t, fid, eid, role, ExecutorKind.DEFAULT, group) for t in tasks]
    for spec in specs:
        master.add_task(fw, state, spec)
    launches.append((executor, specs))
