"""Review findings on the reactor and the composition root, each pinned by a test that fails today.

1. `gantry run` must stop when SIGTERM arrives while the store is still opening. `AsyncStore.open`
   answers a cancellation with a synchronous `thread.join()` on its worker, but a worker whose
   factory succeeded goes on waiting for jobs forever, so the event loop blocks in that join: the
   process hangs (its signal handlers run on that loop) and keeps the data directory locked. The
   scenario runs `serve()` on its own loop in a helper thread, so a hang fails the test instead of
   hanging pytest, and every thread, store and lock it made is released either way.
2. The driver must not spin on a deadline that a Tick does not move. The core keeps a KILL's retry
   time in `next_deadline()` while it is disconnected (it re-sends kills only when subscribed), so
   the deadline stays in the past; the driver then answers every loop iteration with another
   Tick turn (100% CPU for as long as the master is away). The clock is frozen, so any turn after
   the first is such a spin, whatever the speed of the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from framework import app
from framework.core.effects import Accept, Effect, Kill
from framework.core.events import AppDeleted, AppSubmitted, Disconnected, Event, OffersReceived, Subscribed
from framework.core.model import Offer
from framework.core.resources import Resources
from framework.core.scheduler import SchedulerState
from framework.core.spec import validate_app
from framework.logging import build_logger
from framework.settings import LogFormat, LogLevel, load_settings
from framework.state import aio
from framework.state.aio import AsyncStore
from framework.state.sqlite import SqliteStore
from tests.integration.driver_fakes import FakeClient, poll, quiet_driver, stop

STORE_THREAD = "gantry-store"
HANG_GUARD = 10.0  # liveness bound only: a stopping serve() returns within milliseconds


def _store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == STORE_THREAD and t.is_alive()]


def test_serve_cancelled_while_the_store_opens_stops_and_releases_the_store(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_open = SqliteStore.open

    def gated_open(path: Path) -> SqliteStore:
        entered.set()  # serve() is now awaiting the store
        release.wait()
        return real_open(path)

    # The worker's job queue, kept so a stuck worker can be told to close its store and exit.
    job_queues: list[queue.SimpleQueue[Any]] = []

    def recording_queue() -> queue.SimpleQueue[Any]:
        jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        job_queues.append(jobs)
        return jobs

    monkeypatch.setattr(app, "SqliteStore", SimpleNamespace(open=gated_open))
    monkeypatch.setattr(aio, "queue", SimpleNamespace(SimpleQueue=recording_queue, Empty=queue.Empty))
    settings = load_settings({"data_dir": str(data_dir), "log_format": "json"}, {"USER": "ci"})
    log = build_logger(LogFormat.JSON, LogLevel.ERROR)
    loops: list[asyncio.AbstractEventLoop] = []

    async def scenario() -> None:
        loops.append(asyncio.get_running_loop())
        serving = asyncio.create_task(app.serve(settings, log=log))
        await asyncio.to_thread(entered.wait)
        serving.cancel()  # what SIGINT/SIGTERM do to `gantry run`
        release.set()  # the store finishes opening after the cancellation
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    helper = threading.Thread(target=asyncio.run, args=(scenario(),), name="review-serve", daemon=True)
    helper.start()
    try:
        helper.join(HANG_GUARD)
        hung = helper.is_alive()
    finally:
        release.set()
        if helper.is_alive():
            # Unblock the join the loop is stuck in: the worker closes the store (and its lock) and exits.
            for jobs in job_queues:
                jobs.put(aio._Stop(future=loops[0].create_future()))
            helper.join()
    assert not hung, "serve() cancelled while the store opened never returned (loop blocked in thread.join)"
    assert _store_threads() == []


class _CountingState(SchedulerState):
    """The real core, counting the reactor turns that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.turns = 0

    def handle(self, *events: Event) -> list[Effect]:
        self.turns += 1
        return super().handle(*events)


def _disconnected_with_a_kill_sent() -> _CountingState:
    """A core that sent a KILL at t=5 (its retry is due at ~35) and lost its master at t=6."""
    state = _CountingState()
    state.handle(Subscribed(0.0, "fw-1", "master@127.0.0.1:5050"))
    spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 1, "mem": 128, "instances": 1})
    state.handle(AppSubmitted(0.0, spec))
    offer = Offer("offer-1", "agent-1", "agent-1.example", "*", Resources.of(cpus=4, mem=4096, disk=1024))
    assert any(isinstance(e, Accept) for e in state.handle(OffersReceived(1.0, (offer,))))
    assert any(isinstance(e, Kill) for e in state.handle(AppDeleted(5.0, "/shop/web")))
    state.handle(Disconnected(6.0, "stream dropped"))
    state.turns = 0
    return state


async def test_the_driver_does_not_spin_on_a_deadline_a_tick_cannot_move(data_dir: Path) -> None:
    state = _disconnected_with_a_kill_sent()
    frozen: Callable[[], float] = lambda: 300.0  # noqa: E731 (long past the KILL's retry time)
    deadline = state.next_deadline()
    assert deadline is not None and deadline < frozen()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    try:
        driver = quiet_driver(state, store, clock=frozen)
        running = asyncio.create_task(driver.run())
        for _ in range(200):  # loop iterations; the frozen clock means at most one Tick is ever due
            await asyncio.sleep(0)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    finally:
        await store.close()
    assert state.turns <= 1, f"{state.turns} reactor turns with nothing to do: the driver busy-loops"


class _FlakyClient(FakeClient):
    """A subscribed client whose first REVIVE is lost in flight (a 500, a reset, a timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.revives_failed = 0

    def answer(self, effect: object, future: asyncio.Future[None]) -> None:
        if type(effect).__name__ == "Revive" and self.revives_failed == 0:
            self.revives_failed += 1
            future.set_exception(ConnectionResetError("lost in flight"))
        else:
            super().answer(effect, future)


async def test_a_revive_lost_in_flight_is_sent_again(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The core believes its REVIVE took effect; if it was lost, pending work would wait on a master
    # that still suppresses offers. The driver retries the latest barrier until it gets through.
    monkeypatch.setattr("framework.driver.BARRIER_RETRY_SECONDS", 0.01)
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    client = _FlakyClient()
    try:
        driver = quiet_driver(SchedulerState(), store)
        driver.attach(client)
        running = asyncio.create_task(driver.run())
        await driver.on_event(Subscribed(0.0, "fw-1", "master@127.0.0.1:5050"))  # -> SUPPRESS
        await poll(lambda: any(type(c).__name__ == "Suppress" for c in client.sent), tries=100)
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 1, "mem": 128, "instances": 1})
        await driver.submit_app(spec, create_only=True)  # work appears -> REVIVE (lost once)
        await poll(lambda: any(type(c).__name__ == "Revive" for c in client.sent), tries=200)
        await stop(running)
    finally:
        await store.close()
    assert client.revives_failed == 1
    barriers = [type(c).__name__ for c in client.sent if type(c).__name__ in ("Suppress", "Revive")]
    assert barriers == ["Suppress", "Revive"]
