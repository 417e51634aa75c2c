"""Steps 9 and 10 of the scheduler endpoint: who is calling, and what each call does.

`check_caller` applies the real handler's framework checks (unknown framework 400, disconnected
403, missing or stale Mesos-Stream-Id 400). `dispatch` runs a validated non-SUBSCRIBE call and
returns the HTTP answer: 202 with an empty body for every asynchronous call, 200 for
UPDATE_FRAMEWORK, 501 for UNKNOWN. Outcomes arrive later as events on the subscription stream.
"""

from __future__ import annotations

from functools import partial

from harness import accept, codec
from harness.books import Framework
from harness.master import Master
from proto.mesos.v1.scheduler import scheduler_pb2

# The message class carries the enum values as plain class attributes; going through the
# EnumTypeWrapper (scheduler_pb2.Call.Type.X) costs a __getattr__ call, ~2 us, per comparison.
CallType = scheduler_pb2.Call
Reply = tuple[int, str]
ACCEPTED: Reply = (202, "")


def check_caller(master: Master, framework_id: str, stream_id: str | None) -> Framework | Reply:
    fw = master.frameworks.get(framework_id)
    if fw is None:
        return 400, "Framework cannot be found"
    if fw.sink is None:
        return 403, "Framework is not subscribed"
    if stream_id is None:
        return 400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
    if stream_id != fw.sink.stream_id:
        return 400, (
            f"The stream ID '{stream_id}' included in this request didn't match the stream ID"
            f" currently associated with framework ID {framework_id}"
        )
    return fw


def dispatch(master: Master, fw: Framework, call: scheduler_pb2.Call) -> Reply:
    kind = call.type
    # The two calls of every launch first: ACKNOWLEDGE (two per task) and ACCEPT.
    if kind == CallType.ACKNOWLEDGE:
        ack = call.acknowledge
        master.acknowledge(fw, ack.agent_id.value, ack.task_id.value, ack.uuid)
    elif kind == CallType.ACCEPT:
        accept.accept(master, fw, call.accept)
    elif kind == CallType.TEARDOWN:
        master.remove_framework(fw)
    elif kind == CallType.DECLINE:
        accept.decline(master, fw, call.decline)
    elif kind == CallType.REVIVE:
        roles = master.check_roles(fw, call.revive.roles)
        if roles is not None:  # an invalid role drops the whole call, silently
            master.allocator.revive(fw.framework_id, roles)
            master.trigger_allocation()
    elif kind == CallType.SUPPRESS:
        roles = master.check_roles(fw, call.suppress.roles)
        if roles is not None:
            master.allocator.suppress(fw.framework_id, roles)
    elif kind == CallType.KILL:
        _kill(master, fw, call.kill)
    elif kind == CallType.SHUTDOWN:
        _shutdown(master, fw, call.shutdown)
    elif kind == CallType.RECONCILE:
        _reconcile(master, fw, call.reconcile)
    elif kind == CallType.RECONCILE_OPERATIONS:
        _reconcile_operations(master, fw, call.reconcile_operations)
    elif kind == CallType.MESSAGE:
        msg = call.message
        state = master.agents.get(msg.agent_id.value)
        if state is not None:
            master.to_agent(
                msg.agent_id.value,
                partial(state.agent.message, fw.framework_id, msg.executor_id.value, msg.data),
            )
    elif kind == CallType.UPDATE_FRAMEWORK:
        return master.update_framework(fw, call.update_framework)
    elif kind == CallType.UNKNOWN:
        return 501, ""
    # REQUEST (ignored by the default allocator), inverse offers (none are made here) and
    # ACKNOWLEDGE_OPERATION_STATUS (no operation feedback is produced): accepted, no effect.
    return ACCEPTED


def _kill(master: Master, fw: Framework, kill: scheduler_pb2.Call.Kill) -> None:
    task_id = kill.task_id.value
    agent_id = kill.agent_id.value if kill.HasField("agent_id") else None
    task = fw.tasks.get(task_id)
    if task is None:
        # An unknown task is reconciled instead, so the framework learns it is gone.
        status = master.reconcile_one(fw, task_id, agent_id)
        if status is not None:
            master.send(fw, codec.update_event(status))
        return
    if agent_id is not None and agent_id != task.agent_id:
        return  # the wrong agent: ignored, as the real master does
    state = master.agents.get(task.agent_id)
    if state is None:
        return
    grace = None
    if kill.HasField("kill_policy") and kill.kill_policy.HasField("grace_period"):
        grace = kill.kill_policy.grace_period.nanoseconds / 1e9
    master.to_agent(task.agent_id, partial(state.agent.kill, fw.framework_id, task_id, grace))


def _shutdown(master: Master, fw: Framework, shutdown: scheduler_pb2.Call.Shutdown) -> None:
    state = master.agents.get(shutdown.agent_id.value)
    if state is not None:
        eid = shutdown.executor_id.value
        master.to_agent(state.agent.agent_id, partial(state.agent.shutdown_executor, fw.framework_id, eid))


def _reconcile(master: Master, fw: Framework, reconcile: scheduler_pb2.Call.Reconcile) -> None:
    now = master.clock.time()
    if not len(reconcile.tasks):
        for task in list(fw.tasks.values()):
            master.send(fw, codec.update_event(master.latest_status(task, now)))
        return
    for item in reconcile.tasks:
        agent_id = item.agent_id.value if item.HasField("agent_id") else None
        status = master.reconcile_one(fw, item.task_id.value, agent_id)
        if status is not None:
            master.send(fw, codec.update_event(status))


def _reconcile_operations(
    master: Master, fw: Framework, reconcile: scheduler_pb2.Call.ReconcileOperations
) -> None:
    """No operation ever carries feedback here, so every explicitly named one is unknown."""
    for op in reconcile.operations:
        agent_id = op.agent_id.value if op.HasField("agent_id") else None
        if agent_id is not None and agent_id in master.recovering_agents:
            state, message = (
                "OPERATION_RECOVERING",
                "Reconciliation: Agent is recovered but has not re-registered",
            )
        elif agent_id is not None and agent_id in master.agents:
            state, message = "OPERATION_UNKNOWN", "Reconciliation: Operation is unknown"
        elif agent_id is not None and agent_id in master.unreachable_agents:
            state, message = "OPERATION_UNREACHABLE", "Reconciliation: Agent is unreachable"
        elif agent_id is not None and agent_id in master.gone_agents:
            state, message = "OPERATION_GONE_BY_OPERATOR", "Reconciliation: Agent marked gone by operator"
        elif agent_id is not None:
            state, message = "OPERATION_UNKNOWN", "Reconciliation: Both operation and agent are unknown"
        else:
            state = "OPERATION_UNKNOWN"
            message = "Reconciliation: Operation is unknown and no 'agent_id' was provided"
        master.send(fw, codec.operation_status_event(op.operation_id.value, state, message, agent_id))
