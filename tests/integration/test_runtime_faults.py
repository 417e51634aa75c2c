"""The whole framework against the fake master's faults: Gantry keeps its tasks through all of them.

Each test brings an app to its desired count, injects one fault (or a realistic sequence of them),
waits until Gantry has resubscribed and finished reconciling, and then checks the outcome against
the harness (the agents' truth): the very same tasks still run (none lost, none relaunched, none
duplicated), under the same framework id, and the harness saw no protocol violation.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from framework.settings import MesosContentType
from harness import Harness
from tests.integration.helpers import (
    Forwarder,
    Gantry,
    app_body,
    cluster_problems,
    eventually,
    fast_harness,
    gantry_agrees,
    running_ids,
    until_converged,
)

DESIRED = {"/shop/web": 12, "/shop/worker": 6}
RECONCILED = re.compile(r"^gantry_reconciliation_duration_seconds_count (\S+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Steady:
    """A cluster in its desired state, and what it looked like before the fault."""

    h: Harness
    g: Gantry
    framework_id: str
    running: set[str]
    launched: int


async def completed_reconciliations(g: Gantry) -> int:
    text = await g.text("/metrics")
    match = RECONCILED.search(text)
    return int(float(match.group(1))) if match else 0


def subscriptions(h: Harness) -> int:
    return sum(1 for c in h.calls if c.type == "SUBSCRIBE" and c.status == 200)


@asynccontextmanager
async def steady(
    data_dir: Path,
    master: Callable[[Harness], str] | None = None,
    content_type: MesosContentType = MesosContentType.PROTOBUF,
) -> AsyncIterator[Steady]:
    async with (
        fast_harness(6) as h,
        Gantry(master(h) if master else h.url, data_dir, content_type=content_type) as g,
    ):
        for app_id, n in DESIRED.items():
            await g.put_app(app_body(app_id, n, cpus=0.5))
        await until_converged(h, DESIRED)
        await eventually(lambda: gantry_agrees(g, DESIRED), what="the API reports the apps running")

        async def first_reconciliation_seen() -> bool:
            return await completed_reconciliations(g) >= 1

        # So that a later count can only come from a reconciliation after the fault.
        await eventually(first_reconciliation_seen, what="the first reconciliation in /metrics")
        framework_id = (await g.info())["framework_id"]
        yield Steady(h, g, framework_id, running_ids(h), len(h.tasks))


async def recovered(s: Steady, *, subscribed_before: int, reconciled_before: int) -> None:
    """Wait for a new subscription and a completed reconciliation after it, then judge the cluster."""
    await s.h.until(lambda: subscriptions(s.h) > subscribed_before, timeout=10, interval=0.02)

    async def reconciled_again() -> bool:
        return await completed_reconciliations(s.g) > reconciled_before and (await s.g.info())["subscribed"]

    await eventually(reconciled_again, timeout=10, what="a completed reconciliation after resubscribing")
    await eventually(lambda: gantry_agrees(s.g, DESIRED), what="the API reports the apps running")
    assert s.g.alive
    assert (await s.g.info())["framework_id"] == s.framework_id
    assert [fw.framework_id for fw in s.h.frameworks] == [s.framework_id]
    assert running_ids(s.h) == s.running  # none lost, none replaced
    assert len(s.h.tasks) == s.launched  # nothing launched in between
    assert cluster_problems(s.h, s.framework_id) == []
    assert await s.g.ready()


async def marks(s: Steady) -> dict[str, int]:
    return {
        "subscribed_before": subscriptions(s.h),
        "reconciled_before": await completed_reconciliations(s.g),
    }


@pytest.mark.parametrize("content_type", list(MesosContentType))
async def test_dropped_subscription_stream(data_dir: Path, content_type: MesosContentType) -> None:
    # Both wire encodings: the whole exchange (offers, launches, updates, ACKs, reconciliation)
    # runs in protobuf or in Mesos' JSON, and the harness checks each call either way.
    async with steady(data_dir, content_type=content_type) as s:
        assert {c.content_type for c in s.h.calls} == {_media(content_type)}
        before = await marks(s)
        assert s.h.drop_stream() == 1
        await recovered(s, **before)


async def test_heartbeats_stop(data_dir: Path) -> None:
    # A silent partition: the connection stays open but nothing arrives. Gantry must notice by the
    # missing heartbeats (5 intervals of 0.3 s) and resubscribe on its own.
    async with steady(data_dir) as s:
        before = await marks(s)
        s.h.stop_heartbeats()
        await s.h.until(lambda: subscriptions(s.h) > before["subscribed_before"], timeout=10, interval=0.02)
        s.h.resume_heartbeats()
        await recovered(s, **before)


async def test_master_failover_with_agents_reregistering_later(data_dir: Path) -> None:
    # The new master knows no framework and no task until the agents re-register (after 2 s); an
    # explicit reconciliation meanwhile gets no answer, which must not make Gantry relaunch anything.
    async with steady(data_dir) as s:
        before = await marks(s)
        s.h.failover(reregister_delay=2.0)
        await s.h.until(lambda: subscriptions(s.h) > before["subscribed_before"], timeout=10, interval=0.02)
        assert not all(a.registered for a in s.h.agents)  # Gantry is back before its agents are
        await s.h.until(lambda: all(a.registered for a in s.h.agents), timeout=10)
        await recovered(s, **before)


async def test_leader_moves_and_the_old_address_redirects(data_dir: Path) -> None:
    # Gantry knows the master by an address (a relay to the leader). Leadership moves: for a while
    # nobody leads (503), then a new master process leads and the old address answers 307 with a
    # protocol-relative Location to it. Gantry must follow, keep its framework id and its tasks.
    relay = Forwarder(("127.0.0.1", 0))
    async with relay, steady(data_dir, master=lambda h: _point(relay, h)) as s:
        before = await marks(s)
        async with Harness(agents=0, heartbeat_interval=0.3, allocation_interval=0.05) as old:
            old.no_leader()
            relay.retarget((old.host, old.port))  # the old address: drops its streams, then 503
            await s.h.until(lambda: s.g.running is not None and not s.g.running.client.subscribed)
            s.h.failover(reregister_delay=0.3)
            old.become_standby(s.h.url)  # ... then 307 to the new leader
            await recovered(s, **before)
            assert s.g.running is not None and s.g.running.client.master_url == s.h.url
            assert (await s.g.info())["master"] == s.h.url
            assert old.errors == []


def _media(content_type: MesosContentType) -> str:
    return "application/json" if content_type is MesosContentType.JSON else "application/x-protobuf"


def _point(relay: Forwarder, h: Harness) -> str:
    relay.retarget((h.host, h.port))
    return relay.url
