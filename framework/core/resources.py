"""Resource arithmetic in Mesos fixed point: scalars to three decimals, port ranges, fits/add/subtract.

Role: the one place where Gantry adds, subtracts and compares resources. Mesos keeps scalar resources
(cpus, mem in MB, disk in MB, gpus) as fixed point with three decimal digits, so comparing floats
directly would disagree with the master about what fits (0.1 + 0.2 != 0.3 in binary floating point).
`Resources` therefore stores every scalar as an integer count of thousandths ("milli-units") and
converts at the edges (`Resources.of(cpus=0.5)`, `.cpus`). Port ranges are inclusive `(begin, end)`
pairs, kept sorted and merged, like Mesos' normalised `Value.Ranges`.

Callers: `framework.core.placement` (fits, subtract, port allocation), the scheduler core, and the
Mesos codec (which builds `Resources` from protobuf offers with `to_milli`).

Must not: import anything outside the standard library, do I/O, or ever produce a negative quantity
(subtracting what is not there raises `ValueError`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# Mesos' fixed-point scale: three decimal digits.
MILLI = 1000
SCALAR_NAMES = ("cpus", "mem", "disk", "gpus")
MAX_PORT = 65535

PortRange = tuple[int, int]


def to_milli(value: float) -> int:
    """Round a Mesos scalar to integer thousandths the way the master does (nearest, halves away from 0)."""
    if not math.isfinite(value):
        raise ValueError(f"scalar resource must be finite, got {value!r}")
    # llround semantics: floor(|x| + 0.5) carries the sign back; Python's round() would round halves to even.
    return int(math.copysign(math.floor(abs(value) * MILLI + 0.5), value))


def from_milli(value: int) -> float:
    return value / MILLI


def normalize_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[PortRange, ...]:
    """Sort and merge inclusive ranges (overlapping or adjacent ones become one); reject malformed ones."""
    items = sorted((int(b), int(e)) for b, e in ranges)
    merged: list[list[int]] = []
    for begin, end in items:
        if begin < 0 or end < begin:
            raise ValueError(f"invalid port range [{begin}-{end}]: need 0 <= begin <= end")
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def ranges_count(ranges: Iterable[PortRange]) -> int:
    return sum(end - begin + 1 for begin, end in ranges)


def ranges_contain(outer: tuple[PortRange, ...], inner: tuple[PortRange, ...]) -> bool:
    """True if every port of `inner` is in `outer` (both normalised)."""
    i = 0
    for begin, end in inner:
        # Normalised ranges are disjoint and non-adjacent, so one outer range must hold the whole inner one.
        while i < len(outer) and outer[i][1] < begin:
            i += 1
        if i == len(outer) or outer[i][0] > begin or outer[i][1] < end:
            return False
    return True


def ranges_subtract(outer: tuple[PortRange, ...], inner: tuple[PortRange, ...]) -> tuple[PortRange, ...]:
    """`outer` minus `inner`; `inner` must be contained in `outer` (else ValueError: never go negative)."""
    if not ranges_contain(outer, inner):
        raise ValueError(f"ports {format_ranges(inner)} are not all in {format_ranges(outer)}")
    out: list[PortRange] = []
    j = 0
    for begin, end in outer:
        cursor = begin
        while j < len(inner) and inner[j][0] <= end:
            cut_begin, cut_end = inner[j]
            if cut_begin > cursor:
                out.append((cursor, cut_begin - 1))
            cursor = cut_end + 1
            j += 1
        if cursor <= end:
            out.append((cursor, end))
    return tuple(out)


def _one_normal_range(ports: tuple[PortRange, ...]) -> bool:
    if type(ports) is not tuple or len(ports) != 1 or type(ports[0]) is not tuple or len(ports[0]) != 2:
        return False
    begin, end = ports[0]
    return type(begin) is int and type(end) is int and 0 <= begin <= end


def ports_to_ranges(ports: Iterable[int]) -> tuple[PortRange, ...]:
    if type(ports) is tuple and len(ports) == 1 and type(ports[0]) is int and ports[0] >= 0:
        return ((ports[0], ports[0]),)  # one host port per task, the common case: already normal
    return normalize_ranges((p, p) for p in ports)


def take_ports(ranges: tuple[PortRange, ...], count: int) -> tuple[tuple[int, ...], tuple[PortRange, ...]]:
    """Take the `count` lowest ports: (ports taken, ranges left). ValueError if there are not enough."""
    taken: list[int] = []
    left: list[PortRange] = []
    for begin, end in ranges:
        need = count - len(taken)
        if need <= 0:
            left.append((begin, end))
            continue
        stop = min(end, begin + need - 1)
        taken.extend(range(begin, stop + 1))
        if stop < end:
            left.append((stop + 1, end))
    if len(taken) < count:
        raise ValueError(f"asked for {count} ports, only {len(taken)} offered")
    return tuple(taken), tuple(left)


def format_ranges(ranges: Iterable[PortRange]) -> str:
    return "[" + ",".join(f"{b}-{e}" if b != e else str(b) for b, e in ranges) + "]"


@dataclass(frozen=True, slots=True)
class Resources:
    """A bundle of resources: scalars in integer thousandths, ports as normalised inclusive ranges.

    Build from natural units with `Resources.of(cpus=0.5, mem=512, ports=[(31000, 31009)])`; read them
    back with `.cpus`, `.mem`, `.disk`, `.gpus` (floats). mem and disk are in MB, as in Mesos.
    """

    cpus_milli: int = 0
    mem_milli: int = 0
    disk_milli: int = 0
    gpus_milli: int = 0
    ports: tuple[PortRange, ...] = ()

    def __post_init__(self) -> None:
        # Built for every launched task: the common case (plain non-negative ints, at most one
        # well-formed port range) is checked inline, anything else takes the general path.
        c, m, d, g = self.cpus_milli, self.mem_milli, self.disk_milli, self.gpus_milli
        plain = type(c) is int and type(m) is int and type(d) is int and type(g) is int
        if not (plain and c >= 0 and m >= 0 and d >= 0 and g >= 0):
            for name in SCALAR_NAMES:
                value = getattr(self, name + "_milli")
                if not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a non-negative integer of thousandths, got {value!r}")
        ports = self.ports
        if ports and not _one_normal_range(ports):
            normal = normalize_ranges(ports)
            if normal != ports:
                object.__setattr__(self, "ports", normal)

    @classmethod
    def of(
        cls,
        cpus: float = 0.0,
        mem: float = 0.0,
        disk: float = 0.0,
        gpus: float = 0.0,
        ports: Iterable[tuple[int, int]] = (),
    ) -> Resources:
        return cls(to_milli(cpus), to_milli(mem), to_milli(disk), to_milli(gpus), normalize_ranges(ports))

    @property
    def cpus(self) -> float:
        return from_milli(self.cpus_milli)

    @property
    def mem(self) -> float:
        return from_milli(self.mem_milli)

    @property
    def disk(self) -> float:
        return from_milli(self.disk_milli)

    @property
    def gpus(self) -> float:
        return from_milli(self.gpus_milli)

    @property
    def port_count(self) -> int:
        return ranges_count(self.ports)

    def scalars_milli(self) -> tuple[int, int, int, int]:
        """(cpus, mem, disk, gpus) in thousandths, in `SCALAR_NAMES` order."""
        return (self.cpus_milli, self.mem_milli, self.disk_milli, self.gpus_milli)

    def is_empty(self) -> bool:
        return not any(self.scalars_milli()) and not self.ports

    def shortfall(self, available: Resources) -> str | None:
        """The first resource (in `SCALAR_NAMES` order, then "ports") this lacks in `available`, else None."""
        for name, need, have in zip(
            SCALAR_NAMES, self.scalars_milli(), available.scalars_milli(), strict=True
        ):
            if need > have:
                return name
        if self.ports and not ranges_contain(available.ports, self.ports):
            return "ports"
        return None

    def fits(self, available: Resources) -> bool:
        """True if these resources (ports included, by number) fit inside `available`."""
        return self.shortfall(available) is None

    def add(self, other: Resources) -> Resources:
        return Resources(
            self.cpus_milli + other.cpus_milli,
            self.mem_milli + other.mem_milli,
            self.disk_milli + other.disk_milli,
            self.gpus_milli + other.gpus_milli,
            normalize_ranges(self.ports + other.ports),
        )

    def subtract(self, other: Resources) -> Resources:
        """self - other; ValueError if `other` does not fit (resources never go negative)."""
        missing = other.shortfall(self)
        if missing is not None:
            raise ValueError(f"cannot subtract {other} from {self}: not enough {missing}")
        return Resources(
            self.cpus_milli - other.cpus_milli,
            self.mem_milli - other.mem_milli,
            self.disk_milli - other.disk_milli,
            self.gpus_milli - other.gpus_milli,
            ranges_subtract(self.ports, other.ports),
        )

    def scale(self, factor: int) -> Resources:
        """`factor` copies of the scalars (ports are not multiplied: host ports are distinct per task)."""
        if factor < 0:
            raise ValueError(f"factor must be >= 0, got {factor}")
        return Resources(
            self.cpus_milli * factor,
            self.mem_milli * factor,
            self.disk_milli * factor,
            self.gpus_milli * factor,
        )

    def __add__(self, other: Resources) -> Resources:
        return self.add(other)

    def __sub__(self, other: Resources) -> Resources:
        return self.subtract(other)

    def __str__(self) -> str:
        parts = [
            f"{name}={from_milli(value):g}"
            for name, value in zip(SCALAR_NAMES, self.scalars_milli(), strict=True)
            if value
        ]
        if self.ports:
            parts.append(f"ports={format_ranges(self.ports)}")
        return " ".join(parts) or "(none)"
