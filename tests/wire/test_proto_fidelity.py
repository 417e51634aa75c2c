"""Every message, field and enum value Gantry declares is declared identically by Apache Mesos.

mesos_fields.json holds facts derived mechanically from the upstream Mesos 1.x .proto files
(for each message we declare: the upstream number, type, label, type name, default, deprecation
and oneof of each field we declare; for each enum we declare: all upstream values). The test
reads our compiled descriptors, so it needs no copy of Mesos at test time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.executor import executor_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

FIXTURE = Path(__file__).with_name("mesos_fields.json")

TYPE_NAMES = {
    number: name[len("TYPE_") :].lower() for name, number in descriptor_pb2.FieldDescriptorProto.Type.items()
}
LABEL_NAMES = {1: "optional", 2: "required", 3: "repeated"}


def _file_protos() -> list[descriptor_pb2.FileDescriptorProto]:
    return [
        descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        for module in (mesos_pb2, scheduler_pb2, executor_pb2)
    ]


def _walk_messages(
    message: descriptor_pb2.DescriptorProto, prefix: str
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    full_name = f"{prefix}.{message.name}"
    yield full_name, message
    for nested in message.nested_type:
        yield from _walk_messages(nested, full_name)


def declared_messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}
    for file_proto in _file_protos():
        for message in file_proto.message_type:
            found.update(_walk_messages(message, file_proto.package))
    return found


def declared_enums() -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for file_proto in _file_protos():
        for enum in file_proto.enum_type:
            found[f"{file_proto.package}.{enum.name}"] = {v.name: v.number for v in enum.value}
    for name, message in declared_messages().items():
        for enum in message.enum_type:
            found[f"{name}.{enum.name}"] = {v.name: v.number for v in enum.value}
    return found


def field_facts(
    message: descriptor_pb2.DescriptorProto, field: descriptor_pb2.FieldDescriptorProto
) -> dict[str, Any]:
    return {
        "number": field.number,
        "type": TYPE_NAMES[field.type],
        "label": LABEL_NAMES[field.label],
        "type_name": field.type_name.lstrip(".") or None,
        "default": field.default_value if field.HasField("default_value") else None,
        "deprecated": field.options.deprecated,
        "oneof": message.oneof_decl[field.oneof_index].name if field.HasField("oneof_index") else None,
    }


def upstream() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text())
    return loaded


MESSAGES = declared_messages()
ENUMS = declared_enums()
UPSTREAM = upstream()


def test_every_declared_message_exists_upstream_and_vice_versa() -> None:
    # Both directions: a message we add without refreshing the table fails here, so the
    # table cannot silently stop covering what we declare.
    assert sorted(MESSAGES) == sorted(UPSTREAM["messages"])


def test_every_declared_enum_exists_upstream_and_vice_versa() -> None:
    assert sorted(ENUMS) == sorted(UPSTREAM["enums"])


@pytest.mark.parametrize("message_name", sorted(MESSAGES))
def test_fields_have_upstream_number_type_label_and_default(message_name: str) -> None:
    message = MESSAGES[message_name]
    expected = UPSTREAM["messages"][message_name]
    ours = {field.name: field_facts(message, field) for field in message.field}
    assert ours == expected


@pytest.mark.parametrize("enum_name", sorted(ENUMS))
def test_enums_list_every_upstream_value_with_its_number(enum_name: str) -> None:
    assert ENUMS[enum_name] == UPSTREAM["enums"][enum_name]


def test_packages_match_mesos() -> None:
    assert [f.package for f in _file_protos()] == ["mesos.v1", "mesos.v1.scheduler", "mesos.v1.executor"]


def test_task_status_reasons_cover_the_protocol_notes() -> None:
    # mesos-protocol.md a.15 lists 35 reasons, numbered 0..34 with no gaps.
    numbers = sorted(ENUMS["mesos.v1.TaskStatus.Reason"].values())
    assert numbers == list(range(35))
