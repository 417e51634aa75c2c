"""App spec validation: every bad field is reported with its path; valid specs round-trip."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from framework.core.spec import (
    AppSpec,
    CheckProtocol,
    ConstraintOperator,
    FieldError,
    SpecError,
    app_id_slug,
    app_version,
    build_env,
    normalize_app_id,
    validate_app,
)

# The example from issue 4, fully spelled out.
EXAMPLE: dict[str, Any] = {
    "id": "shop/web",
    "cmd": "python3 -m http.server $PORT0",
    "cpus": 0.1,
    "mem": 64,
    "disk": 0,
    "instances": 3,
    "ports": ["http"],
    "env": {"MODE": "prod"},
    "labels": {"team": "shop"},
    "constraints": [["hostname", "UNIQUE"]],
    "container": {"image": "python:3.11-slim", "port_mappings": [{"port": "http", "container_port": 8000}]},
    "health_checks": [
        {
            "protocol": "HTTP",
            "port": "http",
            "path": "/",
            "interval_seconds": 10,
            "timeout_seconds": 5,
            "grace_period_seconds": 30,
            "max_consecutive_failures": 3,
        }
    ],
    "readiness_checks": [
        {"protocol": "HTTP", "port": "http", "path": "/ready", "statuses": [200], "interval_seconds": 5}
    ],
    "kill_grace_period_seconds": 3,
    "backoff_seconds": 1,
    "backoff_factor": 1.15,
    "max_launch_delay_seconds": 300,
}


def errors_of(data: object) -> tuple[FieldError, ...]:
    with pytest.raises(SpecError) as info:
        validate_app(data)
    return info.value.errors


def with_change(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """EXAMPLE with the value at `path` replaced (or deleted when value is DELETE)."""
    data = copy.deepcopy(EXAMPLE)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()


def test_example_from_the_issue_is_valid() -> None:
    spec = validate_app(EXAMPLE)
    assert spec.id == "/shop/web"
    assert spec.cpus == 0.1 and spec.mem == 64.0 and spec.instances == 3
    assert spec.constraints[0].operator is ConstraintOperator.UNIQUE
    assert spec.health_checks[0].protocol is CheckProtocol.HTTP
    assert spec.readiness_checks[0].statuses == (200,)
    assert spec.env == (("MODE", "prod"),)


def test_minimal_spec_gets_documented_defaults() -> None:
    spec = validate_app({"id": "/a", "cmd": "sleep 1000"})
    assert spec == AppSpec(id="/a", cmd="sleep 1000")
    assert (spec.cpus, spec.mem, spec.disk, spec.instances) == (1.0, 128.0, 0.0, 1)
    assert (spec.backoff_seconds, spec.backoff_factor, spec.max_launch_delay_seconds) == (1.0, 1.15, 300.0)
    assert spec.kill_grace_period_seconds == 3.0


def test_to_json_round_trips_and_is_json() -> None:
    spec = validate_app(EXAMPLE)
    text = json.dumps(spec.to_json())
    assert validate_app(json.loads(text)) == spec


@pytest.mark.parametrize(
    ("path", "value", "error_path", "fragment"),
    [
        # --- top level ---
        (("colour",), "red", "colour", "unknown field"),
        (("id",), DELETE, "id", "is required"),
        (("id",), "Shop/web", "id", "segment 'Shop'"),
        (("id",), "shop//web", "id", "segment ''"),
        (("id",), "shop/web/", "id", "segment ''"),
        (("id",), "-shop", "id", "segment '-shop'"),
        (("id",), "shop_web", "id", "segment 'shop_web'"),
        (("id",), "/", "id", "must not be empty"),
        (("id",), "a" * 200, "id", "at most 200"),
        (("id",), 7, "id", "must be a string"),
        (("cmd",), "   ", "cmd", "must not be empty"),
        (("cpus",), -1, "cpus", "at least 0.001"),
        (("cpus",), 0, "cpus", "at least 0.001"),
        (("cpus",), "1", "cpus", "must be a number"),
        (("cpus",), True, "cpus", "must be a number"),
        (("mem",), -64, "mem", "at least 0.001"),
        (("disk",), -1, "disk", "at least 0"),
        # Sizes Mesos' int64 thousandths cannot hold (1e308 once crashed the scheduler on every restart).
        (("cpus",), 1e308, "cpus", "at most 1000000000"),
        (("mem",), 2**70, "mem", "at most 1000000000"),
        (("disk",), 1e10, "disk", "at most 1000000000"),
        (("instances",), 2.5, "instances", "must be an integer"),
        (("instances",), -1, "instances", "between 0 and"),
        (("ports",), "http", "ports", "must be an array"),
        (("ports",), ["http", "http"], "ports[1]", "duplicate"),
        (("ports",), ["HTTP"], "ports[0]", "is invalid"),
        (("env",), [], "env", "JSON object"),
        (("env",), {"A": 1}, "env.A", "must be a string"),
        (("env",), {"1A": "x"}, "env['1A']", "not a valid environment variable name"),
        (("env",), {"PORT0": "x"}, "env.PORT0", "set by Gantry"),
        (("env",), {"GANTRY_APP_ID": "x"}, "env.GANTRY_APP_ID", "set by Gantry"),
        (("env",), {"HOST": "x"}, "env.HOST", "set by Gantry"),
        (("labels",), {"gantry.app_id": "x"}, "labels['gantry.app_id']", "reserved"),
        (("labels",), {"k": None}, "labels.k", "must be a string"),
        (("kill_grace_period_seconds",), -1, "kill_grace_period_seconds", "at least 0"),
        (("backoff_seconds",), -0.5, "backoff_seconds", "at least 0"),
        (("backoff_factor",), 0.5, "backoff_factor", "at least 1"),
        (("max_launch_delay_seconds",), "300", "max_launch_delay_seconds", "must be a number"),
        # Durations beyond a year (int64 nanoseconds overflow near 292 years; 1e300 failed every ACCEPT).
        (("kill_grace_period_seconds",), 1e300, "kill_grace_period_seconds", "at most 31536000"),
        (("backoff_seconds",), 31_536_001, "backoff_seconds", "at most 31536000"),
        (("max_launch_delay_seconds",), 1e12, "max_launch_delay_seconds", "at most 31536000"),
        # --- constraints ---
        (("constraints",), {}, "constraints", "must be an array"),
        (("constraints", 0), ["hostname"], "constraints[0]", "[field, operator]"),
        (("constraints", 0), ["hostname", "UNIQUE", "x", "y"], "constraints[0]", "[field, operator]"),
        (("constraints", 0), ["hostname", "NEAR"], "constraints[0][1]", "must be one of"),
        (("constraints", 0), ["", "UNIQUE"], "constraints[0][0]", "must not be empty"),
        (("constraints", 0), ["host name", "UNIQUE"], "constraints[0][0]", "is invalid"),
        (("constraints", 0), ["hostname", "UNIQUE", "x"], "constraints[0][2]", "takes no value"),
        (("constraints", 0), ["hostname", "MAX_PER"], "constraints[0]", "MAX_PER needs a value"),
        (("constraints", 0), ["hostname", "MAX_PER", "0"], "constraints[0][2]", "positive integer"),
        (("constraints", 0), ["rack", "GROUP_BY", "two"], "constraints[0][2]", "positive integer"),
        (("constraints", 0), ["rack", "GROUP_BY", "\u00b2"], "constraints[0][2]", "positive integer"),
        (("constraints", 0), ["rack", "LIKE"], "constraints[0]", "LIKE needs a value"),
        (("constraints", 0), ["rack", "UNLIKE", "(["], "constraints[0][2]", "regular expression"),
        (("constraints", 0), ["rack", "CLUSTER", 1.5], "constraints[0][2]", "must be a string"),
        # --- container ---
        (("container",), "python", "container", "JSON object"),
        (("container", "image"), DELETE, "container.image", "is required"),
        (("container", "image"), "py thon", "container.image", "whitespace"),
        (("container", "network"), "BRIDGE", "container.network", "unknown field"),
        (("container", "port_mappings", 0, "port"), "grpc", "container.port_mappings[0].port", "app's ports"),
        (("container", "port_mappings", 0, "container_port"), 0, "container.port_mappings[0].container_port",
         "between 1 and 65535"),
        (("container", "port_mappings", 0, "container_port"), DELETE,
         "container.port_mappings[0].container_port", "is required"),
        (("container", "port_mappings", 0, "protocol"), "sctp", "container.port_mappings[0].protocol",
         "'tcp' or 'udp'"),
        (("container", "port_mappings", 0, "host_port"), 80, "container.port_mappings[0].host_port",
         "unknown field"),
        # --- health checks ---
        (("health_checks",), {}, "health_checks", "must be an array"),
        (("health_checks", 0, "protocol"), "HTTPS", "health_checks[0].protocol", "must be one of"),
        (("health_checks", 0, "protocol"), DELETE, "health_checks[0].protocol", "is required"),
        (("health_checks", 0, "port"), "web", "health_checks[0].port", "app's ports"),
        (("health_checks", 0, "port"), DELETE, "health_checks[0].port", "is required"),
        (("health_checks", 0, "path"), "health", "health_checks[0].path", "start with '/'"),
        (("health_checks", 0, "command"), "true", "health_checks[0].command", "only valid for COMMAND"),
        (("health_checks", 0, "interval_seconds"), 0, "health_checks[0].interval_seconds", "greater than 0"),
        (("health_checks", 0, "timeout_seconds"), -1, "health_checks[0].timeout_seconds", "greater than 0"),
        (("health_checks", 0, "grace_period_seconds"), -1, "health_checks[0].grace_period_seconds",
         "at least 0"),
        (("health_checks", 0, "interval_seconds"), 1e300, "health_checks[0].interval_seconds", "at most"),
        (("health_checks", 0, "timeout_seconds"), 1e300, "health_checks[0].timeout_seconds", "at most"),
        (("health_checks", 0, "grace_period_seconds"), 1e300, "health_checks[0].grace_period_seconds",
         "at most"),
        (("health_checks", 0, "max_consecutive_failures"), 0, "health_checks[0].max_consecutive_failures",
         "between 1 and"),
        (("health_checks", 0, "delay"), 1, "health_checks[0].delay", "unknown field"),
        # --- readiness checks ---
        (("readiness_checks", 0, "protocol"), "TCP", "readiness_checks[0].protocol", "must be one of HTTP"),
        (("readiness_checks", 0, "port"), "admin", "readiness_checks[0].port", "app's ports"),
        (("readiness_checks", 0, "path"), "ready", "readiness_checks[0].path", "start with '/'"),
        (("readiness_checks", 0, "statuses"), [], "readiness_checks[0].statuses", "at least one"),
        (("readiness_checks", 0, "statuses"), [200, 99], "readiness_checks[0].statuses[1]", "between 100"),
        (("readiness_checks", 0, "statuses"), "200", "readiness_checks[0].statuses", "must be an array"),
        (("readiness_checks", 0, "interval_seconds"), 0, "readiness_checks[0].interval_seconds",
         "greater than 0"),
        (("readiness_checks", 0, "interval_seconds"), 1e300, "readiness_checks[0].interval_seconds",
         "at most"),
    ],
)
def test_each_bad_field_is_reported_at_its_path(path: tuple[Any, ...], value: Any, error_path: str,
                                                fragment: str) -> None:
    errors = errors_of(with_change(path, value))
    matching = [e for e in errors if e.path == error_path]
    assert matching, f"no error at {error_path}: {errors}"
    assert fragment in matching[0].message


def test_command_check_needs_command_and_no_port() -> None:
    data = with_change(("health_checks", 0), {"protocol": "COMMAND", "port": "http"})
    paths = {e.path: e.message for e in errors_of(data)}
    assert "is required" in paths["health_checks[0].command"]
    assert "only valid for HTTP and TCP" in paths["health_checks[0].port"]


def test_tcp_check_rejects_path() -> None:
    data = with_change(("health_checks", 0), {"protocol": "TCP", "port": "http", "path": "/"})
    assert [e.path for e in errors_of(data)] == ["health_checks[0].path"]


def test_cmd_or_container_is_required() -> None:
    data = with_change(("cmd",), DELETE)
    del data["container"]
    assert [e.path for e in errors_of(data)] == ["cmd"]
    # An image alone is enough: it brings its own entrypoint.
    assert validate_app(with_change(("cmd",), DELETE)).cmd is None


def test_duplicate_mappings_are_rejected() -> None:
    data = with_change(("ports",), ["http", "admin"])
    data["container"]["port_mappings"] = [
        {"port": "http", "container_port": 80},
        {"port": "http", "container_port": 81},
        {"port": "admin", "container_port": 80},
    ]
    paths = [e.path for e in errors_of(data)]
    assert paths == ["container.port_mappings[1].port", "container.port_mappings[2].container_port"]


@pytest.mark.parametrize("body", [None, [], "app", 3])
def test_non_object_body(body: object) -> None:
    assert errors_of(body) == (FieldError("(root)", "must be a JSON object"),)


def test_all_errors_are_collected_in_document_order() -> None:
    data = {"id": "Bad", "cpus": -1, "instances": "3", "ports": ["http"], "surprise": 1,
            "health_checks": [{"protocol": "HTTP", "port": "nope"}]}
    assert [e.path for e in errors_of(data)] == [
        "surprise", "id", "cpus", "cmd", "instances", "health_checks[0].port",
    ]


def test_scalars_are_rounded_to_mesos_precision() -> None:
    spec = validate_app({"id": "a", "cmd": "x", "cpus": 0.12345, "mem": 100.0004})
    assert (spec.cpus, spec.mem) == (0.123, 100.0)


def test_constraint_integer_values_are_accepted_as_strings() -> None:
    constraints = [["hostname", "MAX_PER", 2], ["rack", "GROUP_BY"]]
    spec = validate_app({"id": "a", "cmd": "x", "constraints": constraints})
    assert [c.to_json() for c in spec.constraints] == [["hostname", "MAX_PER", "2"], ["rack", "GROUP_BY"]]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("shop/web", "/shop/web"), ("/shop/web", "/shop/web"), ("a", "/a"), ("a-1/b2/c-3", "/a-1/b2/c-3")],
)
def test_app_ids_are_normalised(raw: str, canonical: str) -> None:
    assert normalize_app_id(raw) == canonical


def test_slug_cannot_collide_because_segments_have_no_underscore() -> None:
    assert app_id_slug("/shop/web") == "shop_web"
    assert app_id_slug("/shop-web") == "shop-web"


def test_version_is_content_addressed_and_scale_keeps_the_config_prefix() -> None:
    spec = validate_app(EXAMPLE)
    scaled = validate_app(with_change(("instances",), 5))
    changed = validate_app(with_change(("cmd",), "other"))
    assert app_version(spec) == app_version(validate_app(copy.deepcopy(EXAMPLE)))
    assert app_version(spec).split(".")[0] == app_version(scaled).split(".")[0]
    assert app_version(spec).endswith(".3") and app_version(scaled).endswith(".5")
    assert app_version(spec).split(".")[0] != app_version(changed).split(".")[0]
    assert spec.same_config(scaled) and not spec.same_config(changed)


def test_task_environment() -> None:
    spec = validate_app({"id": "shop/web", "cmd": "x", "ports": ["http", "admin-api"],
                         "env": {"MODE": "prod"}})
    env = dict(build_env(spec, "v.3", "shop_web.7", 2, "host-1", (31000, 31001)))
    assert env == {
        "MODE": "prod",
        "HOST": "host-1",
        "PORT": "31000",
        "PORT0": "31000",
        "PORT1": "31001",
        "PORTS": "31000,31001",
        "PORT_HTTP": "31000",
        "PORT_ADMIN_API": "31001",
        "GANTRY_APP_ID": "/shop/web",
        "GANTRY_APP_VERSION": "v.3",
        "GANTRY_TASK_ID": "shop_web.7",
        "GANTRY_INSTANCE": "2",
    }
