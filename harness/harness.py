"""`Harness`: a fake Mesos master with simulated agents, for tests and as Gantry's embedded cluster.

    async with Harness(agents=3, heartbeat_interval=0.2, allocation_interval=0.05) as h:
        ...talk to h.url + "/api/v1/scheduler" with any Mesos scheduler client...
        await h.until(lambda: any(t.state == "TASK_RUNNING" for t in h.tasks))
        assert h.violations == []

It runs inside the caller's asyncio loop (start()/stop(), or `async with`), serves HTTP on
`host:port` (port 0 picks a free one; `url` tells which), and offers fault injection: dropped
streams, missing heartbeats, standby (307) and leaderless (503) modes, rescinds, agents leaving
and joining, and a master failover after which agents re-register with their tasks.

What the client did is in `calls`, what it did wrong in `violations`; `errors` holds exceptions
raised inside the harness itself (a harness bug), which tests should also expect to be empty.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from harness import codec
from harness.agent import Agent, Runtime
from harness.clock import Clock, LoopClock
from harness.cluster import ClusterSpecError, check_template, expand, parse_attributes
from harness.heap import HeapFreezer
from harness.http import HttpServer
from harness.ledger import Ledger, ReceivedCall
from harness.master import Master, MasterConfig
from harness.model import Attribute
from harness.resources import ResourceSpecError, parse_resources
from harness.server import Mode, ServerState, build_routes, close_streams
from harness.simulation import SimulatedRuntime, SimulationTimings
from harness.zookeeper import Contender, Leader, parse_zk_url
from proto import jsoncodec

DEFAULT_RESOURCES = "cpus:4;mem:8192;disk:20000;ports:[31000-32000]"

# Cyclic-collector thresholds for a process that is only a harness. A launch keeps ~20 objects per
# task alive, so with Python's defaults (700, 10, 10) young collections run every few dozen tasks and
# full ones walk the whole growing cluster: at 100,000 tasks on 10,000 agents the collector took
# about half of the master's CPU. Collecting young objects every 100,000 allocations and the oldest
# generation rarely loses only a little memory to garbage cycles held longer (docs/harness.md).
GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> HeapFreezer | None:
    """For a process dedicated to the harness (python -m harness, benchmark children), once the
    cluster is built: freeze what exists out of the collector's sight, raise its thresholds and,
    called on a running event loop, keep freezing what the harness builds every 0.1 s, with a
    full collection every 10 minutes (harness/heap.py; returned, already started). The library
    never calls this itself: a host process (gantry run) owns its collector."""
    global _freezer
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None  # no loop to run the freezes on: the thresholds alone
    if _freezer is not None and _freezer.loop is loop and _freezer.running:
        return _freezer  # called twice on one loop: one freezer is enough
    _freezer = HeapFreezer(loop)
    _freezer.start()
    return _freezer


_freezer: HeapFreezer | None = None  # the one tune_gc started last


RuntimeFactory = Callable[[Agent, Clock], Runtime]


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task as its agent knows it (live, or finished and remembered)."""

    task_id: str
    framework_id: str
    agent_id: str
    executor_id: str
    name: str
    role: str
    state: str
    labels: Mapping[str, str]
    resources: Mapping[str, Any]
    healthy: bool | None
    kill_grace: float | None  # grace period of the last KILL after overrides (None: never killed)
    states: tuple[str, ...]  # every state the executor reported, in order
    unacknowledged: int  # updates the scheduler has not acknowledged yet


@dataclass(frozen=True, slots=True)
class OfferRecord:
    offer_id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AgentRecord:
    agent_id: str
    hostname: str
    resources: Mapping[str, Any]
    attributes: tuple[Attribute, ...]
    registered: bool  # registered with the current master (False while re-registering)


@dataclass(frozen=True, slots=True)
class FrameworkRecord:
    framework_id: str
    name: str
    roles: frozenset[str]
    capabilities: frozenset[str]
    connected: bool
    suppressed: frozenset[str]


class Harness:
    def __init__(
        self,
        agents: int = 3,
        agent_resources: str = DEFAULT_RESOURCES,
        agent_attributes: str = "",
        hostname_template: str = "agent{i}.harness",
        heartbeat_interval: float = 15.0,
        allocation_interval: float = 1.0,
        status_update_retry: tuple[float, float] = (10.0, 600.0),
        failover_timeout_cap: float | None = None,
        offer_timeout: float | None = None,
        offer_hoard_intervals: int | None = None,
        offers_per_event: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
        master_hostname: str | None = None,
        chunk_size: int | None = None,
        timings: SimulationTimings | None = None,
        runtime: RuntimeFactory | None = None,
        record_calls: bool = True,
        zookeeper: str | None = None,
    ) -> None:
        """Raises ValueError (ClusterSpecError / ResourceSpecError) for a bad description."""
        if agents < 0:
            raise ClusterSpecError("agents must be >= 0")
        if heartbeat_interval <= 0 or allocation_interval <= 0:
            raise ClusterSpecError("heartbeat and allocation intervals must be > 0")
        retry_min, retry_max = status_update_retry
        if retry_min <= 0 or retry_max < retry_min:
            raise ClusterSpecError("status_update_retry must be (min > 0, max >= min)")
        check_template(agent_attributes)
        check_template(hostname_template)
        parse_attributes(expand(agent_attributes, 0))
        self._resources = parse_resources(agent_resources)
        self._attributes = agent_attributes
        self._hostname = hostname_template
        self._retry = (retry_min, retry_max)
        self._initial_agents = agents
        self.config = MasterConfig(
            heartbeat_interval=heartbeat_interval,
            allocation_interval=allocation_interval,
            failover_timeout_cap=failover_timeout_cap,
            offer_timeout=offer_timeout,
            offer_hoard_intervals=offer_hoard_intervals,
            offers_per_event=offers_per_event,
        )
        self.host, self.port = host, port
        self._master_hostname = master_hostname
        self._chunk_size = chunk_size
        self.timings = timings or SimulationTimings()
        self._runtime_factory = runtime
        self.ledger = Ledger(record_calls)
        self.errors: list[BaseException] = []
        self._agents: dict[str, Agent] = {}
        self._removed_agents: dict[str, Agent] = {}
        self._next_index = 0
        self._server: HttpServer | None = None
        self._state: ServerState | None = None
        self._clock: Clock | None = None
        self._heartbeats_paused = False
        # zk://hosts/path: register like a Mesos master and lead or redirect by election.
        self._zookeeper = zookeeper
        if zookeeper is not None:
            parse_zk_url(zookeeper)
        self._contender: Contender | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> Harness:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._clock = LoopClock(self.errors.append)
        # Until the master exists (it needs the bound port) the server answers 503, like a master
        # that has not finished recovery.
        self._state = ServerState(None, self.ledger, self._chunk_size, errors=self.errors)
        self._server = HttpServer(build_routes(self._state), self.errors.append)
        self.port = await self._server.start(self.host, self.port)
        self._state.master = self._new_master()
        for _ in range(self._initial_agents):
            self._spawn_agent(None, None, None)
        if self._zookeeper is not None:
            # Not the leader until the election says so: answer 503 meanwhile, as Mesos does.
            self._state.mode = Mode.NO_LEADER
            self._contender = Contender(self._zookeeper, self._leader_changed)
            await self._contender.start(jsoncodec.dumps(self.master.info))

    async def stop(self) -> None:
        if self._contender is not None:
            await self._contender.stop()
            self._contender = None
        for task in list(self._background):
            task.cancel()
        if self._state is not None and self._state.master is not None:
            self._state.master.shutdown()
            for agent in self._agents.values():
                agent.remove()
        if self._server is not None:
            await self._server.close()
            self._server = None

    def _new_master(self) -> Master:
        assert self._clock is not None
        master = Master(self._clock, self.ledger, self.config, self.host, self.port, self._master_hostname)
        master.heartbeats_paused = self._heartbeats_paused
        return master

    @property
    def master(self) -> Master:
        assert self._state is not None and self._state.master is not None, "the harness is not started"
        return self._state.master

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> str:
        """ "leader", "standby" (307 to the leader) or "no-leader" (503)."""
        assert self._state is not None, "the harness is not started"
        return self._state.mode.value

    # -- agents -------------------------------------------------------------------------------------

    def _spawn_agent(self, resources: str | None, attributes: str | None, hostname: str | None) -> Agent:
        assert self._clock is not None
        index = self._next_index
        self._next_index += 1
        total = parse_resources(resources) if resources is not None else self._resources
        attrs = parse_attributes(attributes if attributes is not None else expand(self._attributes, index))
        name = hostname if hostname is not None else expand(self._hostname, index)
        agent = Agent(self._clock, self.master.new_agent_id(), name, total, attrs, retry=self._retry)
        factory = self._runtime_factory
        agent.runtime = (
            factory(agent, self._clock) if factory else SimulatedRuntime(self._clock, agent, self.timings)
        )
        self._agents[agent.agent_id] = agent
        self.master.register_agent(agent)
        return agent

    def add_agent(
        self, resources: str | None = None, attributes: str | None = None, hostname: str | None = None
    ) -> str:
        """A new agent joins (templates apply to what is not given); returns its id."""
        return self._spawn_agent(resources, attributes, hostname).agent_id

    def remove_agent(self, agent_id: str, *, gone: bool = False) -> None:
        """The agent is lost (unreachable; or `gone`: marked gone by an operator). Its tasks die."""
        agent = self._agents.pop(agent_id)
        self._removed_agents[agent_id] = agent
        self.master.remove_agent(agent_id, gone=gone)
        agent.remove()

    # -- faults -------------------------------------------------------------------------------------

    def drop_stream(self, framework_id: str | None = None) -> int:
        """Cut subscription connections (all, or one framework's) as a network failure would."""
        assert self._state is not None
        if framework_id is None:
            return close_streams(self._state, lambda _: True)
        fw = self.master.frameworks.get(framework_id)
        return close_streams(self._state, lambda s: fw is not None and fw.sink is s)

    def stop_heartbeats(self) -> None:
        self._heartbeats_paused = True
        self.master.heartbeats_paused = True

    def resume_heartbeats(self) -> None:
        self._heartbeats_paused = False
        self.master.heartbeats_paused = False

    def become_standby(self, leader_url: str) -> None:
        """Answer /api/v1/scheduler with 307 to `leader_url` (e.g. "http://127.0.0.1:5051")."""
        assert self._state is not None
        parts = urlsplit(leader_url if "//" in leader_url else f"//{leader_url}")
        if not parts.hostname or parts.port is None:
            raise ValueError(f"leader url {leader_url!r} needs a host and a port")
        self._state.mode = Mode.STANDBY
        self._state.leader = f"{parts.hostname}:{parts.port}"
        self.drop_stream()

    def no_leader(self) -> None:
        """Answer 503: no leading master is known."""
        assert self._state is not None
        self._state.mode = Mode.NO_LEADER
        self.drop_stream()

    def become_leader(self) -> None:
        assert self._state is not None
        self._state.mode = Mode.LEADER
        self._state.leader = None

    def rescind(self, offer_id: str) -> bool:
        return self.master.rescind(offer_id)

    def failover(self, reregister_delay: float = 1.0) -> None:
        """A new master takes over: frameworks, offers and filters are forgotten; agents keep their
        tasks and re-register after `reregister_delay`, until then explicit reconciliation of their
        tasks gets no answer."""
        assert self._state is not None and self._clock is not None
        self.master.shutdown()
        new = self._new_master()
        new.recovering_agents = set(self._agents)
        self._state.master = new
        for agent in self._agents.values():
            self._clock.call_later(reregister_delay, partial(new.register_agent, agent))
        if self._contender is not None:
            task = asyncio.get_running_loop().create_task(self._contender.update(jsoncodec.dumps(new.info)))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _leader_changed(self, leader: Leader) -> None:
        """The ZooKeeper election moved: lead, redirect to the leader, or answer 503."""
        assert self._state is not None
        if leader == "self":
            self.become_leader()
        elif leader is None:
            self.no_leader()
        else:
            self.become_standby(f"//{leader}")

    # -- observation --------------------------------------------------------------------------------

    @property
    def calls(self) -> list[ReceivedCall]:
        return self.ledger.calls

    @property
    def violations(self) -> list[str]:
        return self.ledger.violations

    @property
    def tasks(self) -> list[TaskRecord]:
        out = []
        for agent in [*self._agents.values(), *self._removed_agents.values()]:
            for task in [*agent.tasks.values(), *agent.completed]:
                spec = task.spec
                out.append(
                    TaskRecord(
                        spec.task_id,
                        spec.framework_id,
                        agent.agent_id,
                        spec.executor_id,
                        spec.name,
                        spec.role,
                        task.state.value,
                        codec.labels_dict(spec.labels),
                        spec.resources.as_dict(),
                        task.healthy,
                        task.kill_grace,
                        tuple(s.value for s in task.statuses),
                        len(agent.updates.pending(spec.framework_id, spec.task_id)),
                    )
                )
        return out

    def task(self, task_id: str, framework_id: str | None = None) -> TaskRecord:
        """The one task with this id (and framework, if given); KeyError if none or ambiguous."""
        found = [t for t in self.tasks if t.task_id == task_id and framework_id in (None, t.framework_id)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} tasks named {task_id!r}")
        return found[0]

    def live_tasks(self) -> int:
        return sum(agent.live for agent in self._agents.values())

    @property
    def offers(self) -> list[OfferRecord]:
        return [
            OfferRecord(o.offer_id, o.framework_id, o.agent_id, o.role, o.resources.as_dict())
            for o in self.master.offers.values()
        ]

    @property
    def agents(self) -> list[AgentRecord]:
        registered = self.master.agents
        return [
            AgentRecord(a.agent_id, a.hostname, a.total.as_dict(), a.attributes, a.agent_id in registered)
            for a in self._agents.values()
        ]

    @property
    def frameworks(self) -> list[FrameworkRecord]:
        master = self.master
        out = []
        for fw in master.frameworks.values():
            suppressed = (
                master.allocator.suppressed(fw.framework_id)
                if master.allocator.has_framework(fw.framework_id)
                else set()
            )
            out.append(
                FrameworkRecord(
                    fw.framework_id,
                    fw.info.name,
                    frozenset(fw.roles),
                    fw.capabilities,
                    fw.connected,
                    frozenset(suppressed),
                )
            )
        return out

    async def until(
        self, predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.005
    ) -> None:
        """Wait until `predicate()` is true; TimeoutError (naming the predicate) after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if self.errors:
                raise self.errors[0]
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"condition not met within {timeout} s: {getattr(predicate, '__name__', predicate)}"
                )
            await asyncio.sleep(interval)


__all__ = [
    "GC_THRESHOLDS",
    "AgentRecord",
    "ClusterSpecError",
    "FrameworkRecord",
    "Harness",
    "OfferRecord",
    "ResourceSpecError",
    "TaskRecord",
    "tune_gc",
]
