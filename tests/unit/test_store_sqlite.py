"""SqliteStore: schema migrations, each kind of change, retention, locking and WAL readers."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.core.events import TERMINAL_STATES, TaskState
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
from framework.state.sqlite import DB_FILENAME, MIGRATIONS, SqliteOptions, SqliteStore
from framework.state.store import ConflictingChange, SchemaTooNew, Store, StoreClosed, StoreError, StoreLocked

APP = "shop/web"


def version(v: str, app: str = APP, spec: str | None = None) -> AppVersionRecord:
    return AppVersionRecord(
        app_id=app, version=v, spec=spec or f'{{"cmd": "run {v}"}}', created_at=float(len(v))
    )


def task(
    n: int, state: TaskState = TaskState.RUNNING, app: str = APP, v: str = "v1", at: float = 100.0
) -> TaskRecord:
    return TaskRecord(
        task_id=f"{app}.{n}",
        app_id=app,
        version=v,
        slot=n,
        state=state,
        updated_at=at,
        agent_id=f"agent-{n % 3}",
    )


def event(i: int, app: str | None = APP) -> AppendEvent:
    return AppendEvent(EventRecord(ts=float(i), kind="task_update", payload=f'{{"i": {i}}}', app_id=app))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore.open(tmp_path)
    yield s
    s.close()


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A second, independent, read-only connection to inspect the file the store wrote."""
    conn = sqlite3.connect(f"file:{path / DB_FILENAME}?mode=ro", uri=True, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def applied_migrations(path: Path) -> list[tuple[int, str, float]]:
    with raw(path) as conn:
        return conn.execute(
            "SELECT version, description, applied_at FROM schema_version ORDER BY version"
        ).fetchall()


# --- opening, migrations -----------------------------------------------------------------------


def test_open_empty_dir_applies_every_migration_in_wal_with_full_sync(tmp_path: Path) -> None:
    store: Store = SqliteStore.open(tmp_path / "new" / "dir")  # also: SqliteStore satisfies Store
    assert isinstance(store, SqliteStore)
    assert store.schema_version() == len(MIGRATIONS)
    assert [(v, d) for v, d, _ in applied_migrations(tmp_path / "new" / "dir")] == [
        (i + 1, d) for i, (d, _) in enumerate(MIGRATIONS)
    ]
    conn = store._live()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # 2 = FULL
    assert store.load().framework_id is None
    store.close()


def test_reopen_keeps_data_and_does_not_rerun_migrations(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    store.apply([SetFrameworkId("fw-1"), PutAppVersion(version("v1")), PutTask(task(0))])
    before = store.load()
    store.close()
    migrations = applied_migrations(tmp_path)
    for _ in range(2):
        store = SqliteStore.open(tmp_path)
        assert store.load() == before
        store.close()
    assert applied_migrations(tmp_path) == migrations  # same rows, same applied_at


def test_a_new_migration_runs_once_on_an_existing_file(tmp_path: Path) -> None:
    runs: list[int] = []

    def add_notes(conn: sqlite3.Connection) -> None:
        runs.append(1)
        conn.execute("CREATE TABLE notes (text TEXT)")

    SqliteStore.open(tmp_path).close()
    newer = (*MIGRATIONS, ("add notes", add_notes))
    for _ in range(2):
        store = SqliteStore.open(tmp_path, migrations=newer)
        assert store.schema_version() == len(MIGRATIONS) + 1
        store.close()
    assert runs == [1]


def test_a_failing_migration_leaves_the_previous_schema_intact(tmp_path: Path) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")

    SqliteStore.open(tmp_path).close()
    with pytest.raises(RuntimeError, match="migration bug"):
        SqliteStore.open(tmp_path, migrations=(*MIGRATIONS, ("broken", broken)))
    with raw(tmp_path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables
    store = SqliteStore.open(tmp_path)  # and the failed open released the directory lock
    assert store.schema_version() == len(MIGRATIONS)
    store.close()


def test_a_file_from_a_newer_gantry_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    def future(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE from_the_future (x)")

    SqliteStore.open(tmp_path, migrations=(*MIGRATIONS, ("future", future))).close()
    n = len(MIGRATIONS)
    with pytest.raises(SchemaTooNew, match=rf"schema version {n + 1}.*only up to version {n}.*newer Gantry"):
        SqliteStore.open(tmp_path)
    assert len(applied_migrations(tmp_path)) == n + 1  # untouched


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"this is not an sqlite file" * 100)
    with pytest.raises(StoreError, match=rf"cannot open .*{DB_FILENAME}.*not a database"):
        SqliteStore.open(tmp_path)


def test_a_second_open_of_the_same_dir_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = SqliteStore.open(tmp_path)
    with pytest.raises(StoreLocked, match=r"in use by another Gantry process \(pid \d+\)"):
        SqliteStore.open(tmp_path)
    first.close()
    SqliteStore.open(tmp_path).close()


def test_a_closed_store_refuses_calls_and_close_is_idempotent(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    store.close()
    store.close()
    with pytest.raises(StoreClosed):
        store.apply([SetFrameworkId("x")])
    with pytest.raises(StoreClosed):
        store.load()
    with pytest.raises(StoreClosed):
        store.ping()


def test_options_reject_zero_bounds() -> None:
    with pytest.raises(ValueError, match="keep_events must be >= 1"):
        SqliteOptions(keep_events=0)


# --- framework id, apps and versions -----------------------------------------------------------


def test_framework_id_is_stored_and_replaced(store: SqliteStore) -> None:
    store.apply([SetFrameworkId("fw-1")])
    store.apply([SetFrameworkId("fw-2")])
    assert store.load().framework_id == "fw-2"


def test_versions_form_a_history_and_the_last_put_is_current(store: SqliteStore) -> None:
    store.apply([PutAppVersion(version("v1"))])
    store.apply([PutAppVersion(version("v2")), PutAppVersion(version("v3"))])
    assert [v.version for v in store.app_versions(APP)] == ["v1", "v2", "v3"]
    assert store.load().apps == {APP: version("v3")}
    assert store.app_versions("other/app") == []


def test_putting_a_stored_version_again_moves_the_pointer_without_duplicating(store: SqliteStore) -> None:
    store.apply([PutAppVersion(version("v1")), PutAppVersion(version("v2"))])
    store.apply([PutAppVersion(version("v1"))])  # a rollback to v1
    assert [v.version for v in store.app_versions(APP)] == ["v1", "v2"]
    assert store.load().apps[APP].version == "v1"


def test_a_version_not_made_current_joins_the_history_only(store: SqliteStore) -> None:
    store.apply([PutAppVersion(version("v1")), PutAppVersion(version("v2"), make_current=False)])
    assert store.load().apps[APP].version == "v1"
    assert [v.version for v in store.app_versions(APP)] == ["v1", "v2"]


def test_a_different_spec_under_a_stored_version_rejects_the_whole_batch(store: SqliteStore) -> None:
    store.apply([PutAppVersion(version("v1"))])
    with pytest.raises(ConflictingChange, match="'shop/web' version 'v1' is already stored"):
        store.apply([PutTask(task(0)), PutAppVersion(version("v1", spec='{"cmd": "else"}'))])
    assert store.load().tasks == []  # the task put before the conflict was rolled back too
    assert store.app_versions(APP) == [version("v1")]


def test_deleting_an_app_keeps_its_history_and_counter_and_it_can_come_back(store: SqliteStore) -> None:
    store.apply([PutAppVersion(version("v1")), AdvanceTaskCounter(APP, 7), PutTask(task(0))])
    store.apply([DeleteApp(APP, deleted_at=50.0), DeleteApp("never/existed", deleted_at=50.0)])
    snap = store.load()
    assert snap.apps == {}
    assert snap.task_counters == {APP: 7}
    assert [t.task_id for t in snap.tasks] == [f"{APP}.0"]  # still running until the driver kills it
    assert snap.versions == [version("v1")]  # its spec, needed to kill it gracefully
    assert [v.version for v in store.app_versions(APP)] == ["v1"]
    store.apply([PutAppVersion(version("v2"))])
    assert store.load().apps == {APP: version("v2")}
    assert [v.version for v in store.app_versions(APP)] == ["v1", "v2"]


def test_history_is_bounded_but_keeps_versions_still_in_use(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path, SqliteOptions(keep_versions=3))
    store.apply([PutAppVersion(version("v1")), PutTask(task(0, v="v1"))])
    deploy = DeploymentRecord(
        "d1", APP, from_version="v2", to_version="v3", state="running", created_at=1, updated_at=1
    )
    store.apply([PutAppVersion(version(v)) for v in ("v2", "v3")] + [PutDeployment(deploy)])
    store.apply([PutAppVersion(version(v)) for v in ("v4", "v5", "v6", "v7")])
    # Newest three (v5..v7), plus v1 (a task runs it) and v2, v3 (the active deployment names them).
    assert [v.version for v in store.app_versions(APP)] == ["v1", "v2", "v3", "v5", "v6", "v7"]
    snap = store.load()
    assert sorted(v.version for v in snap.versions) == ["v1", "v2", "v3", "v7"]
    store.apply([PutDeployment(dataclasses.replace(deploy, finished_at=9.0)), RemoveTask(f"{APP}.0")])
    store.apply([PutAppVersion(version("v8"))])
    assert [v.version for v in store.app_versions(APP)] == ["v6", "v7", "v8"]
    store.close()


# --- tasks and counters ------------------------------------------------------------------------


def test_a_task_round_trips_every_field(store: SqliteStore) -> None:
    full = TaskRecord(
        task_id="shop/web.12", app_id=APP, version="2024-01-01T00:00:00Z", slot=3, state=TaskState.RUNNING,
        updated_at=1700000000.25, agent_id="a-1", hostname="10.0.0.1", ports=(31000, 31001), healthy=False,
        reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", message="health check failed",
        started_at=1699999999.5, status_uuid=bytes(range(16)),
    )  # fmt: skip
    bare = TaskRecord(
        task_id="shop/web.13", app_id=APP, version="v", slot=0, state=TaskState.STAGING, updated_at=1.0
    )
    healthy = TaskRecord(task_id="shop/web.14", app_id=APP, version="v", slot=1, state=TaskState.RUNNING,
                         updated_at=1.0, healthy=True)  # fmt: skip
    store.apply([PutTask(full), PutTask(bare), PutTask(healthy)])
    assert sorted(store.load().tasks, key=lambda t: t.task_id) == [full, bare, healthy]


def test_later_puts_replace_and_removes_forget_in_batch_order(store: SqliteStore) -> None:
    store.apply(
        [PutTask(task(0, TaskState.STAGING)), PutTask(task(1)), PutTask(task(0, TaskState.RUNNING, at=101))]
    )
    store.apply([RemoveTask(f"{APP}.1"), PutTask(task(1, TaskState.STARTING)), RemoveTask("no/such.task")])
    store.apply([PutTask(task(2)), RemoveTask(f"{APP}.2")])
    tasks = sorted(store.load().tasks, key=lambda t: t.task_id)
    assert [(t.task_id, t.state, t.updated_at) for t in tasks] == [
        (f"{APP}.0", TaskState.RUNNING, 101.0),
        (f"{APP}.1", TaskState.STARTING, 100.0),
    ]


def test_stored_task_columns_hold_state_text_terminal_flag_and_ports_for_every_state(
    store: SqliteStore,
) -> None:
    # The row builder takes shortcuts (state text off the enum's value, a table for the terminal
    # flag, one port without a join); the columns must still be exactly what load and pruning read.
    shapes: list[tuple[int, ...]] = [(), (31000,), (31000, 31001, 31002)]
    records = [
        dataclasses.replace(task(n, state), ports=shapes[n % 3], healthy=[None, True, False][n % 3])
        for n, state in enumerate(TaskState)
    ]
    store.apply([PutTask(r) for r in records])
    with raw(store.path.parent) as conn:
        rows = conn.execute(
            "SELECT task_id, state, terminal, ports, healthy FROM tasks ORDER BY rowid"
        ).fetchall()
    assert rows == [
        (r.task_id, r.state.value, int(r.state in TERMINAL_STATES), ",".join(map(str, r.ports)),
         None if r.healthy is None else int(r.healthy))
        for r in records
    ]  # fmt: skip
    assert sorted(store.load().tasks, key=lambda t: t.slot) == records
    # Empty columns are bound as NaN for speed; they must be stored as real NULLs, and a uuid as a BLOB.
    empty = dataclasses.replace(task(90, TaskState.STAGING), agent_id=None)
    uuid = dataclasses.replace(task(91, TaskState.RUNNING), reason="R", message="", started_at=2.5,
                               status_uuid=bytes(16))  # fmt: skip
    store.apply([PutTask(empty), PutTask(uuid)])
    with raw(store.path.parent) as conn:
        types = conn.execute(
            "SELECT typeof(agent_id), typeof(healthy), typeof(reason), typeof(message), typeof(started_at),"
            " typeof(status_uuid) FROM tasks WHERE slot >= 90 ORDER BY slot"
        ).fetchall()
    assert types == [("null",) * 6, ("text", "null", "text", "text", "real", "blob")]
    assert {t.task_id: t for t in store.load().tasks}[uuid.task_id] == uuid


def test_task_counter_only_grows_including_across_reopen(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    store.apply([AdvanceTaskCounter(APP, 5), AdvanceTaskCounter("other", 1)])
    store.apply([AdvanceTaskCounter(APP, 3)])  # a stale value never lowers it
    assert store.load().task_counters == {APP: 5, "other": 1}
    store.close()
    store = SqliteStore.open(tmp_path)
    assert store.load().task_counters == {APP: 5, "other": 1}
    store.apply([AdvanceTaskCounter(APP, 7)])
    assert store.load().task_counters[APP] == 7
    store.close()


def test_terminal_tasks_are_pruned_oldest_first_live_ones_never(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path, SqliteOptions(keep_terminal_tasks=5))
    store.apply([PutTask(task(n, TaskState.RUNNING)) for n in range(3)])
    for n in range(3, 23):  # 20 terminal tasks, updated_at 3..22
        store.apply([PutTask(task(n, TaskState.FAILED, at=float(n)))])
    ids = {t.task_id for t in store.load().tasks}
    assert ids == {f"{APP}.{n}" for n in [0, 1, 2, 18, 19, 20, 21, 22]}


# --- deployments -------------------------------------------------------------------------------


def test_deployments_are_upserted_listed_newest_first_and_only_active_ones_load(store: SqliteStore) -> None:
    def deployment(i: int, app: str = APP, finished: float | None = None) -> DeploymentRecord:
        return DeploymentRecord(
            deployment_id=f"d{i}", app_id=app, from_version=None if i == 0 else f"v{i}",
            to_version=f"v{i + 1}",
            state="done" if finished else "running", created_at=float(i), updated_at=float(i),
            finished_at=finished, details=f'{{"step": {i}}}',
        )  # fmt: skip

    store.apply(
        [PutDeployment(deployment(0)), PutDeployment(deployment(1)), PutDeployment(deployment(2, "b"))]
    )
    store.apply([PutDeployment(deployment(0, finished=5.0))])
    assert store.load().deployments == [deployment(1), deployment(2, "b")]
    assert store.deployments(APP) == [deployment(1), deployment(0, finished=5.0)]
    assert store.deployments() == [deployment(2, "b"), deployment(1), deployment(0, finished=5.0)]
    assert store.deployments(limit=1) == [deployment(2, "b")]
    assert store.deployment("d0") == deployment(0, finished=5.0)
    assert store.deployment("nope") is None


# --- event log ---------------------------------------------------------------------------------


def test_events_are_appended_in_order_and_queried_by_seq_and_app(store: SqliteStore) -> None:
    store.apply([event(1), event(2, app="other"), event(3), event(4, app=None)])
    assert [e.seq for e in store.events()] == [1, 2, 3, 4]
    assert store.events()[0] == EventRecord(ts=1.0, kind="task_update", payload='{"i": 1}', app_id=APP, seq=1)
    assert [e.seq for e in store.events(after_seq=2)] == [3, 4]
    assert [e.seq for e in store.events(limit=2)] == [1, 2]
    assert [e.seq for e in store.events(app_id=APP)] == [1, 3]
    assert store.load().last_event_seq == 4


def test_event_log_keeps_the_newest_and_never_reuses_a_seq(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path, SqliteOptions(keep_events=10))
    for i in range(1, 26):
        store.apply([event(i)])
    assert [e.seq for e in store.events()] == list(range(16, 26))
    store.apply([event(i) for i in range(26, 56)])  # one batch bigger than the bound
    assert [e.seq for e in store.events()] == list(range(46, 56))
    store.close()
    store = SqliteStore.open(tmp_path, SqliteOptions(keep_events=10))
    store.apply([event(56)])
    assert store.events()[-1].seq == 56
    assert store.load().last_event_seq == 56
    store.close()


def test_event_pruning_is_occasional_and_bounded(tmp_path: Path) -> None:
    # keep 50: prune every 5 events, so once full the log holds between 50 and 54 rows.
    store = SqliteStore.open(tmp_path, SqliteOptions(keep_events=50))
    sizes = []
    for i in range(1, 121):
        store.apply([event(i)])
        sizes.append(len(store.events(limit=1000)))
    assert max(sizes) == 54
    assert min(sizes[60:]) == 50
    assert sizes[:50] == list(range(1, 51))
    store.close()


# --- batches, atomicity, concurrency -----------------------------------------------------------


def test_an_empty_batch_is_a_no_op_and_ping_writes(store: SqliteStore) -> None:
    store.apply([])
    store.ping()
    store.ping()
    assert store.load().tasks == []


def test_a_failed_batch_applies_nothing(store: SqliteStore) -> None:
    bad = dataclasses.replace(task(1), slot=object())  # type: ignore[arg-type]  # SQLite cannot bind it
    batch: list[Change] = [SetFrameworkId("fw"), event(1), PutTask(task(0)), PutTask(bad)]
    with pytest.raises(StoreError, match=DB_FILENAME):
        store.apply(batch)
    snap = store.load()
    assert (snap.framework_id, snap.tasks, snap.last_event_seq) == (None, [], 0)
    store.apply([PutTask(task(1))])  # and the store is still usable
    assert len(store.load().tasks) == 1


def test_a_reader_sees_whole_batches_only_and_never_blocks_the_writer(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    store.apply([PutTask(task(0))])
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            with raw(tmp_path) as conn:
                while not done.is_set():
                    seen.append(conn.execute("SELECT count(*) FROM tasks").fetchone()[0])
        except BaseException as exc:
            errors.append(exc)

    # First: a reader inside an open read transaction keeps its snapshot while the writer commits.
    with raw(tmp_path) as conn:
        conn.execute("BEGIN")
        assert conn.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
        store.apply([PutTask(task(1))])
        assert conn.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
        conn.execute("COMMIT")
        assert conn.execute("SELECT count(*) FROM tasks").fetchone() == (2,)
    # Then: a reader polling while batches of 50 commit only ever sees a whole number of batches.
    reader = threading.Thread(target=read)
    reader.start()
    for b in range(40):
        store.apply([PutTask(task(1000 + b * 50 + i)) for i in range(50)])
    done.set()
    reader.join()
    store.close()
    assert errors == []
    assert seen and all((n - 2) % 50 == 0 for n in seen)
    assert seen == sorted(seen)


def random_batch(rng: random.Random, size: int) -> list[Change]:
    """A mix of every kind of change over a few keys, so that they collide often."""
    apps = ["a/one", "a/two"]
    out: list[Change] = []
    for i in range(size):
        app = rng.choice(apps)
        kind = rng.randrange(8)
        if kind <= 1:
            state = rng.choice([TaskState.STAGING, TaskState.RUNNING, TaskState.FAILED])
            out.append(PutTask(task(rng.randrange(6), state, app=app, at=float(i))))
        elif kind == 2:
            out.append(RemoveTask(f"{app}.{rng.randrange(6)}"))
        elif kind == 3:
            out.append(event(i, app))
        elif kind == 4:
            out.append(AdvanceTaskCounter(app, rng.randrange(20)))
        elif kind == 5:
            v = f"v{rng.randrange(3)}"
            out.append(
                PutAppVersion(version(v, app=app, spec=f'{{"v": "{v}"}}'), make_current=rng.random() < 0.8)
            )
        elif kind == 6:
            out.append(DeleteApp(app, deleted_at=float(i)))
        else:
            d = DeploymentRecord(f"d{rng.randrange(3)}", app, None, "v1", "running", float(i), float(i))
            choices: list[Change] = [PutDeployment(d), SetFrameworkId(f"fw-{i}")]
            out.append(rng.choice(choices))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_one_batch_leaves_the_same_state_as_its_changes_applied_one_by_one(tmp_path: Path, seed: int) -> None:
    changes = random_batch(random.Random(seed), 60)
    batched, single = SqliteStore.open(tmp_path / "batched"), SqliteStore.open(tmp_path / "single")
    batched.apply(changes)
    for change in changes:
        single.apply([change])

    def state(store: SqliteStore) -> object:
        snap = store.load()
        return (
            dataclasses.replace(snap, tasks=sorted(snap.tasks, key=lambda t: t.task_id)),
            store.events(),
            [store.app_versions(app) for app in ("a/one", "a/two")],
            store.deployments(),
        )

    assert state(batched) == state(single)
    batched.close()
    single.close()
