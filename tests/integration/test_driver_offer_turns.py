"""Offers queued among other events get a reactor turn of their own (framework/driver.py
`_next_items`): the core sees the same order it would in one turn (offers ahead of the status
updates queued before them, never ahead of anything else; the Tick after everything that arrived
before it), updates wait at most one offer turn, and the collector is paused until a turn with
offers has sent its answers."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from framework.core.effects import Accept, Effect
from framework.core.events import (
    Disconnected,
    Event,
    StatusUpdated,
    TaskState,
    Tick,
)
from framework.core.scheduler import SchedulerState
from framework.core.spec import validate_app
from framework.state.aio import AsyncStore
from framework.state.sqlite import SqliteStore
from tests.integration.driver_fakes import (
    FakeClient,
    HeldStore,
    offers_event,
    poll,
    quiet_driver,
    run_subscribed,
    stop,
)


class _RecordingState(SchedulerState):
    """The real core, recording the events of each reactor turn, Ticks included."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[list[Event]] = []

    def handle(self, *events: Event) -> list[Effect]:
        self.turns.append(list(events))
        return super().handle(*events)


def _update(n: int) -> StatusUpdated:
    return StatusUpdated(1.0, f"t.{n}", TaskState.RUNNING, "agent-1", None, None, None, "SOURCE_MASTER", None)



async def test_offers_go_alone_and_the_core_sees_the_order_one_turn_would_give(data_dir: Path) -> None:
    first, second = offers_event("first", 1), offers_event("second", 1)
    lost = Disconnected(1.0, "stream dropped")
    queued: list[Event] = [
        *(_update(n) for n in range(10)), first, *(_update(n) for n in range(10, 20)),
        lost, second, _update(20),
    ]  # fmt: skip
    state = _RecordingState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    try:
        # The clock is past the first Tick's time: the first turn is due one.
        driver = quiet_driver(state, store, clock=lambda: 100.0)
        for event in queued:
            await driver.on_event(event)
        running = asyncio.create_task(driver.run())
        await poll(lambda: sum(len(turn) for turn in state.turns) >= len(queued) + 1, tries=500)
        await stop(running)
    finally:
        await store.close()
    # The first offers alone, and no Tick there: the core would see it ahead of the updates that
    # arrived before it. The next turn takes the rest in arrival order (the second offers stay
    # behind the disconnection), and the Tick behind all of it.
    assert state.turns[0] == [first]
    assert state.turns[1] == [*queued[:10], *queued[11:], Tick(100.0)]



async def test_offers_arriving_during_an_offer_turn_wait_for_a_full_turn_and_the_collector_resumes(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _RecordingState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    held = HeldStore(store)
    monkeypatch.setattr(store, "apply", held.apply)
    client = FakeClient()
    assert gc.isenabled()
    try:
        driver = quiet_driver(state, store)
        running = await run_subscribed(driver, client)
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 1, "mem": 64, "instances": 20})
        await driver.submit_app(spec, create_only=True)
        state.turns.clear()
        held.open.clear()
        first, second = offers_event("first", 2), offers_event("second", 2)
        for event in (_update(0), first, _update(1)):
            await driver.on_event(event)
        # The offer turn launches, so it waits on the held write: more offers arrive meanwhile.
        await poll(lambda: held.waiting > 0, tries=500)
        collecting_during_offer_turn = gc.isenabled()
        for event in (_update(2), second):
            await driver.on_event(event)
        held.open.set()
        await poll(lambda: sum(isinstance(c, Accept) for c in client.sent) == 4 and not driver._inbox, 500)
        await stop(running)
    finally:
        await store.close()
    turns = [[e for e in turn if not isinstance(e, Tick)] for turn in state.turns]
    # The second offers do not get a turn of their own right after the first's: the updates have
    # waited one offer turn already. They lead the next full turn, ahead of the updates, as ever.
    assert turns[:2] == [[first], [second, _update(0), _update(1), _update(2)]]
    assert not collecting_during_offer_turn
    assert gc.isenabled()
