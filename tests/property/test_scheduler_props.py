"""Safety properties of the scheduler core under random event sequences (Hypothesis, stateful).

The machine subscribes and disconnects, submits, scales, changes and deletes apps, sends offers of
random sizes, status updates in random states (with and without uuid, for known, stale and unknown
task ids), agent failures, timer ticks, and restarts the core from what its Persist* effects stored.
After every call it checks the named properties:

- never two live tasks for one slot;
- every offer answered exactly once (in the call that received it);
- never acknowledges an update without uuid;
- persist precedes acknowledge (and precedes the Accept that launches a task);
- task ids are never reused, across restarts too;
- no Mesos call while disconnected; every Accept stays on one agent.

At the end of every run (teardown) the cluster starts to behave: capacity appears, launched tasks
run, killed tasks die. Then every app must converge to exactly its instance count, all running its
current configuration, with nothing waiting (liveness: no sequence of faults wedges the core).
"""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from framework.core.effects import (
    Accept,
    Acknowledge,
    Decline,
    Effect,
    Kill,
    PersistTask,
    Reconcile,
    Revive,
    Suppress,
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
from framework.core.scheduler import SLOT_DETACHED, SchedulerConfig, SchedulerState
from framework.core.spec import validate_app
from tests.unit.test_scheduler import MemoryStore

APPS = ("/a", "/b/c")
AGENTS = ("a0", "a1", "a2", "a3")
MESOS_CALLS = (Accept, Decline, Kill, Acknowledge, Reconcile, Suppress, Revive)
CONFIG = SchedulerConfig(unreachable_replace_seconds=30, unreachable_expunge_seconds=120,
                         kill_retry_seconds=10, backoff_reset_seconds=20)


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.state = SchedulerState(CONFIG)
        self.now = 0.0
        self.subscribed = False
        self.launched: dict[str, str] = {}  # task id -> app id, every task ever launched
        self.offer_seq = 0
        self.uuid_seq = 0

    # -- driving ------------------------------------------------------------------------------

    def send(self, event: Event) -> list[Effect]:
        known_before = {tid for app in APPS for tid in (r.task_id for r in self.state.tasks_of(app))}
        effects = self.state.handle(event)
        for effect in effects:
            self.store.apply(effect)
        self.check_call(event, effects, known_before)
        return effects

    def step(self, dt: float = 0.5) -> float:
        self.now += dt
        return self.now

    @initialize(instances=st.integers(1, 4))
    def start(self, instances: int) -> None:
        # Most interesting sequences need a subscription and an app; start every run with both.
        self.subscribe("fw-1")
        self.submit(APPS[0], instances, 0, False, 64)

    @rule(framework=st.sampled_from(["fw-1", "fw-2"]))
    def subscribe(self, framework: str) -> None:
        self.subscribed = True
        self.send(Subscribed(self.step(), framework))

    @precondition(lambda self: self.subscribed)
    @rule()
    def disconnect(self) -> None:
        self.subscribed = False
        self.send(Disconnected(self.step()))

    @rule(app=st.sampled_from(APPS), instances=st.integers(0, 4), variant=st.integers(0, 1),
          unique=st.booleans(), mem=st.sampled_from([64, 512, 3000]))
    def submit(self, app: str, instances: int, variant: int, unique: bool, mem: int) -> None:
        spec = validate_app({
            "id": app, "cmd": f"run v{variant}", "cpus": 0.5, "mem": mem, "instances": instances,
            "ports": ["http"], "constraints": [["hostname", "UNIQUE"]] if unique else [],
            "backoff_seconds": 1, "backoff_factor": 2, "max_launch_delay_seconds": 8,
        })
        self.send(AppSubmitted(self.step(), spec))

    @rule(app=st.sampled_from(APPS))
    def delete(self, app: str) -> None:
        self.send(AppDeleted(self.step(), app))

    @precondition(lambda self: self.subscribed)
    @rule(agents=st.lists(st.tuples(st.sampled_from(AGENTS), st.sampled_from([0.5, 1, 4]),
                                    st.sampled_from([256, 4096])), min_size=1, max_size=4))
    def offers(self, agents: list[tuple[str, float, int]]) -> None:
        self.send_offers(agents)

    @precondition(lambda self: self.subscribed)
    @rule(agent=st.sampled_from(AGENTS))
    def big_offer(self, agent: str) -> None:
        # A second offer rule makes offers about twice as likely as any other single event.
        self.send_offers([(agent, 4, 4096)])

    def send_offers(self, agents: list[tuple[str, float, int]]) -> list[Effect]:
        offers = []
        for agent, cpus, mem in agents:
            self.offer_seq += 1
            offers.append(Offer(f"o{self.offer_seq}", agent, f"{agent}.example", "*",
                                Resources.of(cpus=cpus, mem=mem, disk=100, ports=[(31000, 31003)])))
        return self.send(OffersReceived(self.step(), tuple(offers)))

    @precondition(lambda self: self.subscribed and self.launched)
    @rule(pick=st.integers(0, 10_000), state=st.sampled_from(list(TaskState)), with_uuid=st.booleans(),
          healthy=st.sampled_from([None, True, False]))
    def update(self, pick: int, state: TaskState, with_uuid: bool, healthy: bool | None) -> None:
        ids = sorted(self.launched)
        task_id = ids[pick % len(ids)]
        self.uuid_seq += 1
        uuid = self.uuid_seq.to_bytes(16, "big") if with_uuid else None
        agent = AGENTS[pick % len(AGENTS)]
        self.send(StatusUpdated(self.step(), task_id, state, agent, healthy, None, None, None, uuid))

    @precondition(lambda self: self.subscribed)
    @rule(state=st.sampled_from([TaskState.RUNNING, TaskState.FAILED]), with_uuid=st.booleans())
    def unknown_update(self, state: TaskState, with_uuid: bool) -> None:
        self.uuid_seq += 1
        uuid = self.uuid_seq.to_bytes(16, "big") if with_uuid else None
        ghost = f"ghost.{self.uuid_seq}"
        self.send(StatusUpdated(self.step(), ghost, state, "a0", None, None, None, None, uuid))

    @precondition(lambda self: self.subscribed)
    @rule(agent=st.sampled_from(AGENTS))
    def agent_failed(self, agent: str) -> None:
        self.send(AgentFailed(self.step(), agent))

    @rule(dt=st.sampled_from([0.5, 3.0, 11.0, 40.0, 200.0]))
    def tick(self, dt: float) -> None:
        self.send(Tick(self.step(dt)))

    @rule()
    def restart(self) -> None:
        # A crash: the process is gone, the store and the cluster remain.
        self.state = self.store.restore(CONFIG)
        self.subscribed = False

    # -- liveness -------------------------------------------------------------------------------

    def teardown(self) -> None:
        """Whatever happened, once the cluster behaves (capacity, tasks start and die when killed),
        every app converges to exactly its instance count on its current configuration."""
        if not self.subscribed:
            self.subscribe("fw-1")
        for round_ in range(40):
            effects = self.send(Tick(self.step(400.0)))  # past every backoff and unreachable timer
            offers = [(f"b{round_}-{i}", 16.0, 65536) for i in range(4)]
            effects += self.send_offers(offers)
            self.behave(effects)
        for app in APPS:
            spec = self.state.app_spec(app)
            if spec is None:
                continue
            status = self.state.app_status(app, self.now)
            assert status is not None
            assert (status.running, status.tasks, status.waiting, status.deploying) == \
                (spec[0].instances, spec[0].instances, 0, False), status

    def behave(self, effects: list[Effect]) -> None:
        """The cluster's answer: killed tasks die, launched and all other live tasks run."""
        killed = {e.task_id for e in effects if isinstance(e, Kill)}
        for task_id in sorted(killed):
            self.uuid_seq += 1
            self.send(StatusUpdated(self.step(), task_id, TaskState.KILLED, "a0", None, None, None, None,
                                    self.uuid_seq.to_bytes(16, "big")))
        for app in APPS:
            for record in self.state.tasks_of(app):
                if record.state is not TaskState.RUNNING and record.task_id not in killed:
                    self.uuid_seq += 1
                    self.send(StatusUpdated(self.step(), record.task_id, TaskState.RUNNING, record.agent_id,
                                            None, None, None, None, self.uuid_seq.to_bytes(16, "big")))

    # -- properties -----------------------------------------------------------------------------

    def check_call(self, event: Event, effects: list[Effect], known_before: set[str]) -> None:
        calls = [e for e in effects if isinstance(e, MESOS_CALLS)]
        if not self.subscribed:
            assert calls == [], "no Mesos call while disconnected"
        self.check_offers_answered(event, effects)
        self.check_acknowledgements(event, effects, known_before)
        self.check_launches(effects)

    def check_offers_answered(self, event: Event, effects: list[Effect]) -> None:
        answered = Counter(o for e in effects if isinstance(e, Accept | Decline) for o in e.offer_ids)
        offered = event.offers if isinstance(event, OffersReceived) else ()
        expected = Counter(o.offer_id for o in offered)
        assert answered == expected, "every offer answered exactly once, in the call that received it"

    def check_acknowledgements(self, event: Event, effects: list[Effect], known_before: set[str]) -> None:
        acks = [i for i, e in enumerate(effects) if isinstance(e, Acknowledge)]
        if not isinstance(event, StatusUpdated) or event.uuid is None:
            assert acks == [], "never acknowledges an update without uuid"
            return
        assert len(acks) <= 1
        for i in acks:
            ack = effects[i]
            assert isinstance(ack, Acknowledge) and ack.uuid == event.uuid and ack.task_id == event.task_id
            if event.task_id in known_before:
                assert any(isinstance(e, PersistTask) and e.record.task_id == event.task_id
                           for e in effects[:i]), "persist precedes acknowledge"

    def check_launches(self, effects: list[Effect]) -> None:
        for i, effect in enumerate(effects):
            if not isinstance(effect, Accept):
                continue
            stored = {e.record.task_id for e in effects[:i] if isinstance(e, PersistTask)}
            for launch in effect.launches:
                assert launch.agent_id == effect.agent_id, "one agent per Accept"
                assert launch.task_id in stored, "the task is persisted before it is launched"
                assert launch.task_id not in self.launched, "task ids are never reused"
                self.launched[launch.task_id] = launch.app_id

    @invariant()
    def never_two_live_tasks_for_one_slot(self) -> None:
        for app in APPS:
            slots = [r.slot for r in self.state.tasks_of(app) if r.slot != SLOT_DETACHED and not r.terminal]
            assert len(slots) == len(set(slots)), f"two live tasks share a slot of {app}: {slots}"

    @invariant()
    def stored_and_live_views_agree(self) -> None:
        # What the store would restore holds exactly the live tasks the core tracks (restart safety).
        stored = {tid for tid, r in self.store.tasks.items() if not r.terminal}
        live = {r.task_id for app in APPS for r in self.state.tasks_of(app)}
        assert live <= stored


TestSchedulerProperties = SchedulerMachine.TestCase
TestSchedulerProperties.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
