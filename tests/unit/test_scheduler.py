"""Scheduler scenarios, driven by events on injected time.

`Sim` wraps a SchedulerState with a virtual clock, offer/update builders and a tiny in-memory store
that applies the Persist* effects, so restarts can be simulated from exactly what would have been
stored. The property tests (tests/property/test_scheduler_props.py) reuse it.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

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
    Reconcile,
    ReconcileTask,
    RecordEvent,
    Revive,
    Suppress,
    TaskLaunch,
    TaskRecord,
)
from framework.core.events import (
    AgentFailed,
    AppDeleted,
    AppSubmitted,
    Disconnected,
    Event,
    OffersReceived,
    StatusUpdated,
    Subscribed,
    TaskState,
    Tick,
)
from framework.core.model import Offer
from framework.core.resources import Resources
from framework.core.scheduler import SLOT_DETACHED, RestoredApp, SchedulerConfig, SchedulerState
from framework.core.spec import AppSpec, app_version, validate_app

E = TypeVar("E")
APP = "/shop/web"


def only(effects: Sequence[Effect], kind: type[E]) -> list[E]:
    return [e for e in effects if isinstance(e, kind)]


def launches(effects: Sequence[Effect]) -> list[TaskLaunch]:
    return [t for a in only(effects, Accept) for t in a.launches]


@dataclass
class MemoryStore:
    """Applies Persist* effects the way the real store's changes would."""

    framework_id: str | None = None
    apps: dict[str, tuple[AppSpec, str, float]] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def apply(self, effect: Effect) -> None:
        match effect:
            case PersistFrameworkId():
                self.framework_id = effect.framework_id
            case PersistApp():
                self.apps[effect.app_id] = (effect.spec, effect.version, effect.created_at)
            case PersistAppDeleted():
                self.apps.pop(effect.app_id, None)
            case PersistTask():
                self.tasks[effect.record.task_id] = effect.record
            case PersistTaskRemoved():
                self.tasks.pop(effect.task_id, None)
            case PersistTaskCounter():
                self.counters[effect.app_id] = max(self.counters.get(effect.app_id, 0), effect.value)
            case _:
                pass

    def restore(self, config: SchedulerConfig | None = None) -> SchedulerState:
        return SchedulerState.restore(
            framework_id=self.framework_id,
            apps=[RestoredApp(spec, version, created) for spec, version, created in self.apps.values()],
            tasks=list(self.tasks.values()),
            task_counters=dict(self.counters),
            config=config,
        )


class Sim:
    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config
        self.state = SchedulerState(config)
        self.store = MemoryStore()
        self.now = 0.0
        self._offers = 0
        self._uuids = 0

    # -- driving --

    def handle(self, *events: Event) -> list[Effect]:
        effects = self.state.handle(*events)
        for effect in effects:
            self.store.apply(effect)
        return effects

    def at(self, now: float) -> Sim:
        self.now = now
        return self

    def subscribe(self, framework_id: str = "fw-1") -> list[Effect]:
        return self.handle(Subscribed(self.now, framework_id, "master@127.0.0.1:5050"))

    def submit(self, **fields: Any) -> list[Effect]:
        body = {"id": APP, "cmd": "serve $PORT0", "cpus": 1, "mem": 128, "ports": ["http"]} | fields
        return self.handle(AppSubmitted(self.now, validate_app(body)))

    def offer(self, agent: str, *, cpus: float = 4, mem: float = 4096,
              ports: tuple[int, int] = (31000, 31099), attributes: dict[str, str] | None = None) -> Offer:
        self._offers += 1
        return Offer(f"offer-{self._offers}", agent, f"{agent}.example", "*",
                     Resources.of(cpus=cpus, mem=mem, disk=1024, ports=[ports]), attributes or {})

    def offers(self, *offers: Offer) -> list[Effect]:
        return self.handle(OffersReceived(self.now, offers))

    def update(self, task_id: str, state: TaskState, *, ack: bool = True, healthy: bool | None = None,
               agent: str | None = None, reason: str | None = None) -> list[Effect]:
        self._uuids += 1
        uuid = self._uuids.to_bytes(16, "big") if ack else None
        if agent is None:
            record = next((r for r in self.store.tasks.values() if r.task_id == task_id), None)
            agent = record.agent_id if record else "agent-x"
        return self.handle(StatusUpdated(self.now, task_id, state, agent, healthy, reason, None,
                                         "SOURCE_EXECUTOR" if ack else "SOURCE_MASTER", uuid))

    def tick(self, now: float) -> list[Effect]:
        self.now = now
        return self.handle(Tick(now))

    def run_all(self, launched: Sequence[TaskLaunch]) -> None:
        for launch in launched:
            self.update(launch.task_id, TaskState.RUNNING)

    def restart(self) -> None:
        self.state = self.store.restore(self.config)

    # -- reading --

    def live(self, app_id: str = APP) -> list[TaskRecord]:
        return [r for r in self.state.tasks_of(app_id) if r.slot != SLOT_DETACHED]


def started(sim: Sim, instances: int = 3, agents: int = 2, **fields: Any) -> list[TaskLaunch]:
    """Subscribe, submit, offer, and bring every launched task to RUNNING."""
    sim.subscribe()
    sim.submit(instances=instances, **fields)
    sim.at(1.0)
    launched = launches(sim.offers(*(sim.offer(f"a{i}") for i in range(agents))))
    sim.run_all(launched)
    return launched


# --- launching ---------------------------------------------------------------------------------


def test_launch_three_instances_on_offers() -> None:
    sim = Sim()
    assert only(sim.subscribe(), Suppress) == [Suppress()]  # nothing to run yet
    assert only(sim.submit(instances=3), Revive) == [Revive()]
    sim.at(1.0)
    effects = sim.offers(sim.offer("a1", cpus=2), sim.offer("a2", cpus=2))
    accepts = only(effects, Accept)
    # 3 tasks of 1 cpu on two 2-cpu agents: one Accept per agent, 2 + 1 launches
    assert sorted(len(a.launches) for a in accepts) == [1, 2]
    assert all(t.agent_id == a.agent_id for a in accepts for t in a.launches)
    launched = launches(effects)
    assert sorted(t.task_id for t in launched) == ["shop_web.1", "shop_web.2", "shop_web.3"]
    assert sorted(t.slot for t in launched) == [0, 1, 2]
    # every offer answered: both used, nothing declined; nothing pending any more -> Suppress
    assert sorted(o for a in accepts for o in a.offer_ids) == ["offer-1", "offer-2"]
    assert not only(effects, Decline)
    assert effects[-1] == Suppress()
    # the long filter: nothing is left unplaced
    assert {a.refuse_seconds for a in accepts} == {120.0}
    sim.run_all(launched)
    status = sim.state.app_status(APP, sim.now)
    assert status is not None
    assert (status.instances, status.running, status.waiting, status.status) == (3, 3, 0, "running")


def test_launch_carries_what_the_codec_needs() -> None:
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=1, env={"MODE": "x"}, labels={"team": "t"}, kill_grace_period_seconds=7,
               container={"image": "python:3", "port_mappings": [{"port": "http", "container_port": 80}]})
    (launch,) = launches(sim.offers(sim.offer("a1", ports=(31500, 31600))))
    env = dict(launch.env)
    assert launch.ports == (31500,) and launch.resources.ports == ((31500, 31500),)
    assert (launch.resources.cpus, launch.resources.mem) == (1.0, 128.0)
    assert env["PORT0"] == env["PORT_HTTP"] == "31500" and env["HOST"] == "a1.example"
    assert env["MODE"] == "x" and env["GANTRY_APP_ID"] == APP and env["GANTRY_APP_VERSION"] == launch.version
    assert dict(launch.labels)["team"] == "t" and dict(launch.labels)["gantry.app_id"] == APP
    assert launch.container is not None and launch.container.image == "python:3"
    assert launch.kill_grace_seconds == 7.0 and launch.role == "*" and launch.hostname == "a1.example"


def test_every_launch_equals_task_launch_of_and_survives_a_spec_change() -> None:
    # The scheduler builds launches from a cached per-app template; they must be exactly what
    # TaskLaunch.of builds, also after the app's spec changed (the template is rebuilt) and across
    # rounds whose demands carry new Resources objects (the port memo is rechecked).
    sim = Sim()
    sim.subscribe()
    specs: dict[str, AppSpec] = {}

    def submit(**fields: Any) -> None:
        sim.submit(instances=4, env={"MODE": "x"}, labels={"team": "t"}, ports=["http", "admin"], **fields)
        current = sim.state.app_spec(APP)
        assert current is not None
        specs[current[1]] = current[0]

    submit()
    built = launches(sim.at(1.0).offers(sim.offer("a1", cpus=2), sim.offer("a2", cpus=1)))
    built += launches(sim.at(2.0).offers(sim.offer("a3", cpus=2)))
    submit(mem=64)
    sim.run_all(built)
    built += launches(sim.at(3.0).offers(sim.offer("a4", cpus=4, mem=512)))
    assert len(built) == 5 and {t.version for t in built} == set(specs)
    for launch in built:
        assert launch == TaskLaunch.of(specs[launch.version], launch.version, launch.task_id, launch.slot,
                                       launch.agent_id, launch.hostname, launch.role, launch.resources,
                                       launch.ports)
        assert sim.store.tasks[launch.task_id].ports == launch.ports


def test_handle_leaves_the_cyclic_collector_as_it_found_it() -> None:
    sim = Sim()
    assert gc.isenabled()
    sim.subscribe()
    assert gc.isenabled()
    gc.disable()
    try:
        sim.submit(instances=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_one_decision_launches_at_most_its_budget_and_offers_the_rest_back() -> None:
    # 10 instances wanted, 4 per decision: the first round launches 4 (packed onto one agent of 4
    # cpus); launching.QUICK_DECLINES_PER_AGENT (4) offers per agent used are declined with no filter, so they
    # return at the next allocation, the next four a round later (a 1 s filter); an offer too small
    # for any instance (a7) and the full agent's leftovers get the long one. The next rounds launch
    # 4, then the last 2.
    sim = Sim(SchedulerConfig(max_launches_per_decision=4))
    sim.subscribe()
    sim.submit(instances=10)
    sim.at(1.0)
    first = sim.offers(sim.offer("a7", cpus=0.5), *(sim.offer(f"a{i}") for i in range(7)))
    assert len(launches(first)) == 4
    assert {a.refuse_seconds for a in only(first, Accept)} == {120.0}  # a full agent: nothing left to fill
    soon = Decline(("offer-3", "offer-4", "offer-5", "offer-6"), 0.0)
    later = Decline(("offer-7", "offer-8"), 1.0)
    assert only(first, Decline) == [soon, later, Decline(("offer-1",), 120.0)]
    status = sim.state.app_status(APP, sim.now)
    assert status is not None and status.waiting == 6
    sim.at(2.0)
    assert len(launches(sim.offers(*(sim.offer(f"b{i}") for i in range(5))))) == 4
    sim.at(3.0)
    last = sim.offers(*(sim.offer(f"c{i}") for i in range(5)))
    assert len(launches(last)) == 2
    assert {d.refuse_seconds for d in only(last, Decline)} == {120.0}  # nothing left: the long filter


def test_the_declines_of_every_offer_event_of_a_decision_come_before_its_records() -> None:
    # Two offer events in one call: the first launches all the budget allows, the second only
    # declines; its DECLINE must not wait behind the first event's task records.
    sim = Sim(SchedulerConfig(max_launches_per_decision=4))
    sim.subscribe()
    sim.submit(instances=10)
    sim.at(1.0)
    effects = sim.handle(OffersReceived(sim.now, (sim.offer("a1"),)),
                         OffersReceived(sim.now, (sim.offer("b1"), sim.offer("b2"))))
    assert len(launches(effects)) == 4
    first_record = next(i for i, e in enumerate(effects) if isinstance(e, PersistTask))
    declines = [i for i, e in enumerate(effects) if isinstance(e, Decline)]
    assert declines and max(declines) < first_record
    assert sorted(o for d in only(effects, Decline) for o in d.offer_ids) == ["offer-2", "offer-3"]


def test_a_capped_accept_leaves_no_filter_only_on_leftovers_that_can_host_an_instance() -> None:
    # 3 launches per decision on 4-cpu agents: the agent keeps 1 cpu, room for one more instance,
    # so its leftovers come back at the next allocation instead of after the busy filter.
    sim = Sim(SchedulerConfig(max_launches_per_decision=3))
    sim.subscribe()
    sim.submit(instances=10)
    sim.at(1.0)
    (accept,) = only(sim.offers(sim.offer("a1")), Accept)
    assert len(accept.launches) == 3 and accept.refuse_seconds == 0.0


def test_the_launch_budget_is_shared_by_the_apps_and_by_every_offer_event_of_one_decision() -> None:
    sim = Sim(SchedulerConfig(max_launches_per_decision=6))
    sim.subscribe()
    sim.submit(instances=10)
    sim.handle(AppSubmitted(sim.now, validate_app(
        {"id": "/shop/api", "cmd": "serve", "cpus": 1, "mem": 128, "instances": 2})))
    sim.at(1.0)
    # Two offer events handled in one decision: 6 launches in all, the small app gets both of its
    # instances (max-min fair share), the big one the other 4.
    effects = sim.handle(
        OffersReceived(1.0, (sim.offer("a1"), sim.offer("a2"))),
        OffersReceived(1.0, (sim.offer("a3"), sim.offer("a4"))),
    )
    launched = launches(effects)
    assert len(launched) == 6
    assert sorted(t.app_id for t in launched).count("/shop/api") == 2
    # The second event found the budget spent: its offers are declined with no filter, since the
    # decision launched on two agents (up to 8 such offers).
    assert only(effects, Decline) == [Decline(("offer-3", "offer-4"), 0.0)]


def test_persist_task_and_counter_before_accept() -> None:
    # Every Accept comes after the counter and its own tasks' records, agent by agent (so a driver
    # storing in chunks can send early Accepts while it stores the later ones); the DECLINE first.
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=6)
    effects = sim.offers(sim.offer("a1"), sim.offer("a2"), sim.offer("a3", cpus=0.5))
    assert isinstance(effects[0], Decline) and effects[0].offer_ids == ("offer-3",)
    assert effects[1] == PersistTaskCounter(APP, 6)
    seen: set[str] = set()
    for i, effect in enumerate(effects):
        if isinstance(effect, PersistTask):
            seen.add(effect.record.task_id)
        elif isinstance(effect, Accept):
            assert {t.task_id for t in effect.launches} <= seen
            previous = next(j for j in range(i - 1, -1, -1) if not isinstance(effects[j], PersistTask))
            assert {e.record.task_id for e in effects[previous + 1 : i] if isinstance(e, PersistTask)} == {
                t.task_id for t in effect.launches
            }
    assert len(only(effects, Accept)) == 2
    assert all(e.record.state is TaskState.STAGING for e in only(effects, PersistTask))


def test_offers_that_fit_waiting_work_but_hold_none_are_declined_short() -> None:
    # Two instances, one per host (UNIQUE): the second agent could host one by its resources, so it
    # comes back soon (the constraint's counts may change), not after the long filter.
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=3, constraints=[["hostname", "UNIQUE"]])
    effects = sim.offers(sim.offer("a1"), sim.offer("a2", mem=64))
    assert len(launches(effects)) == 1
    assert only(effects, Decline) == [Decline(("offer-2",), 120.0)]  # 64 MB: too small for any
    assert {a.refuse_seconds for a in only(effects, Accept)} == {5.0}  # a1 has room, UNIQUE refuses it


def test_a_new_version_of_waiting_work_revives_the_offers_the_long_filter_keeps_away() -> None:
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=2, mem=8192)
    assert only(sim.offers(sim.offer("a1", mem=4096)), Decline) == [Decline(("offer-1",), 120.0)]
    sim.at(100.0)  # well past the revive rate limit
    assert Revive() not in sim.tick(100.0)  # the same work waiting: nothing new to offer it
    assert Revive() in sim.submit(instances=2, mem=2048)  # a new version: a 4096 MB agent fits it now


def test_a_scale_up_of_the_same_shape_does_not_revive() -> None:
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=2, mem=8192)
    sim.offers(sim.offer("a1", mem=4096))
    sim.at(100.0)
    assert Revive() not in sim.submit(instances=5, mem=8192)  # more of what the filters were chosen for


def test_work_that_waits_again_after_offers_were_declined_without_it_revives() -> None:
    # One call: the first offer takes the app's last waiting instance; the second offer, too small
    # for the only other waiting app (8 cpus), gets the long filter; then an instance is lost and
    # the app waits again. Its instances would fit that second agent: the call must REVIVE.
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=2)
    sim.handle(AppSubmitted(sim.now, validate_app({"id": "/big", "cmd": "x", "cpus": 8, "mem": 128})))
    sim.at(1.0)
    (running,) = launches(sim.offers(sim.offer("b1", cpus=1)))
    sim.run_all([running])
    assert Revive() in sim.tick(6.0)  # the REVIVE deferred when /big came (rate limit) goes out
    assert Revive() not in sim.tick(20.0)  # nothing new since
    lost = StatusUpdated(sim.now, running.task_id, TaskState.LOST, "b1", None, None, None, "SOURCE_MASTER",
                         None)
    effects = sim.handle(OffersReceived(sim.now, (sim.offer("b2", cpus=1),)),
                         OffersReceived(sim.now, (sim.offer("c1", cpus=1.2),)), lost)
    assert len(launches(effects)) == 1
    assert Decline(("offer-3",), 120.0) in effects
    assert Revive() in effects


def test_unplaceable_work_is_declined_long_and_explained_in_the_queue() -> None:
    # Nothing offered can host an instance (every agent is short of memory): the long filter, since
    # a filter holds only the refused resources (an agent whose tasks end is offered again at once).
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=2, mem=8192)
    effects = sim.offers(sim.offer("a1", mem=4096), sim.offer("a2", mem=2048))
    assert only(effects, Decline) == [Decline(("offer-1", "offer-2"), 120.0)]
    sim.offers(sim.offer("a1", mem=4096))
    (entry,) = sim.state.queue_view(sim.now)
    assert (entry.app_id, entry.waiting, entry.offer_rounds) == (APP, 2, 2)
    # round 1: 2 agents short of mem, round 2: 1 more -> 3
    assert entry.refused == (("no_fit:mem", 3),)
    assert entry.last_round[0].kind == "no_fit" and "mem" in entry.last_round[0].message


def test_no_work_declines_long_and_suppresses_once() -> None:
    sim = Sim()
    sim.subscribe()
    effects = sim.offers(sim.offer("a1"))
    assert effects == [Decline(("offer-1",), 120.0)]  # already suppressed: no second Suppress


def test_revive_is_rate_limited_and_deferred_to_a_tick() -> None:
    sim = Sim()
    sim.subscribe()
    assert Revive() in sim.submit(instances=1)
    sim.at(1.0)
    sim.offers(sim.offer("a1"))  # launches it; Suppress follows
    sim.at(2.0)
    assert Revive() not in sim.submit(id="other", instances=1)  # 2.0 < 0.0 + 5
    assert Revive() not in sim.tick(4.9)
    assert Revive() in sim.tick(5.0)
    assert Revive() not in sim.tick(6.0)


# --- failures ----------------------------------------------------------------------------------


def test_crash_is_replaced_after_backoff_with_a_new_task_id() -> None:
    sim = Sim()
    launched = started(sim, instances=3)
    crashed = launched[0]
    sim.at(10.0)
    effects = sim.update(crashed.task_id, TaskState.FAILED)
    assert any(isinstance(e, RecordEvent) and e.kind == "app_backoff" for e in effects)
    status = sim.state.app_status(APP, 10.0)
    assert status is not None and status.status == "backing_off" and status.backoff is not None
    assert status.backoff.delay_seconds == 1.0 and status.backoff.until == 11.0
    # inside the backoff: offers are declined, for at least the short filter
    sim.at(10.5)
    effects = sim.offers(sim.offer("a3"))
    assert only(effects, Decline) == [Decline(("offer-3",), 5.0)] and not launches(effects)
    (entry,) = sim.state.queue_view(10.5)
    assert entry.backoff is not None and entry.backoff.remaining_seconds == 0.5
    # the backoff ends: a Tick revives, the next offer replaces the task in the same slot
    assert Revive() in sim.tick(11.0)
    (replacement,) = launches(sim.offers(sim.offer("a3")))
    assert replacement.slot == crashed.slot and replacement.task_id == "shop_web.4"
    # a second crash of the same configuration: 1 * 1.15
    sim.at(20.0)
    sim.update(replacement.task_id, TaskState.FAILED)
    status = sim.state.app_status(APP, 20.0)
    assert status is not None and status.backoff is not None and status.backoff.delay_seconds == 1.15


def test_backoff_resets_after_a_task_ran_long_enough() -> None:
    sim = Sim(SchedulerConfig(backoff_reset_seconds=60))
    launched = started(sim, instances=1)
    sim.at(10.0)
    sim.update(launched[0].task_id, TaskState.FAILED)
    sim.tick(11.0)
    (again,) = launches(sim.offers(sim.offer("a1")))
    sim.at(12.0)
    sim.update(again.task_id, TaskState.RUNNING)
    sim.tick(71.0)  # 12 + 60 = 72: not yet
    assert sim.state.app_statuses(71.0)[0].backoff is None  # the 1 s delay itself has passed
    assert sim.state.next_deadline() == 72.0
    effects = sim.tick(72.0)
    assert any(isinstance(e, RecordEvent) and e.kind == "app_backoff_reset" for e in effects)
    sim.at(100.0)
    sim.update(again.task_id, TaskState.FAILED)
    status = sim.state.app_status(APP, 100.0)
    assert status is not None and status.backoff is not None and status.backoff.delay_seconds == 1.0


def test_killed_by_us_is_not_a_crash() -> None:
    sim = Sim()
    launched = started(sim, instances=2)
    effects = sim.submit(instances=1)
    (kill,) = only(effects, Kill)
    sim.update(kill.task_id, TaskState.KILLED)
    status = sim.state.app_status(APP, sim.now)
    assert status is not None and status.backoff is None and status.running == 1
    assert {r.task_id for r in sim.live()} == {t.task_id for t in launched} - {kill.task_id}


def test_agent_lost_tasks_are_replaced_elsewhere_after_the_unreachable_timeout() -> None:
    sim = Sim(SchedulerConfig(unreachable_replace_seconds=60))
    launched = started(sim, instances=2, agents=1)
    sim.at(5.0)
    agent_effects = sim.handle(AgentFailed(5.0, "a0"))
    assert only(agent_effects, Reconcile) == [
        Reconcile(tuple(ReconcileTask(t.task_id, "a0") for t in launched))
    ]
    for t in launched:
        sim.update(t.task_id, TaskState.UNREACHABLE, ack=False)
    # not replaced yet: the agent may come back
    sim.at(30.0)
    assert not launches(sim.offers(sim.offer("b1")))
    effects = sim.tick(65.0)  # 5 + 60 <= 65: detach both
    detached = [e.record for e in only(effects, PersistTask)]
    assert sorted(r.task_id for r in detached) == sorted(t.task_id for t in launched)
    assert {r.slot for r in detached} == {SLOT_DETACHED}
    assert Revive() in effects
    replaced = launches(sim.offers(sim.offer("b1")))
    assert sorted(t.slot for t in replaced) == sorted(t.slot for t in launched)
    assert {t.agent_id for t in replaced} == {"b1"}
    # the old agent comes back: its tasks are killed, not adopted
    sim.at(70.0)
    back = sim.update(launched[0].task_id, TaskState.RUNNING, agent="a0")
    assert Kill(launched[0].task_id, "a0", 3.0) in back
    assert len(sim.live()) == 2


def test_gone_task_is_replaced_at_once_without_backoff() -> None:
    sim = Sim()
    launched = started(sim, instances=1)
    sim.at(5.0)
    sim.update(launched[0].task_id, TaskState.GONE, ack=False, reason="REASON_AGENT_REMOVED")
    (replacement,) = launches(sim.offers(sim.offer("b1")))
    assert replacement.slot == launched[0].slot


# --- scaling and deletion ----------------------------------------------------------------------


def test_scale_down_kills_youngest_first() -> None:
    sim = Sim()
    started(sim, instances=4)
    effects = sim.submit(instances=2)
    assert [k.task_id for k in only(effects, Kill)] == ["shop_web.4", "shop_web.3"]
    assert only(effects, PersistApp)[0].spec.instances == 2
    status = sim.state.app_status(APP, sim.now)
    assert status is not None and (status.killing, status.status) == (2, "scaling")
    # nothing relaunched while the killed tasks wind down
    assert not launches(sim.offers(sim.offer("a9")))


def test_scale_keeps_tasks_but_a_new_config_rolls_one_at_a_time() -> None:
    sim = Sim()
    launched = started(sim, instances=2)
    assert not only(sim.submit(instances=2, cpus=1), Kill)  # identical spec: no-op
    effects = sim.submit(instances=2, cmd="serve --v2 $PORT0")
    (kill,) = only(effects, Kill)
    assert kill.task_id == launched[0].task_id  # the oldest outdated goes first
    (new,) = launches(sim.offers(sim.offer("a5")))
    assert new.version != launched[0].version
    assert not only(sim.update(kill.task_id, TaskState.KILLED), Kill)  # new one not running yet
    second = sim.update(new.task_id, TaskState.RUNNING)
    assert [k.task_id for k in only(second, Kill)] == [launched[1].task_id]


def test_delete_app_kills_all_its_tasks() -> None:
    sim = Sim()
    launched = started(sim, instances=3)
    effects = sim.handle(AppDeleted(sim.now, APP))
    assert PersistAppDeleted(APP, sim.now) in effects
    assert sorted(k.task_id for k in only(effects, Kill)) == sorted(t.task_id for t in launched)
    assert {e.record.slot for e in only(effects, PersistTask)} == {SLOT_DETACHED}
    assert sim.state.app_status(APP, sim.now) is None
    for t in launched:
        sim.update(t.task_id, TaskState.KILLED)
    assert sim.state.tasks_of(APP) == ()


def test_recreated_app_never_reuses_task_ids() -> None:
    sim = Sim()
    started(sim, instances=2)
    sim.handle(AppDeleted(sim.now, APP))
    sim.restart()
    sim.subscribe()
    sim.submit(instances=2)
    assert sorted(t.task_id for t in launches(sim.offers(sim.offer("a1")))) == ["shop_web.3", "shop_web.4"]


# --- status updates ----------------------------------------------------------------------------


def test_persist_before_acknowledge_and_never_ack_without_uuid() -> None:
    sim = Sim()
    launched = started(sim, instances=1)
    effects = sim.update(launched[0].task_id, TaskState.RUNNING, healthy=True)
    assert [type(e) for e in effects[:2]] == [PersistTask, Acknowledge]
    assert effects[0].record.healthy is True  # type: ignore[union-attr]
    # a reconciliation reply (no uuid) repeating the state: nothing stored, nothing acknowledged
    assert sim.update(launched[0].task_id, TaskState.RUNNING, ack=False) == []
    # a master-generated change of state: stored, not acknowledged
    effects = sim.update(launched[0].task_id, TaskState.UNREACHABLE, ack=False)
    assert only(effects, PersistTask) and not only(effects, Acknowledge)


def test_unknown_task_is_killed_and_its_update_acknowledged() -> None:
    sim = Sim()
    sim.subscribe()
    effects = sim.update("ghost.1", TaskState.RUNNING, agent="a1")
    assert effects[0] == Kill("ghost.1", "a1")
    assert only(effects, Acknowledge)[0].task_id == "ghost.1"
    # an unknown task that is already over is only acknowledged
    assert [type(e) for e in sim.update("ghost.2", TaskState.FAILED, agent="a1")] == [Acknowledge]


def test_health_is_counted() -> None:
    sim = Sim()
    launched = started(sim, instances=2, health_checks=[{"protocol": "TCP", "port": "http"}])
    sim.update(launched[0].task_id, TaskState.RUNNING, healthy=True)
    sim.update(launched[1].task_id, TaskState.RUNNING, healthy=False)
    status = sim.state.app_status(APP, sim.now)
    assert status is not None
    assert (status.running, status.healthy, status.unhealthy, status.ready) == (2, 1, 1, 1)


# --- subscription, reconciliation, restart -----------------------------------------------------


def test_explicit_reconciliation_on_subscribe_retried_until_answered_then_periodic() -> None:
    sim = Sim(SchedulerConfig(reconcile_retry_seconds=5, implicit_reconcile_interval_seconds=600))
    launched = started(sim, instances=2)
    sim.restart()
    sim.at(100.0)
    effects = sim.subscribe()
    expected = {ReconcileTask(t.task_id, t.agent_id) for t in launched}
    (first,) = only(effects, Reconcile)
    assert set(first.tasks) == expected
    sim.update(launched[0].task_id, TaskState.RUNNING, ack=False)
    assert not only(sim.tick(104.0), Reconcile)
    (retry,) = only(sim.tick(105.0), Reconcile)  # 100 + 5
    assert retry.tasks == (ReconcileTask(launched[1].task_id, launched[1].agent_id),)
    assert not only(sim.tick(114.0), Reconcile)
    assert only(sim.tick(115.0), Reconcile)  # 105 + 5 * 2
    sim.at(116.0)
    sim.update(launched[1].task_id, TaskState.RUNNING, ack=False)
    assert not only(sim.tick(715.0), Reconcile)
    assert only(sim.tick(716.0), Reconcile) == [Reconcile(())]  # 116 + 600: implicit


def test_restart_mid_launch_neither_loses_nor_duplicates() -> None:
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=2)
    launched = launches(sim.offers(sim.offer("a1")))  # stored as STAGING, maybe never sent
    sim.restart()
    sim.at(50.0)
    (reconcile,) = only(sim.subscribe(), Reconcile)
    assert {t.task_id for t in reconcile.tasks} == {t.task_id for t in launched}
    assert not launches(sim.offers(sim.offer("a2")))  # the slots are still taken
    # the master never saw one of them: it answers GONE, and only that slot is relaunched
    sim.update(launched[0].task_id, TaskState.GONE, ack=False)
    sim.update(launched[1].task_id, TaskState.RUNNING, ack=False)
    (again,) = launches(sim.offers(sim.offer("a2")))
    assert again.slot == launched[0].slot and again.task_id == "shop_web.3"


def test_restore_orphans_tasks_of_deleted_apps_and_kills_them_on_subscribe() -> None:
    store = MemoryStore(framework_id="fw-1")
    store.tasks["old_app.1"] = TaskRecord("old_app.1", "/old/app", "v.1", 0, TaskState.RUNNING, 1.0, "a1")
    store.tasks["old_app.0"] = TaskRecord("old_app.0", "/old/app", "v.1", 1, TaskState.FINISHED, 1.0, "a1")
    state = store.restore()
    effects = state.handle(Subscribed(10.0, "fw-1"))
    assert Kill("old_app.1", "a1", None) in effects
    assert not only(effects, PersistFrameworkId)  # the same id: nothing to store
    (reconcile,) = only(effects, Reconcile)
    assert reconcile.tasks == (ReconcileTask("old_app.1", "a1"),)  # terminal history is not reconciled


def test_kill_requested_while_disconnected_is_sent_on_subscribe_and_retried() -> None:
    sim = Sim(SchedulerConfig(kill_retry_seconds=30))
    launched = started(sim, instances=1)
    sim.handle(Disconnected(sim.now))
    effects = sim.handle(AppDeleted(sim.now, APP))
    assert not only(effects, Kill) and not only(effects, Suppress)  # no Mesos calls while disconnected
    sim.at(10.0)
    assert Kill(launched[0].task_id, "a0", 3.0) in sim.subscribe()
    assert not only(sim.tick(42.9), Kill)
    assert only(sim.tick(43.0), Kill)  # 10 + 3 grace + 30


def test_framework_id_is_persisted_when_new() -> None:
    sim = Sim()
    assert PersistFrameworkId("fw-9") in sim.subscribe("fw-9")
    assert not only(sim.subscribe("fw-9"), PersistFrameworkId)


# --- more edges --------------------------------------------------------------------------------


def test_offers_while_disconnected_are_void() -> None:
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=1)
    sim.handle(Disconnected(sim.now))
    assert sim.offers(sim.offer("a1")) == []
    # after resubscribing, pending work is revived (clearing filters of the old session)
    sim.at(10.0)
    assert Revive() in sim.subscribe()
    assert len(launches(sim.offers(sim.offer("a1")))) == 1


def test_unique_hostname_waits_for_a_new_agent() -> None:
    sim = Sim()
    launched = started(sim, instances=3, agents=2, constraints=[["hostname", "UNIQUE"]])
    assert len(launched) == 2
    (entry,) = sim.state.queue_view(sim.now)
    assert entry.waiting == 1 and entry.last_round[0].label == "constraint_unmet:hostname:UNIQUE"
    # the same two agents again: still refused (the running tasks count)
    assert not launches(sim.offers(sim.offer("a0"), sim.offer("a1")))
    (third,) = launches(sim.offers(sim.offer("a2")))
    assert third.agent_id == "a2"
    assert sim.state.queue_view(sim.now) == ()  # placed: no longer waiting, statistics reset


def test_killed_by_its_health_check_backs_off() -> None:
    sim = Sim()
    launched = started(sim, instances=1, health_checks=[{"protocol": "TCP", "port": "http"}])
    sim.at(5.0)
    sim.update(launched[0].task_id, TaskState.KILLED, healthy=False)
    status = sim.state.app_status(APP, 5.0)
    assert status is not None and status.backoff is not None and status.backoff.crashes == 1


def test_detached_unreachable_task_is_forgotten_after_expunge_and_then_killed_as_unknown() -> None:
    sim = Sim(SchedulerConfig(unreachable_replace_seconds=10, unreachable_expunge_seconds=100))
    launched = started(sim, instances=1)
    task_id = launched[0].task_id
    sim.at(2.0)
    sim.update(task_id, TaskState.UNREACHABLE, ack=False)
    sim.tick(12.0)  # 2 + 10: detached and replaced
    assert [r.slot for r in sim.state.tasks_of(APP) if r.task_id == task_id] == [SLOT_DETACHED]
    effects = sim.tick(102.0)  # 2 + 100: forgotten
    assert PersistTaskRemoved(task_id) in effects
    assert task_id not in sim.store.tasks
    back = sim.update(task_id, TaskState.RUNNING, agent="a0")
    assert back[0] == Kill(task_id, "a0")  # an unknown task now


def test_restore_keeps_the_youngest_of_two_tasks_claiming_one_slot() -> None:
    store = MemoryStore(framework_id="fw-1")
    spec = validate_app({"id": APP, "cmd": "x", "instances": 1})
    version = app_version(spec)
    store.apps[APP] = (spec, version, 0.0)
    store.tasks["shop_web.1"] = TaskRecord("shop_web.1", APP, version, 0, TaskState.RUNNING, 1.0, "a1")
    store.tasks["shop_web.2"] = TaskRecord("shop_web.2", APP, version, 0, TaskState.RUNNING, 2.0, "a2")
    state = store.restore()
    by_id = {r.task_id: r.slot for r in state.tasks_of(APP)}
    assert by_id == {"shop_web.1": SLOT_DETACHED, "shop_web.2": 0}
    effects = state.handle(Subscribed(5.0, "fw-1"))
    assert Kill("shop_web.1", "a1", None) in effects
    assert not launches(state.handle(OffersReceived(6.0, (Sim().offer("a3"),))))


def test_scale_up_adds_slots_without_touching_running_tasks() -> None:
    sim = Sim()
    launched = started(sim, instances=2)
    effects = sim.submit(instances=4)
    assert not only(effects, Kill)
    assert Revive() not in effects  # the last Revive was at 0.0: rate-limited until 5.0
    assert Revive() in sim.tick(5.0)
    new = launches(sim.offers(sim.offer("a5")))
    assert sorted(t.slot for t in new) == [2, 3]
    assert {t.version for t in new} != {t.version for t in launched}  # the version names the count
    assert {t.version.split(".")[0] for t in new} == {t.version.split(".")[0] for t in launched}


def test_task_stuck_in_staging_is_reconciled_and_replaced_when_the_master_never_saw_it() -> None:
    # An ACCEPT lost in flight is not retried, so its task stays STAGING in our records. After
    # staging_reconcile_seconds the core asks the master; a task the master never saw comes back
    # TASK_GONE (PARTITION_AWARE), which frees the slot for a new task.
    sim = Sim(SchedulerConfig(staging_reconcile_seconds=60))
    sim.subscribe()
    sim.submit(instances=1)
    sim.at(1.0)
    (lost,) = launches(sim.offers(sim.offer("a1")))
    assert not only(sim.tick(60.0), Reconcile)  # 1 + 60 not reached yet
    (ask,) = only(sim.tick(61.0), Reconcile)
    assert ask.tasks == (ReconcileTask(lost.task_id, lost.agent_id),)
    assert not only(sim.tick(62.0), Reconcile)  # asked once, not every tick
    sim.update(lost.task_id, TaskState.GONE, ack=False, reason="REASON_RECONCILIATION")
    (replacement,) = launches(sim.offers(sim.offer("a2")))
    assert replacement.slot == lost.slot and replacement.task_id != lost.task_id


def test_task_still_staging_at_the_master_is_asked_again_only_after_another_wait() -> None:
    sim = Sim(SchedulerConfig(staging_reconcile_seconds=60, reconcile_retry_seconds=5))
    sim.subscribe()
    sim.submit(instances=1)
    sim.at(1.0)
    (slow,) = launches(sim.offers(sim.offer("a1")))
    assert only(sim.tick(61.0), Reconcile)
    sim.at(62.0)
    sim.update(slow.task_id, TaskState.STAGING, ack=False, reason="REASON_RECONCILIATION")
    assert not [r for e in (sim.tick(t) for t in (70.0, 100.0, 120.0)) for r in only(e, Reconcile)]
    (again,) = only(sim.tick(121.0), Reconcile)  # 61 + 60
    assert again.tasks == (ReconcileTask(slow.task_id, slow.agent_id),)
    assert sim.live()[0].task_id == slow.task_id  # still the same task: nothing was replaced


def test_staging_checks_follow_launch_order_and_survive_a_restart() -> None:
    # The tick reads only the STAGING tasks old enough to check, oldest first: tasks launched at 1
    # and 30 are asked about at 61 and 90 respectively, one that is RUNNING never; after a restart
    # a task still STAGING in the store is checked 60 s after its last stored change.
    sim = Sim(SchedulerConfig(staging_reconcile_seconds=60))
    sim.subscribe()
    sim.submit(instances=3)
    sim.at(1.0)
    early, running = launches(sim.offers(sim.offer("a1", cpus=2)))
    sim.run_all([running])
    sim.submit(instances=4)
    sim.at(30.0)
    (late,) = launches(sim.offers(sim.offer("a2", cpus=1)))
    (first,) = only(sim.tick(61.0), Reconcile)
    assert first.tasks == (ReconcileTask(early.task_id, early.agent_id),)
    sim.at(62.0)
    sim.update(early.task_id, TaskState.STAGING, ack=False, reason="REASON_RECONCILIATION")
    assert not only(sim.tick(89.0), Reconcile)
    (second,) = only(sim.tick(90.0), Reconcile)
    assert second.tasks == (ReconcileTask(late.task_id, late.agent_id),)
    sim.at(91.0)
    sim.update(late.task_id, TaskState.STAGING, ack=False, reason="REASON_RECONCILIATION")
    (third,) = only(sim.tick(121.0), Reconcile)  # the early one again: asked at 61
    assert third.tasks == (ReconcileTask(early.task_id, early.agent_id),)
    sim.restart()
    sim.at(130.0)
    sim.subscribe()
    sim.update(early.task_id, TaskState.STAGING, ack=False, reason="REASON_RECONCILIATION")
    sim.update(late.task_id, TaskState.STAGING, ack=False, reason="REASON_RECONCILIATION")
    sim.update(running.task_id, TaskState.RUNNING, ack=False, reason="REASON_RECONCILIATION")
    # Stored at launch (1 and 30): both are due at the first tick, the RUNNING one is not.
    asked = [t for e in (sim.tick(131.0),) for r in only(e, Reconcile) for t in r.tasks]
    assert sorted(t.task_id for t in asked) == sorted([early.task_id, late.task_id])


def test_a_resent_update_is_acknowledged_again_without_storing_it_twice() -> None:
    # Agents resend an update until it is acknowledged; under load copies arrive while the first
    # ACK is in flight. The copy carries the stored record's uuid, so it changes nothing.
    sim = Sim()
    sim.subscribe()
    sim.submit(instances=1)
    sim.at(1.0)
    (task,) = launches(sim.offers(sim.offer("a1")))
    uuid = (7).to_bytes(16, "big")
    update = StatusUpdated(2.0, task.task_id, TaskState.RUNNING, task.agent_id, None, None, None,
                           "SOURCE_EXECUTOR", uuid)
    first = sim.handle(update)
    assert [type(e) for e in first if isinstance(e, PersistTask | Acknowledge)] == [PersistTask, Acknowledge]
    again = sim.handle(replace(update, now=12.0))
    assert not only(again, PersistTask)
    assert only(again, Acknowledge) == [Acknowledge(task.agent_id, task.task_id, uuid)]
