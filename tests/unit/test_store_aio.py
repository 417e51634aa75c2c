"""AsyncStore: one worker thread, submission order, group commit, error isolation, shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from framework.state.aio import AsyncStore
from framework.state.records import (
    AppVersionRecord,
    Change,
    DeploymentRecord,
    EventRecord,
    SetFrameworkId,
    Snapshot,
)
from framework.state.sqlite import SqliteStore
from framework.state.store import StoreClosed, StoreError

POISON = "poison"


class RecordingStore:
    """A Store that logs every call with the thread it ran on; `gate` holds the first apply."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.threads: set[int] = {threading.get_ident()}
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.closed = False

    def _log(self, name: str, arg: object = None) -> None:
        self.threads.add(threading.get_ident())
        self.calls.append((name, arg))

    def load(self) -> Snapshot:
        self._log("load")
        return Snapshot(framework_id=self._framework_id())

    def apply(self, changes: Sequence[Change]) -> None:
        self.entered.set()
        self.gate.wait()
        ids = [c.framework_id for c in changes if isinstance(c, SetFrameworkId)]
        if POISON in ids:
            raise StoreError("poisoned batch")
        self._log("apply", ids)

    def _framework_id(self) -> str | None:
        applied = [ids for name, ids in self.calls if name == "apply" and isinstance(ids, list)]
        return applied[-1][-1] if applied and applied[-1] else None

    def app_versions(self, app_id: str) -> list[AppVersionRecord]:
        self._log("app_versions", app_id)
        return []

    def deployments(self, app_id: str | None = None, limit: int = 100) -> list[DeploymentRecord]:
        self._log("deployments", (app_id, limit))
        return []

    def deployment(self, deployment_id: str) -> DeploymentRecord | None:
        self._log("deployment", deployment_id)
        return None

    def events(self, after_seq: int = 0, limit: int = 1000, app_id: str | None = None) -> list[EventRecord]:
        self._log("events", (after_seq, limit, app_id))
        return []

    def ping(self) -> None:
        self._log("ping")

    def close(self) -> None:
        self._log("close")
        self.closed = True


def batch(*ids: str) -> list[Change]:
    return [SetFrameworkId(i) for i in ids]


async def open_recording() -> tuple[AsyncStore, RecordingStore]:
    fake = RecordingStore()
    store = await AsyncStore.open(lambda: fake)
    return store, fake


async def test_every_call_runs_in_order_on_one_thread_that_is_not_the_loops() -> None:
    store, fake = await open_recording()
    fake.gate.set()
    await store.apply(batch("a"))
    assert (await store.load()).framework_id == "a"
    await store.app_versions("x")
    await store.deployments("x", 5)
    await store.deployment("d")
    await store.events(3, 10, "x")
    await store.ping()
    await store.close()
    loop_thread = threading.get_ident()
    assert len(fake.threads - {loop_thread}) == 1  # constructed here, but every call on the worker
    assert [name for name, _ in fake.calls] == [
        "apply", "load", "app_versions", "deployments", "deployment", "events", "ping", "close",
    ]  # fmt: skip
    assert fake.calls[3:6] == [("deployments", ("x", 5)), ("deployment", "d"), ("events", (3, 10, "x"))]


async def test_applies_queued_behind_a_running_one_share_one_transaction_reads_keep_their_place() -> None:
    store, fake = await open_recording()
    first = asyncio.create_task(store.apply(batch("a")))
    await asyncio.to_thread(fake.entered.wait)  # "a" is inside apply, blocked on the gate
    queued = [
        asyncio.create_task(store.apply(batch("b"))),
        asyncio.create_task(store.apply(batch("c", "d"))),
        asyncio.create_task(store.load()),
        asyncio.create_task(store.apply(batch("e"))),
    ]
    await asyncio.sleep(0)  # let every task submit its job, in creation order
    fake.gate.set()
    await first
    results = await asyncio.gather(*queued)
    assert fake.calls == [("apply", ["a"]), ("apply", ["b", "c", "d"]), ("load", None), ("apply", ["e"])]
    assert results[2] == Snapshot(framework_id="d")  # the read saw every apply submitted before it
    await store.close()


async def test_a_failing_batch_in_a_group_fails_alone() -> None:
    store, fake = await open_recording()
    first = asyncio.create_task(store.apply(batch("a")))
    await asyncio.to_thread(fake.entered.wait)
    group = [asyncio.create_task(store.apply(batch(i))) for i in ("b", POISON, "c")]
    await asyncio.sleep(0)
    fake.gate.set()
    await first
    outcomes = await asyncio.gather(*group, return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], StoreError)
    # The merged attempt raised (and so applied nothing); each batch was then applied on its own.
    assert fake.calls == [("apply", ["a"]), ("apply", ["b"]), ("apply", ["c"])]
    await store.close()


async def test_a_factory_error_is_raised_by_open(tmp_path: Path) -> None:
    holder = SqliteStore.open(tmp_path)
    try:
        with pytest.raises(StoreError, match="in use by another Gantry process"):
            await AsyncStore.open(lambda: SqliteStore.open(tmp_path))
    finally:
        holder.close()


async def test_close_is_idempotent_and_later_calls_raise() -> None:
    store, fake = await open_recording()
    fake.gate.set()
    await store.close()
    await store.close()
    assert fake.closed
    assert [name for name, _ in fake.calls] == ["close"]
    with pytest.raises(StoreClosed):
        await store.load()
    with pytest.raises(StoreClosed):
        await store.apply(batch("x"))


async def test_a_real_sqlite_store_behind_the_facade(tmp_path: Path) -> None:
    store = await AsyncStore.open(lambda: SqliteStore.open(tmp_path))
    await asyncio.gather(*(store.apply(batch(f"fw-{i}")) for i in range(20)))
    assert (await store.load()).framework_id == "fw-19"
    await store.close()
    # The worker closed the store on its own thread, which released the directory for the next owner.
    again = await AsyncStore.open(lambda: SqliteStore.open(tmp_path))
    assert (await again.load()).framework_id == "fw-19"
    await again.close()
