"""SIGKILL at any moment loses nothing acknowledged, and the store reopens cleanly.

A child process (this module's `child_main`, started with `python -c`) applies numbered batches to
a SqliteStore and prints each batch number only after `apply` returned: a printed number is an
acknowledgement. The parent kills the child with SIGKILL at random points (during start-up and
migration, between batches, inside a transaction), then checks the file: SQLite's integrity check
passes, migrations were not re-run, and the store holds exactly batches 1..n for some n that is at
least the last acknowledged batch and at most one more (the batch in flight, committed but not yet
printed), with no trace of a partial batch. The next child resumes from n + 1 on the same file.

Batch b: a new app version, TASKS_PER_BATCH new tasks, the removal of the tasks of batch b - KEEP,
a rewrite of one sentinel task, the app's task counter raised to b (which is how n is read back)
and one event whose seq must equal b.

SIGKILL leaves the page cache alone, so this proves the transaction and recovery logic, not the
fsyncs; those are what synchronous=FULL adds for power loss (see docs/operations.md).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framework.core.events import TaskState
from framework.state.records import (
    AdvanceTaskCounter,
    AppendEvent,
    AppVersionRecord,
    Change,
    EventRecord,
    PutAppVersion,
    PutTask,
    RemoveTask,
    TaskRecord,
)
from framework.state.sqlite import DB_FILENAME, MIGRATIONS, SqliteStore

ROOT = Path(__file__).resolve().parents[2]
APP = "/crash/app"
TASKS_PER_BATCH = 100
KEEP = 5  # batches whose tasks are still stored
SENTINEL = "crash_app.sentinel"
ITERATIONS = 8


def _task(task_id: str, batch: int, slot: int) -> TaskRecord:
    return TaskRecord(
        task_id=task_id, app_id=APP, version=f"v{batch}", slot=slot, state=TaskState.RUNNING,
        updated_at=float(batch), agent_id=f"agent-{slot % 7}", ports=(31000 + slot,),
    )  # fmt: skip


def batch_changes(b: int) -> list[Change]:
    changes: list[Change] = [
        PutAppVersion(AppVersionRecord(APP, f"v{b}", json.dumps({"batch": b}), float(b)))
    ]
    changes += [PutTask(_task(f"crash_app.{b}.{j}", b, j)) for j in range(TASKS_PER_BATCH)]
    if b > KEEP:
        changes += [RemoveTask(f"crash_app.{b - KEEP}.{j}") for j in range(TASKS_PER_BATCH)]
    changes += [
        PutTask(_task(SENTINEL, b, b)),
        AdvanceTaskCounter(APP, b),
        AppendEvent(EventRecord(ts=float(b), kind="batch", payload=json.dumps({"batch": b}), app_id=APP)),
    ]
    return changes


def child_main(data_dir: str) -> None:
    """Apply batches forever, acknowledging each on stdout once it is committed."""
    store = SqliteStore.open(Path(data_dir))
    b = store.load().task_counters.get(APP, 0)
    while True:
        b += 1
        store.apply(batch_changes(b))
        # The acknowledgement: only now may anyone rely on batch b.
        sys.stdout.write(f"{b}\n")
        sys.stdout.flush()


def run_and_kill(data_dir: Path, rng: random.Random) -> list[int]:
    """Start a child, SIGKILL it at a random point, return the batches it acknowledged."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tests.integration.test_store_crash import child_main;"
         " child_main(sys.argv[1])", str(data_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    acked: list[str] = []
    try:
        wait_for = rng.choice([0, 0, 1, 5, 20, 40])  # 0: kill during start-up, open or migration
        if wait_for == 0:
            time.sleep(rng.uniform(0.0, 0.4))
        while len(acked) < wait_for and (line := child.stdout.readline()):
            acked.append(line)
        time.sleep(rng.uniform(0.0, 0.004))  # land anywhere, often inside the next transaction
    finally:
        child.send_signal(signal.SIGKILL)
        rest, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, f"the child died before the kill:\n{err}"
    return [int(x) for x in [*acked, *rest.split()]]


def integrity(data_dir: Path) -> tuple[list[tuple[str]], list[tuple[int, float]]]:
    conn = sqlite3.connect(data_dir / DB_FILENAME)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = []
        if "schema_version" in tables:  # absent if killed before the first migration committed
            versions = conn.execute(
                "SELECT version, applied_at FROM schema_version ORDER BY version"
            ).fetchall()
    finally:
        conn.close()
    return check, versions


def assert_exactly_batches(data_dir: Path, acked: int, context: str) -> int:
    """The store holds batches 1..n, n in {acked, acked + 1}; return n."""
    store = SqliteStore.open(data_dir)
    try:
        snap = store.load()
        events = store.events(limit=10**6)
    finally:
        store.close()
    n = snap.task_counters.get(APP, 0)
    assert acked <= n <= acked + 1, f"{context}: acknowledged {acked} but the store holds {n}"
    want = {f"crash_app.{b}.{j}" for b in range(max(1, n - KEEP + 1), n + 1) for j in range(TASKS_PER_BATCH)}
    tasks = {t.task_id: t for t in snap.tasks}
    if n:
        want.add(SENTINEL)
        assert tasks[SENTINEL].updated_at == n, context
        assert snap.apps[APP].version == f"v{n}", context
    else:
        assert snap.apps == {}, context
    assert set(tasks) == want, f"{context}: task set is not exactly batches 1..{n}"
    assert all(t.updated_at == int(t.task_id.split(".")[1]) for t in snap.tasks if t.task_id != SENTINEL)
    assert [(e.seq, json.loads(e.payload)["batch"]) for e in events] == [(b, b) for b in range(1, n + 1)], (
        context
    )
    return n


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    acked = 0
    migrations: list[tuple[int, float]] | None = None
    for i in range(ITERATIONS):
        context = f"seed {seed}, iteration {i}"
        reported = run_and_kill(tmp_path, rng)
        acked = max([acked, *reported])
        if not (tmp_path / DB_FILENAME).exists():
            continue  # killed before SQLite created the file: nothing was acknowledged either
        check, applied = integrity(tmp_path)
        assert check == [("ok",)], f"{context}: {check}"
        if applied:
            # Once the migration committed it is never applied again (same rows, same timestamps).
            assert [v for v, _ in applied] == list(range(1, len(MIGRATIONS) + 1)), context
            assert migrations in (None, applied), f"{context}: migrations re-ran"
            migrations = applied
        acked = assert_exactly_batches(tmp_path, acked, context)
    assert migrations is not None and acked > 0, f"seed {seed}: no iteration got as far as a batch"
