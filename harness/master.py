"""The fake Mesos master: frameworks, their subscriptions, offers, tasks as the master sees them.

One `Master` is one master process. A master failover (Harness.failover) shuts this object down
and starts a new one over the same agents: frameworks, offers and filters are forgotten, agents
re-register after a delay and bring their tasks back, frameworks come back by subscribing with
their old id. Behaviour follows src/master/master.cpp of Apache Mesos 1.x; where the harness
simplifies, docs/harness.md says so.

Theory of operation:
- The HTTP layer (harness/server.py) does the transport checks, then calls `subscribe` or
  `check_caller` + `dispatch`. Everything here is synchronous and runs on the injected Clock.
- Events go to a framework through its `EventSink` (the open subscription response). A framework
  without one is disconnected: events for it are dropped, as the real master drops them.
- Agents are separate actors: messages in both directions are delivered asynchronously, in
  order, through the master's mailbox (`deliver`), so no call re-enters the master while it is
  mid-operation.
- Offers come from the Allocator every allocation interval, or soon after something that may
  create them (a subscription, REVIVE, resources coming back).

ACCEPT and DECLINE live in harness/accept.py; call validation in harness/validation.py; the
records the master keeps (frameworks, agents, offers, tasks) in harness/books.py.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from harness import codec
from harness.agent import Agent, Forward, TaskSnapshot
from harness.allocator import Allocator
from harness.books import (
    AgentState,
    EventSink,
    Framework,
    MasterTask,
    Offer,
)
from harness.books import (
    MasterConfig as MasterConfig,  # re-exported: Harness, tests and benchmarks configure it here
)
from harness.clock import Clock, FixedDelay, Timer
from harness.codec import OfferView, OutEvent
from harness.ledger import Ledger
from harness.model import (
    TERMINAL,
    ExecutorKind,
    Source,
    Status,
    TaskSpec,
    TaskState,
)
from harness.resources import Resources
from harness.validation import (
    capabilities,
    framework_roles,
    validate_allocator_options,
    validate_framework,
    validate_role,
    validate_update,
)
from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

VERSION = "1.11.0"
# Read on every status update, as a global: an Enum member looked up on its class goes through the
# enum metaclass (four times slower).
_UNREACHABLE = TaskState.TASK_UNREACHABLE


class _AgentLink:
    """Agent -> master messages, delivered asynchronously and dropped once this master is gone."""

    def __init__(self, master: Master) -> None:
        self._master = master

    def status_update(self, agent_id: str, framework_id: str, status: Status, latest: TaskState) -> None:
        self._master.deliver(partial(self._master.status_update, agent_id, framework_id, status, latest))

    def status_updates(self, agent_id: str, updates: Sequence[Forward]) -> None:
        self._master.deliver(partial(self._master.status_updates, agent_id, updates))

    def executor_exited(self, agent_id: str, framework_id: str, executor_id: str, status: int) -> None:
        self._master.deliver(
            partial(self._master.executor_exited, agent_id, framework_id, executor_id, status)
        )

    def executor_message(self, agent_id: str, framework_id: str, executor_id: str, data: bytes) -> None:
        self._master.deliver(
            partial(self._master.executor_message, agent_id, framework_id, executor_id, data)
        )


class _Acks:
    """A mail message carrying consecutive ACKNOWLEDGEs, delivered in order; each agent's run of
    acks goes to it as one batch, so the updates they release travel back as one message."""

    __slots__ = ("runs",)

    def __init__(self) -> None:
        self.runs: list[tuple[Agent, list[tuple[str, str, bytes]]]] = []

    def add(self, agent: Agent, framework_id: str, task_id: str, uuid: bytes) -> None:
        runs = self.runs
        if runs and runs[-1][0] is agent:
            runs[-1][1].append((framework_id, task_id, uuid))
        else:
            runs.append((agent, [(framework_id, task_id, uuid)]))

    def __call__(self) -> None:
        for agent, acks in self.runs:
            agent.acknowledge_all(acks)


class Master:
    def __init__(
        self,
        clock: Clock,
        ledger: Ledger,
        config: MasterConfig,
        host: str = "127.0.0.1",
        port: int = 5050,
        hostname: str | None = None,
    ) -> None:
        self.clock = clock
        self.ledger = ledger
        self.config = config
        self.master_id = str(uuidlib.uuid4())
        self.allocator = Allocator(clock, config.allocation_interval)
        self.frameworks: dict[str, Framework] = {}
        self.removed_frameworks: set[str] = set()
        self.offers: dict[str, Offer] = {}
        self.agents: dict[str, AgentState] = {}
        self.recovering_agents: set[str] = set()  # known from the registry, not re-registered yet
        self.unreachable_agents: dict[str, float] = {}
        self.gone_agents: set[str] = set()
        self.heartbeats_paused = False
        self._sinks: dict[int, str] = {}  # id(sink) -> framework id
        self._seq = {"framework": 0, "offer": 0, "agent": 0}
        self._stopped = False
        self._link = _AgentLink(self)
        self._allocation_pending: Timer | None = None
        self._mail: deque[Callable[[], None]] = deque()  # messages to and from agents, in order
        self._mail_scheduled = False
        self._host, self._port = host, port
        self.info = self._master_info(host, port, hostname)
        # Every offer's timeout and hoarding deadline: one fixed delay each, so one timer each.
        self._offer_timeouts = (
            FixedDelay(clock, config.offer_timeout, self._expired)
            if config.offer_timeout is not None
            else None
        )
        hoard_intervals = config.offer_hoard_intervals
        self._hoard_limit = (hoard_intervals or 0) * config.allocation_interval
        self._offer_hoarding = (
            FixedDelay(clock, self._hoard_limit, self._hoarded) if hoard_intervals is not None else None
        )
        self._allocation_timer = clock.call_later(config.allocation_interval, self._periodic_allocation)

    # -- plumbing ---------------------------------------------------------------------------------

    def deliver(self, message: Callable[[], None]) -> None:
        """Deliver a message to this master later, unless it has been shut down by then.

        Messages (to and from agents) go through one FIFO mailbox that a single clock callback
        empties, rather than a callback each: two status updates and two acks per task made the
        event loop's own bookkeeping a large part of a launch. Messages sent while the mailbox is
        being emptied wait for the next turn, as they would behind their own callbacks.
        """
        self._mail.append(message)
        if not self._mail_scheduled:
            self._mail_scheduled = True
            self.clock.call_later(0, self._deliver_mail)

    def to_agent(self, agent_id: str, message: Callable[[], None]) -> None:
        if agent_id in self.agents:
            self.deliver(message)

    def _deliver_mail(self) -> None:
        mail = self._mail
        self._mail_scheduled = False
        for _ in range(len(mail)):
            if self._stopped:
                mail.clear()
                return
            message = mail.popleft()
            try:
                message()
            except Exception:
                # The clock records the error (a harness bug); the rest of the mail still arrives.
                self._schedule_mail()
                raise
        self._schedule_mail()

    def _schedule_mail(self) -> None:
        if self._mail and not self._mail_scheduled:
            self._mail_scheduled = True
            self.clock.call_later(0, self._deliver_mail)

    def send(self, fw: Framework, event: OutEvent) -> None:
        if fw.sink is not None:
            fw.sink.send(event)

    def next_id(self, kind: str) -> int:
        n = self._seq[kind]
        self._seq[kind] = n + 1
        return n

    def _master_info(self, host: str, port: int, hostname: str | None) -> mesos_pb2.MasterInfo:
        try:
            ip = str(ipaddress.IPv4Address(host))
        except ValueError:
            ip = "127.0.0.1"
        if ip == "0.0.0.0":
            ip = "127.0.0.1"
        name = hostname or (host if host not in ("0.0.0.0", "") else "localhost")
        info = mesos_pb2.MasterInfo(
            id=self.master_id,
            ip=int.from_bytes(socket.inet_aton(ip), "little"),  # network byte order, read as a native uint32
            port=port,
            pid=f"master@{ip}:{port}",
            hostname=name,
            version=VERSION,
        )
        info.address.hostname = name
        info.address.ip = ip
        info.address.port = port
        return info

    def shutdown(self) -> None:
        """This master process dies (failover): connections drop, timers stop, agents lose it."""
        self._stopped = True
        self._allocation_timer.cancel()
        if self._allocation_pending is not None:
            self._allocation_pending.cancel()
        for fw in self.frameworks.values():
            for timer in (fw.failover_timer, fw.heartbeat_timer):
                if timer is not None:
                    timer.cancel()
            if fw.sink is not None:
                sink, fw.sink = fw.sink, None
                sink.abort()
        for deadlines in (self._offer_timeouts, self._offer_hoarding):
            if deadlines is not None:
                deadlines.cancel()
        for state in self.agents.values():
            if state.agent.master is self._link:
                state.agent.disconnect()

    # -- agents -------------------------------------------------------------------------------------

    def new_agent_id(self) -> str:
        return f"{self.master_id}-S{self.next_id('agent')}"

    def register_agent(self, agent: Agent) -> None:
        """A new agent, or one re-registering after master failover with its tasks and executors."""
        if self._stopped or agent.removed:
            return
        self.recovering_agents.discard(agent.agent_id)
        state = AgentState(agent)
        self.agents[agent.agent_id] = state
        for (fid, _eid), executor in agent.executors.items():
            if executor.kind is not ExecutorKind.COMMAND:
                state.executors[(fid, executor.executor_id)] = executor
        for snap in agent.snapshot():
            self._recover_task(state, snap)
        used = [(fid, role, res) for (fid, role), res in agent.used_by().items()]
        self.allocator.add_agent(agent.agent_id, agent.total, used)
        agent.register(self._link)
        self.trigger_allocation()

    def _recover_task(self, state: AgentState, snap: TaskSnapshot) -> None:
        fid = snap.spec.framework_id
        fw = self.frameworks.get(fid)
        if fw is None:
            spec = state.agent.frameworks.get(fid)
            if spec is None:
                return
            info = mesos_pb2.FrameworkInfo.FromString(spec.info)
            fw = Framework(fid, info, framework_roles(info), capabilities(info), recovered=True)
            self.frameworks[fid] = fw
        task = MasterTask(snap.spec, state.agent.agent_id, snap.state, healthy=snap.healthy)
        if snap.in_flight is not None:
            task.status_update_state = snap.in_flight.state
            task.status_update_uuid = snap.in_flight.uuid
        fw.tasks[snap.spec.task_id] = task
        state.tasks[(fid, snap.spec.task_id)] = task

    def remove_agent(self, agent_id: str, *, gone: bool = False) -> None:
        """The agent is lost: unreachable (health checks timed out) or marked gone by an operator."""
        state = self.agents.pop(agent_id, None)
        if state is None:
            return
        now = self.clock.time()
        if gone:
            self.gone_agents.add(agent_id)
        else:
            self.unreachable_agents[agent_id] = now
        for offer_id in list(state.offers):
            self.rescind(offer_id)
        self.allocator.remove_agent(agent_id)
        for (fid, tid), task in list(state.tasks.items()):
            fw = self.frameworks.get(fid)
            if fw is None:
                continue
            if not fw.partition_aware:
                new_state, reason = TaskState.TASK_LOST, "REASON_AGENT_REMOVED"
            elif gone:
                new_state, reason = TaskState.TASK_GONE_BY_OPERATOR, "REASON_AGENT_REMOVED_BY_OPERATOR"
            else:
                new_state, reason = TaskState.TASK_UNREACHABLE, "REASON_AGENT_REMOVED"
            message = "Agent has been marked gone" if gone else "Agent is unreachable: health check timed out"
            status = Status(
                tid,
                new_state,
                Source.SOURCE_MASTER,
                reason=reason,
                message=message,
                agent_id=agent_id,
                executor_id=task.spec.executor_id,
                timestamp=now,
                unreachable_time=None if gone else now,
            )
            fw.tasks.pop(tid, None)
            if fw.partition_aware and not gone:
                fw.unreachable_tasks.add(tid)
            self.send(fw, codec.update_event(status))
        for other in self.frameworks.values():
            if other.connected:
                self.send(other, codec.failure_event(agent_id))
        state.agent.remove()

    # -- frameworks ---------------------------------------------------------------------------------

    def subscribe(self, call: scheduler_pb2.Call, sink: EventSink) -> None:
        """SUBSCRIBE (the HTTP layer already answered 200 and opened `sink`)."""
        info = mesos_pb2.FrameworkInfo()
        info.CopyFrom(call.subscribe.framework_info)
        error = validate_framework(info, self.removed_frameworks.__contains__)
        roles = framework_roles(info)
        constraints = (
            call.subscribe.offer_constraints if call.subscribe.HasField("offer_constraints") else None
        )
        suppressed = list(call.subscribe.suppressed_roles)
        if error is None:
            error = validate_allocator_options(roles, suppressed, constraints)
        if error is not None:
            self._refuse(sink, error)
            return
        if not info.HasField("id") or not info.id.value:
            fid = f"{self.master_id}-{self.next_id('framework'):04d}"
            info.id.value = fid
            new = Framework(fid, info, roles, capabilities(info))
            self.frameworks[fid] = new
            self.allocator.add_framework(fid, roles, suppressed, active=True)
            self._connect(new, sink)
            return
        fid = info.id.value
        known = self.frameworks.get(fid)
        if known is None:
            # Unknown id after a master failover: recreate it (Master::recoverFramework).
            known = Framework(fid, info, roles, capabilities(info), recovered=True)
            self.frameworks[fid] = known
        fw = known
        # user and checkpoint cannot change; the old values silently win (preserveImmutableFields).
        info.user = fw.info.user
        info.checkpoint = fw.info.checkpoint
        error = validate_update(fw.info, info)
        if error is not None:
            self._refuse(sink, error)
            return
        self._update_framework(fw, info, suppressed)
        if fw.connected:
            assert fw.sink is not None
            old, fw.sink = fw.sink, None
            self._sinks.pop(id(old), None)
            old.send(codec.error_event("Framework failed over"))
            old.close()
        for offer_id in list(fw.offers):
            self.remove_offer(offer_id)  # discarded, not rescinded: the new stream never saw them
        fw.recovered = False
        self._connect(fw, sink)

    def _refuse(self, sink: EventSink, message: str) -> None:
        sink.send(codec.error_event(message))
        sink.close()

    def _update_framework(
        self, fw: Framework, info: mesos_pb2.FrameworkInfo, suppressed: Iterable[str]
    ) -> None:
        roles = framework_roles(info)
        if self.allocator.has_framework(fw.framework_id):
            self.allocator.update_framework(fw.framework_id, roles, suppressed)
        else:
            self.allocator.add_framework(fw.framework_id, roles, suppressed, active=False)
        for offer_id in list(fw.offers):
            if self.offers[offer_id].role not in roles:
                self.rescind(offer_id)
        fw.info, fw.roles, fw.capabilities = info, roles, capabilities(info)

    def _connect(self, fw: Framework, sink: EventSink) -> None:
        if fw.failover_timer is not None:
            fw.failover_timer.cancel()
            fw.failover_timer = None
        fw.sink = sink
        self._sinks[id(sink)] = fw.framework_id
        self.allocator.set_active(fw.framework_id, True)
        sink.send(codec.subscribed_event(fw.framework_id, self.config.heartbeat_interval, self.info))
        if fw.heartbeat_timer is not None:
            fw.heartbeat_timer.cancel()
        self._heartbeat(fw)
        self.trigger_allocation()

    def _heartbeat(self, fw: Framework) -> None:
        if fw.sink is None or self._stopped:
            fw.heartbeat_timer = None
            return
        if not self.heartbeats_paused:
            fw.sink.send(codec.HEARTBEAT)
        fw.heartbeat_timer = self.clock.call_later(
            self.config.heartbeat_interval, partial(self._heartbeat, fw)
        )

    def stream_closed(self, sink: EventSink) -> None:
        """The subscription connection ended (client closed it, or it was dropped)."""
        fid = self._sinks.pop(id(sink), None)
        if fid is None or self._stopped:
            return
        fw = self.frameworks.get(fid)
        if fw is None or fw.sink is not sink:
            return
        fw.sink = None
        if fw.heartbeat_timer is not None:
            fw.heartbeat_timer.cancel()
            fw.heartbeat_timer = None
        self.allocator.set_active(fid, False)
        for offer_id in list(fw.offers):
            self.rescind(offer_id)
        timeout = fw.info.failover_timeout
        if self.config.failover_timeout_cap is not None:
            timeout = min(timeout, self.config.failover_timeout_cap)
        fw.failover_timer = self.clock.call_later(timeout, partial(self._failover_expired, fw))

    def _failover_expired(self, fw: Framework) -> None:
        fw.failover_timer = None
        if not fw.connected and self.frameworks.get(fw.framework_id) is fw:
            self.remove_framework(fw)

    def remove_framework(self, fw: Framework) -> None:
        """TEARDOWN, or the failover timeout ran out: kill its tasks, forget it for good."""
        fid = fw.framework_id
        if fw.sink is not None:
            sink, fw.sink = fw.sink, None
            self._sinks.pop(id(sink), None)
            sink.close()
        for timer in (fw.failover_timer, fw.heartbeat_timer):
            if timer is not None:
                timer.cancel()
        for offer_id in list(fw.offers):
            self.remove_offer(offer_id)
        for task in fw.tasks.values():
            state = self.agents.get(task.agent_id)
            if state is None:
                continue
            state.tasks.pop((fid, task.spec.task_id), None)
            if task.state not in TERMINAL:
                self.allocator.recover(fid, task.spec.role, task.agent_id, task.spec.resources)
        for state in self.agents.values():
            for key in [k for k in state.executors if k[0] == fid]:
                executor = state.executors.pop(key)
                self.allocator.recover(fid, executor.role, state.agent.agent_id, executor.resources)
            if fid in state.agent.frameworks:
                self.to_agent(state.agent.agent_id, partial(state.agent.shutdown_framework, fid))
        self.allocator.remove_framework(fid)
        del self.frameworks[fid]
        self.removed_frameworks.add(fid)
        self.trigger_allocation()

    def update_framework(self, fw: Framework, update: scheduler_pb2.Call.UpdateFramework) -> tuple[int, str]:
        """UPDATE_FRAMEWORK, answered synchronously."""
        info = mesos_pb2.FrameworkInfo()
        info.CopyFrom(update.framework_info)
        error = validate_framework(info, self.removed_frameworks.__contains__)
        if error is not None:
            return 400, f"Supplied FrameworkInfo is not valid: {error}"
        error = validate_update(fw.info, info)
        if error is not None:
            return 400, f"FrameworkInfo update is not valid: {error}"
        roles = framework_roles(info)
        constraints = update.offer_constraints if update.HasField("offer_constraints") else None
        error = validate_allocator_options(roles, update.suppressed_roles, constraints)
        if error is not None:
            return 400, f"'UpdateFramework' call is not valid: {error}"
        self._update_framework(fw, info, update.suppressed_roles)
        self.trigger_allocation()
        return 200, ""

    # -- offers -------------------------------------------------------------------------------------

    def trigger_allocation(self) -> None:
        """Allocate soon (coalesced), not at the end of the interval: after REVIVE, new capacity..."""
        if self._allocation_pending is None and not self._stopped:
            self._allocation_pending = self.clock.call_later(0, self._triggered_allocation)

    def _triggered_allocation(self) -> None:
        self._allocation_pending = None
        self.allocate()

    def _periodic_allocation(self) -> None:
        if self._stopped:
            return
        self.allocate()
        self._allocation_timer = self.clock.call_later(
            self.config.allocation_interval, self._periodic_allocation
        )

    def allocate(self) -> int:
        """One allocation cycle: turn allocations into offers and send them. Returns offers made."""
        allocations = self.allocator.allocate()
        per_framework: dict[str, list[OfferView]] = {}
        for allocation in allocations:
            fw = self.frameworks[allocation.framework_id]
            state = self.agents[allocation.agent_id]
            offer = self._new_offer(fw, state, allocation.role, allocation.resources)
            agent = state.agent
            executor_ids = (
                sorted(eid for (fid, eid) in state.executors if fid == fw.framework_id)
                if state.executors
                else []
            )
            per_framework.setdefault(fw.framework_id, []).append(
                OfferView(
                    offer.offer_id,
                    fw.framework_id,
                    agent.agent_id,
                    agent.hostname,
                    agent.port,
                    allocation.role,
                    allocation.resources,
                    agent.attributes,
                    executor_ids,
                )
            )
        size = self.config.offers_per_event
        for fid, views in per_framework.items():
            fw = self.frameworks[fid]
            refinement = "RESERVATION_REFINEMENT" in fw.capabilities
            for start in range(0, len(views), size):
                self.send(fw, codec.offers_event(views[start : start + size], refinement))
        return len(allocations)

    def _new_offer(self, fw: Framework, state: AgentState, role: str, resources: Resources) -> Offer:
        offer_id = f"{self.master_id}-O{self.next_id('offer')}"
        offer = Offer(offer_id, fw.framework_id, state.agent.agent_id, role, resources)
        self.offers[offer_id] = offer
        fw.offers.add(offer_id)
        state.offers.add(offer_id)
        if self._offer_timeouts is not None:
            self._offer_timeouts.add(offer_id)
        if self._offer_hoarding is not None:
            self._offer_hoarding.add(offer_id)
        return offer

    def _expired(self, offer_id: str) -> None:
        self.rescind(offer_id)  # no-op for an offer answered meanwhile (ids are never reused)

    def _hoarded(self, offer_id: str) -> None:
        offer = self.offers.get(offer_id)
        if offer is not None:
            limit = self._hoard_limit
            self.ledger.violation(
                f"framework {offer.framework_id} left offer {offer_id} unanswered for more than {limit:g} s"
            )

    def remove_offer(self, offer_id: str) -> Offer | None:
        """Forget an offer and give its resources back without a filter."""
        offer = self.take_offer(offer_id)
        if offer is not None:
            self.allocator.recover(offer.framework_id, offer.role, offer.agent_id, offer.resources)
            self.trigger_allocation()
        return offer

    def take_offer(self, offer_id: str) -> Offer | None:
        """Remove an offer from the books; its resources stay allocated (the caller decides)."""
        offer = self.offers.pop(offer_id, None)
        if offer is None:
            return None
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            fw.offers.discard(offer_id)
        state = self.agents.get(offer.agent_id)
        if state is not None:
            state.offers.discard(offer_id)
        return offer

    def rescind(self, offer_id: str) -> bool:
        offer = self.remove_offer(offer_id)
        if offer is None:
            return False
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            self.send(fw, codec.rescind_event(offer_id))
        return True

    # -- tasks --------------------------------------------------------------------------------------

    def add_task(self, fw: Framework, state: AgentState, spec: TaskSpec) -> MasterTask:
        task = MasterTask(spec, state.agent.agent_id)
        fw.tasks[spec.task_id] = task
        state.tasks[(fw.framework_id, spec.task_id)] = task
        return task

    def status_update(self, agent_id: str, framework_id: str, status: Status, latest: TaskState) -> None:
        """An update from an agent: forward it if the framework is connected, record the task's state."""
        self.status_updates(agent_id, ((framework_id, status, latest),))

    def status_updates(self, agent_id: str, updates: Sequence[Forward]) -> None:
        """Updates from one agent, in order, each as `status_update` describes (the agent and the
        books looked up once for the batch: two updates per launched task come this way)."""
        state = self.agents.get(agent_id)
        if state is None:
            return  # from a removed or not yet re-registered agent: ignored, the agent will retry
        tasks, frameworks, ledger = state.tasks, self.frameworks, self.ledger
        for framework_id, status, latest in updates:
            task_id, status_state, _, _, _, _, _, _, uuid, healthy, _ = status  # one unpacking
            fw = frameworks.get(framework_id)
            task = tasks.get((framework_id, task_id))
            # (Framework.connected and Master.send spelled out: two calls fewer on every update.)
            sink = fw.sink if fw is not None else None
            if sink is not None:
                if uuid is not None:
                    if task is not None:
                        task.status_update_state = status_state
                        task.status_update_uuid = uuid
                    ledger.update_sent(framework_id, uuid)
                sink.send(codec.update_event(status))
            if task is None:
                continue
            if healthy is not None:
                task.healthy = healthy
            if task.state not in TERMINAL:
                was_live = task.state is not _UNREACHABLE
                task.state = latest
                if latest in TERMINAL and was_live:
                    # Resources come back when the master first learns of the end, not on the ack.
                    self.allocator.recover(framework_id, task.spec.role, agent_id, task.spec.resources)
                    self.trigger_allocation()

    def executor_exited(self, agent_id: str, framework_id: str, executor_id: str, status: int) -> None:
        state = self.agents.get(agent_id)
        if state is None:
            return
        executor = state.executors.pop((framework_id, executor_id), None)
        if executor is None:
            return
        self.allocator.recover(framework_id, executor.role, agent_id, executor.resources)
        self.trigger_allocation()
        fw = self.frameworks.get(framework_id)
        if fw is not None and fw.connected:
            self.send(fw, codec.failure_event(agent_id, executor_id, status))

    def executor_message(self, agent_id: str, framework_id: str, executor_id: str, data: bytes) -> None:
        fw = self.frameworks.get(framework_id)
        if fw is not None and fw.connected and agent_id in self.agents:
            self.send(fw, codec.message_event(agent_id, executor_id, data))

    def reconcile_one(self, fw: Framework, task_id: str, agent_id: str | None) -> Status | None:
        """Explicit reconciliation of one task (Master::reconcile); None means: no answer yet."""
        task = fw.tasks.get(task_id)
        now = self.clock.time()
        if task is not None:
            return self.latest_status(task, now)
        if (agent_id is not None and agent_id in self.recovering_agents) or (
            agent_id is None and self.recovering_agents
        ):
            return None  # the task may be on an agent that has not re-registered yet
        aware = fw.partition_aware
        if agent_id is not None and agent_id in self.agents:
            state, message = TaskState.TASK_GONE, "Reconciliation: Task is unknown to the agent"
        elif agent_id is not None and agent_id in self.unreachable_agents:
            state, message = TaskState.TASK_UNREACHABLE, "Reconciliation: Task is unreachable"
        elif agent_id is not None and agent_id in self.gone_agents:
            state, message = TaskState.TASK_GONE_BY_OPERATOR, "Reconciliation: Task is gone"
        else:
            state, message = TaskState.TASK_UNKNOWN, "Reconciliation: Task is unknown"
        unreachable_time = self.unreachable_agents.get(agent_id) if agent_id is not None else None
        return Status(
            task_id,
            state if aware else TaskState.TASK_LOST,
            Source.SOURCE_MASTER,
            reason="REASON_RECONCILIATION",
            message=message,
            agent_id=agent_id,
            timestamp=now,
            unreachable_time=unreachable_time if state is TaskState.TASK_UNREACHABLE else None,
        )

    @staticmethod
    def latest_status(task: MasterTask, now: float) -> Status:
        """A reconciliation answer for a known task: the state last forwarded, no uuid, no data/labels."""
        state = task.status_update_state if task.status_update_state is not None else task.state
        return Status(
            task.spec.task_id,
            state,
            Source.SOURCE_MASTER,
            reason="REASON_RECONCILIATION",
            message="Reconciliation: Latest task state",
            agent_id=task.agent_id,
            # The master records an executor id only for tasks that named an executor.
            executor_id=None if task.spec.kind is ExecutorKind.COMMAND else task.spec.executor_id,
            timestamp=now,
            healthy=task.healthy,
        )

    def acknowledge(self, fw: Framework, agent_id: str, task_id: str, uuid: bytes) -> None:
        self.ledger.acknowledged(fw.framework_id, task_id, uuid)
        state = self.agents.get(agent_id)
        if state is None:
            return  # unknown or not (re-)registered agent: dropped
        task = state.tasks.get((fw.framework_id, task_id))
        if task is not None and task.status_update_state in TERMINAL and task.status_update_uuid == uuid:
            del state.tasks[(fw.framework_id, task_id)]
            fw.tasks.pop(task_id, None)
        # Acks coalesce: one that follows another in the mailbox joins its message instead of
        # taking its own (two per launched task). Only the mailbox's last message is extended, so
        # every ack keeps its place relative to all other mail.
        mail = self._mail
        last = mail[-1] if mail else None
        if isinstance(last, _Acks):
            last.add(state.agent, fw.framework_id, task_id, uuid)
        else:
            acks = _Acks()
            acks.add(state.agent, fw.framework_id, task_id, uuid)
            self.deliver(acks)

    def check_roles(self, fw: Framework, roles: Iterable[str]) -> set[str] | None:
        """REVIVE/SUPPRESS roles: None (drop the whole call) if one is invalid or not subscribed."""
        out = set()
        for role in roles:
            if validate_role(role) is not None or role not in fw.roles:
                return None
            out.add(role)
        return out or set(fw.roles)
