"""SqliteStore.apply: a batch commits exactly what its changes applied one by one would, rowids included.

The store writes only the last of several puts of one task within a run of puts (at the place of
the first), and sends task rows as multi-row statements. These tests check that both shortcuts are
invisible: Hypothesis builds batches in which the puts of a few tasks collide with removals,
version pruning (which reads the tasks table), events, counters and deployments, and long runs of
puts over many tasks, and compares the committed files row by row.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from framework.core.events import TaskState
from framework.state.records import (
    AdvanceTaskCounter,
    AppendEvent,
    AppVersionRecord,
    Change,
    DeleteApp,
    DeploymentRecord,
    EventRecord,
    PutAppVersion,
    PutDeployment,
    PutTask,
    RemoveTask,
    SetFrameworkId,
    TaskRecord,
)
from framework.state.sqlite import DB_FILENAME, SqliteOptions, SqliteStore

APPS = ("a/one", "a/two")
VERSIONS = ("v0", "v1", "v2")
# keep_versions=1 so that a PutAppVersion prunes versions, reading which ones stored tasks run: the
# one place where a task row written in the middle of a batch is observable before the COMMIT.
OPTIONS = SqliteOptions(keep_versions=1)

times = st.integers(min_value=0, max_value=5).map(float)


@st.composite
def task_records(draw: st.DrawFn, tasks_per_app: int = 3) -> TaskRecord:
    app = draw(st.sampled_from(APPS))
    n = draw(st.integers(min_value=0, max_value=tasks_per_app - 1))
    return TaskRecord(
        task_id=f"{app}.{n}",
        app_id=app,
        version=draw(st.sampled_from(VERSIONS)),
        slot=n,
        state=draw(st.sampled_from(list(TaskState))),
        updated_at=draw(times),
        agent_id=draw(st.sampled_from([None, "agent-1", "agent-2"])),
        hostname=draw(st.sampled_from([None, "10.0.0.1"])),
        ports=draw(st.sampled_from([(), (31000,), (31000, 31001)])),
        healthy=draw(st.sampled_from([None, True, False])),
        reason=draw(st.sampled_from([None, "REASON_COMMAND_EXECUTOR_FAILED"])),
        message=draw(st.sampled_from([None, "exited 1"])),
        started_at=draw(st.sampled_from([None, 1.5])),
        status_uuid=draw(st.sampled_from([None, b"\x00\x01" * 8])),
    )


def version_change(app: str, version: str, make_current: bool) -> PutAppVersion:
    # One spec per (app, version): a conflicting spec would fail the batch, which is not the point.
    return PutAppVersion(AppVersionRecord(app, version, f'{{"v": "{version}"}}', 1.0), make_current)


def deployment(deployment_id: str, app: str, to_version: str, finished: bool) -> PutDeployment:
    record = DeploymentRecord(
        deployment_id, app, "v0", to_version, "running", 1.0, 2.0, 3.0 if finished else None
    )
    return PutDeployment(record)


apps = st.sampled_from(APPS)
task_ids = st.builds(lambda app, n: f"{app}.{n}", apps, st.integers(min_value=0, max_value=2))
changes: st.SearchStrategy[Change] = st.one_of(
    # Puts carry the weight: they are what the store folds.
    task_records().map(PutTask),
    task_records().map(PutTask),
    task_records().map(PutTask),
    task_ids.map(RemoveTask),
    st.builds(version_change, apps, st.sampled_from(VERSIONS), st.booleans()),
    st.builds(
        lambda ts, app, task_id: AppendEvent(
            EventRecord(ts=ts, kind="task_update", app_id=app, task_id=task_id)
        ),
        times,
        apps,
        task_ids,
    ),
    st.builds(AdvanceTaskCounter, apps, st.integers(min_value=0, max_value=9)),
    st.builds(DeleteApp, apps, times),
    st.builds(deployment, st.sampled_from(["d1", "d2"]), apps, st.sampled_from(VERSIONS), st.booleans()),
    st.builds(SetFrameworkId, st.sampled_from(["fw-1", "fw-2"])),
)
batches = st.lists(st.lists(changes, min_size=1, max_size=25), min_size=1, max_size=3)
# Long runs of puts over many tasks, as the driver's batches are: they go out as multi-row
# statements of 64 and 8 rows plus single rows (_PUT_TASK_CHUNKS), with a removal or a version now
# and then cutting a run.
run_cutters: st.SearchStrategy[list[Change]] = st.one_of(
    st.just([]),
    st.builds(lambda app, n: [RemoveTask(f"{app}.{n}")], apps, st.integers(min_value=0, max_value=99)),
    st.builds(lambda *args: [version_change(*args)], apps, st.sampled_from(VERSIONS), st.booleans()),
)
runs_of_puts = st.builds(
    lambda puts, cutter: [*puts, *cutter],
    # A uniform length (Hypothesis favours short lists), so that runs past 64 puts are common.
    st.integers(min_value=1, max_value=200).flatmap(
        lambda n: st.lists(task_records(tasks_per_app=100).map(PutTask), min_size=n, max_size=n)
    ),
    run_cutters,
)
long_batches = st.lists(
    st.lists(runs_of_puts, min_size=1, max_size=2).map(lambda runs: [c for run in runs for c in run]),
    min_size=1,
    max_size=2,
)


@contextlib.contextmanager
def opened(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore.open(path, OPTIONS)
    try:
        yield store
    finally:
        store.close()


def committed(store: SqliteStore) -> object:
    """Everything a reader can see: the snapshot, the histories, and every table row by row."""
    snapshot = store.load()
    tables = {}
    conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, isolation_level=None)
    try:
        for table in ("tasks", "app_versions", "deployments", "events"):
            tables[table] = conn.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid").fetchall()
        for table in ("apps", "task_counters", "meta"):  # WITHOUT ROWID tables
            tables[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    finally:
        conn.close()
    return (
        snapshot.framework_id,
        snapshot.apps,
        sorted(snapshot.versions, key=lambda v: (v.app_id, v.version)),
        sorted(snapshot.tasks, key=lambda t: t.task_id),
        snapshot.task_counters,
        snapshot.deployments,
        snapshot.last_event_seq,
        [store.app_versions(app) for app in APPS],
        store.deployments(),
        store.events(),
        tables,
    )


# On tmpfs where there is one: the one-by-one store makes an fsync per change, free there.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None


@given(batches)
def test_each_batch_commits_what_its_changes_applied_one_by_one_commit(plan: list[list[Change]]) -> None:
    assert_batches_commit_like_single_changes(plan)


@settings(max_examples=15)
@given(long_batches)
def test_long_batches_of_puts_commit_what_their_changes_applied_one_by_one_commit(
    plan: list[list[Change]],
) -> None:
    assert_batches_commit_like_single_changes(plan)


def assert_batches_commit_like_single_changes(plan: list[list[Change]]) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="gantry-store-props-", dir=SCRATCH) as tmp,
        opened(Path(tmp) / "batched") as batched,
        opened(Path(tmp) / "single") as single,
    ):
        for batch in plan:
            batched.apply(batch)
            for change in batch:
                single.apply([change])
            assert committed(batched) == committed(single)


def task(n: int, state: TaskState, at: float = 1.0) -> TaskRecord:
    return TaskRecord(task_id=f"a/one.{n}", app_id="a/one", version="v0", slot=n, state=state, updated_at=at)


def count_task_row_writes(path: Path) -> None:
    """Make the file count every insert into and update of the tasks table (in table `writes`)."""
    with contextlib.closing(sqlite3.connect(path / DB_FILENAME, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE writes (n INTEGER NOT NULL)")
        conn.execute("INSERT INTO writes (n) VALUES (0)")
        for kind in ("INSERT", "UPDATE"):
            conn.execute(
                f"CREATE TRIGGER count_{kind.lower()} AFTER {kind} ON tasks"
                " BEGIN UPDATE writes SET n = n + 1; END"
            )


def task_row_writes(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path / DB_FILENAME, isolation_level=None)) as conn:
        (n,) = conn.execute("SELECT n FROM writes").fetchone()
    return int(n)


def test_the_puts_of_one_task_in_one_batch_cost_one_row_write(tmp_path: Path) -> None:
    with opened(tmp_path) as store:
        count_task_row_writes(tmp_path)
        store.apply([PutTask(task(n, TaskState.STAGING)) for n in range(3)])
        assert task_row_writes(tmp_path) == 3
        store.apply(
            [
                PutTask(task(n, state, at=2.0))
                for n in range(3)
                for state in (TaskState.STARTING, TaskState.RUNNING)
            ]
        )
        assert task_row_writes(tmp_path) == 6
        # A removal in between ends the folding: the put after it inserts the task anew.
        store.apply(
            [PutTask(task(0, TaskState.FAILED)), RemoveTask("a/one.0"), PutTask(task(0, TaskState.STAGING))]
        )
        assert task_row_writes(tmp_path) == 8
        assert sorted((t.task_id, t.state) for t in store.load().tasks) == [
            ("a/one.0", TaskState.STAGING), ("a/one.1", TaskState.RUNNING), ("a/one.2", TaskState.RUNNING),
        ]  # fmt: skip


def test_every_terminal_put_counts_towards_pruning_even_when_folded(tmp_path: Path) -> None:
    # keep 20, prune after every 2 terminal records written: 21 terminal tasks, pruned to 20 at once.
    with opened(tmp_path) as store:
        store.apply([PutTask(task(n, TaskState.FINISHED, at=float(n))) for n in range(21)])
    options = SqliteOptions(keep_terminal_tasks=20)
    store = SqliteStore.open(tmp_path, options)
    try:
        assert len(store.load().tasks) == 20  # opening prunes
        store.apply([PutTask(task(100, TaskState.FINISHED, at=100.0))])
        assert len(store.load().tasks) == 21  # one terminal record written: below the cadence
        # Two terminal puts of one task, folded into one row, still count twice: the prune runs.
        store.apply(
            [PutTask(task(101, TaskState.FAILED, at=101.0)), PutTask(task(101, TaskState.FAILED, at=102.0))]
        )
        tasks = sorted(store.load().tasks, key=lambda t: t.updated_at)
        assert len(tasks) == 20
        assert (tasks[0].updated_at, tasks[-1].updated_at) == (3.0, 102.0)
    finally:
        store.close()
