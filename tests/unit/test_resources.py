"""Resource arithmetic in Mesos fixed point: rounding, ranges, fits/add/subtract (table tests)."""

from __future__ import annotations

import pytest

from framework.core.resources import (
    Resources,
    format_ranges,
    normalize_ranges,
    ports_to_ranges,
    ranges_contain,
    ranges_count,
    ranges_subtract,
    take_ports,
    to_milli,
)


@pytest.mark.parametrize(
    ("value", "milli"),
    [
        (0.0, 0),
        (0.1, 100),
        (0.1 + 0.2, 300),  # 0.30000000000000004 in binary: fixed point makes it exactly 0.3
        (1.0005, 1001),  # a half thousandth rounds away from zero, as Mesos' llround does
        (0.0004, 0),  # below half a thousandth: rounds down to nothing
        (512.0, 512_000),
        (-0.0015, -2),  # sign is carried back after rounding the magnitude
    ],
)
def test_to_milli_rounds_like_mesos(value: float, milli: int) -> None:
    assert to_milli(value) == milli


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_to_milli_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_milli(value)


def test_three_tenths_subtract_exactly() -> None:
    # 0.3 - 0.1 - 0.2 is 2.8e-17 in floats; in thousandths it is exactly 300 - 100 - 200 = 0.
    left = Resources.of(cpus=0.3).subtract(Resources.of(cpus=0.1)).subtract(Resources.of(cpus=0.2))
    assert left.cpus_milli == 0
    assert left.is_empty()


@pytest.mark.parametrize(
    ("ranges", "normal"),
    [
        ([], ()),
        ([(5, 5)], ((5, 5),)),
        ([(10, 20), (1, 3)], ((1, 3), (10, 20))),  # sorted
        ([(1, 5), (3, 8)], ((1, 8),)),  # overlapping merge
        ([(1, 5), (6, 8)], ((1, 8),)),  # adjacent merge: 5 and 6 touch
        ([(1, 5), (7, 8)], ((1, 5), (7, 8))),  # a gap at 6 keeps them apart
        ([(1, 9), (2, 3)], ((1, 9),)),  # contained
    ],
)
def test_normalize_ranges(ranges: list[tuple[int, int]], normal: tuple[tuple[int, int], ...]) -> None:
    assert normalize_ranges(ranges) == normal


@pytest.mark.parametrize("bad", [[(5, 4)], [(-1, 3)]])
def test_normalize_rejects_malformed_ranges(bad: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="invalid port range"):
        normalize_ranges(bad)


@pytest.mark.parametrize(
    ("outer", "inner", "contained", "left"),
    [
        (((1, 10),), ((3, 4),), True, ((1, 2), (5, 10))),  # a hole in the middle: 10 - 2 = 8 ports left
        (((1, 10),), ((1, 10),), True, ()),  # everything taken
        (((1, 10),), ((1, 1), (10, 10)), True, ((2, 9),)),  # both ends
        (((1, 5), (8, 9)), ((8, 9),), True, ((1, 5),)),  # a whole second range
        (((1, 5), (8, 9)), ((5, 8),), False, None),  # 6 and 7 are not offered
        (((1, 5),), ((0, 1),), False, None),  # 0 is not offered
    ],
)
def test_ranges_contain_and_subtract(
    outer: tuple[tuple[int, int], ...],
    inner: tuple[tuple[int, int], ...],
    contained: bool,
    left: tuple[tuple[int, int], ...] | None,
) -> None:
    assert ranges_contain(outer, inner) is contained
    if left is None:
        with pytest.raises(ValueError, match="not all in"):
            ranges_subtract(outer, inner)
    else:
        assert ranges_subtract(outer, inner) == left
        assert ranges_count(left) == ranges_count(outer) - ranges_count(inner)


@pytest.mark.parametrize(
    ("ranges", "count", "taken", "left"),
    [
        (((31000, 31009),), 3, (31000, 31001, 31002), ((31003, 31009),)),  # lowest first
        (((1, 2), (5, 6)), 3, (1, 2, 5), ((6, 6),)),  # spans two ranges: 2 + 1
        (((1, 2),), 2, (1, 2), ()),  # exactly all
        (((1, 2),), 0, (), ((1, 2),)),  # nothing asked
    ],
)
def test_take_ports(
    ranges: tuple[tuple[int, int], ...],
    count: int,
    taken: tuple[int, ...],
    left: tuple[tuple[int, int], ...],
) -> None:
    assert take_ports(ranges, count) == (taken, left)


def test_take_ports_refuses_more_than_offered() -> None:
    with pytest.raises(ValueError, match="asked for 3 ports, only 2"):
        take_ports(((1, 2),), 3)


@pytest.mark.parametrize(
    ("need", "have", "short"),
    [
        (Resources.of(cpus=1, mem=512), Resources.of(cpus=1, mem=512), None),  # exactly equal fits
        (Resources.of(cpus=1.001), Resources.of(cpus=1), "cpus"),  # one thousandth too much
        (Resources.of(cpus=1, mem=513), Resources.of(cpus=2, mem=512), "mem"),
        (Resources.of(disk=1), Resources.of(cpus=8, mem=8), "disk"),
        (Resources.of(gpus=1), Resources.of(cpus=8), "gpus"),
        (Resources.of(cpus=2, mem=1), Resources.of(cpus=1), "cpus"),  # the first short resource wins
        (Resources.of(ports=[(80, 80)]), Resources.of(ports=[(1, 100)]), None),
        (Resources.of(ports=[(80, 81)]), Resources.of(ports=[(1, 80)]), "ports"),  # 81 missing
    ],
)
def test_fits_and_shortfall(need: Resources, have: Resources, short: str | None) -> None:
    assert need.shortfall(have) == short
    assert need.fits(have) is (short is None)


def test_add_then_subtract_round_trips() -> None:
    a = Resources.of(cpus=1.5, mem=1024, disk=10, gpus=1, ports=[(1, 5)])
    b = Resources.of(cpus=0.25, mem=256, ports=[(6, 9)])
    total = a + b
    # ranges merge: 1-5 + 6-9 = 1-9
    assert total == Resources.of(cpus=1.75, mem=1280, disk=10, gpus=1, ports=[(1, 9)])
    assert total - b == a


def test_subtract_never_goes_negative() -> None:
    with pytest.raises(ValueError, match="not enough mem"):
        Resources.of(mem=100).subtract(Resources.of(mem=101))


def test_negative_or_fractional_milli_rejected() -> None:
    with pytest.raises(ValueError, match="cpus must be a non-negative integer"):
        Resources(cpus_milli=-1)
    with pytest.raises(ValueError, match="mem must be a non-negative integer"):
        Resources(mem_milli=1.5)  # type: ignore[arg-type]


def test_construction_normalizes_ports_and_reads_back_natural_units() -> None:
    r = Resources(cpus_milli=1500, mem_milli=2_048_000, ports=((9, 9), (1, 8)))
    assert (r.cpus, r.mem, r.disk, r.gpus) == (1.5, 2048.0, 0.0, 0.0)
    assert r.ports == ((1, 9),)
    assert r.port_count == 9


@pytest.mark.parametrize(
    "ports",
    [((5, 4),), ((-1, 3),), ([7, 8],), ((1, 2, 3),), ((True, 4),)],
)
def test_a_single_port_range_is_checked_like_any_other(ports: tuple[tuple[int, int], ...]) -> None:
    # The one-range fast path only skips normalising ranges that are already normal.
    try:
        normal = normalize_ranges(ports)
    except (ValueError, TypeError):
        with pytest.raises((ValueError, TypeError)):
            Resources(ports=ports)
    else:
        assert Resources(ports=ports).ports == normal and type(Resources(ports=ports).ports[0]) is tuple


def test_one_host_port_becomes_one_range() -> None:
    assert ports_to_ranges((31005,)) == ((31005, 31005),)
    assert ports_to_ranges((31007, 31005, 31006)) == ((31005, 31007),)
    with pytest.raises(ValueError):
        ports_to_ranges((-2,))


def test_scale_multiplies_scalars_only() -> None:
    # 3 x (0.1 cpu, 64 MB) = (0.3 cpu, 192 MB); host ports are per task, never multiplied.
    assert Resources.of(cpus=0.1, mem=64).scale(3) == Resources.of(cpus=0.3, mem=192)
    with pytest.raises(ValueError, match="factor"):
        Resources.of(cpus=1).scale(-1)


def test_str_is_readable() -> None:
    assert str(Resources.of(cpus=0.5, mem=512, ports=[(1, 3), (5, 5)])) == "cpus=0.5 mem=512 ports=[1-3,5]"
    assert str(Resources()) == "(none)"
    assert format_ranges(()) == "[]"
