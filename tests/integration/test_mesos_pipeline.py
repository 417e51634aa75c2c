"""The pipelined call path over real sockets, against a raw master written here.

The raw master speaks HTTP/1.1 by hand (asyncio streams), so each test can misbehave exactly as
it needs: hold answers until several requests have arrived (proving they were pipelined), write
many answers in one segment or one byte per write, answer in chunks, say `Connection: close`
mid-pipeline, or drop the connection with requests unanswered. It serves SUBSCRIBE too (a
chunked RecordIO stream), so the whole MesosClient runs against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
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
from framework.core.resources import Resources
from framework.core.spec import validate_app
from framework.mesos import codec, taskbytes
from framework.mesos.client import Backoff, MesosClient
from framework.mesos.codec import RECONCILE_CHUNK
from framework.mesos.errors import PermanentMesosError, TransientMesosError
from framework.mesos.pipeline import MayHaveReachedError, NotSentError, Pipeline, Response
from framework.mesos.wire import FrameworkConfig
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler
from proto.recordio import encode

PROTOBUF = "application/x-protobuf"
WAIT = 10.0  # upper bound for waits; passes take milliseconds
FRAMEWORK = FrameworkConfig(name="gantry-test", user="nobody", roles=("web",))
CLOSE = b"close"  # an answer script entry: drop the connection instead of answering


def answer(status: int, body: bytes = b"", *, close: bool = False, headers: str = "") -> bytes:
    reason = {200: "OK", 202: "Accepted", 307: "Temporary Redirect"}.get(status, "Scripted")
    extra = "Connection: close\r\n" if close else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n{extra}{headers}\r\n".encode() + body
    )


def chunked(status: int, pieces: list[bytes]) -> bytes:
    out = f"HTTP/1.1 {status} Scripted\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    for piece in pieces:
        out += b"%x;note=x\r\n%s\r\n" % (len(piece), piece)
    return out + b"0\r\nX-Trailer: t\r\n\r\n"


ACCEPTED = answer(202)


@dataclass
class Received:
    call: scheduler.Call
    headers: dict[str, str]
    connection: int
    body: bytes = b""  # the request body as the client wrote it


@dataclass
class RawMaster:
    """HTTP/1.1 by hand on 127.0.0.1 (a free port), recording every call and its connection."""

    # Answers for the next calls, in arrival order (ACCEPTED once empty); CLOSE drops the connection.
    answers: deque[bytes] = field(default_factory=deque)
    # The first connection carrying calls holds its answers until this many requests arrived on it,
    # then writes them in one write; every answer after that (and on other connections) goes at once.
    batch: int = 1
    _held: int | None = None
    byte_by_byte: bool = False  # write each answer one byte per write (many TCP segments)
    received: list[Received] = field(default_factory=list)
    stream_ids: list[str] = field(default_factory=list)
    connections: int = 0
    ended: set[int] = field(default_factory=set)  # call connections the client closed
    redirect_subscribe_to: str = ""  # host:port: answer SUBSCRIBE with a 307 there
    url: str = ""
    _server: asyncio.Server | None = None
    _streams: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()  # every handler then sees its connection end, and returns
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def calls(self, kind: int) -> list[Received]:
        return [r for r in self.received if r.call.type == kind]

    def end_streams(self) -> None:
        """Close every SUBSCRIBE stream (the client resubscribes)."""
        for writer in self._streams:
            writer.close()
        self._streams.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        self.connections += 1
        number = self.connections
        pending = 0  # requests read and not answered yet
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.ended.add(number)
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                call = scheduler.Call()
                body = await reader.readexactly(int(headers["Content-Length"]))
                call.ParseFromString(body)
                if call.type == scheduler.Call.SUBSCRIBE and self.redirect_subscribe_to:
                    location = f"Location: //{self.redirect_subscribe_to}/api/v1/scheduler\r\n"
                    writer.write(answer(307, close=True, headers=location))
                    return
                if call.type == scheduler.Call.SUBSCRIBE:
                    await self._stream(call, writer)
                    return
                self.received.append(Received(call, headers, number, body))
                pending += 1
                if self._held is None:
                    self._held = number
                if number == self._held and pending < self.batch:
                    continue  # the first call connection waits for `batch` requests
                self._held = 0  # released: from now on everything is answered at once
                if not await self._answer(writer, pending):
                    return
                pending = 0
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, count: int) -> bool:
        """Answer `count` requests in one write; False once the script ended the connection."""
        out = b""
        for _ in range(count):
            scripted = self.answers.popleft() if self.answers else ACCEPTED
            if scripted is CLOSE:
                await self._write(writer, out)
                writer.transport.abort()
                return False
            out += scripted
            if b"Connection: close" in scripted:
                await self._write(writer, out)
                writer.close()
                return False
        await self._write(writer, out)
        return True

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if not self.byte_by_byte:
            writer.write(data)
            await writer.drain()
            return
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(0)

    async def _stream(self, call: scheduler.Call, writer: asyncio.StreamWriter) -> None:
        stream_id = str(uuid.uuid4())
        self.stream_ids.append(stream_id)
        self._streams.append(writer)
        event = scheduler.Event(type=scheduler.Event.SUBSCRIBED)
        event.subscribed.framework_id.value = call.framework_id.value or "fw-1"
        event.subscribed.heartbeat_interval_seconds = 3600.0
        record = encode(event.SerializeToString())
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: {PROTOBUF}\r\nMesos-Stream-Id: {stream_id}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n{len(record):x}\r\n".encode()
            + record
            + b"\r\n"
        )
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.fixture
async def master() -> AsyncIterator[RawMaster]:
    m = RawMaster()
    await m.start()
    yield m
    await m.close()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)  # backoff recorded, not waited out
        await asyncio.sleep(0)


async def ignore(_: object) -> None:
    """An event sink for clients whose events the test does not look at."""


@contextlib.asynccontextmanager
async def subscribed(url: str, sleeps: Sleeps | None = None, **kw: Any) -> AsyncIterator[MesosClient]:
    client = MesosClient(
        url,
        FRAMEWORK,
        ignore,
        jitter=lambda: 0.5,
        sleep=sleeps or Sleeps(),
        backoff=Backoff(initial=0.01, cap=0.05),
        **kw,
    )
    async with client:
        await asyncio.wait_for(client.wait_subscribed(), WAIT)
        yield client


def ack(n: int) -> Acknowledge:
    return Acknowledge(agent_id="a-1", task_id=f"t-{n}", uuid=n.to_bytes(16, "big"))


ACCEPT = Accept(agent_id="a-1", offer_ids=("o-1",), launches=(), refuse_seconds=5.0)


async def outcomes(futures: Sequence[Awaitable[object]]) -> list[object]:
    async with asyncio.timeout(WAIT):
        return list(await asyncio.gather(*futures, return_exceptions=True))


def task_ids(received: list[Received]) -> list[str]:
    return [r.call.acknowledge.task_id.value for r in received if r.call.type == scheduler.Call.ACKNOWLEDGE]


# ---- the Pipeline on its own --------------------------------------------------------------------


@pytest.mark.parametrize("byte_by_byte", [False, True])
async def test_pipelined_requests_are_answered_in_order(master: RawMaster, byte_by_byte: bool) -> None:
    # The master answers nothing until all 8 requests are in: only a pipelining client gets there.
    # All 8 answers then leave in one write (several responses in one segment), or one byte per
    # write (each response split across many segments).
    master.batch, master.byte_by_byte = 8, byte_by_byte
    master.answers.extend(answer(400 + n, f"answer {n}".encode()) for n in range(8))
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF, connections=1)
    try:
        futures = [pipeline.request(ack_body(n), "s-1") for n in range(8)]
        responses = await asyncio.wait_for(asyncio.gather(*futures), WAIT)
    finally:
        pipeline.close()
    assert [(r.status, r.body) for r in responses] == [(400 + n, f"answer {n}".encode()) for n in range(8)]
    assert task_ids(master.received) == [f"t-{n}" for n in range(8)]
    assert master.connections == 1
    assert {r.headers["Mesos-Stream-Id"] for r in master.received} == {"s-1"}
    assert {r.headers["Content-Type"] for r in master.received} == {PROTOBUF}


def ack_body(n: int) -> bytes:
    call = scheduler.Call(type=scheduler.Call.ACKNOWLEDGE)
    call.acknowledge.task_id.value, call.acknowledge.agent_id.value = f"t-{n}", "a-1"
    call.acknowledge.uuid = n.to_bytes(16, "big")
    return call.SerializeToString()


async def test_chunked_answers_are_reassembled(master: RawMaster) -> None:
    master.batch = 2
    master.answers.extend([chunked(400, [b"Failed to ", b"validate"]), chunked(202, [])])
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF)
    try:
        first, second = await asyncio.wait_for(
            asyncio.gather(pipeline.request(ack_body(1), "s"), pipeline.request(ack_body(2), "s")), WAIT
        )
    finally:
        pipeline.close()
    assert (first.status, first.body, second.status, second.body) == (400, b"Failed to validate", 202, b"")


async def test_a_full_connection_opens_another_up_to_the_limit(master: RawMaster) -> None:
    # depth 2, 4 connections of which one is the urgent lane (ACKs never take it): 6 ACKs go out at
    # once on the other 3, the 7th waits for an answer.
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF, connections=4, depth=2)
    try:
        futures = [pipeline.request(ack_body(n), "s", urgent=False) for n in range(7)]
        assert pipeline.connections == 3 and pipeline.queued == 1
        responses: list[Response] = await asyncio.wait_for(asyncio.gather(*futures), WAIT)
    finally:
        pipeline.close()
    assert [r.status for r in responses] == [202] * 7
    assert master.connections == 3
    assert sorted(task_ids(master.received)) == sorted(f"t-{n}" for n in range(7))


async def test_lost_connection_tells_written_from_unsent(master: RawMaster) -> None:
    master.batch = 3  # the master reads three requests, then drops the connection
    master.answers.append(CLOSE)
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF, connections=1, depth=3)
    try:
        futures = [pipeline.request(ack_body(n), "s") for n in range(5)]  # 2 wait in the pool
        results = await outcomes(futures)
    finally:
        pipeline.close()
    # The master read all three before dropping the connection: written, unanswered.
    assert all(isinstance(r, MayHaveReachedError) for r in results[:3])
    # The two waiting in the pool went out on a fresh connection, and were answered.
    assert [r.status for r in results[3:] if isinstance(r, Response)] == [202, 202]
    assert master.connections == 2


async def test_unreachable_master_fails_requests_as_not_sent() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()  # nothing listens there now: connection refused
    pipeline = Pipeline(f"http://127.0.0.1:{port}", path="/p", content_type=PROTOBUF, depth=1, connections=1)
    try:
        results = await outcomes([pipeline.request(b"x", "s") for _ in range(3)])
    finally:
        pipeline.close()
    assert all(isinstance(r, NotSentError) and "cannot connect" in str(r) for r in results)


# ---- the client over pipelines ------------------------------------------------------------------


async def test_many_calls_in_one_turn_go_out_pipelined(master: RawMaster) -> None:
    master.batch = 50  # nothing is answered until 50 requests are in
    async with subscribed(master.url, call_connections=1) as client:
        results = await outcomes([client.submit(ack(n)) for n in range(200)])
        assert results == [None] * 200
        assert client.calls_sent == 200
        stream_id = master.stream_ids[0]
    assert task_ids(master.received) == [f"t-{n}" for n in range(200)]
    for r in master.received:
        assert r.headers["Mesos-Stream-Id"] == stream_id
        assert r.headers["Content-Type"] == PROTOBUF
        assert r.call.framework_id.value == "fw-1"
        assert r.connection == 2  # the first connection is the SUBSCRIBE stream's


@pytest.mark.parametrize("how", ["Connection: close", "dropped"])
async def test_close_mid_pipeline_resends_acks_but_never_the_accept(master: RawMaster, how: str) -> None:
    # The master reads all four requests, then answers the first with Connection: close (or drops
    # the connection without a word): the ACCEPT and the ACKs behind it were written, unanswered.
    master.batch = 4
    master.answers.append(answer(202, close=True) if how == "Connection: close" else CLOSE)
    sleeps = Sleeps()
    async with subscribed(master.url, sleeps, call_connections=1) as client:
        results = await outcomes(
            [client.submit(ack(0)), client.submit(ACCEPT), client.submit(ack(1)), client.submit(ack(2))]
        )
    assert results[0] is None and results[2:] == [None, None]
    assert isinstance(results[1], TransientMesosError) and "may have reached the master" in str(results[1])
    assert len(master.calls(scheduler.Call.ACCEPT)) == 1  # never resent
    resent = ["t-1", "t-2"] if how == "Connection: close" else ["t-0", "t-1", "t-2"]
    assert task_ids(master.received) == ["t-0", "t-1", "t-2", *resent]


async def test_redirect_and_503_inside_a_pipeline(master: RawMaster) -> None:
    leader = RawMaster()
    await leader.start()
    try:
        master.batch = 3
        hostport = leader.url.removeprefix("http://")
        location = f"Location: //{hostport}/api/v1/scheduler\r\n"
        master.answers.extend(
            [answer(503, b"Master has not finished recovery"), answer(307, headers=location)]
        )
        sleeps = Sleeps()
        # One connection: the three calls share it (with more, the ACK would not join the others).
        async with subscribed(master.url, sleeps, call_connections=1) as client:
            results = await outcomes(
                [client.submit(ACCEPT), client.submit(Kill("t-1", "a-1")), client.submit(ack(3))]
            )
            assert results == [None, None, None]
        # The ACCEPT got 503 (answered before processing) and went again, after one backoff.
        assert len(master.calls(scheduler.Call.ACCEPT)) == 2 and len(sleeps.delays) == 1
        # The KILL got 307 and went to the leader at once, with the same stream id.
        (kill,) = leader.calls(scheduler.Call.KILL)
        assert kill.headers["Mesos-Stream-Id"] == master.stream_ids[0]
        assert task_ids(master.received) == ["t-3"] and leader.calls(scheduler.Call.ACKNOWLEDGE) == []
    finally:
        await leader.close()


async def test_cancelled_send_leaves_the_others_their_own_answers(master: RawMaster) -> None:
    master.batch = 3
    master.answers.extend([ACCEPTED, answer(400, b"Failed to validate: the second"), ACCEPTED])
    async with subscribed(master.url, call_connections=1) as client:
        first = asyncio.create_task(client.send(Decline(("o-1",), 5.0)))
        second = asyncio.create_task(client.send(Revive()))
        await asyncio.sleep(0)  # both tasks have submitted their calls
        third = client.submit(ack(7))
        first.cancel()
        results = await outcomes([first, second, third])
        assert isinstance(results[0], asyncio.CancelledError)
        assert isinstance(results[1], PermanentMesosError) and "the second" in results[1].detail
        assert results[2] is None
        # The connection stayed in step: a later call gets its own answer too.
        await asyncio.wait_for(client.send(Reconcile()), WAIT)
    assert len(master.received) == 4 and client.calls_sent == 3


async def test_unanswered_calls_time_out_and_idempotent_ones_go_again(master: RawMaster) -> None:
    master.batch = 1_000  # the first call connection never answers: it looks dead
    async with subscribed(master.url, call_timeout=0.5, call_connections=1) as client:
        results = await outcomes([client.submit(ACCEPT), client.submit(ack(1))])
    assert isinstance(results[0], TransientMesosError)
    assert "may have reached the master" in str(results[0]) and "no answer" in str(results[0])
    assert results[1] is None  # the ACK went again, on a fresh connection, and was answered
    assert len(master.calls(scheduler.Call.ACCEPT)) == 1 and task_ids(master.received) == ["t-1", "t-1"]


async def test_unreachable_redirect_target_is_retried_even_for_accept(master: RawMaster) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    master.answers.append(answer(307, headers=f"Location: //127.0.0.1:{port}/api/v1/scheduler\r\n"))
    sleeps = Sleeps()
    async with subscribed(master.url, sleeps, call_attempts=3) as client:
        with pytest.raises(TransientMesosError, match="not sent"):
            await asyncio.wait_for(client.send(ACCEPT), WAIT)
    assert len(sleeps.delays) == 2  # three attempts: it never left, so even an ACCEPT may go again


async def test_calls_after_a_resubscription_carry_the_new_stream_id(master: RawMaster) -> None:
    async with subscribed(master.url) as client:
        await asyncio.wait_for(client.send(Revive()), WAIT)
        master.end_streams()
        await until(lambda: len(master.stream_ids) == 2 and client.subscribed)
        await asyncio.wait_for(client.send(Revive()), WAIT)
    assert [r.headers["Mesos-Stream-Id"] for r in master.received] == master.stream_ids


async def test_effects_needing_several_calls_go_in_order_through_submit(master: RawMaster) -> None:
    tasks = tuple(ReconcileTask(f"t-{n}", None) for n in range(RECONCILE_CHUNK + 1))
    async with subscribed(master.url) as client:
        await asyncio.wait_for(client.submit(Reconcile(tasks)), WAIT)
    sizes = [len(r.call.reconcile.tasks) for r in master.calls(scheduler.Call.RECONCILE)]
    assert sizes == [RECONCILE_CHUNK, 1]


async def test_submit_while_not_subscribed_fails_the_future(master: RawMaster) -> None:
    client = MesosClient(master.url, FRAMEWORK, ignore)
    future = client.submit(Revive())
    with pytest.raises(TransientMesosError, match="not subscribed"):
        await future


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_an_effect_the_codec_cannot_encode_fails_its_future_not_the_caller(master: RawMaster) -> None:
    async with subscribed(master.url) as client:
        future = client.submit(Kill("t-1", "a-1", grace_seconds=float("inf")))  # no nanosecond count
        with pytest.raises(OverflowError):
            await future
        await asyncio.wait_for(client.send(Kill("t-1", "a-1", grace_seconds=1.0)), WAIT)
    assert [r.call.kill.kill_policy.grace_period.nanoseconds for r in master.received] == [1_000_000_000]


async def test_a_subscription_moved_to_another_master_takes_the_calls_and_closes_the_old_connections(
    master: RawMaster,
) -> None:
    leader = RawMaster()
    await leader.start()
    try:
        async with subscribed(master.url) as client:
            await asyncio.wait_for(client.send(Revive()), WAIT)
            (old_connection,) = {r.connection for r in master.received}
            # The old master lost leadership: its stream ends, and it now redirects SUBSCRIBE.
            master.redirect_subscribe_to = leader.url.removeprefix("http://")
            master.end_streams()
            await until(lambda: client.subscribed and client.master_url == leader.url)
            await until(lambda: old_connection in master.ended)  # idle, so closed at once
            await asyncio.wait_for(client.send(Kill("t-1", "a-1")), WAIT)
        assert [r.call.type for r in master.received] == [scheduler.Call.REVIVE]
        (kill,) = leader.received
        assert kill.call.type == scheduler.Call.KILL
        assert kill.headers["Mesos-Stream-Id"] == leader.stream_ids[0]
    finally:
        await leader.close()


def launches(env_value: str = "grüß") -> tuple[TaskLaunch, ...]:
    spec = validate_app(
        {"id": "/web/app", "cmd": "serve", "ports": ["http"], "env": {"GREETING": env_value},
         "health_checks": [{"protocol": "HTTP", "port": "http", "path": "/health"}]}
    )  # fmt: skip
    return tuple(
        TaskLaunch.of(spec, "v1", f"web_app.{n}", n, "a-1", "h-1", "web", Resources.of(cpus=1, mem=128,
                      ports=[(31000 + n, 31000 + n)]), (31000 + n,))
        for n in range(3)
    )  # fmt: skip


async def test_a_protobuf_accept_is_written_from_taskbytes_as_the_message_would_be(
    master: RawMaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[bytes | None] = []
    encode = taskbytes.accept_bytes

    def spy(effect: Accept, framework_id: str) -> bytes | None:
        written.append(encode(effect, framework_id))
        return written[-1]

    monkeypatch.setattr(taskbytes, "accept_bytes", spy)
    accept = Accept(agent_id="a-1", offer_ids=("o-1", "o-2"), launches=launches(), refuse_seconds=7.5)
    async with subscribed(master.url) as client:
        await asyncio.wait_for(client.submit(accept), WAIT)
    (received,) = master.calls(scheduler.Call.ACCEPT)
    (call,) = codec.calls_for(accept, "fw-1", FRAMEWORK.roles)
    assert written == [received.body] and received.body == call.SerializeToString()


async def test_an_accept_taskbytes_leaves_alone_takes_the_message_path(master: RawMaster) -> None:
    bad = Accept(agent_id="a-1", offer_ids=("o-1",), launches=launches("\ud800"), refuse_seconds=5.0)
    good = Accept(agent_id="a-1", offer_ids=("o-2",), launches=launches(), refuse_seconds=5.0)
    assert taskbytes.accept_bytes(bad, "fw-1") is None
    async with subscribed(master.url) as client:
        with pytest.raises(UnicodeEncodeError):  # what the message path raised before taskbytes
            await client.submit(bad)
        await asyncio.wait_for(client.send(good), WAIT)
    assert [r.call.accept.offer_ids[0].value for r in master.calls(scheduler.Call.ACCEPT)] == ["o-2"]


# ---- the urgent lane ------------------------------------------------------------------------------


ACCEPT_BODY = codec.calls_for(ACCEPT, "fw-1", ())[0].SerializeToString()


async def test_urgent_requests_pass_a_connection_full_of_unanswered_acks(master: RawMaster) -> None:
    # The first call connection (the ACKs') holds its answers. The first urgent request opens the
    # lane and, the lane still connecting, joins the ACKs; once the lane is up, the next one takes it
    # and is answered while everything on the other connection still waits.
    master.batch = 1_000
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF, connections=2)
    try:
        held = [pipeline.request(ack_body(n), "s", urgent=False) for n in range(3)]
        held.append(pipeline.request(ACCEPT_BODY, "s"))
        await until(lambda: pipeline.lane_ready)
        accept = await asyncio.wait_for(pipeline.request(ACCEPT_BODY, "s"), WAIT)
        assert accept.status == 202 and not any(f.done() for f in held)
        assert pipeline.connections == 2
    finally:
        pipeline.close()
    first, *_, last = [r.connection for r in master.received]
    assert first != last


async def test_acks_never_take_the_lane(master: RawMaster) -> None:
    # The ACKs' one connection is full (depth 4, its answers held) and the lane is idle: further
    # ACKs wait in the pool rather than take it.
    master.batch = 1_000
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF, connections=2, depth=4)
    try:
        opener = pipeline.request(ACCEPT_BODY, "s")  # opens the lane; itself on the other connection
        await until(lambda: pipeline.lane_ready)
        acks = [pipeline.request(ack_body(n), "s", urgent=False) for n in range(8)]
        assert pipeline.queued == 5  # 3 beside the opener on the full connection, none on the lane
        accept = await asyncio.wait_for(pipeline.request(ACCEPT_BODY, "s"), WAIT)
        assert accept.status == 202 and not opener.done() and not any(f.done() for f in acks)
    finally:
        pipeline.close()


async def test_a_full_lane_overflows_to_the_other_connections(master: RawMaster) -> None:
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF, connections=2, depth=1)
    try:
        await asyncio.wait_for(pipeline.request(ACCEPT_BODY, "s"), WAIT)  # opens the lane
        await until(lambda: pipeline.lane_ready)
        first, second = pipeline.request(ACCEPT_BODY, "s"), pipeline.request(ACCEPT_BODY, "s")
        assert pipeline.connections == 2 and pipeline.queued == 0
        third = pipeline.request(ACCEPT_BODY, "s")  # both connections full: it waits in the pool
        assert pipeline.queued == 1
        responses = await asyncio.wait_for(asyncio.gather(first, second, third), WAIT)
    finally:
        pipeline.close()
    assert [r.status for r in responses] == [202] * 3
    assert len({r.connection for r in master.received[1:3]}) == 2


async def test_one_connection_has_no_lane_and_keeps_submission_order(master: RawMaster) -> None:
    pipeline = Pipeline(master.url, path="/api/v1/scheduler", content_type=PROTOBUF, connections=1)
    try:
        futures = [pipeline.request(ack_body(0), "s", urgent=False), pipeline.request(ACCEPT_BODY, "s")]
        await asyncio.wait_for(asyncio.gather(*futures), WAIT)
    finally:
        pipeline.close()
    assert [r.call.type for r in master.received] == [scheduler.Call.ACKNOWLEDGE, scheduler.Call.ACCEPT]
    assert len({r.connection for r in master.received}) == 1
