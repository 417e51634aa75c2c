"""HeapFreezer (harness/heap.py): what it freezes leaves the collector's sight, and a garbage
cycle made while frozen is freed at the next thaw, so frozen garbage never outlives one
`thaw_every`. Driven by `tick` and an injected clock: no waiting.

The collector is process-wide: every test leaves the heap unfrozen, as pytest expects it.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from harness.harness import tune_gc
from harness.heap import HeapFreezer


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def _freezer(now: list[float], loop: asyncio.AbstractEventLoop) -> HeapFreezer:
    return HeapFreezer(loop, every=0.1, thaw_every=600.0, clock=lambda: now[0])


def test_a_tick_freezes_what_exists(unfrozen: None) -> None:
    loop = asyncio.new_event_loop()
    try:
        freezer = _freezer([0.0], loop)
        kept = _Cycle()
        freezer.tick()
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())  # out of every generation
    finally:
        loop.close()


def test_frozen_cyclic_garbage_is_freed_at_the_next_thaw_and_not_before(unfrozen: None) -> None:
    loop = asyncio.new_event_loop()
    now = [0.0]
    try:
        freezer = _freezer(now, loop)
        cycle = _Cycle()
        alive = weakref.ref(cycle)
        freezer.tick()  # frozen while still in use
        del cycle  # now garbage, but frozen: only a full collection after a thaw can free it
        gc.collect()
        now[0] = 599.0
        freezer.tick()
        assert alive() is not None
        now[0] = 600.0
        freezer.tick()  # the thaw: one full collection, then everything alive is frozen again
        assert alive() is None
        now[0] = 1199.0
        freezer.tick()
        assert gc.get_freeze_count() > 0
    finally:
        loop.close()


def test_start_schedules_ticks_on_the_loop_and_stop_ends_them(unfrozen: None) -> None:
    loop = asyncio.new_event_loop()
    try:
        freezer = HeapFreezer(loop, every=0.0)

        async def two_turns() -> int:
            freezer.start()
            gc.unfreeze()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            frozen = gc.get_freeze_count()
            freezer.stop()
            return frozen

        assert loop.run_until_complete(two_turns()) > 0
        gc.unfreeze()
        loop.run_until_complete(asyncio.sleep(0))
        assert gc.get_freeze_count() == 0  # stopped: no more freezes
    finally:
        loop.close()


def test_tune_gc_starts_one_freezer_per_loop(unfrozen: None) -> None:
    thresholds = gc.get_threshold()
    loop = asyncio.new_event_loop()
    try:

        async def twice() -> None:
            first, second = tune_gc(), tune_gc()
            assert first is not None and first is second and first.running
            first.stop()
            assert not first.running

        loop.run_until_complete(twice())
    finally:
        loop.close()
        gc.set_threshold(*thresholds)
