"""Properties of spec validation: it never fails with anything but SpecError, and valid specs round-trip."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from framework.core.resources import Resources
from framework.core.spec import AppSpec, SpecError, app_version, validate_app
from tests.unit.test_spec import EXAMPLE

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)

CONSTRAINTS = [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"], ["rack", "LIKE", "r[0-9]+"],
               ["hostname", "MAX_PER", 3]]


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += paths_of(item, (*prefix, i))
    return out


PATHS = paths_of(EXAMPLE)


def validate_or_errors(data: object) -> AppSpec | SpecError:
    try:
        return validate_app(data)
    except SpecError as exc:
        return exc


@given(st.sampled_from(PATHS), JSON)
def test_any_value_anywhere_gives_a_spec_or_field_errors(path: tuple[Any, ...], value: object) -> None:
    data = copy.deepcopy(EXAMPLE)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    result = validate_or_errors(data)
    if isinstance(result, SpecError):
        assert result.errors and all(e.path and e.message for e in result.errors)
    else:
        assert validate_app(result.to_json()) == result
        assert_launchable(result)


INT64_MAX = 2**63 - 1


def assert_launchable(spec: AppSpec) -> None:
    """An accepted spec must never break the scheduler later: its sizes fit Mesos' int64 thousandths
    (and Gantry's resource arithmetic), and its durations fit int64 nanoseconds (KillPolicy)."""
    resources = Resources.of(cpus=spec.cpus, mem=spec.mem, disk=spec.disk)
    assert max(resources.scalars_milli()) <= INT64_MAX
    seconds = [spec.kill_grace_period_seconds, spec.backoff_seconds, spec.max_launch_delay_seconds]
    for check in spec.health_checks:
        seconds += [check.interval_seconds, check.timeout_seconds, check.grace_period_seconds]
    seconds += [check.interval_seconds for check in spec.readiness_checks]
    assert all(round(s * 1e9) <= INT64_MAX for s in seconds)


@given(JSON)
def test_arbitrary_json_never_crashes_validation(data: object) -> None:
    result = validate_or_errors(data)
    assert isinstance(result, AppSpec | SpecError)


SEGMENT = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
PORT_NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True), max_size=3, unique=True)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    ports = draw(PORT_NAMES)
    body: dict[str, Any] = {
        "id": "/".join(draw(st.lists(SEGMENT, min_size=1, max_size=3))),
        "cmd": draw(st.text(min_size=1, max_size=10).filter(str.strip)),
        "cpus": draw(st.floats(0.001, 64)),
        "mem": draw(st.floats(0.001, 65536)),
        "disk": draw(st.floats(0, 1000)),
        "instances": draw(st.integers(0, 50)),
        "ports": ports,
        "env": draw(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True)
                                    .filter(lambda k: not k.startswith(("PORT", "GANTRY_", "HOST"))),
                                    st.text(max_size=5), max_size=3)),
        "constraints": draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=2)),
        "backoff_factor": draw(st.floats(1, 10)),
    }
    if ports:
        body["health_checks"] = [{"protocol": "TCP", "port": draw(st.sampled_from(ports))}]
        body["readiness_checks"] = [{"protocol": "HTTP", "port": ports[0], "statuses": [204, 200]}]
    return body


@given(valid_specs())
def test_valid_specs_round_trip_through_json(body: dict[str, Any]) -> None:
    spec = validate_app(body)
    again = validate_app(json.loads(json.dumps(spec.to_json())))
    assert again == spec
    assert app_version(again) == app_version(spec)
