"""Checklist item 59: ZooKeeper registration like a Mesos master, against a real ZooKeeper that the
test starts itself (tests/e2e/zk.py)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from kazoo.client import KazooClient

from tests.e2e.zk import zookeeper_server
from tests.harness.client import JSON, Client

pytestmark = pytest.mark.slow


@pytest.fixture
def zk() -> Iterator[str]:
    with zookeeper_server() as address:
        yield address


def children(address: str) -> list[tuple[str, dict[str, Any]]]:
    client = KazooClient(hosts=address)
    client.start(timeout=15)
    try:
        return [
            (name, json.loads(client.get(f"/mesos/{name}")[0]))
            for name in sorted(client.get_children("/mesos"))
        ]
    finally:
        client.stop()
        client.close()


async def test_item_59_registration_and_leadership(
    zk: str, make_harness: Any, session: aiohttp.ClientSession
) -> None:
    url = f"zk://{zk}/mesos"
    async with make_harness(zookeeper=url) as first:
        await first.until(lambda: first.mode == "leader", 15)
        nodes = await asyncio.to_thread(children, zk)
        assert len(nodes) == 1
        name, info = nodes[0]
        assert re.fullmatch(r"json\.info_\d{10}", name)
        assert info["pid"] == f"master@127.0.0.1:{first.port}"
        assert info["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": first.port}
        second = make_harness(zookeeper=url)
        await second.start()
        try:
            await second.until(lambda: second.mode == "standby", 15)
            assert len(await asyncio.to_thread(children, zk)) == 2  # one node per master, no info_ nodes
            client = Client(session, second.url, JSON)
            stream = await client.subscribe()  # follows the 307 to the leader
            assert str(stream.response.url).startswith(first.url)
            await stream.next("SUBSCRIBED")
            await client.close()
            await first.stop()  # the leader's node goes away: leadership moves
            await second.until(lambda: second.mode == "leader", 15)
            own = Client(session, second.url, JSON)
            stream = await own.subscribe()
            assert str(stream.response.url).startswith(second.url)
            await stream.next("SUBSCRIBED")
            await own.close()
        finally:
            await second.stop()
        assert second.errors == [] and first.errors == []
