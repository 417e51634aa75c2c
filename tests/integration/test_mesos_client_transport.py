"""The Mesos client's transport against a tiny scripted master written here (not the harness).

Each SUBSCRIBE the tiny master receives is answered by the next scripted "plan" (a 503, a 307, a
stream that stops heartbeating, an ERROR ...); calls get scripted statuses. This pins down wire
behaviour the full harness cannot be made to misbehave in: records split at arbitrary bytes, a
Location header that is protocol-relative, error classification, the Accept retry rule.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from google.protobuf import json_format

from framework.core.effects import Accept, Acknowledge, Decline, Kill, Reconcile, Revive, Suppress
from framework.core.events import Disconnected, Event, OffersReceived, StatusUpdated, Subscribed, TaskState
from framework.mesos.client import Backoff, MesosClient
from framework.mesos.errors import FrameworkRemovedError, PermanentMesosError, TransientMesosError
from framework.mesos.wire import ContentType, FrameworkConfig
from proto.mesos.v1 import mesos_pb2 as mesos
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler
from proto.recordio import encode

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
WAIT = 10.0  # upper bound for waits; passes take milliseconds
FAST = 0.05  # heartbeat interval the tiny master announces

Plan = Callable[["TinyMaster", web.Request], Awaitable[web.StreamResponse]]


# ---- the tiny master ------------------------------------------------------------------------------


def subscribed(framework_id: str, interval: float = FAST) -> scheduler.Event:
    event = scheduler.Event(type=scheduler.Event.SUBSCRIBED)
    event.subscribed.framework_id.value = framework_id
    event.subscribed.heartbeat_interval_seconds = interval
    info = event.subscribed.master_info
    info.id, info.ip, info.port, info.pid = "m1", 16777343, 5050, "master@127.0.0.1:5050"
    return event


def heartbeat() -> scheduler.Event:
    return scheduler.Event(type=scheduler.Event.HEARTBEAT)


def error(message: str) -> scheduler.Event:
    event = scheduler.Event(type=scheduler.Event.ERROR)
    event.error.message = message
    return event


def offers_event() -> scheduler.Event:
    event = scheduler.Event(type=scheduler.Event.OFFERS)
    offer = event.offers.offers.add(hostname="agent-1.example")
    offer.id.value, offer.framework_id.value, offer.agent_id.value = "o-1", "fw-1", "a-1"
    offer.allocation_info.role = "web"
    for name, value in (("cpus", 3.5), ("mem", 2048.0), ("disk", 100.0)):
        resource = offer.resources.add(name=name, type=mesos.Value.SCALAR)
        resource.scalar.value = value
        resource.allocation_info.role = "web"
    ports = offer.resources.add(name="ports", type=mesos.Value.RANGES)
    ports.ranges.range.add(begin=31000, end=31009)
    ports.allocation_info.role = "web"
    rack = offer.attributes.add(name="rack", type=mesos.Value.TEXT)
    rack.text.value = "r1"
    return event


def update_event(uuid_bytes: bytes) -> scheduler.Event:
    event = scheduler.Event(type=scheduler.Event.UPDATE)
    status = event.update.status
    status.task_id.value, status.state = "t-1", mesos.TASK_RUNNING
    status.agent_id.value, status.uuid, status.timestamp = "a-1", uuid_bytes, 1700000000.5
    status.source = mesos.TaskStatus.SOURCE_EXECUTOR
    return event


def encode_event(event: scheduler.Event, media: str) -> bytes:
    if media == PROTOBUF:
        return event.SerializeToString()
    return json.dumps(
        json_format.MessageToDict(event, preserving_proto_field_name=True), separators=(",", ":")
    ).encode()


def decode_call(body: bytes, media: str) -> scheduler.Call:
    call = scheduler.Call()
    if media == PROTOBUF:
        call.ParseFromString(body)
    else:
        json_format.Parse(body, call)
    return call


class TinyMaster:
    """A scriptable /api/v1/scheduler on 127.0.0.1 (free port), recording what it receives."""

    def __init__(self) -> None:
        self.plans: deque[Plan] = deque()
        self.call_statuses: deque[int] = deque()
        self.subscribes: list[tuple[scheduler.Call, dict[str, str]]] = []
        self.calls: list[tuple[scheduler.Call, dict[str, str]]] = []
        self.stream_ids: list[str] = []
        self.framework_id = "fw-1"
        self.redirect_calls_to: TinyMaster | None = None
        self.closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v1/scheduler", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def hostport(self) -> str:
        return self.url.removeprefix("http://")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        media = request.headers.get("Content-Type", "")
        call = decode_call(await request.read(), media)
        headers = dict(request.headers)
        if call.type == scheduler.Call.SUBSCRIBE:
            self.subscribes.append((call, headers))
            plan = self.plans.popleft() if self.plans else stream_forever()
            return await plan(self, request)
        self.calls.append((call, headers))
        status = self.call_statuses.popleft() if self.call_statuses else 202
        if status == 307 and self.redirect_calls_to is not None:
            location = f"//{self.redirect_calls_to.hostport}/api/v1/scheduler"
            return web.Response(status=307, headers={"Location": location})
        return web.Response(status=status, text="" if status < 300 else f"scripted {status}")

    async def open_stream(self, request: web.Request) -> web.StreamResponse:
        media = PROTOBUF if request.headers.get("Accept") == PROTOBUF else JSON
        stream_id = str(uuid.uuid4())
        self.stream_ids.append(stream_id)
        response = web.StreamResponse(headers={"Content-Type": media, "Mesos-Stream-Id": stream_id})
        response.enable_chunked_encoding()
        await response.prepare(request)
        return response

    async def hold(self, request: web.Request) -> None:
        """Keep a stream open, silent, until the client goes away or the master closes."""
        while (
            not self.closing.is_set() and request.transport is not None and not request.transport.is_closing()
        ):
            await asyncio.sleep(0.01)


def media_of(request: web.Request) -> str:
    return PROTOBUF if request.headers.get("Accept") == PROTOBUF else JSON


def stream(*events: scheduler.Event, then: str = "heartbeat", chunk_rng: random.Random | None = None) -> Plan:
    """Send `events` (records split into chunks of 1-7 bytes when `chunk_rng` is given), then either
    keep heartbeating ("heartbeat"), go silent ("hang") or close the stream ("close")."""

    async def plan(master: TinyMaster, request: web.Request) -> web.StreamResponse:
        response = await master.open_stream(request)
        data = b"".join(encode(encode_event(e, media_of(request))) for e in events)
        try:
            if chunk_rng is None:
                await response.write(data)
            else:
                at = 0
                while at < len(data):
                    step = chunk_rng.randint(1, 7)
                    await response.write(data[at : at + step])
                    at += step
            if then == "heartbeat":
                while not master.closing.is_set():
                    await asyncio.sleep(FAST)
                    await response.write(encode(encode_event(heartbeat(), media_of(request))))
            elif then == "hang":
                await master.hold(request)
        except (ConnectionResetError, RuntimeError):
            pass  # the client went away: that is the point of several tests
        return response

    return plan


def stream_forever() -> Plan:
    async def plan(master: TinyMaster, request: web.Request) -> web.StreamResponse:
        return await stream(subscribed(master.framework_id), heartbeat())(master, request)

    return plan


def status(code: int, text: str = "") -> Plan:
    async def plan(master: TinyMaster, request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text=text)

    return plan


def redirect_to(other: TinyMaster) -> Plan:
    async def plan(master: TinyMaster, request: web.Request) -> web.StreamResponse:
        # What a real standby sends: protocol-relative, original path kept.
        return web.Response(status=307, headers={"Location": f"//{other.hostport}/api/v1/scheduler"})

    return plan


# ---- fixtures -------------------------------------------------------------------------------------


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


@pytest.fixture
async def master() -> AsyncIterator[TinyMaster]:
    m = TinyMaster()
    await m.start()
    yield m
    await m.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.sleeps: list[float] = []

    async def on_event(self, event: Event) -> None:
        self.events.append(event)

    async def sleep(self, seconds: float) -> None:
        # Record the backoff instead of waiting it out (injected time, no real waiting).
        self.sleeps.append(seconds)
        await asyncio.sleep(0)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


FRAMEWORK = FrameworkConfig(name="gantry-test", user="nobody", roles=("web",), principal="gantry")


def make_client(
    url: str, rec: Recorder, content_type: ContentType = ContentType.PROTOBUF, **kw: Any
) -> MesosClient:
    return MesosClient(
        url,
        FRAMEWORK,
        rec.on_event,
        content_type=content_type,
        jitter=lambda: 0.5,
        sleep=rec.sleep,
        clock=lambda: 1000.0,
        **kw,
    )


@asynccontextmanager
async def running(client: MesosClient) -> AsyncIterator[MesosClient]:
    async with client:
        yield client


async def until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# ---- tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [ContentType.PROTOBUF, ContentType.JSON])
async def test_subscribe_sends_framework_info_and_decodes_split_records(
    master: TinyMaster, content_type: ContentType
) -> None:
    uid = bytes(range(16))
    master.plans.append(
        stream(subscribed("fw-1"), heartbeat(), offers_event(), update_event(uid), chunk_rng=random.Random(7))
    )
    rec = Recorder()
    async with running(make_client(master.url, rec, content_type)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        await until(lambda: len(rec.of(StatusUpdated)) == 1)
        assert client.subscribed and client.ready
        assert client.framework_id == "fw-1"
        assert client.master_url == master.url
        assert client.stream_id == master.stream_ids[0]

    call, headers = master.subscribes[0]
    assert headers["Content-Type"] == content_type.media_type == headers["Accept"]
    assert "Mesos-Stream-Id" not in headers
    info = call.subscribe.framework_info
    assert (info.name, info.user, list(info.roles), info.principal) == (
        "gantry-test",
        "nobody",
        ["web"],
        "gantry",
    )
    assert info.failover_timeout == 7 * 24 * 3600
    assert not info.HasField("role") and not info.HasField("id") and not call.HasField("framework_id")
    assert {c.type for c in info.capabilities} == {
        mesos.FrameworkInfo.Capability.PARTITION_AWARE,
        mesos.FrameworkInfo.Capability.TASK_KILLING_STATE,
        mesos.FrameworkInfo.Capability.MULTI_ROLE,
    }

    assert rec.events[0] == Subscribed(now=1000.0, framework_id="fw-1", master="master@127.0.0.1:5050")
    (offers,) = rec.of(OffersReceived)
    (offer,) = offers.offers
    assert (offer.offer_id, offer.agent_id, offer.hostname, offer.role) == (
        "o-1",
        "a-1",
        "agent-1.example",
        "web",
    )
    assert (offer.resources.cpus, offer.resources.mem, offer.resources.disk) == (3.5, 2048.0, 100.0)
    assert offer.resources.ports == ((31000, 31009),)
    assert dict(offer.attributes) == {"rack": "r1"}
    (update,) = rec.of(StatusUpdated)
    assert (update.task_id, update.state, update.uuid, update.source) == (
        "t-1",
        TaskState.RUNNING,
        uid,
        "SOURCE_EXECUTOR",
    )
    assert not client.subscribed and client.stream_id is None  # closed


@pytest.mark.parametrize("content_type", [ContentType.PROTOBUF, ContentType.JSON])
async def test_calls_carry_stream_id_on_their_own_connection(
    master: TinyMaster, content_type: ContentType
) -> None:
    rec = Recorder()
    async with running(make_client(master.url, rec, content_type)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        await client.send(Decline(offer_ids=("o-1", "o-2"), refuse_seconds=120.0))
        await client.send(Acknowledge(agent_id="a-1", task_id="t-1", uuid=bytes(range(16))))
        await client.send(Kill(task_id="t-1", agent_id="a-1", grace_seconds=2.5))
        await client.send(Reconcile())
        await client.send(Suppress())
        await client.send(Revive())
    types = [c.type for c, _ in master.calls]
    assert types == [
        scheduler.Call.DECLINE,
        scheduler.Call.ACKNOWLEDGE,
        scheduler.Call.KILL,
        scheduler.Call.RECONCILE,
        scheduler.Call.SUPPRESS,
        scheduler.Call.REVIVE,
    ]
    for call, headers in master.calls:
        assert headers["Mesos-Stream-Id"] == master.stream_ids[0]
        assert headers["Content-Type"] == content_type.media_type
        assert call.framework_id.value == "fw-1"
    decline, ack, kill, reconcile, suppress, revive = (c for c, _ in master.calls)
    assert decline.decline.filters.refuse_seconds == 120.0
    assert ack.acknowledge.uuid == bytes(range(16))
    assert kill.kill.kill_policy.grace_period.nanoseconds == 2_500_000_000
    assert reconcile.HasField("reconcile") and len(reconcile.reconcile.tasks) == 0
    assert list(suppress.suppress.roles) == ["web"] == list(revive.revive.roles)


async def test_redirect_is_followed_and_remembered(master: TinyMaster) -> None:
    leader = TinyMaster()
    await leader.start()
    try:
        master.plans.append(redirect_to(leader))
        # The leader's first stream breaks at once: the client must come back to the leader it
        # learnt from the 307, not to the standby it was configured with.
        leader.plans.append(stream(subscribed("fw-1"), then="close"))
        rec = Recorder()
        async with running(make_client(master.url, rec)) as client:
            await until(lambda: len(rec.of(Subscribed)) == 2)
            assert client.master_url == leader.url
            await client.send(Revive())
        assert len(master.subscribes) == 1 and len(leader.subscribes) == 2
        assert len(leader.calls) == 1 and master.calls == []
    finally:
        await leader.close()


async def test_call_redirect_is_followed_and_the_leader_remembered_for_resubscription(
    master: TinyMaster,
) -> None:
    leader = TinyMaster()
    await leader.start()
    try:
        rec = Recorder()
        async with running(make_client(master.url, rec)) as client:
            await asyncio.wait_for(client.wait_subscribed(), WAIT)
            master.redirect_calls_to = leader
            master.call_statuses.append(307)
            await client.send(Kill(task_id="t-1", agent_id="a-1"))
            assert [c.type for c, _ in leader.calls] == [scheduler.Call.KILL]
            # The old master lost leadership; when its stream ends the client goes to the new one.
            master.closing.set()
            await until(lambda: len(leader.subscribes) == 1 and client.subscribed)
            assert client.master_url == leader.url
    finally:
        await leader.close()


async def test_503_is_retried_with_capped_jittered_backoff(master: TinyMaster) -> None:
    master.plans.extend([status(503, "No leader elected")] * 3)
    rec = Recorder()
    async with running(
        make_client(master.url, rec, backoff=Backoff(initial=1.0, factor=2.0, cap=3.0))
    ) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        assert client.reconnects == 3
    # Equal jitter with jitter=0.5: 0.75 of the capped exponential step.
    assert rec.sleeps == [0.75, 1.5, 2.25]


def test_backoff_never_exceeds_cap_and_keeps_a_floor() -> None:
    backoff = Backoff()
    assert backoff.cap == 15.0
    for attempt in range(200):
        low, high = backoff.delay(attempt, 0.0), backoff.delay(attempt, 0.999999)
        assert 0 < low <= high <= 15.0
    assert backoff.delay(1000, 0.999999) == pytest.approx(15.0, abs=1e-4)


async def test_missed_heartbeats_drop_the_stream_and_resubscribe_with_same_id(master: TinyMaster) -> None:
    master.plans.append(stream(subscribed("fw-1"), then="hang"))
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await until(lambda: len(master.subscribes) == 2)
        await until(lambda: len(rec.of(Subscribed)) == 2)
        assert client.reconnects == 1
    (disconnected, *_) = rec.of(Disconnected)
    assert "heartbeat" in disconnected.reason
    call, _ = master.subscribes[1]
    assert call.framework_id.value == "fw-1" == call.subscribe.framework_info.id.value


async def test_stream_closed_by_master_resubscribes(master: TinyMaster) -> None:
    master.plans.append(stream(subscribed("fw-1"), heartbeat(), then="close"))
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await until(lambda: len(rec.of(Subscribed)) == 2)
        assert client.subscribed
    assert [type(e) for e in rec.events[:3]] == [Subscribed, Disconnected, Subscribed]


async def test_error_failed_over_resubscribes(master: TinyMaster) -> None:
    master.plans.append(stream(subscribed("fw-1"), error("Framework failed over"), then="hang"))
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await until(lambda: len(rec.of(Subscribed)) == 2)
        assert client.ready
    assert "failed over" in rec.of(Disconnected)[0].reason


async def test_error_framework_removed_is_permanent(master: TinyMaster) -> None:
    master.plans.append(stream(subscribed("fw-1"), error("Framework has been removed"), then="hang"))
    rec = Recorder()
    client = make_client(master.url, rec, framework_id="fw-1")
    with pytest.raises(FrameworkRemovedError):
        await asyncio.wait_for(client.run(), WAIT)
    assert not client.ready and not client.subscribed
    assert isinstance(client.failure, FrameworkRemovedError)
    assert len(master.subscribes) == 1
    assert [type(e) for e in rec.events] == [Subscribed, Disconnected]


async def test_refused_subscription_error_event_is_permanent(master: TinyMaster) -> None:
    master.plans.append(stream(error("Role 'bad/' is invalid"), then="close"))
    client = make_client(master.url, Recorder())
    with pytest.raises(PermanentMesosError, match="bad/"):
        await asyncio.wait_for(client.run(), WAIT)
    assert not client.ready


async def test_4xx_on_subscribe_is_permanent_and_says_why(master: TinyMaster) -> None:
    master.plans.append(
        status(400, "Failed to validate scheduler::Call: Expecting 'framework_info' to be present")
    )
    client = make_client(master.url, Recorder())
    async with client:
        with pytest.raises(PermanentMesosError) as info:
            await asyncio.wait_for(client.wait_subscribed(), WAIT)
    assert info.value.status == 400 and "framework_info" in info.value.detail
    assert client.failure is info.value and not client.ready
    assert len(master.subscribes) == 1


async def test_call_rejected_with_400_is_permanent_and_fails_readiness(master: TinyMaster) -> None:
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.append(400)
        with pytest.raises(PermanentMesosError) as info:
            await client.send(Decline(offer_ids=("o-1",), refuse_seconds=5.0))
        assert info.value.status == 400
        assert client.subscribed and not client.ready
        assert len(master.calls) == 1  # never retried


async def test_call_503_is_retried_then_succeeds(master: TinyMaster) -> None:
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.extend([503, 503])
        await client.send(Decline(offer_ids=("o-1",), refuse_seconds=5.0))
        assert len(master.calls) == 3 and client.ready


async def test_accept_is_not_retried_after_a_500_but_decline_is(master: TinyMaster) -> None:
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.append(500)
        with pytest.raises(TransientMesosError):
            await client.send(Accept(agent_id="a-1", offer_ids=("o-1",), launches=(), refuse_seconds=5.0))
        assert len(master.calls) == 1
        master.call_statuses.append(500)
        await client.send(Decline(offer_ids=("o-1",), refuse_seconds=5.0))
        assert len(master.calls) == 3


@pytest.mark.parametrize("status", [503, 429])
async def test_accept_is_retried_after_an_answer_given_before_processing(
    master: TinyMaster, status: int
) -> None:
    # The master answers 503 (not leading, recovering) and 429 (rate limited) without processing the
    # call, so a retried ACCEPT cannot launch twice (docs/mesos-client.md, "Call retries").
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.append(status)
        await client.send(Accept(agent_id="a-1", offer_ids=("o-1",), launches=(), refuse_seconds=5.0))
        assert len(master.calls) == 2 and client.ready


def bad_offers_event(kind: str) -> scheduler.Event:
    event = offers_event()
    offer = event.offers.offers[0]
    if kind == "inverted ports":
        offer.resources[3].ranges.range[0].begin = 32000  # 32000-31009
    else:
        offer.resources[0].scalar.value = 1e308  # a thousandth of it overflows a float
    return event


@pytest.mark.parametrize("kind", ["inverted ports", "huge scalar"])
async def test_an_offer_gantry_cannot_represent_is_skipped_not_fatal(master: TinyMaster, kind: str) -> None:
    # Such an OFFERS event used to raise out of run(): the client, and with it Gantry, stopped.
    rec = Recorder()
    master.plans.append(stream(subscribed("fw-1"), bad_offers_event(kind), offers_event()))
    async with running(make_client(master.url, rec)) as client:
        await until(lambda: len(rec.of(OffersReceived)) == 1)
        assert client.events_undecodable == 1
        assert client.subscribed and client.failure is None and len(master.subscribes) == 1


@pytest.mark.parametrize("content_type", [ContentType.PROTOBUF, ContentType.JSON])
async def test_one_read_of_mixed_records_is_handled_in_order_skipping_the_bad_ones(
    master: TinyMaster, content_type: ContentType
) -> None:
    # Every record in one write (one read for the client): updates, an event without a known type
    # (undecodable), an offer Gantry cannot represent (unusable), a heartbeat, an offer.
    rec = Recorder()
    unknown = scheduler.Event(type=scheduler.Event.UNKNOWN)
    events = (
        update_event(b"\x01" * 16),
        unknown,
        bad_offers_event("huge scalar"),
        update_event(b"\x02" * 16),
    )
    master.plans.append(
        stream(subscribed("fw-1"), *events, heartbeat(), offers_event(), update_event(b"\x03" * 16))
    )
    async with running(make_client(master.url, rec, content_type)) as client:
        await until(lambda: len(rec.of(StatusUpdated)) == 3)
        kinds = [type(e).__name__ for e in rec.events]
        assert kinds == ["Subscribed", "StatusUpdated", "StatusUpdated", "OffersReceived", "StatusUpdated"]
        assert [e.uuid for e in rec.of(StatusUpdated)] == [b"\x01" * 16, b"\x02" * 16, b"\x03" * 16]
        assert (client.events_undecodable, client.events_received) == (2, 7)
        assert client.heartbeats >= 1 and client.subscribed and client.failure is None


async def test_call_403_drops_the_stream_and_resubscribes(master: TinyMaster) -> None:
    rec = Recorder()
    async with running(make_client(master.url, rec)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.append(403)
        with pytest.raises(TransientMesosError):
            await client.send(Revive())
        await until(lambda: len(rec.of(Subscribed)) == 2)
        assert "403" in rec.of(Disconnected)[0].reason


@pytest.mark.parametrize("content_type", [ContentType.PROTOBUF, ContentType.JSON])
async def test_an_ack_that_cannot_be_encoded_fails_its_own_future_only(
    master: TinyMaster, content_type: ContentType
) -> None:
    rec = Recorder()
    async with running(make_client(master.url, rec, content_type)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        bad = client.submit(Acknowledge(agent_id="a-1", task_id="t-\ud800", uuid=b"u" * 16))
        with pytest.raises(UnicodeEncodeError):
            await bad
        await client.send(Acknowledge(agent_id="a-1", task_id="t-2", uuid=b"v" * 16))
    assert [(c.acknowledge.task_id.value, c.acknowledge.uuid) for c, _ in master.calls] == [
        ("t-2", b"v" * 16)
    ]


async def test_send_while_not_subscribed_is_transient(master: TinyMaster) -> None:
    client = make_client(master.url, Recorder())
    with pytest.raises(TransientMesosError, match="not subscribed"):
        await client.send(Revive())


# ---- acknowledge(): the ACK path settled by a callback ------------------------------------------


class _Settled:
    """The `done` callback of MesosClient.acknowledge: every (effect, error) it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Acknowledge, Exception | None]] = []

    def __call__(self, effect: Acknowledge, error: Exception | None) -> None:
        self.calls.append((effect, error))


@pytest.mark.parametrize("content_type", [ContentType.PROTOBUF, ContentType.JSON])
async def test_acknowledge_sends_the_call_and_settles_once(
    master: TinyMaster, content_type: ContentType
) -> None:
    settled = _Settled()
    ack = Acknowledge(agent_id="a-1", task_id="t-1", uuid=bytes(range(16)))
    async with running(make_client(master.url, Recorder(), content_type)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        client.acknowledge(ack, settled)
        await until(lambda: bool(settled.calls))
        await client.send(Revive())  # a later call's answer: nothing more arrives for the ACK
    assert settled.calls == [(ack, None)]
    call, headers = master.calls[0]
    assert call.type == scheduler.Call.ACKNOWLEDGE and headers["Content-Type"] == content_type.media_type
    assert (call.acknowledge.agent_id.value, call.acknowledge.task_id.value) == ("a-1", "t-1")
    assert call.acknowledge.uuid == bytes(range(16)) and call.framework_id.value == "fw-1"


async def test_acknowledge_retries_a_503_then_settles_with_success(master: TinyMaster) -> None:
    settled = _Settled()
    ack = Acknowledge(agent_id="a-1", task_id="t-1", uuid=b"u" * 16)
    async with running(make_client(master.url, Recorder())) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.extend([503, 503])
        client.acknowledge(ack, settled)
        await until(lambda: bool(settled.calls))
    assert settled.calls == [(ack, None)]
    assert len(master.calls) == 3


async def test_acknowledge_rejected_settles_with_the_permanent_error(master: TinyMaster) -> None:
    settled = _Settled()
    ack = Acknowledge(agent_id="a-1", task_id="t-1", uuid=b"u" * 16)
    async with running(make_client(master.url, Recorder())) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.append(400)
        client.acknowledge(ack, settled)
        await until(lambda: bool(settled.calls))
    [(effect, error)] = settled.calls
    assert effect is ack
    assert isinstance(error, PermanentMesosError) and error.status == 400
    assert len(master.calls) == 1  # never retried


@pytest.mark.parametrize("content_type", [ContentType.PROTOBUF, ContentType.JSON])
async def test_acknowledge_that_cannot_be_encoded_settles_with_the_error_and_sends_nothing(
    master: TinyMaster, content_type: ContentType
) -> None:
    settled = _Settled()
    bad = Acknowledge(agent_id="a-1", task_id="t-\ud800", uuid=b"u" * 16)
    good = Acknowledge(agent_id="a-1", task_id="t-2", uuid=b"v" * 16)
    async with running(make_client(master.url, Recorder(), content_type)) as client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        client.acknowledge(bad, settled)
        client.acknowledge(good, settled)
        await until(lambda: len(settled.calls) == 2)
    assert settled.calls[0][0] is bad and isinstance(settled.calls[0][1], UnicodeEncodeError)
    assert settled.calls[1] == (good, None)
    sent = [(c.acknowledge.task_id.value, c.acknowledge.uuid) for c, _ in master.calls]
    assert sent == [("t-2", b"v" * 16)]


def test_acknowledge_while_not_subscribed_settles_at_once_as_transient(master: TinyMaster) -> None:
    settled = _Settled()
    ack = Acknowledge(agent_id="a-1", task_id="t-1", uuid=b"u" * 16)
    make_client(master.url, Recorder()).acknowledge(ack, settled)
    [(effect, error)] = settled.calls
    assert effect is ack and isinstance(error, TransientMesosError) and "not subscribed" in str(error)
    assert master.calls == []


async def test_acknowledge_waiting_to_be_retried_settles_when_the_client_stops(master: TinyMaster) -> None:
    settled = _Settled()
    ack = Acknowledge(agent_id="a-1", task_id="t-1", uuid=b"u" * 16)
    backing_off = asyncio.Event()

    async def sleep(seconds: float) -> None:  # the retry's backoff never ends by itself
        backing_off.set()
        await asyncio.Event().wait()

    client = MesosClient(master.url, FRAMEWORK, Recorder().on_event, jitter=lambda: 0.5, sleep=sleep)
    async with running(client):
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        master.call_statuses.append(503)
        client.acknowledge(ack, settled)
        await asyncio.wait_for(backing_off.wait(), WAIT)
        assert settled.calls == []
    [(effect, error)] = settled.calls
    assert effect is ack and isinstance(error, TransientMesosError) and "client stopped" in str(error)
    assert len(master.calls) == 1
