"""ZooKeeper registration of a harness master, laid out like a Mesos master's (checklist item 59).

A Mesos master contends for leadership by creating one ephemeral sequential child
`json.info_<10-digit sequence>` under the znode of `zk://hosts/path`, holding its MasterInfo as
compact JSON (with `pid` and `address {hostname, ip, port}`); the child with the lowest sequence
number is the leader, and the others redirect to it. `Contender` does the same for a Harness:
it registers on start, watches the group, and reports who leads (itself, another master's
"host:port", or nobody) through a callback run on the asyncio loop. Deleting the node (stop, or a
lost session) hands leadership to the next master.

kazoo is thread-based: its calls run in worker threads (asyncio.to_thread) and its watch
callbacks hop back to the loop with call_soon_threadsafe; nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import ChildrenWatch

PREFIX = "json.info_"


class ZooKeeperUrlError(ValueError):
    """The zk:// URL cannot be used."""


@dataclass(frozen=True, slots=True)
class ZkUrl:
    hosts: str
    path: str


def parse_zk_url(url: str) -> ZkUrl:
    """`zk://h1:2181,h2:2181/mesos` -> hosts "h1:2181,h2:2181", path "/mesos"."""
    if not url.startswith("zk://"):
        raise ZooKeeperUrlError(f"{url!r} is not a zk:// URL")
    rest = url[len("zk://") :]
    hosts, slash, path = rest.partition("/")
    if "@" in hosts:
        raise ZooKeeperUrlError("credentials in zk:// URLs are not supported by the harness")
    if not hosts or not slash or not path.strip("/"):
        raise ZooKeeperUrlError(f"{url!r} needs hosts and a path, like zk://127.0.0.1:2181/mesos")
    return ZkUrl(hosts, "/" + path.strip("/"))


Leader = str | None  # "self", another master's "host:port", or None (no leader known)


class Contender:
    def __init__(self, url: str, on_leader: Callable[[Leader], None]) -> None:
        self._url = parse_zk_url(url)
        self._on_leader = on_leader
        self._client: KazooClient | None = None
        self._node: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def node(self) -> str | None:
        """The full path of our `json.info_` node once registered."""
        return self._node

    async def start(self, master_info_json: bytes, timeout: float = 15.0) -> None:
        self._loop = asyncio.get_running_loop()
        client = KazooClient(hosts=self._url.hosts, timeout=timeout)
        await asyncio.to_thread(client.start, timeout)
        self._client = client
        await asyncio.to_thread(client.ensure_path, self._url.path)
        self._node = await asyncio.to_thread(
            client.create, f"{self._url.path}/{PREFIX}", master_info_json, ephemeral=True, sequence=True
        )
        ChildrenWatch(client, self._url.path, self._children_changed)

    async def update(self, master_info_json: bytes) -> None:
        """A new MasterInfo (the harness failed over to a new master id)."""
        if self._client is not None and self._node is not None:
            await asyncio.to_thread(self._client.set, self._node, master_info_json)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._node is not None:
                with contextlib.suppress(NoNodeError):
                    await asyncio.to_thread(client.delete, self._node)
        finally:
            await asyncio.to_thread(client.stop)
            await asyncio.to_thread(client.close)
        for task in list(self._tasks):
            task.cancel()

    def _children_changed(self, children: list[str]) -> bool:
        # Runs in a kazoo thread: only hand the list over to the loop.
        loop = self._loop
        if loop is None or self._client is None:
            return False
        loop.call_soon_threadsafe(self._spawn, sorted(c for c in children if c.startswith(PREFIX)))
        return True

    def _spawn(self, contenders: list[str]) -> None:
        task = asyncio.get_running_loop().create_task(self._elect(contenders))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _elect(self, contenders: list[str]) -> None:
        client = self._client
        if client is None:
            return
        if not contenders:
            self._on_leader(None)
            return
        # The 10-digit sequence sorts like the number, so the first name is the lowest sequence.
        leader = f"{self._url.path}/{contenders[0]}"
        if leader == self._node:
            self._on_leader("self")
            return
        try:
            data, _ = await asyncio.to_thread(client.get, leader)
        except NoNodeError:
            return  # gone already; the watch fires again with the new group
        info = json.loads(data)
        address = info.get("address") or {}
        host = address.get("hostname") or address.get("ip") or info.get("hostname")
        port = address.get("port") or info.get("port")
        self._on_leader(f"{host}:{port}" if host and port else None)
