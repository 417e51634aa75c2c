"""The timer checks of framework/core/timers.py, called directly with hand-built state on injected time.

The scheduler scenarios (test_scheduler.py) cover the same policies end to end through
`SchedulerState.handle`; these pin down the arithmetic at the edges (exactly at a deadline, the
retry cap, the order of a STAGING scan) where a scenario would need many events to get there.
"""

from __future__ import annotations

from framework.core.backoff import LaunchDelay
from framework.core.effects import Effect, Kill, Reconcile, ReconcileTask, TaskRecord
from framework.core.events import TaskState
from framework.core.spec import AppSpec, validate_app
from framework.core.timers import (
    Expiry,
    KillRequest,
    ReconcileTimer,
    backoff_reset_at,
    due_unreachable,
    earliest,
    idle_refuse,
    kill_retry_at,
    retry_kills,
    unreachable_deadline,
)

APP = "/shop/web"


def record(task_id: str, state: TaskState = TaskState.RUNNING, *, updated_at: float = 0.0,
           agent: str | None = "a1", started_at: float | None = None,
           healthy: bool | None = None) -> TaskRecord:
    return TaskRecord(task_id, APP, "v1.1", 0, state, updated_at, agent_id=agent, started_at=started_at,
                      healthy=healthy)


def timer(staging_wait: float = 60.0) -> ReconcileTimer:
    return ReconcileTimer(retry=5.0, retry_max=60.0, interval=600.0, staging_wait=staging_wait)


def spec(*, health_checks: bool = False) -> AppSpec:
    checks = [{"protocol": "COMMAND", "command": "true"}] if health_checks else []
    return validate_app({"id": APP, "cmd": "run", "health_checks": checks})


# -- reconciliation -------------------------------------------------------------------------------


def test_explicit_retries_double_up_to_the_cap_then_the_implicit_period_starts_when_all_answered() -> None:
    t, out = timer(), list[Effect]()
    pending: dict[str, str | None] = {"t.1": "a1"}
    t.start(pending, 100.0, out)
    assert out == [Reconcile((ReconcileTask("t.1", "a1"),))]
    nexts = [t.next]
    for _ in range(5):
        assert t.next is not None
        t.tick(pending, t.next, out)
        nexts.append(t.next)
    # 5, 10, 20, 40, then capped at 60 (retry_max) after each send.
    assert nexts == [105.0, 115.0, 135.0, 175.0, 235.0, 295.0]
    assert len(out) == 6
    t.settled(300.0)
    assert (t.next, t.implicit_next) == (None, 900.0)


def test_implicit_reconciliation_goes_out_exactly_at_its_time_and_only_with_nothing_pending() -> None:
    t, out = timer(), list[Effect]()
    t.start({}, 0.0, out)  # nothing live: no explicit call, the implicit period starts
    assert (out, t.next, t.implicit_next) == ([], None, 600.0)
    t.tick({}, 599.9, out)
    assert out == []
    t.tick({"t.1": None}, 600.0, out)  # something is waiting for an explicit answer: no implicit call
    assert out == []
    t.tick({}, 600.0, out)
    assert (out, t.implicit_next) == ([Reconcile()], 1200.0)


def test_an_implicit_time_of_zero_counts_as_unset() -> None:
    # `implicit_next or inf` in the tick: 0.0 is treated like None (kept as the scheduler always had it).
    t, out = timer(), list[Effect]()
    t.implicit_next = 0.0
    t.tick({}, 1000.0, out)
    assert out == []


def test_asking_starts_the_retries_once_and_adds_to_pending() -> None:
    t, out = timer(), list[Effect]()
    pending: dict[str, str | None] = {}
    t.ask([record("t.1")], pending, 10.0, out)
    t.ask([record("t.2", agent=None)], pending, 12.0, out)  # retries already running: unchanged
    assert pending == {"t.1": "a1", "t.2": None}
    assert (t.attempt, t.next) == (1, 15.0)
    assert out == [Reconcile((ReconcileTask("t.1", "a1"),)), Reconcile((ReconcileTask("t.2", None),))]


def test_stop_clears_both_times() -> None:
    t, out = timer(), list[Effect]()
    t.start({"t.1": "a1"}, 0.0, out)
    t.stop()
    assert (t.next, t.implicit_next) == (None, None)


# -- the STAGING watch ----------------------------------------------------------------------------


def test_staging_scan_asks_the_old_ones_and_stops_at_the_first_young_one() -> None:
    records = {r.task_id: r for r in (
        record("t.1", TaskState.STAGING), record("t.2", TaskState.RUNNING),
        record("t.3", TaskState.STAGING), record("t.4", TaskState.STAGING),
    )}
    t, out = timer(staging_wait=60.0), list[Effect]()
    # launched at 0, 0, 10, 50; t.3 is already being asked (pending) and is not asked twice.
    t.staging.update({"t.1": 0.0, "t.2": 0.0, "t.3": 10.0, "t.4": 50.0, "t.9": 55.0})
    pending: dict[str, str | None] = {"t.3": "a1"}
    t.check_staging(records.get, pending, 70.0, out)
    assert out == [Reconcile((ReconcileTask("t.1", "a1"),))]
    assert pending == {"t.3": "a1", "t.1": "a1"}
    # t.2 left STAGING: dropped. t.4 (70-50 < 60) stops the scan, so t.9 (unknown) is still there;
    # t.1 and t.3 go to the back, stamped with now.
    assert list(t.staging.items()) == [("t.4", 50.0), ("t.9", 55.0), ("t.1", 70.0), ("t.3", 70.0)]
    assert (t.attempt, t.next) == (1, 75.0)


def test_staging_scan_with_nothing_old_enough_sends_nothing() -> None:
    t, out = timer(staging_wait=60.0), list[Effect]()
    t.staging["t.1"] = 10.0
    t.check_staging({"t.1": record("t.1", TaskState.STAGING)}.get, {}, 69.9, out)
    assert (out, t.next) == ([], None)


def test_restored_staging_tasks_are_watched_oldest_first() -> None:
    t = timer()
    staging = TaskState.STAGING
    t.watch_staging([record("t.2", staging, updated_at=5.0), record("t.1", staging, updated_at=5.0),
                     record("t.3", staging, updated_at=1.0)])  # by time, then by id
    assert list(t.staging.items()) == [("t.3", 1.0), ("t.1", 5.0), ("t.2", 5.0)]


# -- kills ----------------------------------------------------------------------------------------


def test_kills_are_resent_after_grace_plus_retry_in_task_order_but_not_to_unreachable_tasks() -> None:
    records = {r.task_id: r for r in (record("t.1"), record("t.2"), record("t.3", TaskState.UNREACHABLE))}
    never, graced, away = KillRequest(None), KillRequest(20.0), KillRequest(None)
    graced.sent_at = 0.0
    kills = {"t.3": away, "t.2": graced, "t.1": never, "t.gone": KillRequest(None)}
    out: list[Effect] = []
    retry_kills(kills, records.get, 49.9, 30.0, out)  # t.2 due at 0 + (30 + 20) = 50
    assert out == [Kill("t.1", "a1", None)]
    assert (never.sent_at, away.sent_at) == (49.9, None)
    retry_kills(kills, records.get, 50.0, 30.0, out)
    assert out[1:] == [Kill("t.2", "a1", 20.0)]
    assert kill_retry_at(graced, 30.0) == 100.0 and kill_retry_at(away, 30.0) is None


# -- unreachable ----------------------------------------------------------------------------------


def test_unreachable_tasks_are_replaced_or_expunged_when_their_time_is_up() -> None:
    records = {r.task_id: r for r in (
        record("t.1", TaskState.UNREACHABLE, updated_at=0.0),  # in its slot: replaced at 0 + 300
        record("t.2", TaskState.UNREACHABLE, updated_at=0.0),  # detached: expunged at 0 + 1000
        record("t.3", TaskState.UNREACHABLE, updated_at=1.0),  # in its slot, not yet
    )}
    owner = {"t.1": APP, "t.2": None, "t.3": APP}
    unreachable = {"t.3", "t.2", "t.1", "t.gone"}
    assert due_unreachable(unreachable, records.get, owner, 300.0, 300.0, 1000.0) == \
        [(records["t.1"], Expiry.REPLACE)]
    assert unreachable == {"t.1", "t.2", "t.3"}  # the unknown id is dropped
    assert due_unreachable(unreachable, records.get, owner, 1000.0, 300.0, 1000.0) == \
        [(records["t.1"], Expiry.REPLACE), (records["t.2"], Expiry.EXPUNGE), (records["t.3"], Expiry.REPLACE)]
    assert unreachable_deadline(records["t.3"], True, 300.0, 1000.0) == 301.0
    assert unreachable_deadline(records["t.2"], False, 300.0, 1000.0) == 1000.0


# -- backoff --------------------------------------------------------------------------------------


def test_backoff_resets_after_a_task_started_since_the_crash_was_ready_long_enough() -> None:
    delay = LaunchDelay(delay_seconds=10.0, until=110.0, crashes=1)  # crashed at 100
    tasks = [
        record("t.1", started_at=50.0),  # running since before the crash: proves nothing
        record("t.2", started_at=130.0),
        record("t.3", started_at=120.0, healthy=False),  # started after the crash, but unhealthy
        record("t.4", TaskState.STAGING, started_at=None),
    ]
    assert backoff_reset_at(delay, spec(), tasks, 60.0) == 120.0 + 60.0
    assert backoff_reset_at(delay, spec(health_checks=True), tasks, 60.0) == float("inf")
    assert backoff_reset_at(delay, spec(), [record("t.5", started_at=100.0)], 60.0) == 160.0  # at the crash


def test_idle_refuse_waits_for_the_earliest_backoff_within_bounds() -> None:
    def delayed(until: float) -> LaunchDelay:
        return LaunchDelay(delay_seconds=until, until=until, crashes=1)

    # rows: delays, now -> filter (busy 5, idle 120)
    assert idle_refuse([], 0.0, 5.0, 120.0) == 120.0  # nothing backed off: long
    assert idle_refuse([None, delayed(10.0)], 10.0, 5.0, 120.0) == 120.0  # ended at 10: not active
    assert idle_refuse([delayed(40.0), delayed(30.0)], 0.0, 5.0, 120.0) == 30.0  # min(40, 30)
    assert idle_refuse([delayed(2.0)], 0.0, 5.0, 120.0) == 5.0  # 2, raised to busy
    assert idle_refuse([delayed(500.0)], 0.0, 5.0, 120.0) == 120.0  # 500, capped at idle


def test_earliest_ignores_unset_and_infinite_times() -> None:
    assert earliest([None, float("inf"), 7.0, 3.0, None]) == 3.0
    assert earliest([None, float("inf")]) is None
    assert earliest([]) is None
