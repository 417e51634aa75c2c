"""The agent's status update manager: reliable, ordered delivery of task status updates.

What Mesos' agent guarantees, and what a scheduler therefore has to cope with:

- Every update from an executor or the agent carries a 16-byte uuid and must be acknowledged.
- Per task, one update is in flight: the next is forwarded only after the previous one's ack.
- An unacknowledged update is sent again after 10 s, then 20 s, 40 s ... at most every 10 min
  (`retry` below; tests shorten it). The resend goes to whatever master and subscription are
  current, so a scheduler that resubscribed gets the same uuid again.
- While the agent is not registered with a master (master failover) nothing is forwarded; on
  re-registration every in-flight update is sent again at once.
- An ack whose uuid is not the one in flight is ignored (duplicates, stale acks).

Each forward also carries the task's latest state (the newest update queued here), which the
master records as the task's state even though the scheduler has not seen it yet.

A stream exists only while it has updates pending, so 100,000 quiet running tasks cost nothing.
Owned by one agent; talks to the master only through the `send` callback.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.clock import Clock, Timer
from harness.model import TERMINAL, Status, TaskState

SendFn = Callable[[str, Status, TaskState], None]
"""send(framework_id, status, latest_state): forward one update towards the master."""

DEFAULT_RETRY = (10.0, 600.0)


# A resend due within this much of now is due (timers may fire a hair early on float arithmetic).
_EPSILON = 1e-6


class _Stream:
    """One task's updates not yet acknowledged, the one in flight first (a plain slotted class:
    one is built per launched task, and a dataclass' default factory costs a call more)."""

    __slots__ = ("backoff", "due", "framework_id", "pending")

    def __init__(self, framework_id: str, first: Status) -> None:
        self.framework_id = framework_id
        self.pending = [first]
        self.due: float | None = None  # when the update in flight is sent again; None while paused
        self.backoff = 0.0


class StatusUpdateManager:
    """Per-agent manager. Resends are driven by one timer per manager set for the earliest due
    stream, not a timer per update: an ack then only forgets a deadline (cancelling and
    re-creating 200,000 loop timers was a visible cost of a 100,000-task launch). When the timer
    fires it resends what is due and re-arms itself for the next deadline, if any."""

    def __init__(
        self,
        clock: Clock,
        send: SendFn,
        on_terminal_acknowledged: Callable[[str, str], None],
        retry: tuple[float, float] = DEFAULT_RETRY,
    ) -> None:
        self._clock = clock
        self._send = send
        self._on_terminal_acknowledged = on_terminal_acknowledged
        self._retry_min, self._retry_max = retry
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._paused = False
        self._unacknowledged = 0  # updates in all streams, kept as they change
        self._timer: Timer | None = None
        self._timer_due = 0.0

    def update(self, framework_id: str, status: Status) -> None:
        """Queue an update (it must carry a uuid); forward it now if nothing is in flight."""
        assert status.uuid is not None, "only acknowledgeable updates go through the manager"
        key = (framework_id, status.task_id)
        stream = self._streams.get(key)
        self._unacknowledged += 1
        if stream is None:
            stream = self._streams[key] = _Stream(framework_id, status)
            self._forward(stream, self._retry_min)
        else:
            stream.pending.append(status)

    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> bool:
        """Apply an ack; False (and no effect) unless it names the update in flight."""
        key = (framework_id, task_id)
        stream = self._streams.get(key)
        if stream is None or stream.pending[0].uuid != uuid:
            return False
        done = stream.pending.pop(0)
        self._unacknowledged -= 1
        stream.due = None
        if done.state in TERMINAL:
            # Nothing follows a terminal update; the task's stream, and the task, are finished.
            del self._streams[key]
            self._on_terminal_acknowledged(framework_id, task_id)
        elif stream.pending:
            self._forward(stream, self._retry_min)
        else:
            del self._streams[key]
        return True

    def pause(self) -> None:
        """The agent lost its master: hold everything (retries included) until `resume`."""
        self._paused = True
        self._disarm()
        for stream in self._streams.values():
            stream.due = None

    def resume(self) -> None:
        """The agent (re-)registered: send every in-flight update again, with a fresh backoff."""
        self._paused = False
        for stream in list(self._streams.values()):
            self._forward(stream, self._retry_min)

    def remove_framework(self, framework_id: str) -> None:
        """The framework is gone: its updates can never be acknowledged, so drop them."""
        for key in [k for k, s in self._streams.items() if s.framework_id == framework_id]:
            self._unacknowledged -= len(self._streams.pop(key).pending)
        if not self._streams:
            self._disarm()

    def remove_task(self, framework_id: str, task_id: str) -> None:
        stream = self._streams.pop((framework_id, task_id), None)
        if stream is not None:
            self._unacknowledged -= len(stream.pending)

    def pending(self, framework_id: str, task_id: str) -> list[Status]:
        """Updates not yet acknowledged for a task, the one in flight first."""
        stream = self._streams.get((framework_id, task_id))
        return list(stream.pending) if stream else []

    def unacknowledged(self) -> int:
        return self._unacknowledged

    def _forward(self, stream: _Stream, backoff: float) -> None:
        if self._paused:
            stream.due = None
            return
        stream.backoff = backoff
        due = self._clock.monotonic() + backoff
        stream.due = due
        self._send(stream.framework_id, stream.pending[0], stream.pending[-1].state)
        if self._timer is None or self._timer_due > due:  # _arm's first check, without the call
            self._arm(due)

    def _arm(self, due: float) -> None:
        """Make sure the timer fires by `due`."""
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self._clock.call_later(due - self._clock.monotonic(), self._resend_due)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _resend_due(self) -> None:
        self._timer = None
        if self._paused:
            return
        now = self._clock.monotonic()
        earliest: float | None = None
        for stream in list(self._streams.values()):
            due = stream.due
            if due is None:
                continue
            if due - now <= _EPSILON:
                self._forward(stream, min(stream.backoff * 2, self._retry_max))
            elif earliest is None or due < earliest:
                earliest = due
        if earliest is not None:
            self._arm(earliest)
