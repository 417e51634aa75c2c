"""What the harness saw the client do, and where the client broke the protocol.

One `Ledger` lives as long as the `Harness`, across master failovers, because a scheduler may
legitimately acknowledge an update sent by the previous master. Tests read `calls` and assert
`violations == []` at teardown.

Recorded as violations (a correct scheduler never does these):
- a call the master refuses as malformed (400 on parsing/validation, 405, 406, 415);
- an ACKNOWLEDGE whose uuid was never sent to that framework in an update;
- an ACCEPT or DECLINE naming an offer that framework already accepted or declined;
- an offer left unanswered longer than `offer_hoard_intervals` allocation intervals (if set).
Races a correct client can lose (a stale stream id after resubscribing, an offer rescinded while
the ACCEPT was in flight, a duplicate ACK after a resend) are not violations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Bounded memory: at least the newest 400,000 updates sent to each framework and offers used
# are remembered (100,000 tasks fit well inside), at most twice that.
_REMEMBERED = 400_000


@dataclass(frozen=True, slots=True)
class ReceivedCall:
    """One call the master decoded, and the HTTP status it answered."""

    type: str
    framework_id: str | None
    content_type: str
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class _BoundedSet:
    """A set that forgets its oldest items in bulk: two generations of plain sets, the older one
    dropped whole when the newer reaches `limit`, so the newest `limit` items are always there.
    (Plain sets: an OrderedDict's per-item bookkeeping was a visible part of every ACK.)"""

    __slots__ = ("_limit", "_new", "_old")

    def __init__(self, limit: int = _REMEMBERED) -> None:
        self._limit = limit
        self._new: set[Any] = set()
        self._old: set[Any] = set()

    def add(self, item: Any) -> None:
        new = self._new
        new.add(item)
        if len(new) >= self._limit:
            self._old, self._new = new, set()

    def __contains__(self, item: object) -> bool:
        return item in self._new or item in self._old


class Ledger:
    def __init__(self, record_calls: bool = True) -> None:
        self.record_calls = record_calls
        self.calls: list[ReceivedCall] = []
        self.violations: list[str] = []
        # Per framework, the uuids of the updates sent to it. Whether one was acknowledged already
        # does not matter: a duplicate ACK (after a resend) is a race a correct client can lose.
        self._sent: dict[str, _BoundedSet] = {}
        self._used_offers = _BoundedSet()

    def call(self, received: ReceivedCall) -> None:
        if self.record_calls:
            self.calls.append(received)

    def violation(self, text: str) -> None:
        self.violations.append(text)

    def update_sent(self, framework_id: str, uuid: bytes) -> None:
        sent = self._sent.get(framework_id)
        if sent is None:
            sent = self._sent[framework_id] = _BoundedSet()
        # _BoundedSet.add spelled out (two calls per launched task fewer).
        new = sent._new
        new.add(uuid)
        if len(new) >= sent._limit:
            sent._old, sent._new = new, set()

    def acknowledged(self, framework_id: str, task_id: str, uuid: bytes) -> None:
        sent = self._sent.get(framework_id)
        # (The generations read directly: `in` on the _BoundedSet is a Python call more per ACK.)
        if sent is None or (uuid not in sent._new and uuid not in sent._old):
            self.violation(
                f"framework {framework_id} acknowledged task {task_id} with uuid {uuid.hex()},"
                " which was never sent to it in an update"
            )

    def offer_answered(self, framework_id: str, offer_id: str, call: str) -> None:
        key = (framework_id, offer_id)
        if key in self._used_offers:
            self.violation(
                f"framework {framework_id} used offer {offer_id} again in {call} after answering it"
            )
        self._used_offers.add(key)
