"""Builders and checks for the runtime integration tests: Gantry in-process against the harness.

Who uses it: tests/integration/test_runtime_*.py and bench/bench_e2e.py. `Gantry` runs the real
composition root (`framework.app.serve`) inside the caller's event loop, talks to it only through
its HTTP API, and stops it on exit. `cluster_problems` judges the harness's view of the cluster (the
ground truth: what the agents run), never Gantry's own bookkeeping, so a Gantry bug cannot hide
itself. `Forwarder` is a TCP relay that lets a test move a master "address" from one server to
another, which is how a 307 to a new leader is staged with one cluster of agents.

Must not: reach into Gantry's internals to decide anything; reading them for a diagnostic message is
fine. Every process, socket and task started here is stopped by the context manager that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import aiohttp

from framework.app import Running, serve
from framework.core.scheduler import SchedulerConfig
from framework.logging import build_logger
from framework.mesos.client import Backoff
from framework.settings import LogFormat, LogLevel, MesosContentType, Settings
from harness import Harness, TaskRecord
from harness.model import TERMINAL

ROOT = Path(__file__).resolve().parents[2]
TERMINAL_STATES = frozenset(state.value for state in TERMINAL)
APP_LABEL = "gantry.app_id"
SLOT_LABEL = "gantry.slot"

# Production timers are minutes; these keep every scenario inside a few seconds while preserving
# their order (busy refuse < idle refuse, reconcile retry < its cap, kill retry > grace period).
FAST_CONFIG = SchedulerConfig(
    refuse_seconds_idle=2.0,
    refuse_seconds_busy=0.2,
    revive_min_interval_seconds=0.2,
    reconcile_retry_seconds=0.3,
    reconcile_retry_max_seconds=1.0,
    implicit_reconcile_interval_seconds=2.0,
    unreachable_replace_seconds=0.5,
    backoff_reset_seconds=60.0,
    kill_retry_seconds=1.0,
)
FAST_BACKOFF = Backoff(initial=0.05, factor=2.0, cap=0.4)
# An offer still unanswered after this many allocation intervals is a harness violation. The
# design says one interval; the tests allow slack for a 2-core machine shared with other jobs, the
# benchmark measures the real figure.
HOARD_INTERVALS = 20


def fast_harness(agents: int, **overrides: Any) -> Harness:
    """A harness with short intervals (heartbeat 0.3 s, allocation 0.05 s, update retry 0.2 s)."""
    options: dict[str, Any] = {
        "agents": agents,
        "heartbeat_interval": 0.3,
        "allocation_interval": 0.05,
        "status_update_retry": (0.2, 1.0),
        "offer_hoard_intervals": HOARD_INTERVALS,
    }
    options.update(overrides)
    return Harness(**options)


def app_body(app_id: str, instances: int, **fields: Any) -> dict[str, Any]:
    """A small app spec: 0.1 cpu, 32 MiB, no ports, unless `fields` say otherwise."""
    body: dict[str, Any] = {"id": app_id, "cmd": "sleep 3600", "cpus": 0.1, "mem": 32, "instances": instances}
    body.update(fields)
    return body


class ApiError(AssertionError):
    """The Gantry API answered with an unexpected status."""


class Gantry:
    """Gantry's composition root running in this event loop, plus a client for its HTTP API.

        async with Gantry(h.url, tmp_path / "data") as g:
            await g.put_app(app_body("/web", 3))
    """

    def __init__(
        self,
        master: str,
        data_dir: Path,
        *,
        config: SchedulerConfig = FAST_CONFIG,
        backoff: Backoff = FAST_BACKOFF,
        log_level: LogLevel = LogLevel.ERROR,
        content_type: MesosContentType = MesosContentType.PROTOBUF,
    ) -> None:
        self.settings = Settings(
            master=master, listen_host="127.0.0.1", listen_port=0, data_dir=data_dir,
            log_format=LogFormat.JSON, log_level=log_level, mesos_content_type=content_type,
        )  # fmt: skip
        self._config = config
        self._backoff = backoff
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.running: Running | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()

        def on_started(running: Running) -> None:
            started.set_result(running)

        log = build_logger(self.settings.log_format, self.settings.log_level)
        self._task = asyncio.create_task(
            serve(self.settings, log=log, started=on_started,
                  scheduler_config=self._config, client_backoff=self._backoff),
            name="gantry",
        )  # fmt: skip
        waiting: set[asyncio.Future[Any]] = {started, self._task}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            await self._task  # raises why serve() stopped before it was up
            raise AssertionError("serve() returned before it started")
        self.running = started.result()
        self._session = aiohttp.ClientSession(base_url=self.running.api_url)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def alive(self) -> bool:
        """serve() is still running (a fatal error would have ended it)."""
        return self._task is not None and not self._task.done()

    # ---- the HTTP API ---------------------------------------------------------------------------

    async def request(self, method: str, path: str, body: object = None, expect: int = 200) -> Any:
        assert self._session is not None, "Gantry is not started"
        async with self._session.request(method, path, json=body) as resp:
            data = await resp.json(content_type=None) if resp.content_length != 0 else None
            if resp.status != expect:
                raise ApiError(f"{method} {path} -> {resp.status} (expected {expect}): {data}")
            return data

    async def text(self, path: str) -> str:
        assert self._session is not None, "Gantry is not started"
        async with self._session.get(path) as resp:
            if resp.status != 200:
                raise ApiError(f"GET {path} -> {resp.status}")
            return await resp.text()

    async def put_app(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace an app (PUT answers 200 or 201; both are fine here)."""
        assert self._session is not None, "Gantry is not started"
        async with self._session.put(f"/v1/apps{body['id']}", json=body) as resp:
            data = await resp.json(content_type=None)
            if resp.status not in (200, 201):
                raise ApiError(f"PUT /v1/apps{body['id']} -> {resp.status}: {data}")
            return cast(dict[str, Any], data)

    async def app(self, app_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.request("GET", f"/v1/apps{app_id}"))

    async def tasks(self, app_id: str) -> list[dict[str, Any]]:
        body = await self.request("GET", f"/v1/apps{app_id}/tasks")
        return cast(list[dict[str, Any]], body["tasks"])

    async def info(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self.request("GET", "/v1/info"))

    async def ready(self) -> bool:
        assert self._session is not None, "Gantry is not started"
        async with self._session.get("/readyz") as resp:
            return resp.status == 200


async def until_converged(h: Harness, desired: Mapping[str, int], timeout: float = 10.0) -> None:
    """Wait for `converged`, polling every 50 ms so the check does not starve the loop it shares."""
    await h.until(lambda: converged(h, desired), timeout=timeout, interval=0.05)


async def gantry_agrees(g: Gantry, desired: Mapping[str, int]) -> bool:
    """Gantry's API reports every app with exactly its instance count running and nothing else."""
    for app_id, n in desired.items():
        status = (await g.app(app_id))["status"]
        if (status["instances"], status["tasks"], status["running"]) != (n, n, n):
            return False
    return True


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "") -> None:
    """Poll `check` until it returns True; TimeoutError naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() >= deadline:
            raise TimeoutError(f"not reached within {timeout} s: {what or check}")
        await asyncio.sleep(0.02)


# ---- judging the cluster --------------------------------------------------------------------------


def live_tasks(h: Harness) -> list[TaskRecord]:
    """Non-terminal tasks on agents still in the cluster (a removed agent's tasks are gone with it,
    although the harness remembers them in their last state)."""
    present = {a.agent_id for a in h.agents}
    return [t for t in h.tasks if t.state not in TERMINAL_STATES and t.agent_id in present]


def live_slots(h: Harness) -> dict[tuple[str, int], list[str]]:
    """(app id, slot) -> ids of the live tasks the agents hold for it."""
    slots: dict[tuple[str, int], list[str]] = defaultdict(list)
    for task in live_tasks(h):
        slots[(task.labels[APP_LABEL], int(task.labels[SLOT_LABEL]))].append(task.task_id)
    return dict(slots)


def running_ids(h: Harness) -> set[str]:
    return {t.task_id for t in live_tasks(h) if t.state == "TASK_RUNNING"}


def converged(h: Harness, desired: Mapping[str, int]) -> bool:
    """Every app has exactly its instance count running, one task per slot 0..n-1, nothing else live."""
    if h.live_tasks() != sum(desired.values()):
        return False  # cheap early exit: building h.tasks costs ~20 us per task
    slots = live_slots(h)
    wanted = {(app, slot) for app, n in desired.items() for slot in range(n)}
    if set(slots) != wanted or any(len(ids) != 1 for ids in slots.values()):
        return False
    running = running_ids(h)
    return all(ids[0] in running for ids in slots.values())


def cluster_problems(h: Harness, framework_id: str) -> list[str]:
    """Safety properties that must hold at every moment; an empty list means all hold."""
    problems = [f"harness violation: {v}" for v in h.violations]
    problems += [f"harness error: {e!r}" for e in h.errors]
    tasks = h.tasks
    reused = [tid for tid, n in Counter(t.task_id for t in tasks).items() if n > 1]
    if reused:
        problems.append(f"task ids launched more than once: {sorted(reused)[:10]}")
    others = {t.framework_id for t in tasks} - {framework_id}
    if others:
        problems.append(f"tasks under other framework ids than {framework_id}: {sorted(others)}")
    doubled = {slot: ids for slot, ids in live_slots(h).items() if len(ids) > 1}
    if doubled:
        problems.append(f"slots with more than one live task: {dict(list(doubled.items())[:10])}")
    return problems


# ---- a movable master address ---------------------------------------------------------------------


class Forwarder:
    """A TCP relay on 127.0.0.1:<free port> to `target` (host, port); `retarget` moves it.

    Retargeting closes every relayed connection (as a master that lost leadership drops its
    subscribers) and sends new connections to the new target.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        self._drop_all()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def retarget(self, target: tuple[str, int]) -> None:
        self.target = target
        self._drop_all()

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)),
                 asyncio.create_task(self._pipe(up_reader, writer))]  # fmt: skip
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


# ---- Gantry as a real process -----------------------------------------------------------------------


class GantryProcess:
    """`python -m framework.cli run --master URL` as a child process, API on a free port.

    `start()` returns once the process logged `gantry_started` (its API URL is read from that JSON
    log line); `kill()` sends SIGKILL; leaving the context always kills and reaps the child.
    """

    def __init__(self, master: str, data_dir: Path) -> None:
        self.master = master
        self.data_dir = data_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.api_url: str | None = None
        self.log_lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.kill()

    async def start(self, timeout: float = 30.0) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "framework.cli", "run", "--master", self.master,
            "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
            "--log-format", "json", "--log-level", "info",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_log(started))
        try:
            async with asyncio.timeout(timeout):
                self.api_url = await started
        except BaseException:
            await self.kill()
            raise

    async def _read_log(self, started: asyncio.Future[str]) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log_lines.append(text)
            if not started.done() and '"gantry_started"' in text:
                started.set_result(str(json.loads(text)["api"]))
        if not started.done():
            started.set_exception(AssertionError("gantry exited before it started:\n" + self.log_tail()))

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_lines[-lines:])

    async def kill(self) -> int | None:
        """SIGKILL the child (if alive), reap it, stop reading its log; returns its exit code."""
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)
            code = await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
            self._reader = None
        return code
