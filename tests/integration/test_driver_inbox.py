"""The driver's turn: offers are handled ahead of a backlog of status updates (in a turn of their
own), never ahead of anything else (so they are always handled on the subscription that brought
them); a large decision is stored in segments, each ACCEPT sent once its own tasks' records are
durable. tests/integration/test_driver_offer_turns.py has the rest of the offers-alone rules."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from framework.core.effects import Accept, Effect
from framework.core.events import Disconnected, Event, OffersReceived, StatusUpdated, Subscribed, TaskState
from framework.core.model import Offer
from framework.core.resources import Resources
from framework.core.scheduler import SchedulerState
from framework.core.spec import validate_app
from framework.driver import MAX_BATCH
from framework.state.aio import AsyncStore
from framework.state.records import Change, PutTask
from framework.state.sqlite import SqliteStore
from tests.integration.driver_fakes import LoggingClient, poll, quiet_driver, stop


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
        driver = quiet_driver(state, store)
        for event in queued:  # all queued before the reactor runs: one backlog
            await driver.on_event(event)
        running = asyncio.create_task(driver.run())
        await poll(lambda: sum(len(turn) for turn in state.turns) >= len(queued), tries=500)
        await stop(running)
    finally:
        await store.close()
    # The first offers jump all the updates queued before them, into a turn of their own; the
    # updates follow in the next turns, and the second offers stay behind the disconnection that
    # came before them.
    assert state.turns[:3] == [
        [first], queued[:MAX_BATCH], [*queued[MAX_BATCH:backlog], *queued[backlog + 1 :]],
    ]  # fmt: skip
    assert [e for turn in state.turns for e in turn if not isinstance(e, StatusUpdated)] == [
        first, queued[backlog + 1], second,
    ]  # fmt: skip



async def test_a_large_decision_sends_its_first_accepts_before_storing_the_last_records(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 launches on 10 agents, stored in segments of about 25 records: every ACCEPT goes out
    # after its own tasks' records are durable, and the first ones before the last records are.
    # Every write of task records after the first waits until an ACCEPT went out: a driver that held the first
    # ACCEPTs back until later writes were done would never send them (and the test would fail),
    # while the store's group commit can no longer merge all writes into one by chance under load.
    monkeypatch.setattr("framework.driver.PERSIST_CHUNK", 25)
    log: list[tuple[str, object]] = []
    state = SchedulerState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    real_apply = store.apply
    task_writes = 0

    async def logged_apply(changes: Sequence[Change]) -> None:
        nonlocal task_writes
        if any(isinstance(c, PutTask) for c in changes):
            task_writes += 1
            if task_writes > 1:
                await poll(lambda: any(isinstance(call, Accept) for _, call in log), tries=1_000)
        await real_apply(changes)
        log.append(("stored", {c.record.task_id for c in changes if isinstance(c, PutTask)}))

    monkeypatch.setattr(store, "apply", logged_apply)
    try:
        driver = quiet_driver(state, store)
        driver.attach(LoggingClient(log))
        running = asyncio.create_task(driver.run())
        await asyncio.sleep(0)  # the reactor starts: API writes are accepted from now on
        await driver.on_event(Subscribed(0.0, "fw-1", "master@127.0.0.1:5050"))
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 0.4, "mem": 64, "instances": 100})
        await driver.submit_app(spec, create_only=True)
        offers = tuple(
            Offer(f"offer-{i}", f"agent-{i}", f"agent-{i}.example", "*", Resources.of(cpus=4, mem=4096))
            for i in range(10)
        )
        await driver.on_event(OffersReceived(1.0, offers))
        await poll(lambda: sum(isinstance(call, Accept) for _, call in log) == 10, tries=500)
        await stop(running)
    finally:
        await store.close()
    stored: set[str] = set()
    accepts_before_last_store = 0
    last_store = max(i for i, (kind, _) in enumerate(log) if kind == "stored")
    for i, (kind, item) in enumerate(log):
        if kind == "stored":
            assert isinstance(item, set)
            stored |= item
        elif isinstance(item, Accept):
            assert {t.task_id for t in item.launches} <= stored, "an ACCEPT went out before its records"
            accepts_before_last_store += i < last_store
    assert len(stored) == 100
    assert accepts_before_last_store > 0
