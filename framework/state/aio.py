"""AsyncStore: the asyncio face of a Store, confining it to one dedicated worker thread.

Role: the driver (and the API, for history queries) awaits these coroutines; the blocking Store
calls run on a thread this class owns, fed by a queue, so the event loop never waits on a disk
fsync. The store is *constructed* on that thread, so an sqlite3 connection is created, used and
closed by the same thread (check_same_thread stays on) and no lock is ever needed around it.

Group commit: while one `apply` is running, later `apply` calls queue up; the worker then takes all
consecutive queued ones (up to `max_group` batches) and applies their changes in one transaction,
one fsync for many callers. Order is preserved: every call, read or write, runs in submission
order, and a read submitted after an `apply` sees it. If a merged transaction fails, each batch is
retried on its own, so only the batch at fault gets the error.

Must not: be used from several event loops, or after close(). Cancelling an awaiting `apply` does
not withdraw it: it may still commit. The caller must treat "cancelled" as "unknown" (for the
driver: do not acknowledge).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from framework.state.records import AppVersionRecord, Change, DeploymentRecord, EventRecord, Snapshot
from framework.state.store import Store, StoreClosed

T = TypeVar("T")


@dataclass(slots=True)
class _Call:
    """Run `fn(store)` on the worker thread and settle `future` with its outcome."""

    fn: Callable[[Store], Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Apply:
    changes: Sequence[Change]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Stop:
    future: asyncio.Future[Any]


_Job = _Call | _Apply | _Stop


@dataclass(slots=True)
class _Worker:
    """The thread's side: owns the store, drains the queue, settles futures on the loop."""

    jobs: queue.SimpleQueue[_Job]
    loop: asyncio.AbstractEventLoop
    max_group: int
    store: Store | None = None
    held: _Job | None = None

    def run(self, factory: Callable[[], Store], opened: asyncio.Future[Any]) -> None:
        try:
            self.store = factory()
        except BaseException as exc:
            self._settle(opened, None, exc)
            return
        self._settle(opened, None, None)
        while True:
            job = self.held if self.held is not None else self.jobs.get()
            self.held = None
            match job:
                case _Apply():
                    self._apply_group(self._gather(job))
                case _Call(fn=fn, future=future):
                    self._run(future, fn)
                case _Stop(future=future):
                    self._run(future, lambda store: store.close())
                    return

    def _gather(self, first: _Apply) -> list[_Apply]:
        """`first` plus the applies queued right behind it; the first other job is held back."""
        group = [first]
        while len(group) < self.max_group:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if not isinstance(job, _Apply):
                self.held = job
                break
            group.append(job)
        return group

    def _apply_group(self, group: list[_Apply]) -> None:
        if len(group) > 1 and self._apply_merged(group):
            return
        for job in group:
            self._run(job.future, _applying(job.changes))

    def _apply_merged(self, group: list[_Apply]) -> bool:
        """One transaction for the whole group; False if it failed (and so applied nothing)."""
        assert self.store is not None
        try:
            self.store.apply([change for job in group for change in job.changes])
        except Exception:
            return False  # the caller retries batch by batch to find, and report, the faulty one
        for job in group:
            self._settle(job.future, None, None)
        return True

    def _run(self, future: asyncio.Future[Any], fn: Callable[[Store], Any]) -> None:
        assert self.store is not None
        try:
            result = fn(self.store)
        except BaseException as exc:
            self._settle(future, None, exc)
        else:
            self._settle(future, result, None)

    def _settle(self, future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
        def settle() -> None:
            if future.cancelled():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        # RuntimeError: the loop is closed, so nobody is left waiting for this answer.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(settle)


def _applying(changes: Sequence[Change]) -> Callable[[Store], None]:
    return lambda store: store.apply(changes)


class AsyncStore:
    """Awaitable Store methods, all executed in order on one worker thread. Use `AsyncStore.open`."""

    def __init__(self, jobs: queue.SimpleQueue[_Job], thread: threading.Thread) -> None:
        self._jobs = jobs
        self._thread = thread
        self._closed = False

    @classmethod
    async def open(cls, factory: Callable[[], Store], *, max_group: int = 64) -> AsyncStore:
        """Start the worker thread and build the store on it with `factory` (e.g.
        `lambda: SqliteStore.open(data_dir)`); errors from the factory are raised here."""
        loop = asyncio.get_running_loop()
        jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        worker = _Worker(jobs=jobs, loop=loop, max_group=max_group)
        opened: asyncio.Future[Any] = loop.create_future()
        # Daemon: a process exiting without close() must not hang on this thread; an interrupted
        # transaction is rolled back by SQLite on the next open, so nothing acknowledged is lost.
        thread = threading.Thread(target=worker.run, args=(factory, opened), name="gantry-store", daemon=True)
        thread.start()
        try:
            await opened
        except BaseException:
            # Cancelled (a signal during start-up) after the factory may have succeeded: without a
            # stop job the worker would wait for jobs forever, this join would never return, and
            # the data directory would stay locked. If the factory failed, the worker has already
            # returned and never reads the job.
            jobs.put(_Stop(future=loop.create_future()))
            thread.join()
            raise
        return cls(jobs, thread)

    async def load(self) -> Snapshot:
        return await self._call(lambda store: store.load())

    async def apply(self, changes: Sequence[Change]) -> None:
        """Durably apply one batch (see Store.apply); may share a transaction with other batches."""
        future = self._submit()
        self._jobs.put(_Apply(changes=changes, future=future))
        await future

    async def app_versions(self, app_id: str) -> list[AppVersionRecord]:
        return await self._call(lambda store: store.app_versions(app_id))

    async def deployments(self, app_id: str | None = None, limit: int = 100) -> list[DeploymentRecord]:
        return await self._call(lambda store: store.deployments(app_id, limit))

    async def deployment(self, deployment_id: str) -> DeploymentRecord | None:
        return await self._call(lambda store: store.deployment(deployment_id))

    async def events(
        self, after_seq: int = 0, limit: int = 1000, app_id: str | None = None
    ) -> list[EventRecord]:
        return await self._call(lambda store: store.events(after_seq, limit, app_id))

    async def ping(self) -> None:
        await self._call(lambda store: store.ping())

    async def close(self) -> None:
        """Close the store on its thread, after every call submitted before; idempotent."""
        if self._closed:
            return
        future = self._submit()
        self._closed = True
        self._jobs.put(_Stop(future=future))
        try:
            await future
        finally:
            await asyncio.to_thread(self._thread.join)

    def _submit(self) -> asyncio.Future[Any]:
        if self._closed:
            raise StoreClosed("the store is closed")
        return asyncio.get_running_loop().create_future()

    async def _call(self, fn: Callable[[Store], T]) -> T:
        future = self._submit()
        self._jobs.put(_Call(fn=fn, future=future))
        result: T = await future
        return result
