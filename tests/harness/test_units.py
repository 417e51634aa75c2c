"""Unit tests of the harness' pure parts on virtual time: resources, allocator, status update
manager, simulated executors, the OFFERS fast paths and the cluster templates."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import codec
from harness.agent import Agent, Forward
from harness.allocator import Allocator
from harness.clock import FixedDelay, LoopClock, ManualClock
from harness.cluster import ClusterSpecError, expand, parse_attributes
from harness.ledger import Ledger, _BoundedSet
from harness.model import (
    TERMINAL,
    Attribute,
    ExecutorKind,
    ExecutorSpec,
    FrameworkSpec,
    HealthCheckSpec,
    Source,
    Status,
    TaskSpec,
    TaskState,
)
from harness.resources import EMPTY, Resources, ResourceSpecError, parse_resources
from harness.simulation import SimulatedRuntime, SimulationTimings
from harness.updates import StatusUpdateManager
from harness.validation import (
    LaunchContext,
    ShapeMemo,
    launch_task_error,
    operation_resource_error,
    task_shape,
)
from proto import jsoncodec
from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

# -- resources --------------------------------------------------------------------------------------


def test_scalars_are_fixed_point_thousandths() -> None:
    a = Resources.of({"cpus": 0.1}) + Resources.of({"cpus": 0.2})
    assert a.scalars["cpus"] == 300  # 0.1 + 0.2 == 0.3 exactly
    assert Resources.of({"cpus": 0.0004}).is_empty()  # rounds to zero: does not exist
    assert (Resources.of({"cpus": 1}) - Resources.of({"cpus": 2})).is_empty()  # saturating


def test_ranges_and_sets() -> None:
    have = parse_resources("ports:[31000-31010,31011-31020];disks:{a,b}")
    assert have.ranges["ports"] == ((31000, 31020),)  # coalesced
    take = Resources.of(ranges={"ports": [(31005, 31006)]}, sets={"disks": ["a"]})
    assert have.contains(take)
    left = have - take
    assert left.ranges["ports"] == ((31000, 31004), (31007, 31020))
    assert left.sets["disks"] == frozenset({"b"})
    assert not left.contains(take)
    assert take.overlaps(have) and not take.overlaps(left)


@pytest.mark.parametrize(
    "text", ["cpus", "cpus:x", "cpus:-1", "ports:[5-1]", "ports:[1-2", "cpus(r):1", "a:1;a:2"]
)
def test_resource_text_errors(text: str) -> None:
    with pytest.raises(ResourceSpecError):
        parse_resources(text)


amounts = st.builds(
    Resources.of,
    st.dictionaries(st.sampled_from(["cpus", "mem", "gpus"]), st.floats(0, 1000, allow_nan=False)),
    st.dictionaries(
        st.just("ports"), st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)).map(sorted).map(tuple))
    ),
)


@given(amounts, amounts)
def test_property_add_then_subtract_is_identity(a: Resources, b: Resources) -> None:
    total = a + b
    assert total.contains(a) and total.contains(b)
    if not a.overlaps(b):
        assert (total - b) == a


@given(amounts, st.sets(st.sampled_from(["a", "b", "c"])))
def test_property_subtracting_itself_leaves_what_subtracting_an_equal_copy_leaves(
    a: Resources, items: set[str]
) -> None:
    # `a - a` answers EMPTY without looking; the generic difference of equal amounts must agree.
    a = a + Resources(sets={"disks": frozenset(items)}) if items else a
    copy = Resources(dict(a.scalars), dict(a.ranges), dict(a.sets))
    assert copy is not a and copy == a
    assert a - a == a - copy == EMPTY
    assert (a - a).is_empty() and not (a - a).allocatable()


@given(amounts, amounts)
def test_property_take_is_contains_then_subtract(a: Resources, b: Resources) -> None:
    # Resources.take (a launch's fit check and subtraction in one pass) answers as the two steps.
    assert a.take(b) == (a - b if a.contains(b) else None)
    assert (a + b).take(b) == (a + b) - b


def test_take_of_a_zero_amount_it_does_not_hold_answers_as_subtract() -> None:
    # Not reachable from protobuf (zero amounts are dropped there), but a hand-built Resources can.
    mem = Resources({"mem": 100})
    assert mem.take(Resources({"cpus": 0})) == mem - Resources({"cpus": 0})


# -- allocator --------------------------------------------------------------------------------------


def allocator_with(agents: int, clock: ManualClock | None = None) -> tuple[Allocator, ManualClock]:
    clock = clock or ManualClock()
    allocator = Allocator(clock, allocation_interval=1.0)
    for i in range(agents):
        allocator.add_agent(f"a{i}", Resources.of({"cpus": 4, "mem": 4096}))
    return allocator, clock


def test_each_agent_goes_whole_to_one_framework_and_role_fairly() -> None:
    allocator, _ = allocator_with(4)
    allocator.add_framework("f1", ["*"], [], active=True)
    allocator.add_framework("f2", ["*"], [], active=True)
    allocations = allocator.allocate()
    assert len(allocations) == 4
    assert sorted(a.framework_id for a in allocations) == ["f1", "f1", "f2", "f2"]  # DRF alternates
    assert all(a.resources == Resources.of({"cpus": 4, "mem": 4096}) for a in allocations)
    assert allocator.allocate() == []  # nothing left until something comes back


def test_filter_applies_only_while_free_is_a_subset_of_what_was_refused() -> None:
    allocator, _ = allocator_with(1)
    allocator.add_framework("f", ["*"], [], active=True)
    [offer] = allocator.allocate()
    used = Resources.of({"cpus": 1, "mem": 1024})
    # ACCEPT used 1 cpu, the rest was refused for an hour.
    allocator.recover("f", "*", "a0", offer.resources - used, 3600.0, install_filter=True)
    assert allocator.allocate() == []
    allocator.recover("f", "*", "a0", used)  # the task ended: more is free than was refused
    [again] = allocator.allocate()
    assert again.resources == offer.resources


def test_filtered_agents_skipped_until_a_filter_expires_or_anything_changes() -> None:
    """Agents every candidate has filtered are remembered between cycles; each way out still works."""
    allocator, clock = allocator_with(3)
    allocator.add_framework("f", ["*"], [], active=True)
    offers = {o.agent_id: o for o in allocator.allocate()}
    for agent_id, seconds in (("a0", 10.0), ("a1", 20.0), ("a2", 30.0)):
        allocator.recover("f", "*", agent_id, offers[agent_id].resources, seconds, install_filter=True)
    for _ in range(3):  # cycles while everything is filtered
        assert allocator.allocate() == []
        clock.advance(1)
    clock.advance(7)  # t = 10: a0's filter is over
    assert [o.agent_id for o in allocator.allocate()] == ["a0"]
    allocator.add_framework("g", ["*"], [], active=True)  # a new candidate: a1 and a2 are not filtered for g
    assert sorted(o.framework_id for o in allocator.allocate()) == ["g", "g"]
    for agent_id in ("a1", "a2"):  # g declines them for longer than f's filters last
        allocator.recover("g", "*", agent_id, offers[agent_id].resources, 100.0, install_filter=True)
    assert allocator.allocate() == []
    assert allocator.allocate() == []
    allocator.revive("f", ["*"])  # f's filters cleared: offered to f at once
    assert sorted((o.framework_id, o.agent_id) for o in allocator.allocate()) == [("f", "a1"), ("f", "a2")]


def test_suppress_revive_and_inactive_frameworks() -> None:
    allocator, _ = allocator_with(1)
    allocator.add_framework("f", ["a", "b"], ["a"], active=True)
    [offer] = allocator.allocate()
    assert offer.role == "b"
    allocator.recover("f", "b", "a0", offer.resources, 3600.0, install_filter=True)
    allocator.suppress("f", ["b"])
    assert allocator.allocate() == []
    allocator.revive("f", ["a"])
    assert [o.role for o in allocator.allocate()] == ["a"]
    allocator.remove_agent("a0")
    allocator.add_agent("a1", Resources.of({"cpus": 1}))
    allocator.set_active("f", False)
    assert allocator.allocate() == []


def test_tiny_leftovers_are_not_offered() -> None:
    allocator, _ = allocator_with(0)
    allocator.add_agent("a", Resources.of({"cpus": 0.005, "mem": 31, "disk": 100}))
    allocator.add_framework("f", ["*"], [], active=True)
    assert allocator.allocate() == []


def test_fixed_delay_fires_each_key_at_its_own_deadline_with_one_timer() -> None:
    clock = ManualClock()
    fired: list[tuple[int, str]] = []
    delays = FixedDelay(clock, 5.0, lambda key: fired.append((round(clock.monotonic() - 1000), key)))
    delays.add("a")
    clock.advance(2)
    delays.add("b")
    delays.add("c")
    clock.advance(10)
    assert fired == [(5, "a"), (7, "b"), (7, "c")]
    assert clock.pending() == 0  # no timer left once the queue is empty
    delays.add("d")
    delays.cancel()
    clock.advance(10)
    assert fired[-1] == (7, "c") and clock.pending() == 0


# -- status update manager -------------------------------------------------------------------------


def status(task_id: str, state: TaskState, n: int) -> Status:
    return Status(task_id, state, Source.SOURCE_EXECUTOR, uuid=n.to_bytes(16, "big"))


def test_one_in_flight_and_exponential_backoff_capped() -> None:
    clock = ManualClock()
    sent: list[tuple[float, str, TaskState]] = []
    done: list[str] = []
    manager = StatusUpdateManager(
        clock,
        lambda f, s, latest: sent.append((clock.monotonic(), s.state.value, latest)),
        lambda f, t: done.append(t),
        (10.0, 600.0),
    )
    manager.update("f", status("t", TaskState.TASK_STARTING, 1))
    manager.update("f", status("t", TaskState.TASK_RUNNING, 2))
    clock.advance(2000)
    times = [round(t - 1000) for t, _, _ in sent]
    assert times == [0, 10, 30, 70, 150, 310, 630, 1230, 1830]  # 10, 20, 40 ... capped at 600
    assert {s for _, s, _ in sent} == {"TASK_STARTING"}  # never the next one before the ack
    assert all(
        latest is TaskState.TASK_RUNNING for _, _, latest in sent[1:]
    )  # resends carry the newest state
    assert not manager.acknowledge("f", "t", (2).to_bytes(16, "big"))  # not the one in flight
    assert manager.acknowledge("f", "t", (1).to_bytes(16, "big"))
    assert sent[-1][1] == "TASK_RUNNING"
    manager.update("f", status("t", TaskState.TASK_FINISHED, 3))
    assert manager.acknowledge("f", "t", (2).to_bytes(16, "big"))
    assert manager.acknowledge("f", "t", (3).to_bytes(16, "big"))
    assert done == ["t"] and manager.unacknowledged() == 0


def test_each_stream_is_resent_on_its_own_schedule() -> None:
    """One timer per manager drives every stream's resends, each at its own deadline."""
    clock = ManualClock()
    sent: list[tuple[int, str]] = []
    manager = StatusUpdateManager(
        clock,
        lambda f, s, latest: sent.append((round(clock.monotonic() - 1000), s.task_id)),
        lambda f, t: None,
        (10.0, 600.0),
    )
    manager.update("f", status("a", TaskState.TASK_STARTING, 1))
    clock.advance(3)
    manager.update("f", status("b", TaskState.TASK_STARTING, 2))
    manager.update("f", status("c", TaskState.TASK_STARTING, 3))
    clock.advance(4)
    assert manager.acknowledge("f", "c", (3).to_bytes(16, "big"))  # c never comes back
    clock.advance(40)
    # a: 0, 10, 30; b: 3, 13, 33; c: 3 only.
    assert sent == [(0, "a"), (3, "b"), (3, "c"), (10, "a"), (13, "b"), (30, "a"), (33, "b")]
    assert manager.acknowledge("f", "a", (1).to_bytes(16, "big"))
    manager.update("f", status("d", TaskState.TASK_STARTING, 4))  # at 47
    clock.advance(100)
    assert sent[7:] == [(47, "d"), (57, "d"), (73, "b"), (77, "d"), (117, "d")]
    assert manager.unacknowledged() == 2


def test_paused_manager_holds_and_resends_on_resume() -> None:
    clock = ManualClock()
    sent: list[str] = []
    manager = StatusUpdateManager(
        clock, lambda f, s, latest: sent.append(s.task_id), lambda f, t: None, (1.0, 4.0)
    )
    manager.pause()
    manager.update("f", status("t", TaskState.TASK_STARTING, 1))
    clock.advance(100)
    assert sent == []
    manager.resume()
    assert sent == ["t"]


# -- simulated executors ---------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[Status] = []
        self.exits: list[tuple[str, int]] = []

    def task_status(self, framework_id: str, status: Status) -> None:
        self.statuses.append(status)

    def task_statuses(self, framework_id: str, statuses: Sequence[Status]) -> None:
        self.statuses.extend(statuses)

    def executor_exited(self, framework_id: str, executor_id: str, status: int) -> None:
        self.exits.append((executor_id, status))

    def executor_message(self, framework_id: str, executor_id: str, data: bytes) -> None:
        raise AssertionError("no messages expected")

    def states(self, task_id: str) -> list[tuple[str, bool | None]]:
        return [(s.state.value, s.healthy) for s in self.statuses if s.task_id == task_id]


FW = FrameworkSpec("f", "fw", frozenset())


def spec(task_id: str, behaviour: str = "", **extra: Any) -> TaskSpec:
    return TaskSpec(
        task_id,
        "f",
        extra.pop("executor_id", task_id),
        task_id,
        "*",
        EMPTY,
        {"harness.behaviour": behaviour},
        **extra,
    )


def test_health_check_grace_period_and_kill_after_consecutive_failures() -> None:
    clock, recorder = ManualClock(), Recorder()
    runtime = SimulatedRuntime(clock, recorder, SimulationTimings())
    hc = HealthCheckSpec(delay=0.0, interval=1.0, consecutive_failures=2, grace_period=2.5)
    # Unhealthy from the start: failures inside the 2.5 s grace period are ignored.
    runtime.launch(
        FW,
        ExecutorSpec("t", "f", ExecutorKind.COMMAND, "*", EMPTY),
        [spec("t", "unhealthy:0", health_check=hc)],
    )
    clock.advance(10)
    assert recorder.states("t") == [
        ("TASK_STARTING", None),
        ("TASK_RUNNING", None),
        ("TASK_RUNNING", False),  # t=3: first failure after the grace period
        ("TASK_RUNNING", False),  # t=4: second -> killed
        ("TASK_KILLED", False),
    ]
    assert recorder.exits == [("t", 1)]


def test_max_completion_time_and_group_cascade() -> None:
    clock, recorder = ManualClock(), Recorder()
    runtime = SimulatedRuntime(clock, recorder, SimulationTimings())
    runtime.launch(
        FW, ExecutorSpec("x", "f", ExecutorKind.COMMAND, "*", EMPTY), [spec("x", max_completion_time=5.0)]
    )
    pod = ExecutorSpec("pod", "f", ExecutorKind.DEFAULT, "*", EMPTY)
    group = ("a", "b")
    runtime.launch(
        FW,
        pod,
        [
            spec("a", "fail:1", executor_id="pod", group=group, kind=ExecutorKind.DEFAULT),
            spec("b", executor_id="pod", group=group, kind=ExecutorKind.DEFAULT),
        ],
    )
    clock.advance(10)
    failed = [s for s in recorder.statuses if s.task_id == "x"][-1]
    assert (failed.state, failed.reason) == (TaskState.TASK_FAILED, "REASON_MAX_COMPLETION_TIME_REACHED")
    assert recorder.states("a")[-1] == ("TASK_FAILED", None)
    assert recorder.states("b")[-1] == ("TASK_KILLED", None)  # the default executor kills the rest
    assert ("pod", 1) in recorder.exits


def test_batched_launch_keeps_each_tasks_timeline_and_skips_killed_or_forgotten_tasks() -> None:
    clock, recorder = ManualClock(), Recorder()
    runtime = SimulatedRuntime(clock, recorder, SimulationTimings(start_delay=1.0, running_delay=2.0))
    command = [(ExecutorSpec(t, "f", ExecutorKind.COMMAND, "*", EMPTY), [spec(t)]) for t in "abcd"]
    runtime.launch_all(FW, command)
    clock.advance(0.5)
    assert recorder.statuses == []  # the start delay holds for the whole batch
    runtime.kill("f", "a", None)  # before its executor has it: the agent answers
    clock.advance(0.5)
    assert [(s.task_id, s.state.value) for s in recorder.statuses] == [
        ("a", "TASK_KILLED"),
        ("b", "TASK_STARTING"),
        ("c", "TASK_STARTING"),
        ("d", "TASK_STARTING"),
    ]
    runtime.kill("f", "b", 0.0)  # between STARTING and RUNNING
    clock.advance(2.0)
    assert recorder.states("b") == [("TASK_STARTING", None), ("TASK_KILLED", None)]
    assert recorder.states("c") == recorder.states("d") == [("TASK_STARTING", None), ("TASK_RUNNING", None)]
    # A framework shut down before its batch starts: nothing is reported for it.
    other = SimulatedRuntime(clock, recorder := Recorder(), SimulationTimings(start_delay=1.0))
    other.launch_all(FW, command)
    other.shutdown_framework("f")
    clock.advance(5)
    assert recorder.statuses == []


class ForwardingLink:
    """An agent's link to the master that keeps the status updates it forwards, in order; command
    executors are never reported, so an executor event is a test failure."""

    def __init__(self) -> None:
        self.forwarded: list[Status] = []

    def status_update(self, agent_id: str, framework_id: str, status: Status, latest: TaskState) -> None:
        self.forwarded.append(status)

    def status_updates(self, agent_id: str, updates: Sequence[Forward]) -> None:
        self.forwarded.extend(status for _, status, _ in updates)

    def executor_exited(self, agent_id: str, framework_id: str, executor_id: str, status: int) -> None:
        raise AssertionError("command executors are not reported")

    def executor_message(self, agent_id: str, framework_id: str, executor_id: str, data: bytes) -> None:
        raise AssertionError("unexpected")


def test_agent_stamps_updates_and_forgets_acknowledged_terminal_tasks() -> None:
    clock = ManualClock()
    agent = Agent(clock, "agent-1", "host", Resources.of({"cpus": 1}))
    agent.runtime = SimulatedRuntime(clock, agent)
    link = ForwardingLink()
    forwarded = link.forwarded
    agent.register(link)
    agent.run(FW, ExecutorSpec("t", "f", ExecutorKind.COMMAND, "*", EMPTY), [spec("t", "finish:1")])
    clock.advance(5)
    while forwarded and forwarded[-1].state is not TaskState.TASK_FINISHED:
        last = forwarded[-1]
        assert last.uuid is not None and len(last.uuid) == 16
        assert (last.agent_id, last.executor_id) == ("agent-1", "t")
        agent.acknowledge("f", "t", last.uuid)
    final = forwarded[-1]
    assert final.uuid is not None
    agent.acknowledge("f", "t", final.uuid)
    assert agent.tasks == {} and [t.state for t in agent.completed] == [TaskState.TASK_FINISHED]


def test_agent_counters_follow_the_tasks_and_updates() -> None:
    """`live` and `unacknowledged()` are kept incrementally; they must equal a recount at every step."""
    clock = ManualClock()
    agent = Agent(clock, "agent-1", "host", Resources.of({"cpus": 4}))
    agent.runtime = SimulatedRuntime(clock, agent)
    link = ForwardingLink()
    forwarded = link.forwarded

    def check() -> None:
        assert agent.live == sum(1 for t in agent.tasks.values() if t.state not in TERMINAL)
        pending = sum(len(agent.updates.pending(fid, tid)) for fid, tid in agent.tasks)
        assert agent.updates.unacknowledged() == pending

    agent.register(link)
    for name, behaviour in (("a", ""), ("b", "finish:1"), ("c", "fail:2")):
        agent.run(FW, ExecutorSpec(name, "f", ExecutorKind.COMMAND, "*", EMPTY), [spec(name, behaviour)])
        check()
    assert agent.live == 3
    for _ in range(6):
        clock.advance(1)
        check()
        while forwarded:  # an ack forwards the task's next update at once
            status = forwarded.pop(0)
            assert status.uuid is not None
            agent.acknowledge("f", status.task_id, status.uuid)
            check()
    assert agent.live == 1 and agent.updates.unacknowledged() == 0
    agent.kill("f", "a", 0.0)
    clock.advance(1)
    check()
    assert agent.live == 0 and agent.updates.unacknowledged() == 1
    agent.run(FW, ExecutorSpec("d", "f", ExecutorKind.COMMAND, "*", EMPTY), [spec("d")])
    clock.advance(1)
    check()
    agent.shutdown_framework("f")
    check()
    assert agent.live == 0 and agent.updates.unacknowledged() == 0


# -- codec ------------------------------------------------------------------------------------------


def views(refinement_roles: str = "*") -> list[codec.OfferView]:
    attrs = [
        Attribute("rack", "r1"),
        Attribute("level", 3.0),
        Attribute("ids", ((1, 5),)),
        Attribute("tags", frozenset({"x", "y"})),
    ]
    res = parse_resources("cpus:1.5;mem:100;ports:[1-2,5-9];disks:{a,b};gpus:1")
    return [
        codec.OfferView("o1", "f", "a1", "host-1", 5051, refinement_roles, res, attrs, ["e1", "e2"]),
        codec.OfferView("o2", "f", "a2", 'h\u00e9llo "q"', 5052, refinement_roles, EMPTY + res, [], []),
    ]


@pytest.mark.parametrize("role", ["web", "a-role-name-" * 20], ids=["short-role", "role-over-127-bytes"])
@pytest.mark.parametrize("refinement", [False, True])
def test_offers_fast_paths_equal_the_protobuf_rendering(refinement: bool, role: str) -> None:
    event = codec.offers_event(views(role), refinement)
    reference = event.proto()
    assert scheduler_pb2.Event.FromString(event.payload(codec.Encoding.PROTOBUF)) == reference
    assert json.loads(event.payload(codec.Encoding.JSON)) == jsoncodec.to_dict(reference)


STATUSES = [
    Status(
        "t1",
        TaskState.TASK_STARTING,
        Source.SOURCE_EXECUTOR,
        agent_id="a1",
        executor_id="t1",
        timestamp=1_700_000_000.123456,
        uuid=bytes(range(16)),
    ),
    Status(
        't\u00e9 "2"',
        TaskState.TASK_RUNNING,
        Source.SOURCE_EXECUTOR,
        reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
        agent_id="a1",
        executor_id="e",
        timestamp=1.5,
        uuid=b"\n" * 16,
        healthy=False,
    ),
    Status(
        "t3",
        TaskState.TASK_LOST,
        Source.SOURCE_MASTER,
        reason="REASON_RECONCILIATION",
        message="Reconciliation: Task is unknown\nto the agent",
    ),
    Status(
        "t4",
        TaskState.TASK_UNREACHABLE,
        Source.SOURCE_MASTER,
        reason="REASON_AGENT_REMOVED",
        message="gone",
        agent_id="a2",
        timestamp=2e9,
        healthy=True,
        unreachable_time=1_700_000_000.5,
    ),
]


@pytest.mark.parametrize("status", STATUSES, ids=["starting", "health", "master", "unreachable"])
def test_update_fast_paths_equal_the_protobuf_rendering(status: Status) -> None:
    event = codec.update_event(status)
    reference = event.proto()
    assert mesos_pb2.TaskState.Name(reference.update.status.state) == status.state.value
    assert event.payload(codec.Encoding.PROTOBUF) == reference.SerializeToString()
    assert event.payload(codec.Encoding.JSON) == jsoncodec.dumps(reference)


_text = st.text(max_size=300)  # long enough for multi-byte lengths
_optional_text = st.none() | _text


@given(
    task_id=_text,
    state=st.sampled_from(list(TaskState)),
    source=st.sampled_from(list(Source)),
    reason=st.none() | st.sampled_from(sorted(mesos_pb2.TaskStatus.Reason.keys())),
    message=_optional_text,
    agent_id=_optional_text,
    executor_id=_optional_text,
    timestamp=st.none() | st.floats(min_value=0, max_value=4e9),
    uuid=st.none() | st.binary(min_size=16, max_size=16),
    healthy=st.none() | st.booleans(),
    unreachable_time=st.none() | st.floats(min_value=0, max_value=4e9),
)
def test_update_encodings_equal_the_generic_ones(
    task_id: str,
    state: TaskState,
    source: Source,
    reason: str | None,
    message: str | None,
    agent_id: str | None,
    executor_id: str | None,
    timestamp: float | None,
    uuid: bytes | None,
    healthy: bool | None,
    unreachable_time: float | None,
) -> None:
    status = Status(
        task_id,
        state,
        source,
        reason,
        message,
        agent_id,
        executor_id,
        timestamp,
        uuid,
        healthy,
        unreachable_time,
    )
    event = codec.update_event(status)
    reference = event.proto()
    assert event.payload(codec.Encoding.PROTOBUF) == reference.SerializeToString()
    assert event.payload(codec.Encoding.JSON) == jsoncodec.dumps(reference)


# -- cluster templates ------------------------------------------------------------------------------


def test_templates_and_attributes() -> None:
    assert expand("rack:r{i%3};zone:z{i // 2 + 1}", 7) == "rack:r1;zone:z4"
    attrs = parse_attributes(expand("rack:r{i};level:{i*2};ports:[1-3];s:{{a,b}}", 2))
    assert [a.value for a in attrs] == ["r2", 4.0, ((1, 3),), frozenset({"a", "b"})]
    with pytest.raises(ClusterSpecError):
        expand("{__import__('os')}", 0)
    with pytest.raises(ClusterSpecError):
        expand("{i % 0}", 1)
    with pytest.raises(ClusterSpecError):
        parse_attributes("rack")


# -- shared checks for the instances of one app ---------------------------------------------------


def _instance(task_id: str, cpus: float = 1.0, slot: str = "0") -> mesos_pb2.TaskInfo:
    task = mesos_pb2.TaskInfo(name=f"app.{slot}")
    task.task_id.value = task_id
    task.agent_id.value = "a1"
    cpu = task.resources.add(name="cpus", type=mesos_pb2.Value.SCALAR)
    cpu.scalar.value = cpus
    cpu.allocation_info.role = "*"
    task.command.value = "sleep 1"
    task.labels.labels.add(key="slot", value=slot)
    return task


def test_tasks_of_one_shape_still_get_their_own_id_and_fit_checks() -> None:
    active = {"dup"}
    ctx = LaunchContext("f", "a1", "*", lambda tid: "active" if tid in active else None, lambda eid: None)
    shapes = ShapeMemo()
    remaining = parse_resources("cpus:2")
    with_memo = []
    for task in (_instance("t1"), _instance("dup", slot="1"), _instance("bad/id"), _instance("t2", slot="2")):
        error, consumed, _ = launch_task_error(task, ctx, remaining, shapes)
        with_memo.append(error)
        if error is None:
            remaining = remaining - consumed
            active.add(task.task_id.value)
    assert with_memo == [None, "Task has duplicate ID: dup", with_memo[2], None]
    assert with_memo[2] is not None and "bad/id" in with_memo[2]
    assert len(shapes) == 1
    # Nothing is left for a third instance: the fit is checked per task, with Mesos' message.
    error, _, _ = launch_task_error(_instance("t3", slot="3"), ctx, remaining, shapes)
    assert error is not None and error.startswith("Total resources cpus:1 required by task")
    # Every answer is the one the full checks give.
    for task in (_instance("t1"), _instance("dup"), _instance("bad/id"), _instance("t4", cpus=-1)):
        assert launch_task_error(task, ctx, remaining, shapes) == launch_task_error(task, ctx, remaining)


def test_resource_checks_skip_only_tasks_shaped_like_one_already_checked() -> None:
    good, bad = _instance("t1"), _instance("t3", slot="3")
    bad.resources[0].ClearField("scalar")  # a SCALAR without its value: malformed
    tasks = [good, _instance("t2", slot="2"), bad]
    shapes = [task_shape(task) for task in tasks]
    assert shapes[0] == shapes[1] != shapes[2]
    error = operation_resource_error(tasks, None, shapes)
    assert error is not None and error == operation_resource_error(tasks, None)
    assert operation_resource_error(tasks[:2], None, shapes[:2]) is None


def test_packed_labels_read_like_a_dict_of_the_labels() -> None:
    labels = mesos_pb2.Labels()
    for key, value in (("a", "1"), ("harness.behaviour", "finish:1"), ("a", "2")):
        labels.labels.add(key=key, value=value)
    packed = codec.PackedLabels(labels.SerializeToString())
    assert packed.get("missing") is None and packed.get("missing", "x") == "x"
    assert packed.get("harness.behaviour", "") == "finish:1"
    assert packed == {"a": "2", "harness.behaviour": "finish:1"}  # a later duplicate wins, as in a dict
    assert len(packed) == 2 and "a" in packed and "1" not in packed
    with pytest.raises(KeyError):
        packed["1"]  # the bytes occur (as a value), the key does not


# -- the ledger's bounded memory --------------------------------------------------------------------


def test_bounded_set_keeps_at_least_the_newest_items_and_at_most_twice_the_limit() -> None:
    remembered = _BoundedSet(limit=4)
    for i in range(11):
        remembered.add(i)
        newest = range(max(0, i - 3), i + 1)
        assert all(j in remembered for j in newest)  # the newest 4 are always there
        assert sum(j in remembered for j in range(i + 1)) <= 8
    assert 0 not in remembered


def test_ledger_update_sent_keeps_the_bounded_set_contract() -> None:
    """Ledger.update_sent adds to the framework's _BoundedSet inline: the same generations."""
    ledger = Ledger(record_calls=False)
    ledger.update_sent("f1", b"u0")
    ledger._sent["f1"]._limit = 4
    reference = _BoundedSet(limit=4)
    reference.add(b"u0")
    for i in range(1, 11):
        uuid = b"u%d" % i
        ledger.update_sent("f1", uuid)
        reference.add(uuid)
        sent = ledger._sent["f1"]
        assert (sent._new, sent._old) == (reference._new, reference._old)


def test_ledger_flags_an_ack_only_for_an_update_never_sent() -> None:
    ledger = Ledger(record_calls=False)
    ledger.update_sent("f1", b"u1")
    ledger.acknowledged("f1", "t1", b"u1")
    ledger.acknowledged("f1", "t1", b"u1")  # a duplicate (after a resend): not a violation
    assert ledger.violations == []
    ledger.acknowledged("f2", "t1", b"u1")  # another framework's update
    ledger.acknowledged("f1", "t2", b"u2")
    assert len(ledger.violations) == 2 and b"u2".hex() in ledger.violations[1]


@given(
    task_id=_text,
    state=st.sampled_from(list(TaskState)),
    source=st.sampled_from(list(Source)),
    agent_id=_text,
    timestamp=st.floats(min_value=0, max_value=4e9),
    uuid=st.binary(min_size=16, max_size=16),
)
def test_executor_update_of_a_command_task_equals_the_generic_encoding(
    task_id: str, state: TaskState, source: Source, agent_id: str, timestamp: float, uuid: bytes
) -> None:
    """The shape of the two updates of every launched task (executor id = task id, no message,
    reason or health), which the encoder writes in one step when the task id is short."""
    status = Status(task_id, state, source, None, None, agent_id, task_id, timestamp, uuid)
    reference = codec.update_event(status).proto()
    assert codec.update_event(status).payload(codec.Encoding.PROTOBUF) == reference.SerializeToString()


# -- the loop clock ---------------------------------------------------------------------------------


async def test_loop_clock_reads_the_loops_own_clock() -> None:
    loop = asyncio.get_running_loop()
    clock = LoopClock()
    before = loop.time()
    now = clock.monotonic()
    assert before <= now <= loop.time()
    assert abs(clock.time() - time.time()) < 5


class _SkewedLoop(asyncio.SelectorEventLoop):
    def time(self) -> float:
        return super().time() + 1_000_000.0


def test_loop_clock_follows_a_clock_patched_on_the_loop_instance() -> None:
    # A virtual clock in a test replaces `time` on the loop itself: the timers run on it, so must we.
    loop = asyncio.new_event_loop()
    loop.time = lambda: 42.0  # type: ignore[method-assign]

    async def read() -> float:
        return LoopClock().monotonic()

    try:
        assert loop.run_until_complete(read()) == 42.0
    finally:
        loop.close()


def test_loop_clock_follows_a_loop_with_a_clock_of_its_own() -> None:
    loop = _SkewedLoop()

    async def read() -> tuple[float, float]:
        return LoopClock().monotonic(), loop.time()

    try:
        now, loop_now = loop.run_until_complete(read())
    finally:
        loop.close()
    assert loop_now - 1.0 <= now <= loop_now
