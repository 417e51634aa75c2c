"""`framework.app.run`, the `gantry run` entry: fatal errors end in one stderr line and exit 1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from framework import app
from framework.settings import Settings, load_settings
from framework.state.store import StoreError


def settings(tmp_path: Path) -> Settings:
    return load_settings({"data_dir": str(tmp_path), "log_format": "json"}, {"USER": "ci"})


def failing_serve(exc: BaseException) -> Any:
    async def serve(settings: Settings, **_: object) -> None:
        async def crash() -> None:
            raise exc

        async with asyncio.TaskGroup() as group:  # as serve() runs driver, client and API
            group.create_task(crash())

    return serve


def test_a_bug_is_one_line_on_stderr_and_a_traceback_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bug = OverflowError("cannot convert float infinity to integer")
    monkeypatch.setattr(app, "serve", failing_serve(bug))
    assert app.run(settings(tmp_path)) == 1
    err = capsys.readouterr().err
    # It used to escape run() as "ExceptionGroup: unhandled errors in a TaskGroup", with no log line.
    assert err.splitlines()[-1] == (
        "gantry: internal error (OverflowError): cannot convert float infinity to integer"
    )
    crashed = [json.loads(line) for line in err.splitlines() if '"gantry_crashed"' in line]
    assert len(crashed) == 1
    # The JSON log keeps a structured traceback: the exception and the frames that raised it.
    (trace,) = crashed[0]["exception"]
    assert trace["exc_type"] == "OverflowError"
    assert any(frame["name"] == "crash" for frame in trace["frames"])


def test_a_store_failure_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(app, "serve", failing_serve(StoreError("disk full")))
    assert app.run(settings(tmp_path)) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "gantry: the state store failed: disk full"
