"""The harness' codec: protobuf and Mesos JSON on one side, the harness' own records on the other.

Inbound: `decode_call` turns a request body into a scheduler Call exactly as far as the real
master's handler does before validation (its error wording included). `resources_from_proto`
and `task_spec` read what the master needs out of launch operations.

Outbound: `OutEvent` is one scheduler event, encoded at most once per content type however many
times it is sent, framed as RecordIO. OFFERS events, the one hot path (a cycle over 10,000
agents), are built straight into Mesos JSON dictionaries for JSON subscribers instead of via
protobuf reflection; tests/harness/test_codec.py checks both renderings say the same.

Nothing else in the harness touches protobuf serialization or JSON, except harness/fastack.py,
which reads the one byte layout of a protobuf ACKNOWLEDGE and leaves every other body to `decode_call`.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar, overload

from google.protobuf.message import DecodeError, EncodeError

from harness.model import NO_LABELS, Attribute, ExecutorKind, HealthCheckSpec, Status, TaskSpec
from harness.resources import Resources, from_fixed, normalize_ranges, to_fixed
from proto import jsoncodec, recordio
from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

Event = scheduler_pb2.Event
Call = scheduler_pb2.Call


class Encoding(StrEnum):
    JSON = "application/json"
    PROTOBUF = "application/x-protobuf"


# Compared with on every call and every event: a global is four times cheaper to read than an
# Enum member looked up on its class (through the enum metaclass).
_PROTOBUF = Encoding.PROTOBUF


class CallDecodeError(ValueError):
    """The body is not a Call; the message is the real master's 400 body."""


def decode_call(body: bytes, encoding: Encoding) -> scheduler_pb2.Call:
    if encoding is _PROTOBUF:
        call = scheduler_pb2.Call()
        try:
            call.ParseFromString(body)
        except DecodeError:
            raise CallDecodeError("Failed to parse body into Call protobuf") from None
        # C++ ParseFromString also fails when required fields are missing. upb's encoder checks
        # them in C as it walks the message (exactly what IsInitialized reports, and a third of
        # its cost, which walks by reflection: 13 us for an ACCEPT of ten tasks).
        try:
            call.SerializeToString()
        except EncodeError:
            raise CallDecodeError("Failed to parse body into Call protobuf") from None
        return call
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise CallDecodeError(f"Failed to parse body into JSON: {error}") from None
    if not isinstance(document, dict):
        raise CallDecodeError("Failed to convert JSON into Call protobuf: Expecting a JSON object")
    try:
        return jsoncodec.parse(document, scheduler_pb2.Call)
    except jsoncodec.JSONCodecError as error:
        raise CallDecodeError(f"Failed to convert JSON into Call protobuf: {error}") from None


def call_to_dict(call: scheduler_pb2.Call) -> dict[str, Any]:
    """The call as Mesos JSON values (only the fields that were set), for `Harness.calls`."""
    return jsoncodec.to_dict(call, defaults=False)


# -- outbound events ------------------------------------------------------------------------------


class OutEvent:
    """One scheduler event; `encode` renders and frames it once per encoding and caches the bytes.

    `payloads` may supply a faster renderer per encoding (OFFERS does); otherwise the protobuf
    message from `proto_factory` is serialized, or printed as Mesos JSON.
    """

    __slots__ = ("_payloads", "_proto", "_proto_factory", "_rendered", "type")

    def __init__(
        self,
        type_: str,
        proto_factory: Callable[[], scheduler_pb2.Event],
        payloads: Mapping[Encoding, Callable[[], bytes]] | None = None,
    ) -> None:
        self.type = type_
        self._proto_factory = proto_factory
        self._payloads = payloads or {}
        self._proto: scheduler_pb2.Event | None = None
        self._rendered: dict[Encoding, bytes] = {}

    def proto(self) -> scheduler_pb2.Event:
        if self._proto is None:
            self._proto = self._proto_factory()
        return self._proto

    def payload(self, encoding: Encoding) -> bytes:
        """The unframed event bytes in `encoding`."""
        fast = self._payloads.get(encoding)
        if fast is not None:
            return fast()
        if encoding is Encoding.PROTOBUF:
            return self.proto().SerializeToString()
        return jsoncodec.dumps(self.proto())

    def encode(self, encoding: Encoding) -> bytes:
        framed = self._rendered.get(encoding)
        if framed is None:
            framed = self._rendered[encoding] = recordio.encode(self.payload(encoding))
        return framed


def _simple(type_name: str, fill: Callable[[scheduler_pb2.Event], None] | None = None) -> OutEvent:
    def build() -> scheduler_pb2.Event:
        event = scheduler_pb2.Event(type=scheduler_pb2.Event.Type.Value(type_name))
        if fill is not None:
            fill(event)
        return event

    return OutEvent(type_name, build)


HEARTBEAT = _simple("HEARTBEAT")


def subscribed_event(
    framework_id: str, heartbeat_interval: float, master_info: mesos_pb2.MasterInfo
) -> OutEvent:
    def fill(e: scheduler_pb2.Event) -> None:
        e.subscribed.framework_id.value = framework_id
        e.subscribed.heartbeat_interval_seconds = heartbeat_interval
        e.subscribed.master_info.CopyFrom(master_info)

    return _simple("SUBSCRIBED", fill)


def error_event(message: str) -> OutEvent:
    def fill(e: scheduler_pb2.Event) -> None:
        e.error.message = message

    return _simple("ERROR", fill)


def rescind_event(offer_id: str) -> OutEvent:
    def fill(e: scheduler_pb2.Event) -> None:
        e.rescind.offer_id.value = offer_id

    return _simple("RESCIND", fill)


def failure_event(agent_id: str, executor_id: str | None = None, status: int | None = None) -> OutEvent:
    def fill(e: scheduler_pb2.Event) -> None:
        e.failure.agent_id.value = agent_id
        if executor_id is not None:
            e.failure.executor_id.value = executor_id
        if status is not None:
            e.failure.status = status

    return _simple("FAILURE", fill)


def message_event(agent_id: str, executor_id: str, data: bytes) -> OutEvent:
    def fill(e: scheduler_pb2.Event) -> None:
        e.message.agent_id.value = agent_id
        e.message.executor_id.value = executor_id
        e.message.data = data

    return _simple("MESSAGE", fill)


def update_event(status: Status) -> OutEvent:
    """An UPDATE event, two per launched task: written directly in both encodings, the same bytes
    as protobuf's serializer and jsoncodec produce (tests/harness/test_units.py compares them) at
    half and a quarter of their cost."""
    return _UpdateEvent(status)


class _UpdateEvent(OutEvent):
    """OutEvent for one status: no closures or renderer table per event, just the status."""

    __slots__ = ("_status",)

    def __init__(self, status: Status) -> None:
        self.type = "UPDATE"
        self._status = status
        self._proto = None
        self._rendered = {}

    def proto(self) -> scheduler_pb2.Event:
        if self._proto is None:
            event = scheduler_pb2.Event(type=scheduler_pb2.Event.UPDATE)
            fill_status(event.update.status, self._status)
            self._proto = event
        return self._proto

    def payload(self, encoding: Encoding) -> bytes:
        if encoding is Encoding.PROTOBUF:
            return _update_bytes(self._status)
        return _update_json(self._status)

    def encode(self, encoding: Encoding) -> bytes:
        # An update goes to one framework's stream: framed straight away, not cached per encoding.
        # (RecordIO framing as recordio.encode; an UPDATE payload is never empty.)
        payload = _update_bytes(self._status) if encoding is _PROTOBUF else _update_json(self._status)
        return b"%d\n%b" % (len(payload), payload)


def operation_status_event(operation_id: str, state: str, message: str, agent_id: str | None) -> OutEvent:
    def fill(e: scheduler_pb2.Event) -> None:
        s = e.update_operation_status.status
        s.operation_id.value = operation_id
        s.state = mesos_pb2.OperationState.Value(state)
        s.message = message
        if agent_id is not None:
            s.agent_id.value = agent_id

    return _simple("UPDATE_OPERATION_STATUS", fill)


_TASK_STATES: dict[str, int] = dict(mesos_pb2.TaskState.items())
_SOURCES: dict[str, int] = dict(mesos_pb2.TaskStatus.Source.items())
_REASONS: dict[str, int] = dict(mesos_pb2.TaskStatus.Reason.items())


def fill_status(out: mesos_pb2.TaskStatus, status: Status) -> None:
    out.task_id.value = status.task_id
    out.state = _TASK_STATES[status.state]  # type: ignore[assignment]
    out.source = _SOURCES[status.source]  # type: ignore[assignment]
    if status.reason is not None:
        out.reason = _REASONS[status.reason]  # type: ignore[assignment]
    if status.message is not None:
        out.message = status.message
    if status.agent_id is not None:
        out.agent_id.value = status.agent_id
    if status.executor_id is not None:
        out.executor_id.value = status.executor_id
    if status.timestamp is not None:
        out.timestamp = status.timestamp
    if status.uuid is not None:
        out.uuid = status.uuid
    if status.healthy is not None:
        out.healthy = status.healthy
    if status.unreachable_time is not None:
        out.unreachable_time.nanoseconds = int(status.unreachable_time * 1e9)


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
_STATE_FIELDS = {state: b"\x10" + _length(number) for state, number in _TASK_STATES.items()}
_SOURCE_FIELDS = {source: b"\x48" + _length(number) for source, number in _SOURCES.items()}
_AGENT_FIELDS: dict[str, bytes] = {}


def _agent_field(agent_id: str) -> bytes:
    field = _AGENT_FIELDS.get(agent_id)
    if field is None:
        if len(_AGENT_FIELDS) >= 100_000:  # bounded: agents come and go in long test sessions
            _AGENT_FIELDS.clear()
        field = _AGENT_FIELDS[agent_id] = _id_field(b"\x2a", agent_id)
    return field


def _update_bytes(status: Status) -> bytes:
    """Event{type: UPDATE, update: {status}} in protobuf, fields in number order as upb writes them."""
    task_id = status.task_id
    raw = task_id.encode()
    size = len(raw)
    uuid = status.uuid
    if (
        size < 126
        and status.executor_id == task_id
        and uuid is not None
        and len(uuid) == 16
        and status.message is None
        and status.reason is None
        and status.healthy is None
        and status.unreachable_time is None
        and status.agent_id is not None
        and status.timestamp is not None
    ):
        # An executor's update of a command task (two per launched task): one formatting step.
        # One-byte lengths: the TaskID (tag, length, id) is at most 127 bytes.
        body = b"\x0a%c\x0a%c%b%b%b\x31%b\x3a%c\x0a%c%b%b\x5a\x10%b" % (
            size + 2,
            size,
            raw,
            _STATE_FIELDS[status.state],
            _agent_field(status.agent_id),
            _PACK_DOUBLE(status.timestamp),
            size + 2,
            size,
            raw,
            _SOURCE_FIELDS[status.source],
            uuid,
        )
        update = b"\x0a" + _length(len(body)) + body
        return b"\x08\x04\x2a" + _length(len(update)) + update
    task_inner = b"\x0a" + _length(size) + raw
    parts = [b"\x0a", _length(len(task_inner)), task_inner, _STATE_FIELDS[status.state]]
    if status.message is not None:
        raw = status.message.encode()
        parts += (b"\x22", _length(len(raw)), raw)
    if status.agent_id is not None:
        parts.append(_agent_field(status.agent_id))
    if status.timestamp is not None:
        parts += (b"\x31", _PACK_DOUBLE(status.timestamp))
    executor_id = status.executor_id
    if executor_id is not None:
        if executor_id == task_id:  # a command executor's id is its task's
            parts += (b"\x3a", _length(len(task_inner)), task_inner)
        else:
            parts.append(_id_field(b"\x3a", executor_id))
    if status.healthy is not None:
        parts.append(b"\x40\x01" if status.healthy else b"\x40\x00")
    parts.append(_SOURCE_FIELDS[status.source])
    if status.reason is not None:
        parts += (b"\x50", _length(_REASONS[status.reason]))
    if status.uuid is not None:
        parts += (b"\x5a", _length(len(status.uuid)), status.uuid)
    if status.unreachable_time is not None:
        nanos = _varint(int(status.unreachable_time * 1e9) & 0xFFFFFFFFFFFFFFFF)
        parts += (b"\x72", _length(len(nanos) + 1), b"\x08", nanos)
    body = b"".join(parts)
    update = b"\x0a" + _length(len(body)) + body
    return b"\x08\x04\x2a" + _length(len(update)) + update


def _update_json(status: Status) -> bytes:
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


# -- offers ---------------------------------------------------------------------------------------


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


def offers_event(offers: Sequence[OfferView], refinement: bool) -> OutEvent:
    """An OFFERS event. Without RESERVATION_REFINEMENT resources carry the pre-refinement `role: "*"`.

    The fast renderers assemble the event from per-offer pieces cached by agent and by amount
    (most agents look alike), as JSON text and as concatenated protobuf encodings; concatenated
    serialized messages parse as their merge, so the bytes equal those of `build()`.
    """

    def build() -> scheduler_pb2.Event:
        event = scheduler_pb2.Event(type=scheduler_pb2.Event.OFFERS)
        add = event.offers.offers.add
        for view in offers:
            _fill_offer(add(), view, refinement)
        return event

    def as_json() -> bytes:
        body = ",".join(_offer_json_text(v, refinement) for v in offers)
        return ('{"type":"OFFERS","offers":{"offers":[' + body + "]}}").encode()

    def as_protobuf() -> bytes:
        inner = b"".join(_field(1, _offer_bytes(v, refinement)) for v in offers)
        return _OFFERS_TYPE + _field(3, inner)

    return OutEvent("OFFERS", build, {Encoding.JSON: as_json, Encoding.PROTOBUF: as_protobuf})


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


def _fill_offer(o: mesos_pb2.Offer, view: OfferView, refinement: bool) -> None:
    o.id.value = view.offer_id
    o.framework_id.value = view.framework_id
    o.agent_id.value = view.agent_id
    _fill_agent_part(o, view.hostname, view.port, view.attributes)
    fill_resources(o.resources, view.resources, view.role, refinement)
    for executor_id in view.executor_ids:
        o.executor_ids.add().value = executor_id
    o.allocation_info.role = view.role


def _fill_agent_part(o: mesos_pb2.Offer, hostname: str, port: int, attributes: Sequence[Attribute]) -> None:
    o.hostname = hostname
    o.url.scheme = "http"
    o.url.address.hostname = hostname
    o.url.address.port = port
    o.url.path = "/slave(1)"
    for attribute in attributes:
        _fill_attribute(o.attributes.add(), attribute)


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


def _fill_attribute(a: mesos_pb2.Attribute, attribute: Attribute) -> None:
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
        tuple(sorted((k, tuple(sorted(v))) for k, v in resources.sets.items())),
    )


def _from_key(key: ResourcesKey) -> Resources:
    return Resources(dict(key[0]), dict(key[1]), {k: frozenset(v) for k, v in key[2]})


@functools.lru_cache(maxsize=65536)
def _agent_bytes(hostname: str, port: int, attributes: tuple[Attribute, ...]) -> bytes:
    o = mesos_pb2.Offer()
    _fill_agent_part(o, hostname, port, attributes)
    return o.SerializePartialToString()


@functools.lru_cache(maxsize=65536)
def _resources_bytes(key: ResourcesKey, role: str, refinement: bool) -> bytes:
    o = mesos_pb2.Offer()
    fill_resources(o.resources, _from_key(key), role, refinement)
    return o.SerializePartialToString()


def _offer_bytes(view: OfferView, refinement: bool) -> bytes:
    # Offer fields id 1, framework_id 2, agent_id 3, executor_ids 6 and allocation_info 10 written
    # directly (what upb would write for them), then the cached agent and resources parts.
    parts = [
        _id_field(b"\x0a", view.offer_id),
        _id_field(b"\x12", view.framework_id),
        _id_field(b"\x1a", view.agent_id),
    ]
    for executor_id in view.executor_ids:
        parts.append(_id_field(b"\x32", executor_id))
    role = view.role.encode()
    allocation = b"\x0a" + _length(len(role)) + role
    parts += (b"\x52", _length(len(allocation)), allocation)
    parts.append(_agent_bytes(view.hostname, view.port, tuple(view.attributes)))
    parts.append(_resources_bytes(_resources_key(view.resources), view.role, refinement))
    return b"".join(parts)


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


def _offer_json_text(view: OfferView, refinement: bool) -> str:
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


# -- inbound resources ----------------------------------------------------------------------------


def resource_error(resource: mesos_pb2.Resource) -> str | None:
    """Resources::validate for one Resource (the checks a client can trip), or None."""
    if not resource.name:
        return "Empty resource name"
    kind = resource.type
    if kind == mesos_pb2.Value.SCALAR:
        if not resource.HasField("scalar") or resource.HasField("ranges") or resource.HasField("set"):
            return "Invalid scalar resource"
        value = resource.scalar.value
        if value != value or value in (float("inf"), float("-inf")):
            return "Invalid scalar resource: value is not finite"
        if value != 0 and to_fixed(value) <= 0:
            return "Invalid scalar resource: value <= 0"
    elif kind == mesos_pb2.Value.RANGES:
        if resource.HasField("scalar") or not resource.HasField("ranges") or resource.HasField("set"):
            return "Invalid ranges resource"
        ranges = [(r.begin, r.end) for r in resource.ranges.range]
        for i, (begin, end) in enumerate(ranges):
            if begin > end:
                return "Invalid ranges resource: begin > end"
            if any(begin <= b2 <= end for b2, _ in ranges[i + 1 :]):
                return "Invalid ranges resource: overlapping ranges"
    elif kind == mesos_pb2.Value.SET:
        if resource.HasField("scalar") or resource.HasField("ranges") or not resource.HasField("set"):
            return "Invalid set resource"
        if len(set(resource.set.item)) != len(resource.set.item):
            return "Invalid set resource: duplicated elements"
    else:
        return "Unsupported resource type"
    if resource.HasField("disk") and resource.name != "disk":
        return f"DiskInfo should not be set for {resource.name} resource"
    return None


def resources_from_proto(resources: Iterable[mesos_pb2.Resource], role: str) -> Resources:
    """Resources a launch asks for, as amounts comparable with an offer to `role`.

    What the harness does not model (reservations, revocable/shared resources, persistent
    volumes, resource providers, another role's allocation) keeps a qualified name such as
    `cpus(reserved)`, which no offer contains, so such a task is refused like any other that
    asks for resources that are not offered.
    """
    listed = list(resources)
    # Every task of an app asks for the same Resource messages: the (immutable) answer is a pure
    # function of their bytes and the role, so it is remembered (bounded, cleared when full).
    key: tuple[str, tuple[bytes, ...]] = (role, tuple([r.SerializeToString() for r in listed]))
    known = _READ.get(key)
    if known is not None:
        return known
    scalars: dict[str, int] = {}
    ranges: dict[str, list[tuple[int, int]]] = {}
    sets: dict[str, set[str]] = {}
    for r in listed:
        name, kind, value = _read_resource(r, role)
        if kind == _SCALAR:
            scalars[name] = scalars.get(name, 0) + value  # type: ignore[operator]
        elif kind == _RANGES:
            ranges.setdefault(name, []).extend(value)  # type: ignore[arg-type]
        elif kind == _SET:
            sets.setdefault(name, set()).update(value)  # type: ignore[arg-type]
    answer = Resources(
        {k: v for k, v in scalars.items() if v > 0},
        {k: n for k, v in ranges.items() if (n := normalize_ranges(v))},
        {k: frozenset(v) for k, v in sets.items() if v},
    )
    if len(_READ) >= _MEMO_SIZE:
        _READ.clear()
    _READ[key] = answer
    return answer


_MEMO_SIZE = 4096
_SCALAR, _RANGES, _SET = mesos_pb2.Value.SCALAR, mesos_pb2.Value.RANGES, mesos_pb2.Value.SET
_ResourceEntry = tuple[str, int, int | tuple[tuple[int, int], ...] | tuple[str, ...] | None]
_READ: dict[tuple[str, tuple[bytes, ...]], Resources] = {}


def _read_resource(r: mesos_pb2.Resource, role: str) -> _ResourceEntry:
    name = r.name + _qualifier(r, role)
    kind = r.type
    if kind == _SCALAR:
        return name, kind, to_fixed(r.scalar.value)
    if kind == _RANGES:
        return name, kind, tuple((x.begin, x.end) for x in r.ranges.range)
    if kind == _SET:
        return name, kind, tuple(r.set.item)
    return name, kind, None


def _qualifier(r: mesos_pb2.Resource, role: str) -> str:
    if r.HasField("allocation_info") and r.allocation_info.role != role:
        return f"(allocated: {r.allocation_info.role})"
    if len(r.reservations) or r.HasField("reservation") or r.role not in ("", "*"):
        return "(reserved)"
    if r.HasField("revocable"):
        return "(revocable)"
    if r.HasField("shared"):
        return "(shared)"
    if r.HasField("provider_id"):
        return "(provider)"
    if r.HasField("disk") and (r.disk.HasField("persistence") or r.disk.HasField("source")):
        return "(volume)"
    return ""


def inject_allocation_role(resources: Iterable[mesos_pb2.Resource], role: str) -> None:
    """The master copies the offer's allocation_info into operation resources that lack it."""
    for r in resources:
        if not r.HasField("allocation_info"):
            r.allocation_info.role = role


_T = TypeVar("_T")


class PackedLabels(Mapping[str, str]):
    """A task's labels kept as their protobuf bytes, read into a dict only when first looked at.

    Every launched task carries labels that nearly nothing reads (the simulation asks only for
    `harness.behaviour`); copying them into a dict was a tenth of an ACCEPT's cost. A key whose
    bytes do not occur in the encoding cannot be a label, so such a lookup decodes nothing.
    Later labels win over earlier ones with the same key, as in a dict built in order.
    """

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _labels(self) -> dict[str, str]:
        decoded = self._decoded
        if decoded is None:
            labels = mesos_pb2.Labels.FromString(self._raw).labels
            decoded = self._decoded = {label.key: label.value for label in labels}
        return decoded

    def __getitem__(self, key: str) -> str:
        if self._decoded is None and key.encode() not in self._raw:
            raise KeyError(key)
        return self._labels()[key]

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...

    def get(self, key: str, /, default: object = None) -> object:
        # Without raising KeyError on a miss: the simulation looks up one label of every task.
        if self._decoded is None and key.encode() not in self._raw:
            return default
        return self._labels().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels())

    def __len__(self) -> int:
        return len(self._labels())

    def __repr__(self) -> str:
        return repr(self._labels())


SpecParts = tuple[HealthCheckSpec | None, float | None, float | None]
"""What task_spec reads out of a TaskInfo besides its id, name and labels: health check, kill
grace and max completion time (seconds)."""


def spec_parts(task: mesos_pb2.TaskInfo) -> SpecParts:
    health = None
    if task.HasField("health_check"):
        hc = task.health_check
        health = HealthCheckSpec(
            delay=hc.delay_seconds,
            interval=hc.interval_seconds,
            timeout=hc.timeout_seconds,
            consecutive_failures=hc.consecutive_failures,
            grace_period=hc.grace_period_seconds,
        )
    kill_grace = None
    if task.HasField("kill_policy") and task.kill_policy.HasField("grace_period"):
        kill_grace = task.kill_policy.grace_period.nanoseconds / 1e9
    max_completion = None
    if task.HasField("max_completion_time"):
        max_completion = task.max_completion_time.nanoseconds / 1e9
    return health, kill_grace, max_completion


def task_spec(
    task: mesos_pb2.TaskInfo,
    framework_id: str,
    executor_id: str,
    role: str,
    kind: ExecutorKind,
    group: tuple[str, ...] = (),
    resources: Resources | None = None,
    parts: SpecParts | None = None,
) -> TaskSpec:
    """What a runtime needs from a validated TaskInfo (durations converted to seconds).

    `resources` and `parts` (the task's spec_parts) save reading them again when the caller
    already has them (from another task of the same shape).
    """
    health, kill_grace, max_completion = parts if parts is not None else spec_parts(task)
    labels = PackedLabels(task.labels.SerializeToString()) if task.HasField("labels") else NO_LABELS
    return TaskSpec(  # positional, in TaskSpec's field order: one is built per launched task
        task.task_id.value,
        framework_id,
        executor_id,
        task.name,
        role,
        resources if resources is not None else resources_from_proto(task.resources, role),
        labels,
        health,
        kill_grace,
        max_completion,
        group,
        kind,
    )
