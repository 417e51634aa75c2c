"""Resource arithmetic of the fake master, in Mesos' fixed-point terms.

Mesos keeps scalars to three decimal digits: 0.1 + 0.2 cpus is exactly 0.3, and a value that rounds
to zero does not exist. We store scalars as integer thousandths, port-like ranges as sorted,
coalesced, inclusive intervals, and sets as frozensets. Values are immutable; every operation
returns a new `Resources`. An entry is never zero or empty: subtraction drops what runs out,
exactly as `mesos::Resources` does, so `is_empty()` and `contains()` need no special cases.

Only unreserved, non-revocable, non-shared resources are modelled (see docs/harness.md): the
codec refuses to map anything else into this type, so such a request simply never fits an offer.

Used by the allocator (available/offered/refused amounts), the agents (totals) and the master
(ACCEPT validation). It knows nothing of protobuf; harness/codec.py converts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Interval = tuple[int, int]
Ranges = tuple[Interval, ...]

# Mesos' default --min_allocatable_resources: an agent is offered only if it has at least
# 0.01 cpus or 32 MB of memory free (either suffices).
MIN_ALLOCATABLE_CPUS = 10
MIN_ALLOCATABLE_MEM = 32_000


class ResourceSpecError(ValueError):
    """A resource or attribute text (CLI, Harness arguments) could not be parsed."""


def to_fixed(value: float) -> int:
    """A scalar as integer thousandths, rounded half away from zero like Mesos' llround."""
    scaled = value * 1000.0
    return math.floor(scaled + 0.5) if scaled >= 0 else -math.floor(-scaled + 0.5)


def from_fixed(value: int) -> float:
    return value / 1000.0


def normalize_ranges(intervals: Iterable[Interval]) -> Ranges:
    """Sort and coalesce inclusive intervals ([1-3],[4-5] becomes [1-5])."""
    out: list[list[int]] = []
    for begin, end in sorted(intervals):
        if out and begin <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([begin, end])
    return tuple((b, e) for b, e in out)


def _subtract_ranges(have: Ranges, take: Ranges) -> Ranges:
    result: list[Interval] = []
    for begin, end in have:
        pieces = [(begin, end)]
        for tb, te in take:
            nxt: list[Interval] = []
            for pb, pe in pieces:
                if te < pb or tb > pe:
                    nxt.append((pb, pe))
                    continue
                if pb < tb:
                    nxt.append((pb, tb - 1))
                if te < pe:
                    nxt.append((te + 1, pe))
            pieces = nxt
        result.extend(pieces)
    return normalize_ranges(result)


def _ranges_contain(have: Ranges, want: Ranges) -> bool:
    # Both are normalized (coalesced), so each wanted interval must sit inside a single held one.
    return all(any(hb <= wb and we <= he for hb, he in have) for wb, we in want)


def _ranges_overlap(a: Ranges, b: Ranges) -> bool:
    return any(ab <= be and bb <= ae for ab, ae in a for bb, be in b)


def _format_ranges(r: Ranges) -> str:
    return "[" + ", ".join(f"{b}-{e}" for b, e in r) + "]"


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of resources: scalars in thousandths, ranges, sets. Never holds zero/empty entries."""

    scalars: Mapping[str, int] = field(default_factory=dict)
    ranges: Mapping[str, Ranges] = field(default_factory=dict)
    sets: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @staticmethod
    def of(
        scalars: Mapping[str, float] | None = None,
        ranges: Mapping[str, Iterable[Interval]] | None = None,
        sets: Mapping[str, Iterable[str]] | None = None,
    ) -> Resources:
        """Build from human units (cpus=0.5, mem=128); zero and empty entries are dropped."""
        fixed = {k: to_fixed(v) for k, v in (scalars or {}).items()}
        return Resources(
            {k: v for k, v in fixed.items() if v != 0},
            {k: n for k, v in (ranges or {}).items() if (n := normalize_ranges(v))},
            {k: s for k, v in (sets or {}).items() if (s := frozenset(v))},
        )

    def is_empty(self) -> bool:
        return not (self.scalars or self.ranges or self.sets)

    def scalar(self, name: str) -> float:
        return from_fixed(self.scalars.get(name, 0))

    def __add__(self, other: Resources) -> Resources:
        if other.is_empty():
            return self
        if self.is_empty():
            return other
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            scalars[k] = scalars.get(k, 0) + v
        ranges = dict(self.ranges)
        for k, r in other.ranges.items():
            ranges[k] = normalize_ranges((*ranges.get(k, ()), *r))
        sets = dict(self.sets)
        for k, s in other.sets.items():
            sets[k] = sets.get(k, frozenset()) | s
        return Resources(scalars, ranges, sets)

    def __sub__(self, other: Resources) -> Resources:
        """Saturating difference: what runs out disappears (as in mesos::Resources)."""
        if other.is_empty():
            return self
        if other is self:
            # All of it: an untouched offer coming back, or an agent's whole capacity (offer
            # cycles at 10,000 agents); nothing is left, with no dicts and ranges to walk.
            return EMPTY
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            left = scalars.get(k, 0) - v
            if left > 0:
                scalars[k] = left
            else:
                scalars.pop(k, None)
        # The maps are never changed once built, so a part `other` does not touch is shared.
        ranges: Mapping[str, Ranges] = self.ranges
        if other.ranges:
            left_ranges = dict(self.ranges)
            for k, r in other.ranges.items():
                if k in left_ranges:
                    left_r = _subtract_ranges(left_ranges[k], r)
                    if left_r:
                        left_ranges[k] = left_r
                    else:
                        del left_ranges[k]
            ranges = left_ranges
        sets: Mapping[str, frozenset[str]] = self.sets
        if other.sets:
            left_sets = dict(self.sets)
            for k, s in other.sets.items():
                if k in left_sets:
                    left_s = left_sets[k] - s
                    if left_s:
                        left_sets[k] = left_s
                    else:
                        del left_sets[k]
            sets = left_sets
        return Resources(scalars, ranges, sets)

    def take(self, other: Resources) -> Resources | None:
        """`self - other` if `self.contains(other)`, else None: a launch's fit check and its
        subtraction in one pass when `other` is scalars only (what command tasks ask for)."""
        if other.ranges or other.sets:
            return self - other if self.contains(other) else None
        mine = self.scalars
        scalars = dict(mine)
        for k, v in other.scalars.items():
            left = mine.get(k, 0) - v
            if left < 0:
                return None
            if left:
                scalars[k] = left
            else:
                scalars.pop(k, None)  # used up (or a zero asked of nothing, as `-` allows)
        return Resources(scalars, self.ranges, self.sets)

    def contains(self, other: Resources) -> bool:
        """True if every amount in `other` is available in `self` (fixed-point exact)."""
        mine = self.scalars
        for k, v in other.scalars.items():
            if mine.get(k, 0) < v:
                return False
        for k, r in other.ranges.items():
            if not _ranges_contain(self.ranges.get(k, ()), r):
                return False
        # Most resources carry no sets: skip building a generator for nothing (a hot path).
        return not other.sets or all(s <= self.sets.get(k, frozenset()) for k, s in other.sets.items())

    def overlaps(self, other: Resources) -> bool:
        """True if a range or set item appears in both (two tasks may not claim the same port)."""
        for k, r in self.ranges.items():
            if k in other.ranges and _ranges_overlap(r, other.ranges[k]):
                return True
        return any(k in other.sets and s & other.sets[k] for k, s in self.sets.items())

    def allocatable(self) -> bool:
        """Enough to be worth offering (Mesos' default --min_allocatable_resources)."""
        return (
            self.scalars.get("cpus", 0) >= MIN_ALLOCATABLE_CPUS
            or self.scalars.get("mem", 0) >= MIN_ALLOCATABLE_MEM
        )

    def names(self) -> set[str]:
        return set(self.scalars) | set(self.ranges) | set(self.sets)

    def as_dict(self) -> dict[str, float | list[list[int]] | list[str]]:
        """Plain values for tests and JSON: {"cpus": 0.5, "ports": [[31000, 31000]], "disks": ["a"]}."""
        out: dict[str, float | list[list[int]] | list[str]] = {
            k: from_fixed(v) for k, v in self.scalars.items()
        }
        out.update({k: [[b, e] for b, e in r] for k, r in self.ranges.items()})
        out.update({k: sorted(s) for k, s in self.sets.items()})
        return out

    def __str__(self) -> str:
        parts = [f"{k}:{from_fixed(v):g}" for k, v in sorted(self.scalars.items())]
        parts += [f"{k}:{_format_ranges(r)}" for k, r in sorted(self.ranges.items())]
        parts += [f"{k}:{{{','.join(sorted(s))}}}" for k, s in sorted(self.sets.items())]
        return "; ".join(parts) if parts else "{}"


EMPTY = Resources()

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_resources(text: str) -> Resources:
    """Parse the agent's --resources text: `cpus:4;mem:8192;ports:[31000-32000];disks:{a,b}`.

    Reservations (`cpus(role):4`) are rejected: the harness models unreserved resources only.
    """
    scalars: dict[str, float] = {}
    ranges: dict[str, list[Interval]] = {}
    sets: dict[str, list[str]] = {}
    for raw in text.split(";"):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise ResourceSpecError(f"resource {item!r}: expected name:value")
        if "(" in name:
            raise ResourceSpecError(f"resource {item!r}: reservations (name(role)) are not modelled")
        if not _NAME.match(name):
            raise ResourceSpecError(f"resource {item!r}: invalid name {name!r}")
        if name in scalars or name in ranges or name in sets:
            raise ResourceSpecError(f"resource {name!r} given twice")
        if value.startswith("["):
            ranges[name] = _parse_range_list(name, value)
        elif value.startswith("{"):
            if not value.endswith("}"):
                raise ResourceSpecError(f"resource {name!r}: set must end with '}}'")
            sets[name] = [v.strip() for v in value[1:-1].split(",") if v.strip()]
        else:
            scalars[name] = _parse_scalar(name, value)
    return Resources.of(scalars, ranges, sets)


def _parse_scalar(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ResourceSpecError(f"resource {name!r}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ResourceSpecError(f"resource {name!r}: {value!r} must be a finite number >= 0")
    return number


def _parse_range_list(name: str, value: str) -> list[Interval]:
    if not value.endswith("]"):
        raise ResourceSpecError(f"resource {name!r}: ranges must end with ']'")
    out: list[Interval] = []
    for part in value[1:-1].split(","):
        if not part.strip():
            continue
        m = _RANGE.match(part)
        if not m:
            raise ResourceSpecError(f"resource {name!r}: {part.strip()!r} is not a range like 31000-32000")
        begin, end = int(m.group(1)), int(m.group(2))
        if begin > end:
            raise ResourceSpecError(f"resource {name!r}: range {begin}-{end} is inverted")
        out.append((begin, end))
    return out
