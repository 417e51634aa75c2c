"""The fast path for the commonest request: a protobuf ACKNOWLEDGE (two per launched task).

Caller: harness/server.py `scheduler`, after the leadership, method and Content-Type checks and
before `decode_call`. `read_acknowledge` recognises exactly one byte layout, the one protobuf
serializers write for the call (fields in number order, lengths as one-byte varints):

    Call{framework_id (1) = {value (1)}, type (2) = ACKNOWLEDGE,
         acknowledge (8) = {agent_id (1) = {value (1)}, task_id (2) = {value (1)}, uuid (3): 16 bytes}}

For a body in that layout the generic path's steps are all foregone conclusions: it parses, every
required field is present, validation passes (type set, framework_id and acknowledge present, a
16-byte uuid), and the call is neither streaming nor SUBSCRIBE. What is left is the caller check
and `Master.acknowledge`, which the server runs as the generic path would.

Must not: accept anything it does not fully understand. Any other layout (unknown or repeated
fields, other field order, multi-byte lengths, a uuid of another size, ids that are not UTF-8,
trailing bytes) returns None and the request takes the generic path unchanged, so the answer to
every body stays the real master's (tests/harness/test_fastack.py compares the two paths).
"""

from __future__ import annotations

from proto.mesos.v1.scheduler import scheduler_pb2

# type (2) = ACKNOWLEDGE (8), then the tag of acknowledge (8), length-delimited.
_TYPE_AND_ACK_TAG = b"\x10" + bytes([scheduler_pb2.Call.ACKNOWLEDGE]) + b"\x42"
_UUID_TAG = b"\x1a\x10"  # uuid (3), length-delimited, 16 bytes

Acknowledgement = tuple[str, str, str, bytes]  # framework id, agent id, task id, uuid


# The Call's bytes before acknowledge's length (framework_id, type, acknowledge's tag) are the
# same in every ACK of a framework: each distinct one is checked once (bounded, a few frameworks).
_PREFIXES: dict[bytes, str] = {}
_PREFIXES_KEPT = 64


def read_acknowledge(body: bytes) -> Acknowledgement | None:
    """(framework id, agent id, task id, uuid) of a protobuf ACKNOWLEDGE in the layout above, or None."""
    try:
        pos = body[1] + 5  # 0x0a <n> <n bytes of FrameworkID> 0x10 0x08 0x42
        prefix = body[:pos]
        framework_id = _PREFIXES.get(prefix)
        if framework_id is None:
            framework_id = _framework_id(prefix)
            if framework_id is None:
                return None
        if body[pos] > 0x7F or pos + 1 + body[pos] != len(body):
            return None
        pos += 1
        size = body[pos + 1]
        if body[pos] != 0x0A or size > 0x7F or body[pos + 2] != 0x0A or body[pos + 3] != size - 2:
            return None
        agent_id = body[pos + 4 : pos + 2 + size]
        pos += 2 + size
        size = body[pos + 1]
        if body[pos] != 0x12 or size > 0x7F or body[pos + 2] != 0x0A or body[pos + 3] != size - 2:
            return None
        task_id = body[pos + 4 : pos + 2 + size]
        pos += 2 + size
        if pos + 18 != len(body) or body[pos : pos + 2] != _UUID_TAG:
            return None
        # upb hands back undecodable proto2 strings as bytes; such ids go the generic way.
        return framework_id, agent_id.decode(), task_id.decode(), body[pos + 2 :]
    except (IndexError, UnicodeDecodeError):
        return None


def _framework_id(prefix: bytes) -> str | None:
    """The framework id of a prefix `0x0a <n> 0x0a <n - 2> id 0x10 0x08 0x42`, remembered; or None."""
    size = prefix[1]
    # A byte is never negative, so n < 2 fails the length comparison.
    if prefix[0] != 0x0A or size > 0x7F or prefix[2] != 0x0A or prefix[3] != size - 2:
        return None
    if len(prefix) != size + 5 or prefix[2 + size :] != _TYPE_AND_ACK_TAG:
        return None
    framework_id = prefix[4 : 2 + size].decode()
    if len(_PREFIXES) >= _PREFIXES_KEPT:
        _PREFIXES.clear()
    _PREFIXES[prefix] = framework_id
    return framework_id
