"""Gantry stops when asked, however busy it is.

`gantry run` stops on SIGTERM by cancelling `serve()`, which cancels the driver. A cancellation that
lands in the same loop iteration in which an event reaches the driver's inbox must still stop it:
Python 3.11's `asyncio.wait_for` returns the inner result and drops the cancellation when the inner
future finished first, which left the driver running and `serve()` waiting for it forever (seen in
the end-to-end benchmark: a Gantry with a busy inbox that never stopped). The driver runs here with
its real store; the moment of cancellation is swept over the first few loop iterations after an
event is queued, which covers the window whatever the interleaving.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from framework.core.events import Disconnected
from framework.core.scheduler import SchedulerState
from framework.state.aio import AsyncStore
from framework.state.sqlite import SqliteStore
from tests.integration.driver_fakes import quiet_driver


@pytest.mark.parametrize("iterations", range(6))
async def test_driver_stops_when_cancelled_as_an_event_arrives(data_dir: Path, iterations: int) -> None:
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    try:
        driver = quiet_driver(SchedulerState(), store)
        running = asyncio.create_task(driver.run())
        await asyncio.sleep(0.1)  # the first turn (a Tick) is done; the driver waits on its empty inbox
        await driver.on_event(Disconnected(0.0, "test"))
        for _ in range(iterations):
            await asyncio.sleep(0)
        running.cancel()
        done, _ = await asyncio.wait({running}, timeout=3.0)
        stopped = bool(done)
        if not stopped:  # do not leak the task: stop it the hard way before failing
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(running, 3.0)
        assert stopped, "the driver swallowed its cancellation and kept running"
        assert running.cancelled()
    finally:
        await store.close()
