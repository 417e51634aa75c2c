"""The records built per launched task without their NamedTuple constructor (model.new_record,
which checks neither arity nor defaults) are the records the constructor builds: every field
present, in order, with the values the keyword form gives.

Covered sites: the simulated executor's STARTING and RUNNING (simulation.py), the agent's
stamped update (agent.py), a command task's ExecutorSpec (accept.py) and every TaskSpec
(codec.task_spec).
"""

from __future__ import annotations

from harness import calls
from harness.agent import Agent
from harness.clock import ManualClock
from harness.codec import OutEvent
from harness.ledger import Ledger
from harness.master import Master, MasterConfig
from harness.model import (
    ExecutorKind,
    ExecutorSpec,
    FrameworkSpec,
    HealthCheckSpec,
    Source,
    Status,
    TaskSpec,
    TaskState,
)
from harness.resources import EMPTY, parse_resources
from harness.simulation import SimulatedRuntime
from proto import jsoncodec
from proto.mesos.v1.scheduler import scheduler_pb2
from tests.harness.test_units import ForwardingLink, Recorder

Call = scheduler_pb2.Call



def _spec(task_id: str) -> TaskSpec:
    return TaskSpec(task_id, "f", task_id, "web", "*", parse_resources("cpus:0.5"))


def _executor(task_id: str) -> ExecutorSpec:
    return ExecutorSpec(task_id, "f", ExecutorKind.COMMAND, "*", EMPTY)


def test_simulated_executors_report_whole_statuses() -> None:
    clock, recorder = ManualClock(), Recorder()
    runtime = SimulatedRuntime(clock, recorder)
    runtime.launch_all(FrameworkSpec("f", "n", frozenset()), [(_executor("t1"), [_spec("t1")])])
    clock.run_ready()
    assert recorder.statuses == [
        Status(task_id="t1", state=TaskState.TASK_STARTING, source=Source.SOURCE_EXECUTOR),
        Status(task_id="t1", state=TaskState.TASK_RUNNING, source=Source.SOURCE_EXECUTOR),
    ]
    assert all(len(s) == len(Status._fields) for s in recorder.statuses)


def test_the_agent_stamps_whole_statuses() -> None:
    clock, link = ManualClock(), ForwardingLink()
    agent = Agent(clock, "a1", "host", parse_resources("cpus:4"))
    agent.runtime = SimulatedRuntime(clock, agent)
    agent.register(link)
    agent.run_all(FrameworkSpec("f", "n", frozenset()), [(_executor("t1"), [_spec("t1")])])
    clock.run_ready()
    [starting] = link.forwarded  # RUNNING waits for STARTING's ack
    assert len(starting) == len(Status._fields)
    assert starting.uuid is not None and len(starting.uuid) == 16
    assert starting == Status(
        task_id="t1",
        state=TaskState.TASK_STARTING,
        source=Source.SOURCE_EXECUTOR,
        agent_id="a1",
        executor_id="t1",
        timestamp=clock.time(),
        uuid=starting.uuid,
    )
    agent.acknowledge("f", "t1", starting.uuid)
    running = link.forwarded[1]
    assert running.uuid is not None and running.uuid != starting.uuid
    assert running == starting._replace(state=TaskState.TASK_RUNNING, uuid=running.uuid)
    # A status the runtime stamped itself keeps its timestamp and uuid; a reason stays too.
    agent.task_status(
        "f",
        Status(
            "t1", TaskState.TASK_FAILED, Source.SOURCE_EXECUTOR, reason="R", timestamp=5.0, uuid=b"u" * 16
        ),
    )
    agent.acknowledge("f", "t1", running.uuid)
    assert link.forwarded[2] == Status(
        "t1", TaskState.TASK_FAILED, Source.SOURCE_EXECUTOR, reason="R", agent_id="a1", executor_id="t1",
        timestamp=5.0, uuid=b"u" * 16,
    )  # fmt: skip


class _Sink:
    stream_id = "s"

    def send(self, event: OutEvent) -> None:
        return None

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None


def test_a_launch_builds_whole_task_and_executor_specs() -> None:
    clock = ManualClock()
    master = Master(clock, Ledger(record_calls=False), MasterConfig(allocation_interval=1.0))
    agent = Agent(clock, master.new_agent_id(), "host", parse_resources("cpus:4;mem:1024"))
    agent.runtime = SimulatedRuntime(clock, agent)
    master.register_agent(agent)
    subscribe = Call(type=Call.SUBSCRIBE)
    subscribe.subscribe.framework_info.user = "u"
    subscribe.subscribe.framework_info.name = "n"
    master.subscribe(subscribe, _Sink())
    clock.run_ready()
    fid = next(iter(master.frameworks))
    [offer] = master.offers.values()
    tasks = [
        {
            "name": f"web.{n}",
            "task_id": {"value": f"web.{n}"},
            "agent_id": {"value": agent.agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}],
            "command": {"value": "serve"},
            "labels": {"labels": [{"key": "slot", "value": str(n)}]},
            "kill_policy": {"grace_period": {"nanoseconds": 2_000_000_000}},
            "health_check": {"type": "TCP", "tcp": {"port": 80}},
        }
        for n in range(2)  # the second shaped like the first: its parts come from the memo
    ]
    accept = {
        "type": "ACCEPT",
        "framework_id": {"value": fid},
        "accept": {
            "offer_ids": [{"value": offer.offer_id}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
        },
    }
    calls.dispatch(master, master.frameworks[fid], jsoncodec.parse(accept, Call))
    clock.run_ready()
    for n in range(2):
        tid = f"web.{n}"
        spec = master.frameworks[fid].tasks[tid].spec
        assert len(spec) == len(TaskSpec._fields)
        assert dict(spec.labels) == {"slot": str(n)}
        assert spec == TaskSpec(
            task_id=tid,
            framework_id=fid,
            executor_id=tid,
            name=tid,
            role="*",
            resources=parse_resources("cpus:0.5"),
            labels=spec.labels,
            health_check=HealthCheckSpec(delay=15.0, interval=10.0, timeout=20.0, consecutive_failures=3,
                                         grace_period=10.0),
            kill_grace=2.0,
        )  # fmt: skip
        executor = agent.executors[(fid, tid)]
        assert len(executor) == len(ExecutorSpec._fields)
        command = ExecutorKind.COMMAND
        assert executor == ExecutorSpec(
            executor_id=tid, framework_id=fid, kind=command, role="*", resources=EMPTY
        )
