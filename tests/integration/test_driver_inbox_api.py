"""The inbox holds the Mesos client's events bare and the API's events with the future their caller
awaits: an API write is answered once its turn is performed, offers never overtake it, and a write
still queued when the driver stops fails with SchedulerUnavailable instead of hanging."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framework.api.port import SchedulerUnavailable
from framework.core.effects import Effect
from framework.core.events import AppSubmitted, Event, OffersReceived, StatusUpdated, TaskState
from framework.core.model import Offer
from framework.core.resources import Resources
from framework.core.scheduler import SchedulerState
from framework.core.spec import validate_app
from framework.state.aio import AsyncStore
from framework.state.sqlite import SqliteStore
from tests.integration.driver_fakes import poll, quiet_driver, stop


class _RecordingState(SchedulerState):
    """The real core, recording every event it is handed (the driver's own Ticks left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Event] = []

    def handle(self, *events: Event) -> list[Effect]:
        self.seen += [e for e in events if type(e).__name__ != "Tick"]
        return super().handle(*events)


def _update(n: int) -> StatusUpdated:
    return StatusUpdated(1.0, f"t.{n}", TaskState.RUNNING, "agent-1", None, None, None, "SOURCE_MASTER", None)


async def test_offers_queued_after_an_api_write_stay_behind_it_and_the_write_is_answered(
    data_dir: Path,
) -> None:
    state = _RecordingState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    try:
        driver = quiet_driver(state, store)
        running = asyncio.create_task(driver.run())
        await asyncio.sleep(0)  # the reactor is running and waits for its inbox
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 1, "mem": 128, "instances": 1})
        for n in range(100):
            await driver.on_event(_update(n))
        write = asyncio.create_task(driver.submit_app(spec, create_only=True))
        await poll(lambda: any(isinstance(e, AppSubmitted) for e in state.seen) or bool(driver._inbox), 100)
        offer = Offer("offer-1", "agent-1", "agent-1.example", "*", Resources.of(cpus=4, mem=4096))
        offers = OffersReceived(1.0, (offer,))
        await driver.on_event(offers)
        submitted = await asyncio.wait_for(write, timeout=10)
        await poll(lambda: offers in state.seen, tries=500)
        await stop(running)
    finally:
        await store.close()
    assert submitted.created
    kinds = [type(e) for e in state.seen if not isinstance(e, StatusUpdated)]
    assert kinds == [AppSubmitted, OffersReceived]
    assert sum(isinstance(e, StatusUpdated) for e in state.seen) == 100


async def test_an_api_write_still_queued_when_the_driver_stops_fails(data_dir: Path) -> None:
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    try:
        driver = quiet_driver(SchedulerState(), store)
        running = asyncio.create_task(driver.run())
        await asyncio.sleep(0)
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 1, "mem": 128, "instances": 1})
        write = asyncio.create_task(driver.submit_app(spec, create_only=True))
        await asyncio.sleep(0)  # queued, not yet handled: the reactor has not had its turn
        await stop(running)
        with pytest.raises(SchedulerUnavailable):
            await asyncio.wait_for(write, timeout=10)
    finally:
        await store.close()
