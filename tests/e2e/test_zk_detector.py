"""The ZooKeeper master detector (and the client following it) against a real ZooKeeper server,
with contenders laid out like Mesos'.

Each simulated master is its own kazoo session holding one ephemeral sequential ``json.info_`` node, so
ending the session is exactly how a real master loses leadership.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from kazoo.client import KazooClient

from framework.core.events import Event, Subscribed
from framework.mesos.client import Backoff, MesosClient
from framework.mesos.detector import ZooKeeperDetector, detector_for, parse_zk_url
from framework.mesos.wire import FrameworkConfig
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler
from proto.recordio import encode
from tests.e2e.zk import zookeeper_server

WAIT = 15.0  # generous bound for a loaded CI machine; a pass normally takes milliseconds


def master_info(ip: str, port: int, *, with_address: bool = True) -> bytes:
    doc: dict[str, object] = {
        "id": f"master-{port}",
        "ip": 16777343,
        "port": port,
        "pid": f"master@{ip}:{port}",
        "hostname": "localhost",
        "version": "1.11.0",
    }
    if with_address:
        doc["address"] = {"hostname": "localhost", "ip": ip, "port": port}
    return json.dumps(doc, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def zk_hosts() -> Iterator[str]:
    with zookeeper_server() as hosts:
        yield hosts


class Contender:
    """One simulated Mesos master: a ZooKeeper session owning one ``json.info_`` node."""

    def __init__(self, hosts: str, group: str, info: bytes) -> None:
        self.zk = KazooClient(hosts=hosts, timeout=5.0)
        self.zk.start(timeout=WAIT)
        self.node: str = self.zk.create(
            f"{group}/json.info_", info, ephemeral=True, sequence=True, makepath=True
        )

    def resign(self) -> None:
        # Closing the session deletes the ephemeral node, as a master's death would.
        self.zk.stop()
        self.zk.close()


@pytest.fixture
async def contenders(zk_hosts: str) -> AsyncIterator[list[Contender]]:
    made: list[Contender] = []
    yield made
    for c in made:
        c.resign()


@pytest.fixture
def admin(zk_hosts: str) -> Iterator[KazooClient]:
    zk = KazooClient(hosts=zk_hosts, timeout=5.0)
    zk.start(timeout=WAIT)
    yield zk
    zk.stop()
    zk.close()


async def started(hosts: str, group: str) -> ZooKeeperDetector:
    detector = ZooKeeperDetector(parse_zk_url(f"zk://{hosts}{group}"))
    await detector.start()
    return detector


@pytest.mark.slow
async def test_leader_is_lowest_json_info_and_follows_resignation(
    zk_hosts: str, contenders: list[Contender], admin: KazooClient
) -> None:
    group = "/mesos-follow"
    # Noise Mesos leaves in the group: the replicated log's entry and a legacy binary contender,
    # which sorts first lexicographically and must still be ignored.
    admin.create(f"{group}/log_replicas", b"", makepath=True)
    admin.create(f"{group}/info_0000000000", b"\x08\x01binary-protobuf", ephemeral=True)
    contenders.append(Contender(zk_hosts, group, master_info("127.0.0.1", 5051)))
    contenders.append(Contender(zk_hosts, group, master_info("127.0.0.2", 5052)))
    contenders.append(Contender(zk_hosts, group, master_info("127.0.0.3", 5053)))

    detector = await started(zk_hosts, group)
    try:
        assert await asyncio.wait_for(detector.leader(), WAIT) == "http://127.0.0.1:5051"

        contenders[0].resign()
        assert (
            await asyncio.wait_for(detector.changed("http://127.0.0.1:5051"), WAIT) == "http://127.0.0.2:5052"
        )

        # A non-leader leaving changes nothing; once the last contender leaves, nobody leads.
        contenders[2].resign()
        contenders[1].resign()
        assert await asyncio.wait_for(detector.changed("http://127.0.0.2:5052"), WAIT) is None
        assert detector.current() is None
        assert detector.last_error is not None
    finally:
        await detector.close()


@pytest.mark.slow
async def test_waits_for_the_group_to_appear_and_reads_pid_when_address_is_missing(
    zk_hosts: str, contenders: list[Contender]
) -> None:
    group = "/mesos-late"
    detector = await started(zk_hosts, group)
    try:
        assert detector.current() is None
        # Nobody leads yet: leader() must wait rather than fail.
        waiting = asyncio.ensure_future(detector.leader())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        contenders.append(Contender(zk_hosts, group, master_info("127.0.0.9", 5059, with_address=False)))
        assert await asyncio.wait_for(waiting, WAIT) == "http://127.0.0.9:5059"
    finally:
        await detector.close()


@pytest.mark.slow
async def test_factory_builds_a_working_zk_detector(zk_hosts: str, contenders: list[Contender]) -> None:
    group = "/mesos-factory"
    contenders.append(Contender(zk_hosts, group, master_info("127.0.0.4", 5054)))
    detector = detector_for(f"zk://{zk_hosts}{group}")
    await detector.start()
    try:
        assert await asyncio.wait_for(detector.leader(), WAIT) == "http://127.0.0.4:5054"
    finally:
        await detector.close()


class StreamingMaster:
    """Just enough of /api/v1/scheduler to subscribe: SUBSCRIBED then heartbeats, on a free port."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.subscribes: list[scheduler.Call] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    async def __aenter__(self) -> StreamingMaster:
        app = web.Application()
        app.router.add_post("/api/v1/scheduler", self._subscribe)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._closing.set()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        call = scheduler.Call()
        call.ParseFromString(await request.read())
        self.subscribes.append(call)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/x-protobuf",
                "Mesos-Stream-Id": f"{self.name}-{len(self.subscribes)}",
            }
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        event = scheduler.Event(type=scheduler.Event.SUBSCRIBED)
        event.subscribed.framework_id.value = call.framework_id.value or "fw-zk"
        event.subscribed.heartbeat_interval_seconds = 0.1
        beat = scheduler.Event(type=scheduler.Event.HEARTBEAT)
        try:
            await response.write(encode(event.SerializeToString()))
            while (
                not self._closing.is_set()
                and request.transport is not None
                and not request.transport.is_closing()
            ):
                await response.write(encode(beat.SerializeToString()))
                await asyncio.sleep(0.05)
        except (ConnectionResetError, RuntimeError):
            pass
        return response


@pytest.mark.slow
async def test_client_follows_zookeeper_leadership_keeping_its_framework_id(
    zk_hosts: str, contenders: list[Contender]
) -> None:
    group = "/mesos-client"
    subscribed: list[Subscribed] = []

    async def on_event(event: Event) -> None:
        if isinstance(event, Subscribed):
            subscribed.append(event)

    async with StreamingMaster("a") as first, StreamingMaster("b") as second:
        contenders.append(Contender(zk_hosts, group, master_info("127.0.0.1", first.port)))
        contenders.append(Contender(zk_hosts, group, master_info("127.0.0.1", second.port)))
        client = MesosClient(
            f"zk://{zk_hosts}{group}",
            FrameworkConfig(name="gantry-zk", user="nobody"),
            on_event,
            backoff=Backoff(initial=0.01),
        )
        async with client:
            await asyncio.wait_for(client.wait_subscribed(), WAIT)
            assert client.master_url == f"http://127.0.0.1:{first.port}"

            contenders[0].resign()  # the leading master dies; its znode goes with its session
            async with asyncio.timeout(WAIT):
                while len(subscribed) < 2:
                    await asyncio.sleep(0.01)
            assert client.master_url == f"http://127.0.0.1:{second.port}"
            assert client.framework_id == "fw-zk"
    assert len(first.subscribes) == 1
    (again,) = second.subscribes
    assert again.framework_id.value == again.subscribe.framework_info.id.value == "fw-zk"
