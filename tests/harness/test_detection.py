"""Checklist items 57-58: a standby master redirects, a leaderless one answers 503.

Item 59 (ZooKeeper registration) is in test_zookeeper.py.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from harness import Harness
from tests.harness.client import JSON, Client, framework_info


async def test_item_57_standby_redirects_to_the_leader(
    make_harness: Any, session: aiohttp.ClientSession, encoding: str
) -> None:
    async with make_harness() as leader, make_harness() as standby:
        standby.become_standby(leader.url)
        client = Client(session, standby.url, encoding)
        body = client.encode({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info()}})
        headers = {"Content-Type": encoding, "Accept": encoding}
        url = standby.url + "/api/v1/scheduler?x=1"
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as r:
            assert r.status == 307
            assert r.headers["Location"] == f"//127.0.0.1:{leader.port}/api/v1/scheduler?x=1"
        async with session.get(standby.url + "/version") as r:
            assert r.status == 200  # every master serves /version
        # A client following the redirect ends up subscribed to the leader.
        stream = await client.subscribe()
        assert str(stream.response.url).startswith(leader.url)
        await stream.next("SUBSCRIBED")
        assert len(leader.master.frameworks) == 1 and standby.master.frameworks == {}
        standby.become_leader()
        own = await client.subscribe()
        assert str(own.response.url).startswith(standby.url)
        await own.next("SUBSCRIBED")
        await client.close()
        for h in (leader, standby):
            assert h.errors == [] and h.violations == []


async def test_item_58_no_leader_is_503(h: Harness, session: aiohttp.ClientSession) -> None:
    client = Client(session, h.url, JSON)
    stream = await client.subscribe()
    await stream.next("SUBSCRIBED")
    h.no_leader()
    await stream.closed.wait()  # the old leader's connections are gone
    status, text = await client.post({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info()}})
    assert (status, text) == (503, "No leader elected")
    async with session.get(h.url + "/redirect", allow_redirects=False) as r:
        assert r.status == 503
    h.become_leader()
    again = await client.subscribe()
    await again.next("SUBSCRIBED")
    await client.close()
