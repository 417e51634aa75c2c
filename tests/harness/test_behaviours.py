"""The simulated task lifecycle scripted by the `harness.behaviour` label, and health checks."""

from __future__ import annotations

from functools import partial
from typing import Any

from harness import Harness
from tests.harness.client import Client, accept_body, framework_info, labels, launch, task


def scripted(task_id: str, offer: dict[str, Any], behaviour: str, **extra: Any) -> dict[str, Any]:
    return task(task_id, offer, labels=labels(**{"harness.behaviour": behaviour}), **extra)


def healthy_updates(stream: Any, task_id: str) -> list[dict[str, Any]]:
    return [s for s in stream.updates(task_id) if s.get("healthy") is True]


def states(stream: Any, task_id: str) -> list[str]:
    return [s["state"] for s in stream.updates(task_id)]


async def test_scripted_endings(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    tasks = [
        scripted("finish", offer, "finish:0.05"),
        scripted("fail", offer, "fail:0.05"),
        scripted("crash", offer, "crash-loop"),
        scripted("lost", offer, "lost:0.05"),
        scripted("bad", offer, "explode:1"),
    ]
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(*tasks)))
    assert (await stream.update("finish", "TASK_FINISHED"))["message"] == "Command exited with status 0"
    assert (await stream.update("fail", "TASK_FAILED"))["message"] == "Command exited with status 1"
    await stream.update("crash", "TASK_FAILED")
    assert states(stream, "crash") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
    lost = await stream.update("lost", "TASK_LOST")
    assert (lost["source"], lost["reason"]) == (
        "SOURCE_AGENT",
        "REASON_EXECUTOR_TERMINATED",
    ) and "uuid" in lost
    assert "unknown behaviour" in (await stream.update("bad", "TASK_FAILED"))["message"]


async def test_never_start_until_killed(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    await client.call(
        stream,
        "ACCEPT",
        accept=accept_body([offer], launch(scripted("stuck", offer, "never-start"), task("probe", offer))),
    )
    await stream.update("probe", "TASK_RUNNING")
    assert states(stream, "stuck") == []
    assert h.task("stuck").state == "TASK_STAGING"
    await client.call(stream, "KILL", kill={"task_id": {"value": "stuck"}})
    killed = await stream.update("stuck", "TASK_KILLED")
    assert (killed["reason"], killed["source"]) == ("REASON_TASK_KILLED_DURING_LAUNCH", "SOURCE_AGENT")


async def test_health_checks_like_built_in_executors(h: Harness, client: Client) -> None:
    stream = await client.subscribe(framework_info(capabilities=[{"type": "TASK_KILLING_STATE"}]))
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    check = {
        "type": "TCP",
        "tcp": {"port": 8080},
        "delay_seconds": 0,
        "interval_seconds": 0.05,
        "grace_period_seconds": 0,
        "consecutive_failures": 2,
    }
    tasks = [
        scripted("healthy", offer, "", health_check=check),
        scripted("sick", offer, "unhealthy:0.2", health_check=check),
    ]
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(*tasks)))
    for tid in ("healthy", "sick"):
        good = await stream.wait(partial(healthy_updates, stream, tid))
        assert good[0]["state"] == "TASK_RUNNING"
        assert good[0]["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    killed = await stream.update("sick", "TASK_KILLED")
    assert killed["healthy"] is False
    sick = stream.updates("sick")
    unhealthy = [s for s in sick if s.get("healthy") is False and s["state"] == "TASK_RUNNING"]
    assert len(unhealthy) == 2  # every failure is reported, then the task is killed
    assert "TASK_KILLING" in states(stream, "sick")
    assert (
        len([s for s in stream.updates("healthy") if s.get("healthy") is True]) == 1
    )  # only the first success
    assert h.task("healthy").state == "TASK_RUNNING"


async def test_executor_messages_are_echoed(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(task("t", offer))))
    await stream.update("t", "TASK_RUNNING")
    message = {"agent_id": offer["agent_id"], "executor_id": {"value": "t"}, "data": "aGVsbG8="}
    assert await client.call(stream, "MESSAGE", message=message) == (202, "")
    echoed = (await stream.next("MESSAGE"))["message"]
    assert echoed == message
