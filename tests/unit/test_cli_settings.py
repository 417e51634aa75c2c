"""framework.settings: flags over GANTRY_* over defaults, typed values, and errors that name the setting."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from framework.settings import (
    ONE_WEEK_SECONDS,
    AgentResources,
    LogFormat,
    LogLevel,
    MesosContentType,
    PortRange,
    Settings,
    SettingsError,
    add_run_arguments,
    load_settings,
    parse_agent_resources,
    parse_duration,
    parse_size,
)

ENV = {"USER": "alice"}


def flags(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return vars(parser.parse_args(list(argv)))


def test_defaults() -> None:
    settings = load_settings(flags(), ENV)
    assert settings == Settings(framework_user="alice")
    assert settings.master is None and settings.embedded_cluster
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert settings.data_dir == Path("data")
    assert settings.mesos_content_type is MesosContentType.PROTOBUF
    assert settings.failover_timeout_seconds == ONE_WEEK_SECONDS == 604800
    assert settings.roles == ("*",)
    assert settings.local_agents == 3
    assert settings.local_agent_resources == AgentResources(4, 8192, 16384, (PortRange(31000, 32000),))
    assert settings.log_format is LogFormat.AUTO and settings.log_level is LogLevel.INFO
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.max_launches_per_decision == 8_000


def test_every_flag() -> None:
    settings = load_settings(
        flags(
            "--master", "zk://zk1:2181,zk2:2181/mesos", "--listen", "0.0.0.0:9090",
            "--data-dir", "/var/gantry", "--mesos-content-type", "JSON", "--framework-name", "gantry-prod",
            "--framework-user", "nobody", "--roles", "web,batch", "--principal", "gantry",
            "--failover-timeout", "12h", "--local-agents", "0",
            "--local-agent-resources", "cpus:2;mem:1024", "--log-format", "json", "--log-level", "debug",
            "--max-body-bytes", "64KiB", "--max-launches-per-decision", "2500",
        ),
        ENV,
    )
    assert settings == Settings(
        master="zk://zk1:2181,zk2:2181/mesos", listen_host="0.0.0.0", listen_port=9090,
        data_dir=Path("/var/gantry"), mesos_content_type=MesosContentType.JSON, framework_name="gantry-prod",
        framework_user="nobody", roles=("web", "batch"), principal="gantry", failover_timeout_seconds=43200,
        local_agents=0, local_agent_resources=AgentResources(2, 1024, 0, (PortRange(31000, 32000),)),
        log_format=LogFormat.JSON, log_level=LogLevel.DEBUG, max_body_bytes=65536,
        max_launches_per_decision=2500,
    )
    assert settings.master_uses_zookeeper and not settings.embedded_cluster


def test_environment_fills_what_flags_leave_out_and_flags_win() -> None:
    env = {**ENV, "GANTRY_MASTER": "http://m1:5050/", "GANTRY_LISTEN": "127.0.0.1:1", "GANTRY_ROLES": ""}
    settings = load_settings(flags("--listen", "[::1]:8081"), env)
    assert settings.master == "http://m1:5050"  # trailing slash dropped: the client appends paths
    assert (settings.listen_host, settings.listen_port) == ("::1", 8081)
    assert settings.roles == ("*",)  # an empty variable counts as unset


def test_user_defaults_to_the_login_name_from_the_environment() -> None:
    assert load_settings(flags(), {"LOGNAME": "bob", "USER": "alice"}).framework_user == "bob"
    assert load_settings(flags(), {}).framework_user  # password database fallback gives some name


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        (["--master", "mesos:5050"], {}, "--master / GANTRY_MASTER: expected http://host:port"),
        (["--master", "http://m:99999"], {}, "bad port in master URL"),
        (["--master", "http://m:5050/api"], {}, "just scheme://host:port"),
        (["--master", "zk://zk1:2181"], {}, "expected zk://host:port[,host:port]/path"),
        (["--master", "zk://zk1,zk2:2181/mesos"], {}, "ZooKeeper address as HOST:PORT"),
        (["--listen", "8080"], {}, "--listen / GANTRY_LISTEN: expected a listen address as HOST:PORT"),
        ([], {"GANTRY_LISTEN": "h:70000"}, "port 70000 is out of range"),
        (["--mesos-content-type", "xml"], {}, "expected one of protobuf, json, got 'xml'"),
        (["--roles", "a,,b"], {}, "invalid role ''"),
        (["--roles", "a,a"], {}, "duplicate role"),
        (["--framework-name", "my app"], {}, "without spaces"),
        (["--failover-timeout", "soon"], {}, "expected a duration"),
        (["--failover-timeout", "0"], {}, "positive duration"),
        (["--local-agents", "-1"], {}, "expected 0 or more"),
        (["--local-agents", "two"], {}, "expected a whole number"),
        (["--local-agents", "0"], {}, "needs at least 1 agent"),
        (["--local-agent-resources", "cpus:4"], {}, "missing mem"),
        (["--local-agent-resources", "cpus:4;mem:1;gpus:1"], {}, "unknown resource 'gpus'"),
        (["--log-format", "xml"], {}, "--log-format / GANTRY_LOG_FORMAT"),
        (["--max-body-bytes", "lots"], {}, "expected a size"),
        (["--data-dir", " "], {}, "expected a directory path"),
        (["--max-launches-per-decision", "0"], {}, "--max-launches-per-decision / "
         "GANTRY_MAX_LAUNCHES_PER_DECISION: must be at least 1"),
        ([], {"GANTRY_MAX_LAUNCHES_PER_DECISION": "many"}, "expected a whole number"),
    ],
)
def test_bad_values_name_the_flag_and_the_variable(
    argv: list[str], env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(flags(*argv), {**ENV, **env})
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems
    assert fragment in str(caught.value)


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(flags("--listen", "x", "--log-level", "loud"), {**ENV, "GANTRY_MASTER": "ftp://m"})
    assert len(caught.value.problems) == 3
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "--master / GANTRY_MASTER", "--listen / GANTRY_LISTEN", "--log-level / GANTRY_LOG_LEVEL"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "cpus:4;mem:8192;disk:100;ports:[31000-31999]",
            AgentResources(4, 8192, 100, (PortRange(31000, 31999),)),
        ),
        ("mem:512 ; cpus:0.5", AgentResources(0.5, 512, 0, (PortRange(31000, 32000),))),
        (
            "cpus:1;mem:1;ports:[2000-2010, 1000-1005]",  # sorted on the way in
            AgentResources(1, 1, 0, (PortRange(1000, 1005), PortRange(2000, 2010))),
        ),
    ],
)
def test_agent_resources(raw: str, expected: AgentResources) -> None:
    assert parse_agent_resources(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("cpus:x;mem:1", "cpus must be a number"),
        ("cpus:-1;mem:1", ">= 0"),
        ("cpus:nan;mem:1", ">= 0"),
        ("cpus:1;mem:1;cpus:2", "cpus is given twice"),
        ("cpus:1;mem:1;ports:31000-32000", "ports must look like [31000-32000]"),
        ("cpus:1;mem:1;ports:[5-1]", "1 <= begin <= end <= 65535"),
        ("cpus:1;mem:1;ports:[1-10,5-20]", "overlap"),
        ("cpus;mem:1", "expected NAME:VALUE"),
    ],
)
def test_agent_resources_errors(raw: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_agent_resources(raw)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90", 90), ("90s", 90), ("1.5m", 90), ("2h", 7200), ("7d", 604800), ("1w", 604800)]
)
def test_durations(raw: str, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize(("raw", "size"), [("10", 10), ("512KiB", 524288), ("1MiB", 1048576), ("2 kb", 2000)])
def test_sizes(raw: str, size: int) -> None:
    assert parse_size(raw) == size


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.listen_port = 1  # type: ignore[misc]
