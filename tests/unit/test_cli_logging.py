"""framework.logging: format selection, JSON lines with bound ids, level filtering, stdlib routing."""

from __future__ import annotations

import io
import json
import logging

from framework.logging import (
    bind_app,
    bind_deployment,
    bind_task,
    build_logger,
    resolve_format,
    route_stdlib_logging,
)
from framework.settings import LogFormat, LogLevel


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_auto_is_console_on_a_terminal_and_json_elsewhere() -> None:
    assert resolve_format(LogFormat.AUTO, Terminal()) is LogFormat.CONSOLE
    assert resolve_format(LogFormat.AUTO, io.StringIO()) is LogFormat.JSON
    assert resolve_format(LogFormat.JSON, Terminal()) is LogFormat.JSON
    assert resolve_format(LogFormat.CONSOLE, io.StringIO()) is LogFormat.CONSOLE


def test_json_lines_carry_bound_ids() -> None:
    out = io.StringIO()
    log = build_logger(LogFormat.AUTO, LogLevel.INFO, out)
    bind_app(log, "shop/web").info("scaled", instances=3)
    bind_task(log, "shop_web.1", app_id="shop/web").info("launched")
    bind_task(log, "t2").warning("lost")
    bind_deployment(log, "d-1", app_id="shop/web").info("started")
    bind_deployment(log, "d-2").info("finished")
    got = lines(out)
    assert [(line["event"], line["level"]) for line in got] == [
        ("scaled", "info"),
        ("launched", "info"),
        ("lost", "warning"),
        ("started", "info"),
        ("finished", "info"),
    ]
    assert got[0]["app_id"] == "shop/web" and got[0]["instances"] == 3
    assert (got[1]["app_id"], got[1]["task_id"]) == ("shop/web", "shop_web.1")
    assert "app_id" not in got[2] and got[2]["task_id"] == "t2"
    assert (got[3]["app_id"], got[3]["deployment_id"]) == ("shop/web", "d-1")
    assert got[4]["deployment_id"] == "d-2"
    assert all(isinstance(line["timestamp"], str) and str(line["timestamp"]).endswith("Z") for line in got)


def test_level_filtering() -> None:
    out = io.StringIO()
    log = build_logger(LogFormat.JSON, LogLevel.WARNING, out)
    log.info("quiet")
    log.error("loud")
    assert [line["event"] for line in lines(out)] == ["loud"]


def test_exceptions_are_structured_without_locals() -> None:
    out = io.StringIO()
    log = build_logger(LogFormat.JSON, LogLevel.INFO, out)
    secret = "hunter2"
    try:
        raise RuntimeError("store unavailable")
    except RuntimeError:
        log.exception("persist failed")
    (line,) = lines(out)
    assert secret not in out.getvalue()
    exc = line["exception"]
    assert isinstance(exc, list) and exc[0]["exc_type"] == "RuntimeError"


def test_console_format_is_one_readable_line() -> None:
    out = io.StringIO()
    bind_app(build_logger(LogFormat.CONSOLE, LogLevel.INFO, out), "shop/web").info("deployed")
    text = out.getvalue()
    assert text.count("\n") == 1 and "deployed" in text and "app_id=shop/web" in text
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal


def test_stdlib_records_are_routed_and_the_handler_can_be_removed() -> None:
    out = io.StringIO()
    root_level = logging.getLogger().level
    handler = route_stdlib_logging(build_logger(LogFormat.JSON, LogLevel.INFO, out), LogLevel.INFO)
    try:
        logging.getLogger("kazoo.client").warning("connection dropped to %s", "zk1:2181")
        logging.getLogger("kazoo.client").debug("below the level")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(root_level)
    (line,) = lines(out)
    assert (line["event"], line["logger"], line["level"]) == (
        "connection dropped to zk1:2181", "kazoo.client", "warning"
    )
