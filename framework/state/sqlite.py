"""SqliteStore: the embedded default Store, one SQLite file in the data directory.

Role: keeps Gantry's durable state (framework id, app versions, tasks, task counters, deployments,
event log) in `<data-dir>/gantry.db`. Caller: the composition root, through `aio.AsyncStore`, which
opens it on, and confines it to, one dedicated thread; tests use it directly. It must not be shared
across threads (the sqlite3 connection keeps check_same_thread on), must not be opened by two
processes at once (a flock on `<data-dir>/gantry.lock` refuses the second), and no SQL or sqlite3
type leaves this module.

Durability: WAL journal with synchronous=FULL, so COMMIT returns only after the WAL is fsynced; a
SIGKILL or a power cut after `apply` returned loses nothing, and a crash inside `apply` leaves none
of that batch behind (SQLite rolls the torn transaction back on the next open). Every write runs in
BEGIN IMMEDIATE, so a batch takes the write lock up front and never fails half-way on a busy lock.

Writes: a batch is regrouped per table into runs of one statement (_Runs); within a run of task
puts only the last put of each task is written, in the place of its first, and task rows go out
as multi-row upserts. Both leave exactly the tables that applying the changes one by one would
(tests/unit/test_store_batch_props.py compares them row by row, rowids included).

Schema: versioned migrations. `schema_version` has one row per applied migration; at open, the
missing ones run in order inside the same transaction that records them, so a crash mid-migration
leaves the previous version intact. A file written by a newer Gantry (more migrations than this
code knows) is refused with SchemaTooNew rather than misread.

Retention: the event log keeps the newest `keep_events` rows, terminal task records the newest
`keep_terminal_tasks`, app histories the newest `keep_versions` per app (plus any version still
current, used by a stored task or by an active deployment). Pruning runs inside a write transaction
every tenth of the bound, so tables overshoot their bound by at most ten percent between prunes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never

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
    Snapshot,
    TaskRecord,
)
from framework.state.store import (
    ConflictingChange,
    SchemaTooNew,
    StoreClosed,
    StoreError,
    StoreLocked,
)

DB_FILENAME = "gantry.db"
LOCK_FILENAME = "gantry.lock"

Migration = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class SqliteOptions:
    keep_events: int = 100_000
    keep_terminal_tasks: int = 10_000
    keep_versions: int = 100
    busy_timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        for name in ("keep_events", "keep_terminal_tasks", "keep_versions"):
            if getattr(self, name) < 1:
                raise ValueError(f"SqliteOptions.{name} must be >= 1")


# --- Migrations. Append only: never edit one that has shipped; add the next instead. ---


def _migration_1_initial(conn: sqlite3.Connection) -> None:
    statements = [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        # current_version NULL with deleted_at set: the app was deleted; its history stays.
        "CREATE TABLE apps (app_id TEXT PRIMARY KEY, current_version TEXT, deleted_at REAL) WITHOUT ROWID",
        # seq orders an app's history by insertion, independent of how versions are spelled.
        "CREATE TABLE app_versions (seq INTEGER PRIMARY KEY, app_id TEXT NOT NULL, version TEXT NOT NULL,"
        " spec TEXT NOT NULL, created_at REAL NOT NULL, UNIQUE (app_id, version))",
        "CREATE TABLE task_counters (app_id TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        # Columns in TaskRecord field order (load builds records positionally); `terminal` is derived
        # from state so pruning can find old terminal records through a small partial index.
        # A rowid table on purpose (not WITHOUT ROWID keyed by task_id): rows sit in insertion
        # order, so the status updates of tasks launched together rewrite a few adjacent pages
        # instead of one page per task; with upserts in place that measured 3x the write rate.
        "CREATE TABLE tasks (rowid INTEGER PRIMARY KEY, task_id TEXT NOT NULL UNIQUE, app_id TEXT NOT NULL,"
        " version TEXT NOT NULL, slot INTEGER NOT NULL, state TEXT NOT NULL, updated_at REAL NOT NULL,"
        " agent_id TEXT, hostname TEXT, ports TEXT NOT NULL, healthy INTEGER, reason TEXT, message TEXT,"
        " started_at REAL, status_uuid BLOB, terminal INTEGER NOT NULL)",
        "CREATE INDEX tasks_terminal_by_age ON tasks (updated_at) WHERE terminal = 1",
        "CREATE TABLE deployments (deployment_id TEXT PRIMARY KEY, app_id TEXT NOT NULL,"
        " from_version TEXT, to_version TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL,"
        " updated_at REAL NOT NULL, finished_at REAL, details TEXT NOT NULL)",
        "CREATE INDEX deployments_by_app ON deployments (app_id, created_at)",
        "CREATE INDEX deployments_active ON deployments (created_at) WHERE finished_at IS NULL",
        # AUTOINCREMENT: seq is never reused, even once pruning has emptied the low end, because
        # SSE clients resume from the last seq they saw.
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, kind TEXT NOT NULL,"
        " payload TEXT NOT NULL, app_id TEXT, task_id TEXT, deployment_id TEXT)",
    ]
    for statement in statements:
        conn.execute(statement)


MIGRATIONS: Sequence[tuple[str, Migration]] = (("initial schema", _migration_1_initial),)


# --- Statements used by apply. Column lists mirror the record dataclasses. ---

# An upsert, not INSERT OR REPLACE: REPLACE deletes and re-inserts, moving the row to a new rowid.
_PUT_TASK = (
    "INSERT INTO tasks (task_id, app_id, version, slot, state, updated_at, agent_id, hostname,"
    " ports, healthy, reason, message, started_at, status_uuid, terminal)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET"
    " app_id = excluded.app_id, version = excluded.version, slot = excluded.slot, state = excluded.state,"
    " updated_at = excluded.updated_at, agent_id = excluded.agent_id, hostname = excluded.hostname,"
    " ports = excluded.ports, healthy = excluded.healthy, reason = excluded.reason,"
    " message = excluded.message, started_at = excluded.started_at, status_uuid = excluded.status_uuid,"
    " terminal = excluded.terminal"
)
_REMOVE_TASK = "DELETE FROM tasks WHERE task_id = ?"
_RECORD_EVENT = (
    "INSERT INTO events (ts, kind, payload, app_id, task_id, deployment_id) VALUES (?, ?, ?, ?, ?, ?)"
)
_ADVANCE_COUNTER = (
    "INSERT INTO task_counters (app_id, value) VALUES (?, ?)"
    " ON CONFLICT (app_id) DO UPDATE SET value = max(value, excluded.value)"
)
_PUT_DEPLOYMENT = (
    "INSERT OR REPLACE INTO deployments (deployment_id, app_id, from_version, to_version, state,"
    " created_at, updated_at, finished_at, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_FRAMEWORK_ID = (
    "INSERT INTO meta (key, value) VALUES ('framework_id', ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE_APP = "UPDATE apps SET current_version = NULL, deleted_at = ? WHERE app_id = ?"
_MAKE_CURRENT = (
    "INSERT INTO apps (app_id, current_version, deleted_at) VALUES (?, ?, NULL)"
    " ON CONFLICT (app_id) DO UPDATE SET current_version = excluded.current_version, deleted_at = NULL"
)
# Versions of one app older than its newest `keep_versions`, except any still needed to run or
# roll back what exists: the current one, one a stored task runs, one an active deployment names.
_PRUNE_VERSIONS = (
    "DELETE FROM app_versions WHERE app_id = :app AND seq <= (SELECT seq FROM app_versions"
    " WHERE app_id = :app ORDER BY seq DESC LIMIT 1 OFFSET :keep)"
    " AND version IS NOT (SELECT current_version FROM apps WHERE app_id = :app)"
    " AND version NOT IN (SELECT version FROM tasks WHERE app_id = :app)"
    " AND version NOT IN (SELECT from_version FROM deployments WHERE app_id = :app"
    " AND finished_at IS NULL AND from_version IS NOT NULL)"
    " AND version NOT IN (SELECT to_version FROM deployments WHERE app_id = :app AND finished_at IS NULL)"
)
_PRUNE_EVENTS = "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?"
_PRUNE_TERMINAL_TASKS = (
    "DELETE FROM tasks WHERE task_id IN (SELECT task_id FROM tasks WHERE terminal = 1"
    " ORDER BY updated_at DESC LIMIT -1 OFFSET ?)"
)

_TASK_COLUMNS = (
    "task_id, app_id, version, slot, state, updated_at, agent_id, hostname, ports, healthy, reason,"
    " message, started_at, status_uuid"
)
_DEPLOYMENT_COLUMNS = (
    "deployment_id, app_id, from_version, to_version, state, created_at, updated_at, finished_at, details"
)

Row = tuple[object, ...]
# A tasks row, in column order. The nullable columns a task record usually leaves empty carry _NULL
# instead of None; see _task_row.
TaskRow = tuple[
    str, str, str, int, str, float, str | None, str | None, str, int | float, str | float, str | float,
    float, bytearray | float, int,
]  # fmt: skip


# The stored state text and `terminal` column of each state, keyed by the state's string value:
# `state._value_` is a plain attribute holding an exact str, while `state.value` (an enum property)
# and hashing the member itself (Enum.__hash__ is Python code) cost more than the rest of the row.
_TERMINAL_COLUMN: dict[str, int] = {state.value: int(state in TERMINAL_STATES) for state in TaskState}

# Binds as SQL NULL, like None, for a tenth of the cost. Python's sqlite3 binds int, float, str and
# bytearray directly but sends every other value (None, bytes, bool) through its adapter lookup,
# about 0.3 us for None and 0.6 us for bytes, which for a task record with three to five empty
# columns and a status uuid was a third of the whole INSERT. SQLite has no NaN value and stores a
# bound NaN as NULL, so the stored row is exactly the same (test_store_sqlite checks the column
# types); a NaN time in a record would have been stored as NULL by the generic binding too.
_NULL = float("nan")


def _task_row(task: TaskRecord) -> TaskRow:
    # Runs for every stored task record (three per launched task), hence the shortcuts: one port
    # (the common case) skips the join, the terminal flag comes from the table above, and the
    # columns that are often empty bind _NULL, the uuid a bytearray (same BLOB, no adapter).
    state: str = task.state._value_
    ports = task.ports
    healthy = task.healthy
    reason = task.reason
    message = task.message
    started_at = task.started_at
    status_uuid = task.status_uuid
    return (
        task.task_id, task.app_id, task.version, task.slot, state, task.updated_at, task.agent_id,
        task.hostname, str(ports[0]) if len(ports) == 1 else ",".join(map(str, ports)),
        _NULL if healthy is None else int(healthy), _NULL if reason is None else reason,
        _NULL if message is None else message, _NULL if started_at is None else started_at,
        _NULL if status_uuid is None else bytearray(status_uuid), _TERMINAL_COLUMN[state],
    )  # fmt: skip


def _deployment_row(d: DeploymentRecord) -> Row:
    return (
        d.deployment_id, d.app_id, d.from_version, d.to_version, d.state, d.created_at, d.updated_at,
        d.finished_at, d.details,
    )  # fmt: skip


# A dict lookup, not TaskState(name): this runs for every task on a restart (100,000 and more).
_STATES: dict[str, TaskState] = {state.value: state for state in TaskState}


def _ports(text: str) -> tuple[int, ...]:
    # Ports are stored as "31000,31001": splitting is a third of the cost of json.loads, which
    # was the largest single item in load() for 100,000 tasks.
    return tuple(map(int, text.split(","))) if text else ()


def _task_from_row(row: Any) -> TaskRecord:
    # Positional construction in column order: this runs 100,000 times on a large restart.
    (task_id, app_id, version, slot, state, updated_at, agent_id, hostname, ports, healthy, reason,
     message, started_at, status_uuid) = row  # fmt: skip
    try:
        task_state = _STATES[state]
    except KeyError:
        raise StoreError(f"task {task_id!r} has unknown state {state!r} in the store") from None
    return TaskRecord(
        task_id, app_id, version, slot, task_state, updated_at, agent_id, hostname, _ports(ports),
        None if healthy is None else bool(healthy), reason, message, started_at, status_uuid,
    )  # fmt: skip


def _deployment_from_row(row: Any) -> DeploymentRecord:
    return DeploymentRecord(*row)


def _version_from_row(row: Any) -> AppVersionRecord:
    return AppVersionRecord(*row)


# The table each batched statement writes. Statements on different tables commute (no triggers,
# no foreign keys), which is what lets _Runs regroup a batch by table.
_TABLE_OF: dict[str, str] = {
    _PUT_TASK: "tasks",
    _REMOVE_TASK: "tasks",
    _RECORD_EVENT: "events",
    _ADVANCE_COUNTER: "task_counters",
    _PUT_DEPLOYMENT: "deployments",
    _SET_FRAMEWORK_ID: "meta",
    _DELETE_APP: "apps",
}


class _Runs:
    """Sends a batch's statements to SQLite in as few executemany calls as order allows.

    Writes are queued per table; each table's queue is a list of runs of consecutive equal
    statements, each run going out as one executemany at flush. So a launch batch (task, counter,
    event, task, counter, event ...) becomes three calls instead of three per task, while the order
    of writes within each table (a put then a remove of one task; events and their seq order) is
    exactly the batch order. Tables do not interact, so the result is the same as executing the
    batch one change at a time.

    A run of _PUT_TASK holds TaskRecords, and only the last put of each task in it is written, in
    the place of its first: within one transaction only the last put's row survives the COMMIT,
    and a task's status updates (STARTING, RUNNING) nearly always share a batch, so writing every
    put cost one row write per task for nothing. The result is exactly that of writing every put:
    the run holds no other statement on the tasks table, a task's row is inserted (given its rowid)
    by its first put and only updated in place by later ones, and nothing reads the table between
    the puts of one run (a PutAppVersion, whose version pruning reads it, flushes the runs first).
    The rows then go out as multi-row statements (`_put_tasks`).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._queues: dict[str, list[tuple[str, list[Any]]]] = {}

    def rows(self, sql: str) -> list[Any]:
        """The list to append rows of `sql` to: its table's last run if that run is of `sql`.

        The list stays valid for appending until another statement on the same table is added or
        the runs are flushed, which is what lets `_write` append task records without a call each."""
        queue = self._queues.setdefault(_TABLE_OF[sql], [])
        if not queue or queue[-1][0] != sql:
            queue.append((sql, []))
        return queue[-1][1]

    def add(self, sql: str, row: Row) -> None:
        self.rows(sql).append(row)

    def flush(self) -> None:
        executemany = self._conn.executemany
        for queue in self._queues.values():
            for sql, rows in queue:
                if sql is _PUT_TASK:
                    # A dict keeps a key at its first insertion and the value of its last.
                    _put_tasks(self._conn, list({record.task_id: record for record in rows}.values()))
                else:
                    executemany(sql, rows)
        self._queues = {}


# Task rows go out as multi-row upserts, INSERT ... VALUES (...), (...) ... ON CONFLICT: per row,
# executemany's round trip (reset, step, changes count, the next parameters) cost about as much as
# the upsert itself; 64 rows per statement measured 11% fewer instructions per launched task than
# one row per execution, and longer statements (256, 1024 rows) no fewer. SQLite inserts the rows
# of a VALUES list one after the other, each resolving its own conflict, exactly as executing the
# one-row statement once per row in the same order. Chunks of 64, then 8, then single rows, so the
# connection's statement cache holds three task statements whatever the batch sizes.
_PUT_TASK_CHUNKS = (64, 8)
_ONE_TASK_VALUES = " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_PUT_TASK_HEAD, _, _PUT_TASK_TAIL = _PUT_TASK.partition(_ONE_TASK_VALUES)
_PUT_TASKS = {
    n: f"{_PUT_TASK_HEAD} VALUES {', '.join([_ONE_TASK_VALUES[8:]] * n)}{_PUT_TASK_TAIL}"
    for n in _PUT_TASK_CHUNKS
}


def _put_tasks(conn: sqlite3.Connection, records: list[TaskRecord]) -> None:
    """Upsert the records' rows in list order (see _PUT_TASK_CHUNKS)."""
    execute = conn.execute
    done, count = 0, len(records)
    for size in _PUT_TASK_CHUNKS:
        sql = _PUT_TASKS[size]
        while count - done >= size:
            params: list[object] = []
            extend = params.extend
            for record in records[done : done + size]:
                extend(_task_row(record))
            execute(sql, params)
            done += size
    if done < count:
        conn.executemany(_PUT_TASK, map(_task_row, records[done:]))


class SqliteStore:
    """The Store protocol on `<data-dir>/gantry.db`. Build it with `SqliteStore.open`."""

    def __init__(self, conn: sqlite3.Connection, lock_fd: int, path: Path, options: SqliteOptions) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._lock_fd = lock_fd
        self._path = path
        self._options = options
        # Writes since the last prune; kept in memory only, and updated after COMMIT succeeded.
        self._events_since_prune = 0
        self._terminal_since_prune = 0

    @classmethod
    def open(
        cls,
        data_dir: Path,
        options: SqliteOptions | None = None,
        *,
        migrations: Sequence[tuple[str, Migration]] = MIGRATIONS,
    ) -> SqliteStore:
        """Lock the data directory, open (creating if needed) its database and migrate it.

        `migrations` exists for tests of the migration machinery; production uses the default.
        Raises StoreLocked if another process has the directory, SchemaTooNew if a newer Gantry
        wrote the file, StoreError for anything else (unreadable directory, not a database ...).
        """
        options = options or SqliteOptions()
        path = data_dir / DB_FILENAME
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {data_dir}: {exc.strerror}") from exc
        lock_fd = lock_data_dir(data_dir)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                path, timeout=options.busy_timeout_seconds, isolation_level=None, check_same_thread=True
            )
            _configure(conn, path)
            _migrate(conn, path, migrations)
            store = cls(conn, lock_fd, path, options)
            store._prune_all()
            return store
        except BaseException as exc:
            if conn is not None:
                conn.close()
            os.close(lock_fd)
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open {path}: {exc}") from exc
            raise

    @property
    def path(self) -> Path:
        return self._path

    def schema_version(self) -> int:
        """The schema version of the open file (diagnostics; not part of the Store protocol)."""
        with self._reading() as conn:
            (version,) = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(version)

    # --- Store protocol ---

    def load(self) -> Snapshot:
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'framework_id'").fetchone()
            tasks = [_task_from_row(r) for r in conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks")]
            counters = dict(conn.execute("SELECT app_id, value FROM task_counters").fetchall())
            deployments = [
                _deployment_from_row(r)
                for r in conn.execute(
                    f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE finished_at IS NULL"
                    " ORDER BY created_at"
                )
            ]
            current = {
                r[0]: _version_from_row(r)
                for r in conn.execute(
                    "SELECT v.app_id, v.version, v.spec, v.created_at FROM apps a JOIN app_versions v"
                    " ON v.app_id = a.app_id AND v.version = a.current_version"
                )
            }
            versions = list(current.values()) + self._referenced_versions(conn, current, tasks, deployments)
            seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return Snapshot(
            framework_id=None if row is None else row[0],
            apps=current,
            versions=versions,
            tasks=tasks,
            task_counters=counters,
            deployments=deployments,
            last_event_seq=0 if seq is None else seq[0],
        )

    def apply(self, changes: Sequence[Change]) -> None:
        if not changes:
            self._live()
            return
        with self._transaction() as conn:
            events, terminal = self._write(conn, changes)
            events += self._events_since_prune
            terminal += self._terminal_since_prune
            if events >= self._prune_every(self._options.keep_events):
                conn.execute(_PRUNE_EVENTS, (self._options.keep_events,))
                events = 0
            if terminal >= self._prune_every(self._options.keep_terminal_tasks):
                conn.execute(_PRUNE_TERMINAL_TASKS, (self._options.keep_terminal_tasks,))
                terminal = 0
        self._events_since_prune, self._terminal_since_prune = events, terminal

    def app_versions(self, app_id: str) -> list[AppVersionRecord]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT app_id, version, spec, created_at FROM app_versions WHERE app_id = ? ORDER BY seq",
                (app_id,),
            ).fetchall()
        return [_version_from_row(r) for r in rows]

    def deployments(self, app_id: str | None = None, limit: int = 100) -> list[DeploymentRecord]:
        where, params = ("WHERE app_id = ?", (app_id, limit)) if app_id is not None else ("", (limit,))
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments {where}"
                " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                params,
            ).fetchall()
        return [_deployment_from_row(r) for r in rows]

    def deployment(self, deployment_id: str) -> DeploymentRecord | None:
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE deployment_id = ?", (deployment_id,)
            ).fetchone()
        return None if row is None else _deployment_from_row(row)

    def events(self, after_seq: int = 0, limit: int = 1000, app_id: str | None = None) -> list[EventRecord]:
        where, params = ("AND app_id = ?", (after_seq, app_id, limit)) if app_id else ("", (after_seq, limit))
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT ts, kind, payload, app_id, task_id, deployment_id, seq FROM events"
                f" WHERE seq > ? {where} ORDER BY seq LIMIT ?",
                params,
            ).fetchall()
        return [EventRecord(*r) for r in rows]

    def ping(self) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('pings', '1')"
                " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )

    def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.close()  # the last connection to close checkpoints the WAL into the main file
        finally:
            os.close(self._lock_fd)

    # --- internals ---

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosed(f"{self._path} is closed")
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._live()
        with _write_transaction(conn, self._path):
            yield conn

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        # One read transaction per query method: a consistent view even across several SELECTs.
        conn = self._live()
        try:
            conn.execute("BEGIN DEFERRED")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self._path}: {exc}") from exc

    def _write(self, conn: sqlite3.Connection, changes: Sequence[Change]) -> tuple[int, int]:
        """Execute the changes in order; return (events appended, terminal task records written).

        Several puts of one task in one run of puts are written as one row (see _Runs.flush), but
        every put counts towards `terminal`, so pruning runs exactly when it would if each put
        were written."""
        events = terminal = 0
        runs = _Runs(conn)
        # The open run of task puts: status updates make most batches all PutTask, so the hot
        # path is a type test, a table lookup and an append, with no match or call per change.
        put_rows: list[Any] | None = None
        for change in changes:
            if type(change) is PutTask:
                record = change.record
                terminal += _TERMINAL_COLUMN[record.state._value_]
                if put_rows is None:
                    put_rows = runs.rows(_PUT_TASK)
                put_rows.append(record)
                continue
            match change:
                case PutTask(record=task):  # a subclass of PutTask: same statement, same order
                    runs.rows(_PUT_TASK).append(task)
                    terminal += task.terminal
                    put_rows = None
                case RemoveTask(task_id=task_id):
                    runs.add(_REMOVE_TASK, (task_id,))
                    put_rows = None
                case AppendEvent(record=e):
                    runs.add(_RECORD_EVENT, (e.ts, e.kind, e.payload, e.app_id, e.task_id, e.deployment_id))
                    events += 1
                case AdvanceTaskCounter(app_id=app_id, value=value):
                    runs.add(_ADVANCE_COUNTER, (app_id, value))
                case PutDeployment(record=deployment):
                    runs.add(_PUT_DEPLOYMENT, _deployment_row(deployment))
                case SetFrameworkId(framework_id=framework_id):
                    runs.add(_SET_FRAMEWORK_ID, (framework_id,))
                case DeleteApp(app_id=app_id, deleted_at=deleted_at):
                    runs.add(_DELETE_APP, (deleted_at, app_id))
                case PutAppVersion():
                    # A barrier: its version pruning reads tasks and deployments, and it writes
                    # apps after any earlier DeleteApp, so everything queued before goes first.
                    runs.flush()
                    put_rows = None
                    self._put_version(conn, change)
                case _:
                    assert_never(change)
        runs.flush()
        return events, terminal

    def _put_version(self, conn: sqlite3.Connection, change: PutAppVersion) -> None:
        r = change.record
        inserted = conn.execute(
            "INSERT INTO app_versions (app_id, version, spec, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (app_id, version) DO NOTHING",
            (r.app_id, r.version, r.spec, r.created_at),
        ).rowcount
        if not inserted:
            (stored,) = conn.execute(
                "SELECT spec FROM app_versions WHERE app_id = ? AND version = ?", (r.app_id, r.version)
            ).fetchone()
            if stored != r.spec:
                raise ConflictingChange(
                    f"app {r.app_id!r} version {r.version!r} is already stored with a different spec"
                )
        if change.make_current:
            conn.execute(_MAKE_CURRENT, (r.app_id, r.version))
        (count,) = conn.execute("SELECT count(*) FROM app_versions WHERE app_id = ?", (r.app_id,)).fetchone()
        if count > self._options.keep_versions:
            conn.execute(_PRUNE_VERSIONS, {"app": r.app_id, "keep": self._options.keep_versions})

    @staticmethod
    def _referenced_versions(
        conn: sqlite3.Connection,
        current: dict[str, AppVersionRecord],
        tasks: list[TaskRecord],
        deployments: list[DeploymentRecord],
    ) -> list[AppVersionRecord]:
        """The non-current versions that stored tasks run or active deployments name."""
        wanted = {(t.app_id, t.version) for t in tasks}
        for d in deployments:
            wanted.add((d.app_id, d.to_version))
            if d.from_version is not None:
                wanted.add((d.app_id, d.from_version))
        wanted -= {(v.app_id, v.version) for v in current.values()}
        found = []
        for app_id, version in sorted(wanted):
            row = conn.execute(
                "SELECT app_id, version, spec, created_at FROM app_versions WHERE app_id = ? AND version = ?",
                (app_id, version),
            ).fetchone()
            if row is not None:
                found.append(_version_from_row(row))
        return found

    @staticmethod
    def _prune_every(bound: int) -> int:
        return max(1, bound // 10)

    def _prune_all(self) -> None:
        with self._transaction() as conn:
            conn.execute(_PRUNE_EVENTS, (self._options.keep_events,))
            conn.execute(_PRUNE_TERMINAL_TASKS, (self._options.keep_terminal_tasks,))


@contextlib.contextmanager
def _write_transaction(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT; on any exception ROLLBACK, and report SQLite errors as StoreError."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                # A failing rollback must not hide the error that caused it.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: {exc}") from exc


def lock_data_dir(data_dir: Path) -> int:
    """Take an exclusive flock on <data-dir>/gantry.lock (released by the kernel if we die)."""
    # A separate file, not gantry.db itself: closing any descriptor of the database file would
    # drop SQLite's own POSIX locks on it.
    lock_path = data_dir / LOCK_FILENAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open {lock_path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            who = f" (pid {holder})" if holder else ""
            raise StoreLocked(
                f"data directory {data_dir} is in use by another Gantry process{who};"
                " two instances must not share one data directory"
            ) from None
        raise StoreError(f"cannot lock {lock_path}: {exc.strerror}") from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if mode != "wal":
        raise StoreError(f"{path}: cannot switch to WAL journal mode (got {mode!r})")
    # FULL: fsync the WAL on every commit; NORMAL would lose the last commits on a power cut.
    conn.execute("PRAGMA synchronous = FULL")
    # Up to 64 MiB of page cache (the default is 2 MiB): a 100,000-task table is about 15 MiB, and
    # keeping it cached took the write rate of 1,000-task batches from about 35k to 100k records/s.
    conn.execute("PRAGMA cache_size = -65536")


def _migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[tuple[str, Migration]]) -> None:
    """Bring the schema up to len(migrations), all in one transaction; refuse a newer file."""
    with _write_transaction(conn, path):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        (current,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        if current > len(migrations):
            raise SchemaTooNew(
                f"{path} has schema version {current}, but this Gantry knows only up to version"
                f" {len(migrations)}: it was written by a newer Gantry. Run that version, or restore a"
                " backup taken before the upgrade."
            )
        for version, (description, migrate) in enumerate(migrations[current:], start=current + 1):
            migrate(conn)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (version, description, time.time()),
            )
