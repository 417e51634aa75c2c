"""Store benchmark: SqliteStore write throughput by batch size, group commit, and restart load time.

`python -m bench store` runs it. Measures, on a fresh data directory in a temporary location:

- task records written per second when each `apply` carries 1, 100 or 1,000 PutTask changes
  (every apply is one durable transaction: WAL, synchronous=FULL, so batch size 1 is fsync-bound);
- the same through AsyncStore when 2,000 one-task applies are pending at once (group commit
  merges them into shared transactions, as happens when many status updates arrive together);
- a launch-shaped batch (PutTask + AdvanceTaskCounter + AppendEvent per task, 1,000 tasks);
- CPU per stored task record on the driver's path (core PersistTask effects -> mapping.changes_for ->
  AsyncStore.apply, 2,000 records per apply): 100,000 launch records, then their STARTING and
  RUNNING updates, with the CPU time of both threads (event loop and store worker);
- the store thread's own CPU per launched task (SqliteStore.apply only, thread CPU time): launches
  of 2,000 tasks plus their apps' counters per apply, then the updates shaped as the simulated
  executor sends them (a task's STARTING and RUNNING adjacent), 2,000 records per apply;
- open (lock, WAL recovery, migration check) and `load()` of 100,000 live task records across
  1,000 apps: the store's share of the "reconciled view after restart <= 5 s" target.

Writes results_dir/store.json and returns the Markdown section for docs/performance.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import platform
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from framework.core.effects import Persist, PersistTask, PersistTaskCounter
from framework.core.events import TaskState
from framework.state.aio import AsyncStore
from framework.state.mapping import changes_for
from framework.state.records import (
    AdvanceTaskCounter,
    AppendEvent,
    AppVersionRecord,
    Change,
    EventRecord,
    PutAppVersion,
    PutTask,
    TaskRecord,
)
from framework.state.sqlite import SqliteStore

RESTART_TASKS = 100_000
RESTART_APPS = 1_000
# (batch size, number of batches): enough records for a stable rate, bounded run time.
WRITE_RUNS = [(1, 300), (100, 100), (1_000, 50)]
GROUP_COMMIT_APPLIES = 2_000
CPU_TASKS = 100_000
CPU_BATCH = 2_000  # records per apply, the driver's segment size
STORE_CPU_TASKS = 20_000
STORE_CPU_RUNS = 3


def _task(n: int, state: TaskState = TaskState.RUNNING, apps: int = RESTART_APPS) -> TaskRecord:
    """Task n of the run: apps take turns, each numbering its own tasks 0, 1, 2 ... like the core."""
    app, seq = n % apps, n // apps
    return TaskRecord(
        task_id=f"bench_app-{app}.{seq}", app_id=f"/bench/app-{app}", version="v1", slot=seq, state=state,
        updated_at=1.7e9 + n, agent_id=f"agent-{n % 10_000}", hostname=f"10.0.{n % 250}.{n % 200}",
        ports=(31000 + n % 1000,), healthy=True, started_at=1.7e9 + n, status_uuid=n.to_bytes(16, "big"),
    )  # fmt: skip


Batches = Sequence[Sequence[Change]]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _apply_all(data_dir: Path, plan: Batches, setup: Batches = ()) -> float:
    """Seconds to apply every batch of `plan`, one transaction each, after untimed `setup`."""
    store = SqliteStore.open(data_dir)
    try:
        for changes in setup:
            store.apply(changes)

        def apply_plan() -> None:
            for changes in plan:
                store.apply(changes)

        return _timed(apply_plan)
    finally:
        store.close()


def _rate(records: int, batches: int, seconds: float) -> dict[str, float]:
    return {
        "batch": records // batches,
        "records": records,
        "seconds": seconds,
        "records_per_s": records / seconds,
        "ms_per_apply": 1000 * seconds / batches,
    }


def _write_rate(data_dir: Path, batch: int, batches: int) -> dict[str, float]:
    plan: Batches = [[PutTask(_task(b * batch + i)) for i in range(batch)] for b in range(batches)]
    return _rate(batch * batches, batches, _apply_all(data_dir, plan))


def _update_rate(data_dir: Path, batch: int = 1_000, batches: int = 30) -> dict[str, float]:
    """Status updates of stored tasks (STAGING -> RUNNING), in batches of `batch`."""
    n = batch * batches
    setup: Batches = [[PutTask(_task(i, TaskState.STAGING)) for i in range(n)]]
    plan: Batches = [[PutTask(_task(b * batch + i)) for i in range(batch)] for b in range(batches)]
    return _rate(n, batches, _apply_all(data_dir, plan, setup))


def _launch_rate(data_dir: Path, batch: int = 1_000, batches: int = 20) -> dict[str, float]:
    """What a launch persists per task: its record, its app's counter, an event."""

    def launch(b: int) -> list[Change]:
        changes: list[Change] = []
        for i in range(b * batch, (b + 1) * batch):
            t = _task(i, TaskState.STAGING)
            changes += [
                PutTask(t),
                AdvanceTaskCounter(t.app_id, t.slot + 1),
                AppendEvent(
                    EventRecord(ts=t.updated_at, kind="task_launched", app_id=t.app_id, task_id=t.task_id)
                ),
            ]
        return changes

    return _rate(batch * batches, batches, _apply_all(data_dir, [launch(b) for b in range(batches)]))


def _group_commit_rate(data_dir: Path) -> dict[str, float]:
    async def run() -> float:
        store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
        try:
            start = time.perf_counter()
            await asyncio.gather(*(store.apply([PutTask(_task(i))]) for i in range(GROUP_COMMIT_APPLIES)))
            return time.perf_counter() - start
        finally:
            await store.close()

    seconds = asyncio.run(run())
    return {
        "applies": GROUP_COMMIT_APPLIES,
        "seconds": seconds,
        "records_per_s": GROUP_COMMIT_APPLIES / seconds,
    }


def _process_cpu() -> float:
    """CPU seconds of this process so far, every thread (the store's worker included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_per_record(data_dir: Path) -> dict[str, float]:
    """CPU microseconds per task record stored the driver's way, for launches and status updates."""

    def record(n: int, state: TaskState) -> TaskRecord:
        running = state is TaskState.RUNNING
        return dataclasses.replace(
            _task(n, state), healthy=None, started_at=1.7e9 + n if running else None,
            status_uuid=None if state is TaskState.STAGING else n.to_bytes(16, "big"),
        )  # fmt: skip

    launches = [PersistTask(record(n, TaskState.STAGING)) for n in range(CPU_TASKS)]
    updates: list[PersistTask] = []
    for start in range(0, CPU_TASKS, CPU_BATCH // 2):  # a task's STARTING and RUNNING share an apply
        tasks = range(start, start + CPU_BATCH // 2)
        updates += [PersistTask(record(n, TaskState.STARTING)) for n in tasks]
        updates += [PersistTask(record(n, TaskState.RUNNING)) for n in tasks]

    async def store_all(store: AsyncStore, effects: list[PersistTask]) -> float:
        cpu = _process_cpu()
        for start in range(0, len(effects), CPU_BATCH):
            await store.apply(changes_for(effects[start : start + CPU_BATCH]))
        return 1e6 * (_process_cpu() - cpu) / len(effects)

    async def run() -> tuple[float, float]:
        store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
        try:
            return await store_all(store, launches), await store_all(store, updates)
        finally:
            await store.close()

    launch_us, update_us = asyncio.run(run())
    return {
        "tasks": CPU_TASKS,
        "batch": CPU_BATCH,
        "launch_us_per_record": launch_us,
        "update_us_per_record": update_us,
        "us_per_launched_task": launch_us + 2 * update_us,
    }


def _store_cpu_per_task(data_dir: Path) -> dict[str, float]:
    """Store-thread CPU microseconds per launched task (median of STORE_CPU_RUNS fresh stores)."""

    def record(n: int, state: TaskState) -> TaskRecord:
        return dataclasses.replace(
            _task(n, state, apps=10), healthy=None,
            started_at=1.7e9 + n if state is TaskState.RUNNING else None,
            status_uuid=None if state is TaskState.STAGING else n.to_bytes(16, "big"),
        )  # fmt: skip

    launches: list[list[Persist]] = []
    for start in range(0, STORE_CPU_TASKS, CPU_BATCH):
        tasks = range(start, start + CPU_BATCH)
        launches.append([PersistTask(record(n, TaskState.STAGING)) for n in tasks])
        launches[-1] += [PersistTaskCounter(f"/bench/app-{a}", (start + CPU_BATCH) // 10) for a in range(10)]
    updates: list[list[Persist]] = []
    for start in range(0, STORE_CPU_TASKS, CPU_BATCH // 2):
        updates.append(
            [PersistTask(record(n, s)) for n in range(start, start + CPU_BATCH // 2)
             for s in (TaskState.STARTING, TaskState.RUNNING)]
        )  # fmt: skip

    def apply_all(store: SqliteStore, batches: list[list[Persist]]) -> float:
        changes = [changes_for(batch) for batch in batches]  # the event loop's part, not timed
        start = time.thread_time()
        for batch in changes:
            store.apply(batch)
        return 1e6 * (time.thread_time() - start) / STORE_CPU_TASKS

    launch_us, update_us = [], []
    for run in range(STORE_CPU_RUNS):
        store = SqliteStore.open(data_dir / str(run))
        try:
            launch_us.append(apply_all(store, launches))
            update_us.append(apply_all(store, updates))
        finally:
            store.close()
    totals = [a + b for a, b in zip(launch_us, update_us, strict=True)]
    return {
        "tasks": STORE_CPU_TASKS,
        "batch": CPU_BATCH,
        "runs": STORE_CPU_RUNS,
        "launch_us_per_task": statistics.median(launch_us),
        "updates_us_per_task": statistics.median(update_us),
        "us_per_launched_task": statistics.median(totals),
        "us_per_launched_task_min": min(totals),
        "us_per_launched_task_max": max(totals),
    }


def _restart(data_dir: Path, loads: int = 3) -> dict[str, float]:
    """Open and load a store holding RESTART_TASKS live tasks of RESTART_APPS apps (best of `loads`)."""
    store = SqliteStore.open(data_dir)
    try:
        store.apply(
            [
                PutAppVersion(AppVersionRecord(f"/bench/app-{a}", "v1", "{}", 1.7e9))
                for a in range(RESTART_APPS)
            ]
        )
        for start in range(0, RESTART_TASKS, 10_000):
            store.apply([PutTask(_task(n)) for n in range(start, start + 10_000)])
    finally:
        store.close()
    opens, load_times = [], []
    for _ in range(loads):
        t0 = time.perf_counter()
        store = SqliteStore.open(data_dir)
        t1 = time.perf_counter()
        try:
            snapshot = store.load()
            t2 = time.perf_counter()
        finally:
            store.close()
        opens.append(t1 - t0)
        load_times.append(t2 - t1)
        assert len(snapshot.tasks) == RESTART_TASKS and len(snapshot.apps) == RESTART_APPS
    return {
        "tasks": RESTART_TASKS,
        "apps": RESTART_APPS,
        "db_mb": (data_dir / "gantry.db").stat().st_size / 1e6,
        "open_s": min(opens),
        "load_s": min(load_times),
        "load_s_median": statistics.median(load_times),
    }


def _row(what: str, result: str, detail: str) -> str:
    return f"| {what} | {result} | {detail} |"


def run(results_dir: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="gantry-bench-store-") as tmp:
        base = Path(tmp)
        writes = [_write_rate(base / f"insert-{batch}", batch, batches) for batch, batches in WRITE_RUNS]
        updates = _update_rate(base / "update")
        launch = _launch_rate(base / "launch")
        group = _group_commit_rate(base / "group")
        cpu = _cpu_per_record(base / "cpu")
        store_cpu = _store_cpu_per_task(base / "store-cpu")
        restart = _restart(base / "restart")
    results = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "settings": "WAL, synchronous=FULL, one transaction per apply",
        "inserts": writes,
        "updates": updates,
        "launch": launch,
        "group_commit": group,
        "cpu_per_record": cpu,
        "store_cpu_per_task": store_cpu,
        "restart": restart,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "store.json").write_text(json.dumps(results, indent=2) + "\n")

    rows = [
        _row(
            f"new task records, {w['batch']:,.0f} per apply",
            f"{w['records_per_s']:,.0f} records/s",
            f"{w['ms_per_apply']:.2f} ms per apply",
        )
        for w in writes
    ]
    rows += [
        _row(
            f"status updates of stored tasks, {updates['batch']:,.0f} per apply",
            f"{updates['records_per_s']:,.0f} records/s",
            f"{updates['ms_per_apply']:.2f} ms per apply",
        ),
        _row(
            f"launches (task + counter + event), {launch['batch']:,.0f} per apply",
            f"{launch['records_per_s']:,.0f} tasks/s",
            f"{launch['ms_per_apply']:.2f} ms per apply",
        ),
        _row(
            f"AsyncStore, {group['applies']:,.0f} one-task applies pending at once",
            f"{group['records_per_s']:,.0f} records/s",
            "group commit: queued applies share transactions",
        ),
        _row(
            f"CPU per task record, driver path ({cpu['tasks']:,.0f} tasks, {cpu['batch']:,.0f} per apply)",
            f"{cpu['us_per_launched_task']:.1f} us per launched task",
            f"launch record {cpu['launch_us_per_record']:.2f} us, status update"
            f" {cpu['update_us_per_record']:.2f} us (both threads, PersistTask to commit)",
        ),
        _row(
            f"store thread CPU per launched task ({store_cpu['tasks']:,.0f} tasks, updates as the executor"
            " sends them)",
            f"{store_cpu['us_per_launched_task']:.1f} us per launched task",
            f"launch {store_cpu['launch_us_per_task']:.2f} us + STARTING and RUNNING"
            f" {store_cpu['updates_us_per_task']:.2f} us; median of {store_cpu['runs']}"
            f" ({store_cpu['us_per_launched_task_min']:.1f}-{store_cpu['us_per_launched_task_max']:.1f});"
            " SqliteStore.apply only",
        ),
        _row(
            f"restart: open + load() of {restart['tasks']:,.0f} tasks, {restart['apps']:,.0f} apps",
            f"{restart['open_s'] + restart['load_s']:.2f} s",
            f"open {restart['open_s'] * 1000:.0f} ms, load {restart['load_s']:.2f} s"
            f" (median {restart['load_s_median']:.2f} s), file {restart['db_mb']:.0f} MB",
        ),
    ]
    return "\n".join(
        [
            "## Store (SQLite)",
            "",
            f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL: every apply is one durable transaction",
            "(one fsync), so one-record applies are bound by the disk; the driver batches. Target: the",
            "store's share of a reconciled view after restart with 100,000 tasks well under 5 s.",
            "",
            "| measurement | result | detail |",
            "|---|---|---|",
            *rows,
        ]
    )
