"""The driver's inbox: offers are handled ahead of a backlog of status updates, never ahead of
anything else (so they are always handled on the subscription that brought them)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from framework.core.effects import Effect
from framework.core.events import Disconnected, Event, OffersReceived, StatusUpdated, TaskState
from framework.core.model import Offer
from framework.core.resources import Resources
from framework.core.scheduler import SchedulerState
from framework.driver import MAX_BATCH, Driver
from framework.logging import build_logger
from framework.metrics import build_metrics
from framework.settings import LogFormat, LogLevel
from framework.state.aio import AsyncStore
from framework.state.sqlite import SqliteStore


class _RecordingState(SchedulerState):
    """The real core, recording the events of each reactor turn (the driver's own Ticks left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[list[Event]] = []

    def handle(self, *events: Event) -> list[Effect]:
        self.turns.append([e for e in events if type(e).__name__ != "Tick"])
        return super().handle(*events)


def _update(n: int) -> StatusUpdated:
    return StatusUpdated(1.0, f"t.{n}", TaskState.RUNNING, "agent-1", None, None, None, "SOURCE_MASTER", None)


def _offers(name: str) -> OffersReceived:
    offer = Offer(name, "agent-1", "agent-1.example", "*", Resources.of(cpus=1, mem=64))
    return OffersReceived(1.0, (offer,))


async def test_offers_overtake_queued_updates_but_never_a_disconnection(data_dir: Path) -> None:
    backlog = MAX_BATCH + 1_000
    first, second = _offers("offer-1"), _offers("offer-2")
    queued: list[Event] = [
        *(_update(n) for n in range(backlog)), first, Disconnected(1.0, "stream dropped"),
        *(_update(backlog + n) for n in range(10)), second,
    ]  # fmt: skip
    state = _RecordingState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    try:
        driver = Driver(
            state, store, build_metrics("test"), build_logger(LogFormat.JSON, LogLevel.ERROR),
            framework_name="gantry", embedded_cluster=False,
        )  # fmt: skip
        for event in queued:  # all queued before the reactor runs: one backlog
            await driver.on_event(event)
        running = asyncio.create_task(driver.run())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if sum(len(turn) for turn in state.turns) >= len(queued):
                break
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    finally:
        await store.close()
    first_turn, second_turn = state.turns[0], state.turns[1]
    # The first offers jump the 1,000 updates beyond the first batch; the second ones stay behind
    # the disconnection that came before them.
    assert first_turn == [*queued[:MAX_BATCH], first]
    assert second_turn == [*queued[MAX_BATCH:backlog], *queued[backlog + 1 :]]
    assert [e for turn in state.turns for e in turn if not isinstance(e, StatusUpdated)] == [
        first, queued[backlog + 1], second,
    ]  # fmt: skip
