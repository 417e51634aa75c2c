"""The ACKNOWLEDGE fast path (harness/fastack.py) answers every body exactly as the generic path.

Each example builds two identical small worlds (same ids and update uuids: the master id is fixed
and the agents' uuid generator seeded), sends the same request to the scheduler endpoint handler
of both, one with the fast path and one with it disabled, and compares everything the request
could have changed: the answer, the ledger (violations, recorded calls), the events sent to the
framework, and the tasks and unacknowledged updates of master and agent once the mail is
delivered. Bodies are valid ACKs, mutated ACKs (flipped, inserted, deleted, truncated bytes),
ACKs with odd ids and uuids, ACKs carrying extra fields, and random bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness import agent as agent_module
from harness import calls, server
from harness.agent import Agent
from harness.clock import ManualClock
from harness.codec import Encoding, OutEvent
from harness.fastack import read_acknowledge
from harness.http import Request, Response
from harness.ledger import Ledger
from harness.master import Master, MasterConfig
from harness.resources import parse_resources
from harness.simulation import SimulatedRuntime
from proto import jsoncodec
from proto.mesos.v1.scheduler import scheduler_pb2

Call = scheduler_pb2.Call
STREAM_ID = "stream-1"


@dataclass
class _Sink:
    stream_id: str = STREAM_ID
    events: list[bytes] = field(default_factory=list)
    updates: list[scheduler_pb2.Event] = field(default_factory=list)

    def send(self, out: OutEvent) -> None:
        self.events.append(out.encode(Encoding.PROTOBUF))
        if out.type == "UPDATE":
            self.updates.append(out.proto())

    def close(self) -> None:
        self.events.append(b"closed")

    def abort(self) -> None:
        self.events.append(b"aborted")


@dataclass
class _World:
    clock: ManualClock
    master: Master
    state: server.ServerState
    sink: _Sink
    framework_id: str


def _world(record_calls: bool) -> _World:
    agent_module._RANDOM.seed(7)  # the same update uuids in both worlds
    clock = ManualClock()
    master = Master(clock, Ledger(record_calls), MasterConfig(allocation_interval=1.0))
    master.master_id = "m1"
    for i in range(2):
        agent = Agent(clock, master.new_agent_id(), f"a{i}", parse_resources("cpus:4;mem:4096"), ())
        agent.runtime = SimulatedRuntime(clock, agent)
        master.register_agent(agent)
    sink = _Sink()
    subscribe = Call(type=Call.SUBSCRIBE)
    subscribe.subscribe.framework_info.user = "u"
    subscribe.subscribe.framework_info.name = "n"
    master.subscribe(subscribe, sink)
    clock.run_ready()
    framework_id = next(iter(master.frameworks))
    fw = master.frameworks[framework_id]
    for n, offer in enumerate(list(master.offers.values())):
        task = {
            "name": "t",
            "task_id": {"value": f"task-{n}"},
            "agent_id": {"value": offer.agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}],
            "command": {"value": "sleep 1000"},
        }
        accept = {
            "type": "ACCEPT",
            "framework_id": {"value": framework_id},
            "accept": {
                "offer_ids": [{"value": offer.offer_id}],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
            },
        }
        calls.dispatch(master, fw, jsoncodec.parse(accept, Call))
    clock.run_ready()
    state = server.ServerState(master, master.ledger)
    return _World(clock, master, state, sink, framework_id)


def _ack(framework_id: str, agent_id: str, task_id: str, uuid: bytes) -> bytes:
    call = Call(type=Call.ACKNOWLEDGE)
    call.framework_id.value = framework_id
    call.acknowledge.agent_id.value = agent_id
    call.acknowledge.task_id.value = task_id
    call.acknowledge.uuid = uuid
    return call.SerializeToString()


def _valid_acks(world: _World) -> list[bytes]:
    out = []
    for update in world.sink.updates:
        status = update.update.status
        if status.HasField("uuid"):
            out.append(_ack(world.framework_id, status.agent_id.value, status.task_id.value, status.uuid))
    return out


def _outcome(world: _World, request: Request, fast: bool) -> tuple[Any, ...]:
    before = len(world.sink.events)
    if fast:
        answer = server.scheduler(world.state, request)
    else:
        with mock.patch.object(server, "read_acknowledge", lambda _body: None):
            answer = server.scheduler(world.state, request)
    world.clock.run_ready()
    master = world.master
    assert isinstance(answer, Response)
    return (
        answer,
        list(world.state.ledger.violations),
        list(world.state.ledger.calls),
        world.sink.events[before:],
        {fid: sorted(fw.tasks) for fid, fw in master.frameworks.items()},
        {aid: sorted(s.tasks) for aid, s in master.agents.items()},
        {aid: (s.agent.updates.unacknowledged(), sorted(s.agent.tasks)) for aid, s in master.agents.items()},
        list(world.state.errors),
    )


_TEXT = st.text(max_size=140)
_UUID = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=40))


@st.composite
def _mutated(draw: st.DrawFn, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "append"]))
        if kind == "flip" and where < len(data):
            data[where] = draw(st.integers(0, 255))
        elif kind == "insert":
            data.insert(where, draw(st.integers(0, 255)))
        elif kind == "delete" and where < len(data):
            del data[where]
        elif kind == "truncate":
            del data[where:]
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@st.composite
def _body(draw: st.DrawFn, valid: list[bytes], framework_id: str) -> bytes:
    base = draw(st.sampled_from(valid))
    kind = draw(st.sampled_from(["valid", "mutated", "odd ids", "extra field", "random"]))
    event(f"body: {kind}")
    if kind == "valid":
        return base
    if kind == "mutated":
        return draw(_mutated(base))
    if kind == "odd ids":
        fid = draw(st.one_of(st.just(framework_id), _TEXT))
        return _ack(fid, draw(_TEXT), draw(_TEXT), draw(_UUID))
    if kind == "extra field":
        call = Call.FromString(base)
        extra = draw(st.sampled_from(["kill", "subscribe", "type", "unknown", "duplicate"]))
        if extra == "kill":
            call.kill.task_id.value = "x"
        elif extra == "subscribe":
            call.subscribe.framework_info.user = "u"
            call.subscribe.framework_info.name = "n"
        elif extra == "type":
            call.type = draw(st.sampled_from([Call.KILL, Call.ACKNOWLEDGE_OPERATION_STATUS, Call.UNKNOWN]))
        body = call.SerializeToString()
        if extra == "unknown":
            body += b"\xa8\x06\x01"  # field 101, varint
        elif extra == "duplicate":
            body += b"\x10\x08"  # type again
        return body
    return draw(st.binary(max_size=200))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), record_calls=st.booleans())
def test_fast_path_answers_exactly_as_the_generic_path(data: st.DataObject, record_calls: bool) -> None:
    fast_world, generic_world = _world(record_calls), _world(record_calls)
    valid = _valid_acks(fast_world)
    assert valid == _valid_acks(generic_world)  # the two worlds are the same
    body = data.draw(_body(valid, fast_world.framework_id))
    stream_id = data.draw(st.sampled_from([STREAM_ID, None, "stale"]))
    headers = {"content-type": Encoding.PROTOBUF.value, "host": "h"}
    if stream_id is not None:
        headers["mesos-stream-id"] = stream_id
    event(f"fast path read it: {read_acknowledge(body) is not None}")
    # The same body twice: the second is a duplicate ACK, which must not be a violation either.
    for _ in range(2):
        request = Request("POST", server.SCHEDULER_PATH, server.SCHEDULER_PATH, "1.1", dict(headers), body)
        assert _outcome(fast_world, request, True) == _outcome(generic_world, request, False)


def test_reads_the_bytes_a_protobuf_serializer_writes() -> None:
    uuid = bytes(range(16))
    ids = [("f", "a", "t"), ("é-ü", "agent-S0", "x" * 90), ("", "", ""), ("f" * 123, "a", "t")]
    for fid, aid, tid in ids:
        assert read_acknowledge(_ack(fid, aid, tid, uuid)) == (fid, aid, tid, uuid)
    assert read_acknowledge(_ack("f" * 126, "a", "t", uuid)) is None  # a two-byte length: generic path
    assert read_acknowledge(_ack("f", "a", "t", uuid[:15])) is None
    assert read_acknowledge(b"") is None


def test_a_valid_ack_releases_the_next_update() -> None:
    world = _world(record_calls=False)
    body = _valid_acks(world)[0]
    headers = {"content-type": Encoding.PROTOBUF.value, "mesos-stream-id": STREAM_ID}
    request = Request("POST", server.SCHEDULER_PATH, server.SCHEDULER_PATH, "1.1", headers, body)
    sent = len(world.sink.updates)
    answer, violations, *_ = _outcome(world, request, True)
    assert answer == Response(202)
    assert violations == []
    assert len(world.sink.updates) == sent + 1  # TASK_RUNNING follows the acknowledged TASK_STARTING
