"""codec.status_from builds StatusUpdated through its slot setters instead of __init__ (a third of the
cost): the object must be exactly the one the dataclass constructor gives, for every combination
of present and absent TaskStatus fields, and stay frozen."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.core.events import StatusUpdated, TaskState
from framework.mesos import codec
from framework.mesos.wire import EventDecodeError, decode_event
from proto.mesos.v1 import mesos_pb2 as mesos
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

_REASONS = list(mesos.TaskStatus.Reason.values())
_SOURCES = list(mesos.TaskStatus.Source.values())
_text = st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(list(TaskState)),
    task_id=_text,
    agent_id=st.none() | _text,
    healthy=st.none() | st.booleans(),
    reason=st.none() | st.sampled_from(_REASONS),
    message=st.none() | _text,
    source=st.none() | st.sampled_from(_SOURCES),
    uuid=st.none() | st.binary(max_size=20),
    timestamp=st.none() | st.floats(allow_nan=False),
    executor_id=st.none() | _text,
    now=st.floats(allow_nan=False),
)
def test_status_from_equals_the_constructor(
    state: TaskState,
    task_id: str,
    agent_id: str | None,
    healthy: bool | None,
    reason: int | None,
    message: str | None,
    source: int | None,
    uuid: bytes | None,
    timestamp: float | None,
    executor_id: str | None,
    now: float,
) -> None:
    status = mesos.TaskStatus(state=mesos.TaskState.Value(state.value))
    status.task_id.value = task_id
    if agent_id is not None:
        status.agent_id.value = agent_id
    if healthy is not None:
        status.healthy = healthy
    if reason is not None:
        status.reason = reason  # type: ignore[assignment]
    if message is not None:
        status.message = message
    if source is not None:
        status.source = source  # type: ignore[assignment]
    if uuid is not None:
        status.uuid = uuid
    if timestamp is not None:
        status.timestamp = timestamp
    if executor_id is not None:
        status.executor_id.value = executor_id

    update = codec.status_from(status, now)

    expected = StatusUpdated(
        now=now,
        task_id=task_id,
        state=state,
        agent_id=agent_id,
        healthy=healthy,
        reason=None if reason is None else mesos.TaskStatus.Reason.Name(reason),  # type: ignore[arg-type]
        message=message,
        source=None if source is None else mesos.TaskStatus.Source.Name(source),  # type: ignore[arg-type]
        uuid=uuid or None,  # an empty uuid cannot be acknowledged: None, as for an absent one
        timestamp=timestamp,
        executor_id=executor_id,
    )
    assert type(update) is StatusUpdated
    assert update == expected
    assert hash(update) == hash(expected)
    assert repr(update) == repr(expected)
    assert dataclasses.astuple(update) == dataclasses.astuple(expected)


def test_status_from_result_is_frozen() -> None:
    status = mesos.TaskStatus(state=mesos.TASK_RUNNING)
    status.task_id.value = "t-1"
    update = codec.status_from(status, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        update.task_id = "t-2"  # type: ignore[misc]
    assert dataclasses.replace(update, task_id="t-2").task_id == "t-2"


def test_protobuf_event_without_a_type_or_with_a_future_one_is_undecodable() -> None:
    # decode_event tests only `type == UNKNOWN`: an absent type and an enum number newer than our
    # proto (kept as an unknown field, so the field reads as unset) both read as UNKNOWN.
    update = scheduler.Event()
    update.update.status.task_id.value, update.update.status.state = "t-1", mesos.TASK_RUNNING
    future_type = b"\x08\x7f"  # field 1 (type), varint 127: no such Event.Type
    for record in (update.SerializeToString(), future_type, b""):
        with pytest.raises(EventDecodeError):
            decode_event(record, "application/x-protobuf")
    heartbeat = scheduler.Event(type=scheduler.Event.HEARTBEAT).SerializeToString()
    assert decode_event(heartbeat, "application/x-protobuf").type == scheduler.Event.HEARTBEAT
