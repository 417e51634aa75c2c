"""The whole framework against the fake master: launching at scale, crashes, agents leaving.

Gantry runs in-process (framework.app.serve, its real store, client, driver and API) against a
Harness in the same event loop; the test only uses Gantry's HTTP API and the harness's view of
the cluster. Every test ends with the safety checks of helpers.cluster_problems: no protocol
violation, no task id launched twice, one framework id, never two live tasks in one slot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    Gantry,
    app_body,
    cluster_problems,
    eventually,
    fast_harness,
    gantry_agrees,
    live_slots,
    live_tasks,
    until_converged,
)


@pytest.mark.slow
async def test_a_thousand_tasks_fill_a_hundred_agents(data_dir: Path) -> None:
    # 4 cpus per agent / 0.4 cpu per task = 10 tasks per agent: 1,000 tasks need all 100 agents.
    desired = {"/scale/a": 600, "/scale/b": 400}
    async with fast_harness(100, heartbeat_interval=0.5) as h, Gantry(h.url, data_dir) as g:
        for app_id, n in desired.items():
            await g.put_app(app_body(app_id, n, cpus=0.4, mem=64))
        await until_converged(h, desired, timeout=30)
        await eventually(lambda: gantry_agrees(g, desired), timeout=10, what="the API reports 1,000 running")

        framework_id = (await g.info())["framework_id"]
        assert cluster_problems(h, framework_id) == []
        assert len(h.tasks) == 1_000  # nothing launched beyond the desired count
        per_agent: dict[str, int] = {}
        for task in live_tasks(h):
            per_agent[task.agent_id] = per_agent.get(task.agent_id, 0) + 1
        assert sorted(per_agent.values()) == [10] * 100
        # Gantry's own view names the same tasks, on the agents that run them.
        ours = {t["id"]: t["agent"] for app in desired for t in await g.tasks(app)}
        assert ours == {t.task_id: t.agent_id for t in live_tasks(h)}
        assert h.frameworks[0].suppressed  # nothing pending: offers suppressed


async def test_crashed_tasks_are_replaced_with_a_growing_backoff(data_dir: Path) -> None:
    crashing = app_body(
        "/shop/crashy", 2, labels={"harness.behaviour": "fail:0.1"},
        backoff_seconds=0.2, backoff_factor=2.0, max_launch_delay_seconds=30,
    )  # fmt: skip
    async with fast_harness(3) as h, Gantry(h.url, data_dir) as g:
        await g.put_app(crashing)
        delays: dict[int, float] = {}  # crashes so far -> the delay GET /v1/apps reported
        queued_with_backoff = False

        async def backed_off_three_times() -> bool:
            nonlocal queued_with_backoff
            backoff = (await g.app("/shop/crashy"))["status"]["backoff"]
            if backoff is not None:
                delays[backoff["crashes"]] = backoff["delay_seconds"]
                assert "TASK_FAILED" in backoff["last_crash"]
            queue: list[dict[str, Any]] = (await g.request("GET", "/v1/queue"))["queue"]
            queued_with_backoff |= any(e["app_id"] == "/shop/crashy" and e["backoff"] for e in queue)
            assert all(len(ids) == 1 for ids in live_slots(h).values())
            return len(delays) >= 3 and queued_with_backoff

        await eventually(backed_off_three_times, timeout=15, what="three backoff steps in GET /v1/apps")
        # Marathon's arithmetic: the first crash waits backoff_seconds, each further one multiplies
        # the delay by backoff_factor (two instances may crash in one turn, so counts can skip).
        assert delays == {n: pytest.approx(0.2 * 2 ** (n - 1)) for n in delays}

        failed = [t for t in h.tasks if t.state == "TASK_FAILED"]
        assert len(failed) >= 3  # every failed task was replaced by a new one ...
        assert {t.labels["gantry.slot"] for t in failed} <= {"0", "1"}  # ... in the same slots

        # A new configuration (the crash script removed) starts without the old backoff.
        await g.put_app({**crashing, "labels": {}})
        await until_converged(h, {"/shop/crashy": 2}, timeout=15)
        await eventually(lambda: gantry_agrees(g, {"/shop/crashy": 2}), what="2 running")
        assert (await g.app("/shop/crashy"))["status"]["backoff"] is None
        assert cluster_problems(h, (await g.info())["framework_id"]) == []


@pytest.mark.parametrize("gone", [False, True], ids=["unreachable", "gone"])
async def test_tasks_of_a_removed_agent_are_replaced_elsewhere(data_dir: Path, gone: bool) -> None:
    # 1 cpu per task, 4 per agent: 8 tasks fill two agents, two agents stay free for replacements.
    desired = {"/shop/web": 8}
    async with fast_harness(4) as h, Gantry(h.url, data_dir) as g:
        await g.put_app(app_body("/shop/web", 8, cpus=1.0))
        await until_converged(h, desired, timeout=10)
        victim = live_tasks(h)[0].agent_id
        lost = {t.task_id for t in live_tasks(h) if t.agent_id == victim}
        kept = {t.task_id for t in live_tasks(h)} - lost
        assert len(lost) == 4

        h.remove_agent(victim, gone=gone)
        await until_converged(h, desired, timeout=10)
        await eventually(lambda: gantry_agrees(g, desired), what="8 running again")

        now_live = {t.task_id: t.agent_id for t in live_tasks(h)}
        assert kept <= now_live.keys()  # the other agents' tasks were left alone
        assert not lost & now_live.keys()
        assert victim not in now_live.values()
        ours = {t["id"]: t["state"] for t in await g.tasks("/shop/web")}
        assert {tid for tid, state in ours.items() if state == "TASK_RUNNING"} == now_live.keys()
        # An unreachable task may come back; Gantry lists it until it expunges it (and would kill
        # it on sight). A gone one is terminal and forgotten.
        expected = "TASK_UNREACHABLE" if not gone else None
        assert {ours.get(tid) for tid in lost} == {expected}
        assert cluster_problems(h, (await g.info())["framework_id"]) == []
