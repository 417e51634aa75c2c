"""framework.state.admin: check, backup (while Gantry runs) and restore (only when it does not)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from framework.core.events import TaskState
from framework.state.admin import AdminError, backup, check, check_file, main, restore
from framework.state.records import (
    AdvanceTaskCounter,
    AppendEvent,
    AppVersionRecord,
    EventRecord,
    PutAppVersion,
    PutTask,
    SetFrameworkId,
    TaskRecord,
)
from framework.state.sqlite import DB_FILENAME, MIGRATIONS, SqliteStore
from framework.state.store import StoreLocked


def task(n: int, state: TaskState = TaskState.RUNNING) -> TaskRecord:
    return TaskRecord(task_id=f"a.{n}", app_id="/a", version="v1", slot=n, state=state, updated_at=float(n))


def populate(data_dir: Path) -> SqliteStore:
    store = SqliteStore.open(data_dir)
    store.apply(
        [
            SetFrameworkId("fw-7"),
            PutAppVersion(AppVersionRecord("/a", "v1", "{}", 1.0)),
            PutTask(task(0)),
            PutTask(task(1)),
            PutTask(task(2, TaskState.FAILED)),
            AdvanceTaskCounter("/a", 3),
            AppendEvent(EventRecord(ts=1.0, kind="k")),
        ]
    )
    return store


def test_check_summarises_a_live_store(tmp_path: Path) -> None:
    store = populate(tmp_path)  # still open: check is safe while Gantry runs
    lines = check(tmp_path)
    store.close()
    assert lines[1:] == [
        "integrity: ok",
        f"schema version: {len(MIGRATIONS)} (this Gantry: {len(MIGRATIONS)})",
        "framework id: fw-7",
        "apps: 1",
        "live tasks: 2",
        "terminal tasks kept: 1",
        "active deployments: 0",
        "events kept: 1",
    ]


def test_backup_of_a_running_store_restores_to_exactly_that_state(tmp_path: Path) -> None:
    data, dest = tmp_path / "data", tmp_path / "backup.db"
    store = populate(data)
    backed_up = store.load()
    assert backup(data, dest).startswith(f"backed up {data / DB_FILENAME} to {dest}")
    store.apply([PutTask(task(9)), SetFrameworkId("fw-later")])  # after the backup: must not come back
    store.close()
    assert check_file(dest)[1] == "integrity: ok"
    assert not Path(f"{dest}-wal").exists()  # a self-contained file

    assert restore(data, dest).startswith(f"restored {data / DB_FILENAME}")
    assert not Path(f"{data / DB_FILENAME}-wal").exists()
    store = SqliteStore.open(data)
    assert store.load() == backed_up
    store.close()


def test_backup_never_overwrites_and_restore_refuses_while_gantry_runs(tmp_path: Path) -> None:
    data, dest = tmp_path / "data", tmp_path / "backup.db"
    store = populate(data)
    backup(data, dest)
    with pytest.raises(AdminError, match="already exists"):
        backup(data, dest)
    with pytest.raises(StoreLocked, match="in use by another Gantry process"):
        restore(data, dest)
    assert store.load().framework_id == "fw-7"  # untouched
    store.close()


def test_a_restore_into_a_fresh_directory_works(tmp_path: Path) -> None:
    store = populate(tmp_path / "data")
    backup(tmp_path / "data", tmp_path / "b.db")
    store.close()
    restore(tmp_path / "new", tmp_path / "b.db")
    store = SqliteStore.open(tmp_path / "new")
    assert store.load().framework_id == "fw-7"
    store.close()


def test_damaged_foreign_and_newer_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite at all" * 512)
    with pytest.raises(AdminError, match="not a database"):
        check_file(garbage)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(AdminError, match="not a Gantry database"):
        check_file(foreign)
    SqliteStore.open(tmp_path / "newer", migrations=(*MIGRATIONS, ("later", lambda c: None))).close()
    with pytest.raises(AdminError, match="newer than this Gantry"):
        check(tmp_path / "newer")
    with pytest.raises(AdminError, match="does not exist"):
        restore(tmp_path / "data", tmp_path / "missing.db")
    assert not (tmp_path / "data").exists()


def test_main_prints_results_and_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    populate(tmp_path / "data").close()
    assert main(["check", str(tmp_path / "data")]) == 0
    assert "framework id: fw-7" in capsys.readouterr().out
    assert main(["backup", str(tmp_path / "data"), str(tmp_path / "b.db")]) == 0
    assert main(["restore", str(tmp_path / "data"), str(tmp_path / "b.db")]) == 0
    assert "restored" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(SystemExit) as usage:
        main(["frobnicate"])
    assert usage.value.code == 2
