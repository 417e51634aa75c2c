"""deploy/: marathon.json validates against Marathon's schema (the copy in deploy/schemas, so a clean
clone can check it) and says what Gantry needs; the Dockerfile is structurally sane.

No container engine exists on the development machine, so the image is not built here."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # ships no stubs; types-jsonschema is not a dev dep
import pytest

from framework.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMA = DEPLOY / "schemas" / "marathon-app-definition.schema.json"


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def schema_errors(app: object) -> list[str]:
    # The schema predates draft 6 (array-form `items`, `additionalItems`): validate as draft 4.
    validator = jsonschema.Draft4Validator(load(SCHEMA))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(app)]


@pytest.fixture
def app() -> dict[str, Any]:
    return dict(load(DEPLOY / "marathon.json"))


def test_the_schema_is_a_valid_draft4_schema() -> None:
    jsonschema.Draft4Validator.check_schema(load(SCHEMA))


def test_marathon_json_validates(app: dict[str, Any]) -> None:
    assert schema_errors(app) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("instances",), "one"),
        (("upgradeStrategy", "minimumHealthCapacity"), 2),
        (("healthChecks", 0, "protocol"), "GRPC"),
        (("portDefinitions", 0, "colour"), "blue"),
    ],
)
def test_the_schema_really_rejects_bad_definitions(app: dict[str, Any], path: tuple[str | int, ...],
                                                   value: object) -> None:
    # Guards the test above against a schema that accepts anything.
    target: Any = app
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert schema_errors(app) != []


def test_one_instance_never_two_on_one_framework_id(app: dict[str, Any]) -> None:
    assert app["id"] == "/gantry"
    assert app["instances"] == 1
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
    assert app["unreachableStrategy"] == "disabled"


def test_health_and_readiness_checks(app: dict[str, Any]) -> None:
    (health,) = app["healthChecks"]
    assert (health["protocol"], health["path"], health["portIndex"]) == ("MESOS_HTTP", "/healthz", 0)
    (ready,) = app["readinessChecks"]
    assert (ready["path"], ready["portName"]) == ("/readyz", app["portDefinitions"][0]["name"])


def test_environment_is_valid_gantry_settings(app: dict[str, Any]) -> None:
    settings = load_settings({}, app["env"])
    assert settings.master == "zk://master.mesos:2181/mesos"
    assert settings.listen_port == app["portDefinitions"][0]["port"] and app["requirePorts"] is True
    assert settings.failover_timeout_seconds == 7 * 24 * 3600
    (volume,) = app["container"]["volumes"]
    assert "persistent" in volume
    # The persistent volume is mounted at <sandbox>/<containerPath>; the state must live inside it.
    assert str(settings.data_dir) == f"/mnt/mesos/sandbox/{volume['containerPath']}"


# --- Dockerfile ----------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert pending == "", "the Dockerfile ends in a continuation line"
    return instructions


@pytest.fixture
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))


def test_dockerfile_final_stage(instructions: list[tuple[str, str]]) -> None:
    keywords = [keyword for keyword, _ in instructions]
    assert keywords[0] == "FROM"
    assert set(keywords) <= {"FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE", "ENTRYPOINT"}
    last_from = max(i for i, keyword in enumerate(keywords) if keyword == "FROM")
    final = instructions[last_from:]
    assert final[0] == ("FROM", "python:3.11-slim")
    (entrypoint,) = [args for keyword, args in final if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["gantry", "run"]
    (user,) = [args for keyword, args in final if keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert any(keyword == "RUN" and "pip install" in args for keyword, args in final)


def test_dockerfile_copies_files_that_exist(instructions: list[tuple[str, str]]) -> None:
    copies = [shlex.split(args) for keyword, args in instructions if keyword == "COPY"]
    sources = [source for parts in copies if not parts[0].startswith("--from=") for source in parts[:-1]]
    assert "pyproject.toml" in sources and "framework" in sources
    for source in sources:
        assert (ROOT / source).exists(), source


def test_dockerfile_environment_is_valid_gantry_settings(instructions: list[tuple[str, str]]) -> None:
    env: dict[str, str] = {}
    for keyword, args in instructions:
        if keyword == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    settings = load_settings({}, env)
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 8080)
    assert str(settings.data_dir) == "/home/gantry/data"
