"""taskbytes.accept_bytes: byte for byte the protobuf body of the ACCEPT the codec builds.

The message path (`codec.calls_for` + `wire.encode_call`) is the reference. The property test
generates apps (command or container-only, port mappings, each health check protocol, readiness
checks, labels, unicode env) and several launches per ACCEPT that share the app's objects, as the
core's launches do, so the per-app templates and memos are hit as well as missed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.core.effects import Accept, TaskLaunch
from framework.core.events import AppSubmitted, OffersReceived, Subscribed
from framework.core.model import Offer
from framework.core.resources import Resources
from framework.core.scheduler import SchedulerConfig, SchedulerState
from framework.core.spec import (
    CheckProtocol,
    ContainerSpec,
    HealthCheckSpec,
    PortMapping,
    PortProtocol,
    ReadinessCheckSpec,
    validate_app,
)
from framework.mesos import codec, taskbytes
from framework.mesos.wire import ContentType, encode_call

ROLES = ("*", "web", "bätch")


def message_path(effect: Accept, framework_id: str) -> bytes:
    (call,) = codec.calls_for(effect, framework_id, ROLES)
    return encode_call(call, ContentType.PROTOBUF)


# Text as ids, names and env values may hold: empty, non-ASCII (up to 4-byte UTF-8), long enough for
# two-byte lengths now and then.
_UTF8 = st.characters(codec="utf-8")
_TEXT = st.text(_UTF8, max_size=20) | st.text(_UTF8, max_size=200)
_NAME = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_SECONDS = st.floats(min_value=0.0, max_value=31_536_000.0, allow_nan=False) | st.integers(0, 3600)
_PORT = st.integers(0, 65_535)


@dataclass(frozen=True)
class App:
    """The per-app fields of a TaskLaunch (shared, as objects, by every launch of the app)."""

    name: str
    port_names: tuple[str, ...]
    cmd: str | None
    container: ContainerSpec | None
    health_checks: tuple[HealthCheckSpec, ...]
    readiness_checks: tuple[ReadinessCheckSpec, ...]
    kill_grace_seconds: float
    env: tuple[tuple[str, str], ...]  # the user's part
    labels: tuple[tuple[str, str], ...]
    scalars: tuple[int, int, int, int]


@st.composite
def app_parts(draw: st.DrawFn) -> App:
    port_names = tuple(draw(st.lists(_NAME, unique=True, max_size=4)))
    container = None
    if draw(st.booleans()):
        mapped = draw(st.lists(st.sampled_from(port_names), unique=True)) if port_names else []
        mappings = tuple(
            PortMapping(name, draw(_PORT), draw(st.sampled_from(PortProtocol))) for name in mapped
        )
        container = ContainerSpec(draw(_TEXT), mappings)
    health: tuple[HealthCheckSpec, ...] = ()
    protocols = [CheckProtocol.COMMAND, *([CheckProtocol.HTTP, CheckProtocol.TCP] if port_names else [])]
    for _ in range(draw(st.integers(0, 2))):
        protocol = draw(st.sampled_from(protocols))
        health += (
            HealthCheckSpec(
                protocol,
                port=None if protocol is CheckProtocol.COMMAND else draw(st.sampled_from(port_names)),
                path=draw(st.none() | _TEXT) if protocol is CheckProtocol.HTTP else None,
                command=draw(_NAME) if protocol is CheckProtocol.COMMAND else None,
                interval_seconds=draw(_SECONDS),
                timeout_seconds=draw(_SECONDS),
                grace_period_seconds=draw(_SECONDS),
                max_consecutive_failures=draw(st.integers(0, 2**32 - 1)),
            ),
        )
    readiness: tuple[ReadinessCheckSpec, ...] = ()
    if port_names:
        for _ in range(draw(st.integers(0, 2))):
            readiness += (
                ReadinessCheckSpec(
                    CheckProtocol.HTTP,
                    draw(st.sampled_from(port_names)),
                    path=draw(_TEXT),
                    interval_seconds=draw(_SECONDS),
                ),
            )
    # A container without cmd runs the image's entrypoint; a plain task always has a command.
    cmd = draw(st.none() | _TEXT) if container is not None else draw(_TEXT)
    milli = st.integers(0, 10**12)
    return App(
        name=draw(_TEXT),
        port_names=port_names,
        cmd=cmd,
        container=container,
        health_checks=health,
        readiness_checks=readiness,
        kill_grace_seconds=draw(_SECONDS),
        env=tuple(draw(st.lists(st.tuples(_NAME, _TEXT), max_size=4))),
        labels=tuple(draw(st.lists(st.tuples(_NAME, _TEXT), max_size=3))),
        scalars=draw(st.tuples(milli, milli, milli, milli)),
    )


@st.composite
def launch_of(draw: st.DrawFn, app: App, agent_id: str, role: str) -> TaskLaunch:
    port_names = app.port_names
    ports = tuple(
        draw(
            st.lists(st.integers(1, 65_535), unique=True, min_size=len(port_names), max_size=len(port_names))
        )
    )
    ranges = tuple((p, p) for p in sorted(ports))
    if draw(st.booleans()):  # now and then ranges wider than the ports, as uint64 allows
        ranges = (*ranges, (10**6, 10**6 + draw(st.integers(0, 2**40))))
    slot = draw(st.integers(0, 10**6))
    task_id = draw(_TEXT)
    gantry_env = (("HOST", draw(_TEXT)), ("GANTRY_TASK_ID", task_id), ("GANTRY_INSTANCE", str(slot)))
    port_env = tuple((f"PORT{i}", str(p)) for i, p in enumerate(ports))
    slot_label = (("gantry.slot", str(slot)),) if draw(st.booleans()) else ()  # or labels of any shape
    return TaskLaunch(
        task_id=task_id,
        name=app.name,
        app_id="/app",
        version="v",
        slot=slot,
        agent_id=agent_id,
        hostname="h",
        role=role,
        resources=Resources(*app.scalars, ranges),
        ports=ports,
        port_names=port_names,
        cmd=app.cmd,
        env=app.env + gantry_env + port_env,
        labels=(*app.labels, *slot_label),
        container=app.container,
        health_checks=app.health_checks,
        readiness_checks=app.readiness_checks,
        kill_grace_seconds=app.kill_grace_seconds,
    )


@st.composite
def accepts(draw: st.DrawFn) -> Accept:
    agent_id = draw(_TEXT)
    role = draw(st.sampled_from(ROLES))
    apps = draw(st.lists(app_parts(), min_size=1, max_size=3))
    launches = []
    for _ in range(draw(st.integers(0, 6))):
        # Now and then a launch on another agent or role than the ACCEPT's (the core never makes one;
        # the bytes must still be the message's).
        odd = draw(st.integers(0, 9)) == 0
        launches.append(
            draw(
                launch_of(
                    draw(st.sampled_from(apps)),
                    draw(_TEXT) if odd else agent_id,
                    draw(st.sampled_from(ROLES)) if odd else role,
                )
            )
        )
    return Accept(
        agent_id=agent_id,
        offer_ids=tuple(draw(st.lists(_TEXT, max_size=4))),
        launches=tuple(launches),
        refuse_seconds=draw(_SECONDS | st.floats()),  # NaN and infinities too: the bits are copied
    )


@settings(max_examples=300, deadline=None)
@given(effect=accepts(), framework_id=_TEXT)
def test_accept_bytes_are_what_the_message_path_serializes(effect: Accept, framework_id: str) -> None:
    assert taskbytes.accept_bytes(effect, framework_id) == message_path(effect, framework_id)


def core_accepts(spec: dict[str, object], agents: int = 3) -> list[Accept]:
    """ACCEPTs as the scheduler core makes them (real TaskLaunch objects, one app version)."""
    state = SchedulerState(SchedulerConfig(max_launches_per_decision=1000))
    state.handle(Subscribed(0.0, "fw-1", "m"))
    state.handle(AppSubmitted(0.0, validate_app(spec)))
    offers = tuple(
        Offer(
            f"o{i}",
            f"agent-{i}",
            f"host-{i}",
            "web",
            Resources.of(cpus=4, mem=8192, disk=20000, ports=[(31000, 32000)]),
            {},
        )
        for i in range(agents)
    )
    return [e for e in state.handle(OffersReceived(1.0, offers)) if isinstance(e, Accept)]


@pytest.mark.parametrize(
    "spec",
    [
        {"id": "/bench/app", "cmd": "sleep 1000", "cpus": 0.4, "mem": 64, "instances": 24, "ports": ["http"]},
        {
            "id": "/shop/web",
            "cpus": 0.25,
            "mem": 100,
            "disk": 10,
            "instances": 9,
            "ports": ["http", "admin"],
            "env": {"GREETING": "grüß dich ✓", "EMPTY": ""},
            "labels": {"team": "🛒", "tier": ""},
            "container": {
                "image": "registry.local/shop:1.2",
                "port_mappings": [{"port": "http", "container_port": 8080}],
            },
            "health_checks": [{"protocol": "HTTP", "port": "http", "path": "/health"}],
            "readiness_checks": [{"protocol": "HTTP", "port": "admin", "path": "/ready"}],
        },
        {
            "id": "/tcp/app",
            "cmd": "serve",
            "instances": 6,
            "ports": ["p"],
            "health_checks": [{"protocol": "TCP", "port": "p"}, {"protocol": "COMMAND", "command": "true"}],
        },
    ],
)
def test_core_launches_encode_as_the_message_path(spec: dict[str, object]) -> None:
    effects = core_accepts(spec)
    assert effects and all(e.launches for e in effects)
    for effect in effects * 2:  # the second round runs on warm templates and memos
        assert taskbytes.accept_bytes(effect, "fw-1") == message_path(effect, "fw-1")


def test_caches_stay_bounded_and_right_past_their_bounds() -> None:
    (effect,) = core_accepts({"id": "/a", "cmd": "x", "instances": 2, "ports": ["p"]}, agents=1)
    launch = effect.launches[0]
    # Many distinct per-task values and app versions: every memo and the template cache overflow.
    for n in range(taskbytes._MEMO_MAX + 10):
        varied = replace(
            launch,
            task_id=f"t-{n}",
            env=(*launch.env, ("N", str(n))),
            labels=(("k", str(n)), ("gantry.slot", str(n))),
            resources=replace(launch.resources, cpus_milli=n + 1),
            name=f"app-{n % (taskbytes._TEMPLATES_MAX + 5)}",
        )
        one = replace(effect, launches=(varied,))
        if n % 997 == 0 or n > taskbytes._MEMO_MAX:
            assert taskbytes.accept_bytes(one, "fw-1") == message_path(one, "fw-1")
        else:
            taskbytes.accept_bytes(one, "fw-1")
    assert len(taskbytes._VARIABLES) <= taskbytes._MEMO_MAX
    assert len(taskbytes._LABELS) <= taskbytes._MEMO_MAX
    assert len(taskbytes._LABEL_RUNS) <= taskbytes._MEMO_MAX
    assert len(taskbytes._RESOURCES) <= taskbytes._MEMO_MAX
    assert len(taskbytes._TEMPLATES) <= taskbytes._TEMPLATES_MAX


def _one_launch() -> tuple[Accept, TaskLaunch]:
    (effect,) = core_accepts(
        {
            "id": "/a",
            "cmd": "x",
            "instances": 1,
            "ports": ["p"],
            "health_checks": [{"protocol": "HTTP", "port": "p"}],
        },
        agents=1,
    )
    return effect, effect.launches[0]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"task_id": "t-\ud800"}, UnicodeEncodeError),
        ({"agent_id": "a-\udfff"}, UnicodeEncodeError),
        ({"env": (("K", "v-\ud800"),)}, UnicodeEncodeError),
        ({"labels": (("k-\ud800", "v"),)}, UnicodeEncodeError),
        ({"cmd": "sleep \ud800"}, UnicodeEncodeError),
        ({"ports": ()}, ValueError),  # a check on a port the task has no host port for
        ({"port_names": ("other",)}, ValueError),  # ... or one the app does not name
        ({"kill_grace_seconds": float("inf")}, OverflowError),
        ({"kill_grace_seconds": 1e12}, ValueError),  # beyond int64 nanoseconds
        ({"resources": Resources(1000, 0, 0, 0, ((1, 2**64),))}, ValueError),  # beyond uint64
        ({"container": ContainerSpec("img", (PortMapping("p", 2**32),))}, ValueError),  # beyond uint32
    ],
)
def test_what_the_message_path_refuses_is_left_to_it(
    change: dict[str, object], error: type[Exception]
) -> None:
    effect, launch = _one_launch()
    bad = replace(effect, launches=(launch, replace(launch, **change)))  # type: ignore[arg-type]
    assert taskbytes.accept_bytes(bad, "fw-1") is None
    with pytest.raises(error):
        message_path(bad, "fw-1")


def test_unencodable_framework_or_offer_id_is_left_to_the_message_path() -> None:
    effect, _ = _one_launch()
    assert taskbytes.accept_bytes(effect, "fw-\ud800") is None
    assert taskbytes.accept_bytes(replace(effect, offer_ids=("o-\ud800",)), "fw-1") is None


def test_negative_kill_grace_is_written_as_int64() -> None:
    # The core never makes one; the wire form is still the message path's (ten-byte varint).
    effect, launch = _one_launch()
    odd = replace(effect, launches=(replace(launch, kill_grace_seconds=-2.5),))
    assert taskbytes.accept_bytes(odd, "fw-1") == message_path(odd, "fw-1")


def test_per_port_memos_stay_bounded_and_right_past_their_bound() -> None:
    (effect,) = core_accepts(
        {
            "id": "/c",
            "instances": 1,
            "ports": ["http", "admin"],
            "container": {"image": "img", "port_mappings": [{"port": "http", "container_port": 80}]},
            "health_checks": [{"protocol": "TCP", "port": "admin"}],  # on its host port: per task
            "readiness_checks": [{"protocol": "HTTP", "port": "admin", "path": "/ready"}],
        },
        agents=1,
    )
    launch = effect.launches[0]
    for n in range(taskbytes._PORTS_MAX + 10):
        ports = (20_000 + n, 40_000 + n)
        one = replace(effect, launches=(replace(launch, ports=ports),))
        body = taskbytes.accept_bytes(one, "fw-1")
        if n % 101 == 0 or n >= taskbytes._PORTS_MAX:
            assert body == message_path(one, "fw-1")
    (template,) = [t for t in taskbytes._TEMPLATES.values() if t.keep[0] is launch.container]
    assert len(template.by_port) <= taskbytes._PORTS_MAX
    assert len(template.by_ports) <= taskbytes._PORTS_MAX
