"""Master detection: which Mesos master leads right now, as a base URL such as ``http://10.0.0.5:5050``.

Role: the Mesos client asks a detector for the leader before every (re)subscription and watches it
for leadership changes. Two kinds exist, chosen by :func:`detector_for`:

- ``http://host:5050`` (or ``https://``): a fixed URL. If that master is a standby it answers 307 and
  the client follows the redirect itself, so a static detector never changes its mind.
- ``zk://[user:pass@]h1:2181,h2:2181/mesos``: read the ZooKeeper group the Mesos masters contend in.
  Every master holds an ephemeral sequential child ``json.info_<10-digit seq>`` of the znode whose data
  is compact ``MasterInfo`` JSON; the leader is the child with the lowest sequence number. The
  replicated log's ``log_replicas`` child and legacy ``info_<seq>`` children (binary protobuf, or a
  bare UPID) are ignored: ``info_`` sorts before ``json.info_``, so reading them would pick garbage.

Threading hazard: kazoo runs its own threads (connection and watch callbacks). Nothing here touches
asyncio objects from those threads except through ``loop.call_soon_threadsafe``; blocking ZooKeeper
reads run in worker threads via ``asyncio.to_thread`` so the event loop never blocks on the network.

This module must not decide anything about subscriptions or talk HTTP; it only answers "who leads".
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NoNodeError

# The contender label Mesos masters (>= 0.24) use for their JSON MasterInfo entries.
_LEADER_NODE = re.compile(r"^json\.info_(\d+)$")
_PID = re.compile(r"^[^@]*@([^:]+):(\d+)$")


class DetectorError(ValueError):
    """The master address given by the operator cannot be used (bad URL or ZooKeeper address)."""


class MasterDetector(Protocol):
    """What the Mesos client needs from any detector."""

    async def start(self) -> None:
        """Begin watching; never blocks on the network being reachable."""

    async def leader(self) -> str:
        """Wait until a leader is known and return its base URL (no trailing slash)."""

    def current(self) -> str | None:
        """The leader known right now, or None while nobody leads or nothing is known yet."""

    async def changed(self, since: str | None) -> str | None:
        """Wait until the known leader differs from ``since`` and return the new value."""

    async def close(self) -> None:
        """Stop watching and free every thread and socket."""


class StaticDetector:
    """A master given as a URL: it is always "the leader"; 307 redirects are the client's business."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DetectorError(f"master URL must look like http://host:5050, got {url!r}")
        self._url = f"{parts.scheme}://{parts.netloc}"
        self._closed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def leader(self) -> str:
        return self._url

    def current(self) -> str | None:
        return self._url

    async def changed(self, since: str | None) -> str | None:
        if since != self._url:
            return self._url
        # A fixed URL never changes; wait until closed so callers can race this against other work.
        await self._closed.wait()
        return self._url

    async def close(self) -> None:
        self._closed.set()


@dataclass(frozen=True, slots=True)
class ZooKeeperAddress:
    """A parsed ``zk://`` master address."""

    hosts: str  # "h1:2181,h2:2181", as kazoo wants it
    path: str  # "/mesos"
    auth: str | None  # "user:password" for the digest scheme, if given


def parse_zk_url(url: str) -> ZooKeeperAddress:
    """Split ``zk://[user:pass@]h1:2181,h2:2181/mesos`` (several hosts make urlsplit unreliable)."""
    if not url.startswith("zk://"):
        raise DetectorError(f"ZooKeeper master address must start with zk://, got {url!r}")
    rest = url[len("zk://") :]
    hosts, slash, path = rest.partition("/")
    auth: str | None = None
    if "@" in hosts:
        auth, _, hosts = hosts.rpartition("@")
    path = "/" + path.strip("/")
    if not slash or path == "/":
        raise DetectorError(f"ZooKeeper master address needs a znode path such as /mesos, got {url!r}")
    if not hosts or any(not h or h.startswith(":") for h in hosts.split(",")):
        raise DetectorError(f"ZooKeeper master address needs host[:port] entries, got {url!r}")
    return ZooKeeperAddress(hosts=hosts, path=path, auth=auth)


def leader_child(children: list[str]) -> str | None:
    """The leading contender among a group's children: lowest ``json.info_`` sequence, else None."""
    best: tuple[int, str] | None = None
    for name in children:
        match = _LEADER_NODE.match(name)
        if match is None:
            continue  # log_replicas, legacy info_ entries, anything else
        key = (int(match.group(1)), name)
        if best is None or key < best:
            best = key
    return None if best is None else best[1]


def master_url(info: bytes, scheme: str = "http") -> str:
    """Base URL of a master from its ``MasterInfo`` JSON: ``address.ip``/``port``, else the pid."""
    try:
        doc = json.loads(info)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectorError(f"MasterInfo is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DetectorError("MasterInfo JSON is not an object")
    address = doc.get("address")
    if isinstance(address, dict):
        host = address.get("ip") or address.get("hostname")
        port = address.get("port")
        if isinstance(host, str) and host and isinstance(port, int):
            return f"{scheme}://{_host_for_url(host)}:{port}"
    pid = doc.get("pid")
    if isinstance(pid, str) and (match := _PID.match(pid)):
        return f"{scheme}://{_host_for_url(match.group(1))}:{match.group(2)}"
    raise DetectorError("MasterInfo has neither address{ip,port} nor pid")


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


KazooFactory = Callable[..., Any]


class ZooKeeperDetector:
    """Follows the leading master through ZooKeeper (see the module docstring for the layout)."""

    def __init__(
        self,
        address: ZooKeeperAddress,
        *,
        scheme: str = "http",
        session_timeout: float = 10.0,
        kazoo_factory: KazooFactory = KazooClient,
    ) -> None:
        self._address = address
        self._scheme = scheme
        self._zk = kazoo_factory(
            hosts=address.hosts,
            timeout=session_timeout,
            # Keep reconnecting forever: a ZooKeeper outage must not end master detection.
            connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 5.0},
            command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1.0},
            auth_data=[("digest", address.auth)] if address.auth else None,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kick = asyncio.Event()
        # Replaced by a fresh Event on every change; waiters re-check their condition when it fires.
        self._changed = asyncio.Event()
        self._leader: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.last_error: str | None = None  # why the latest read found no usable leader, for /v1/info

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._zk.add_listener(self._on_state)
        # start_async: connect in the background; the first CONNECTED state kicks the first read.
        self._zk.start_async()
        self._task = asyncio.create_task(self._follow(), name="zk-master-detector")
        self._kick.set()

    def current(self) -> str | None:
        return self._leader

    async def leader(self) -> str:
        while self._leader is None:
            if self._closed:
                raise DetectorError("detector closed")
            await self._changed.wait()
        return self._leader

    async def changed(self, since: str | None) -> str | None:
        while self._leader == since and not self._closed:
            await self._changed.wait()
        return self._leader

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._wake()
        # stop() ends the session (and its threads); close() frees the sockets.
        await asyncio.to_thread(self._stop_kazoo)

    def _stop_kazoo(self) -> None:
        self._zk.stop()
        self._zk.close()

    # ---- kazoo threads: only ever hop onto the loop from here ----------------------------------

    def _on_state(self, state: str) -> None:
        self._hop(self._state_changed, state)

    def _on_watch(self, _event: object) -> None:
        self._hop(self._kick.set)

    def _hop(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            return  # the loop closed between the check and the call: shutting down anyway

    # ---- event loop side ------------------------------------------------------------------------

    def _state_changed(self, state: str) -> None:
        if state == KazooState.LOST:
            # The session expired: its watches are gone and we cannot know who leads (Mesos' own
            # detector reports "no leader" here too). The next CONNECTED re-reads and re-watches.
            self._loop_set_leader(None)
        elif state == KazooState.CONNECTED:
            self._kick.set()

    def _loop_set_leader(self, leader: str | None) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        self._wake()

    def _wake(self) -> None:
        fired, self._changed = self._changed, asyncio.Event()
        fired.set()

    async def _follow(self) -> None:
        # Coalesce bursts of watch events into one read: the watch fires, we re-read everything.
        while True:
            await self._kick.wait()
            self._kick.clear()
            if not self._zk.connected:
                continue  # the CONNECTED state change kicks again
            try:
                found = await asyncio.to_thread(self._read_leader)
            except Exception as exc:  # connection loss mid-read: a later state change kicks again
                self.last_error = f"{type(exc).__name__}: {exc}"
                continue
            self._loop_set_leader(found)

    def _read_leader(self) -> str | None:
        """Runs in a worker thread: list the group (re-arming the watch) and read the leader's info."""
        path = self._address.path
        while True:
            try:
                children = self._zk.get_children(path, watch=self._on_watch)
            except NoNodeError:
                # The group does not exist yet (no master started): watch for its creation instead.
                if self._zk.exists(path, watch=self._on_watch) is None:
                    self.last_error = f"znode {path} does not exist"
                    return None
                continue
            name = leader_child(list(children))
            if name is None:
                self.last_error = f"no json.info_ contender under {path}"
                return None
            try:
                data, _stat = self._zk.get(f"{path}/{name}")
            except NoNodeError:
                continue  # the leader vanished between list and read: list again
            try:
                url = master_url(data, self._scheme)
            except DetectorError as exc:
                self.last_error = f"{path}/{name}: {exc}"
                return None
            self.last_error = None
            return url


def detector_for(master: str, *, scheme: str = "http") -> MasterDetector:
    """Build the detector for a ``--master`` value: ``http(s)://host:port`` or ``zk://hosts/path``."""
    if master.startswith("zk://"):
        return ZooKeeperDetector(parse_zk_url(master), scheme=scheme)
    return StaticDetector(master)
