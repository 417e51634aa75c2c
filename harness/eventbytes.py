"""Scheduler events written straight into bytes: UPDATE and OFFERS, the harness' hot events.

harness/codec.py's `OutEvent`s for UPDATE (two per launched task) and OFFERS (a cycle over
10,000 agents) call these writers instead of building a protobuf message and serializing it or
printing it as Mesos JSON. Each writer produces exactly the bytes of the generic path (upb's
serializer, `proto.jsoncodec`): tests/harness/test_units.py compares them. The OFFERS writers
assemble an event from per-offer pieces cached by agent and by amount (most agents look alike).

Nothing here decides what an event says; the master and codec.py do. Nothing here reads calls.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import struct
from collections.abc import Sequence
from typing import Any

from harness.model import Attribute, Status
from harness.resources import Resources, from_fixed
from proto.mesos.v1 import mesos_pb2

# -- UPDATE ---------------------------------------------------------------------------------------

TASK_STATES: dict[str, int] = dict(mesos_pb2.TaskState.items())
SOURCES: dict[str, int] = dict(mesos_pb2.TaskStatus.Source.items())
REASONS: dict[str, int] = dict(mesos_pb2.TaskStatus.Reason.items())

_BYTE = [bytes([i]) for i in range(128)]
_PACK_DOUBLE = struct.Struct("<d").pack


def _length(n: int) -> bytes:
    return _BYTE[n] if n < 128 else _varint(n)


def _id_field(tag: bytes, value: str) -> bytes:
    """A field holding an id message ({value: string}, field 1)."""
    raw = value.encode()
    inner = b"\x0a" + _length(len(raw)) + raw
    return tag + _length(len(inner)) + inner


# Fields every update repeats: its state and source (by value), its agent's id (by agent).
_STATE_FIELDS = {state: b"\x10" + _length(number) for state, number in TASK_STATES.items()}
_SOURCE_FIELDS = {source: b"\x48" + _length(number) for source, number in SOURCES.items()}
_AGENT_FIELDS: dict[str, bytes] = {}


def _agent_field(agent_id: str) -> bytes:
    field = _AGENT_FIELDS.get(agent_id)
    if field is None:
        if len(_AGENT_FIELDS) >= 100_000:  # bounded: agents come and go in long test sessions
            _AGENT_FIELDS.clear()
        field = _AGENT_FIELDS[agent_id] = _id_field(b"\x2a", agent_id)
    return field


def update_bytes(status: Status) -> bytes:
    """Event{type: UPDATE, update: {status}} in protobuf, fields in number order as upb writes them."""
    # One unpacking instead of a NamedTuple property call per field read (about fifteen).
    (
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
        unreachable,
    ) = status
    raw = task_id.encode()
    size = len(raw)
    if (
        size < 126
        and executor_id == task_id
        and uuid is not None
        and len(uuid) == 16
        and message is None
        and reason is None
        and healthy is None
        and unreachable is None
        and agent_id is not None
        and timestamp is not None
    ):
        # An executor's update of a command task (two per launched task): one formatting step.
        # One-byte lengths: the TaskID (tag, length, id) is at most 127 bytes.
        body = b"\x0a%c\x0a%c%b%b%b\x31%b\x3a%c\x0a%c%b%b\x5a\x10%b" % (
            size + 2,
            size,
            raw,
            _STATE_FIELDS[state],
            _agent_field(agent_id),
            _PACK_DOUBLE(timestamp),
            size + 2,
            size,
            raw,
            _SOURCE_FIELDS[source],
            uuid,
        )
        n = len(body)
        if n < 126:  # both enclosing lengths fit one byte: the envelope in one more step
            return b"\x08\x04\x2a%c\x0a%c%b" % (n + 2, n, body)
        update = b"\x0a" + _length(n) + body
        return b"\x08\x04\x2a" + _length(len(update)) + update
    task_inner = b"\x0a" + _length(size) + raw
    parts = [b"\x0a", _length(len(task_inner)), task_inner, _STATE_FIELDS[state]]
    if message is not None:
        raw = message.encode()
        parts += (b"\x22", _length(len(raw)), raw)
    if agent_id is not None:
        parts.append(_agent_field(agent_id))
    if timestamp is not None:
        parts += (b"\x31", _PACK_DOUBLE(timestamp))
    if executor_id is not None:
        if executor_id == task_id:  # a command executor's id is its task's
            parts += (b"\x3a", _length(len(task_inner)), task_inner)
        else:
            parts.append(_id_field(b"\x3a", executor_id))
    if healthy is not None:
        parts.append(b"\x40\x01" if healthy else b"\x40\x00")
    parts.append(_SOURCE_FIELDS[source])
    if reason is not None:
        parts += (b"\x50", _length(REASONS[reason]))
    if uuid is not None:
        parts += (b"\x5a", _length(len(uuid)), uuid)
    if unreachable is not None:
        nanos = _varint(int(unreachable * 1e9) & 0xFFFFFFFFFFFFFFFF)
        parts += (b"\x72", _length(len(nanos) + 1), b"\x08", nanos)
    body = b"".join(parts)
    update = b"\x0a" + _length(len(body)) + body
    return b"\x08\x04\x2a" + _length(len(update)) + update


def update_json(status: Status) -> bytes:
    """Mesos JSON of the UPDATE event, keys in TaskStatus' declaration order as stout prints them."""
    parts = [f'"task_id":{{"value":{_q(status.task_id)}}}', f'"state":"{status.state.value}"']
    if status.message is not None:
        parts.append(f'"message":{_q(status.message)}')
    parts.append(f'"source":"{status.source.value}"')
    if status.reason is not None:
        parts.append(f'"reason":"{status.reason}"')
    if status.agent_id is not None:
        parts.append(f'"agent_id":{{"value":{_q(status.agent_id)}}}')
    if status.executor_id is not None:
        parts.append(f'"executor_id":{{"value":{_q(status.executor_id)}}}')
    if status.timestamp is not None:
        parts.append(f'"timestamp":{_compact(status.timestamp)}')
    if status.uuid is not None:
        parts.append(f'"uuid":"{base64.b64encode(status.uuid).decode("ascii")}"')
    if status.healthy is not None:
        parts.append('"healthy":true' if status.healthy else '"healthy":false')
    if status.unreachable_time is not None:
        parts.append(f'"unreachable_time":{{"nanoseconds":{int(status.unreachable_time * 1e9)}}}')
    return ('{"type":"UPDATE","update":{"status":{' + ",".join(parts) + "}}}").encode()


# -- OFFERS ---------------------------------------------------------------------------------------


class OfferView:
    """What an OFFERS event needs to say about one offer."""

    __slots__ = (
        "agent_id",
        "attributes",
        "executor_ids",
        "framework_id",
        "hostname",
        "offer_id",
        "port",
        "resources",
        "role",
    )

    def __init__(
        self,
        offer_id: str,
        framework_id: str,
        agent_id: str,
        hostname: str,
        port: int,
        role: str,
        resources: Resources,
        attributes: Sequence[Attribute],
        executor_ids: Sequence[str],
    ) -> None:
        self.offer_id = offer_id
        self.framework_id = framework_id
        self.agent_id = agent_id
        self.hostname = hostname
        self.port = port
        self.role = role
        self.resources = resources
        self.attributes = attributes
        self.executor_ids = executor_ids


# Event.type = OFFERS (field 1, varint 2).
_OFFERS_TYPE = b"\x08\x02"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def fill_agent_part(o: mesos_pb2.Offer, hostname: str, port: int, attributes: Sequence[Attribute]) -> None:
    o.hostname = hostname
    o.url.scheme = "http"
    o.url.address.hostname = hostname
    o.url.address.port = port
    o.url.path = "/slave(1)"
    for attribute in attributes:
        fill_attribute(o.attributes.add(), attribute)


def fill_resources(out: Any, resources: Resources, role: str, refinement: bool) -> None:
    """Append Resource messages for `resources` (allocated to `role`) to a repeated field."""
    for name, value in sorted(resources.scalars.items()):
        r = out.add(name=name, type=mesos_pb2.Value.SCALAR)
        r.scalar.value = from_fixed(value)
        _allocate(r, role, refinement)
    for name, intervals in sorted(resources.ranges.items()):
        r = out.add(name=name, type=mesos_pb2.Value.RANGES)
        for begin, end in intervals:
            r.ranges.range.add(begin=begin, end=end)
        _allocate(r, role, refinement)
    for name, items in sorted(resources.sets.items()):
        r = out.add(name=name, type=mesos_pb2.Value.SET)
        r.set.item.extend(sorted(items))
        _allocate(r, role, refinement)


def _allocate(r: mesos_pb2.Resource, role: str, refinement: bool) -> None:
    if not refinement:
        r.role = "*"
    r.allocation_info.role = role


def fill_attribute(a: mesos_pb2.Attribute, attribute: Attribute) -> None:
    a.name = attribute.name
    value = attribute.value
    if isinstance(value, str):
        a.type = mesos_pb2.Value.TEXT
        a.text.value = value
    elif isinstance(value, float):
        a.type = mesos_pb2.Value.SCALAR
        a.scalar.value = value
    elif isinstance(value, frozenset):
        a.type = mesos_pb2.Value.SET
        a.set.item.extend(sorted(value))
    else:
        a.type = mesos_pb2.Value.RANGES
        for begin, end in value:
            a.ranges.range.add(begin=begin, end=end)


ResourcesKey = tuple[
    tuple[tuple[str, int], ...],
    tuple[tuple[str, tuple[tuple[int, int], ...]], ...],
    tuple[tuple[str, tuple[str, ...]], ...],
]


def _resources_key(resources: Resources) -> ResourcesKey:
    return (
        tuple(sorted(resources.scalars.items())),
        tuple(sorted(resources.ranges.items())),
        tuple(sorted((k, tuple(sorted(v))) for k, v in resources.sets.items())) if resources.sets else (),
    )


def _from_key(key: ResourcesKey) -> Resources:
    return Resources(dict(key[0]), dict(key[1]), {k: frozenset(v) for k, v in key[2]})


@functools.lru_cache(maxsize=65536)
def _agent_bytes(hostname: str, port: int, attributes: tuple[Attribute, ...]) -> bytes:
    o = mesos_pb2.Offer()
    fill_agent_part(o, hostname, port, attributes)
    return o.SerializePartialToString()


@functools.lru_cache(maxsize=65536)
def _resources_bytes(key: ResourcesKey, role: str, refinement: bool) -> bytes:
    o = mesos_pb2.Offer()
    fill_resources(o.resources, _from_key(key), role, refinement)
    return o.SerializePartialToString()


def offer_bytes(view: OfferView, refinement: bool) -> bytes:
    # Offer fields id 1, framework_id 2, agent_id 3, executor_ids 6 and allocation_info 10 written
    # directly (what upb would write for them), then the cached agent and resources parts.
    if not view.executor_ids:
        # The usual offer (no executor running there): everything but the offer id and the
        # resources is the same in every cycle for this framework, agent and role.
        return b"".join(
            (
                _id_field(b"\x0a", view.offer_id),
                _agent_part(
                    view.framework_id,
                    view.agent_id,
                    view.role,
                    view.hostname,
                    view.port,
                    tuple(view.attributes),
                ),
                _resources_bytes(_resources_key(view.resources), view.role, refinement),
            )
        )
    return offer_bytes_listed(view, refinement)


def offer_bytes_listed(view: OfferView, refinement: bool) -> bytes:
    """`offer_bytes` field by field (any offer; the one path for offers naming executors)."""
    parts = [
        _id_field(b"\x0a", view.offer_id),
        _id_field(b"\x12", view.framework_id),
        _id_field(b"\x1a", view.agent_id),
    ]
    for executor_id in view.executor_ids:
        parts.append(_id_field(b"\x32", executor_id))
    parts.append(_allocation_field(view.role))
    parts.append(_agent_bytes(view.hostname, view.port, tuple(view.attributes)))
    parts.append(_resources_bytes(_resources_key(view.resources), view.role, refinement))
    return b"".join(parts)


def _allocation_field(role: str) -> bytes:
    raw = role.encode()
    allocation = b"\x0a" + _length(len(raw)) + raw
    return b"\x52" + _length(len(allocation)) + allocation


_AGENT_PARTS: dict[tuple[str, str, str, str, int, tuple[Attribute, ...]], bytes] = {}


def _agent_part(
    framework_id: str, agent_id: str, role: str, hostname: str, port: int, attributes: tuple[Attribute, ...]
) -> bytes:
    """framework_id, agent_id, allocation_info and the agent's own fields, as `offer_bytes` writes
    them for an offer without executor ids (bounded: cleared when full)."""
    key = (framework_id, agent_id, role, hostname, port, attributes)
    part = _AGENT_PARTS.get(key)
    if part is None:
        if len(_AGENT_PARTS) >= 65536:
            _AGENT_PARTS.clear()
        part = _AGENT_PARTS[key] = b"".join(
            (
                _id_field(b"\x12", framework_id),
                _id_field(b"\x1a", agent_id),
                _allocation_field(role),
                _agent_bytes(hostname, port, attributes),
            )
        )
    return part


_PLAIN = re.compile(r"[A-Za-z0-9_.:*/ -]*")


def _q(text: str) -> str:
    """A JSON string literal; ids we generate need no escaping, so skip the encoder for them."""
    if _PLAIN.fullmatch(text):
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


@functools.lru_cache(maxsize=65536)
def _agent_json(agent_id: str, hostname: str, port: int, attributes: tuple[Attribute, ...]) -> str:
    url = {"scheme": "http", "address": {"hostname": hostname, "port": port}, "path": "/slave(1)"}
    parts = [f'"agent_id":{{"value":{_q(agent_id)}}}', f'"hostname":{_q(hostname)}', f'"url":{_compact(url)}']
    if attributes:
        parts.append(f'"attributes":{_compact([_attribute_json(a) for a in attributes])}')
    return ",".join(parts)


@functools.lru_cache(maxsize=65536)
def _resources_json(key: ResourcesKey, role: str, refinement: bool) -> str:
    alloc = {"role": role}
    extra: dict[str, Any] = {} if refinement else {"role": "*"}
    out: list[dict[str, Any]] = []
    for name, value in key[0]:
        out.append(
            {
                "name": name,
                "type": "SCALAR",
                "scalar": {"value": from_fixed(value)},
                **extra,
                "allocation_info": alloc,
            }
        )
    for name, intervals in key[1]:
        rng = [{"begin": b, "end": e} for b, e in intervals]
        out.append(
            {"name": name, "type": "RANGES", "ranges": {"range": rng}, **extra, "allocation_info": alloc}
        )
    for name, items in key[2]:
        out.append(
            {"name": name, "type": "SET", "set": {"item": list(items)}, **extra, "allocation_info": alloc}
        )
    return _compact(out)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def offer_json_text(view: OfferView, refinement: bool) -> str:
    parts = [
        f'{{"id":{{"value":{_q(view.offer_id)}}}',
        f'"framework_id":{{"value":{_q(view.framework_id)}}}',
        _agent_json(view.agent_id, view.hostname, view.port, tuple(view.attributes)),
        '"resources":' + _resources_json(_resources_key(view.resources), view.role, refinement),
    ]
    if view.executor_ids:
        parts.append('"executor_ids":' + _compact([{"value": e} for e in view.executor_ids]))
    parts.append(f'"allocation_info":{{"role":{_q(view.role)}}}}}')
    return ",".join(parts)


def _attribute_json(attribute: Attribute) -> dict[str, Any]:
    value = attribute.value
    if isinstance(value, str):
        return {"name": attribute.name, "type": "TEXT", "text": {"value": value}}
    if isinstance(value, float):
        return {"name": attribute.name, "type": "SCALAR", "scalar": {"value": value}}
    if isinstance(value, frozenset):
        return {"name": attribute.name, "type": "SET", "set": {"item": sorted(value)}}
    return {
        "name": attribute.name,
        "type": "RANGES",
        "ranges": {"range": [{"begin": b, "end": e} for b, e in value]},
    }


def offers_json(offers: Sequence[OfferView], refinement: bool) -> bytes:
    """The whole OFFERS event in Mesos JSON."""
    body = ",".join(offer_json_text(v, refinement) for v in offers)
    return ('{"type":"OFFERS","offers":{"offers":[' + body + "]}}").encode()


def offers_bytes(offers: Sequence[OfferView], refinement: bool) -> bytes:
    """The whole OFFERS event in protobuf: concatenated serialized messages parse as their merge,
    so the pieces joined here are the bytes upb writes for the event built field by field."""
    pieces: list[bytes] = []
    for view in offers:  # each as _field(1, offer) would write it, without its two varint calls
        offer = offer_bytes(view, refinement)
        pieces += (b"\x0a", _length(len(offer)), offer)
    inner = b"".join(pieces)
    return _OFFERS_TYPE + _field(3, inner)
