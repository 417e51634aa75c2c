"""Checklist items 53-56: reconciliation and agent failure."""

from __future__ import annotations

from typing import Any

from harness import Harness
from tests.harness.client import Client, accept_body, framework_info, labels, launch, task

AWARE = {"capabilities": [{"type": "PARTITION_AWARE"}]}


def reconciled(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statuses if s.get("reason") == "REASON_RECONCILIATION"]


async def test_item_53_implicit_reconciliation(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    done = task("done", offer, labels=labels(**{"harness.behaviour": "finish:0"}), data="c2VjcmV0")
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(task("run", offer), done)))
    for tid in ("run", "done"):
        # Acknowledge until "done" has sent its terminal update and "run" is RUNNING, but leave
        # the terminal update of "done" unacknowledged: the master still reports it.
        for state in ("TASK_STARTING", "TASK_RUNNING"):
            await client.ack(stream, await stream.update(tid, state))
    await stream.update("done", "TASK_FINISHED")
    await client.call(stream, "RECONCILE", reconcile={"tasks": []})
    answers = await stream.wait(
        lambda: len(reconciled(stream.updates())) == 2 and reconciled(stream.updates())
    )
    by_task = {s["task_id"]["value"]: s for s in answers}
    assert by_task["run"]["state"] == "TASK_RUNNING"
    assert by_task["done"]["state"] == "TASK_FINISHED"
    for status in answers:
        assert status["source"] == "SOURCE_MASTER" and "uuid" not in status
        assert status["message"] == "Reconciliation: Latest task state"


async def test_item_54_explicit_reconciliation(h: Harness, client: Client) -> None:
    plain = await client.subscribe()
    client.auto_ack(plain)
    offer = (await plain.offers(1))[0]
    await client.call(plain, "ACCEPT", accept=accept_body([offer], launch(task("known", offer))))
    await plain.update("known", "TASK_RUNNING")
    await client.call(
        plain,
        "RECONCILE",
        reconcile={"tasks": [{"task_id": {"value": "known"}}, {"task_id": {"value": "unknown"}}]},
    )
    await plain.wait(lambda: len(reconciled(plain.updates())) == 2)
    states = {s["task_id"]["value"]: s["state"] for s in reconciled(plain.updates())}
    assert states == {"known": "TASK_RUNNING", "unknown": "TASK_LOST"}
    aware = await client.subscribe(framework_info(**AWARE))
    await aware.next("SUBSCRIBED")
    agent = offer["agent_id"]
    await client.call(
        aware,
        "RECONCILE",
        reconcile={
            "tasks": [
                {"task_id": {"value": "a"}},
                {"task_id": {"value": "b"}, "agent_id": agent},
                {"task_id": {"value": "c"}, "agent_id": {"value": "no-such-agent"}},
            ]
        },
    )
    await aware.wait(lambda: len(reconciled(aware.updates())) == 3)
    states = {s["task_id"]["value"]: s["state"] for s in reconciled(aware.updates())}
    assert states == {"a": "TASK_UNKNOWN", "b": "TASK_GONE", "c": "TASK_UNKNOWN"}


async def test_item_55_reconciliation_omits_data_and_labels(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    client.auto_ack(stream)
    offer = (await stream.offers(1))[0]
    spec = task("t", offer, data="c2VjcmV0", labels=labels(team="a"))
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(spec)))
    await stream.update("t", "TASK_RUNNING")
    await client.call(stream, "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "t"}}]})
    [answer] = await stream.wait(lambda: reconciled(stream.updates("t")))
    assert "data" not in answer and "labels" not in answer
    assert answer["state"] == "TASK_RUNNING"


async def test_item_56_agent_removal(make_harness: Any, session: Any, encoding: str) -> None:
    async with make_harness(agents=2) as h:
        client = Client(session, h.url, encoding)
        plain = await client.subscribe()
        client.auto_ack(plain)
        first, second = await plain.offers(2)
        await client.call(plain, "ACCEPT", accept=accept_body([first], launch(task("t", first)), refuse=0))
        await plain.update("t", "TASK_RUNNING")
        # Let the second agent's offer sit outstanding, then lose both agents.
        aware = await client.subscribe(framework_info(**AWARE))
        client.auto_ack(aware)
        await aware.next("SUBSCRIBED")
        for agent in (first, second):
            h.remove_agent(agent["agent_id"]["value"])
        lost = await plain.update("t", "TASK_LOST")
        assert (lost["reason"], lost["source"]) == ("REASON_AGENT_REMOVED", "SOURCE_MASTER")
        assert "uuid" not in lost
        await plain.wait(
            lambda: any(e["rescind"]["offer_id"] == second["id"] for e in plain.of_type("RESCIND"))
        )
        failures = await plain.wait(lambda: len(plain.of_type("FAILURE")) == 2 and plain.of_type("FAILURE"))
        assert {f["failure"]["agent_id"]["value"] for f in failures} == {
            first["agent_id"]["value"],
            second["agent_id"]["value"],
        }
        assert all("executor_id" not in f["failure"] for f in failures)
        # PARTITION_AWARE: TASK_UNREACHABLE for tasks on an unreachable agent, GONE_BY_OPERATOR for gone ones.
        await client.call(plain, "TEARDOWN")
        extra = h.add_agent()
        offer = (
            await aware.wait(lambda: [o for o in aware.offers_seen() if o["agent_id"]["value"] == extra])
        )[0]
        await client.call(aware, "ACCEPT", accept=accept_body([offer], launch(task("u", offer))))
        await aware.update("u", "TASK_RUNNING")
        h.remove_agent(extra)
        unreachable = await aware.update("u", "TASK_UNREACHABLE")
        assert unreachable["reason"] == "REASON_AGENT_REMOVED" and "unreachable_time" in unreachable
        await client.call(
            aware,
            "RECONCILE",
            reconcile={"tasks": [{"task_id": {"value": "u"}, "agent_id": {"value": extra}}]},
        )
        answer = await aware.wait(lambda: reconciled(aware.updates("u")))
        assert answer[0]["state"] == "TASK_UNREACHABLE"
        gone_agent = h.add_agent()
        offer = (
            await aware.wait(lambda: [o for o in aware.offers_seen() if o["agent_id"]["value"] == gone_agent])
        )[0]
        await client.call(aware, "ACCEPT", accept=accept_body([offer], launch(task("g", offer))))
        await aware.update("g", "TASK_RUNNING")
        h.remove_agent(gone_agent, gone=True)
        gone = await aware.update("g", "TASK_GONE_BY_OPERATOR")
        assert gone["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR"
        assert h.errors == [] and h.violations == []
        await client.close()
