"""Heap freezing for a process that is only a harness: the cyclic collector's cost kept flat.

Caller: `tune_gc()` (harness/harness.py), in `python -m harness` and the benchmarks' harness
children, once the cluster is built; never the library on its own (the heap is process-wide).

Why: CPython's collector walks every tracked object still alive in the generation it collects.
A launch keeps eight or so tracked objects alive per task (the master's, agent's and
simulation's records, the TaskSpec, ...), so young collections kept walking 100,000 survivors
each: about 5% of the master's CPU in a 100,000-task launch, whatever the thresholds (they only
decide how many collections share the walk). `gc.freeze()` moves every tracked object into a
permanent generation the collector skips, and resets the young generation's count; it is a list
splice, so doing it every 0.1 s costs nothing, and a young collection then only ever sees what
was allocated since (rarely enough to reach the threshold at all).

The price, and its bound: a reference cycle that is or becomes garbage while frozen is not
collected until it is thawed (acyclic garbage is freed by reference counting as always). Every
`thaw_every` seconds (10 minutes) the frozen objects go back to the oldest generation and one
full collection runs, so cyclic garbage lives at most that long and the process never
accumulates it without bound; the pause is one full collection of the cluster.

Must not: start itself, or touch the collector's thresholds (tune_gc sets them).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

FREEZE_EVERY = 0.1  # seconds between freezes
THAW_EVERY = 600.0  # seconds a frozen garbage cycle may live before the full collection that frees it


class HeapFreezer:
    """Freezes the heap every `every` s on `loop`, and thaws it for one full collection every
    `thaw_every` s (measured on `clock`), from `start` until `stop`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        every: float = FREEZE_EVERY,
        thaw_every: float = THAW_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = loop
        self._every = every
        self._thaw_every = thaw_every
        self._clock = clock
        self._next_thaw = clock() + thaw_every
        self._handle: asyncio.TimerHandle | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        if self._handle is None:
            self._handle = self._loop.call_later(self._every, self._scheduled)

    def stop(self) -> None:
        """No more freezes or thaws; what is frozen stays frozen (as after tune_gc's own freeze)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def tick(self) -> None:
        """One step: the full collection if it is due (thawing everything first), then a freeze."""
        if self._clock() >= self._next_thaw:
            gc.unfreeze()
            gc.collect()
            self._next_thaw = self._clock() + self._thaw_every
        gc.freeze()

    def _scheduled(self) -> None:
        self.tick()
        self._handle = self._loop.call_later(self._every, self._scheduled)
