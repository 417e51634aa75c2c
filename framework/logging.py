"""Structured logging for Gantry: one structlog logger built per process by the composition root.

Who calls it: framework/app.py calls `build_logger(settings.log_format, settings.log_level)` once and
passes the logger (or loggers bound from it) to the driver, client, store and API; request handlers
and the driver narrow it with `bind_app` / `bind_task` / `bind_deployment` so every line about an app,
task or deployment carries its id and can be found with one grep or one log query.

Output: with LogFormat.AUTO, a human console renderer when the stream is a terminal and JSON lines
(one object per line: timestamp, level, event, bound ids) otherwise, which is what log shippers on
DC/OS and CI expect.

What it must not do: keep module-level state. Nothing here calls `structlog.configure`; the logger is
a value built by `build_logger`. The one function that touches process-wide state,
`route_stdlib_logging`, is called explicitly by the composition root and returns what it installed
so it can be removed again.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog
from structlog.typing import FilteringBoundLogger, Processor

from framework.settings import LogFormat, LogLevel

_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


def resolve_format(fmt: LogFormat, stream: TextIO) -> LogFormat:
    """AUTO becomes CONSOLE on a terminal and JSON elsewhere; explicit choices are kept."""
    if fmt is LogFormat.AUTO:
        isatty = getattr(stream, "isatty", None)
        return LogFormat.CONSOLE if callable(isatty) and isatty() else LogFormat.JSON
    return fmt


def build_logger(
    fmt: LogFormat = LogFormat.AUTO,
    level: LogLevel = LogLevel.INFO,
    stream: TextIO | None = None,
) -> FilteringBoundLogger:
    """A logger writing to `stream` (default: stderr) in the resolved format, dropping lines below level."""
    out = stream if stream is not None else sys.stderr
    resolved = resolve_format(fmt, out)
    processors: list[Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if resolved is LogFormat.CONSOLE:
        # The console renderer formats exceptions itself (with colours on a terminal).
        processors.append(structlog.dev.ConsoleRenderer(colors=resolved_is_tty(out)))
    else:
        # Structured tracebacks, without local variables: locals can hold secrets and request bodies.
        processors.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        processors.append(structlog.processors.JSONRenderer(sort_keys=False))
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=out),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        cache_logger_on_first_use=False,
    )
    return cast(FilteringBoundLogger, logger)


def resolved_is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


def bind_app(log: FilteringBoundLogger, app_id: str) -> FilteringBoundLogger:
    """Every line from the returned logger names the app."""
    return log.bind(app_id=app_id)


def bind_task(log: FilteringBoundLogger, task_id: str, app_id: str | None = None) -> FilteringBoundLogger:
    """Every line names the task (and its app when known, so app-level queries find task lines too)."""
    if app_id is not None:
        return log.bind(app_id=app_id, task_id=task_id)
    return log.bind(task_id=task_id)


def bind_deployment(
    log: FilteringBoundLogger, deployment_id: str, app_id: str | None = None
) -> FilteringBoundLogger:
    """Every line names the deployment (and its app when known)."""
    if app_id is not None:
        return log.bind(app_id=app_id, deployment_id=deployment_id)
    return log.bind(deployment_id=deployment_id)


class _ToStructlog(logging.Handler):
    """Forwards standard-library records (aiohttp, kazoo) into the structlog logger, same format."""

    def __init__(self, log: FilteringBoundLogger) -> None:
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                self._log.log(record.levelno, message, logger=record.name, exc_info=record.exc_info)
            else:
                self._log.log(record.levelno, message, logger=record.name)
        except Exception:  # a logging failure must never take the scheduler down
            self.handleError(record)


def route_stdlib_logging(log: FilteringBoundLogger, level: LogLevel = LogLevel.INFO) -> logging.Handler:
    """Send the root stdlib logger's records through `log`; returns the handler (remove it to undo)."""
    handler = _ToStructlog(log)
    handler.setLevel(_LEVELS[level])
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > _LEVELS[level] or root.level == logging.NOTSET:
        root.setLevel(_LEVELS[level])
    return handler
