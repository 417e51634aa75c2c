"""Checklist items 20-27: the subscription lifecycle."""

from __future__ import annotations

from harness import Harness
from tests.harness.client import Client, accept_body, framework_info, launch, task


async def test_item_20_new_id_then_resubscribe_keeps_it(h: Harness, client: Client) -> None:
    first = await client.subscribe(framework_info(failover_timeout=60))
    await first.next("SUBSCRIBED")
    fid = first.framework_id
    other = await client.subscribe()
    await other.next("SUBSCRIBED")
    assert other.framework_id != fid
    await first.close()
    again = await client.subscribe(framework_info(failover_timeout=60), framework_id=fid)
    assert (await again.next("SUBSCRIBED"))["subscribed"]["framework_id"]["value"] == fid


async def test_item_21_second_subscribe_fails_over_the_old_stream(h: Harness, client: Client) -> None:
    old = await client.subscribe(framework_info(failover_timeout=60))
    await old.next("SUBSCRIBED")
    fid = old.framework_id
    new = await client.subscribe(framework_info(failover_timeout=60), framework_id=fid)
    await new.next("SUBSCRIBED")
    error = await old.next("ERROR")
    assert error == {"type": "ERROR", "error": {"message": "Framework failed over"}}
    await old.closed.wait()
    status, _ = await client.post({"type": "REVIVE", "framework_id": {"value": fid}}, stream_id=old.stream_id)
    assert status == 400
    status, _ = await client.post({"type": "REVIVE", "framework_id": {"value": fid}}, stream_id=new.stream_id)
    assert status == 202
    await new.next("HEARTBEAT")


async def test_item_22_unknown_id_is_accepted_after_master_failover(h: Harness, client: Client) -> None:
    stream = await client.subscribe(framework_info(failover_timeout=60), framework_id="from-an-older-master")
    subscribed = await stream.next("SUBSCRIBED")
    assert subscribed["subscribed"]["framework_id"]["value"] == "from-an-older-master"
    await stream.offers()


async def test_item_23_framework_level_refusals_are_200_plus_error(h: Harness, client: Client) -> None:
    cases = [
        framework_info(role="/bad"),
        framework_info(roles=["a"]),  # roles without MULTI_ROLE
        framework_info(capabilities=[{"type": "MULTI_ROLE"}], roles=["a", "a"]),
    ]
    for info in cases:
        stream = await client.subscribe(info)
        assert stream.response.status == 200
        error = await stream.next("ERROR")
        assert error["error"]["message"]
        await stream.closed.wait()
        assert [e["type"] for e in stream.events] == ["ERROR"]
    stream = await client.subscribe(framework_info(role="web"), suppressed_roles=["db"])
    assert "Suppressed roles" in (await stream.next("ERROR"))["error"]["message"]
    # A removed framework's id.
    gone = await client.subscribe()
    await gone.next("SUBSCRIBED")
    fid = gone.framework_id
    assert await client.call(gone, "TEARDOWN") == (202, "")
    again = await client.subscribe(framework_id=fid)
    assert (await again.next("ERROR"))["error"]["message"] == "Framework has been removed"


async def test_item_24_user_and_checkpoint_kept_principal_refused(h: Harness, client: Client) -> None:
    first = await client.subscribe(
        framework_info(user="alice", checkpoint=True, principal="p", failover_timeout=60)
    )
    await first.next("SUBSCRIBED")
    fid = first.framework_id
    changed = framework_info(user="bob", checkpoint=False, principal="p", failover_timeout=60)
    second = await client.subscribe(changed, framework_id=fid)
    await second.next("SUBSCRIBED")
    info = h.master.frameworks[fid].info
    assert (info.user, info.checkpoint) == ("alice", True)
    third = await client.subscribe(framework_info(principal="mallory"), framework_id=fid)
    assert (await third.next("ERROR"))["error"]["message"] == "Changing framework's principal is not allowed."


async def test_item_25_closed_subscription_403_and_offers_invalid(h: Harness, client: Client) -> None:
    stream = await client.subscribe(
        framework_info(failover_timeout=60, capabilities=[{"type": "PARTITION_AWARE"}])
    )
    offers = await stream.offers()
    fid, sid = stream.framework_id, stream.stream_id
    await stream.close()
    await h.until(lambda: not h.master.frameworks[fid].connected)
    assert h.offers == []  # rescinded when the framework disconnected
    code, _ = await client.post({"type": "REVIVE", "framework_id": {"value": fid}}, stream_id=sid)
    assert code == 403
    back = await client.subscribe(
        framework_info(failover_timeout=60, capabilities=[{"type": "PARTITION_AWARE"}]), framework_id=fid
    )
    await back.next("SUBSCRIBED")
    assert await client.call(
        back, "ACCEPT", accept=accept_body(offers[:1], launch(task("t1", offers[0])))
    ) == (202, "")
    status = await back.update("t1", "TASK_DROPPED")
    assert status["reason"] == "REASON_INVALID_OFFERS" and "uuid" not in status


async def test_item_26_failover_timeout_removes_the_framework(h: Harness, client: Client) -> None:
    # Default failover_timeout 0: removed as soon as the stream closes.
    stream = await client.subscribe()
    offers = await stream.offers()
    await client.call(stream, "ACCEPT", accept=accept_body(offers[:1], launch(task("t1", offers[0]))))
    await h.until(lambda: any(t.state == "TASK_RUNNING" for t in h.tasks))
    fid = stream.framework_id
    await stream.close()
    await h.until(lambda: fid in h.master.removed_frameworks)
    await h.until(lambda: h.task("t1").state == "TASK_KILLED")
    again = await client.subscribe(framework_id=fid)
    assert (await again.next("ERROR"))["error"]["message"] == "Framework has been removed"
    # A failover_timeout (capped at 0.5 s by the test settings) delays the removal.
    patient = await client.subscribe(framework_info(failover_timeout=3600))
    await patient.next("SUBSCRIBED")
    pid = patient.framework_id
    await patient.close()
    await h.until(lambda: not h.master.frameworks[pid].connected)
    assert pid not in h.master.removed_frameworks
    await h.until(lambda: pid in h.master.removed_frameworks, timeout=3)


async def test_item_27_teardown(h: Harness, client: Client) -> None:
    stream = await client.subscribe(framework_info(failover_timeout=3600))
    offers = await stream.offers()
    await client.call(stream, "ACCEPT", accept=accept_body(offers[:1], launch(task("t1", offers[0]))))
    await h.until(lambda: h.live_tasks() == 1)
    fid = stream.framework_id
    assert await client.call(stream, "TEARDOWN") == (202, "")
    await stream.closed.wait()
    assert fid not in h.master.frameworks
    await h.until(lambda: h.live_tasks() == 0)
    again = await client.subscribe(framework_id=fid)
    assert (await again.next("ERROR"))["error"]["message"] == "Framework has been removed"
