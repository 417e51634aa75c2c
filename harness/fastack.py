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


def read_acknowledge(body: bytes) -> Acknowledgement | None:
    """(framework id, agent id, task id, uuid) of a protobuf ACKNOWLEDGE in the layout above, or None."""
    try:
        # framework_id: 0x0a <n> 0x0a <n - 2> value; a byte is never negative, so n < 2 fails here.
        size = body[1]
        if body[0] != 0x0A or size > 0x7F or body[2] != 0x0A or body[3] != size - 2:
            return None
        framework_id = body[4 : 2 + size]
        pos = 2 + size
        if body[pos : pos + 3] != _TYPE_AND_ACK_TAG:
            return None
        if body[pos + 3] > 0x7F or pos + 4 + body[pos + 3] != len(body):
            return None
        pos += 4
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
        return framework_id.decode(), agent_id.decode(), task_id.decode(), body[pos + 2 :]
    except (IndexError, UnicodeDecodeError):
        return None
