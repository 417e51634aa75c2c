"""The codec: protobuf events -> core events, core effects -> protobuf calls, field by field."""

from __future__ import annotations

import dataclasses
import json

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.core.effects import (
    Accept,
    Acknowledge,
    Decline,
    Kill,
    Reconcile,
    ReconcileTask,
    Revive,
    Suppress,
    TaskLaunch,
)
from framework.core.events import (
    AgentFailed,
    ExecutorFailed,
    OfferRescinded,
    OffersReceived,
    StatusUpdated,
    TaskState,
)
from framework.core.resources import Resources
from framework.core.spec import CheckProtocol, ContainerSpec, HealthCheckSpec, PortMapping, ReadinessCheckSpec
from framework.mesos import codec
from framework.mesos.wire import (
    ContentType,
    EventDecodeError,
    FrameworkConfig,
    decode_event,
    encode_call,
    subscribe_call,
)
from proto.mesos.v1 import mesos_pb2 as mesos
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

NOW = 1234.5


def launch(**overrides: object) -> TaskLaunch:
    fields: dict[str, object] = {
        "task_id": "shop_web.7",
        "name": "shop/web",
        "app_id": "/shop/web",
        "version": "v1",
        "slot": 0,
        "agent_id": "a-1",
        "hostname": "agent-1",
        "role": "web",
        "resources": Resources.of(cpus=0.25, mem=64, disk=10, ports=[(31002, 31002), (31005, 31005)]),
        "ports": (31005, 31002),
        "port_names": ("http", "admin"),
        "cmd": "python3 -m http.server $PORT0",
        "env": (("HOST", "agent-1"), ("PORT0", "31005")),
        "labels": (("gantry.app_id", "/shop/web"), ("team", "shop")),
        "container": None,
        "health_checks": (),
        "readiness_checks": (),
        "kill_grace_seconds": 3.0,
    }
    fields.update(overrides)
    return TaskLaunch(**fields)  # type: ignore[arg-type]


def one_call(effect: object, roles: tuple[str, ...] = ("web",)) -> scheduler.Call:
    (call,) = codec.calls_for(effect, "fw-1", roles)  # type: ignore[arg-type]
    assert call.framework_id.value == "fw-1"
    assert call.IsInitialized()
    return call


# ---- calls -------------------------------------------------------------------------------------------


def test_accept_has_one_launch_with_role_resources_and_exact_port_ranges() -> None:
    call = one_call(
        Accept(agent_id="a-1", offer_ids=("o-1", "o-2"), launches=(launch(),), refuse_seconds=30.0)
    )
    assert call.type == scheduler.Call.ACCEPT
    assert [o.value for o in call.accept.offer_ids] == ["o-1", "o-2"]
    assert call.accept.filters.refuse_seconds == 30.0
    (operation,) = call.accept.operations
    assert operation.type == mesos.Offer.Operation.LAUNCH and not operation.HasField("id")
    (task,) = operation.launch.task_infos
    assert (task.name, task.task_id.value, task.agent_id.value) == ("shop/web", "shop_web.7", "a-1")
    resources = {r.name: r for r in task.resources}
    assert set(resources) == {"cpus", "mem", "disk", "ports"}  # no zero-valued gpus
    assert {r.allocation_info.role for r in task.resources} == {"web"}
    assert (
        resources["cpus"].scalar.value,
        resources["mem"].scalar.value,
        resources["disk"].scalar.value,
    ) == (
        0.25,
        64.0,
        10.0,
    )
    assert resources["ports"].type == mesos.Value.RANGES
    # exactly the two allocated ports, not the offer's whole range
    assert [(r.begin, r.end) for r in resources["ports"].ranges.range] == [(31002, 31002), (31005, 31005)]
    assert task.command.shell and task.command.value == "python3 -m http.server $PORT0"
    assert [(v.name, v.value) for v in task.command.environment.variables] == [
        ("HOST", "agent-1"),
        ("PORT0", "31005"),
    ]
    assert [(lb.key, lb.value) for lb in task.labels.labels] == [
        ("gantry.app_id", "/shop/web"),
        ("team", "shop"),
    ]
    assert not task.HasField("container") and not task.HasField("executor")
    assert task.kill_policy.grace_period.nanoseconds == 3_000_000_000
    assert not task.HasField("health_check") and not task.HasField("check")


def test_container_image_runs_under_the_mesos_containerizer_with_bridge_port_mappings() -> None:
    container = ContainerSpec(
        image="nginx:1.25", port_mappings=(PortMapping(port="http", container_port=80),)
    )
    (task,) = (
        one_call(
            Accept(
                agent_id="a-1",
                offer_ids=("o-1",),
                launches=(launch(container=container, cmd=None),),
                refuse_seconds=5,
            )
        )
        .accept.operations[0]
        .launch.task_infos
    )
    assert task.container.type == mesos.ContainerInfo.MESOS
    assert task.container.mesos.image.type == mesos.Image.DOCKER
    assert task.container.mesos.image.docker.name == "nginx:1.25"
    assert not task.container.HasField("docker")
    (network,) = task.container.network_infos
    assert network.name == codec.BRIDGE_NETWORK
    (mapping,) = network.port_mappings
    assert (mapping.host_port, mapping.container_port, mapping.protocol) == (31005, 80, "tcp")
    # no cmd: the image's entrypoint runs, but CommandInfo must still be there
    assert task.HasField("command") and not task.command.shell and not task.command.HasField("value")


@pytest.mark.parametrize(
    ("spec", "container", "check"),
    [
        (
            HealthCheckSpec(protocol=CheckProtocol.HTTP, port="admin", path="/health"),
            None,
            {"type": "HTTP", "http": {"scheme": "http", "port": 31002, "path": "/health"}},
        ),
        (
            # a mapped port is checked on its container side: checks run in the task's namespace
            HealthCheckSpec(protocol=CheckProtocol.HTTP, port="http", path="/"),
            ContainerSpec(image="img", port_mappings=(PortMapping(port="http", container_port=8080),)),
            {"type": "HTTP", "http": {"scheme": "http", "port": 8080, "path": "/"}},
        ),
        (
            HealthCheckSpec(protocol=CheckProtocol.TCP, port="http"),
            None,
            {"type": "TCP", "tcp": {"port": 31005}},
        ),
        (
            HealthCheckSpec(protocol=CheckProtocol.COMMAND, command="test -f /tmp/ok"),
            None,
            {"type": "COMMAND", "command": {"shell": True, "value": "test -f /tmp/ok"}},
        ),
    ],
)
def test_health_checks(
    spec: HealthCheckSpec, container: ContainerSpec | None, check: dict[str, object]
) -> None:
    task = codec.task_info(launch(health_checks=(spec,), container=container))
    got = json_format.MessageToDict(task.health_check, preserving_proto_field_name=True)
    timing = {
        "delay_seconds": 0.0,
        "interval_seconds": spec.interval_seconds,
        "timeout_seconds": spec.timeout_seconds,
        "grace_period_seconds": spec.grace_period_seconds,
        "consecutive_failures": spec.max_consecutive_failures,
    }
    assert got == check | timing


def test_readiness_check_becomes_an_http_check_info() -> None:
    spec = ReadinessCheckSpec(protocol=CheckProtocol.HTTP, port="http", path="/ready", interval_seconds=2.0)
    task = codec.task_info(launch(readiness_checks=(spec,)))
    assert task.check.type == mesos.CheckInfo.HTTP
    assert (task.check.http.port, task.check.http.path, task.check.interval_seconds) == (31005, "/ready", 2.0)


def test_health_check_port_without_allocation_is_a_clear_error() -> None:
    spec = HealthCheckSpec(protocol=CheckProtocol.TCP, port="metrics")
    with pytest.raises(ValueError, match="metrics"):
        codec.task_info(launch(health_checks=(spec,)))


def test_decline_kill_ack_reconcile_suppress_revive() -> None:
    decline = one_call(Decline(offer_ids=("o-9",), refuse_seconds=300.0))
    assert [o.value for o in decline.decline.offer_ids] == [
        "o-9"
    ] and decline.decline.filters.refuse_seconds == 300

    kill = one_call(Kill(task_id="t-1", agent_id="a-1", grace_seconds=0.5))
    assert (kill.kill.task_id.value, kill.kill.agent_id.value) == ("t-1", "a-1")
    assert kill.kill.kill_policy.grace_period.nanoseconds == 500_000_000
    plain_kill = one_call(Kill(task_id="t-1", agent_id=None))
    assert not plain_kill.kill.HasField("agent_id") and not plain_kill.kill.HasField("kill_policy")

    ack = one_call(Acknowledge(agent_id="a-1", task_id="t-1", uuid=b"\x01" * 16))
    assert (ack.acknowledge.agent_id.value, ack.acknowledge.task_id.value, ack.acknowledge.uuid) == (
        "a-1",
        "t-1",
        b"\x01" * 16,
    )

    explicit = one_call(Reconcile(tasks=(ReconcileTask("t-1", "a-1"), ReconcileTask("t-2", None))))
    assert [(t.task_id.value, t.agent_id.value) for t in explicit.reconcile.tasks] == [
        ("t-1", "a-1"),
        ("t-2", ""),
    ]
    assert not explicit.reconcile.tasks[1].HasField("agent_id")
    implicit = one_call(Reconcile())
    assert implicit.HasField("reconcile") and not implicit.reconcile.tasks

    suppress = one_call(Suppress(), roles=("web", "batch"))
    assert suppress.type == scheduler.Call.SUPPRESS and list(suppress.suppress.roles) == ["web", "batch"]
    revive = one_call(Revive(), roles=("web",))
    assert revive.type == scheduler.Call.REVIVE and list(revive.revive.roles) == ["web"]


@pytest.mark.parametrize("content_type", list(ContentType))
def test_calls_encode_in_both_content_types(content_type: ContentType) -> None:
    call = one_call(Accept(agent_id="a-1", offer_ids=("o-1",), launches=(launch(),), refuse_seconds=30.0))
    body = encode_call(call, content_type)
    back = scheduler.Call()
    if content_type is ContentType.PROTOBUF:
        back.ParseFromString(body)
    else:
        assert b"\n" not in body
        doc = json.loads(body)
        assert doc["type"] == "ACCEPT"  # enums by name
        json_format.Parse(body, back)
    assert back == call


def test_subscribe_call_reuses_the_framework_id_in_both_places() -> None:
    config = FrameworkConfig(name="gantry", user="root", roles=("a", "b"))
    first = subscribe_call(config, None)
    assert not first.HasField("framework_id") and not first.subscribe.framework_info.HasField("id")
    again = subscribe_call(config, "fw-7", suppressed_roles=("b",))
    assert again.framework_id.value == again.subscribe.framework_info.id.value == "fw-7"
    assert list(again.subscribe.suppressed_roles) == ["b"]
    assert again.subscribe.framework_info.checkpoint


@pytest.mark.parametrize(
    "kwargs", [{"name": ""}, {"user": ""}, {"roles": ()}, {"roles": ("a", "a")}, {"failover_timeout": -1.0}]
)
def test_framework_config_rejects(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"name": "g", "user": "u"} | kwargs
    with pytest.raises(ValueError):
        FrameworkConfig(**fields)  # type: ignore[arg-type]


# ---- events ------------------------------------------------------------------------------------------


def offer_pb() -> mesos.Offer:
    offer = mesos.Offer(hostname="h1")
    offer.id.value, offer.framework_id.value, offer.agent_id.value = "o-1", "fw-1", "a-1"
    offer.allocation_info.role = "web"

    def scalar(name: str, value: float) -> mesos.Resource:
        resource = offer.resources.add(name=name, type=mesos.Value.SCALAR)
        resource.scalar.value = value
        resource.allocation_info.role = "web"
        return resource

    scalar("cpus", 2.0)
    scalar("cpus", 1.0).role = "web"  # statically reserved for the role: not usable without echoing it
    scalar("mem", 1024.0004)  # Mesos keeps three decimals
    scalar("gpus", 1.0).revocable.SetInParent()  # revocable: we never declared the capability
    ports = offer.resources.add(name="ports", type=mesos.Value.RANGES)
    ports.ranges.range.add(begin=31000, end=31004)
    ports.ranges.range.add(begin=32000, end=32000)
    for name, kind in (("rack", mesos.Value.TEXT), ("cores", mesos.Value.SCALAR), ("zones", mesos.Value.SET)):
        attribute = offer.attributes.add(name=name, type=kind)
        if kind == mesos.Value.TEXT:
            attribute.text.value = "r7"
        elif kind == mesos.Value.SCALAR:
            attribute.scalar.value = 1.5
        else:
            attribute.set.item.extend(["a", "b"])
    span = offer.attributes.add(name="span", type=mesos.Value.RANGES)
    span.ranges.range.add(begin=1, end=5)
    whole = offer.attributes.add(name="gen", type=mesos.Value.SCALAR)
    whole.scalar.value = 3.0
    return offer


def test_offers_become_core_offers() -> None:
    event = scheduler.Event(type=scheduler.Event.OFFERS)
    event.offers.offers.append(offer_pb())
    (received,) = codec.events_from(event, NOW)
    assert isinstance(received, OffersReceived) and received.now == NOW
    (offer,) = received.offers
    assert (offer.offer_id, offer.agent_id, offer.hostname, offer.role) == ("o-1", "a-1", "h1", "web")
    assert offer.resources == Resources.of(cpus=2.0, mem=1024.0, ports=[(31000, 31004), (32000, 32000)])
    assert dict(offer.attributes) == {
        "rack": "r7",
        "cores": "1.5",
        "zones": "{a,b}",
        "span": "[1-5]",
        "gen": "3",
    }


def test_offer_role_falls_back_to_resource_allocation() -> None:
    offer = offer_pb()
    offer.ClearField("allocation_info")
    assert codec.offer_from(offer).role == "web"


def test_repeated_offers_of_an_agent_decode_once_and_changed_ones_afresh() -> None:
    # Offers of the same resources (every round from an idle agent) share one decoded value; any
    # change in any resource gives a new one, so the cache can never answer for different bytes.
    first, again, changed = offer_pb(), offer_pb(), offer_pb()
    again.id.value = "o-2"
    changed.resources[0].scalar.value = 3.0
    a, b, c = codec.offer_from(first), codec.offer_from(again), codec.offer_from(changed)
    assert a.resources is b.resources and b.offer_id == "o-2"
    assert c.resources == Resources.of(cpus=3.0, mem=1024.0, ports=[(31000, 31004), (32000, 32000)])


def test_updates_keep_uuid_only_when_present() -> None:
    event = scheduler.Event(type=scheduler.Event.UPDATE)
    status = event.update.status
    status.task_id.value, status.state, status.agent_id.value = "t-1", mesos.TASK_RUNNING, "a-1"
    status.healthy, status.reason = False, mesos.TaskStatus.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
    status.source, status.uuid, status.timestamp = mesos.TaskStatus.SOURCE_EXECUTOR, b"\x02" * 16, 99.5
    status.executor_id.value, status.message = "t-1", "unhealthy"
    assert codec.events_from(event, NOW) == [
        StatusUpdated(
            now=NOW,
            task_id="t-1",
            state=TaskState.RUNNING,
            agent_id="a-1",
            healthy=False,
            reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
            message="unhealthy",
            source="SOURCE_EXECUTOR",
            uuid=b"\x02" * 16,
            timestamp=99.5,
            executor_id="t-1",
        )
    ]
    reply = scheduler.Event(type=scheduler.Event.UPDATE)
    reply.update.status.task_id.value, reply.update.status.state = "t-2", mesos.TASK_GONE
    reply.update.status.source = mesos.TaskStatus.SOURCE_MASTER
    (update,) = codec.events_from(reply, NOW)
    assert isinstance(update, StatusUpdated)
    assert (update.state, update.uuid, update.agent_id, update.healthy) == (TaskState.GONE, None, None, None)


def test_status_from_passes_statusupdated_fields_in_declaration_order() -> None:
    # status_from builds StatusUpdated positionally: a reordered dataclass must fail here, not
    # silently swap two `str | None` fields.
    assert [f.name for f in dataclasses.fields(StatusUpdated)] == [
        "now",
        "task_id",
        "state",
        "agent_id",
        "healthy",
        "reason",
        "message",
        "source",
        "uuid",
        "timestamp",
        "executor_id",
    ]


def test_rescind_and_failures() -> None:
    rescind = scheduler.Event(type=scheduler.Event.RESCIND)
    rescind.rescind.offer_id.value = "o-3"
    assert codec.events_from(rescind, NOW) == [OfferRescinded(now=NOW, offer_id="o-3")]

    agent_gone = scheduler.Event(type=scheduler.Event.FAILURE)
    agent_gone.failure.agent_id.value = "a-2"
    assert codec.events_from(agent_gone, NOW) == [AgentFailed(now=NOW, agent_id="a-2")]

    executor_gone = scheduler.Event(type=scheduler.Event.FAILURE)
    executor_gone.failure.agent_id.value = "a-2"
    executor_gone.failure.executor_id.value = "e-1"
    executor_gone.failure.status = 137
    assert codec.events_from(executor_gone, NOW) == [
        ExecutorFailed(now=NOW, agent_id="a-2", executor_id="e-1", status=137)
    ]
    assert codec.events_from(scheduler.Event(type=scheduler.Event.FAILURE), NOW) == []
    assert codec.events_from(scheduler.Event(type=scheduler.Event.INVERSE_OFFERS), NOW) == []


def test_decode_event_from_mesos_json_tolerates_unknown_keys_and_nulls() -> None:
    record = (
        b'{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_FAILED",'
        b'"uuid":"AQEBAQEBAQEBAQEBAQEBAQ==","labels":null,"slave_id":{"value":"legacy"}}},"extra":1}'
    )
    event = decode_event(record, "application/json")
    assert event.update.status.uuid == b"\x01" * 16 and event.update.status.state == mesos.TASK_FAILED


@pytest.mark.parametrize(
    ("record", "media"),
    [
        (b"{not json", "application/json"),
        (b'{"type":"FUTURE_EVENT"}', "application/json"),  # unknown enum name: counts as unset
        (b"\xff\xff\xff", "application/x-protobuf"),
        (b"{}", "text/html"),
    ],
)
def test_decode_event_rejects(record: bytes, media: str) -> None:
    with pytest.raises(EventDecodeError):
        decode_event(record, media)


# Ids as Mesos could send them and beyond: empty, non-ASCII, long enough for two-byte lengths.
_ID_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)


@settings(max_examples=400, deadline=None)
@given(framework_id=_ID_TEXT, agent_id=_ID_TEXT, task_id=_ID_TEXT, uuid=st.binary(max_size=300))
def test_acknowledge_bytes_are_what_protobuf_serializes(
    framework_id: str, agent_id: str, task_id: str, uuid: bytes
) -> None:
    effect = Acknowledge(agent_id=agent_id, task_id=task_id, uuid=uuid)
    (call,) = codec.calls_for(effect, framework_id, ("web",))
    assert codec.acknowledge_bytes(effect, framework_id) == call.SerializeToString()


def test_acknowledge_bytes_round_trip_and_prefix_cache() -> None:
    for framework_id in ("fw-1", "fw-2", "fw-1"):  # a new framework id after a re-registration
        effect = Acknowledge(agent_id="a-1", task_id="t-" + "x" * 200, uuid=bytes(range(16)))
        body = codec.acknowledge_bytes(effect, framework_id)
        assert body is not None
        call = scheduler.Call.FromString(body)
        assert call.type == scheduler.Call.ACKNOWLEDGE and call.framework_id.value == framework_id
        assert (call.acknowledge.agent_id.value, call.acknowledge.task_id.value) == ("a-1", effect.task_id)
        assert call.acknowledge.uuid == bytes(range(16))


def test_acknowledge_bytes_leave_unencodable_ids_to_the_message_path() -> None:
    assert codec.acknowledge_bytes(Acknowledge("a-\ud800", "t-1", b"u"), "fw-1") is None
    assert codec.acknowledge_bytes(Acknowledge("a-1", "t-\udfff", b"u"), "fw-1") is None
    assert codec.acknowledge_bytes(Acknowledge("a-1", "t-1", b"u"), "fw-\ud800") is None
