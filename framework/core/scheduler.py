"""SchedulerState: the single mutator of Gantry's scheduling state, `handle(*events) -> [Effect]`.

Role: the decision core of the scheduler runtime, in the manner of dask's worker state machine. The
driver feeds it events (events.py) and performs the effects it returns, in order (effects.py). It
keeps every app at its desired instance count on the offers it gets, answers every offer inside the
call that received it, persists before it acknowledges, reconciles after every subscription, and
explains what it cannot place (the views at the bottom, built by views.py, serve the API).

Must not: await, read a clock, log, draw random numbers or generate ids from anything but its own
state. Time comes from `event.now`; task ids are `<app slug>.<n>` with `n` from a per-app counter
that is persisted (PersistTaskCounter) before any task using it is launched and survives the app's
deletion, so task ids are never reused, across restarts too. The one process-wide effect is that
the cyclic garbage collector is paused during `handle` (see there), which cannot change a result.

Policies (docs/app-spec.md describes them for users):
- Offers: launchable work is packed by `placement.place`; one Accept per agent and role carries all
  its launches; offers left over are declined. Refuse filter: `refuse_seconds_busy` (short) while
  launchable work is still unplaced after this round, else `refuse_seconds_idle` (long); when only
  backed-off work waits, until the earliest backoff ends (clamped to [busy, idle]). While work waits,
  offers (and an Accept's leftovers) too small for any waiting instance get `refuse_seconds_idle`:
  a filter holds only the refused resources, and new work REVIVEs (launching.decline_unused).
- One `handle` call launches at most `max_launches_per_decision` tasks, shared fairly between the
  waiting apps (budget.py): storing and sending 100,000 launches takes seconds, and every offer must
  be answered inside its allocation interval. When the cap cut a round short, of the offers it
  leaves unused launching.QUICK_DECLINES_PER_AGENT per agent it launched on are declined with no
  filter, so they come back at the next allocation; the rest that could host an instance come back
  as many a round after that (filters of 1, 2, ... s up to `refuse_seconds_busy`; UnusedOffers).
- Suppress when nothing is launchable now (no missing instance outside backoff). Revive when an app
  (or one whose instances change size) becomes launchable, at most once per
  `revive_min_interval_seconds` (a later one waits for a Tick).
- Unknown tasks (updates for ids we do not know, e.g. from before a crash of our store) are killed
  when live; their updates are acknowledged all the same.
- The timed policies (unreachable tasks, kill retries, lost launches, reconciliation) are described
  in timers.py, which decides when they are due; the Tick handling here acts on it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import assert_never

from framework.core.backoff import LaunchDelay, counts_as_crash, next_delay
from framework.core.budget import share
from framework.core.effects import (
    Accept,
    Acknowledge,
    Decline,
    Effect,
    Kill,
    PersistApp,
    PersistAppDeleted,
    PersistFrameworkId,
    PersistTask,
    PersistTaskCounter,
    PersistTaskRemoved,
    RecordEvent,
    Revive,
    Suppress,
    TaskLaunch,
    TaskRecord,
    new_acknowledge,
    new_persist_task,
)
from framework.core.events import (
    TERMINAL_STATES,
    AgentFailed,
    AppDeleted,
    AppSubmitted,
    Disconnected,
    Event,
    ExecutorFailed,
    OfferRescinded,
    OffersReceived,
    StatusUpdated,
    Subscribed,
    TaskState,
    Tick,
)
from framework.core.launching import (
    LaunchTemplate,
    UnusedOffers,
    accept_leftover,
    declines_first,
    template_for,
)
from framework.core.model import Constraint, ConstraintOperator, Demand, Policy, RunningTask
from framework.core.placement import Placement, place
from framework.core.reconcile import AppPlan, Phase, SlotTask, plan_app
from framework.core.resources import Resources
from framework.core.slots import SLOT_DETACHED, assign_slots, config_of, task_seq
from framework.core.spec import AppSpec, app_version
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
from framework.core.views import (
    AppStatus,
    QueueEntry,
    QueueReason,
    find_app_status,
    list_app_statuses,
    list_fleet,
    list_queue,
    list_tasks,
    queue_reasons,
    task_ready,
)

__all__ = [
    "SLOT_DETACHED",
    "RestoredApp",
    "SchedulerConfig",
    "SchedulerState",
    "app_version",
]

_PHASES = {
    TaskState.STAGING: Phase.PENDING,
    TaskState.STARTING: Phase.PENDING,
    TaskState.RUNNING: Phase.RUNNING,
    TaskState.KILLING: Phase.KILLING,
    TaskState.UNREACHABLE: Phase.UNREACHABLE,
}


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Timers and filters of the policies in the module docstring (seconds)."""

    refuse_seconds_idle: float = 120.0  # decline filter when nothing launchable is left unplaced
    refuse_seconds_busy: float = 5.0  # decline filter while launchable work is still unplaced
    revive_min_interval_seconds: float = 5.0  # at most one REVIVE per interval
    reconcile_retry_seconds: float = 5.0  # first retry of an unanswered explicit reconciliation
    reconcile_retry_max_seconds: float = 60.0  # retries double up to this
    implicit_reconcile_interval_seconds: float = 600.0  # once everything has answered
    unreachable_replace_seconds: float = 300.0  # an UNREACHABLE task keeps its slot this long
    unreachable_expunge_seconds: float = 86_400.0  # a detached unreachable task is forgotten after this
    backoff_reset_seconds: float = 60.0  # ready this long after the last crash resets the backoff
    kill_retry_seconds: float = 30.0  # re-send a KILL this long after the grace period if no answer
    staging_reconcile_seconds: float = 60.0  # ask the master about a task still STAGING this long
    max_launches_per_decision: int = 8_000  # tasks launched by one handle() call (module docstring)
    policy: Policy | None = None  # overrides every app's placement policy when set


@dataclass(frozen=True, slots=True)
class RestoredApp:
    """One app as the store loaded it: its current spec and the version string it was stored under."""

    spec: AppSpec
    version: str
    created_at: float


class _App:
    """Mutable per-app state (internal). `tasks` holds the app's live tasks that occupy a slot."""

    __slots__ = ("config", "created_at", "delay", "last_reasons", "offer_rounds", "outdated", "pending",
                 "refusals", "spec", "tasks", "template", "version", "waiting_since")

    def __init__(self, spec: AppSpec, version: str, created_at: float) -> None:
        self.spec = spec
        self.version = version
        self.config = config_of(version)
        self.created_at = created_at
        self.tasks: dict[str, TaskRecord] = {}
        self.delay: LaunchDelay | None = None
        self.outdated: set[str] = set()  # ids of tasks launched with an older configuration
        self.pending: list[int] = []  # slots to launch into, from the last plan
        # Queue statistics, reset whenever the app stops waiting.
        self.waiting_since: float | None = None
        self.offer_rounds = 0
        self.refusals: dict[str, int] = {}
        self.last_reasons: tuple[QueueReason, ...] = ()
        self.template: LaunchTemplate | None = None  # built at the first launch (launching.template_for)


class SchedulerState:
    """All scheduling state, changed only by `handle`. Build with `SchedulerState()` on a fresh
    store or `SchedulerState.restore(...)` from what the store loaded."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self.framework_id: str | None = None
        self.master = ""
        self.subscribed = False
        self._apps: dict[str, _App] = {}
        self._orphans: dict[str, TaskRecord] = {}  # detached tasks and tasks of deleted apps
        self._owner: dict[str, str | None] = {}  # task id -> app id, or None for an orphan
        self._counters: dict[str, int] = {}  # app id -> highest task number handed out
        self._agents: dict[str, tuple[str, Mapping[str, str]]] = {}  # agent -> (hostname, attributes)
        self._kills: dict[str, KillRequest] = {}
        self._unreachable: set[str] = set()
        self._dirty: set[str] = set()  # apps to run the reconciler for before the next decision
        self._pending_apps: set[str] = set()  # apps whose last plan has slots to launch
        self._launchable_seen: set[tuple[str, float, float, float]] = set()  # _interest at the last check
        self._suppressed = False
        self._last_revive: float | None = None
        self._revive_due: float | None = None
        self._reconcile_pending: dict[str, str | None] = {}  # task id -> agent id, until it answers
        cfg = self.config  # reconciliation retries and the STAGING watch (timers.py)
        self._reconcile = ReconcileTimer(retry=cfg.reconcile_retry_seconds,
                                         retry_max=cfg.reconcile_retry_max_seconds,
                                         interval=cfg.implicit_reconcile_interval_seconds,
                                         staging_wait=cfg.staging_reconcile_seconds)
        self._launch_budget = 0  # launches left to this handle() call (max_launches_per_decision)
        self._unused = UnusedOffers()  # declines of this handle() call's offers (launching.py)
        self._offer_events = 0  # OffersReceived in this handle() call (see declines_first)

    @classmethod
    def restore(
        cls,
        *,
        framework_id: str | None,
        apps: Iterable[RestoredApp],
        tasks: Iterable[TaskRecord],
        task_counters: Mapping[str, int],
        config: SchedulerConfig | None = None,
    ) -> SchedulerState:
        """Rebuild from the store's snapshot. Which live task keeps which slot is slots.assign_slots;
        live tasks without one become orphans, killed after the next Subscribed."""
        state = cls(config)
        state.framework_id = framework_id
        for restored in apps:
            state._apps[restored.spec.id] = _App(restored.spec, restored.version, restored.created_at)
            state._dirty.add(restored.spec.id)
        configs = {app_id: app.config for app_id, app in state._apps.items()}
        found = assign_slots(tasks, configs, task_counters)
        for app_id, app in state._apps.items():
            app.tasks, app.outdated = found.slotted[app_id], found.outdated.get(app_id, set())
        state._counters, state._owner, state._orphans = found.counters, found.owner, found.orphans
        state._kills = {task_id: KillRequest(None) for task_id in found.orphans}  # the task's own grace
        state._unreachable = found.unreachable
        state._reconcile.watch_staging(found.staging)
        return state

    # -- the single entry point ------------------------------------------------------------------

    def handle(self, *events: Event) -> list[Effect]:
        """Apply events in order and return the effects to perform, in order.

        The cyclic garbage collector is paused for the call, as `placement.place` does, which cannot
        change a result: a call builds a few acyclic values per task (records, launches, effects),
        and with the collector on, 100,000 of them trigger collections that walk the whole heap and
        free nothing (measured with CPython's default thresholds: a third of the time of a status
        update, two fifths of a launch; less under app.GC_THRESHOLDS, which collect far less often)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._handle(events)
        finally:
            if collecting:
                gc.enable()

    def _handle(self, events: tuple[Event, ...]) -> list[Effect]:
        out: list[Effect] = []
        now = 0.0
        self._launch_budget = self.config.max_launches_per_decision
        self._unused, self._offer_events = UnusedOffers(), 0
        for event in events:
            now = event.now
            match event:
                case StatusUpdated():  # first: by far the most frequent event
                    self._on_status(event, out)
                case Subscribed():
                    self._on_subscribed(event, out)
                case Disconnected():
                    self._on_disconnected()
                case OffersReceived():
                    self._offer_events += 1
                    self._on_offers(event, out)
                case OfferRescinded():
                    pass  # offers are answered in the call that received them; nothing is held
                case AgentFailed():
                    self._on_agent_failed(event, out)
                case ExecutorFailed():
                    pass  # the executor's tasks report their own terminal updates
                case AppSubmitted():
                    self._on_submitted(event, out)
                case AppDeleted():
                    self._on_deleted(event, out)
                case Tick():
                    self._on_tick(event.now, out)
                case _:
                    assert_never(event)
        if events:
            self._replan(now, out)
            self._offer_interest(now, out)
        # Offer events after the first leave their DECLINEs behind its launches' records.
        return declines_first(out) if self._offer_events > 1 else out

    # -- subscription and reconciliation ---------------------------------------------------------

    def _on_subscribed(self, ev: Subscribed, out: list[Effect]) -> None:
        if ev.framework_id != self.framework_id:
            self.framework_id = ev.framework_id
            out.append(PersistFrameworkId(ev.framework_id))
        self.master = ev.master
        self.subscribed = True
        # A new subscription starts unsuppressed; forgetting what was launchable makes the end of
        # this call Revive (clearing filters of the previous session) or Suppress, as appropriate.
        self._suppressed = False
        self._launchable_seen = set()
        self._revive_due = None
        self._reconcile_pending = {r.task_id: r.agent_id for r in self._live_records()}
        self._reconcile.start(self._reconcile_pending, ev.now, out)
        for task_id, kill in self._kills.items():
            self._send_kill(task_id, kill, ev.now, out)

    def _on_disconnected(self) -> None:
        self.subscribed = False
        self._reconcile_pending = {}
        self._reconcile.stop()
        self._revive_due = None

    def _on_agent_failed(self, ev: AgentFailed, out: list[Effect]) -> None:
        # The master will report the agent's tasks itself; asking explicitly (with retries) makes
        # sure we hear about every one of them even if some update is lost.
        if not self.subscribed:
            return
        on_agent = [r for r in self._live_records() if r.agent_id == ev.agent_id]
        if on_agent:
            self._reconcile.ask(on_agent, self._reconcile_pending, ev.now, out)
        out.append(RecordEvent(ev.now, "agent_failed", f"agent {ev.agent_id} removed",
                               details=(("agent_id", ev.agent_id), ("tasks", len(on_agent)))))

    def _reconcile_answered(self, task_id: str, now: float) -> None:
        if self._reconcile_pending.pop(task_id, False) is not False and not self._reconcile_pending:
            self._reconcile.settled(now)

    # -- status updates --------------------------------------------------------------------------

    def _on_status(self, ev: StatusUpdated, out: list[Effect]) -> None:
        # Two of these per launched task: lookups are done once each, and the rare cases (terminal,
        # unreachable, plan-relevant changes) are tested cheaply before anything is called for them.
        task_id = ev.task_id
        if self._reconcile_pending:
            self._reconcile_answered(task_id, ev.now)
        owner = self._owner.get(task_id, "")  # "" for an unknown task (app ids start with '/')
        if owner == "":
            self._on_unknown_status(ev, out)
            return
        app = self._apps[owner] if owner is not None else None
        old = app.tasks[task_id] if app is not None else self._orphans[task_id]
        new = old.after(ev)  # `old` itself exactly when the update changes nothing
        if new is not old:
            # Persist before acknowledge: once acknowledged, the agent forgets the update, so an
            # update we had not stored would be lost with a crash. A resent copy of the update we
            # stored last (same uuid) changes nothing: it is only acknowledged again.
            out.append(new_persist_task(new))
        uuid = ev.uuid
        if uuid is not None and self.subscribed:  # as _acknowledge, inlined
            agent = ev.agent_id or new.agent_id
            if agent is not None:
                out.append(new_acknowledge(agent, task_id, uuid))
        if new is old:
            return
        state, old_state = new.state, old.state
        if state in TERMINAL_STATES:
            self._on_terminal(app, new, ev, out)
            return
        unreachable_changed = old_state is not state and _UNREACHABLE in (old_state, state)
        if app is None:
            self._orphans[task_id] = new
        else:
            app.tasks[task_id] = new
            # Phase and readiness only matter to the plan through the rolling replacement (and through
            # UNREACHABLE's scale-down rank); skipping the rest keeps a 100,000-task launch linear.
            spec = app.spec
            if unreachable_changed or (app.outdated and task_ready(spec, old) != task_ready(spec, new)):
                self._dirty.add(spec.id)
        if unreachable_changed:
            self._on_unreachable_changed(new, ev.now, out)

    def _on_unreachable_changed(self, new: TaskRecord, now: float, out: list[Effect]) -> None:
        if new.state is _UNREACHABLE:
            self._unreachable.add(new.task_id)
            out.append(RecordEvent.for_task(new, now, "task_unreachable"))
            return
        self._unreachable.discard(new.task_id)
        kill = self._kills.get(new.task_id)
        # A task being killed that was unreachable has just come back: the earlier KILL could not
        # reach it, so send it now rather than at the next retry.
        if kill is not None:
            self._send_kill(new.task_id, kill, now, out)

    def _on_unknown_status(self, ev: StatusUpdated, out: list[Effect]) -> None:
        # A task we have no record of (launched before our store lost it, detached and expunged,
        # or from a previous incarnation of an app): it must not keep running unaccounted for.
        if ev.state not in _TERMINAL and self.subscribed:
            out.append(Kill(ev.task_id, ev.agent_id))
            out.append(RecordEvent(ev.now, "unknown_task_killed", f"killing unknown task {ev.task_id}",
                                   task_id=ev.task_id, details=(("state", ev.state.value),)))
        self._acknowledge(ev, ev.agent_id, out)

    def _acknowledge(self, ev: StatusUpdated, agent_id: str | None, out: list[Effect]) -> None:
        # Master-generated updates (no uuid) must never be acknowledged. Without an agent id the
        # call cannot be addressed; the agent keeps resending and a later copy will carry one.
        agent = ev.agent_id or agent_id
        if ev.uuid is not None and agent is not None and self.subscribed:
            out.append(Acknowledge(agent, ev.task_id, ev.uuid))

    def _on_terminal(self, app: _App | None, record: TaskRecord, ev: StatusUpdated,
                     out: list[Effect]) -> None:
        task_id = record.task_id
        kill = self._kills.pop(task_id, None)
        self._unreachable.discard(task_id)
        self._orphans.pop(task_id, None)
        self._owner.pop(task_id, None)
        out.append(RecordEvent.for_task(record, ev.now, "task_terminal"))
        if app is None or task_id not in app.tasks:
            return
        del app.tasks[task_id]
        app.outdated.discard(task_id)
        self._dirty.add(app.spec.id)
        current = config_of(record.version) == app.config
        if current and counts_as_crash(record.state, kill_requested=kill is not None):
            spec = app.spec
            why = f"task {task_id} {record.state.value}" + (f": {record.message}" if record.message else "")
            app.delay = next_delay(app.delay, backoff_seconds=spec.backoff_seconds,
                                   backoff_factor=spec.backoff_factor,
                                   max_launch_delay_seconds=spec.max_launch_delay_seconds,
                                   now=ev.now, description=why)
            out.append(RecordEvent(ev.now, "app_backoff",
                                   f"{spec.id} delayed {app.delay.delay_seconds:g}s after {why}",
                                   app_id=spec.id, task_id=task_id,
                                   details=(("delay_seconds", app.delay.delay_seconds),
                                            ("crashes", app.delay.crashes))))

    # -- kills -----------------------------------------------------------------------------------

    def _request_kill(self, task_id: str, grace: float | None, now: float, out: list[Effect]) -> None:
        kill = self._kills.get(task_id)
        if kill is None:
            kill = self._kills[task_id] = KillRequest(grace)
        self._send_kill(task_id, kill, now, out)

    def _send_kill(self, task_id: str, kill: KillRequest, now: float, out: list[Effect]) -> None:
        record = self._record(task_id)
        if not self.subscribed or record is None:
            return  # re-sent on the next Subscribed
        out.append(kill.send(task_id, record, now))

    def _detach(self, app: _App, record: TaskRecord, now: float, out: list[Effect]) -> TaskRecord:
        """Take a task out of its slot for good (persisted as slot -1) and have it killed."""
        del app.tasks[record.task_id]
        app.outdated.discard(record.task_id)
        self._dirty.add(app.spec.id)
        detached = self._orphans[record.task_id] = replace(record, slot=SLOT_DETACHED)
        self._owner[record.task_id] = None
        self._kills.setdefault(record.task_id, KillRequest(app.spec.kill_grace_period_seconds))
        out.append(PersistTask(detached))
        self._send_kill(record.task_id, self._kills[record.task_id], now, out)
        return detached

    # -- apps ------------------------------------------------------------------------------------

    def _on_submitted(self, ev: AppSubmitted, out: list[Effect]) -> None:
        spec, version = ev.spec, app_version(ev.spec)
        app = self._apps.get(spec.id)
        if app is not None and app.version == version:
            return  # the same spec again: nothing changes
        out.append(PersistApp(spec.id, version, spec, ev.now))
        if app is None:
            kind = "app_created"
            self._apps[spec.id] = _App(spec, version, ev.now)
        else:
            kind = "app_scaled" if config_of(version) == app.config else "app_updated"
            app.spec, app.version, app.config = spec, version, config_of(version)
            if kind == "app_updated":
                app.delay = None  # a new configuration starts without the old one's backoff
            app.outdated = {t for t, r in app.tasks.items() if config_of(r.version) != app.config}
        self._dirty.add(spec.id)
        out.append(RecordEvent(ev.now, kind, f"{spec.id} version {version}, {spec.instances} instance(s)",
                               app_id=spec.id, details=(("version", version), ("instances", spec.instances))))

    def _on_deleted(self, ev: AppDeleted, out: list[Effect]) -> None:
        app = self._apps.pop(ev.app_id, None)
        if app is None:
            return
        out.append(PersistAppDeleted(ev.app_id, ev.now))
        for record in sorted(app.tasks.values(), key=lambda r: r.task_id):
            self._detach(app, record, ev.now, out)
        self._dirty.discard(ev.app_id)
        self._pending_apps.discard(ev.app_id)
        out.append(RecordEvent(ev.now, "app_deleted", f"{ev.app_id} deleted", app_id=ev.app_id))

    # -- timers (timers.py decides what is due; acting on it stays here) ----------------------------

    def _on_tick(self, now: float, out: list[Effect]) -> None:
        config = self.config
        if self.subscribed:
            self._reconcile.tick(self._reconcile_pending, now, out)
            retry_kills(self._kills, self._record, now, config.kill_retry_seconds, out)
            self._reconcile.check_staging(self._record, self._reconcile_pending, now, out)
        for record, expiry in due_unreachable(self._unreachable, self._record, self._owner, now,
                                              config.unreachable_replace_seconds,
                                              config.unreachable_expunge_seconds):
            match expiry:
                case Expiry.REPLACE:
                    self._detach(self._apps[record.app_id], record, now, out)
                    out.append(RecordEvent.for_task(record, now, "task_unreachable_replaced"))
                case Expiry.EXPUNGE:
                    self._forget(record.task_id)
                    out.append(PersistTaskRemoved(record.task_id))
                    out.append(RecordEvent.for_task(record, now, "task_expunged"))
                case _:
                    assert_never(expiry)
        for app_id in sorted(a for a, app in self._apps.items() if app.delay is not None):
            app = self._apps[app_id]
            if self._backoff_reset_at(app) <= now:
                app.delay = None
                out.append(RecordEvent(now, "app_backoff_reset", f"{app_id} ran long enough: backoff reset",
                                       app_id=app_id))

    def _forget(self, task_id: str) -> None:
        self._orphans.pop(task_id, None)
        self._owner.pop(task_id, None)
        self._kills.pop(task_id, None)
        self._unreachable.discard(task_id)
        self._reconcile_pending.pop(task_id, None)

    def _backoff_reset_at(self, app: _App) -> float:
        assert app.delay is not None
        current = (r for r in app.tasks.values() if config_of(r.version) == app.config)
        return backoff_reset_at(app.delay, app.spec, current, self.config.backoff_reset_seconds)

    # -- planning --------------------------------------------------------------------------------

    def _replan(self, now: float, out: list[Effect]) -> None:
        """Run the reconciler for every app whose inputs changed; apply kills, remember launches."""
        for app_id in sorted(self._dirty):
            app = self._apps.get(app_id)
            if app is None:
                continue
            plan = _SETTLED if self._settled(app) else plan_app(app.spec.instances, self._slot_views(app))
            for decision in plan.kills:
                self._request_kill(decision.task_id, app.spec.kill_grace_period_seconds, now, out)
                record = app.tasks[decision.task_id]
                out.append(RecordEvent.for_task(record, now, "task_kill_" + decision.reason.value))
            self._set_pending(app_id, app, list(plan.launch_slots), now)
        self._dirty.clear()

    def _settled(self, app: _App) -> bool:
        """Exactly `instances` tasks, none outdated, none being killed: plan_app would return an empty
        plan (nothing missing, no surplus, no rolling replacement), so the first plan after a restart
        need not build 100,000 views to learn it. `app.outdated` holds exactly the app's tasks whose
        configuration is not current (kept so by restore, _on_submitted, _on_terminal and _detach)."""
        return (
            len(app.tasks) == app.spec.instances
            and not app.outdated
            and not any(task_id in app.tasks for task_id in self._kills)
        )

    def _slot_views(self, app: _App) -> list[SlotTask]:
        # One view per live task (100,000 for the first plan after a restart): one comprehension,
        # positional arguments, no method call per task.
        spec, config, kills = app.spec, app.config, self._kills
        return [
            SlotTask(record.task_id, record.slot, task_seq(record.task_id), _PHASES[record.state],
                     config_of(record.version) == config, task_ready(spec, record), record.task_id in kills)
            for record in app.tasks.values()
        ]

    def _set_pending(self, app_id: str, app: _App, slots: list[int], now: float) -> None:
        app.pending = slots
        if slots:
            self._pending_apps.add(app_id)
            if app.waiting_since is None:
                app.waiting_since = now
        else:
            self._pending_apps.discard(app_id)
            app.waiting_since, app.offer_rounds, app.refusals, app.last_reasons = None, 0, {}, ()

    def _launchable(self, now: float) -> list[str]:
        return sorted(a for a in self._pending_apps if not _delayed(self._apps[a], now))

    def _offer_interest(self, now: float, out: list[Effect]) -> None:
        """Suppress when nothing can launch now; Revive (rate-limited) when something newly can."""
        if not self.subscribed:
            return
        launchable = self._interest(self._launchable(now))
        if not launchable:
            self._revive_due = None
            if not self._suppressed:
                out.append(Suppress())
                self._suppressed = True
        elif launchable - self._launchable_seen or (self._revive_due is not None and now >= self._revive_due):
            self._revive(now, out)
        self._launchable_seen = launchable

    def _interest(self, app_ids: Iterable[str]) -> set[tuple[str, float, float, float]]:
        # Keyed by shape too: a waiting app whose instances change size is new work, which may fit
        # offers the long filter keeps away as too small for the old size (decline_unused); a
        # scale-up of the same shape is not (its REVIVE would re-offer a whole cluster for nothing).
        apps = self._apps
        return {(a, apps[a].spec.cpus, apps[a].spec.mem, apps[a].spec.disk) for a in app_ids}

    def _revive(self, now: float, out: list[Effect]) -> None:
        # REVIVE clears every refuse filter in the allocator, so a burst of them would undo the
        # long filters that keep idle offers away; at most one per interval, the rest deferred.
        interval = self.config.revive_min_interval_seconds
        if self._last_revive is None or now >= self._last_revive + interval:
            out.append(Revive())
            self._last_revive = now
            self._suppressed = False
            self._revive_due = None
        else:
            self._revive_due = self._last_revive + interval

    # -- offers ----------------------------------------------------------------------------------

    def _on_offers(self, ev: OffersReceived, out: list[Effect]) -> None:
        for offer in ev.offers:
            self._agents[offer.agent_id] = (offer.hostname, offer.attributes)
        if not ev.offers or not self.subscribed:
            return  # offers die with the connection that brought them; nothing to answer
        self._replan(ev.now, out)
        launchable = self._launchable(ev.now)
        # What is not launchable now gets no use of these offers, whose filters are chosen for what
        # is: should it become launchable again before this call ends (an update later in it), it
        # must count as new work there and REVIVE (_offer_interest).
        self._launchable_seen &= self._interest(launchable)
        if not launchable:
            out.append(Decline(tuple(o.offer_id for o in ev.offers), self._idle_refuse(ev.now)))
            return
        apps = [(app_id, self._apps[app_id]) for app_id in launchable]
        wanted = [len(app.pending) for _, app in apps]
        allotted = share(self._launch_budget, wanted)
        demands = [self._demand(app, n) for (_, app), n in zip(apps, allotted, strict=True) if n > 0]
        placement = place(demands, ev.offers, self._running(apps), policy=self.config.policy)
        capped = allotted != wanted
        if capped:
            refuse = 0.0  # the cap, not the offers, left work waiting: offer them again next round
        elif placement.unplaced:
            # Short filter while work is left unplaced (capacity or constraint counts may change
            # with the next round); long otherwise, so idle offers stay away.
            refuse = self.config.refuse_seconds_busy
        else:
            refuse = self._idle_refuse(ev.now)
        counters, groups = self._launch_all(placement, refuse, ev.now)
        self._launch_budget -= sum(len(accept.launches) for _, accept in groups)
        answered = {offer_id for _, accept in groups for offer_id in accept.offer_ids}
        unused = tuple(o for o in ev.offers if o.offer_id not in answered)
        # The DECLINE first (it waits for nothing), then the counters, then agent by agent each
        # Accept right behind its own tasks' records: a driver that stores effects in chunks can
        # send the first Accepts while it is still storing the later ones.
        if capped or placement.unplaced:
            # Work is left waiting: what could host it comes back soon, what is too small for any
            # of it stays away (decline_unused says why that loses nothing).
            shapes = [Resources.of(cpus=a.spec.cpus, mem=a.spec.mem, disk=a.spec.disk).scalars_milli()
                      for _, a in apps]
            by_id = {o.offer_id: o for o in ev.offers}
            # Too small for any launchable instance: until a backed-off app may launch, at most.
            busy, small = self.config.refuse_seconds_busy, self._idle_refuse(ev.now)
            groups = [(p, accept_leftover(accept, by_id, shapes, small)) for p, accept in groups]
            out.extend(self._unused.decline(unused, shapes, len(groups) if capped else None, busy, small))
        elif unused:
            out.append(Decline(tuple(o.offer_id for o in unused), refuse))
        out.extend(counters)
        for persists, accept in groups:
            out.extend(persists)
            out.append(accept)
        self._note_queue(apps, placement)

    def _idle_refuse(self, now: float) -> float:
        delays = (self._apps[a].delay for a in self._pending_apps)
        return idle_refuse(delays, now, self.config.refuse_seconds_busy, self.config.refuse_seconds_idle)

    def _demand(self, app: _App, count: int) -> Demand:
        spec = app.spec
        return Demand(
            app_id=spec.id,
            version=app.version,
            resources=Resources.of(cpus=spec.cpus, mem=spec.mem, disk=spec.disk),
            port_names=spec.ports,
            count=count,
            constraints=tuple(
                Constraint(c.field, ConstraintOperator(c.operator.value), c.value) for c in spec.constraints
            ),
        )

    def _running(self, apps: list[tuple[str, _App]]) -> list[RunningTask]:
        """Where constrained apps already run (placement counts these); unconstrained apps need none."""
        running = []
        for app_id, app in apps:
            if not app.spec.constraints:
                continue
            for record in app.tasks.values():
                if record.agent_id is None:
                    continue
                hostname, attributes = self._agents.get(record.agent_id, (record.hostname or "", {}))
                running.append(RunningTask(app_id, record.agent_id, record.hostname or hostname, attributes))
        return running

    def _launch_all(self, placement: Placement, refuse: float, now: float) \
            -> tuple[list[Effect], list[tuple[list[Effect], Accept]]]:
        """Turn placed instances into TaskLaunches: the advanced task counters to persist before any
        Accept, and per agent the records to persist before its Accept, with that Accept."""
        groups: list[tuple[list[Effect], Accept]] = []
        used: dict[str, set[int]] = {}  # app id -> indices into app.pending that were placed
        counters, owner, staging = self._counters, self._owner, self._reconcile.staging
        for launch in placement.launches:
            tasks: list[TaskLaunch] = []
            persists: list[Effect] = []
            for group in launch.groups:
                app_id, first, count = group.app_id, group.first_index, group.count
                app = self._apps[app_id]
                used.setdefault(app_id, set()).update(range(first, first + count))
                seq = counters.get(app_id, 0)
                counters[app_id] = seq + count
                app.template = template = template_for(app.template, app.spec, app.version)
                launches, records = template.build(group, app.pending[first : first + count], seq + 1,
                                                   launch.hostname, launch.role, now)
                tasks += launches
                app_tasks = app.tasks
                for record in records:
                    task_id = record.task_id
                    app_tasks[task_id] = record
                    owner[task_id] = app_id
                    staging[task_id] = now
                    persists.append(new_persist_task(record))
            groups.append((persists, Accept(launch.agent_id, launch.offer_ids, tuple(tasks), refuse)))
        out: list[Effect] = []
        for app_id in sorted(used):
            app = self._apps[app_id]
            out.append(PersistTaskCounter(app_id, counters[app_id]))
            left = [slot for i, slot in enumerate(app.pending) if i not in used[app_id]]
            self._set_pending(app_id, app, left, now)
        return out, groups

    def _note_queue(self, apps: list[tuple[str, _App]], placement: Placement) -> None:
        for app_id, app in apps:
            report = placement.unplaced.get((app_id, app.version))
            if not app.pending:
                continue  # fully placed: its statistics were reset
            app.offer_rounds += 1
            app.last_reasons = queue_reasons(report)
            for reason in app.last_reasons:
                app.refusals[reason.label] = app.refusals.get(reason.label, 0) + reason.agents

    # -- lookups ---------------------------------------------------------------------------------

    def _record(self, task_id: str) -> TaskRecord | None:
        if task_id not in self._owner:
            return None
        owner = self._owner[task_id]
        if owner is None:
            return self._orphans[task_id]
        return self._apps[owner].tasks[task_id]

    def _live_records(self) -> list[TaskRecord]:
        return [*(r for app in self._apps.values() for r in app.tasks.values()), *self._orphans.values()]

    # -- views (read-only; the API renders them) -------------------------------------------------

    def app_spec(self, app_id: str) -> tuple[AppSpec, str] | None:
        """The current spec of an app and its version, or None if there is no such app."""
        app = self._apps.get(app_id)
        return None if app is None else (app.spec, app.version)

    def tasks_of(self, app_id: str) -> tuple[TaskRecord, ...]:
        """The app's live tasks (detached ones being killed included), ordered by task number."""
        return list_tasks(app_id, self._apps.get(app_id), self._orphans.values())

    def fleet(self) -> Iterator[tuple[AppSpec, list[TaskRecord]]]:
        """Each app's spec (by app id) with the records `tasks_of` gives, unordered (for gauges)."""
        return list_fleet(self._apps, self._orphans.values())

    def app_statuses(self, now: float) -> tuple[AppStatus, ...]:
        return list_app_statuses(self._apps, self._kills, now)

    def app_status(self, app_id: str, now: float) -> AppStatus | None:
        return find_app_status(self._apps, app_id, self._kills, now)

    def queue_view(self, now: float) -> tuple[QueueEntry, ...]:
        """Every app waiting to launch (backed-off ones included), with why its offers were refused."""
        return list_queue(self._apps, self._pending_apps, now)

    @property
    def reconciling(self) -> bool:
        """True from a Subscribed until every live task has answered the explicit reconciliation."""
        return bool(self._reconcile_pending)

    def next_deadline(self) -> float | None:
        """The earliest time a Tick would change something, or None. Ticking more often is harmless."""
        config = self.config
        times = [self._reconcile.next, self._reconcile.implicit_next, self._revive_due]
        times += [d.until for a in self._pending_apps if (d := self._apps[a].delay) is not None]
        times += [unreachable_deadline(record, bool(self._owner.get(task_id)),
                                       config.unreachable_replace_seconds, config.unreachable_expunge_seconds)
                  for task_id in self._unreachable if (record := self._record(task_id)) is not None]
        times += [kill_retry_at(k, config.kill_retry_seconds) for k in self._kills.values()]
        times += [self._backoff_reset_at(app) for app in self._apps.values() if app.delay is not None]
        return earliest(times)


# -- helpers ------------------------------------------------------------------------------------

_TERMINAL = frozenset(s for s in TaskState if s not in _PHASES)
_UNREACHABLE = TaskState.UNREACHABLE
_SETTLED = AppPlan()  # what plan_app returns for an app that needs nothing


def _delayed(app: _App, now: float) -> bool:
    return app.delay is not None and app.delay.active(now)
