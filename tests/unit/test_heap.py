"""framework/heap.py: frozen garbage cycles wait for the thaw, and nothing stays frozen afterwards."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from framework.heap import freeze_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector can free it


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # whatever a failing test left behind: the rest of the suite needs a normal heap


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.001)


async def test_a_frozen_cycle_survives_collections_until_the_thaw() -> None:
    now = [0.0]
    task = asyncio.create_task(freeze_heap(every=0.001, thaw_every=10.0, clock=lambda: now[0]))
    try:
        node = _Node()
        ref = weakref.ref(node)
        before = gc.get_freeze_count()
        await _until(lambda: gc.get_freeze_count() > before)  # a freeze since: it took `node` along
        del node  # garbage now, but frozen: a collection does not look at it
        gc.collect()
        assert ref() is not None
        now[0] = 10.0  # the thaw is due: the next round collects fully
        await _until(lambda: ref() is None)
        assert gc.get_freeze_count() > 0  # frozen again after the thaw
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert gc.get_freeze_count() == 0


async def test_cancelling_it_thaws_the_heap() -> None:
    task = asyncio.create_task(freeze_heap(every=0.001))
    await _until(lambda: gc.get_freeze_count() > 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gc.get_freeze_count() == 0
    node = _Node()
    ref = weakref.ref(node)
    del node
    gc.collect()
    assert ref() is None  # the collector sees the whole heap again
