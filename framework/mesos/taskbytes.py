"""ACCEPT calls straight to protobuf bytes: the body `encode_call(calls_for(accept)[0], PROTOBUF)`
gives, written without building the Call message.

Why: every launched task goes out in an ACCEPT, and building its TaskInfo message (resources,
command, environment, labels, checks) and serializing it was about 11 us of Gantry CPU per task,
a tenth of an end-to-end launch. Most of a TaskInfo is the same for every instance of one app
version, so its bytes are worked out once (`_Template`) and only what differs per task (task and
agent id, port ranges, the environment values and labels that vary, check ports) is encoded per
task, through small bounded memos.

What pins it: the bytes must be exactly what upb's SerializeToString writes for the message
`codec.calls_for` builds: fields in field-number order in every message, every length a varint,
proto2 presence (a field that was set is written even when it holds its default:
`delay_seconds: 0.0`, `type: SCALAR` (0), an empty `environment`, an empty label value). The
property test in tests/unit/test_taskbytes.py compares both paths byte for byte on generated
launches; the codec stays the reference, and a change there must be mirrored here (the test
fails until it is).

Caller: `MesosClient.submit` (protobuf content type only; JSON keeps the message path). Anything
this module does not handle (a string UTF-8 cannot encode, a check naming a port with no host port,
an integer out of its field's range) yields None, and the caller takes the message path, which
raises what it always raised. Must not: change what goes on the wire, or hold more than its bounded
caches.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from framework.core.effects import Accept, TaskLaunch
from framework.core.resources import Resources, from_milli
from framework.core.spec import CheckProtocol, ContainerSpec, HealthCheckSpec, ReadinessCheckSpec
from framework.mesos.codec import BRIDGE_NETWORK
from framework.mesos.wire import varint as _varint
from proto.mesos.v1 import mesos_pb2 as mesos
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

__all__ = ["accept_bytes"]

_DOUBLE = struct.Struct("<d").pack
_UINT32 = 1 << 32
_UINT64 = 1 << 64
_INT64 = 1 << 63
_NANOS = 1_000_000_000


# ---- wire primitives ----------------------------------------------------------------------------
# A tag byte is (field number << 3) | wire type: 0 varint, 1 fixed 64-bit, 2 length-delimited.
# Every field used here has a number below 16, so each tag is one byte, written as a literal with the
# field's name beside it.


_SIZES_MAX = 1 << 12  # lengths below 4 KiB (any TaskInfo of a sane app) come from a table
_SIZES = [_varint(n) for n in range(_SIZES_MAX)]


def _id_head(tag: bytes, n: int) -> bytes:
    """What precedes the n bytes of an id's value in an id message (`_id`) as field `tag`."""
    inner = b"\x0a" + _varint(n)
    return tag + _varint(len(inner) + n) + inner


_ID_HEADS_MAX = 1 << 10  # task ids shorter than this take their head from the table
_TASK_ID_HEADS = [_id_head(b"\x12", n) for n in range(_ID_HEADS_MAX)]  # TaskInfo.task_id (2)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes or sub-message)."""
    n = len(payload)
    return tag + (_SIZES[n] if n < _SIZES_MAX else _varint(n)) + payload


def _string(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode())  # UnicodeEncodeError (a lone surrogate): caller returns None


def _id(tag: bytes, value: str) -> bytes:
    """An id message ({value (1): string}) as field `tag`."""
    return _field(tag, _string(b"\x0a", value))


def _uint32(tag: bytes, value: int) -> bytes:
    if not 0 <= value < _UINT32:
        raise ValueError(f"{value} is out of range for uint32")
    return tag + _varint(value)


def _int64(tag: bytes, value: int) -> bytes:
    if not -_INT64 <= value < _INT64:
        raise ValueError(f"{value} is out of range for int64")
    return tag + _varint(value % _UINT64)  # a negative int64 is its two's complement, ten bytes


def _double(tag: bytes, value: float) -> bytes:
    return tag + _DOUBLE(value)


# ---- the per-app-version part of a TaskInfo ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    """What the TaskInfos of launches sharing a template key have in common, as bytes.

    `keep` holds the objects whose id() is part of the key, so no other object can take that id
    while the template is cached; they are frozen values (ContainerSpec, tuples of check specs), so
    the same object always encodes the same. A check or port mapping on a host port cannot be precomputed: its
    index into `launch.ports` is kept instead, and the bytes per port are memoised."""

    keep: tuple[object, ...]
    name: bytes  # TaskInfo.name (1)
    command_tail: bytes  # CommandInfo.value (3) and .shell (6), after the per-task environment (2)
    kill: bytes  # TaskInfo.kill_policy (12)
    container: bytes  # TaskInfo.container (9) when it has no port mappings, else its leading fields
    mappings: tuple[tuple[int, bytes], ...]  # (host port index, bytes after host_port) per mapping
    health: bytes  # TaskInfo.health_check (8), when its port is fixed (or it has none)
    health_at: int  # index into launch.ports of a host-port health check, else -1
    health_spec: HealthCheckSpec | None
    check: bytes  # TaskInfo.check (13), when its port is fixed (or there is none)
    check_at: int  # index into launch.ports of a host-port readiness check, else -1
    check_spec: ReadinessCheckSpec | None
    by_port: dict[tuple[int, int], bytes]  # (8 or 13, port) -> the check's bytes on that port
    by_ports: dict[tuple[int, ...], bytes]  # the task's host ports -> its container (9) field
    on_ports: bool  # anything on a host port (else `middle` and `check` are the whole story)
    middle: bytes  # health + container, when fixed


def _template(launch: TaskLaunch) -> _Template:
    # CommandInfo value (3) and shell (6) = true; without cmd, shell = false: the image's entrypoint.
    command_tail = b"\x30\x00" if launch.cmd is None else _string(b"\x1a", launch.cmd) + b"\x30\x01"
    nanos = round(launch.kill_grace_seconds * _NANOS)
    # kill_policy (12) = {grace_period (1) = DurationInfo {nanoseconds (1)}}
    kill = _field(b"\x62", _field(b"\x0a", _int64(b"\x08", nanos)))
    container: bytes = b""
    mappings: tuple[tuple[int, bytes], ...] = ()
    if launch.container is not None:
        container, mappings = _container(launch.container, launch.port_names)
    health, health_at, health_spec = b"", -1, None
    if launch.health_checks:
        health_spec = launch.health_checks[0]
        if health_spec.protocol is CheckProtocol.COMMAND:
            health_at, fixed = -1, 0
        else:
            health_at, fixed = _check_port(launch, _required(health_spec.port))
        if health_at < 0:
            health = _health(health_spec, fixed)
    check, check_at, check_spec = b"", -1, None
    if launch.readiness_checks:
        check_spec = launch.readiness_checks[0]
        check_at, fixed = _check_port(launch, check_spec.port)
        if check_at < 0:
            check = _readiness(check_spec, fixed)
    return _Template(
        keep=(launch.container, launch.health_checks, launch.readiness_checks),
        name=_string(b"\x0a", launch.name),
        command_tail=command_tail,
        kill=kill,
        container=container,
        mappings=mappings,
        health=health,
        health_at=health_at,
        health_spec=health_spec,
        check=check,
        check_at=check_at,
        check_spec=check_spec,
        by_port={},
        by_ports={},
        on_ports=health_at >= 0 or check_at >= 0 or bool(mappings),
        middle=health + container,
    )


def _required(value: str | None) -> str:
    if not value:
        raise ValueError("health check without a port or command")  # the message path says which
    return value


def _check_port(launch: TaskLaunch, port_name: str) -> tuple[int, int]:
    """(-1, port) for a check on a fixed port, (index into launch.ports, 0) for one on a host port.

    As codec._check_port: checks run in the task's network namespace, so a mapped port is checked
    on its container side."""
    if launch.container is not None:
        for mapping in launch.container.port_mappings:
            if mapping.port == port_name:
                return -1, mapping.container_port
    return launch.port_names.index(port_name), 0  # ValueError for an unknown name: message path


def _container(
    container: ContainerSpec, port_names: tuple[str, ...]
) -> tuple[bytes, tuple[tuple[int, bytes], ...]]:
    """TaskInfo.container (9) without port mappings; with them, the fields before network_infos and,
    per mapping, the index of its host port and the PortMapping fields after host_port."""
    # Image {type (1) = DOCKER, docker (3) = {name (1)}}
    image = b"\x08" + _varint(mesos.Image.DOCKER) + _field(b"\x1a", _string(b"\x0a", container.image))
    # ContainerInfo {type (1) = MESOS, mesos (5) = MesosInfo {image (1)}}
    head = b"\x08" + _varint(mesos.ContainerInfo.MESOS) + _field(b"\x2a", _field(b"\x0a", image))
    if not container.port_mappings:
        return _field(b"\x4a", head), ()
    mappings = tuple(
        # PortMapping {host_port (1) per task, container_port (2), protocol (3)}
        (port_names.index(m.port), _uint32(b"\x10", m.container_port) + _string(b"\x1a", m.protocol.value))
        for m in container.port_mappings
    )
    return head, mappings


def _network(template: _Template, ports: tuple[int, ...]) -> bytes:
    """TaskInfo.container (9) of a container with port mappings, on this task's host ports (which
    repeat across agents: remembered per ports tuple)."""
    # NetworkInfo {name (6), port_mappings (7) ...}
    network = _BRIDGE_NAME + b"".join(
        [_field(b"\x3a", _uint32(b"\x08", ports[at]) + rest) for at, rest in template.mappings]
    )
    encoded = _field(b"\x4a", template.container + _field(b"\x3a", network))  # network_infos (7)
    if len(template.by_ports) >= _PORTS_MAX:
        template.by_ports.clear()
    template.by_ports[ports] = encoded
    return encoded


_BRIDGE_NAME = _string(b"\x32", BRIDGE_NETWORK)


def _health(spec: HealthCheckSpec, port: int) -> bytes:
    """TaskInfo.health_check (8), as codec._set_health_check fills it (HealthCheck's fields in number
    order: http 1, delay 2, interval 3, timeout 4, consecutive_failures 5, grace 6, command 7, type 8,
    tcp 9)."""
    http = command = tcp = b""
    match spec.protocol:
        case CheckProtocol.HTTP:
            # HTTPCheckInfo {port (1), path (2), scheme (3)}
            fields = _uint32(b"\x08", port) + _string(b"\x12", spec.path or "/") + _string(b"\x1a", "http")
            http = _field(b"\x0a", fields)
            kind = mesos.HealthCheck.HTTP
        case CheckProtocol.TCP:
            tcp = _field(b"\x4a", _uint32(b"\x08", port))  # TCPCheckInfo {port (1)}
            kind = mesos.HealthCheck.TCP
        case CheckProtocol.COMMAND:
            # CommandInfo {value (3), shell (6) = true}
            command = _field(b"\x3a", _string(b"\x1a", _required(spec.command)) + b"\x30\x01")
            kind = mesos.HealthCheck.COMMAND
    body = b"".join(
        (
            http,
            _double(b"\x11", 0.0),  # delay_seconds: set, so written although 0
            _double(b"\x19", spec.interval_seconds),
            _double(b"\x21", spec.timeout_seconds),
            _uint32(b"\x28", spec.max_consecutive_failures),
            _double(b"\x31", spec.grace_period_seconds),
            command,
            b"\x40" + _varint(kind),
            tcp,
        )
    )
    return _field(b"\x42", body)


def _readiness(spec: ReadinessCheckSpec, port: int) -> bytes:
    """TaskInfo.check (13): CheckInfo {type (1) = HTTP, http (3) = {port (1), path (2)}, delay (4) = 0,
    interval (5)}, as codec._set_readiness_check fills it."""
    http = _field(b"\x1a", _uint32(b"\x08", port) + _string(b"\x12", spec.path))
    body = b"\x08" + _varint(mesos.CheckInfo.HTTP) + http + _double(b"\x21", 0.0)
    return _field(b"\x6a", body + _double(b"\x29", spec.interval_seconds))


# ---- bounded caches ------------------------------------------------------------------------------
# Each is cleared when it reaches its bound (as codec._ACK_PREFIXES): what repeats (one app version's
# template, its constant environment variables, port numbers) is back after one miss, and per-task
# values (task ids) cannot grow them without limit.

_MEMO_MAX = 8192
_TEMPLATES: dict[tuple[object, ...], _Template] = {}
_TEMPLATES_MAX = 64
_PORTS_MAX = 1024  # per template: checks and port mappings on host ports, by port
_VARIABLES: dict[tuple[str, str], bytes] = {}  # (name, value) -> Environment.variables (1) entry
_LABELS: dict[tuple[str, str], bytes] = {}  # (key, value) -> Labels.labels (1) entry
_LABEL_RUNS: dict[tuple[tuple[str, str], ...], bytes] = {}  # labels but the last -> their entries
_RESOURCES: dict[tuple[object, ...], bytes] = {}  # (role, scalars, ports) -> TaskInfo.resources (4)
_PREFIXES: dict[str, bytes] = {}  # framework id -> Call.framework_id (1) and type (2) = ACCEPT

_VARIABLE_TYPE = b"\x18" + _varint(mesos.Environment.Variable.VALUE)  # Variable.type (3) = VALUE
_SCALAR_NAMES = ("cpus", "mem", "disk", "gpus")  # codec._SCALARS: the order the message path adds them


# Names whose values differ for every task of an app (TaskLaunch documents the env and labels):
# remembering them would only push out what repeats. Anything else (HOST, PORT*) repeats across the
# tasks of an agent or across agents of one size.
_PER_TASK = frozenset({"GANTRY_TASK_ID", "GANTRY_INSTANCE", "gantry.slot"})
# Per name (or label key), the bytes of an entry up to its value, for each value length below
# _SHORT: a miss is then one concatenation. A Variable ends with its type (3) after the value.
_SHORT = 64
_NAMES_MAX = 256
_VARIABLE_HEADS: dict[str, list[bytes]] = {}
_LABEL_HEADS: dict[str, list[bytes]] = {}


def _heads(name: str, tail: int, into: dict[str, list[bytes]]) -> list[bytes]:
    """Entry {name (1), value (2) of length n, `tail` more bytes} up to the value, for n < _SHORT."""
    head = _string(b"\x0a", name) + b"\x12"
    heads = [b"\x0a" + _varint(len(head) + 1 + n + tail) + head + _SIZES[n] for n in range(_SHORT)]
    if len(into) >= _NAMES_MAX:
        into.clear()
    into[name] = heads
    return heads


# _variable and _label are written out (no shared helper): a miss happens for every task (its
# GANTRY_TASK_ID, GANTRY_INSTANCE and gantry.slot), and a call more per miss was a tenth of a TaskInfo.


def _variable(pair: tuple[str, str]) -> bytes:
    """Environment.variables (1) entry: Variable {name (1), value (2), type (3) = VALUE}."""
    name, value = pair
    raw = value.encode()
    n = len(raw)
    if n < _SHORT:
        out = (_VARIABLE_HEADS.get(name) or _heads(name, 2, _VARIABLE_HEADS))[n] + raw + _VARIABLE_TYPE
    else:
        out = _field(b"\x0a", _string(b"\x0a", name) + _string(b"\x12", value) + _VARIABLE_TYPE)
    if name not in _PER_TASK:
        if len(_VARIABLES) >= _MEMO_MAX:
            _VARIABLES.clear()
        _VARIABLES[pair] = out
    return out


def _label(pair: tuple[str, str]) -> bytes:
    """Labels.labels (1) entry: Label {key (1), value (2)}."""
    key, value = pair
    raw = value.encode()
    n = len(raw)
    if n < _SHORT:
        out = (_LABEL_HEADS.get(key) or _heads(key, 0, _LABEL_HEADS))[n] + raw
    else:
        out = _field(b"\x0a", _string(b"\x0a", key) + _string(b"\x12", value))
    if key not in _PER_TASK:
        if len(_LABELS) >= _MEMO_MAX:
            _LABELS.clear()
        _LABELS[pair] = out
    return out


def _label_run(run: tuple[tuple[str, str], ...]) -> bytes:
    get = _LABELS.get
    encoded = b"".join([get(pair) or _label(pair) for pair in run])
    if len(_LABEL_RUNS) >= _MEMO_MAX:
        _LABEL_RUNS.clear()
    _LABEL_RUNS[run] = encoded
    return encoded


def _resources(key: tuple[object, ...], role: str, resources: Resources) -> bytes:
    """TaskInfo.resources (4), as codec.add_task_resources adds them: each non-zero scalar, then the
    port ranges, each with allocation_info.role."""
    # Resource {name (1), type (2), scalar (3) or ranges (4), allocation_info (11) = {role (1)}}
    allocation = _field(b"\x5a", _string(b"\x0a", role))
    out = []
    for name, milli in zip(_SCALAR_NAMES, resources.scalars_milli(), strict=True):
        if milli > 0:
            scalar = _field(b"\x1a", _double(b"\x09", from_milli(milli)))  # Scalar {value (1)}
            head = _string(b"\x0a", name) + b"\x10" + _varint(mesos.Value.SCALAR)
            out.append(_field(b"\x22", head + scalar + allocation))
    ports = resources.ports
    if ports:
        # Ranges {range (1) = Range {begin (1), end (2)} ...}
        ranges = b"".join([_field(b"\x0a", b"\x08" + _varint(b) + b"\x10" + _varint(e)) for b, e in ports])
        body = _string(b"\x0a", "ports") + b"\x10" + _varint(mesos.Value.RANGES) + _field(b"\x22", ranges)
        out.append(_field(b"\x22", body + allocation))
    encoded = b"".join(out)
    if len(_RESOURCES) >= _MEMO_MAX:
        _RESOURCES.clear()
    _RESOURCES[key] = encoded
    return encoded


def _by_port(template: _Template, field: int, port: int) -> bytes:
    """A check on a host port: its bytes per port number (a few hundred distinct ones at most)."""
    if field == 8:
        assert template.health_spec is not None
        encoded = _health(template.health_spec, port)
    else:
        assert template.check_spec is not None
        encoded = _readiness(template.check_spec, port)
    if len(template.by_port) >= _PORTS_MAX:
        template.by_port.clear()
    template.by_port[field, port] = encoded
    return encoded


# ---- the call ------------------------------------------------------------------------------------


def _template_of(launch: TaskLaunch) -> _Template:
    # The key holds what the template's bytes derive from: values, and the id()s of the spec objects
    # a launch shares with every other launch of its app (their hash would cost more than the rest).
    key = (
        launch.name,
        launch.cmd,
        launch.kill_grace_seconds,
        launch.port_names,
        id(launch.container),
        id(launch.health_checks),
        id(launch.readiness_checks),
    )
    template = _TEMPLATES.get(key)
    if template is None:
        template = _template(launch)
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
    return template


def _on_ports(template: _Template, ports: tuple[int, ...]) -> tuple[bytes, bytes]:
    """The health_check (8) and container (9) fields, and the check (13) field, of a template whose
    checks or port mappings are on this task's host ports."""
    if template.health_at >= 0:
        port = ports[template.health_at]
        health = template.by_port.get((8, port)) or _by_port(template, 8, port)
    else:
        health = template.health
    container = (
        (template.by_ports.get(ports) or _network(template, ports))
        if template.mappings
        else template.container
    )
    if template.check_at >= 0:
        port = ports[template.check_at]
        check = template.by_port.get((13, port)) or _by_port(template, 13, port)
    else:
        check = template.check
    return health + container, check


def _task_info(launch: TaskLaunch, agent: bytes, template: _Template) -> bytes:
    """The body of one TaskInfo, fields in number order: name 1, task_id 2, agent_id 3, resources 4,
    command 7, health_check 8, container 9, labels 10, kill_policy 12, check 13.

    This runs once per launched task: every constant piece comes from the template or a memo, and
    the body is put together in one join (sizes worked out from the pieces, not by nesting)."""
    r = launch.resources
    role = launch.role
    key = (role, r.cpus_milli, r.mem_milli, r.disk_milli, r.gpus_milli, r.ports)
    resources = _RESOURCES.get(key) or _resources(key, role, r)
    variables = _VARIABLES.get
    env = b"".join([variables(pair) or _variable(pair) for pair in launch.env])
    # command (7) = CommandInfo {environment (2) (written even when empty), value (3), shell (6)}
    n = len(env)
    env_size = _SIZES[n] if n < _SIZES_MAX else _varint(n)
    tail = template.command_tail
    n += 1 + len(env_size) + len(tail)
    task = launch.task_id.encode()
    m = len(task)
    task_head = _TASK_ID_HEADS[m] if m < _ID_HEADS_MAX else _id_head(b"\x12", m)
    if template.on_ports:
        middle, check = _on_ports(template, launch.ports)
    else:
        middle, check = template.middle, template.check
    labels = launch.labels
    if labels:
        # All but the last label in one lookup: the last is the one that varies (gantry.slot).
        run = labels[:-1]
        head = _LABEL_RUNS.get(run)
        if head is None:
            head = _label_run(run)
        last = _LABELS.get(labels[-1]) or _label(labels[-1])
        m = len(head) + len(last)
        labels_head = b"\x52" + _SIZES[m] if m < _SIZES_MAX else b"\x52" + _varint(m)  # labels (10)
    else:
        labels_head = head = last = b""
    return b"".join(
        (
            template.name,
            task_head,
            task,
            agent,
            resources,
            b"\x3a",
            _SIZES[n] if n < _SIZES_MAX else _varint(n),
            b"\x12",
            env_size,
            env,
            tail,
            middle,
            labels_head,
            head,
            last,
            template.kill,
            check,
        )
    )


def _accept(effect: Accept, framework_id: str) -> bytes:
    prefix = _PREFIXES.get(framework_id)
    if prefix is None:
        prefix = _id(b"\x0a", framework_id) + b"\x10" + _varint(scheduler.Call.ACCEPT)
        if len(_PREFIXES) >= 16:
            _PREFIXES.clear()
        _PREFIXES[framework_id] = prefix
    # Accept {offer_ids (1) ..., operations (2), filters (3) = {refuse_seconds (1)}}
    parts = [_id(b"\x0a", offer_id) for offer_id in effect.offer_ids]
    if effect.launches:
        agents: dict[str, bytes] = {}  # one agent per ACCEPT: its id is encoded once
        tasks: list[bytes] = []
        last: TaskLaunch | None = None
        template: _Template | None = None
        for launch in effect.launches:
            agent = agents.get(launch.agent_id)
            if agent is None:
                agent = agents[launch.agent_id] = _id(b"\x1a", launch.agent_id)
            # The launches of one ACCEPT are mostly of one app: the same objects as the launch before
            # mean the same template, without building and hashing its key.
            if not (
                last is not None
                and launch.container is last.container
                and launch.health_checks is last.health_checks
                and launch.readiness_checks is last.readiness_checks
                and launch.port_names is last.port_names
                and launch.cmd is last.cmd
                and launch.kill_grace_seconds == last.kill_grace_seconds
                and launch.name == last.name
            ):
                template = _template_of(launch)
            last = launch
            assert template is not None
            body = _task_info(launch, agent, template)
            n = len(body)
            tasks += (b"\x0a", _SIZES[n] if n < _SIZES_MAX else _varint(n), body)  # task_infos (1)
        # Operation {type (1) = LAUNCH, launch (2) = Launch {task_infos (1) ...}}
        operation = b"\x08" + _varint(mesos.Offer.Operation.LAUNCH) + _field(b"\x12", b"".join(tasks))
        parts.append(_field(b"\x12", operation))
    parts.append(_field(b"\x1a", _double(b"\x09", effect.refuse_seconds)))
    return prefix + _field(b"\x22", b"".join(parts))  # Call.accept (4)


def accept_bytes(effect: Accept, framework_id: str) -> bytes | None:
    """The protobuf body of `calls_for(effect, framework_id, ...)[0]`, without building the message.

    None for anything the message path would refuse (a string UTF-8 cannot encode, a check on a port
    the task has no host port for, an integer out of its field's range, ...): the caller then takes
    the message path, which raises what it always raised."""
    try:
        return _accept(effect, framework_id)
    except (ValueError, IndexError, TypeError, AttributeError, OverflowError, struct.error):
        return None
