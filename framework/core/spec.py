"""The app spec: the JSON a user submits, validated strictly into an immutable `AppSpec`.

Role: the one place that decides what a valid app is. The API calls `validate_app(body)` on every
POST/PUT and answers 422 with `SpecError.errors` (each a `FieldError(path, message)`); the store
persists `AppSpec.to_json()` and reads it back through `validate_app`; the scheduler core reads the
typed fields. Validation collects *every* error in one pass (a CI job should see all its mistakes at
once), and each error names the field by a path such as `health_checks[0].port` or `constraints[1][2]`.

Must not: perform I/O, consult the clock, or know about Mesos protobuf. Defaults live here and only
here (docs/app-spec.md documents them); `to_json()` writes every field out, so a stored spec does
not change meaning if a default changes later.

Round trip: `validate_app(spec.to_json()) == spec` for every valid spec (a property test checks it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final, assert_never

__all__ = [
    "AppSpec",
    "CheckProtocol",
    "ConstraintOperator",
    "ConstraintSpec",
    "ContainerSpec",
    "FieldError",
    "HealthCheckSpec",
    "PortMapping",
    "ReadinessCheckSpec",
    "SpecError",
    "app_id_slug",
    "app_version",
    "build_env",
    "normalize_app_id",
    "port_env_name",
    "validate_app",
]

# Marathon-like path ids. Segments are lowercase so an id is also a valid DNS label chain and a
# Mesos task-id prefix once '/' becomes '_' (underscore never occurs in a segment, so that mapping
# cannot make two ids collide).
_SEGMENT: Final = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
# Task ids are "<slug>.<sequence>" and Mesos caps task ids at 255 characters.
MAX_APP_ID_LENGTH: Final = 200
_PORT_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,31}")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names Gantry sets itself in every task's environment (see `port_env_name` and docs/app-spec.md).
_RESERVED_ENV: Final = re.compile(r"HOST|PORT|PORTS|PORT[0-9]+|PORT_.*|GANTRY_.*")
RESERVED_LABEL_PREFIX: Final = "gantry."
_ATTRIBUTE_NAME: Final = re.compile(r"[A-Za-z0-9_.-]+")
MAX_INSTANCES: Final = 1_000_000
MAX_PORTS: Final = 64
# Upper bounds that keep every accepted spec launchable. Mesos holds scalars as int64 thousandths
# and durations as int64 nanoseconds; a size of 1e308 would overflow Gantry's own resource
# arithmetic (and crash the scheduler on every restart, since the spec is stored). A billion cpus or
# MB, and a year, are far beyond any real task yet far inside both ranges.
MAX_SCALAR: Final = 1_000_000_000.0
MAX_SECONDS: Final = 31_536_000.0  # 365 days, the cap Mesos puts on refuse_seconds


class CheckProtocol(StrEnum):
    HTTP = "HTTP"
    TCP = "TCP"
    COMMAND = "COMMAND"


class ConstraintOperator(StrEnum):
    """Marathon's operators. The placement engine gives them meaning; this module checks their shape."""

    UNIQUE = "UNIQUE"  # no value: at most one task per distinct field value
    CLUSTER = "CLUSTER"  # optional value: all tasks on that value (or on one value, whichever comes first)
    GROUP_BY = "GROUP_BY"  # optional integer value: spread evenly over that many values
    LIKE = "LIKE"  # regex value: field must match
    UNLIKE = "UNLIKE"  # regex value: field must not match
    MAX_PER = "MAX_PER"  # integer value: at most that many tasks per distinct field value


class PortProtocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field. `path` is "(root)" when the body itself is wrong."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class SpecError(ValueError):
    """The spec is invalid; `errors` lists every problem found, in document order."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))


@dataclass(frozen=True, slots=True)
class ConstraintSpec:
    field: str  # "hostname" or an agent attribute name
    operator: ConstraintOperator
    value: str | None = None

    def to_json(self) -> list[str]:
        return [self.field, self.operator.value] + ([] if self.value is None else [self.value])


@dataclass(frozen=True, slots=True)
class PortMapping:
    """Maps the host port allocated for the named port `port` to `container_port` (bridge networking)."""

    port: str
    container_port: int
    protocol: PortProtocol = PortProtocol.TCP

    def to_json(self) -> dict[str, object]:
        return {"port": self.port, "container_port": self.container_port, "protocol": self.protocol.value}


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    image: str
    port_mappings: tuple[PortMapping, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"image": self.image, "port_mappings": [m.to_json() for m in self.port_mappings]}


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    """Run by the executor on the agent; the scheduler only sees `healthy` on status updates."""

    protocol: CheckProtocol
    port: str | None = None  # HTTP/TCP: a name from AppSpec.ports
    path: str | None = None  # HTTP only
    command: str | None = None  # COMMAND only
    interval_seconds: float = 10.0
    timeout_seconds: float = 5.0
    grace_period_seconds: float = 30.0
    max_consecutive_failures: int = 3

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"protocol": self.protocol.value}
        for key in ("port", "path", "command"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out |= {
            "interval_seconds": self.interval_seconds,
            "timeout_seconds": self.timeout_seconds,
            "grace_period_seconds": self.grace_period_seconds,
            "max_consecutive_failures": self.max_consecutive_failures,
        }
        return out


@dataclass(frozen=True, slots=True)
class ReadinessCheckSpec:
    protocol: CheckProtocol  # HTTP only
    port: str
    path: str = "/"
    statuses: tuple[int, ...] = (200,)
    interval_seconds: float = 5.0

    def to_json(self) -> dict[str, object]:
        return {
            "protocol": self.protocol.value,
            "port": self.port,
            "path": self.path,
            "statuses": list(self.statuses),
            "interval_seconds": self.interval_seconds,
        }


@dataclass(frozen=True, slots=True)
class AppSpec:
    """A validated app. Mappings are stored as key-sorted tuples of pairs so specs are hashable values."""

    id: str  # canonical: "/seg/seg"
    cmd: str | None = None
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    instances: int = 1
    ports: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    constraints: tuple[ConstraintSpec, ...] = ()
    container: ContainerSpec | None = None
    health_checks: tuple[HealthCheckSpec, ...] = ()
    readiness_checks: tuple[ReadinessCheckSpec, ...] = ()
    kill_grace_period_seconds: float = 3.0
    backoff_seconds: float = 1.0
    backoff_factor: float = 1.15
    max_launch_delay_seconds: float = 300.0

    def to_json(self) -> dict[str, object]:
        """Every field, defaults included; `cmd` and `container` are omitted when unset."""
        out: dict[str, object] = {"id": self.id}
        if self.cmd is not None:
            out["cmd"] = self.cmd
        out |= {
            "cpus": self.cpus,
            "mem": self.mem,
            "disk": self.disk,
            "instances": self.instances,
            "ports": list(self.ports),
            "env": dict(self.env),
            "labels": dict(self.labels),
            "constraints": [c.to_json() for c in self.constraints],
        }
        if self.container is not None:
            out["container"] = self.container.to_json()
        out |= {
            "health_checks": [h.to_json() for h in self.health_checks],
            "readiness_checks": [r.to_json() for r in self.readiness_checks],
            "kill_grace_period_seconds": self.kill_grace_period_seconds,
            "backoff_seconds": self.backoff_seconds,
            "backoff_factor": self.backoff_factor,
            "max_launch_delay_seconds": self.max_launch_delay_seconds,
        }
        return out

    def same_config(self, other: AppSpec) -> bool:
        """True when only `instances` differs: a scale, not a change that replaces running tasks."""
        return replace(self, instances=other.instances) == other


def normalize_app_id(raw: str) -> str:
    """'shop/web' or '/shop/web' -> '/shop/web'. Raises ValueError with a user-facing message."""
    body = raw[1:] if raw.startswith("/") else raw
    if not body:
        raise ValueError("must not be empty")
    if len(body) + 1 > MAX_APP_ID_LENGTH:
        raise ValueError(f"must be at most {MAX_APP_ID_LENGTH} characters")
    for segment in body.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"segment {segment!r} is invalid: segments are lowercase letters, digits and '-', "
                "start and end with a letter or digit, and are separated by single '/'"
            )
    return "/" + body


def app_id_slug(app_id: str) -> str:
    """'/shop/web' -> 'shop_web': usable inside Mesos task ids, which may not contain '/'."""
    return app_id.strip("/").replace("/", "_")


@functools.lru_cache(maxsize=4096)
def port_env_name(port_name: str) -> str:
    """'http-alt' -> 'PORT_HTTP_ALT' (remembered: it is asked for every launched task)."""
    return "PORT_" + port_name.upper().replace("-", "_")


def app_version(spec: AppSpec) -> str:
    """Content-addressed version: '<config digest>.<instances>'.

    The digest covers everything but `instances`, so a scale keeps the prefix (tasks are not
    replaced) while any other change gives a new prefix (tasks are replaced). The same spec always
    gets the same version, which makes re-submitting it a no-op and re-storing it idempotent."""
    config = spec.to_json()
    del config["instances"]
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return f"{hashlib.sha256(canonical.encode()).hexdigest()[:12]}.{spec.instances}"


def build_env(spec: AppSpec, version: str, task_id: str, slot: int, host: str, ports: tuple[int, ...]) \
        -> tuple[tuple[str, str], ...]:
    """The task environment: the user's env (key-sorted) followed by what Gantry sets, in a fixed
    order (docs/app-spec.md lists it). Validation reserves Gantry's names, so no key repeats."""
    gantry = [("HOST", host), ("GANTRY_APP_ID", spec.id), ("GANTRY_APP_VERSION", version),
              ("GANTRY_TASK_ID", task_id), ("GANTRY_INSTANCE", str(slot))]
    if ports:
        texts = [str(p) for p in ports]
        gantry += [("PORT", texts[0]), ("PORTS", ",".join(texts))]
        gantry += [(f"PORT{i}", text) for i, text in enumerate(texts)]
        gantry += [(port_env_name(name), text) for name, text in zip(spec.ports, texts, strict=True)]
    return spec.env + tuple(gantry)


def validate_app(data: object) -> AppSpec:
    """Validate a decoded JSON body into an AppSpec, or raise SpecError listing every problem."""
    v = _Validator()
    spec = v.app(data)
    if v.errors or spec is None:
        raise SpecError(tuple(v.errors))
    return spec


# ---------------------------------------------------------------------------------------------
# The validator. Each method returns the typed value (or None when the value is unusable) and
# appends FieldErrors; it never raises, so one pass finds every problem.

_APP_FIELDS: Final = frozenset(AppSpec.__dataclass_fields__)
_HEALTH_FIELDS: Final = frozenset(HealthCheckSpec.__dataclass_fields__)
_READINESS_FIELDS: Final = frozenset(ReadinessCheckSpec.__dataclass_fields__)
_CONTAINER_FIELDS: Final = frozenset(ContainerSpec.__dataclass_fields__)
_MAPPING_FIELDS: Final = frozenset(PortMapping.__dataclass_fields__)


def _key_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else f"{parent}[{key!r}]"


class _Validator:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    # -- primitives -------------------------------------------------------------------------

    def obj(self, value: object, path: str, allowed: frozenset[str]) -> Mapping[str, object] | None:
        if not isinstance(value, dict):
            self.err(path, "must be a JSON object")
            return None
        for key in value:
            if key not in allowed:
                self.err(_key_path(path, str(key)) if path != "(root)" else str(key), "unknown field")
        return value

    def string(self, value: object, path: str, *, pattern: re.Pattern[str] | None = None,
               hint: str = "") -> str | None:
        if not isinstance(value, str):
            self.err(path, "must be a string")
            return None
        if not value.strip():
            self.err(path, "must not be empty")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.err(path, f"is invalid: {hint}")
            return None
        return value

    def number(
        self, value: object, path: str, *, minimum: float, maximum: float, exclusive: bool = False
    ) -> float | None:
        # bool is an int in Python but never a number in JSON.
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(path, "must be a number")
            return None
        number = float(value)
        if not math.isfinite(number):
            self.err(path, "must be a finite number")
            return None
        if number < minimum or (exclusive and number == minimum):
            self.err(path, f"must be {'greater than' if exclusive else 'at least'} {minimum:g}")
            return None
        if number > maximum:
            self.err(path, f"must be at most {maximum:.0f}")
            return None
        return number

    def integer(self, value: object, path: str, *, minimum: int, maximum: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(path, "must be an integer")
            return None
        if not minimum <= value <= maximum:
            self.err(path, f"must be between {minimum} and {maximum}")
            return None
        return value

    def array(self, value: object, path: str) -> list[object] | None:
        if not isinstance(value, list):
            self.err(path, "must be an array")
            return None
        return value

    def str_map(self, value: object, path: str, key_ok: Callable[[str, str], bool]) -> dict[str, str]:
        if not isinstance(value, dict):
            self.err(path, "must be a JSON object of strings")
            return {}
        out: dict[str, str] = {}
        for key, item in value.items():
            item_path = _key_path(path, str(key))
            if not key_ok(str(key), item_path):
                continue
            if not isinstance(item, str):
                self.err(item_path, "must be a string")
                continue
            out[str(key)] = item
        return out

    # -- the app --------------------------------------------------------------------------------

    def app(self, data: object) -> AppSpec | None:
        body = self.obj(data, "(root)", _APP_FIELDS)
        if body is None:
            return None
        app_id = self.app_id(body)
        fields: dict[str, object] = {}
        self.resources(body, fields)
        ports = self.ports(body.get("ports", []))
        if "cmd" in body:
            fields["cmd"] = self.string(body["cmd"], "cmd")
        elif "container" not in body:
            self.err("cmd", "is required unless container.image is given")
        if "instances" in body:
            fields["instances"] = self.integer(
                body["instances"], "instances", minimum=0, maximum=MAX_INSTANCES
            )
        env = self.str_map(body.get("env", {}), "env", self.env_key_ok)
        labels = self.str_map(body.get("labels", {}), "labels", self.label_key_ok)
        fields["env"] = tuple(sorted(env.items()))
        fields["labels"] = tuple(sorted(labels.items()))
        fields["constraints"] = self.constraints(body.get("constraints", []))
        if "container" in body:
            fields["container"] = self.container(body["container"], ports)
        fields["health_checks"] = self.checks(body.get("health_checks", []), "health_checks", ports, True)
        fields["readiness_checks"] = self.checks(
            body.get("readiness_checks", []), "readiness_checks", ports, False
        )
        self.timing(body, fields)
        if self.errors or app_id is None:
            return None
        return AppSpec(id=app_id, ports=ports, **fields)  # type: ignore[arg-type]

    def app_id(self, body: Mapping[str, object]) -> str | None:
        if "id" not in body:
            self.err("id", "is required")
            return None
        raw = self.string(body["id"], "id")
        if raw is None:
            return None
        try:
            return normalize_app_id(raw)
        except ValueError as exc:
            self.err("id", str(exc))
            return None

    def resources(self, body: Mapping[str, object], fields: dict[str, object]) -> None:
        # Mesos keeps scalars to three decimals, so anything smaller than 0.001 would be zero on
        # the wire; values are rounded to that precision (docs/app-spec.md says so).
        for name, minimum, exclusive in (("cpus", 0.001, False), ("mem", 0.001, False), ("disk", 0.0, False)):
            if name in body:
                number = self.number(
                    body[name], name, minimum=minimum, maximum=MAX_SCALAR, exclusive=exclusive
                )
                fields[name] = None if number is None else round(number, 3)

    def timing(self, body: Mapping[str, object], fields: dict[str, object]) -> None:
        for name, minimum, maximum in (
            ("kill_grace_period_seconds", 0.0, MAX_SECONDS),
            ("backoff_seconds", 0.0, MAX_SECONDS),
            ("backoff_factor", 1.0, math.inf),  # any factor: the delay is capped below
            ("max_launch_delay_seconds", 0.0, MAX_SECONDS),
        ):
            if name in body:
                fields[name] = self.number(body[name], name, minimum=minimum, maximum=maximum)

    def ports(self, value: object) -> tuple[str, ...]:
        items = self.array(value, "ports")
        if items is None:
            return ()
        if len(items) > MAX_PORTS:
            self.err("ports", f"must have at most {MAX_PORTS} entries")
        names: list[str] = []
        for i, item in enumerate(items):
            name = self.string(item, f"ports[{i}]", pattern=_PORT_NAME,
                               hint="a lowercase letter, then up to 31 lowercase letters, digits or '-'")
            if name is None:
                continue
            if name in names:
                self.err(f"ports[{i}]", f"duplicate port name {name!r}")
                continue
            names.append(name)
        return tuple(names)

    def env_key_ok(self, key: str, path: str) -> bool:
        if not _ENV_NAME.fullmatch(key):
            self.err(path, "is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
            return False
        if _RESERVED_ENV.fullmatch(key):
            self.err(path, "is set by Gantry for every task (HOST, PORT*, GANTRY_*); choose another name")
            return False
        return True

    def label_key_ok(self, key: str, path: str) -> bool:
        if not key.strip():
            self.err(path, "label keys must not be empty")
            return False
        if key.startswith(RESERVED_LABEL_PREFIX):
            self.err(path, f"label keys starting with {RESERVED_LABEL_PREFIX!r} are reserved for Gantry")
            return False
        return True

    # -- constraints ----------------------------------------------------------------------------

    def constraints(self, value: object) -> tuple[ConstraintSpec, ...]:
        items = self.array(value, "constraints")
        if items is None:
            return ()
        out: list[ConstraintSpec] = []
        for i, item in enumerate(items):
            constraint = self.constraint(item, f"constraints[{i}]")
            if constraint is not None:
                out.append(constraint)
        return tuple(out)

    def constraint(self, item: object, path: str) -> ConstraintSpec | None:
        if not isinstance(item, list) or not 2 <= len(item) <= 3:
            self.err(path, "must be an array [field, operator] or [field, operator, value]")
            return None
        field = self.string(item[0], f"{path}[0]", pattern=_ATTRIBUTE_NAME,
                            hint="'hostname' or an agent attribute name (letters, digits, '_', '.', '-')")
        operator: ConstraintOperator | None = None
        if not isinstance(item[1], str) or item[1] not in ConstraintOperator.__members__:
            self.err(f"{path}[1]", "must be one of " + ", ".join(ConstraintOperator))
        else:
            operator = ConstraintOperator(item[1])
        value: str | None = None
        if len(item) == 3:
            raw = item[2]
            # Marathon writes values as strings ("3"); a bare JSON integer is accepted too.
            if isinstance(raw, int) and not isinstance(raw, bool):
                raw = str(raw)
            value = self.string(raw, f"{path}[2]")
            if value is None:
                return None
        if field is None or operator is None:
            return None
        if not self.constraint_value_ok(operator, value, f"{path}[2]", path):
            return None
        return ConstraintSpec(field, operator, value)

    def constraint_value_ok(self, op: ConstraintOperator, value: str | None, vpath: str, path: str) -> bool:
        match op:
            case ConstraintOperator.UNIQUE:
                if value is not None:
                    self.err(vpath, "UNIQUE takes no value")
                    return False
            case ConstraintOperator.CLUSTER:
                pass  # value optional
            case ConstraintOperator.GROUP_BY | ConstraintOperator.MAX_PER:
                if value is None:
                    if op is ConstraintOperator.MAX_PER:
                        self.err(path, "MAX_PER needs a value: the maximum number of tasks per field value")
                        return False
                elif not re.fullmatch(r"[0-9]+", value) or int(value) < 1:  # str.isdigit() admits '²'
                    self.err(vpath, f"{op.value} value must be a positive integer")
                    return False
            case ConstraintOperator.LIKE | ConstraintOperator.UNLIKE:
                if value is None:
                    self.err(path, f"{op.value} needs a value: a regular expression")
                    return False
                try:
                    re.compile(value)
                except re.error as exc:
                    self.err(vpath, f"is not a valid regular expression: {exc}")
                    return False
            case _:
                assert_never(op)
        return True

    # -- container ------------------------------------------------------------------------------

    def container(self, value: object, ports: tuple[str, ...]) -> ContainerSpec | None:
        body = self.obj(value, "container", _CONTAINER_FIELDS)
        if body is None:
            return None
        image: str | None = None
        if "image" not in body:
            self.err("container.image", "is required")
        else:
            image = self.string(body["image"], "container.image", pattern=re.compile(r"\S+"),
                                hint="must not contain whitespace")
        mappings = self.port_mappings(body.get("port_mappings", []), ports)
        if image is None:
            return None
        return ContainerSpec(image=image, port_mappings=mappings)

    def port_mappings(self, value: object, ports: tuple[str, ...]) -> tuple[PortMapping, ...]:
        items = self.array(value, "container.port_mappings")
        if items is None:
            return ()
        out: list[PortMapping] = []
        seen_ports: set[str] = set()
        seen_container: set[tuple[int, PortProtocol]] = set()
        for i, item in enumerate(items):
            path = f"container.port_mappings[{i}]"
            body = self.obj(item, path, _MAPPING_FIELDS)
            if body is None:
                continue
            port = self.port_ref(body, f"{path}.port", ports)
            container_port = None
            if "container_port" not in body:
                self.err(f"{path}.container_port", "is required")
            else:
                container_port = self.integer(body["container_port"], f"{path}.container_port",
                                              minimum=1, maximum=65535)
            protocol = PortProtocol.TCP
            if "protocol" in body:
                raw = body["protocol"]
                if raw not in ("tcp", "udp"):
                    self.err(f"{path}.protocol", "must be 'tcp' or 'udp'")
                    continue
                protocol = PortProtocol(str(raw))
            if port is None or container_port is None:
                continue
            if port in seen_ports:
                self.err(f"{path}.port", f"port {port!r} is already mapped")
                continue
            if (container_port, protocol) in seen_container:
                self.err(f"{path}.container_port", f"{container_port}/{protocol.value} is already mapped")
                continue
            seen_ports.add(port)
            seen_container.add((container_port, protocol))
            out.append(PortMapping(port, container_port, protocol))
        return tuple(out)

    def port_ref(self, body: Mapping[str, object], path: str, ports: tuple[str, ...]) -> str | None:
        if "port" not in body:
            self.err(path, "is required")
            return None
        name = self.string(body["port"], path)
        if name is not None and name not in ports:
            known = ", ".join(ports) if ports else "none declared"
            self.err(path, f"must name one of the app's ports ({known})")
            return None
        return name

    # -- health and readiness checks ------------------------------------------------------------

    def checks(self, value: object, path: str, ports: tuple[str, ...], health: bool) -> tuple[object, ...]:
        items = self.array(value, path)
        if items is None:
            return ()
        out: list[object] = []
        for i, item in enumerate(items):
            check = self.health_check(item, f"{path}[{i}]", ports) if health else \
                self.readiness_check(item, f"{path}[{i}]", ports)
            if check is not None:
                out.append(check)
        return tuple(out)

    def protocol(self, body: Mapping[str, object], path: str, allowed: tuple[CheckProtocol, ...]) -> \
            CheckProtocol | None:
        if "protocol" not in body:
            self.err(f"{path}.protocol", "is required")
            return None
        raw = body["protocol"]
        if not isinstance(raw, str) or raw not in {p.value for p in allowed}:
            self.err(f"{path}.protocol", "must be one of " + ", ".join(allowed))
            return None
        return CheckProtocol(raw)

    def http_path(self, body: Mapping[str, object], path: str) -> str | None:
        raw = self.string(body["path"], path)
        if raw is not None and not raw.startswith("/"):
            self.err(path, "must start with '/'")
            return None
        return raw

    def health_check(self, item: object, path: str, ports: tuple[str, ...]) -> HealthCheckSpec | None:
        body = self.obj(item, path, _HEALTH_FIELDS)
        if body is None:
            return None
        before = len(self.errors)
        protocol = self.protocol(body, path, tuple(CheckProtocol))
        values: dict[str, object] = {}
        if protocol in (CheckProtocol.HTTP, CheckProtocol.TCP):
            values["port"] = self.port_ref(body, f"{path}.port", ports)
        elif protocol is CheckProtocol.COMMAND and "port" in body:
            self.err(f"{path}.port", "is only valid for HTTP and TCP checks")
        if protocol is CheckProtocol.HTTP:
            values["path"] = self.http_path(body, f"{path}.path") if "path" in body else "/"
        elif "path" in body and protocol is not None:
            self.err(f"{path}.path", "is only valid for HTTP checks")
        if protocol is CheckProtocol.COMMAND:
            if "command" not in body:
                self.err(f"{path}.command", "is required for COMMAND checks")
            else:
                values["command"] = self.string(body["command"], f"{path}.command")
        elif "command" in body and protocol is not None:
            self.err(f"{path}.command", "is only valid for COMMAND checks")
        for name, minimum, exclusive in (("interval_seconds", 0.0, True), ("timeout_seconds", 0.0, True),
                                         ("grace_period_seconds", 0.0, False)):
            if name in body:
                values[name] = self.number(body[name], f"{path}.{name}", minimum=minimum, maximum=MAX_SECONDS,
                                           exclusive=exclusive)
        if "max_consecutive_failures" in body:
            values["max_consecutive_failures"] = self.integer(
                body["max_consecutive_failures"], f"{path}.max_consecutive_failures", minimum=1, maximum=1000
            )
        if protocol is None or len(self.errors) != before:
            return None
        return HealthCheckSpec(protocol=protocol, **values)  # type: ignore[arg-type]

    def readiness_check(self, item: object, path: str, ports: tuple[str, ...]) -> ReadinessCheckSpec | None:
        body = self.obj(item, path, _READINESS_FIELDS)
        if body is None:
            return None
        before = len(self.errors)
        protocol = self.protocol(body, path, (CheckProtocol.HTTP,))
        port = self.port_ref(body, f"{path}.port", ports)
        values: dict[str, object] = {}
        if "path" in body:
            values["path"] = self.http_path(body, f"{path}.path")
        if "statuses" in body:
            values["statuses"] = self.statuses(body["statuses"], f"{path}.statuses")
        if "interval_seconds" in body:
            values["interval_seconds"] = self.number(
                body["interval_seconds"], f"{path}.interval_seconds", minimum=0.0, maximum=MAX_SECONDS,
                exclusive=True,
            )
        if protocol is None or port is None or len(self.errors) != before:
            return None
        return ReadinessCheckSpec(protocol=protocol, port=port, **values)  # type: ignore[arg-type]

    def statuses(self, value: object, path: str) -> tuple[int, ...] | None:
        items = self.array(value, path)
        if items is None:
            return None
        if not items:
            self.err(path, "must list at least one HTTP status")
            return None
        codes = [self.integer(item, f"{path}[{i}]", minimum=100, maximum=599) for i, item in enumerate(items)]
        if any(code is None for code in codes):
            return None
        return tuple(sorted({c for c in codes if c is not None}))
