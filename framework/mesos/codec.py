"""Protobuf <-> framework.core: the only place where Mesos messages and core values meet.

Role: `events_from` turns a decoded scheduler `Event` into core events (`OffersReceived`,
`StatusUpdated`, ...); `calls_for` turns a core effect (`Accept`, `Kill`, ...) into scheduler `Call`s.
`subscribed_event` / `disconnected_event` build the two connection events the client itself observes.
Callers: framework/mesos/client.py only. Everything here is pure: no I/O, no clock (the client passes
`now`), and no protobuf object ever leaves framework/mesos.

Translation decisions (see /work/shared/mesos-protocol.md for the wire facts):
- Offers: only unreserved, non-revocable, non-shared resources are counted. Using reserved resources
  requires echoing their reservation back in the task, which `core.model.Offer` does not carry;
  counting them would make placement launch on resources the master then refuses.
- Attributes become text: TEXT as is, SCALAR to three decimals without trailing zeros ("3", "1.5"),
  RANGES as "[1-5,7]", SET as "{a,b}".
- Tasks (LAUNCH, command executor): resources from the offer's role with `allocation_info`, host ports
  as RANGES covering exactly the allocated ports; a container image means ContainerInfo MESOS with a
  DOCKER image (the unified containerizer), with port mappings on the "mesos-bridge" CNI network.
  Mesos allows one health check and one generic check per task: the first health check and the first
  readiness check are carried; a named check port becomes the container port when it is mapped (the
  executor checks inside the task's network namespace) and the host port otherwise.
- KillPolicy grace periods are DurationInfo nanoseconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, assert_never

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from framework.core.effects import (
    Accept,
    Acknowledge,
    Decline,
    Kill,
    MesosCall,
    Reconcile,
    Revive,
    Suppress,
    TaskLaunch,
)
from framework.core.events import (
    AgentFailed,
    Disconnected,
    ExecutorFailed,
    OfferRescinded,
    OffersReceived,
    StatusUpdated,
    Subscribed,
    TaskState,
)
from framework.core.events import Event as CoreEvent
from framework.core.model import Offer
from framework.core.resources import Resources, from_milli, normalize_ranges, to_milli
from framework.core.spec import CheckProtocol, HealthCheckSpec, ReadinessCheckSpec
from framework.mesos.wire import EventDecodeError
from framework.mesos.wire import varint as _varint
from proto.mesos.v1 import mesos_pb2 as mesos
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

# The CNI network the Mesos containerizer's port-mapper plugin conventionally uses for bridge mode.
BRIDGE_NETWORK = "mesos-bridge"
_NANOS = 1_000_000_000
_SCALARS = ("cpus", "mem", "disk", "gpus")
RECONCILE_CHUNK = 5_000  # tasks per RECONCILE call (see calls_for)
_VALUE = mesos.Environment.Variable.VALUE


# ---- events -----------------------------------------------------------------------------------------


def subscribed_event(subscribed: scheduler.Event.Subscribed, master_url: str, now: float) -> Subscribed:
    info = subscribed.master_info
    master = info.pid if subscribed.HasField("master_info") and info.pid else master_url
    return Subscribed(now=now, framework_id=subscribed.framework_id.value, master=master)


def disconnected_event(reason: str, now: float) -> Disconnected:
    return Disconnected(now=now, reason=reason)


def events_from(event: scheduler.Event, now: float) -> list[CoreEvent]:
    """Core events for one stream event. SUBSCRIBED, HEARTBEAT and ERROR are the client's business;
    maintenance (inverse offers), operation feedback and executor MESSAGEs are not used by Gantry."""
    match event.type:
        case scheduler.Event.OFFERS:
            return [OffersReceived(now=now, offers=tuple(offer_from(o) for o in event.offers.offers))]
        case scheduler.Event.RESCIND:
            return [OfferRescinded(now=now, offer_id=event.rescind.offer_id.value)]
        case scheduler.Event.UPDATE:
            return [status_from(event.update.status, now)]
        case scheduler.Event.FAILURE:
            return _failure(event.failure, now)
        case _:
            return []


def _failure(failure: scheduler.Event.Failure, now: float) -> list[CoreEvent]:
    agent = failure.agent_id.value if failure.HasField("agent_id") else None
    if failure.HasField("executor_id"):
        status = failure.status if failure.HasField("status") else None
        return [ExecutorFailed(now=now, agent_id=agent, executor_id=failure.executor_id.value, status=status)]
    if agent is not None:
        return [AgentFailed(now=now, agent_id=agent)]
    return []


# An agent's offers repeat round after round with the same resources (10,000 a second from a large
# idle cluster while a launch is capped), and decoding them was 20 us an offer: the Resources value
# (immutable) is remembered by the bytes of each of the offer's Resource messages. Cleared when it grows past
# the bound, which only a cluster whose free resources never repeat reaches.
_OFFERED: dict[tuple[bytes, ...], Resources] = {}
_OFFERED_MAX = 50_000


def offer_from(offer: mesos.Offer) -> Offer:
    role = offer.allocation_info.role if offer.allocation_info.role else _first_role(offer.resources)
    key = tuple([r.SerializeToString() for r in offer.resources])
    resources = _OFFERED.get(key)
    if resources is None:
        resources = resources_from(offer.resources)
        if len(_OFFERED) >= _OFFERED_MAX:
            _OFFERED.clear()
        _OFFERED[key] = resources
    return Offer(
        offer_id=offer.id.value,
        agent_id=offer.agent_id.value,
        hostname=offer.hostname,
        role=role,
        resources=resources,
        attributes={a.name: attribute_text(a) for a in offer.attributes} if offer.attributes else {},
    )


def _first_role(resources: Iterable[mesos.Resource]) -> str:
    for resource in resources:
        if resource.allocation_info.role:
            return resource.allocation_info.role
    return "*"


def _usable(resource: mesos.Resource) -> bool:
    # Unreserved in both the pre-refinement (role/reservation) and the refined (reservations) format.
    return (
        resource.role in ("", "*")
        and not resource.HasField("reservation")
        and not resource.reservations
        and not resource.HasField("revocable")
        and not resource.HasField("shared")
        and not resource.HasField("disk")
        and not resource.HasField("provider_id")
    )


def resources_from(resources: Iterable[mesos.Resource]) -> Resources:
    scalars = dict.fromkeys(_SCALARS, 0)
    ports: list[tuple[int, int]] = []
    for resource in resources:
        if not _usable(resource):
            continue
        if resource.name in scalars and resource.type == mesos.Value.SCALAR:
            scalars[resource.name] += max(0, to_milli(resource.scalar.value))
        elif resource.name == "ports" and resource.type == mesos.Value.RANGES:
            ports.extend((r.begin, r.end) for r in resource.ranges.range)
    # Already in thousandths: built directly rather than through Resources.of's float round trip
    # (10,000 offers arrive at once after a subscription).
    milli = scalars["cpus"], scalars["mem"], scalars["disk"], scalars["gpus"]
    return Resources(*milli, normalize_ranges(ports))


def _scalar_text(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def attribute_text(attribute: mesos.Attribute) -> str:
    match attribute.type:
        case mesos.Value.TEXT:
            return attribute.text.value
        case mesos.Value.SCALAR:
            return _scalar_text(attribute.scalar.value)
        case mesos.Value.RANGES:
            return "[" + ",".join(f"{r.begin}-{r.end}" for r in attribute.ranges.range) + "]"
        case mesos.Value.SET:
            return "{" + ",".join(attribute.set.item) + "}"
        case _:
            return ""


def _names(enum: Any) -> dict[int, str]:
    """Number -> name of a protobuf enum, as its `Name()` answers (the first name of an alias)."""
    return {number: value.name for number, value in enum.DESCRIPTOR.values_by_number.items()}


# Lookup tables, not `Enum.Name()` per update: a restart reconciles 100,000 tasks, one update each.
_TASK_STATES = {mesos.TaskState.Value(state.value): state for state in TaskState}  # all in mesos.proto
_REASONS = _names(mesos.TaskStatus.Reason)  # a reason newer than our proto: None (unknown beats wrong)
_SOURCES = _names(mesos.TaskStatus.Source)


# StatusUpdated is a frozen dataclass, so its __init__ stores each of its 11 fields through
# object.__setattr__: two thirds of status_from's time. The fields' own slot setters store the same
# values for a third of that, and the object is the one __init__ would have built (the class has no
# __post_init__ or defaults to compute; tests/unit/test_codec_fast_status.py compares the two).
# The field order is checked here, at import: a field added to StatusUpdated must fail loudly rather
# than be left unset.
_STATUS_FIELDS = (
    "now", "task_id", "state", "agent_id", "healthy", "reason", "message", "source", "uuid", "timestamp",
    "executor_id",
)  # fmt: skip
if tuple(f.name for f in dataclasses.fields(StatusUpdated)) != _STATUS_FIELDS or hasattr(
    StatusUpdated, "__post_init__"
):
    raise ImportError("codec.status_from is out of step with framework.core.events.StatusUpdated")
_new_update = object.__new__
(
    _set_now, _set_task_id, _set_state, _set_agent_id, _set_healthy, _set_reason, _set_message,
    _set_source, _set_uuid, _set_timestamp, _set_executor_id,
) = (getattr(StatusUpdated, name).__set__ for name in _STATUS_FIELDS)  # fmt: skip


def status_from(status: mesos.TaskStatus, now: float) -> StatusUpdated:
    """The core event for one TaskStatus (two per launched task, and every reconciliation reply)."""
    state = _TASK_STATES.get(status.state)
    if state is None:
        raise EventDecodeError(f"task {status.task_id.value}: unknown task state {status.state}")
    has = status.HasField
    update: StatusUpdated = _new_update(StatusUpdated)
    _set_now(update, now)
    _set_task_id(update, status.task_id.value)
    _set_state(update, state)
    _set_agent_id(update, status.agent_id.value if has("agent_id") else None)
    _set_healthy(update, status.healthy if has("healthy") else None)
    _set_reason(update, _REASONS.get(status.reason) if has("reason") else None)
    _set_message(update, status.message if has("message") else None)
    _set_source(update, _SOURCES.get(status.source) if has("source") else None)
    # Only agent/executor updates carry a uuid, and only those may be acknowledged. An unset bytes
    # field reads b"", so `or None` is "present and not empty" without a HasField.
    _set_uuid(update, status.uuid or None)
    _set_timestamp(update, status.timestamp if has("timestamp") else None)
    _set_executor_id(update, status.executor_id.value if has("executor_id") else None)
    return update


# ---- calls ------------------------------------------------------------------------------------------


def calls_for(effect: MesosCall, framework_id: str, roles: tuple[str, ...]) -> list[scheduler.Call]:
    """The scheduler calls that perform `effect`. `roles` are the framework's (for SUPPRESS/REVIVE).

    An explicit reconciliation of more than RECONCILE_CHUNK tasks becomes several RECONCILE calls: the
    master answers a call only once it has looked up every task in it, so one call of 100,000 tasks
    (every subscription after a restart at scale) leaves the stream silent until all 100,000 answers
    exist. In chunks, answers to the first arrive (and are handled) while the master works on the next.
    """
    if isinstance(effect, Reconcile) and len(effect.tasks) > RECONCILE_CHUNK:
        tasks = effect.tasks
        chunks = (Reconcile(tasks[i : i + RECONCILE_CHUNK]) for i in range(0, len(tasks), RECONCILE_CHUNK))
        return [call for chunk in chunks for call in calls_for(chunk, framework_id, roles)]
    call = scheduler.Call(type=_call_type(effect))
    call.framework_id.value = framework_id
    match effect:
        case Accept():
            accept = call.accept
            accept.offer_ids.extend(mesos.OfferID(value=o) for o in effect.offer_ids)
            if effect.launches:
                operation = accept.operations.add(type=mesos.Offer.Operation.LAUNCH)
                task_infos = operation.launch.task_infos
                for launch in effect.launches:
                    # Filled in place: building each TaskInfo apart and copying it in (extend)
                    # was a third of an ACCEPT's encoding at 10 launches per call.
                    fill_task_info(task_infos.add(), launch)
            accept.filters.refuse_seconds = effect.refuse_seconds
        case Decline():
            call.decline.offer_ids.extend(mesos.OfferID(value=o) for o in effect.offer_ids)
            call.decline.filters.refuse_seconds = effect.refuse_seconds
        case Kill():
            call.kill.task_id.value = effect.task_id
            if effect.agent_id is not None:
                call.kill.agent_id.value = effect.agent_id
            if effect.grace_seconds is not None:
                call.kill.kill_policy.grace_period.nanoseconds = _nanos(effect.grace_seconds)
        case Acknowledge():
            call.acknowledge.agent_id.value = effect.agent_id
            call.acknowledge.task_id.value = effect.task_id
            call.acknowledge.uuid = effect.uuid
        case Reconcile():
            call.reconcile.SetInParent()  # an empty list still needs the sub-message (implicit)
            for task in effect.tasks:
                entry = call.reconcile.tasks.add()
                entry.task_id.value = task.task_id
                if task.agent_id is not None:
                    entry.agent_id.value = task.agent_id
        case Suppress():
            call.suppress.roles.extend(roles)
        case Revive():
            call.revive.roles.extend(roles)
        case _:
            assert_never(effect)
    return [call]


# ---- ACKNOWLEDGE, straight to bytes ------------------------------------------------------------
#
# Two ACKNOWLEDGEs per launched task: building a Call message and serializing it was most of an
# ACK's cost in Gantry. The bytes are what upb's SerializeToString writes for the Call `calls_for`
# builds (fields in number order, every length a varint; tests/unit/test_codec.py checks them
# against it on arbitrary input): Call{framework_id (1), type (2) = ACKNOWLEDGE, acknowledge (8) =
# {agent_id (1), task_id (2), uuid (3)}}.

_ACK_PREFIXES: dict[str, bytes] = {}  # framework id -> the bytes of fields 1 and 2 (one id per run)


_SMALL = [bytes([n]) for n in range(128)]


def _id_message(tag: bytes, raw: bytes) -> bytes:
    """Field `tag` holding an id message ({value (1): string}) whose value is `raw`."""
    size = len(raw)
    inner = (b"\x0a" + _SMALL[size] if size < 128 else b"\x0a" + _varint(size)) + raw
    size = len(inner)
    return tag + (_SMALL[size] if size < 128 else _varint(size)) + inner


def acknowledge_bytes(effect: Acknowledge, framework_id: str) -> bytes | None:
    """The protobuf body of `calls_for(effect, framework_id, ...)`, without building the message.

    None when an id is not encodable as UTF-8 (a lone surrogate): the caller then takes the
    message path, which raises what it always raised."""
    try:
        agent = effect.agent_id.encode()
        task = effect.task_id.encode()
        prefix = _ACK_PREFIXES.get(framework_id)
        if prefix is None:
            prefix = (
                _id_message(b"\x0a", framework_id.encode()) + b"\x10" + _SMALL[scheduler.Call.ACKNOWLEDGE]
            )
            if len(_ACK_PREFIXES) >= 16:
                _ACK_PREFIXES.clear()
            _ACK_PREFIXES[framework_id] = prefix
    except UnicodeEncodeError:
        return None
    uuid = effect.uuid
    size = len(uuid)
    body = b"".join(
        (
            _id_message(b"\x0a", agent),
            _id_message(b"\x12", task),
            b"\x1a",
            _SMALL[size] if size < 128 else _varint(size),
            uuid,
        )
    )
    size = len(body)
    return b"".join((prefix, b"\x42", _SMALL[size] if size < 128 else _varint(size), body))


def _call_type(effect: MesosCall) -> scheduler.Call.Type.ValueType:
    match effect:
        case Accept():
            return scheduler.Call.ACCEPT
        case Decline():
            return scheduler.Call.DECLINE
        case Kill():
            return scheduler.Call.KILL
        case Acknowledge():
            return scheduler.Call.ACKNOWLEDGE
        case Reconcile():
            return scheduler.Call.RECONCILE
        case Suppress():
            return scheduler.Call.SUPPRESS
        case Revive():
            return scheduler.Call.REVIVE
        case _:
            assert_never(effect)


def _nanos(seconds: float) -> int:
    return round(seconds * _NANOS)


def task_info(launch: TaskLaunch) -> mesos.TaskInfo:
    task = mesos.TaskInfo()
    fill_task_info(task, launch)
    return task


def fill_task_info(task: mesos.TaskInfo, launch: TaskLaunch) -> None:
    """Write `launch` into an empty TaskInfo (one that is already where it belongs: no copy)."""
    task.name = launch.name
    task.task_id.value = launch.task_id
    task.agent_id.value = launch.agent_id
    add_task_resources(task.resources, launch.resources, launch.role)
    _set_command(task.command, launch)
    if launch.labels:
        labels = task.labels.labels
        for key, value in launch.labels:
            labels.add(key=key, value=value)
    if launch.container is not None:
        _set_container(task.container, launch)
    if launch.health_checks:
        _set_health_check(task.health_check, launch.health_checks[0], launch)
    if launch.readiness_checks:
        _set_readiness_check(task.check, launch.readiness_checks[0], launch)
    task.kill_policy.grace_period.nanoseconds = _nanos(launch.kill_grace_seconds)


def add_task_resources(
    out: RepeatedCompositeFieldContainer[mesos.Resource], resources: Resources, role: str
) -> None:
    """Append to `out` (a TaskInfo's repeated `resources`) the scalars and exactly the given port
    ranges, all allocated to `role` (a MULTI_ROLE framework must use the offer's role; the master
    would inject it, but saying it keeps the request self-describing)."""
    for name, milli in zip(_SCALARS, resources.scalars_milli(), strict=True):
        if milli > 0:
            resource = out.add(name=name, type=mesos.Value.SCALAR)
            resource.scalar.value = from_milli(milli)
            resource.allocation_info.role = role
    if resources.ports:
        resource = out.add(name="ports", type=mesos.Value.RANGES)
        ranges = resource.ranges.range
        for begin, end in resources.ports:
            ranges.add(begin=begin, end=end)
        resource.allocation_info.role = role


def _set_command(command: mesos.CommandInfo, launch: TaskLaunch) -> None:
    if launch.cmd is not None:
        command.shell = True
        command.value = launch.cmd
    else:
        # A container without cmd: exec the image's own entrypoint (the command must still be present).
        command.shell = False
    command.environment.SetInParent()
    variables = command.environment.variables
    for name, value in launch.env:
        variables.add(name=name, value=value, type=_VALUE)


def _host_port(launch: TaskLaunch, port_name: str) -> int:
    try:
        return launch.ports[launch.port_names.index(port_name)]
    except (ValueError, IndexError) as exc:
        raise ValueError(
            f"task {launch.task_id}: no host port allocated for port name {port_name!r}"
        ) from exc


def _check_port(launch: TaskLaunch, port_name: str) -> int:
    # Checks run inside the task's network namespace: a mapped port is reached on its container side.
    if launch.container is not None:
        for mapping in launch.container.port_mappings:
            if mapping.port == port_name:
                return mapping.container_port
    return _host_port(launch, port_name)


def _set_container(container: mesos.ContainerInfo, launch: TaskLaunch) -> None:
    assert launch.container is not None
    container.type = mesos.ContainerInfo.MESOS
    container.mesos.image.type = mesos.Image.DOCKER
    container.mesos.image.docker.name = launch.container.image
    if launch.container.port_mappings:
        network = container.network_infos.add(name=BRIDGE_NETWORK)
        for mapping in launch.container.port_mappings:
            network.port_mappings.add(
                host_port=_host_port(launch, mapping.port),
                container_port=mapping.container_port,
                protocol=mapping.protocol.value,
            )


def _set_health_check(check: mesos.HealthCheck, spec: HealthCheckSpec, launch: TaskLaunch) -> None:
    # The grace period already covers the start-up; checking from the first second lets a fast task
    # turn healthy early.
    check.delay_seconds = 0.0
    check.interval_seconds = spec.interval_seconds
    check.timeout_seconds = spec.timeout_seconds
    check.grace_period_seconds = spec.grace_period_seconds
    check.consecutive_failures = spec.max_consecutive_failures
    match spec.protocol:
        case CheckProtocol.HTTP:
            check.type = mesos.HealthCheck.HTTP
            check.http.scheme = "http"
            check.http.port = _check_port(launch, _required(spec.port, "port", launch))
            check.http.path = spec.path or "/"
        case CheckProtocol.TCP:
            check.type = mesos.HealthCheck.TCP
            check.tcp.port = _check_port(launch, _required(spec.port, "port", launch))
        case CheckProtocol.COMMAND:
            check.type = mesos.HealthCheck.COMMAND
            check.command.shell = True
            check.command.value = _required(spec.command, "command", launch)
        case _:
            assert_never(spec.protocol)


def _set_readiness_check(check: mesos.CheckInfo, spec: ReadinessCheckSpec, launch: TaskLaunch) -> None:
    check.type = mesos.CheckInfo.HTTP
    check.http.port = _check_port(launch, spec.port)
    check.http.path = spec.path
    check.delay_seconds = 0.0
    check.interval_seconds = spec.interval_seconds


def _required(value: str | None, what: str, launch: TaskLaunch) -> str:
    if not value:
        raise ValueError(f"task {launch.task_id}: health check without {what}")
    return value
