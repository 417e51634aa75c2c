"""Gantry as a real process, SIGKILLed while it launches, restarted on the same data dir.

`gantry run --master <harness>` runs as a child process (helpers.GantryProcess); the harness runs
in the test's event loop, so it keeps the agents and their tasks while Gantry is dead, exactly as
a Mesos master keeps a disconnected framework's tasks for its failover timeout. Tasks take a
moment to start (simulated start and running delays), so at each kill there are launches in
flight: persisted but not yet sent, sent but not yet running, updates not yet acknowledged.

After the last restart Gantry must converge: exactly the desired count running, one live task per
instance slot, no task id ever launched twice, the same framework id throughout, and no protocol
violation seen by the harness.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from harness import Harness
from harness.simulation import SimulationTimings
from tests.integration.helpers import (
    GantryProcess,
    app_body,
    cluster_problems,
    converged,
    fast_harness,
    live_tasks,
    until_converged,
)

APP = "/batch/fleet"
INSTANCES = 200


def calls_of(h: Harness, kind: str, since: int = 0) -> int:
    return sum(1 for c in h.calls[since:] if c.type == kind)


async def deploy(api_url: str, body: dict[str, object]) -> None:
    async with aiohttp.ClientSession() as session, session.put(f"{api_url}/v1/apps{APP}", json=body) as resp:
        assert resp.status in (200, 201), await resp.text()


async def framework_id_of(api_url: str, timeout: float = 20.0) -> str:
    # The cluster can converge before this Gantry subscribes (the launches of the run killed last
    # were all on the wire already), so wait for the subscription rather than assume it.
    async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{api_url}/v1/info") as resp:
                assert resp.status == 200
                info = await resp.json()
            if info["subscribed"]:
                return str(info["framework_id"])
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_sigkill_mid_launch_and_restart_converges(data_dir: Path) -> None:
    # 1 cpu per task, 4 cpus per agent. The cluster grows between runs (20, 40, 50, then 60
    # agents), so every run has launches left to make and every kill lands with some in flight.
    timings = SimulationTimings(start_delay=0.2, running_delay=0.3)
    async with fast_harness(20, timings=timings) as h:
        async with GantryProcess(h.url, data_dir) as first:
            assert first.api_url is not None
            await deploy(first.api_url, app_body(APP, INSTANCES, cpus=1.0))
            # Kill 1: once the master has taken ten of the twenty ACCEPTs of the first round.
            await h.until(lambda: calls_of(h, "ACCEPT") >= 10, timeout=10, interval=0.001)
            await first.kill()
        launched_before_kill = {t.task_id for t in h.tasks}
        framework_id = h.frameworks[0].framework_id

        for _ in range(20):
            h.add_agent()
        async with GantryProcess(h.url, data_dir) as second:
            # Kill 2: right after it resubscribed and asked to reconcile, before it settled.
            mark = len(h.calls)
            await h.until(lambda: calls_of(h, "RECONCILE", mark) > 0, timeout=20, interval=0.001)
            await second.kill()

        for _ in range(10):
            h.add_agent()
        async with GantryProcess(h.url, data_dir) as third:
            # Kill 3: as soon as it launches again (at least 40 instances cannot have fit before).
            mark = len(h.calls)
            await h.until(lambda: calls_of(h, "ACCEPT", mark) > 0, timeout=20, interval=0.001)
            await third.kill()
        assert not converged(h, {APP: INSTANCES})

        for _ in range(10):
            h.add_agent()
        async with GantryProcess(h.url, data_dir) as last:
            assert last.api_url is not None
            await until_converged(h, {APP: INSTANCES}, timeout=30)
            assert await framework_id_of(last.api_url) == framework_id
            assert cluster_problems(h, framework_id) == []
            assert [fw.framework_id for fw in h.frameworks] == [framework_id]
            # Every task the master had launched before the first kill was known to Gantry (persisted
            # before its ACCEPT), so it was kept, not replaced or killed.
            assert launched_before_kill <= {t.task_id for t in live_tasks(h)}
