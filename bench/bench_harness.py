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
- HTTP: ACCEPT round trips per second through the harness' HTTP server with a plain aiohttp client;
- launch over HTTP, master in its own process: a pipelining protobuf scheduler (this process) launches
  10 tasks per agent on 1,000 and 10,000 agents, acknowledging every update, against the harness in
  a child process (`python -m bench.bench_harness serve AGENTS GC`); the master's CPU time per task
  is the figure that matters (the end-to-end benchmark needs it well under 100 us), with Python's
  default collector thresholds and with the ones recommended for a harness process.

Writes results_dir/harness.json and returns the Markdown section for docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from harness import GC_THRESHOLDS, Harness, calls, tune_gc
from harness.agent import Agent
from harness.clock import ManualClock
from harness.cluster import parse_attributes
from harness.codec import Encoding, OutEvent, decode_call
from harness.ledger import Ledger
from harness.master import Master, MasterConfig
from harness.resources import parse_resources
from harness.simulation import SimulatedRuntime
from harness.validation import validate_call
from proto import jsoncodec, recordio
from proto.mesos.v1 import mesos_pb2
from proto.mesos.v1.scheduler import scheduler_pb2

ROOT = Path(__file__).resolve().parent.parent


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


# ---- launch over HTTP, the master in its own process -------------------------------------------------

LAUNCH_SCALES = [(1_000, 10_000), (10_000, 100_000)]
LAUNCH_RESOURCES = "cpus:4;mem:8192;disk:20000;ports:[31000-32000]"  # as bench_e2e: 10 tasks fill one
LAUNCH_CONNECTIONS = 4  # keep-alive call connections, requests pipelined on each
LAUNCH_REPEATS = 2
PROTOBUF = "application/x-protobuf"


def serve_main(agents: int, gc_mode: str) -> None:
    """Child entry: a harness like bench_e2e's; answers `stats` / `quit` lines on stdin with JSON."""
    asyncio.run(_serve(agents, gc_mode))


async def _serve(agents: int, gc_mode: str) -> None:
    harness = Harness(agents=agents, agent_resources=LAUNCH_RESOURCES, heartbeat_interval=15.0,
                      allocation_interval=1.0, offer_hoard_intervals=1, record_calls=False)  # fmt: skip
    async with harness as h:
        if gc_mode == "tuned":
            tune_gc()
        print(json.dumps({"url": h.url}), flush=True)
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while (line := (await reader.readline()).decode().strip()) and line != "quit":
            unacked = sum(a.updates.unacknowledged() for a in h._agents.values())  # bench-only internals
            print(json.dumps({"cpu": time.process_time(), "live": h.live_tasks(), "unacked": unacked,
                              "violations": len(h.violations), "errors": [repr(e) for e in h.errors[:3]],
                              "gc": gc.get_stats()}), flush=True)  # fmt: skip


def _request(body: bytes, stream_id: str | None) -> bytes:
    head = f"POST /api/v1/scheduler HTTP/1.1\r\nHost: harness\r\nContent-Type: {PROTOBUF}\r\n"
    head += f"Accept: {PROTOBUF}\r\nContent-Length: {len(body)}\r\n"
    if stream_id is not None:
        head += f"Mesos-Stream-Id: {stream_id}\r\n"
    return (head + "\r\n").encode() + body


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status = int((await reader.readline()).split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


class _Calls:
    """Calls pipelined on a few keep-alive connections (what Gantry's client does); answers counted."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.statuses: dict[int, int] = {}
        self._next = 0
        self._readers: list[asyncio.Task[None]] = []

    async def open(self, host: str, port: int) -> None:
        for _ in range(LAUNCH_CONNECTIONS):
            reader, writer = await asyncio.open_connection(host, port)
            self.writers.append(writer)
            self._readers.append(asyncio.create_task(self._answers(reader)))

    def send(self, data: bytes) -> None:
        self.writers[self._next % len(self.writers)].write(data)
        self._next += 1

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, IndexError):
            while True:
                status, headers = await _read_head(reader)
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for writer in self.writers:
            writer.close()


class _Scheduler:
    """Launches `tasks` (0.4 cpu, 64 MB, a Gantry-like TaskInfo) 10 per offer; ACKs every update."""

    def __init__(self, tasks: int, calls: _Calls) -> None:
        self.tasks, self.calls = tasks, calls
        self.framework_id = ""
        self.stream_id = ""
        self.launched = 0
        self.running_acked = 0
        self.done = asyncio.Event()

    def event(self, event: scheduler_pb2.Event) -> None:
        if event.type == scheduler_pb2.Event.SUBSCRIBED:
            self.framework_id = event.subscribed.framework_id.value
        elif event.type == scheduler_pb2.Event.OFFERS:
            for offer in event.offers.offers:
                self._answer(offer)
        elif event.type == scheduler_pb2.Event.UPDATE:
            status = event.update.status
            if status.HasField("uuid"):
                call = self._call(scheduler_pb2.Call.ACKNOWLEDGE)
                call.acknowledge.agent_id.value = status.agent_id.value
                call.acknowledge.task_id.value = status.task_id.value
                call.acknowledge.uuid = status.uuid
                self.calls.send(_request(call.SerializeToString(), self.stream_id))
                if status.state == mesos_pb2.TASK_RUNNING:
                    self.running_acked += 1
                    if self.running_acked == self.tasks:
                        self.done.set()

    def _call(self, kind: scheduler_pb2.Call.Type.ValueType) -> scheduler_pb2.Call:
        call = scheduler_pb2.Call(type=kind)
        call.framework_id.value = self.framework_id
        return call

    def _answer(self, offer: mesos_pb2.Offer) -> None:
        count = min(10, self.tasks - self.launched)
        if count == 0:
            call = self._call(scheduler_pb2.Call.DECLINE)
            call.decline.offer_ids.add().value = offer.id.value
            call.decline.filters.refuse_seconds = 300.0
            self.calls.send(_request(call.SerializeToString(), self.stream_id))
            return
        call = self._call(scheduler_pb2.Call.ACCEPT)
        call.accept.offer_ids.add().value = offer.id.value
        launch = call.accept.operations.add(type=mesos_pb2.Offer.Operation.LAUNCH).launch
        for _ in range(count):
            n = self.launched
            self.launched += 1
            task = launch.task_infos.add(name="fleet")
            task.task_id.value = f"bench_fleet.{n}"
            task.agent_id.value = offer.agent_id.value
            for name, value in (("cpus", 0.4), ("mem", 64.0)):
                resource = task.resources.add(name=name, type=mesos_pb2.Value.SCALAR)
                resource.scalar.value = value
                resource.allocation_info.role = "*"
            task.command.shell = True
            task.command.value = "sleep 3600"
            # What Gantry's codec writes for bench_e2e's app: the environment differs per task.
            variables = task.command.environment.variables
            env = (("HOST", offer.hostname), ("GANTRY_APP_ID", "/bench/fleet"),
                   ("GANTRY_APP_VERSION", "0123456789ab.100000"), ("GANTRY_TASK_ID", task.task_id.value),
                   ("GANTRY_INSTANCE", str(n)))  # fmt: skip
            for key, text in env:
                variables.add(name=key, value=text, type=mesos_pb2.Environment.Variable.VALUE)
            for key, text in (("gantry.app_id", "/bench/fleet"), ("gantry.version", "0123456789ab.100000"),
                              ("gantry.slot", str(n))):  # fmt: skip
                task.labels.labels.add(key=key, value=text)
            task.kill_policy.grace_period.nanoseconds = 3_000_000_000
        call.accept.filters.refuse_seconds = 5.0
        self.calls.send(_request(call.SerializeToString(), self.stream_id))


async def _subscribe(host: str, port: int, scheduler: _Scheduler) -> asyncio.Task[None]:
    call = scheduler_pb2.Call(type=scheduler_pb2.Call.SUBSCRIBE)
    info = call.subscribe.framework_info
    info.user, info.name, info.failover_timeout = "bench", "bench-harness", 3600.0
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(_request(call.SerializeToString(), None))
    status, headers = await _read_head(reader)
    assert status == 200, status
    scheduler.stream_id = headers["mesos-stream-id"]

    async def read() -> None:
        decoder = recordio.Decoder()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            while size := int((await reader.readline()).strip(), 16):
                chunk = await reader.readexactly(size + 2)
                for record in decoder.feed(chunk[:-2]):
                    scheduler.event(scheduler_pb2.Event.FromString(record))
        writer.close()

    return asyncio.create_task(read())


async def _launch_over_http(agents: int, tasks: int, gc_mode: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bench_harness", "serve", str(agents), gc_mode,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def ask() -> dict[str, Any]:
        stdin.write(b"stats\n")
        await stdin.drain()
        return dict(json.loads(await stdout.readline()))

    calls = _Calls()
    try:
        host, _, port = json.loads(await stdout.readline())["url"].removeprefix("http://").partition(":")
        await calls.open(host, int(port))
        scheduler = _Scheduler(tasks, calls)
        before = await ask()
        client_cpu, start = time.process_time(), time.monotonic()
        stream = await _subscribe(host, int(port), scheduler)
        await asyncio.wait_for(scheduler.done.wait(), timeout=600)
        running = time.monotonic() - start
        while (after := await ask())["unacked"] or after["live"] < tasks:
            await asyncio.sleep(0.05)
        quiet = time.monotonic() - start
        client_cpu = time.process_time() - client_cpu
        stream.cancel()
    finally:
        calls.close()
        stdin.write(b"quit\n")
        await stdin.drain()
        await proc.wait()
    collections = [
        a["collections"] - b["collections"] for a, b in zip(after["gc"], before["gc"], strict=True)
    ]
    master_cpu = after["cpu"] - before["cpu"]
    return {
        "agents": agents,
        "tasks": tasks,
        "gc": gc_mode,
        "seconds_to_all_running": round(running, 2),
        "seconds_to_all_acknowledged": round(quiet, 2),
        "master_cpu_seconds": round(master_cpu, 2),
        "master_us_per_task": round(1e6 * master_cpu / tasks, 1),
        "client_us_per_task": round(1e6 * client_cpu / tasks, 1),
        "requests": sum(calls.statuses.values()),
        "statuses": calls.statuses,
        "collections": collections,
        "violations": after["violations"],
        "errors": after["errors"],
    }


def launch_over_http() -> list[dict[str, Any]]:
    """Each case run LAUNCH_REPEATS times, the run with the least master CPU kept: the machine is
    shared, and other work only ever adds CPU time (cache and frequency effects), never removes it."""
    rows = []
    for agents, tasks in LAUNCH_SCALES:
        for gc_mode in ("default", "tuned"):
            runs = [asyncio.run(_launch_over_http(agents, tasks, gc_mode)) for _ in range(LAUNCH_REPEATS)]
            best = min(runs, key=lambda run: float(run["master_us_per_task"]))
            best["master_us_per_task_all_runs"] = [run["master_us_per_task"] for run in runs]
            rows.append(best)
    return rows


def run(results_dir: Path) -> str:
    results: dict[str, Any] = {
        "offer_cycle": offer_cycles(),
        "accept_throughput": accept_throughput(),
        "scale": scale(),
        "http_accept": asyncio.run(_http_accepts(500)),
        "launch_over_http": launch_over_http(),
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
    lines += [
        "",
        "Launch over HTTP, the master in its own process: a protobuf scheduler pipelining its calls on"
        f" {LAUNCH_CONNECTIONS} keep-alive connections launches 10 tasks per agent (one ACCEPT each) and"
        " acknowledges every update (two per task); the master's CPU time per task (the best of"
        f" {LAUNCH_REPEATS} runs, all of them in the JSON) is what the"
        " end-to-end benchmark needs well under 100 us. `gc`: Python's default collector thresholds,"
        f" or `harness.tune_gc()` ({', '.join(f'{t:,}' for t in GC_THRESHOLDS)}, after gc.freeze(),"
        " then a freeze every 0.1 s and a full collection every 10 minutes)."
        " Violations are offers this Python scheduler answered later than one allocation interval"
        " (building the 100,000 TaskInfos of the first cycle takes it seconds); requests above"
        " 2.1 per task are DECLINEs of re-offered leftovers and ACKs of updates resent after 10 s.",
        "",
        "| agents | tasks | gc | all running | all ACKed | master CPU per task | client CPU per task "
        "| requests | collections (gen 0/1/2) | violations |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in r["launch_over_http"]:
        lines.append(
            f"| {row['agents']:,} | {row['tasks']:,} | {row['gc']} | {row['seconds_to_all_running']} s"
            f" | {row['seconds_to_all_acknowledged']} s | {row['master_us_per_task']} us"
            f" | {row['client_us_per_task']} us | {row['requests']:,}"
            f" | {'/'.join(str(c) for c in row['collections'])} | {row['violations']:,} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve_main(int(sys.argv[2]), sys.argv[3])
    else:
        print("usage: python -m bench.bench_harness serve AGENTS default|tuned   (the benchmark's child)",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
