"""Typed, frozen settings for `gantry run`, merged from command-line flags and GANTRY_* variables.

Who calls it: framework/cli.py adds the flags with `add_run_arguments` and builds a `Settings` with
`load_settings(flags, os.environ)`; the composition root (framework/app.py) reads the result; the API
reads the body cap from it. Precedence is flag, then environment variable, then default.

Every value is parsed and checked here, once, so the rest of the code never sees a malformed master
URL or port. All problems are collected and reported together in one `SettingsError`, each naming
both the flag and the environment variable that set it, so a misconfigured deployment is fixed in
one round trip rather than one error per restart.

What it must not do: read files, open sockets or touch global state. The environment is passed in,
never read from os.environ here; the only outside lookup is the password database, as the last
resort for the default framework user.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import os
import pwd
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

ONE_WEEK_SECONDS = 7 * 24 * 3600.0
DEFAULT_AGENT_RESOURCES = "cpus:4;mem:8192;disk:16384;ports:[31000-32000]"


def gantry_version() -> str:
    """The installed distribution's version (pyproject), or 'unknown' when run from a bare checkout."""
    try:
        return importlib.metadata.version("gantry")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class MesosContentType(StrEnum):
    """How the framework encodes calls and decodes events on the Mesos scheduler API."""

    PROTOBUF = "protobuf"
    JSON = "json"


class LogFormat(StrEnum):
    """AUTO picks CONSOLE when stderr is a terminal and JSON (one object per line) otherwise."""

    AUTO = "auto"
    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive range of ports, as Mesos writes it: [31000-32000]."""

    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class AgentResources:
    """What each agent of the embedded local cluster offers (Mesos `--resources` syntax)."""

    cpus: float
    mem: float
    disk: float
    ports: tuple[PortRange, ...]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `gantry run` needs. `master=None` means: start the embedded local cluster."""

    master: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    data_dir: Path = Path("data")
    mesos_content_type: MesosContentType = MesosContentType.PROTOBUF
    framework_name: str = "gantry"
    framework_user: str = "root"
    roles: tuple[str, ...] = ("*",)
    principal: str | None = None
    failover_timeout_seconds: float = ONE_WEEK_SECONDS
    local_agents: int = 3
    local_agent_resources: AgentResources = field(
        default_factory=lambda: parse_agent_resources(DEFAULT_AGENT_RESOURCES)
    )
    log_format: LogFormat = LogFormat.AUTO
    log_level: LogLevel = LogLevel.INFO
    max_body_bytes: int = 1024 * 1024
    max_launches_per_decision: int = 8_000

    @property
    def embedded_cluster(self) -> bool:
        return self.master is None

    @property
    def master_uses_zookeeper(self) -> bool:
        return self.master is not None and self.master.startswith("zk://")


class SettingsError(Exception):
    """One or more settings are invalid; `problems` has one line per bad setting."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its flag, its environment variable and its help line."""

    name: str
    flag: str
    help: str
    metavar: str

    @property
    def env(self) -> str:
        return "GANTRY_" + self.name.upper()

    @property
    def label(self) -> str:
        return f"{self.flag} / {self.env}"


OPTIONS: tuple[Option, ...] = (
    Option("master", "--master", "Mesos master: http://host:5050 or zk://h1:2181,h2:2181/mesos "
           "(default: start an embedded local cluster)", "URL"),
    Option("listen", "--listen", "API listen address (default 127.0.0.1:8080)", "HOST:PORT"),
    Option("data_dir", "--data-dir", "directory for the state database (default ./data)", "DIR"),
    Option("mesos_content_type", "--mesos-content-type",
           "wire encoding to the master: protobuf (default) or json", "protobuf|json"),
    Option("framework_name", "--framework-name", "FrameworkInfo.name (default gantry)", "NAME"),
    Option("framework_user", "--framework-user", "user tasks run as (default: the current user)", "USER"),
    Option("roles", "--roles", "comma-separated roles to subscribe with (default *)", "ROLE[,ROLE]"),
    Option("principal", "--principal", "principal for authentication (default: none)", "PRINCIPAL"),
    Option("failover_timeout", "--failover-timeout",
           "how long the master keeps tasks after Gantry disconnects: 3600, 90m, 12h, 7d (default 7d)",
           "DURATION"),
    Option("local_agents", "--local-agents", "agents in the embedded local cluster (default 3)", "N"),
    Option("local_agent_resources", "--local-agent-resources",
           f"resources of each local agent (default {DEFAULT_AGENT_RESOURCES})", "SPEC"),
    Option("log_format", "--log-format", "auto (console on a terminal, else JSON), console or json",
           "FORMAT"),
    Option("log_level", "--log-level", "debug, info (default), warning or error", "LEVEL"),
    Option("max_body_bytes", "--max-body-bytes", "largest accepted request body: 1048576, 512KiB, 1MiB",
           "SIZE"),
    Option("max_launches_per_decision", "--max-launches-per-decision",
           "most tasks launched from one batch of offers, so every offer is answered in time "
           "(default 8000)", "N"),
)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one string flag per option; defaults stay None so the environment can fill the gap."""
    for option in OPTIONS:
        parser.add_argument(option.flag, dest=option.name, default=None, metavar=option.metavar,
                            help=f"{option.help} [env {option.env}]")


def load_settings(flags: Mapping[str, object], env: Mapping[str, str]) -> Settings:
    """Merge flags (None = not given) over GANTRY_* variables over defaults; raise SettingsError."""
    problems: list[str] = []
    by_name = {option.name: option for option in OPTIONS}

    def pick(name: str, parse: Callable[[str], T], default: T) -> T:
        option = by_name[name]
        given = flags.get(name)
        raw = str(given) if given is not None else env.get(option.env)
        if raw is None or (given is None and raw == ""):
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            problems.append(f"{option.label}: {exc}")
            return default

    base = Settings()
    master = pick("master", _parse_master, None)
    host, port = pick("listen", _parse_listen, (base.listen_host, base.listen_port))
    settings = Settings(
        master=master,
        listen_host=host,
        listen_port=port,
        data_dir=pick("data_dir", _parse_path, base.data_dir),
        mesos_content_type=pick(
            "mesos_content_type", _enum_parser(MesosContentType), base.mesos_content_type
        ),
        framework_name=pick("framework_name", _parse_name, base.framework_name),
        framework_user=pick("framework_user", _parse_name, _current_user(env)),
        roles=pick("roles", _parse_roles, base.roles),
        principal=pick("principal", _parse_name, None),
        failover_timeout_seconds=pick("failover_timeout", parse_duration, base.failover_timeout_seconds),
        local_agents=pick("local_agents", _parse_count, base.local_agents),
        local_agent_resources=pick(
            "local_agent_resources", parse_agent_resources, base.local_agent_resources
        ),
        log_format=pick("log_format", _enum_parser(LogFormat), base.log_format),
        log_level=pick("log_level", _enum_parser(LogLevel), base.log_level),
        max_body_bytes=pick("max_body_bytes", parse_size, base.max_body_bytes),
        max_launches_per_decision=pick(
            "max_launches_per_decision", _parse_count, base.max_launches_per_decision
        ),
    )
    if settings.master is None and settings.local_agents < 1 and not problems:
        problems.append(f"{by_name['local_agents'].label}: the embedded local cluster needs at least 1 agent "
                        "(or give --master)")
    if settings.max_launches_per_decision < 1 and not problems:
        problems.append(f"{by_name['max_launches_per_decision'].label}: must be at least 1 (nothing would "
                        "ever launch)")
    if problems:
        raise SettingsError(tuple(problems))
    return settings


# --- value parsers: each raises ValueError with a message that says what was expected ----------


def _parse_master(raw: str) -> str:
    value = raw.strip()
    if value.startswith("zk://"):
        hosts, slash, path = value[len("zk://"):].partition("/")
        if not hosts or not slash or not path:
            raise ValueError(f"expected zk://host:port[,host:port]/path, got {raw!r}")
        for host in hosts.split(","):
            _split_host_port(host, what="ZooKeeper address")
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http://host:port or zk://host:port/path, got {raw!r}")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily, on access
    except ValueError:
        raise ValueError(f"bad port in master URL {raw!r}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"the master URL must be just scheme://host:port, got {raw!r}")
    return value.rstrip("/")


def _split_host_port(raw: str, what: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]\s]+):(\d+)", raw.strip())
    if match is None:
        raise ValueError(f"expected a {what} as HOST:PORT, got {raw!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(f"port {port} is out of range 0-65535 in {raw!r}")
    return host, port


def _parse_listen(raw: str) -> tuple[str, int]:
    return _split_host_port(raw, what="listen address")


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("expected a directory path, got an empty string")
    return Path(raw).expanduser()


def _parse_name(raw: str) -> str:
    value = raw.strip()
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"expected a non-empty name without spaces, got {raw!r}")
    return value


def _parse_roles(raw: str) -> tuple[str, ...]:
    roles = tuple(part.strip() for part in raw.split(","))
    for role in roles:
        # Mesos refuses these role names; better to say so here than to be refused at SUBSCRIBE.
        if role in ("", ".", "..") or role.startswith("-") or any(c.isspace() for c in role):
            raise ValueError(f"invalid role {role!r} in {raw!r}")
    if len(set(roles)) != len(roles):
        raise ValueError(f"duplicate role in {raw!r}")
    return roles


def _parse_count(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"expected 0 or more, got {value}")
    return value


def _enum_parser(kind: type[E]) -> Callable[[str], E]:
    def parse(raw: str) -> E:
        try:
            return kind(raw.strip().lower())
        except ValueError:
            choices = ", ".join(str(member) for member in kind)
            raise ValueError(f"expected one of {choices}, got {raw!r}") from None

    return parse


_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_duration(raw: str) -> float:
    """'90' or '90s' -> 90.0; '15m', '12h', '7d', '1w' are minutes, hours, days, weeks."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", raw.strip().lower())
    if match is None:
        raise ValueError(f"expected a duration such as 3600, 90m, 12h or 7d, got {raw!r}")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {raw!r}")
    return seconds


_SIZE_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2}


def parse_size(raw: str) -> int:
    """'1048576', '512KiB', '1MiB' -> bytes."""
    match = re.fullmatch(r"(\d+)\s*([a-z]*)", raw.strip().lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 1048576, 512KiB or 1MiB, got {raw!r}")
    size = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if size < 1:
        raise ValueError(f"expected a positive size, got {raw!r}")
    return size


def parse_agent_resources(raw: str) -> AgentResources:
    """Mesos agent `--resources` text: 'cpus:4;mem:8192;disk:16384;ports:[31000-31999,32000-32100]'.

    cpus and mem are required; disk defaults to 0 and ports to [31000-32000].
    """
    scalars: dict[str, float] = {}
    ports: tuple[PortRange, ...] | None = None
    for item in (part.strip() for part in raw.split(";")):
        if not item:
            continue
        name, colon, value = item.partition(":")
        name = name.strip()
        if not colon:
            raise ValueError(f"expected NAME:VALUE, got {item!r}")
        if name in scalars or (name == "ports" and ports is not None):
            raise ValueError(f"{name} is given twice")
        if name == "ports":
            ports = _parse_port_ranges(value.strip())
        elif name in ("cpus", "mem", "disk"):
            scalars[name] = _parse_scalar(name, value)
        else:
            raise ValueError(f"unknown resource {name!r} (known: cpus, mem, disk, ports)")
    missing = [name for name in ("cpus", "mem") if name not in scalars]
    if missing:
        raise ValueError(f"missing {' and '.join(missing)} in {raw!r}")
    return AgentResources(
        cpus=scalars["cpus"],
        mem=scalars["mem"],
        disk=scalars.get("disk", 0.0),
        ports=ports if ports is not None else (PortRange(31000, 32000),),
    )


def _parse_scalar(name: str, value: str) -> float:
    try:
        amount = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not amount >= 0 or amount == float("inf"):  # also rejects NaN
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return amount


def _parse_port_ranges(value: str) -> tuple[PortRange, ...]:
    match = re.fullmatch(r"\[(.*)\]", value)
    if match is None:
        raise ValueError(f"ports must look like [31000-32000], got {value!r}")
    ranges: list[PortRange] = []
    for part in match.group(1).split(","):
        bounds = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", part)
        if bounds is None:
            raise ValueError(f"bad port range {part.strip()!r} in {value!r}")
        begin, end = int(bounds.group(1)), int(bounds.group(2))
        if not 1 <= begin <= end <= 65535:
            raise ValueError(f"port range {begin}-{end} must satisfy 1 <= begin <= end <= 65535")
        ranges.append(PortRange(begin, end))
    ranges.sort(key=lambda r: r.begin)
    for left, right in itertools.pairwise(ranges):
        if right.begin <= left.end:
            raise ValueError(f"port ranges {left.begin}-{left.end} and {right.begin}-{right.end} overlap")
    return tuple(ranges)


def _current_user(env: Mapping[str, str]) -> str:
    # The same order getpass uses, but on the injected environment, with the password database
    # as the last resort (containers often run without USER set).
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        value = env.get(name, "").strip()
        if value and not any(c.isspace() for c in value):
            return value
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "root"
