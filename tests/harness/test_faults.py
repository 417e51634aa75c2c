"""Fault injection: dropped streams, missing heartbeats, master failover, protocol violations."""

from __future__ import annotations

from typing import Any

from harness import Harness
from tests.harness.client import Client, accept_body, framework_info, launch, task

PATIENT = framework_info(failover_timeout=3600)


async def test_drop_stream_disconnects_and_allows_resubscribe(h: Harness, client: Client) -> None:
    stream = await client.subscribe(PATIENT)
    await stream.offers(1)
    fid = stream.framework_id
    assert h.drop_stream(fid) == 1
    await stream.closed.wait()
    await h.until(lambda: not h.master.frameworks[fid].connected)
    assert h.offers == []
    again = await client.subscribe(PATIENT, framework_id=fid)
    await again.offers(1)


async def test_stop_and_resume_heartbeats(h: Harness, client: Client) -> None:
    stream = await client.subscribe()
    offer = (await stream.offers(1))[0]
    h.stop_heartbeats()
    await client.call(stream, "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "sync"}}]})
    await stream.update("sync", "TASK_LOST")
    mark = len(stream.events)
    # The unacknowledged update is resent after 0.2, 0.4 and 0.8 s: seven heartbeat intervals.
    await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(task("t", offer))))
    await stream.wait(lambda: len(stream.updates("t")) >= 4, timeout=10)
    assert [e for e in stream.events[mark:] if e["type"] == "HEARTBEAT"] == []
    h.resume_heartbeats()
    await stream.wait(lambda: [e for e in stream.events[mark:] if e["type"] == "HEARTBEAT"])


async def test_master_failover(make_harness: Any, session: Any, encoding: str) -> None:
    async with make_harness(agents=2) as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe(PATIENT)
        client.auto_ack(stream)
        offer = (await stream.offers(1))[0]
        await client.call(stream, "ACCEPT", accept=accept_body([offer], launch(task("t", offer))))
        await stream.update("t", "TASK_RUNNING")
        fid = stream.framework_id
        old_master = h.master.master_id
        h.failover(reregister_delay=0.5)
        await stream.closed.wait()
        assert h.master.master_id != old_master and h.master.frameworks == {}
        code, text = await client.post(
            {"type": "REVIVE", "framework_id": {"value": fid}}, stream_id=stream.stream_id
        )
        assert (code, text) == (400, "Framework cannot be found")
        again = await client.subscribe(PATIENT, framework_id=fid)
        client.auto_ack(again)
        await again.next("SUBSCRIBED")
        # Agents have not re-registered yet: explicit reconciliation of their tasks is not answered.
        await client.call(again, "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "t"}}]})
        await h.until(lambda: all(a.registered for a in h.agents))
        await client.call(again, "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "t"}}]})
        answer = await again.wait(
            lambda: [s for s in again.updates("t") if s.get("reason") == "REASON_RECONCILIATION"]
        )
        assert answer[0]["state"] == "TASK_RUNNING"
        await client.call(again, "RECONCILE", reconcile={"tasks": [{"task_id": {"value": "t"}}]})
        await again.wait(
            lambda: len([s for s in again.updates("t") if s.get("reason") == "REASON_RECONCILIATION"]) == 2
        )
        assert h.task("t").state == "TASK_RUNNING"
        assert (await again.offers(1))[0]["id"]["value"].startswith(h.master.master_id)
        assert h.errors == [] and h.violations == []
        await client.close()


async def test_violations_for_reused_and_hoarded_offers(
    make_harness: Any, session: Any, encoding: str
) -> None:
    async with make_harness(agents=1, offer_hoard_intervals=4) as h:
        client = Client(session, h.url, encoding)
        stream = await client.subscribe()
        offer = (await stream.offers(1))[0]
        await h.until(lambda: len(h.violations) == 1)
        assert "unanswered" in h.violations[0]
        await client.call(stream, "DECLINE", decline={"offer_ids": [offer["id"]]})
        await client.call(stream, "DECLINE", decline={"offer_ids": [offer["id"]]})
        assert len(h.violations) == 2 and "again" in h.violations[1]
        assert [c.type for c in h.calls] == ["SUBSCRIBE", "DECLINE", "DECLINE"]
        assert h.calls[1].body["decline"]["offer_ids"] == [offer["id"]]
        assert h.calls[1].status == 202
        await client.close()


async def test_a_harness_bug_is_a_500_and_recorded(h: Harness, client: Client, monkeypatch: Any) -> None:
    from harness import calls

    def broken(*_: object) -> tuple[int, str]:
        raise RuntimeError("bug")

    stream = await client.subscribe()
    await stream.next("SUBSCRIBED")
    monkeypatch.setattr(calls, "dispatch", broken)
    status, text = await client.call(stream, "REVIVE")
    assert status == 500 and "bug" in text
    assert [str(e) for e in h.errors] == ["bug"]
    h.errors.clear()
