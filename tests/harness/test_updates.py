"""Checklist items 42-52: status updates, acknowledgements, kills and shutdowns."""

from __future__ import annotations

import base64
from typing import Any

from harness import Harness
from tests.harness.client import Client, accept_body, framework_info, labels, launch, task, uuid_b64
from tests.harness.test_launch import group, group_task, pod_executor

KILLING = {"capabilities": [{"type": "TASK_KILLING_STATE"}]}


async def test_item_42_updates_from_the_executor(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    spec = task("t", offer, labels=labels(**{"harness.behaviour": "finish:0.1"}))
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(spec)))
    await stream.update("t", "TASK_FINISHED")
    statuses = stream.updates("t")
    assert [s["state"] for s in statuses] == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    for status in statuses:
        assert status["source"] == "SOURCE_EXECUTOR"
        assert len(base64.b64decode(status["uuid"])) == 16
        assert status["agent_id"] == offer["agent_id"]
        assert status["executor_id"] == {"value": "t"}  # the command executor is named after its task
        assert status["timestamp"] > 0
    assert len({s["uuid"] for s in statuses}) == 3


async def test_item_43_and_44_one_in_flight_resent_with_backoff(h: Harness, client: Client) -> None:
    stream = await client.subscribe(framework_info(failover_timeout=60))
    offer = (await stream.offers(1))[0]
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(task("t", offer))))
    starting = await stream.update("t", "TASK_STARTING")
    # Not acknowledged: the same update comes again (retry 0.2 s, then 0.4 s), never the next one.
    await stream.wait(lambda: len(stream.updates("t")) >= 3)
    assert {s["uuid"] for s in stream.updates("t")} == {starting["uuid"]}
    assert h.task("t").state == "TASK_RUNNING"  # the agent knows more than it may deliver yet
    # A resubscribed scheduler gets it again too.
    fid = stream.framework_id
    await stream.close()
    again = await client.subscribe(framework_info(failover_timeout=60), framework_id=fid)
    resent = await again.update("t", "TASK_STARTING")
    assert resent["uuid"] == starting["uuid"]
    await client.ack(again, resent)
    running = await again.update("t", "TASK_RUNNING")
    await client.ack(again, running)
    await h.until(lambda: h.task("t").unacknowledged == 0)


async def test_item_45_duplicate_or_unknown_ack(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(task("t", offer))))
    starting = await stream.update("t", "TASK_STARTING")
    assert await client.ack(stream, starting) == (202, "")
    assert await client.ack(stream, starting) == (202, "")  # duplicate: no effect
    running = await stream.update("t", "TASK_RUNNING")
    bogus = dict(running, uuid=uuid_b64(bytes(16)))
    assert await client.ack(stream, bogus) == (202, "")
    assert h.task("t").unacknowledged == 1  # RUNNING is still waiting for its real ack
    assert len(h.violations) == 1 and "never sent" in h.violations[0]
    h.violations.clear()
    await client.ack(stream, running)
    await h.until(lambda: h.task("t").unacknowledged == 0)


async def test_item_46_master_updates_carry_no_uuid(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offers = await stream.offers(2)
    bad = task("error", offers[0])
    bad["resources"] = []
    await client.call(stream, "ACCEPT", accept=accept_body([offers[0]], launch(bad)))
    await client.call(stream, "ACCEPT", accept=accept_body([offers[0]], launch(task("lost", offers[0]))))
    await client.call(stream, "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "nobody"}}]})
    for task_id, state in (("error", "TASK_ERROR"), ("lost", "TASK_LOST"), ("nobody", "TASK_LOST")):
        status = await stream.update(task_id, state)
        assert status["source"] == "SOURCE_MASTER" and "uuid" not in status
    h.violations.clear()  # offers[0] was answered twice on purpose


async def test_item_47_kill_running_task(h: Harness, client: Client) -> None:
    for info, expect_killing in ((framework_info(), False), (framework_info(**KILLING), True)):
        stream = await client.subscribe(info)
        client.auto_ack(stream)
        offer = (await stream.offers(1))[0]
        tid = f"t-{expect_killing}"
        await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(task(tid, offer))))
        await stream.update(tid, "TASK_RUNNING")
        await client.call(stream, "KILL", kill={"task_id": {"value": tid}})
        killed = await stream.update(tid, "TASK_KILLED")
        assert "uuid" in killed and killed["source"] == "SOURCE_EXECUTOR"
        states = [s["state"] for s in stream.updates(tid)]
        assert ("TASK_KILLING" in states) is expect_killing
        await client.call(stream, "TEARDOWN")


async def test_item_48_kill_unknown_task(h: Harness, client: Client) -> None:
    plain = await client.subscribe()
    await plain.offers(1)
    agent = h.agents[0].agent_id
    await client.call(plain, "KILL", kill={"task_id": {"value": "ghost"}})
    lost = await plain.update("ghost", "TASK_LOST")
    assert lost["reason"] == "REASON_RECONCILIATION" and "uuid" not in lost
    aware = await client.subscribe(framework_info(capabilities=[{"type": "PARTITION_AWARE"}]))
    await aware.next("SUBSCRIBED")
    await client.call(aware, "KILL", kill={"task_id": {"value": "ghost"}})
    await client.call(aware, "KILL", kill={"task_id": {"value": "ghost2"}, "agent_id": {"value": agent}})
    assert (await aware.update("ghost", "TASK_UNKNOWN"))["reason"] == "REASON_RECONCILIATION"
    assert "uuid" not in await aware.update("ghost2", "TASK_GONE")


async def test_item_49_kill_one_task_of_a_group(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    op = group(pod_executor(stream.framework_id), group_task("g1", offer), group_task("g2", offer))
    await client.call(stream, "ACCEPT", accept=accept_body([offer], op))
    await stream.update("g1", "TASK_RUNNING")
    await stream.update("g2", "TASK_RUNNING")
    await client.call(stream, "KILL", kill={"task_id": {"value": "g1"}})
    await stream.update("g1", "TASK_KILLED")
    await stream.update("g2", "TASK_KILLED")


async def test_item_50_kill_with_the_wrong_agent(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    first, second = await stream.offers(2)
    await client.call(stream, "ACCEPT", accept=accept_body([first], launch(task("t", first))))
    await stream.update("t", "TASK_RUNNING")
    await client.call(stream, "KILL", kill={"task_id": {"value": "t"}, "agent_id": second["agent_id"]})
    # Reconcile afterwards: the answer comes after any effect the KILL could have had.
    await client.call(stream, "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "t"}}]})
    answer = await stream.wait(
        lambda: [s for s in stream.updates("t") if s.get("reason") == "REASON_RECONCILIATION"]
    )
    assert answer[0]["state"] == "TASK_RUNNING"
    assert h.task("t").state == "TASK_RUNNING" and h.task("t").kill_grace is None


async def test_item_51_kill_policy_override(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    slow: dict[str, Any] = {"labels": labels(**{"harness.behaviour": "slow-stop:30"})["labels"]}
    policy = {"grace_period": {"nanoseconds": 60_000_000_000}}
    tasks = [
        task("override", offer, labels=slow, kill_policy=policy),
        task("own", offer, labels=slow, kill_policy={"grace_period": {"nanoseconds": 100_000_000}}),
    ]
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(*tasks)))
    for t in ("override", "own"):
        await stream.update(t, "TASK_RUNNING")
    quick = {"grace_period": {"nanoseconds": 50_000_000}}
    await client.call(stream, "KILL", kill={"task_id": {"value": "override"}, "kill_policy": quick})
    await client.call(stream, "KILL", kill={"task_id": {"value": "own"}})
    for t, grace in (("override", 0.05), ("own", 0.1)):
        killed = await stream.update(t, "TASK_KILLED")
        assert killed["message"] == "Command terminated with signal Killed"  # SIGKILL at the deadline
        assert h.task(t).kill_grace == grace


async def test_item_51_default_grace_lets_a_slow_process_exit(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    spec = task("t", offer, labels=labels(**{"harness.behaviour": "slow-stop:0.2"}))
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(spec)))
    await stream.update("t", "TASK_RUNNING")
    await client.call(stream, "KILL", kill={"task_id": {"value": "t"}})
    # 0.2 s to stop is well inside the built-in executors' default 3 s grace: SIGTERM suffices.
    killed = await stream.update("t", "TASK_KILLED")
    assert killed["message"] == "Command terminated with signal Terminated"
    assert h.task("t").kill_grace is None


async def test_item_52_shutdown_executor(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    op = group(pod_executor(stream.framework_id, "pod-1"), group_task("p1", offer), group_task("p2", offer))
    await client.call(stream, "ACCEPT", accept=accept_body([offer], op))
    await stream.update("p2", "TASK_RUNNING")
    shutdown = {"executor_id": {"value": "pod-1"}, "agent_id": offer["agent_id"]}
    assert await client.call(stream, "SHUTDOWN", shutdown=shutdown) == (202, "")
    await stream.update("p1", "TASK_KILLED")
    await stream.update("p2", "TASK_KILLED")
    failure = (await stream.next("FAILURE"))["failure"]
    assert failure["agent_id"] == offer["agent_id"]
    assert failure["executor_id"] == {"value": "pod-1"}
    assert "status" in failure
