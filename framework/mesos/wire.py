"""Bytes <-> protobuf for the v1 scheduler API, in either of the two encodings Mesos speaks.

Role: the client's serialisation layer. `encode_call` turns a `Call` into a request body for the
chosen `ContentType`; `decode_event` turns one RecordIO record into an `Event`, picking the decoder
from the response's media type (a master may answer JSON even when we asked for protobuf, so the
response header decides, not our request). `subscribe_call` builds SUBSCRIBE from `FrameworkConfig`.

JSON is Mesos' own mapping (stout), implemented by `proto.jsoncodec`: proto field names, enums as
names, 64-bit integers as numbers, bytes as standard base64; unknown keys are ignored and `null`
counts as absent on input. Requests carry only the fields we set (no printed defaults).

Callers: `framework.mesos.client` and `framework.mesos.codec`. Must not: know about framework.core
types (that is codec.py), do I/O, or let protobuf objects escape framework/mesos.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from proto import jsoncodec
from proto.mesos.v1 import mesos_pb2 as mesos
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

SCHEDULER_PATH = "/api/v1/scheduler"
JSON_MEDIA = "application/json"
PROTOBUF_MEDIA = "application/x-protobuf"

ONE_WEEK = 7 * 24 * 3600.0



_UINT64 = 1 << 64


def varint(value: int) -> bytes:
    """A protobuf unsigned varint (seven bits a byte, low bits first), for the encoders that write
    messages as bytes (codec.acknowledge_bytes, taskbytes); ValueError for what no uint64 holds (the
    message path raises then too)."""
    if not 0 <= value < _UINT64:
        raise ValueError(f"{value} is out of range for a varint")
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)

class ContentType(enum.StrEnum):
    """The encoding the client asks for (`--mesos-content-type`)."""

    PROTOBUF = "protobuf"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return PROTOBUF_MEDIA if self is ContentType.PROTOBUF else JSON_MEDIA


class EventDecodeError(ValueError):
    """A record is not a valid Event in the announced encoding."""


@dataclass(frozen=True, slots=True)
class FrameworkConfig:
    """What Gantry tells Mesos about itself at SUBSCRIBE (FrameworkInfo), minus the id.

    `failover_timeout` defaults to a week: Mesos' own default of 0 tears the framework (and every task)
    down the moment the stream drops, which would turn any restart of Gantry into an outage.
    """

    name: str
    user: str
    roles: tuple[str, ...] = ("*",)
    principal: str | None = None
    failover_timeout: float = ONE_WEEK
    checkpoint: bool = True
    hostname: str | None = None
    webui_url: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("framework name must not be empty")
        if not self.user:
            raise ValueError("framework user must not be empty")
        if not self.roles or len(set(self.roles)) != len(self.roles):
            raise ValueError(f"framework roles must be non-empty and distinct, got {self.roles!r}")
        if self.failover_timeout < 0:
            raise ValueError(f"failover_timeout must be >= 0, got {self.failover_timeout}")


# PARTITION_AWARE: get TASK_UNREACHABLE/GONE/... instead of an ambiguous TASK_LOST.
# TASK_KILLING_STATE: see TASK_KILLING during a graceful kill. MULTI_ROLE: `roles` instead of `role`.
CAPABILITIES = (
    mesos.FrameworkInfo.Capability.PARTITION_AWARE,
    mesos.FrameworkInfo.Capability.TASK_KILLING_STATE,
    mesos.FrameworkInfo.Capability.MULTI_ROLE,
)


def framework_info(config: FrameworkConfig, framework_id: str | None) -> mesos.FrameworkInfo:
    info = mesos.FrameworkInfo(
        name=config.name,
        user=config.user,
        failover_timeout=config.failover_timeout,
        checkpoint=config.checkpoint,
    )
    # With MULTI_ROLE the deprecated singular `role` must stay unset (the master refuses both).
    info.roles.extend(config.roles)
    if config.principal:
        info.principal = config.principal
    if config.hostname:
        info.hostname = config.hostname
    if config.webui_url:
        info.webui_url = config.webui_url
    for capability in CAPABILITIES:
        info.capabilities.add(type=capability)
    if framework_id:
        info.id.value = framework_id
    return info


def subscribe_call(
    config: FrameworkConfig, framework_id: str | None, suppressed_roles: tuple[str, ...] = ()
) -> scheduler.Call:
    """SUBSCRIBE; on resubscription the id goes in both places, which the master requires to match."""
    call = scheduler.Call(type=scheduler.Call.SUBSCRIBE)
    call.subscribe.framework_info.CopyFrom(framework_info(config, framework_id))
    call.subscribe.suppressed_roles.extend(suppressed_roles)
    if framework_id:
        call.framework_id.value = framework_id
    return call


def encode_call(call: scheduler.Call, content_type: ContentType) -> bytes:
    if content_type is ContentType.PROTOBUF:
        return call.SerializeToString()
    # Compact and on one line (jsoncodec never writes a raw newline).
    return jsoncodec.dumps(call, defaults=False)


def media_type_of(header: str | None) -> str:
    """The bare media type of a Content-Type header ("application/json; charset=utf-8" -> ...)."""
    return (header or "").split(";", 1)[0].strip().lower()


_UNKNOWN_EVENT = scheduler.Event.UNKNOWN
_parse_event = scheduler.Event.FromString  # one call instead of Event() then ParseFromString


def decode_event(record: bytes, media_type: str) -> scheduler.Event:
    if media_type == PROTOBUF_MEDIA:
        try:
            event = _parse_event(record)
        except DecodeError as exc:
            raise EventDecodeError(f"undecodable protobuf event ({len(record)} bytes): {exc}") from exc
    elif media_type == JSON_MEDIA:
        try:
            event = jsoncodec.parse(record, scheduler.Event)
        except jsoncodec.JSONCodecError as exc:
            where = f" at {exc.path}" if exc.path else ""
            raise EventDecodeError(f"undecodable JSON event{where}: {exc}") from exc
    else:
        raise EventDecodeError(f"unsupported event media type {media_type!r}")
    if event.type == _UNKNOWN_EVENT:
        # An unset type reads as its default, UNKNOWN (0), so this one comparison also catches a
        # missing type; an unknown enum name in JSON, or number in protobuf, is dropped (unset), so
        # a newer master's event type lands here too.
        raise EventDecodeError("event without a known type")
    return event
