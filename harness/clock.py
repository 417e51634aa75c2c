"""Time and timers for the fake master, injectable so the simulation can run on virtual time.

Every component of the harness (allocator, status update manager, simulated tasks, master) asks a
`Clock` for the time and schedules its timers through it; none of them touches asyncio directly.
`LoopClock` drives them from a running asyncio loop (the HTTP server); `ManualClock` lets unit tests
and benchmarks advance time by hand, deterministically, with no sleeping.

A callback that raises must not vanish into asyncio's logger: a harness bug would then look like a
protocol failure of the client under test. Both clocks hand the exception to `on_error`, which the
`Harness` records in `Harness.errors`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback that can be cancelled (cancelling twice, or after it ran, is harmless)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; all timeouts are measured on it."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch; used for TaskStatus.timestamp and unreachable_time."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` after `delay` seconds (0 or less: as soon as possible, after the caller returns)."""
        ...


ErrorSink = Callable[[BaseException], None]


def _raise(exc: BaseException) -> None:
    raise exc


class _Soon:
    """A zero-delay callback of LoopClock's own queue; cancelling only marks it."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class LoopClock:
    """A Clock on the running asyncio loop.

    Zero-delay callbacks (messages between master and agents, executor steps with no delay: several
    per launched task) queue here in order and one loop callback runs the batch, which costs much
    less than an asyncio Handle each. Those queued while a batch runs wait for the next one, as they
    would behind call_soon.
    """

    def __init__(self, on_error: ErrorSink = _raise) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_error = on_error
        self._soon: deque[_Soon] = deque()
        self._soon_scheduled = False
        # The loop's clock (its timers run on it) as a plain callable, read twice per launched
        # task: for asyncio's own loops that is time.monotonic itself, called without the two
        # Python frames of a method calling loop.time(), unless the loop's time was replaced on the
        # instance (a virtual clock in a test), which must then be read as the timers read it.
        loop_time = type(self._loop).time
        fast = loop_time is asyncio.BaseEventLoop.time and "time" not in vars(self._loop)
        self.monotonic: Callable[[], float] = time.monotonic if fast else self._loop.time

    def time(self) -> float:
        """Wall-clock time, read where it is called (so a patched time.time is seen)."""
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        if delay <= 0:
            entry = _Soon(callback)
            self._soon.append(entry)
            if not self._soon_scheduled:
                self._soon_scheduled = True
                self._loop.call_soon(self._run_soon)
            return entry
        return self._loop.call_later(delay, self._guarded, callback)

    def _run_soon(self) -> None:
        soon = self._soon
        self._soon_scheduled = False
        for _ in range(len(soon)):
            entry = soon.popleft()
            if not entry.cancelled:
                self._guarded(entry.callback)
        if soon and not self._soon_scheduled:
            self._soon_scheduled = True
            self._loop.call_soon(self._run_soon)

    def _guarded(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception as exc:  # a harness bug: surface it instead of letting asyncio log it
            self._on_error(exc)


class FixedDelay:
    """Runs `fire(key)` `delay` seconds after each `add(key)`, with one clock timer at a time.

    For many timers of one fixed delay (every offer's timeout, every offer's hoarding deadline):
    their deadlines come in the order they were added, so a FIFO and one timer for its head do
    the work of a timer each. Nothing is cancelled one by one: `fire` ignores keys that no longer
    matter (an offer answered meanwhile).
    """

    def __init__(self, clock: Clock, delay: float, fire: Callable[[str], None]) -> None:
        self._clock = clock
        self._delay = delay
        self._fire = fire
        self._queue: deque[tuple[float, str]] = deque()
        self._timer: Timer | None = None

    def add(self, key: str) -> None:
        self._queue.append((self._clock.monotonic() + self._delay, key))
        if self._timer is None:
            self._timer = self._clock.call_later(self._delay, self._expire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()

    def _expire(self) -> None:
        self._timer = None
        queue = self._queue
        now = self._clock.monotonic()
        # A hair of tolerance: a timer may fire a float rounding early.
        while queue and queue[0][0] - now <= 1e-6:
            self._fire(queue.popleft()[1])
        if queue and self._timer is None:
            self._timer = self._clock.call_later(queue[0][0] - now, self._expire)


class _Entry:
    __slots__ = ("callback", "cancelled", "clock")

    def __init__(self, callback: Callable[[], None], clock: ManualClock) -> None:
        self.callback = callback
        self.cancelled = False
        self.clock = clock

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.clock._cancelled += 1


class ManualClock:
    """Virtual time: nothing happens until `advance` (or `run_ready`) is called."""

    def __init__(
        self, start: float = 1000.0, wall_offset: float = 1.7e9, on_error: ErrorSink = _raise
    ) -> None:
        self._now = start
        self._wall_offset = wall_offset
        # (due time, sequence, entry): tuples compare in C, which matters with 100,000 timers.
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._on_error = on_error
        self._cancelled = 0

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._wall_offset

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        entry = _Entry(callback, self)
        heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._seq), entry))
        # Like asyncio: drop cancelled timers once they are the majority, so they cost no memory.
        if self._cancelled > 1000 and self._cancelled * 2 > len(self._heap):
            self._heap = [item for item in self._heap if not item[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0
        return entry

    def pending(self) -> int:
        """How many timers are scheduled and not cancelled."""
        return sum(1 for _, _, e in self._heap if not e.cancelled)

    def run_ready(self) -> None:
        """Run every callback due now, including ones they schedule for now."""
        self.advance(0.0)

    def advance(self, seconds: float) -> None:
        """Move time forward, running due callbacks in time order (each sees its own due time as now)."""
        target = self._now + seconds
        while self._heap and self._heap[0][0] <= target:
            when, _, entry = heapq.heappop(self._heap)
            if entry.cancelled:
                self._cancelled -= 1
                continue
            self._now = max(self._now, when)
            try:
                entry.callback()
            except Exception as exc:
                self._on_error(exc)
        self._now = target
