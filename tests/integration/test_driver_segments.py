"""How the driver cuts a turn's effects into store-then-send segments (framework/driver.py `_segments`):
every call goes out after every Persist that precedes it in the list, calls that no Persist precedes
go out before the first store write starts, and segments grow from FIRST_CHUNK to PERSIST_CHUNK.
The last two run a real driver: against a store whose writes the test holds back, and through a
turn of offers with updates queued around them, checking every call against the writes before it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.core.effects import Accept, Acknowledge, Decline, Effect, Persist, PersistFrameworkId
from framework.core.events import Event, StatusUpdated, TaskState
from framework.core.scheduler import SchedulerState
from framework.core.spec import validate_app
from framework.driver import FIRST_CHUNK, PERSIST_CHUNK, _segments
from framework.state.aio import AsyncStore
from framework.state.mapping import changes_for
from framework.state.records import Change
from framework.state.sqlite import SqliteStore
from tests.integration.driver_fakes import (
    FakeClient,
    HeldStore,
    LoggingClient,
    offers_event,
    poll,
    quiet_driver,
    run_subscribed,
    stop,
)


def _effects(kinds: Sequence[bool]) -> list[Effect]:
    """True -> a Persist, False -> a call; each one distinct, so positions can be found by identity."""
    return [PersistFrameworkId(f"p{n}") if kind else Decline((f"o{n}",), 0.0) for n, kind in enumerate(kinds)]


# Long runs of one kind as well as alternations: both shapes occur (record/ACK pairs, launch groups).
_kinds = st.lists(st.tuples(st.booleans(), st.integers(1, 600)), max_size=30).map(
    lambda runs: [persist for persist, n in runs for _ in range(n)]
)


@given(_kinds)
def test_every_call_goes_out_after_every_persist_before_it(kinds: list[bool]) -> None:
    effects = _effects(kinds)
    segments = _segments(effects)
    segment_of = {id(e): n for n, (persists, calls) in enumerate(segments) for e in (*persists, *calls)}
    # Nothing lost or reordered within its kind.
    assert [e for persists, _ in segments for e in persists] == [e for e in effects if isinstance(e, Persist)]
    assert [e for _, calls in segments for e in calls] == [e for e in effects if not isinstance(e, Persist)]
    # The driver stores segment n's records, then sends its calls: a call in segment n follows
    # only the records of segments 0..n, so every Persist before it must be in one of those.
    last_persist_segment = -1
    for effect in effects:
        if isinstance(effect, Persist):
            last_persist_segment = max(last_persist_segment, segment_of[id(effect)])
        else:
            assert segment_of[id(effect)] >= last_persist_segment


@given(_kinds)
def test_leading_calls_wait_for_no_write_and_segments_grow_to_the_chunk(kinds: list[bool]) -> None:
    effects = _effects(kinds)
    segments = _segments(effects)
    leading = next((i for i, e in enumerate(effects) if isinstance(e, Persist)), len(effects))
    if leading > 0:
        assert segments[0] == ([], effects[:leading])
    # A segment closes at the first Persist right after a call once it holds its share: FIRST_CHUNK,
    # doubling up to PERSIST_CHUNK. So no closed segment holds fewer records than its share, and a
    # segment never passes over a cut it should have made.
    shares = [0] if leading > 0 else []
    while len(shares) < len(segments):
        shares.append(min(PERSIST_CHUNK, shares[-1] * 2 if shares and shares[-1] else FIRST_CHUNK))
    for (persists, _), share in zip(segments[:-1], shares, strict=False):
        assert len(persists) >= share
    segment_of = {id(e): n for n, (persists, calls) in enumerate(segments) for e in (*persists, *calls)}
    stored = [0] * len(segments)
    for before, effect in zip([None, *effects], effects, strict=False):
        n = segment_of[id(effect)]
        if isinstance(effect, Persist):
            if before is not None and not isinstance(before, Persist) and segment_of[id(before)] == n:
                assert stored[n] < shares[n], "a cut was due here"
            stored[n] += 1


def test_a_launch_decision_sends_its_decline_at_once_then_segments_double(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("framework.driver.FIRST_CHUNK", 250)
    monkeypatch.setattr("framework.driver.PERSIST_CHUNK", 2_000)
    # The shape of a launch decision: DECLINE, the task counter, then per agent 10 records and an ACCEPT.
    kinds = [False, True]
    for _ in range(1_000):
        kinds += [True] * 10 + [False]
    sizes = [(len(p), len(c)) for p, c in _segments(_effects(kinds))]
    assert sizes[0] == (0, 1)  # the DECLINE, before any write
    assert sizes[1:] == [(251, 25), (500, 50), (1_000, 100), *[(2_000, 200)] * 4, (250, 25)]



async def test_a_decline_no_persist_precedes_goes_out_while_the_first_write_is_held(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = SchedulerState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    held = HeldStore(store)
    monkeypatch.setattr(store, "apply", held.apply)
    client = FakeClient()
    try:
        driver = quiet_driver(state, store)
        running = await run_subscribed(driver, client)
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 1, "mem": 64, "instances": 5})
        await driver.submit_app(spec, create_only=True)
        held.open.clear()
        client.sent.clear()
        # 5 tasks of 1 cpu on 3 agents of 4: two agents are used, the third is declined.
        await driver.on_event(offers_event("offer", 3))
        await poll(lambda: held.waiting > 0 and bool(client.sent), tries=500)
        sent_while_held = list(client.sent)
        collecting_while_held = gc.isenabled()
        held.open.set()
        await poll(lambda: sum(isinstance(c, Accept) for c in client.sent) == 2, tries=500)
        await stop(running)
    finally:
        await store.close()
    assert held.waiting == 0
    # A turn with offers keeps the collector paused until its answers are out, then resumes it.
    assert not collecting_while_held
    assert gc.isenabled()
    assert [type(c) for c in sent_while_held] == [Decline]
    assert [type(c) for c in client.sent if isinstance(c, Accept | Decline)] == [Decline, Accept, Accept]


class _EffectsState(SchedulerState):
    """The real core, keeping every turn's effect list."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[list[Effect]] = []

    def handle(self, *events: Event) -> list[Effect]:
        effects = super().handle(*events)
        self.turns.append(effects)
        return effects



async def test_in_a_real_turn_every_call_follows_every_persist_before_it_on_disk(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offers with updates queued around them, in small segments: for every call the driver sent,
    # each Persist ahead of it in its turn's effect list had been stored when it was handed over.
    monkeypatch.setattr("framework.driver.FIRST_CHUNK", 4)
    monkeypatch.setattr("framework.driver.PERSIST_CHUNK", 16)
    log: list[tuple[str, object]] = []
    converting: list[list[Persist]] = []

    def recorded_changes_for(effects: list[Persist]) -> list[Change]:
        converting.append(effects)
        return changes_for(effects)

    monkeypatch.setattr("framework.driver.changes_for", recorded_changes_for)
    state = _EffectsState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    real_apply = store.apply

    async def logged_apply(changes: Sequence[Change]) -> None:
        persists = converting.pop(0)  # the driver writes one segment at a time, in order
        await real_apply(changes)
        log.append(("stored", persists))

    monkeypatch.setattr(store, "apply", logged_apply)
    client = LoggingClient(log)
    try:
        driver = quiet_driver(state, store)
        running = await run_subscribed(driver, client)
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 0.5, "mem": 64, "instances": 60})
        await driver.submit_app(spec, create_only=True)
        await driver.on_event(offers_event("warm", 4))
        await poll(lambda: sum(isinstance(c, Accept) for _, c in log) == 4 and not driver._inbox, 500)
        launched = [t for _, c in log if isinstance(c, Accept) for t in c.launches]
        updates = [
            StatusUpdated(2.0, t.task_id, TaskState.RUNNING, None, None, None, None, "SOURCE_EXECUTOR",
                          f"uuid-{t.task_id}".encode())
            for t in launched
        ]  # fmt: skip
        queued: list[Event] = [*updates[:16], offers_event("more", 4), *updates[16:]]
        for event in queued:
            await driver.on_event(event)
        await poll(lambda: sum(isinstance(c, Acknowledge) for _, c in log) == len(updates), 500)
        await stop(running)
    finally:
        await store.close()
    stored: set[int] = set()
    sent_with: dict[int, set[int]] = {}
    for kind, item in log:
        if kind == "stored":
            assert isinstance(item, list)
            stored |= {id(p) for p in item}
        else:
            sent_with[id(item)] = set(stored)
    checked = 0
    for effects in state.turns:
        before: list[int] = []
        for effect in effects:
            if isinstance(effect, Persist):
                before.append(id(effect))
            elif id(effect) in sent_with:
                late = set(before) - sent_with[id(effect)]
                assert not late, f"a {type(effect).__name__} went out before {len(late)} records ahead of it"
                checked += 1
    assert checked >= len(updates) + 8  # every ACK and every answer of both rounds, at least




async def test_the_answered_callback_comes_after_the_last_answer_not_after_the_last_write(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the driver resumes the collector there): DECLINE, record, DECLINE, record in segments of one
    # record; the last record's write is held, the callback has come all the same.
    monkeypatch.setattr("framework.driver.FIRST_CHUNK", 1)
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    real_apply, release = store.apply, asyncio.Event()

    async def apply(changes: Sequence[Change]) -> None:
        if any(getattr(c, "framework_id", None) == "fw-last" for c in changes):
            await release.wait()
        await real_apply(changes)

    monkeypatch.setattr(store, "apply", apply)
    client, calls = FakeClient(), []
    try:
        driver = quiet_driver(SchedulerState(), store)
        driver.attach(client)
        effects: list[Effect] = [Decline(("o1",), 0.0), PersistFrameworkId("fw-1"), Decline(("o2",), 0.0),
                                 PersistFrameworkId("fw-last")]  # fmt: skip
        performing = asyncio.create_task(driver._perform(effects, lambda: calls.append(list(client.sent))))
        await poll(lambda: bool(calls), tries=500)
        assert calls == [[Decline(("o1",), 0.0), Decline(("o2",), 0.0)]]
        assert not performing.done()  # the last write is still held
        release.set()
        await performing
    finally:
        await store.close()
