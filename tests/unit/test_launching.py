"""The fast launch path builds exactly what the reference definitions build.

`LaunchTemplate.build` against `TaskLaunch.of` (and so `spec.build_env`) and `PlacedGroup.tasks()`;
the draft builders `new_task_record` / `new_task_launch` against the dataclass constructors;
`TaskRecord.after` against its field-by-field definition, including when it returns the record itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.core.effects import (
    Accept,
    Acknowledge,
    Decline,
    PersistFrameworkId,
    PersistTask,
    Revive,
    Suppress,
    TaskLaunch,
    TaskRecord,
    new_acknowledge,
    new_persist_task,
    new_task_launch,
    new_task_record,
)
from framework.core.events import StatusUpdated, TaskState
from framework.core.launching import (
    MEMO_LIMIT,
    LaunchTemplate,
    accept_leftover,
    decline_unused,
    declines_first,
    template_for,
)
from framework.core.model import Offer
from framework.core.placement import PlacedGroup
from framework.core.resources import Resources
from framework.core.spec import AppSpec, build_env, validate_app
from tests.unit.test_spec import EXAMPLE
from tests.unit.test_spec_props import valid_specs

LABELS = st.dictionaries(st.from_regex(r"[a-z][a-z0-9._-]{0,6}", fullmatch=True)
                         .filter(lambda k: not k.startswith("gantry.")), st.text(max_size=4), max_size=3)
PORT_POOL = st.sampled_from([31000, 31001, 31002, 8080, 1])  # few values: port tuples repeat (memo hits)


@st.composite
def specs(draw: st.DrawFn) -> AppSpec:
    body = draw(valid_specs())
    body["labels"] = draw(LABELS)
    return validate_app(body)


@st.composite
def groups(draw: st.DrawFn, spec: AppSpec, version: str) -> PlacedGroup:
    count = draw(st.integers(0, 6))
    host_ports = tuple(tuple(draw(PORT_POOL) for _ in spec.ports) for _ in range(count)) if spec.ports else ()
    resources = Resources(draw(st.integers(1, 4000)), draw(st.integers(1, 9000)), draw(st.integers(0, 9)))
    return PlacedGroup(spec.id, version, draw(st.sampled_from(["a1", "agent-7"])), draw(st.integers(0, 5)),
                       count, resources, host_ports)


def expected(spec: AppSpec, version: str, group: PlacedGroup, slots: list[int], first_seq: int,
             hostname: str, role: str, now: float) -> tuple[list[TaskLaunch], list[TaskRecord]]:
    """What the scheduler built per task before the template existed (the reference definitions)."""
    launches, records = [], []
    for i, (placed, slot) in enumerate(zip(group.tasks(), slots, strict=True)):
        task_id = f"{spec.id.strip('/').replace('/', '_')}.{first_seq + i}"
        launches.append(TaskLaunch.of(spec, version, task_id, slot, placed.agent_id, hostname, role,
                                      placed.resources, placed.host_ports))
        records.append(TaskRecord(task_id, spec.id, version, slot, TaskState.STAGING, now, placed.agent_id,
                                  hostname, placed.host_ports))
    return launches, records


@given(st.data(), specs(), st.lists(st.text(max_size=3), min_size=1, max_size=3))
def test_template_builds_what_task_launch_of_builds(data: st.DataObject, spec: AppSpec,
                                                     versions: list[str]) -> None:
    # Several groups (and resources) through one template per version: the memo must never leak a
    # previous group's resources or ports into the next.
    for version in versions:
        template = LaunchTemplate(spec, version)
        for _ in range(3):
            group = data.draw(groups(spec, version))
            slots = data.draw(st.lists(st.integers(0, 99), min_size=group.count, max_size=group.count))
            first_seq = data.draw(st.integers(1, 10**6))
            hostname, role = data.draw(st.sampled_from([("h1", "*"), ("host-2.example", "web")]))
            built = template.build(group, slots, first_seq, hostname, role, 5.0)
            assert built == expected(spec, version, group, slots, first_seq, hostname, role, 5.0)
            assert all(type(x) is TaskLaunch for x in built[0])
            # the cached env pieces against the uncached definition, directly
            for x in built[0]:
                assert x.env == build_env(spec, version, x.task_id, x.slot, hostname, x.ports)
            assert all(type(r) is TaskRecord for r in built[1])


def test_template_on_the_example_spec() -> None:
    spec = validate_app(EXAMPLE)
    group = PlacedGroup(spec.id, "v.3", "a1", 0, 2, Resources.of(cpus=0.1, mem=64), ((31000,), (31001,)))
    launches, records = LaunchTemplate(spec, "v.3").build(group, [4, 7], 12, "host-1", "*", 2.0)
    assert [x.task_id for x in launches] == ["shop_web.12", "shop_web.13"]
    assert launches[1].env[-6:] == (("GANTRY_TASK_ID", "shop_web.13"), ("GANTRY_INSTANCE", "7"),
                                    ("PORT", "31001"), ("PORTS", "31001"), ("PORT0", "31001"),
                                    ("PORT_HTTP", "31001"))
    assert launches[0].labels[-1] == ("gantry.slot", "4")
    assert launches[0].resources == Resources.of(cpus=0.1, mem=64, ports=[(31000, 31000)])
    assert [r.slot for r in records] == [4, 7] and records[0].state is TaskState.STAGING


def test_port_memo_is_bounded() -> None:
    spec = validate_app({"id": "/a", "cmd": "x", "ports": ["p"]})
    template = LaunchTemplate(spec, "v.1")
    count = MEMO_LIMIT + 10
    ports = tuple((p,) for p in range(count))
    group = PlacedGroup(spec.id, "v.1", "a1", 0, count, Resources.of(cpus=1), ports)
    launches, _ = template.build(group, list(range(count)), 1, "h", "*", 0.0)
    assert [x.ports for x in launches] == [(p,) for p in range(count)]
    assert launches[-1].env[-1] == ("PORT_P", str(count - 1))
    assert len(template._memo) <= MEMO_LIMIT


def test_template_for_rebuilds_only_when_spec_or_version_change() -> None:
    spec = validate_app({"id": "/a", "cmd": "x"})
    first = template_for(None, spec, "v.1")
    assert template_for(first, spec, "v.1") is first
    assert template_for(first, spec, "v.2").version == "v.2"
    other = validate_app({"id": "/a", "cmd": "y"})
    assert template_for(first, other, "v.1").spec is other


# -- refuse filters of a decision that left work waiting ---------------------------------------------

SHAPES = [Resources.of(cpus=1, mem=128).scalars_milli()]


def offer(offer_id: str, cpus: float, mem: float) -> Offer:
    return Offer(offer_id, "a-" + offer_id, "h", "*", Resources.of(cpus=cpus, mem=mem), {})


def test_decline_unused_declines_up_to_quick_hostable_offers_without_a_filter() -> None:
    unused = [offer("o1", 4, 1024), offer("o2", 0.5, 1024), offer("o3", 1, 128), offer("o4", 2, 256)]
    # o2 cannot host 1 cpu: the long filter; of o1, o3, o4 the first two go unfiltered, the rest
    # get the busy filter
    two_quick = [Decline(("o1", "o3"), 0.0), Decline(("o4",), 5.0), Decline(("o2",), 120.0)]
    assert decline_unused(unused, SHAPES, 2, 5.0, 120.0) == (two_quick, 0, 1)
    all_quick = [Decline(("o1", "o3", "o4"), 0.0), Decline(("o2",), 120.0)]
    assert decline_unused(unused, SHAPES, 9, 5.0, 120.0) == (all_quick, 6, 0)  # 6 of 9 left for later offers
    assert decline_unused(unused[:1], SHAPES, 0, 5.0, 120.0) == ([Decline(("o1",), 5.0)], 0, 1)
    assert decline_unused(unused[1:2], SHAPES, 3, 5.0, 120.0) == ([Decline(("o2",), 120.0)], 3, 0)
    assert decline_unused([], SHAPES, 3, 5.0, 120.0) == ([], 3, 0)


def test_decline_unused_paces_the_hostable_rest_one_round_apart() -> None:
    unused = [offer(f"o{i}", 4, 1024) for i in range(8)] + [offer("s", 0.5, 64)]
    ids = [o.offer_id for o in unused]
    declines, _, paced = decline_unused(unused, SHAPES, 2, 5.0, 120.0, per_round=2)
    assert paced == 6
    assert declines == [
        Decline(tuple(ids[0:2]), 0.0),  # the quick ones: the next allocation
        Decline(tuple(ids[2:4]), 1.0),  # then as many a round
        Decline(tuple(ids[4:6]), 2.0),
        Decline(tuple(ids[6:8]), 3.0),
        Decline(("s",), 120.0),
    ]
    # The busy filter caps the pacing: what would come back later than it comes back with it.
    declines, _, _ = decline_unused(unused, SHAPES, 2, 2.5, 120.0, per_round=2)
    shape = [(len(d.offer_ids), d.refuse_seconds) for d in declines]
    assert shape == [(2, 0.0), (2, 1.0), (2, 2.0), (2, 2.5), (1, 120.0)]
    # A busy filter shorter than a round (the integration tests' timers): no pacing at all.
    declines, _, _ = decline_unused(unused, SHAPES, 2, 0.2, 120.0, per_round=2)
    assert [(len(d.offer_ids), d.refuse_seconds) for d in declines] == [(2, 0.0), (6, 0.2), (1, 120.0)]
    # A later offer event of the same decision goes on where the earlier one stopped (3 paced: the
    # second round has one place left).
    declines, _, paced = decline_unused(unused[:4], SHAPES, 0, 5.0, 120.0, per_round=2, paced=3)
    assert [(len(d.offer_ids), d.refuse_seconds) for d in declines] == [(1, 2.0), (2, 3.0), (1, 4.0)]
    assert paced == 7


def test_declines_first_moves_declines_ahead_of_records_but_not_ahead_of_a_revive() -> None:
    d1, d2, d3 = Decline(("a",), 0.0), Decline(("b",), 5.0), Decline(("c",), 120.0)
    p1, p2, p3 = PersistFrameworkId("1"), PersistFrameworkId("2"), PersistFrameworkId("3")
    assert declines_first([d1, p1, p2, d2, Suppress()]) == [d1, d2, p1, p2, Suppress()]
    # d3 stays behind the REVIVE (which would clear its filter), ahead of what follows the REVIVE.
    assert declines_first([p1, d1, Revive(), p2, d3, p3]) == [d1, p1, Revive(), d3, p2, p3]
    assert declines_first([p1, p2]) == [p1, p2]


def test_accept_leftover_filters_only_leftovers_too_small_for_an_instance() -> None:
    offers = {"o1": offer("o1", 2, 256), "o2": offer("o2", 1, 128)}
    spec = validate_app({"id": "/a", "cmd": "x", "cpus": 1, "mem": 128})
    launch = TaskLaunch.of(spec, "v.1", "a.1", 0, "a1", "h", "*", Resources.of(cpus=1, mem=128), ())
    roomy = Accept("a1", ("o1", "o2"), (launch,), 0.0)  # 3 cpus, 384 MB offered, 1 cpu used: room left
    full = Accept("a1", ("o2",), (launch,), 0.0)  # 1 cpu offered, 1 used: nothing left
    assert accept_leftover(roomy, offers, SHAPES, 120.0) is roomy
    assert accept_leftover(full, offers, SHAPES, 120.0) == Accept("a1", ("o2",), (launch,), 120.0)


# -- draft builders --------------------------------------------------------------------------------

RECORD_VALUES = ("a.1", "/a", "v.1", 3, TaskState.RUNNING, 1.5, "ag", "h", (31000,), True, "R", "m", 1.0,
                 b"u")


def test_new_task_record_is_the_frozen_record() -> None:
    record = new_task_record(*RECORD_VALUES)
    assert type(record) is TaskRecord and record == TaskRecord(*RECORD_VALUES)
    assert hash(record) == hash(TaskRecord(*RECORD_VALUES))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.state = TaskState.FAILED  # type: ignore[misc]
    assert dataclasses.replace(record, slot=-1).slot == -1


def test_new_task_launch_is_the_frozen_launch() -> None:
    spec = validate_app(EXAMPLE)
    reference = TaskLaunch.of(spec, "v.3", "shop_web.1", 0, "a1", "h", "*", Resources.of(cpus=1), (31000,))
    values: list[Any] = [getattr(reference, f.name) for f in dataclasses.fields(TaskLaunch)]
    launch = new_task_launch(*values)
    assert type(launch) is TaskLaunch and launch == reference
    with pytest.raises(dataclasses.FrozenInstanceError):
        launch.slot = 2  # type: ignore[misc]


def test_new_persist_task_and_new_acknowledge_are_the_frozen_effects() -> None:
    record = TaskRecord(*RECORD_VALUES)
    persist, ack = new_persist_task(record), new_acknowledge("a1", "a.1", b"u" * 16)
    assert type(persist) is PersistTask and persist == PersistTask(record) and persist.record is record
    assert type(ack) is Acknowledge and ack == Acknowledge("a1", "a.1", b"u" * 16)
    assert hash(ack) == hash(Acknowledge("a1", "a.1", b"u" * 16))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ack.uuid = b""  # type: ignore[misc]


# -- TaskRecord.after --------------------------------------------------------------------------------


def reference_after(record: TaskRecord, ev: StatusUpdated) -> TaskRecord:
    """The definition `after` implements (how it was written before the shortcuts)."""
    running = ev.state is TaskState.RUNNING
    if ev.healthy is not None:
        healthy: bool | None = ev.healthy
    else:
        healthy = record.healthy if running and record.state is TaskState.RUNNING else None
    if ev.uuid is None and ev.state is record.state:
        return dataclasses.replace(record, healthy=healthy, agent_id=record.agent_id or ev.agent_id)
    return TaskRecord(
        record.task_id, record.app_id, record.version, record.slot, ev.state,
        ev.now if ev.state is not record.state else record.updated_at, ev.agent_id or record.agent_id,
        record.hostname, record.ports, healthy, ev.reason, ev.message,
        ev.now if running and record.started_at is None else record.started_at,
        ev.uuid if ev.uuid is not None else record.status_uuid,
    )


STATES = st.sampled_from([TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING, TaskState.UNREACHABLE,
                          TaskState.FAILED])
MAYBE_TEXT = st.none() | st.sampled_from(["x", "y"])
MAYBE_BOOL = st.none() | st.booleans()
MAYBE_UUID = st.none() | st.sampled_from([b"u1", b"u2"])


@st.composite
def records(draw: st.DrawFn) -> TaskRecord:
    return TaskRecord("a.1", "/a", "v.1", 0, draw(STATES), draw(st.sampled_from([1.0, 2.0])),
                      draw(st.none() | st.sampled_from(["a1", "a2"])), "h", (31000,), draw(MAYBE_BOOL),
                      draw(MAYBE_TEXT), draw(MAYBE_TEXT), draw(st.none() | st.sampled_from([1.0, 2.0])),
                      draw(MAYBE_UUID))


@st.composite
def updates(draw: st.DrawFn) -> StatusUpdated:
    return StatusUpdated(draw(st.sampled_from([1.0, 2.0, 3.0])), "a.1", draw(STATES),
                         draw(st.none() | st.sampled_from(["a1", "a2"])), draw(MAYBE_BOOL), draw(MAYBE_TEXT),
                         draw(MAYBE_TEXT), None, draw(MAYBE_UUID))


@given(records(), updates())
def test_after_matches_its_definition_and_returns_self_exactly_when_unchanged(record: TaskRecord,
                                                                              ev: StatusUpdated) -> None:
    want = reference_after(record, ev)
    got = record.after(ev)
    assert got == want and type(got) is TaskRecord
    assert (got is record) == (want == record)
