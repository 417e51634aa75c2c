"""Heap freezing: keeps the cyclic garbage collector's cost flat as Gantry's state grows.

Role: `gantry run` (app.run, through `serve(freeze_heap=True)`) runs `freeze_heap` as a task next to
the driver; the end-to-end benchmark does the same, since it measures the production process.

Why: CPython's collector walks every tracked object still alive in the generation it collects. A
launch burst builds long-lived state (task records, their effects on the way to the store, queued
status updates) faster than anything else allocates, so young collections kept walking tens of
thousands of survivors each, and every older collection walked them again. `gc.freeze()` moves every
tracked object into a permanent generation the collector skips; it is a list splice, so doing it
often costs nothing, and afterwards each collection only sees what was allocated since. Measured on
`bench e2e` (100,000 tasks onto 10,000 agents, thresholds (50,000, 20, 10) in both cases): the
collector took 0.72-0.90 s of the reactor's time per launch without freezing and 0.29-0.35 s freezing
every 0.1 s; with the larger young generation app.GC_THRESHOLDS now sets, 0.01 s.

The price, and its bound: a reference cycle that is garbage, or becomes garbage, while frozen is not
collected until it is thawed (acyclic garbage is freed by reference counting as always). Every
`thaw_every` seconds the frozen objects are handed back to the oldest generation and one full
collection runs: cyclic garbage lives at most that long, and the pause is one full collection
(0.09-0.17 s with 100,000 tasks on the benchmark machine). Measured: about 75 cyclic objects left
over from a 100,000-task launch; none from 2,000 API requests each of GET /v1/apps, GET /metrics and
a rejected POST, nor from 10 s of an idle scheduler. The bound guards against what was not measured.

Must not: run without `gantry run`'s consent: the heap is process-wide, so `serve` starts this only
when asked (tests that run Gantry in the pytest process leave it off); leave the heap frozen once
cancelled.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

FREEZE_EVERY = 0.1  # seconds between freezes: a launch round allocates its survivors within ~0.3 s
THAW_EVERY = 600.0  # seconds a frozen garbage cycle may live before the full collection that frees it


async def freeze_heap(
    *,
    every: float = FREEZE_EVERY,
    thaw_every: float = THAW_EVERY,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Freeze the heap every `every` s, thaw and collect it fully every `thaw_every` s; until cancelled.

    On the way out (cancelled) the heap is thawed, so the process is left as the collector expects.
    """
    next_thaw = clock() + thaw_every
    try:
        while True:
            await asyncio.sleep(every)
            if clock() >= next_thaw:
                gc.unfreeze()
                gc.collect()
                next_thaw = clock() + thaw_every
            gc.freeze()
    finally:
        gc.unfreeze()
