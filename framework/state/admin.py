"""Operator tools for the SQLite data directory: check, backup, restore.

    python -m framework.state.admin check   DATA_DIR
    python -m framework.state.admin backup  DATA_DIR DEST_FILE
    python -m framework.state.admin restore DATA_DIR BACKUP_FILE

Role: what docs/operations.md tells operators to run. `check` and `backup` are safe while Gantry is
running (they only read, through SQLite, so they see committed transactions only and never block
Gantry for long); `restore` refuses unless the data directory is free (Gantry stopped). None of
them migrates anything: a backup is a byte-for-byte consistent copy at the schema it was taken at,
and Gantry migrates it on its next start. Errors are one line on stderr and exit status 1 (usage
errors: 2), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from framework.state.sqlite import DB_FILENAME, MIGRATIONS, lock_data_dir
from framework.state.store import StoreError


class AdminError(Exception):
    """A one-line, operator-facing failure."""


@contextlib.contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    if not db.is_file():
        raise AdminError(f"{db} does not exist")
    conn = sqlite3.connect(db, timeout=10.0, isolation_level=None)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise AdminError(f"{db}: {exc}") from exc
    finally:
        conn.close()


def check(data_dir: Path) -> list[str]:
    """Integrity and a summary of what is stored; AdminError if the file is damaged or too new."""
    return check_file(data_dir / DB_FILENAME)


def check_file(db: Path) -> list[str]:
    """check() for a database file: the one in a data directory, or a backup."""
    with _connect(db) as conn:
        conn.execute("BEGIN")  # one consistent view for every count below
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            raise AdminError(f"{db} is damaged: {'; '.join(integrity[:5])}")
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            raise AdminError(f"{db} is not a Gantry database (it has no schema_version table)")
        (version,) = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        framework = conn.execute("SELECT value FROM meta WHERE key = 'framework_id'").fetchone()
        lines = [
            f"file: {db} ({db.stat().st_size:,} bytes)",
            "integrity: ok",
            f"schema version: {version} (this Gantry: {len(MIGRATIONS)})",
            f"framework id: {framework[0] if framework else '(none yet)'}",
        ]
        for label, sql in [
            ("apps", "SELECT count(*) FROM apps WHERE current_version IS NOT NULL"),
            ("live tasks", "SELECT count(*) FROM tasks WHERE terminal = 0"),
            ("terminal tasks kept", "SELECT count(*) FROM tasks WHERE terminal = 1"),
            ("active deployments", "SELECT count(*) FROM deployments WHERE finished_at IS NULL"),
            ("events kept", "SELECT count(*) FROM events"),
        ]:
            lines.append(f"{label}: {conn.execute(sql).fetchone()[0]:,}")
        conn.execute("COMMIT")
    if version > len(MIGRATIONS):
        raise AdminError(f"{db} has schema version {version}, newer than this Gantry ({len(MIGRATIONS)})")
    return lines


def backup(data_dir: Path, dest: Path) -> str:
    """A consistent copy of the database (SQLite's online backup), written to `dest` atomically."""
    db = data_dir / DB_FILENAME
    if dest.exists():
        raise AdminError(f"{dest} already exists; refusing to overwrite a backup")
    with _connect(db) as src:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            out = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(out)
                # A self-contained file: no -wal needed next to it to read it.
                out.execute("PRAGMA journal_mode = DELETE")
            finally:
                out.close()
            _fsync(tmp)
            tmp.rename(dest)
            _fsync(dest.parent)
        finally:
            tmp.unlink(missing_ok=True)
    return f"backed up {db} to {dest} ({dest.stat().st_size:,} bytes)"


def restore(data_dir: Path, source: Path) -> str:
    """Replace the data directory's database with a backup. Gantry must be stopped."""
    check_file(source)  # raises if the backup is damaged or newer than this Gantry
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = lock_data_dir(data_dir)  # StoreLocked while Gantry runs
    try:
        db = data_dir / DB_FILENAME
        fd, tmp_name = tempfile.mkstemp(prefix=".restore.", dir=data_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(source, tmp)
            _fsync(tmp)
            # The old WAL and shared-memory index belong to the old file; left behind, the WAL
            # would be replayed into the restored one.
            for suffix in ("-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            tmp.rename(db)
            _fsync(data_dir)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        os.close(lock_fd)
    return f"restored {db} from {source}; start Gantry to use it (it migrates the schema if needed)"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m framework.state.admin", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("check", help="integrity check and a summary of the stored state")
    p.add_argument("data_dir", type=Path)
    p = commands.add_parser("backup", help="consistent copy of the database, safe while Gantry runs")
    p.add_argument("data_dir", type=Path)
    p.add_argument("dest", type=Path)
    p = commands.add_parser("restore", help="replace the database with a backup (Gantry stopped)")
    p.add_argument("data_dir", type=Path)
    p.add_argument("backup_file", type=Path)
    args = parser.parse_args(argv)
    try:
        match args.command:
            case "check":
                print("\n".join(check(args.data_dir)))
            case "backup":
                print(backup(args.data_dir, args.dest))
            case "restore":
                print(restore(args.data_dir, args.backup_file))
    except (AdminError, StoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
