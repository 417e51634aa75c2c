"""`codec.decode_call` refuses a protobuf body exactly when the real master's parse would: when it
does not parse, or when a required field is missing anywhere in the Call (C++ ParseFromString
checks them). The check is made with upb's encoder rather than IsInitialized (a third of the cost);
this compares the two on valid calls with fields cleared at random places and on mutated bytes.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.codec import CallDecodeError, Encoding, decode_call
from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

Call = scheduler_pb2.Call


def _accept() -> Call:
    call = Call(type=Call.ACCEPT)
    call.framework_id.value = "f1"
    call.accept.offer_ids.add().value = "o1"
    launch = call.accept.operations.add(type=mesos_pb2.Offer.Operation.LAUNCH).launch
    for i in range(3):
        task = launch.task_infos.add(name="web")
        task.task_id.value = f"web.{i}"
        task.agent_id.value = "a1"
        cpus = task.resources.add(name="cpus", type=mesos_pb2.Value.SCALAR)
        cpus.scalar.value = 0.5
        ports = task.resources.add(name="ports", type=mesos_pb2.Value.RANGES)
        ports.ranges.range.add(begin=31000 + i, end=31000 + i)
        task.command.value = "serve"
        task.command.environment.variables.add(name="PORT", value=str(31000 + i))
        task.labels.labels.add(key="slot", value=str(i))
        task.health_check.type = mesos_pb2.HealthCheck.HTTP
        task.health_check.http.port = 80
        task.limits["cpus"].value = 1.0
    group = call.accept.operations.add(type=mesos_pb2.Offer.Operation.LAUNCH_GROUP).launch_group
    group.executor.executor_id.value = "e1"
    group.executor.type = mesos_pb2.ExecutorInfo.DEFAULT
    member = group.task_group.tasks.add(name="sidecar")
    member.task_id.value = "sidecar"
    member.agent_id.value = "a1"
    call.accept.filters.refuse_seconds = 5.0
    return call


def _subscribe() -> Call:
    call = Call(type=Call.SUBSCRIBE)
    info = call.subscribe.framework_info
    info.user, info.name = "u", "n"
    info.capabilities.add(type=mesos_pb2.FrameworkInfo.Capability.MULTI_ROLE)
    info.roles.append("web")
    return call


def _set_fields(message: Message, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every set field anywhere in `message`, as a path of names and repeated-field indexes."""
    out: list[tuple[str, ...]] = []
    for descriptor, value in message.ListFields():
        here = (*path, descriptor.name)
        out.append(here)
        if descriptor.message_type is None or descriptor.message_type.GetOptions().map_entry:
            continue
        if isinstance(value, Message):
            out += _set_fields(value, here)
        else:  # a repeated message field
            for i, item in enumerate(value):
                out += _set_fields(item, (*here, str(i)))
    return out


def _clear(message: Message, path: tuple[str, ...]) -> None:
    *parents, name = path
    target = message
    for step in parents:
        target = target[int(step)] if step.isdigit() else getattr(target, step)  # type: ignore[index]
    target.ClearField(name)


def _reference_refuses(body: bytes) -> bool:
    call = Call()
    try:
        call.ParseFromString(body)
    except DecodeError:
        return True
    return not call.IsInitialized()


def _refuses(body: bytes) -> bool:
    try:
        decode_call(body, Encoding.PROTOBUF)
    except CallDecodeError:
        return True
    return False


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    call = draw(st.sampled_from([_accept, _subscribe]))()
    paths = _set_fields(call)
    # Deepest first: clearing a field never moves the elements a deeper path goes through.
    chosen = draw(st.lists(st.sampled_from(paths), max_size=3, unique=True))
    for path in sorted(chosen, key=len, reverse=True):
        _clear(call, path)
    body = bytearray(call.SerializePartialToString())
    if not body:
        return b""
    for position, value in draw(st.lists(st.tuples(st.integers(0, len(body) - 1), st.integers(0, 255)),
                                         max_size=2)):  # fmt: skip
        body[position] = value
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return bytes(body)


@settings(max_examples=500, deadline=None)
@given(_bodies())
def test_protobuf_bodies_are_refused_exactly_when_the_reference_parse_refuses(body: bytes) -> None:
    assert _refuses(body) == _reference_refuses(body)


def test_a_missing_required_field_deep_in_a_launch_is_refused() -> None:
    call = _accept()
    call.accept.operations[0].launch.task_infos[2].resources[1].ClearField("name")
    body = call.SerializePartialToString()
    assert _reference_refuses(body) and _refuses(body)
    assert not _refuses(_accept().SerializeToString())
