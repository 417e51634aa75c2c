"""Mesos JSON mapping: round trips, Mesos' printing rules, and Mesos' lenient-but-strict parsing."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from proto.jsoncodec import JSONCodecError, dumps, parse, to_dict
from proto.mesos.v1 import mesos_pb2 as mesos
from proto.mesos.v1.executor import executor_pb2 as executor
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

UUID = bytes.fromhex("fbff00112233445566778899aabbccdd")  # base64 needs '+' and '/'
BIG = 2**53 + 1  # not representable as a double: must survive as an exact JSON number


# --- builders ------------------------------------------------------------------------------


def make_resources() -> list[mesos.Resource]:
    cpus = mesos.Resource(name="cpus", type=mesos.Value.SCALAR, scalar=mesos.Value.Scalar(value=0.5))
    cpus.allocation_info.role = "web"
    ports = mesos.Resource(name="ports", type=mesos.Value.RANGES)
    ports.ranges.range.add(begin=31000, end=32000)
    ports.ranges.range.add(begin=BIG, end=2**64 - 1)
    disks = mesos.Resource(name="volumes", type=mesos.Value.SET)
    disks.set.item.extend(["ssd", "hdd"])
    reserved = mesos.Resource(name="mem", type=mesos.Value.SCALAR, scalar=mesos.Value.Scalar(value=512))
    reserved.reservations.add(type=mesos.Resource.ReservationInfo.DYNAMIC, role="web", principal="ci")
    return [cpus, ports, disks, reserved]


def make_task() -> mesos.TaskInfo:
    task = mesos.TaskInfo(name="web", task_id=mesos.TaskID(value="web.1"), agent_id=mesos.AgentID(value="a1"))
    task.resources.extend(make_resources())
    task.container.type = mesos.ContainerInfo.MESOS
    task.container.mesos.image.type = mesos.Image.DOCKER
    task.container.mesos.image.docker.name = "nginx:1.25"
    task.command.shell = False
    task.command.value = "nginx"
    task.command.arguments.extend(["-g", "daemon off;"])
    task.command.environment.variables.add(name="PORT", value="31000")
    task.health_check.type = mesos.HealthCheck.HTTP
    task.health_check.http.port = 31000
    task.health_check.http.path = "/health"
    task.check.type = mesos.CheckInfo.TCP
    task.check.tcp.port = 31000
    task.kill_policy.grace_period.nanoseconds = 30 * 10**9
    task.labels.labels.add(key="harness.behaviour", value="finish:5")
    task.limits["cpus"].value = math.inf
    task.limits["mem"].value = 1024
    task.data = b"\x00\n\xff"
    return task


def make_accept_group() -> scheduler.Call:
    call = scheduler.Call(type=scheduler.Call.ACCEPT, framework_id=mesos.FrameworkID(value="fw-0001"))
    call.accept.offer_ids.add(value="o1")
    operation = call.accept.operations.add(type=mesos.Offer.Operation.LAUNCH_GROUP)
    operation.launch_group.executor.type = mesos.ExecutorInfo.DEFAULT
    operation.launch_group.executor.executor_id.value = "exec-1"
    operation.launch_group.task_group.tasks.append(make_task())
    call.accept.filters.refuse_seconds = 3600.0
    return call


def make_subscribe() -> scheduler.Call:
    call = scheduler.Call(type=scheduler.Call.SUBSCRIBE)
    info = call.subscribe.framework_info
    info.user = "root"
    info.name = "gantry"
    info.failover_timeout = 604800.0
    info.roles.extend(["web", "batch"])
    for capability in (
        mesos.FrameworkInfo.Capability.MULTI_ROLE,
        mesos.FrameworkInfo.Capability.PARTITION_AWARE,
    ):
        info.capabilities.add(type=capability)
    call.subscribe.suppressed_roles.append("batch")
    group = call.subscribe.offer_constraints.role_constraints["web"].groups.add()
    constraint = group.attribute_constraints.add()
    constraint.selector.attribute_name = "rack"
    constraint.predicate.text_equals.value = "r1"
    return call


def make_offers_event() -> scheduler.Event:
    event = scheduler.Event(type=scheduler.Event.OFFERS)
    offer = event.offers.offers.add(hostname="agent-1")
    offer.id.value = "o1"
    offer.framework_id.value = "fw-0001"
    offer.agent_id.value = "a1"
    offer.resources.extend(make_resources())
    offer.attributes.add(name="rack", type=mesos.Value.TEXT, text=mesos.Value.Text(value="r1"))
    offer.allocation_info.role = "web"
    return event


def make_update_event() -> scheduler.Event:
    event = scheduler.Event(type=scheduler.Event.UPDATE)
    status = event.update.status
    status.task_id.value = "web.1"
    status.state = mesos.TASK_RUNNING
    status.source = mesos.TaskStatus.SOURCE_EXECUTOR
    status.reason = mesos.TaskStatus.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
    status.uuid = UUID
    status.timestamp = 1_700_000_000.25
    status.healthy = True
    status.agent_id.value = "a1"
    status.container_status.network_infos.add().ip_addresses.add(ip_address="10.0.0.7")
    return event


def make_executor_subscribe() -> executor.Call:
    call = executor.Call(type=executor.Call.SUBSCRIBE)
    call.executor_id.value = "exec-1"
    call.framework_id.value = "fw-0001"
    call.subscribe.unacknowledged_tasks.append(make_task())
    call.subscribe.unacknowledged_updates.add().status.CopyFrom(make_update_event().update.status)
    return call


def make_acknowledge() -> scheduler.Call:
    call = scheduler.Call(type=scheduler.Call.ACKNOWLEDGE, framework_id=mesos.FrameworkID(value="fw-0001"))
    call.acknowledge.agent_id.value = "a1"
    call.acknowledge.task_id.value = "web.1"
    call.acknowledge.uuid = UUID
    return call


ROUND_TRIP_CASES: list[tuple[str, Message]] = [
    ("subscribe", make_subscribe()),
    ("accept_launch_group", make_accept_group()),
    ("offers_event", make_offers_event()),
    ("update_event", make_update_event()),
    ("task_info", make_task()),
    ("acknowledge", make_acknowledge()),
    ("executor_subscribe", make_executor_subscribe()),
    ("heartbeat", scheduler.Event(type=scheduler.Event.HEARTBEAT)),
]


def includes(big: Any, small: Any) -> bool:
    """True when `big` has every key and element of `small` (and maybe extra keys)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(key in big and includes(big[key], small[key]) for key in small)
    if isinstance(small, list):
        return isinstance(big, list) and len(big) == len(small) and all(map(includes, big, small))
    return bool(big == small)


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "message"), ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
def test_round_trip_without_defaults_reproduces_the_message_exactly(name: str, message: Message) -> None:
    assert parse(dumps(message, defaults=False), type(message)) == message


@pytest.mark.parametrize(("name", "message"), ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
def test_round_trip_with_defaults_is_stable_and_keeps_every_set_field(name: str, message: Message) -> None:
    once = parse(dumps(message), type(message))
    # Defaults become explicit on the way back; everything that was set is unchanged.
    assert dumps(once) == dumps(message)
    assert includes(to_dict(once, defaults=False), to_dict(message, defaults=False))


# --- printing --------------------------------------------------------------------------------


def test_64_bit_integers_are_printed_as_exact_json_numbers() -> None:
    text = dumps(make_offers_event()).decode()
    assert '"begin":31000,"end":32000' in text
    assert f'"begin":{BIG},"end":18446744073709551615' in text
    assert '"nanoseconds":30000000000' in dumps(make_task()).decode()


def test_bytes_are_standard_base64() -> None:
    assert to_dict(make_update_event())["update"]["status"]["uuid"] == "+/8AESIzRFVmd4iZqrvM3Q=="


def test_enums_are_printed_as_names() -> None:
    status = to_dict(make_update_event())["update"]["status"]
    assert status["state"] == "TASK_RUNNING"
    assert status["source"] == "SOURCE_EXECUTOR"
    assert status["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"


def test_output_is_compact_with_no_raw_newline_even_when_strings_contain_one() -> None:
    event = scheduler.Event(type=scheduler.Event.ERROR, error=scheduler.Event.Error(message="two\nlines"))
    text = dumps(event)
    assert text == b'{"type":"ERROR","error":{"message":"two\\nlines"}}'
    assert b"\n" not in dumps(make_accept_group())
    assert b", " not in dumps(make_accept_group())


def test_non_ascii_strings_are_written_as_utf8() -> None:
    info = mesos.FrameworkInfo(user="root", name="gantry-é")
    assert "gantry-é".encode() in dumps(info)


def test_unset_fields_with_a_declared_default_are_printed_like_mesos_does() -> None:
    call = scheduler.Call(type=scheduler.Call.DECLINE)
    call.decline.offer_ids.add(value="o1")
    call.decline.filters.SetInParent()
    assert to_dict(call)["decline"]["filters"] == {"refuse_seconds": 5.0}
    health = to_dict(mesos.HealthCheck(type=mesos.HealthCheck.TCP))
    assert health == {
        "delay_seconds": 15.0,
        "interval_seconds": 10.0,
        "timeout_seconds": 20.0,
        "consecutive_failures": 3,
        "grace_period_seconds": 10.0,
        "type": "TCP",
    }


def test_deprecated_defaults_are_not_printed() -> None:
    # FrameworkInfo.role and Resource.role default to "*" but are deprecated.
    info = to_dict(mesos.FrameworkInfo(user="u", name="n"))
    assert "role" not in info
    assert info["failover_timeout"] == 0.0
    assert info["checkpoint"] is False
    assert "role" not in to_dict(mesos.Resource(name="cpus", type=mesos.Value.SCALAR))


def test_without_defaults_only_set_fields_are_printed() -> None:
    assert to_dict(mesos.Filters(), defaults=False) == {}
    assert to_dict(mesos.Filters()) == {"refuse_seconds": 5.0}


def test_fields_are_printed_in_declaration_order() -> None:
    status = make_update_event().update.status
    keys = list(to_dict(status))
    assert keys[:4] == ["task_id", "state", "source", "reason"]


def test_infinite_doubles_are_printed_as_the_strings_mesos_parses() -> None:
    assert to_dict(make_task())["limits"]["cpus"] == {"value": "Infinity"}
    assert to_dict(mesos.Value.Scalar(value=-math.inf)) == {"value": "-Infinity"}


def test_nan_cannot_be_printed() -> None:
    with pytest.raises(JSONCodecError, match="NaN"):
        dumps(mesos.Value.Scalar(value=math.nan))


def test_maps_are_printed_as_objects() -> None:
    assert to_dict(make_task())["limits"]["mem"] == {"value": 1024.0}


# --- parsing: leniency Mesos has -----------------------------------------------------------------


SUBSCRIBE_JSON: dict[str, Any] = {
    "type": "SUBSCRIBE",
    "subscribe": {"framework_info": {"user": "root", "name": "gantry"}},
}


def test_unknown_keys_are_ignored_at_every_level() -> None:
    body = json.loads(json.dumps(SUBSCRIBE_JSON))
    body["slave_id"] = {"value": "legacy"}
    body["subscribe"]["framework_info"]["futuristic"] = [1, 2, {"x": None}]
    assert parse(body, scheduler.Call) == parse(SUBSCRIBE_JSON, scheduler.Call)


def test_null_means_absent_for_scalars_messages_and_lists() -> None:
    body = json.loads(json.dumps(SUBSCRIBE_JSON))
    body["framework_id"] = None
    body["subscribe"]["framework_info"].update({"capabilities": None, "hostname": None, "labels": None})
    body["subscribe"]["suppressed_roles"] = ["web", None]
    call = parse(body, scheduler.Call)
    assert not call.HasField("framework_id")
    info = call.subscribe.framework_info
    assert not info.HasField("hostname") and not info.HasField("labels")
    assert list(info.capabilities) == []
    assert list(call.subscribe.suppressed_roles) == ["web"]


def test_resources_with_null_reservations_parse() -> None:
    resource = parse(
        '{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":null}', mesos.Resource
    )
    assert resource.scalar.value == 1.0 and list(resource.reservations) == []


def test_numbers_written_as_strings_are_accepted_in_numeric_fields() -> None:
    resource = parse(
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": "31000", "end": str(2**64 - 1)}]}},
        mesos.Resource,
    )
    assert resource.ranges.range[0].begin == 31000
    assert resource.ranges.range[0].end == 2**64 - 1
    assert parse({"refuse_seconds": "10.5"}, mesos.Filters).refuse_seconds == 10.5


def test_infinity_strings_are_accepted_in_double_fields() -> None:
    assert parse({"value": "Infinity"}, mesos.Value.Scalar).value == math.inf
    assert parse({"value": "-Infinity"}, mesos.Value.Scalar).value == -math.inf


def test_booleans_written_as_strings_are_accepted() -> None:
    assert parse({"user": "u", "name": "n", "checkpoint": "true"}, mesos.FrameworkInfo).checkpoint is True


def test_an_unknown_enum_name_in_an_optional_field_leaves_it_unset() -> None:
    call = parse({"type": "BRAND_NEW_CALL"}, scheduler.Call)
    assert not call.HasField("type")
    info = parse({"user": "u", "name": "n", "capabilities": [{"type": "TELEPORT"}]}, mesos.FrameworkInfo)
    assert len(info.capabilities) == 1 and not info.capabilities[0].HasField("type")


def test_a_single_value_where_a_list_is_expected_counts_as_one_element() -> None:
    call = parse({"type": "REVIVE", "revive": {"roles": "web"}}, scheduler.Call)
    assert list(call.revive.roles) == ["web"]


def test_base64_is_decoded_leniently_like_mesos() -> None:
    # Missing padding and embedded whitespace are accepted, as stout does.
    assert parse({"data": "+/8AESIzRFVmd4iZqrvM3Q"}, mesos.Secret.Value).data == UUID
    assert parse({"data": "+/8AESIz RFVmd4iZ\nqrvM3Q=="}, mesos.Secret.Value).data == UUID


def test_parse_accepts_bytes_text_and_decoded_objects() -> None:
    text = json.dumps(SUBSCRIBE_JSON)
    assert (
        parse(text, scheduler.Call)
        == parse(text.encode(), scheduler.Call)
        == parse(SUBSCRIBE_JSON, scheduler.Call)
    )


def test_an_empty_object_marks_a_sub_message_present() -> None:
    call = parse(
        {"type": "DECLINE", "decline": {"offer_ids": [{"value": "o1"}], "filters": {}}}, scheduler.Call
    )
    assert call.decline.HasField("filters")
    assert call.decline.filters.refuse_seconds == 5.0


# --- parsing: strictness Mesos has ---------------------------------------------------------------


def test_a_json_number_in_an_enum_field_is_rejected() -> None:
    with pytest.raises(JSONCodecError, match=r"^Not expecting a JSON number for field 'type'$"):
        parse({"type": 1}, scheduler.Call)


def test_a_nested_error_says_where_it_is() -> None:
    body = {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "u", "name": "n", "capabilities": [{"type": 6}]}},
    }
    with pytest.raises(JSONCodecError, match="Not expecting a JSON number for field 'type'") as caught:
        parse(body, scheduler.Call)
    assert caught.value.path == "subscribe.framework_info.capabilities[0].type"
    assert "subscribe.framework_info.capabilities[0].type" in str(caught.value)


def test_an_unknown_enum_name_in_a_required_field_is_rejected() -> None:
    with pytest.raises(JSONCodecError, match="Failed to find enum for 'GPU'"):
        parse({"name": "gpus", "type": "GPU"}, mesos.Resource)


def test_missing_required_fields_are_listed_by_path() -> None:
    body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "gantry"}}}
    with pytest.raises(JSONCodecError, match=r"^Missing required fields: subscribe\.framework_info\.user$"):
        parse(body, scheduler.Call)


def test_missing_required_fields_inside_lists_and_maps_carry_their_index_or_key() -> None:
    body = {"type": "ACCEPT", "accept": {"offer_ids": [{"value": "o1"}, {}]}}
    with pytest.raises(JSONCodecError, match=r"accept\.offer_ids\[1\]\.value"):
        parse(body, scheduler.Call)
    with pytest.raises(JSONCodecError, match=r"limits\['cpus'\]\.value"):
        parse(
            {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}, "limits": {"cpus": {}}},
            mesos.TaskInfo,
        )


def test_a_missing_required_enum_is_reported() -> None:
    with pytest.raises(JSONCodecError, match="Missing required fields: task_id, state"):
        parse({}, mesos.TaskStatus)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "SUBSCRIBE", "subscribe": "yes"}, "Not expecting a JSON string for field 'subscribe'"),
        ({"type": ["SUBSCRIBE"]}, "Not expecting a JSON array for field 'type'"),
        ({"type": {"name": "SUBSCRIBE"}}, "Not expecting a JSON object for field 'type'"),
        ({"type": True}, "Not expecting a JSON boolean for field 'type'"),
        ({"framework_id": {"value": 7}}, "Not expecting a JSON number for field 'value'"),
        (
            {"type": "REVIVE", "revive": {"roles": [{"role": "web"}]}},
            "Not expecting a JSON object for field 'roles'",
        ),
    ],
)
def test_values_of_the_wrong_json_type_are_rejected_naming_the_field(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(JSONCodecError, match=message):
        parse(body, scheduler.Call)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"begin": -1, "end": 2}, "Value -1 is out of range for uint64 field 'begin'"),
        ({"begin": 2**64, "end": 2}, "out of range for uint64 field 'begin'"),
        ({"begin": 1e400, "end": 2}, "out of range for uint64 field 'begin'"),
        ({"begin": "31k", "end": 2}, "Failed to parse '31k' as a JSON number for field 'begin'"),
        ({"begin": True, "end": 2}, "Not expecting a JSON boolean for field 'begin'"),
    ],
)
def test_bad_integers_are_rejected(body: dict[str, Any], message: str) -> None:
    with pytest.raises(JSONCodecError, match=message):
        parse(body, mesos.Value.Range)


def test_a_fractional_number_in_an_integer_field_is_truncated_like_mesos() -> None:
    assert parse({"begin": 3.9, "end": 4}, mesos.Value.Range).begin == 3


def test_bad_base64_is_rejected() -> None:
    with pytest.raises(
        JSONCodecError, match="Failed to base64 decode bytes field 'data': Invalid character '!'"
    ):
        parse({"data": "ab!c"}, mesos.Secret.Value)


def test_bad_boolean_strings_are_rejected() -> None:
    with pytest.raises(
        JSONCodecError, match="Failed to parse 'yes' as a JSON boolean for field 'checkpoint'"
    ):
        parse({"user": "u", "name": "n", "checkpoint": "yes"}, mesos.FrameworkInfo)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"type":', "Failed to parse JSON"),
        (b"\xff\xfe", "Failed to parse JSON"),
        (b'{"type": NaN}', "Failed to parse JSON: invalid JSON literal NaN"),
        (b"[]", "Expecting a JSON object, got array"),
        (b"null", "Expecting a JSON object, got null"),
        (b'"SUBSCRIBE"', "Expecting a JSON object, got string"),
    ],
)
def test_malformed_documents_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(JSONCodecError, match=message):
        parse(data, scheduler.Call)


def test_absurd_nesting_is_an_error_not_a_crash() -> None:
    nested: dict[str, Any] = {"value": "leaf"}
    for _ in range(5000):
        nested = {"value": "c", "parent": nested}
    with pytest.raises(JSONCodecError, match="nested too deeply"):
        parse(nested, mesos.ContainerID)


def test_codec_errors_are_value_errors() -> None:
    assert issubclass(JSONCodecError, ValueError)


# --- a message type with every scalar kind (built at run time) ----------------------------------


def build_sample_type() -> type[Message]:
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="gantry_sample.proto", package="gantry.sample", syntax="proto2"
    )
    color = file_proto.enum_type.add(name="Color")
    color.value.add(name="RED", number=1)
    color.value.add(name="BLUE", number=2)
    sample = file_proto.message_type.add(name="Sample")
    entry = sample.nested_type.add(name="CountsEntry")
    entry.options.map_entry = True
    field = descriptor_pb2.FieldDescriptorProto
    entry.field.add(name="key", number=1, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    rows = [
        ("colors", field.TYPE_ENUM, field.LABEL_REPEATED, ".gantry.sample.Color"),
        ("favourite", field.TYPE_ENUM, field.LABEL_REQUIRED, ".gantry.sample.Color"),
        ("small", field.TYPE_SINT32, field.LABEL_OPTIONAL, ""),
        ("ratio", field.TYPE_FLOAT, field.LABEL_OPTIONAL, ""),
        ("flags", field.TYPE_BOOL, field.LABEL_REPEATED, ""),
        ("blobs", field.TYPE_BYTES, field.LABEL_REPEATED, ""),
        ("counts", field.TYPE_MESSAGE, field.LABEL_REPEATED, ".gantry.sample.Sample.CountsEntry"),
    ]
    for number, (name, kind, label, type_name) in enumerate(rows, start=1):
        added = sample.field.add(name=name, number=number, type=kind, label=label)
        if type_name:
            added.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("gantry.sample.Sample"))


SAMPLE = build_sample_type()


def test_an_unknown_name_in_a_repeated_enum_skips_only_that_element() -> None:
    sample = parse({"favourite": "RED", "colors": ["RED", "PURPLE", "BLUE"]}, SAMPLE)
    assert to_dict(sample)["colors"] == ["RED", "BLUE"]


def test_any_message_type_round_trips_including_int_keyed_maps() -> None:
    body = {
        "favourite": "BLUE",
        "small": -5,
        "ratio": 0.5,
        "flags": [True, False],
        "blobs": ["AAE=", ""],
        "counts": {"7": "seven"},
    }
    sample = parse(body, SAMPLE)
    assert to_dict(sample) == body
    assert parse(dumps(sample), SAMPLE) == sample


# --- properties ----------------------------------------------------------------------------------

task_states = st.sampled_from(list(mesos.TaskState.keys()))
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


@given(
    task_id=text,
    state=task_states,
    uuid=st.binary(min_size=16, max_size=16),
    data=st.binary(max_size=64),
    timestamp=st.floats(allow_nan=False),
    message=text,
    begin=st.integers(0, 2**64 - 1),
)
def test_property_task_status_and_ranges_survive_json(
    task_id: str, state: str, uuid: bytes, data: bytes, timestamp: float, message: str, begin: int
) -> None:
    status = mesos.TaskStatus(
        task_id=mesos.TaskID(value=task_id), state=mesos.TaskState.Value(state), uuid=uuid, data=data
    )
    status.timestamp = timestamp
    status.message = message
    status.limitation.resources.add(name="ports", type=mesos.Value.RANGES).ranges.range.add(
        begin=begin, end=begin
    )
    encoded = dumps(status)
    assert b"\n" not in encoded
    assert parse(encoded, mesos.TaskStatus) == status


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=30,
)
call_keys = st.sampled_from(
    ["type", "framework_id", "subscribe", "accept", "decline", "kill", "acknowledge", "revive"]
)


@given(st.dictionaries(call_keys, json_values, max_size=5))
def test_property_junk_calls_either_parse_or_raise_a_codec_error(body: dict[str, Any]) -> None:
    try:
        call = parse(body, scheduler.Call)
    except JSONCodecError as error:
        assert str(error)
    else:
        assert call.IsInitialized()


@given(st.binary(max_size=200))
def test_property_junk_bytes_either_parse_or_raise_a_codec_error(data: bytes) -> None:
    try:
        parse(data, scheduler.Call)
    except JSONCodecError as error:
        assert str(error)
