"""Benchmark of the fake Mesos master (harness/): offer cycles, ACCEPT throughput, scale.

Run by `python -m bench harness` (make bench). Measures, on virtual time (ManualClock) so only
CPU work is counted:

- offer cycle: one allocation over N agents (100 / 1,000 / 10,000), turned into offers and
  encoded for a JSON and for a protobuf subscriber; the first ("cold": per-agent pieces not yet
  cached) and the median of three later cycles;
- ACCEPT throughput: tasks launched per second with 1, 10 and 100 tasks per ACCEPT, from the
  encoded request body to the TASK_STARTING update encoded for the scheduler (decode, validate,
  launch on the agent, simulated executor, status update manager, event);
- scale: 10,000 agents running 100,000 acknowledged tasks in one process (resident memory, and
  an offer cycle with all of them running);
- HTTP: ACCEPT round trips per second through the real aiohttp server with a plain client.

Writes results_dir/harness.json and returns the Markdown section for docs/performance.md.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from harness import Harness, calls
from harness.agent import Agent
from harness.clock import ManualClock
from harness.cluster import parse_attributes
from harness.codec import Encoding, OutEvent, decode_call
from harness.ledger import Ledger
from harness.master import Master, MasterConfig
from harness.resources import parse_resources
from harness.simulation import SimulatedRuntime
from harness.validation import validate_call
from proto import jsoncodec
from proto.mesos.v1.scheduler import scheduler_pb2


class _Sink:
    """A subscriber that encodes every event (as a server would) and keeps UPDATEs to acknowledge."""

    def __init__(self, encoding: Encoding) -> None:
        self.stream_id = "bench"
        self.encoding = encoding
        self.bytes = 0
        self.updates: list[scheduler_pb2.Event] = []
        self.offers: list[OutEvent] = []
        self.keep = False

    def send(self, event: OutEvent) -> None:
        self.bytes += len(event.encode(self.encoding))
        if self.keep and event.type == "UPDATE":
            self.updates.append(event.proto())
        if event.type == "OFFERS":
            self.offers.append(event)

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None


def _cluster(agents: int, encoding: Encoding, resources: str) -> tuple[ManualClock, Master, _Sink]:
    clock = ManualClock()
    master = Master(clock, Ledger(record_calls=False), MasterConfig(allocation_interval=1.0))
    total = parse_resources(resources)
    for i in range(agents):
        agent = Agent(
            clock,
            master.new_agent_id(),
            f"agent{i}.bench",
            total,
            parse_attributes(f"rack:r{i % 10};zone:z{i % 3}"),
        )
        agent.runtime = SimulatedRuntime(clock, agent)
        master.register_agent(agent)
    sink = _Sink(encoding)
    call = scheduler_pb2.Call(type=scheduler_pb2.Call.SUBSCRIBE)
    call.subscribe.framework_info.user = "bench"
    call.subscribe.framework_info.name = "bench"
    master.subscribe(call, sink)
    clock.run_ready()  # the subscription's triggered allocation runs here; return its offers
    for offer_id in list(master.offers):
        master.remove_offer(offer_id)
    sink.offers.clear()
    sink.bytes = 0
    return clock, master, sink


def _timed_cycle(master: Master) -> tuple[float, int]:
    start = time.perf_counter()
    made = master.allocate()
    elapsed = time.perf_counter() - start
    for offer_id in list(master.offers):
        master.remove_offer(offer_id)
    return elapsed, made


def offer_cycles() -> list[dict[str, Any]]:
    rows = []
    for agents in (100, 1_000, 10_000):
        for encoding in (Encoding.JSON, Encoding.PROTOBUF):
            _, master, sink = _cluster(agents, encoding, "cpus:16;mem:65536;disk:100000;ports:[31000-32000]")
            gc.collect()
            gc.freeze()
            cold, made = _timed_cycle(master)
            size = sink.bytes
            warm = statistics.median(_timed_cycle(master)[0] for _ in range(3))
            gc.unfreeze()
            rows.append(
                {
                    "agents": agents,
                    "encoding": "json" if encoding is Encoding.JSON else "protobuf",
                    "offers": made,
                    "cold_ms": round(cold * 1000, 1),
                    "warm_ms": round(warm * 1000, 1),
                    "event_bytes": size,
                }
            )
    return rows


def _accept_bodies(master: Master, sink: _Sink, per_accept: int, counter: list[int]) -> list[bytes]:
    fid = next(iter(master.frameworks))
    bodies = []
    for offer in list(master.offers.values()):
        tasks = []
        for _ in range(per_accept):
            counter[0] += 1
            tasks.append(
                {
                    "name": "bench",
                    "task_id": {"value": f"t{counter[0]}"},
                    "agent_id": {"value": offer.agent_id},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                    ],
                    "command": {"value": "sleep 1000"},
                }
            )
        call = {
            "type": "ACCEPT",
            "framework_id": {"value": fid},
            "accept": {
                "offer_ids": [{"value": offer.offer_id}],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                "filters": {"refuse_seconds": 0},
            },
        }
        bodies.append(jsoncodec.parse(call, scheduler_pb2.Call).SerializeToString())
    return bodies


def _apply(master: Master, body: bytes) -> None:
    call = decode_call(body, Encoding.PROTOBUF)
    assert validate_call(call) is None
    fw = calls.check_caller(master, call.framework_id.value, "bench")
    assert not isinstance(fw, tuple)
    calls.dispatch(master, fw, call)


def accept_throughput() -> list[dict[str, Any]]:
    rows = []
    for per_accept, agents in ((1, 2000), (10, 1000), (100, 200)):
        clock, master, sink = _cluster(agents, Encoding.PROTOBUF, "cpus:64;mem:262144;disk:100000")
        master.allocate()
        bodies = _accept_bodies(master, sink, per_accept, [0])
        gc.collect()
        start = time.perf_counter()
        for body in bodies:
            _apply(master, body)
        clock.run_ready()  # deliver launches to agents: executors start, TASK_STARTING is sent
        elapsed = time.perf_counter() - start
        launched = len(bodies) * per_accept
        assert sum(len(s.agent.tasks) for s in master.agents.values()) == launched
        rows.append(
            {
                "tasks_per_accept": per_accept,
                "accepts": len(bodies),
                "tasks": launched,
                "seconds": round(elapsed, 3),
                "tasks_per_second": round(launched / elapsed),
            }
        )
    return rows


def _ack_all(master: Master, sink: _Sink, clock: ManualClock) -> None:
    fw = master.frameworks[next(iter(master.frameworks))]
    while sink.updates:
        pending, sink.updates = sink.updates, []
        for event in pending:
            status = event.update.status
            master.acknowledge(fw, status.agent_id.value, status.task_id.value, status.uuid)
        clock.run_ready()


def scale() -> dict[str, Any]:
    agents, per_agent = 10_000, 10
    clock, master, sink = _cluster(
        agents, Encoding.PROTOBUF, "cpus:16;mem:65536;disk:100000;ports:[31000-32000]"
    )
    sink.keep = True
    master.allocate()
    start = time.perf_counter()
    for body in _accept_bodies(master, sink, per_agent, [0]):
        _apply(master, body)
    clock.run_ready()
    _ack_all(master, sink, clock)  # STARTING acknowledged -> RUNNING sent
    _ack_all(master, sink, clock)
    launch_seconds = time.perf_counter() - start
    running = sum(
        1 for s in master.agents.values() for t in s.agent.tasks.values() if t.state.value == "TASK_RUNNING"
    )
    unacked = sum(s.agent.updates.unacknowledged() for s in master.agents.values())
    for offer_id in list(master.offers):  # offers made while tasks started: give them back
        master.remove_offer(offer_id)
    gc.collect()
    gc.freeze()
    cycle, made = _timed_cycle(master)
    gc.unfreeze()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    current_mb = pages * resource.getpagesize() / 2**20
    return {
        "agents": agents,
        "running_tasks": running,
        "unacknowledged_updates": unacked,
        "launch_and_ack_seconds": round(launch_seconds, 1),
        "offer_cycle_ms": round(cycle * 1000, 1),
        "offers": made,
        "max_rss_mb": round(rss_mb),
        "rss_after_mb": round(current_mb),
    }


async def _http_accepts(count: int) -> dict[str, Any]:
    harness = Harness(agents=count, heartbeat_interval=15, allocation_interval=1.0, record_calls=False)
    async with harness as h, aiohttp.ClientSession() as session:
        url = h.url + "/api/v1/scheduler"
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "bench", "name": "bench"}}}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        response = await session.post(url, data=json.dumps(body), headers=headers)
        stream_id = response.headers["Mesos-Stream-Id"]
        await h.until(lambda: len(h.offers) == count, timeout=30)
        fid = h.frameworks[0].framework_id
        offers = h.offers
        start = time.perf_counter()
        for i, offer in enumerate(offers):
            call = {
                "type": "ACCEPT",
                "framework_id": {"value": fid},
                "accept": {
                    "offer_ids": [{"value": offer.offer_id}],
                    "operations": [
                        {
                            "type": "LAUNCH",
                            "launch": {
                                "task_infos": [
                                    {
                                        "name": "t",
                                        "task_id": {"value": f"h{i}"},
                                        "agent_id": {"value": offer.agent_id},
                                        "resources": [
                                            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}
                                        ],
                                        "command": {"value": "true"},
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
            sent = {"Content-Type": "application/json", "Mesos-Stream-Id": stream_id}
            async with session.post(url, data=json.dumps(call), headers=sent) as r:
                assert r.status == 202
        elapsed = time.perf_counter() - start
        response.close()
        return {
            "accepts": count,
            "seconds": round(elapsed, 3),
            "accepts_per_second": round(count / elapsed),
        }


def run(results_dir: Path) -> str:
    results: dict[str, Any] = {
        "offer_cycle": offer_cycles(),
        "accept_throughput": accept_throughput(),
        "scale": scale(),
        "http_accept": asyncio.run(_http_accepts(500)),
    }
    (results_dir / "harness.json").write_text(json.dumps(results, indent=2) + "\n")
    return _markdown(results)


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        "## Harness (fake Mesos master)",
        "",
        "Offer cycle: one allocation over every agent, offers built and encoded for one subscriber",
        "(cold = first cycle, per-agent pieces not yet cached; warm = median of three later cycles).",
        "",
        "| agents | encoding | offers | cold ms | warm ms | event bytes |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in r["offer_cycle"]:
        lines.append(
            f"| {row['agents']:,} | {row['encoding']} | {row['offers']:,} | {row['cold_ms']} |"
            f" {row['warm_ms']} | {row['event_bytes']:,} |"
        )
    lines += [
        "",
        "ACCEPT throughput (protobuf body decoded, validated, launched, TASK_STARTING encoded):",
        "",
        "| tasks per ACCEPT | ACCEPTs | tasks | seconds | tasks/s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in r["accept_throughput"]:
        lines.append(
            f"| {row['tasks_per_accept']} | {row['accepts']:,} | {row['tasks']:,} | {row['seconds']} |"
            f" {row['tasks_per_second']:,} |"
        )
    s = r["scale"]
    h = r["http_accept"]
    lines += [
        "",
        f"Scale: {s['agents']:,} agents with {s['running_tasks']:,} running, acknowledged tasks"
        " in one process:"
        f" launched and acknowledged in {s['launch_and_ack_seconds']} s; an offer cycle over all agents"
        f" ({s['offers']:,} offers) takes {s['offer_cycle_ms']} ms; resident memory with all of it"
        f" running {s['rss_after_mb']:,} MB (peak of the benchmark process {s['max_rss_mb']:,} MB).",
        "",
        f"Over HTTP (aiohttp client and server in one process, JSON): {h['accepts_per_second']:,} ACCEPT"
        f" round trips per second ({h['accepts']} ACCEPTs of one task each).",
    ]
    return "\n".join(lines) + "\n"
