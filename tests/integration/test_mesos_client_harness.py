"""The Mesos client against the fake master (harness/), in both content types.

A minimal driver stands in for framework/driver.py: events go through a queue to one task that
answers every offer at once (launching what the test asked for, declining the rest with a long
filter) and acknowledges every update that carries a uuid. The harness checks the wire strictly
(`h.violations`), so each test ends by asserting the client did nothing a real master would reject.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from framework.core.effects import (
    Accept,
    Acknowledge,
    Decline,
    Kill,
    Reconcile,
    ReconcileTask,
    Revive,
    TaskLaunch,
)
from framework.core.events import (
    Disconnected,
    Event,
    OffersReceived,
    StatusUpdated,
    Subscribed,
    TaskState,
)
from framework.core.model import Offer
from framework.core.resources import Resources, take_ports
from framework.core.spec import (
    AppSpec,
    CheckProtocol,
    ContainerSpec,
    HealthCheckSpec,
    PortMapping,
    ReadinessCheckSpec,
)
from framework.mesos.client import Backoff, MesosClient
from framework.mesos.errors import TransientMesosError
from framework.mesos.wire import ContentType, FrameworkConfig
from harness.harness import Harness

WAIT = 10.0
HEARTBEAT = 0.2
CONTENT_TYPES = [ContentType.PROTOBUF, ContentType.JSON]
FRAMEWORK = FrameworkConfig(name="gantry-it", user="nobody", roles=("web",))


def app(behaviour: str = "") -> AppSpec:
    labels = (("harness.behaviour", behaviour),) if behaviour else ()
    return AppSpec(id="/it/web", cmd="sleep 1000", cpus=0.1, mem=32.0, ports=("http",), labels=labels)


def launch_on(offer: Offer, task_id: str, spec: AppSpec) -> TaskLaunch:
    ports, _ = take_ports(offer.resources.ports, len(spec.ports))
    resources = Resources.of(cpus=spec.cpus, mem=spec.mem, ports=[(p, p) for p in ports])
    return TaskLaunch.of(spec, "v1", task_id, 0, offer.agent_id, offer.hostname, offer.role, resources, ports)


class MiniDriver:
    """Answers offers and acknowledges updates, the two duties no scheduler may skip."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.to_launch: list[tuple[str, AppSpec]] = []
        self.launched: dict[str, TaskLaunch] = {}
        self.client: MesosClient | None = None

    async def launch(self, task_id: str, spec: AppSpec) -> None:
        """Launch on the next offer; REVIVE, since earlier offers were declined with a long filter."""
        assert self.client is not None
        self.to_launch.append((task_id, spec))
        await self.client.send(Revive())

    async def on_event(self, event: Event) -> None:
        await self.inbox.put(event)

    async def run(self) -> None:
        while True:
            event = await self.inbox.get()
            self.events.append(event)
            # A call failing because the stream went away is fine: offers die with it, updates are re-sent.
            with contextlib.suppress(TransientMesosError):
                await self._react(event)

    async def _react(self, event: Event) -> None:
        assert self.client is not None
        match event:
            case OffersReceived(offers=offers):
                rest = list(offers)
                if self.to_launch and rest:
                    offer = rest.pop(0)
                    task_id, spec = self.to_launch.pop(0)
                    launch = launch_on(offer, task_id, spec)
                    self.launched[task_id] = launch
                    await self.client.send(Accept(offer.agent_id, (offer.offer_id,), (launch,), 3600.0))
                if rest:
                    # A long filter: quiet streams make the heartbeat tests meaningful.
                    await self.client.send(Decline(tuple(o.offer_id for o in rest), 3600.0))
            case StatusUpdated(uuid=bytes() as uuid, agent_id=str() as agent_id, task_id=task_id):
                await self.client.send(Acknowledge(agent_id, task_id, uuid))
            case _:
                pass

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def updates(self, task_id: str) -> list[StatusUpdated]:
        return [e for e in self.of(StatusUpdated) if e.task_id == task_id]


@asynccontextmanager
async def connected(
    master: str, content_type: ContentType, framework_id: str | None = None
) -> AsyncIterator[tuple[MesosClient, MiniDriver]]:
    driver = MiniDriver()
    client = MesosClient(
        master,
        FRAMEWORK,
        driver.on_event,
        framework_id=framework_id,
        content_type=content_type,
        backoff=Backoff(initial=0.02, cap=0.5),
    )
    driver.client = client
    worker = asyncio.create_task(driver.run())
    try:
        async with client:
            await asyncio.wait_for(client.wait_subscribed(), WAIT)
            yield client, driver
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def until(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def harness(**kw: Any) -> Harness:
    return Harness(**({"agents": 2, "heartbeat_interval": HEARTBEAT, "allocation_interval": 0.05} | kw))


@pytest.fixture(autouse=True)
async def no_unclosed_resources() -> AsyncIterator[None]:
    """Fail a test that leaves an aiohttp session or connector unclosed (reported at GC time)."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: seen.append(str(ctx.get("message"))))
    yield
    gc.collect()
    loop.set_exception_handler(previous)
    assert [m for m in seen if "Unclosed" in m] == []


def clean(h: Harness) -> None:
    assert h.violations == []
    assert h.errors == []


@pytest.mark.parametrize("chunk_size", [None, 7])
@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_launch_ack_reconcile_kill(content_type: ContentType, chunk_size: int | None) -> None:
    # chunk_size=7: the harness splits every record across HTTP chunks.
    async with harness(chunk_size=chunk_size) as h, connected(h.url, content_type) as (client, driver):
        (framework,) = h.frameworks
        assert framework.framework_id == client.framework_id
        assert framework.capabilities >= {"PARTITION_AWARE", "TASK_KILLING_STATE", "MULTI_ROLE"}
        assert framework.roles == {"web"}

        await driver.launch("it_web.1", app())
        await until(lambda: any(u.state is TaskState.RUNNING for u in driver.updates("it_web.1")))
        await h.until(lambda: h.task("it_web.1").unacknowledged == 0, WAIT)
        task = h.task("it_web.1")
        assert task.state == "TASK_RUNNING" and task.role == "web"
        launch = driver.launched["it_web.1"]
        assert task.labels["gantry.app_id"] == "/it/web"
        assert task.agent_id == launch.agent_id
        assert [u.state for u in driver.updates("it_web.1")] == [TaskState.STARTING, TaskState.RUNNING]
        assert all(u.uuid is not None and u.source == "SOURCE_EXECUTOR" for u in driver.updates("it_web.1"))

        # Explicit reconciliation: the master answers with the latest state, no uuid (never acked).
        seen = len(driver.updates("it_web.1"))
        await client.send(Reconcile((ReconcileTask("it_web.1", launch.agent_id),)))
        await until(lambda: len(driver.updates("it_web.1")) > seen)
        reply = driver.updates("it_web.1")[-1]
        assert (reply.state, reply.reason, reply.uuid) == (TaskState.RUNNING, "REASON_RECONCILIATION", None)

        await client.send(Kill("it_web.1", launch.agent_id, grace_seconds=0.1))
        await until(lambda: any(u.state is TaskState.KILLED for u in driver.updates("it_web.1")))
        await h.until(lambda: h.task("it_web.1").unacknowledged == 0, WAIT)
        assert [u.state for u in driver.updates("it_web.1") if u.uuid][-2:] == [
            TaskState.KILLING,
            TaskState.KILLED,
        ]
        assert h.task("it_web.1").kill_grace == pytest.approx(0.1)
        clean(h)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_dropped_stream_resubscribes_with_the_same_framework_id(content_type: ContentType) -> None:
    async with harness() as h, connected(h.url, content_type) as (client, driver):
        first = client.framework_id
        stream = client.stream_id
        assert h.drop_stream() == 1
        await until(lambda: len(driver.of(Subscribed)) == 2)
        assert client.framework_id == first and client.stream_id != stream
        assert [type(e) for e in driver.events if isinstance(e, Subscribed | Disconnected)] == [
            Subscribed,
            Disconnected,
            Subscribed,
        ]
        assert client.reconnects == 1
        (framework,) = h.frameworks
        assert framework.connected and framework.framework_id == first
        clean(h)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_missed_heartbeats_resubscribe(content_type: ContentType) -> None:
    async with harness() as h, connected(h.url, content_type) as (client, driver):
        first = client.framework_id
        h.stop_heartbeats()
        await until(lambda: driver.of(Disconnected))
        assert "heartbeat" in driver.of(Disconnected)[0].reason
        h.resume_heartbeats()
        await until(lambda: len(driver.of(Subscribed)) >= 2 and client.subscribed)
        assert client.framework_id == first
        clean(h)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_standby_redirects_to_another_harness_keeping_framework_id(content_type: ContentType) -> None:
    async with harness() as old, harness() as new, connected(old.url, content_type) as (client, driver):
        first = client.framework_id
        assert first is not None
        await driver.launch("it_web.1", app())
        await until(lambda: any(u.state is TaskState.RUNNING for u in driver.updates("it_web.1")))

        old.become_standby(new.url)  # drops the stream; SUBSCRIBE now gets 307 to `new`
        await until(lambda: client.subscribed and client.master_url == new.url)
        assert client.framework_id == first
        # The new leader had never heard of this id and accepted it (a master failover).
        assert [f.framework_id for f in new.frameworks] == [first]
        # Calls follow the stream to the new leader.
        await client.send(Reconcile())
        await new.until(lambda: any(c.type == "RECONCILE" for c in new.calls), WAIT)
        clean(old)
        clean(new)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_no_leader_is_retried_until_one_is_elected(content_type: ContentType) -> None:
    async with harness() as h, connected(h.url, content_type) as (client, _):
        first = client.framework_id
        h.no_leader()
        await until(lambda: not client.subscribed)
        await until(lambda: client.reconnects >= 2)  # 503s, retried with backoff
        assert client.failure is None
        h.become_leader()
        await until(lambda: client.subscribed)
        assert client.framework_id == first and client.ready
        clean(h)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_master_failover_keeps_framework_and_tasks(content_type: ContentType) -> None:
    async with harness() as h, connected(h.url, content_type) as (client, driver):
        first = client.framework_id
        await driver.launch("it_web.1", app())
        await until(lambda: any(u.state is TaskState.RUNNING for u in driver.updates("it_web.1")))
        await h.until(lambda: h.task("it_web.1").unacknowledged == 0, WAIT)

        h.failover(reregister_delay=0.2)
        await until(lambda: len(driver.of(Subscribed)) == 2 and client.subscribed)
        assert client.framework_id == first
        # Once the agents re-registered, reconciliation finds the task still running.
        await h.until(lambda: all(a.registered for a in h.agents), WAIT)
        seen = len(driver.updates("it_web.1"))
        await client.send(Reconcile((ReconcileTask("it_web.1", None),)))
        await until(lambda: len(driver.updates("it_web.1")) > seen)
        assert driver.updates("it_web.1")[-1].state is TaskState.RUNNING
        assert h.live_tasks() == 1
        clean(h)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_container_task_with_health_and_readiness_checks_is_accepted(content_type: ContentType) -> None:
    spec = AppSpec(
        id="/it/box",
        cpus=0.1,
        mem=32.0,
        ports=("http",),
        container=ContainerSpec(
            image="nginx:1.25", port_mappings=(PortMapping(port="http", container_port=80),)
        ),
        health_checks=(
            HealthCheckSpec(protocol=CheckProtocol.HTTP, port="http", path="/health", interval_seconds=0.05),
        ),
        readiness_checks=(ReadinessCheckSpec(protocol=CheckProtocol.HTTP, port="http", path="/ready"),),
        kill_grace_period_seconds=0.5,
    )
    async with harness() as h, connected(h.url, content_type) as (_, driver):
        await driver.launch("it_box.1", spec)
        # The simulated executor runs the health check and reports the first success.
        await until(lambda: any(u.healthy for u in driver.updates("it_box.1")))
        healthy = next(u for u in driver.updates("it_box.1") if u.healthy)
        assert (healthy.state, healthy.reason) == (
            TaskState.RUNNING,
            "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
        )
        assert h.task("it_box.1").state == "TASK_RUNNING"
        clean(h)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
async def test_calls_submitted_in_one_turn_are_pipelined_and_all_answered(content_type: ContentType) -> None:
    # 2,000 calls submitted without awaiting in between: they share a few keep-alive connections
    # (written back to back, answered in order), and each future settles on its own answer.
    async with harness() as h, connected(h.url, content_type) as (client, _):
        sent_before = client.calls_sent
        futures = [client.submit(Reconcile()) for _ in range(2_000)]
        assert await asyncio.wait_for(asyncio.gather(*futures), WAIT) == [None] * 2_000
        assert client.calls_sent - sent_before >= 2_000  # (plus the mini driver's DECLINEs)
        assert sum(1 for c in h.calls if c.type == "RECONCILE") == 2_000
        assert client.ready
        clean(h)
