"""Gantry's Prometheus metrics: one registry and one set of metric objects per running instance.

Who calls it: the composition root (framework/app.py) calls `build_metrics(version)` once and hands the
result to the driver (which records offers, launches, task states, placement and subscription) and
to the API (which serves `GET /metrics` and records its own request metrics). Tests build as many
independent instances as they like.

Naming: every metric starts with `gantry_`; counters end in `_total`; durations are histograms in
seconds. Labels are bounded by construction: HTTP methods come from a fixed set, HTTP routes are the
route templates (never the raw path, which holds app ids), status is a class (`2xx`); the open-ended
labels (task state, resource, unplaced reason) pass through `BoundedLabel`, which admits a fixed
number of distinct values and folds the rest into `other`. No label ever carries a task, agent or
app id: those belong in logs and the API, not in time series.

Feeding it (the driver): `count_effects(effects)` after each core turn (offers accepted/declined,
tasks launched); `set_tasks_by_state(task_state_counts(records))` and
`set_unplaced(unplaced_by_reason(state.queue_view(now)))` after turns that change tasks or the queue;
`placement_latency.observe(...)` around placement, `observe_offer_answer(seconds)` for each offer
its ACCEPT or DECLINE answers when handed to the client, `offers_received.inc(len(offers))`,
`set_subscribed(...)`, `reconnects.inc()`, `reconciliation_duration.observe(...)`,
`agents_used.set(...)` and `set_allocation({...})` where the driver learns them.

What it must not do: use prometheus_client's default global registry (two Gantry instances in one
test process would collide), or do any I/O; `render()` returns bytes and the API writes them.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import generate_latest

from framework.core.effects import Accept, Decline, TaskRecord
from framework.core.views import QueueEntry

__all__ = [
    "CONTENT_TYPE",
    "HTTP_METHODS",
    "OFFER_ANSWER_DEADLINE",
    "BoundedLabel",
    "Metrics",
    "build_metrics",
    "status_class",
    "task_state_counts",
    "unplaced_by_reason",
]

# generate_latest() writes the classic text format (our names are all legacy-valid, so none of the
# newer escaping applies). Say 0.0.4 explicitly: every Prometheus release parses it, whatever version
# string the installed prometheus_client would advertise.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Placing one batch of offers is in-memory arithmetic: sub-millisecond to a few hundred ms at scale.
PLACEMENT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Reconciliation waits on the master answering every task: seconds to minutes.
RECONCILIATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Every offer must be answered within the allocation interval it arrived in (1 s by default), so the
# buckets are dense around 1 s; a few milliseconds is an idle framework, seconds an overloaded one.
OFFER_ANSWER_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0, 5.0)
# Mesos does not tell a framework the master's allocation interval; its default is 1 s.
OFFER_ANSWER_DEADLINE = 1.0

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def status_class(status: int) -> str:
    """404 -> '4xx'. Anything outside 100-599 is reported as 'other' rather than a new label value."""
    return f"{status // 100}xx" if 100 <= status <= 599 else OTHER


class BoundedLabel:
    """Admits at most `limit` distinct label values; later new values become 'other'.

    The values reaching these labels come from closed enums in the core (task states, resource
    names, placement reason kinds), so the cap is a safety net against a bug turning an id into a
    label value, which would grow the time-series count without bound.
    """

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) < self._limit:
            self._seen.add(value)
            return value
        return OTHER


class Metrics:
    """The registry and every metric object. Counters and histograms are used directly
    (`metrics.offers_received.inc(n)`); labelled snapshot gauges go through the `set_*` methods,
    which also zero label values that disappeared since the last snapshot."""

    __slots__ = (
        "_reason_label",
        "_resource_label",
        "_state_label",
        "agents_used",
        "allocation_ratio",
        "build_info",
        "http_request_duration",
        "http_requests",
        "offer_answer_latency",
        "offers_accepted",
        "offers_answered_late",
        "offers_declined",
        "offers_received",
        "placement_latency",
        "reconciliation_duration",
        "reconnects",
        "registry",
        "subscribed",
        "tasks",
        "tasks_launched",
        "unplaced",
    )

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self.registry = registry
        r = registry
        self.build_info = Info("gantry_build", "Gantry build information.", registry=r)
        self.build_info.info({"version": version})
        self.offers_received = Counter("gantry_offers_received", "Resource offers received.", registry=r)
        self.offers_declined = Counter("gantry_offers_declined", "Resource offers declined.", registry=r)
        self.offers_accepted = Counter(
            "gantry_offers_accepted", "Resource offers accepted with at least one launch.", registry=r
        )
        self.tasks_launched = Counter(
            "gantry_tasks_launched", "Tasks sent to Mesos in an ACCEPT.", registry=r
        )
        self.offer_answer_latency = Histogram(
            "gantry_offer_answer_seconds",
            "Per offer, time from receiving it to handing its ACCEPT or DECLINE to the Mesos client.",
            buckets=OFFER_ANSWER_BUCKETS,
            registry=r,
        )
        self.offers_answered_late = Counter(
            "gantry_offers_answered_late",
            "Offers whose answer was handed to the Mesos client more than 1 s (the Mesos default "
            "allocation interval) after they were received.",
            registry=r,
        )
        self.tasks = Gauge("gantry_tasks", "Known tasks by their last reported state.", ["state"], registry=r)
        self.placement_latency = Histogram(
            "gantry_placement_latency_seconds",
            "Time to place pending instances onto one batch of offers.",
            buckets=PLACEMENT_BUCKETS,
            registry=r,
        )
        self.allocation_ratio = Gauge(
            "gantry_agent_allocation_ratio",
            "Allocated over total, per resource, summed over agents running Gantry tasks.",
            ["resource"],
            registry=r,
        )
        self.agents_used = Gauge("gantry_agents_used", "Agents running at least one Gantry task.", registry=r)
        self.unplaced = Gauge(
            "gantry_unplaced_instances",
            "Instances left unplaced by the last placement round, by the reason that refused most offers.",
            ["reason"],
            registry=r,
        )
        self.subscribed = Gauge(
            "gantry_subscribed", "1 while subscribed to a Mesos master, else 0.", registry=r
        )
        self.reconnects = Counter("gantry_reconnects", "Re-subscriptions to the Mesos master.", registry=r)
        self.reconciliation_duration = Histogram(
            "gantry_reconciliation_duration_seconds",
            "Time from starting explicit reconciliation until every task was answered.",
            buckets=RECONCILIATION_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "gantry_http_requests", "API requests served.", ["method", "route", "status"], registry=r
        )
        self.http_request_duration = Histogram(
            "gantry_http_request_duration_seconds",
            "API request handling time.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        # Closed enums upstream; the caps only guard against a bug leaking ids into labels.
        self._state_label = BoundedLabel(32)
        self._resource_label = BoundedLabel(16)
        self._reason_label = BoundedLabel(32)

    # --- snapshot gauges: the driver passes the whole current picture each time ----------------

    def set_tasks_by_state(self, counts: Mapping[str, int]) -> None:
        """Number of known tasks per state; states absent from `counts` drop to 0."""
        _set_snapshot(self.tasks, self._state_label, counts)

    def set_allocation(self, ratios: Mapping[str, float]) -> None:
        """Allocated/capacity per resource (cpus, mem, disk) over the agents running Gantry tasks."""
        _set_snapshot(self.allocation_ratio, self._resource_label, ratios)

    def set_unplaced(self, counts: Mapping[str, int]) -> None:
        """Unplaced instances per reason kind after a placement round; absent reasons drop to 0."""
        _set_snapshot(self.unplaced, self._reason_label, counts)

    def set_subscribed(self, subscribed: bool) -> None:
        self.subscribed.set(1 if subscribed else 0)

    # --- events ---------------------------------------------------------------------------------

    def count_effects(self, effects: Iterable[object]) -> None:
        """Count the offer answers and launches in one batch of core effects (others are ignored)."""
        accepted = launched = declined = 0
        # By exact type, and counters bumped once: a large turn holds tens of thousands of effects
        # (records, ACKs), almost none of them offer answers.
        for effect in effects:
            if type(effect) is Accept:
                accepted += len(effect.offer_ids)
                launched += len(effect.launches)
            elif type(effect) is Decline:
                declined += len(effect.offer_ids)
        if accepted:
            self.offers_accepted.inc(accepted)
            self.tasks_launched.inc(launched)
        if declined:
            self.offers_declined.inc(declined)

    def observe_offer_answer(self, seconds: float) -> None:
        """One offer answered `seconds` after it was received (counted late past OFFER_ANSWER_DEADLINE)."""
        seconds = max(0.0, seconds)  # the wall clock may step back between the two readings
        self.offer_answer_latency.observe(seconds)
        if seconds > OFFER_ANSWER_DEADLINE:
            self.offers_answered_late.inc()

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        """One API request; `route` must be the route template (or 'unmatched'), never the raw path."""
        method = method if method in HTTP_METHODS else OTHER
        self.http_requests.labels(method=method, route=route, status=status_class(status)).inc()
        self.http_request_duration.labels(method=method, route=route).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format of everything in this instance's registry."""
        return generate_latest(self.registry)


def build_metrics(version: str) -> Metrics:
    """A fresh registry with every Gantry metric registered (never the global default registry)."""
    return Metrics(CollectorRegistry(auto_describe=True), version)


def task_state_counts(records: Iterable[TaskRecord]) -> dict[str, int]:
    """{'TASK_RUNNING': 10, ...} for `Metrics.set_tasks_by_state`."""
    return dict(Tally(record.state.value for record in records))


def unplaced_by_reason(queue: Iterable[QueueEntry]) -> dict[str, int]:
    """Waiting instances per reason kind for `Metrics.set_unplaced`: each app's waiting instances
    count under the kind that refused the most agents in its last placement round, or under
    'backing_off' / 'not_offered_yet' when no round has refused it (delayed, or no offers since)."""
    counts: Tally[str] = Tally()
    for entry in queue:
        if entry.last_round:
            kind = max(entry.last_round, key=lambda reason: reason.agents).kind
        elif entry.backoff is not None:
            kind = "backing_off"
        else:
            kind = "not_offered_yet"
        counts[kind] += entry.waiting
    return dict(counts)


def _set_snapshot(gauge: Gauge, bound: BoundedLabel, values: Mapping[str, float]) -> None:
    # Sum by bounded label first: two overflow values both map to 'other' and must add up, not
    # overwrite each other.
    current: dict[str, float] = {}
    for raw, value in values.items():
        label = bound(raw)
        current[label] = current.get(label, 0.0) + value
    for label in _labels_of(gauge):
        if label not in current:
            gauge.labels(label).set(0)
    for label, value in current.items():
        gauge.labels(label).set(value)


def _labels_of(gauge: Gauge) -> Iterable[str]:
    # Read back which label values this gauge has exported so far, through the public collect().
    seen: list[str] = []
    for family in gauge.collect():
        for sample in family.samples:
            seen.extend(sample.labels.values())
    return seen
