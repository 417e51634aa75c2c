"""The harness' codec: protobuf and Mesos JSON on one side, the harness' own records on the other.

Inbound: `decode_call` turns a request body into a scheduler Call exactly as far as the real
master's handler does before validation (its error wording included). `resources_from_proto`
and `task_spec` read what the master needs out of launch operations.

Outbound: `OutEvent` is one scheduler event, encoded at most once per content type however many
times it is sent, framed as RecordIO. UPDATE and OFFERS events, the hot ones (two per launched
task; a cycle over 10,000 agents), are written straight into bytes by harness/eventbytes.py
instead of via protobuf reflection; tests/harness/test_units.py checks both renderings say the same.

Nothing else in the harness touches protobuf serialization or JSON, except harness/eventbytes.py
and harness/fastack.py, which reads the one byte layout of a protobuf ACKNOWLEDGE and leaves every
other body to `decode_call`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar, overload

from google.protobuf.message import DecodeError, EncodeError

from harness import eventbytes
from harness.eventbytes import (
    REASONS,
    SOURCES,
    TASK_STATES,
    fill_agent_part,
    fill_resources,
    update_bytes,
    update_json,
)
from harness.eventbytes import (
    OfferView as OfferView,  # re-exported: master and tests name it through codec
)
from harness.model import NO_LABELS, ExecutorKind, HealthCheckSpec, Status, TaskSpec, new_record
from harness.resources import Resources, normalize_ranges, to_fixed
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
        # (`_rendered` stays unset: `encode` below frames without the per-encoding cache.)
        self.type = "UPDATE"
        self._status = status
        self._proto = None

    def proto(self) -> scheduler_pb2.Event:
        if self._proto is None:
            event = scheduler_pb2.Event(type=scheduler_pb2.Event.UPDATE)
            fill_status(event.update.status, self._status)
            self._proto = event
        return self._proto

    def payload(self, encoding: Encoding) -> bytes:
        if encoding is Encoding.PROTOBUF:
            return update_bytes(self._status)
        return update_json(self._status)

    def encode(self, encoding: Encoding) -> bytes:
        # An update goes to one framework's stream: framed straight away, not cached per encoding.
        # (RecordIO framing as recordio.encode; an UPDATE payload is never empty.)
        payload = update_bytes(self._status) if encoding is _PROTOBUF else update_json(self._status)
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


def fill_status(out: mesos_pb2.TaskStatus, status: Status) -> None:
    out.task_id.value = status.task_id
    out.state = TASK_STATES[status.state]  # type: ignore[assignment]
    out.source = SOURCES[status.source]  # type: ignore[assignment]
    if status.reason is not None:
        out.reason = REASONS[status.reason]  # type: ignore[assignment]
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


# -- offers ---------------------------------------------------------------------------------------


def offers_event(offers: Sequence[OfferView], refinement: bool) -> OutEvent:
    """An OFFERS event. Without RESERVATION_REFINEMENT resources carry the pre-refinement `role: "*"`.

    Rendered by harness/eventbytes.py's writers (JSON text and concatenated protobuf pieces
    cached by agent and by amount); `build()` is the generic message they must equal.
    """

    def build() -> scheduler_pb2.Event:
        event = scheduler_pb2.Event(type=scheduler_pb2.Event.OFFERS)
        add = event.offers.offers.add
        for view in offers:
            _fill_offer(add(), view, refinement)
        return event

    return OutEvent(
        "OFFERS",
        build,
        {
            Encoding.JSON: partial(eventbytes.offers_json, offers, refinement),
            Encoding.PROTOBUF: partial(eventbytes.offers_bytes, offers, refinement),
        },
    )


def _fill_offer(o: mesos_pb2.Offer, view: OfferView, refinement: bool) -> None:
    o.id.value = view.offer_id
    o.framework_id.value = view.framework_id
    o.agent_id.value = view.agent_id
    fill_agent_part(o, view.hostname, view.port, view.attributes)
    fill_resources(o.resources, view.resources, view.role, refinement)
    for executor_id in view.executor_ids:
        o.executor_ids.add().value = executor_id
    o.allocation_info.role = view.role


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
            decoded = self._decoded = decode_labels(self._raw)
        return decoded

    def as_dict(self) -> dict[str, str]:
        """A dict copy in one step (`dict(labels)` of a Mapping looks every key up on its own)."""
        return dict(self._labels())

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


def labels_dict(labels: Mapping[str, str]) -> dict[str, str]:
    """A task's labels as a new dict."""
    return labels.as_dict() if isinstance(labels, PackedLabels) else dict(labels)


def decode_labels(raw: bytes) -> dict[str, str]:
    """A serialized Labels message as a dict, later labels winning over earlier ones."""
    fast = _read_labels(raw)
    if fast is not None:
        return fast
    return {label.key: label.value for label in mesos_pb2.Labels.FromString(raw).labels}


def _read_labels(raw: bytes) -> dict[str, str] | None:
    """`decode_labels` for the layout serializers write when every key and value is shorter than
    128 bytes: per label 0x0a len, 0x0a klen key, then 0x12 vlen value unless the value is unset.
    None for anything else (other fields, longer lengths, bad UTF-8), which protobuf then reads.

    A third faster than protobuf for three labels: reading each Label through its message wrapper
    costs more than the parse (tests/harness/test_labels.py compares the two on drawn labels)."""
    out: dict[str, str] = {}
    i, n = 0, len(raw)
    try:
        while i < n:
            size, key_size = raw[i + 1], raw[i + 3]
            end, start = i + 2 + size, i + 4
            middle = start + key_size
            if raw[i] != 0x0A or raw[i + 2] != 0x0A or size > 127 or key_size > 127:
                return None
            if middle > end or end > n:
                return None
            key = raw[start:middle].decode()
            if middle == end:
                out[key] = ""
            elif raw[middle] == 0x12 and middle + 2 + raw[middle + 1] == end:  # (so a one-byte length)
                out[key] = raw[middle + 2 : end].decode()
            else:
                return None
            i = end
    except (IndexError, UnicodeDecodeError):
        return None
    return out


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
    spec: TaskSpec = new_record(  # every field, in order: one is built per launched task
        TaskSpec,
        (
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
        ),
    )
    return spec
