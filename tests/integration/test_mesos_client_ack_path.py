"""MesosClient.acknowledge sends an ACK straight to a master's existing call pipeline and settles a
202 without the general answer path: ACKs sent that way (every ACK but the first after a
subscription) reach the master like any other call, settle exactly once, and still take the
general path for anything but a 202 (retried after a 503, failed after a 400)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from framework.core.effects import Acknowledge, Revive
from framework.mesos.errors import PermanentMesosError
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler
from tests.integration.test_mesos_client_transport import (
    WAIT,
    Recorder,
    TinyMaster,
    make_client,
    running,
    until,
)


@pytest.fixture
async def tiny_master() -> AsyncIterator[TinyMaster]:
    m = TinyMaster()
    await m.start()
    yield m
    await m.close()


class _Settled:
    def __init__(self) -> None:
        self.calls: list[tuple[Acknowledge, Exception | None]] = []

    def __call__(self, effect: Acknowledge, error: Exception | None) -> None:
        self.calls.append((effect, error))


def _ack(n: int) -> Acknowledge:
    return Acknowledge(agent_id="a-1", task_id=f"t-{n}", uuid=n.to_bytes(16, "big"))


async def test_acks_on_an_existing_pipeline_reach_the_master_in_order_and_settle_once(
    tiny_master: TinyMaster,
) -> None:
    settled = _Settled()
    acks = [_ack(n) for n in range(50)]
    async with running(make_client(tiny_master.url, Recorder())) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        await client.send(Revive())  # the master's pipeline now exists: every ACK takes the fast path
        sent_before = client.calls_sent
        for ack in acks:
            client.acknowledge(ack, settled)
        await until(lambda: len(settled.calls) == len(acks))
        await client.send(Revive())  # answered after every ACK: nothing more arrives for them
        assert client.calls_sent == sent_before + len(acks) + 1
    assert settled.calls == [(ack, None) for ack in acks]
    received = [c for c, _ in tiny_master.calls if c.type == scheduler.Call.ACKNOWLEDGE]
    assert [(c.acknowledge.task_id.value, c.acknowledge.uuid) for c in received] == [
        (ack.task_id, ack.uuid) for ack in acks
    ]


@pytest.mark.parametrize("status", [503, 400])
async def test_an_ack_on_an_existing_pipeline_answered_with_an_error(
    tiny_master: TinyMaster, status: int
) -> None:
    # 503 is answered before the master processes the call: retried, then settled as a success.
    # 400 cannot be fixed by retrying: settled once, with the permanent error.
    settled = _Settled()
    async with running(make_client(tiny_master.url, Recorder())) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        await client.send(Revive())  # the pipeline exists: the ACK takes the direct path
        tiny_master.call_statuses.append(status)
        client.acknowledge(_ack(1), settled)
        await until(lambda: bool(settled.calls))
        await client.send(Revive())
    [(effect, error)] = settled.calls
    assert effect == _ack(1)
    acks = [c.type for c, _ in tiny_master.calls].count(scheduler.Call.ACKNOWLEDGE)
    if status == 503:
        assert error is None and acks == 2
    else:
        assert isinstance(error, PermanentMesosError) and error.status == 400 and acks == 1
