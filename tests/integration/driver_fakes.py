"""Building blocks for tests of the reactor (framework/driver.py) on its own, without a master.

`quiet_driver` builds a Driver the way the composition root does, logging only errors; `poll` and
`stop` wait for what a running driver did and stop it; `FakeClient`
stands in for the Mesos client (the driver's CallSender): always subscribed, it records every call
and answers it at once, unless a subclass's `answer` decides otherwise; `HeldStore` lets a test hold
a real store's writes back; `offers_event` is one offer event of whole 4-cpu agents; `run_subscribed`
starts a driver on a client, subscribed; `LoggingClient` logs each call into a shared log. Who uses it:
tests/integration/test_driver_*.py and test_runtime_shutdown.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from framework.core.effects import Acknowledge
from framework.core.events import OffersReceived, Subscribed
from framework.core.model import Offer
from framework.core.resources import Resources
from framework.core.scheduler import SchedulerState
from framework.driver import Driver
from framework.logging import build_logger
from framework.metrics import build_metrics
from framework.settings import LogFormat, LogLevel
from framework.state.aio import AsyncStore
from framework.state.records import Change


async def poll(check: Callable[[], bool], tries: int, every: float = 0.01) -> None:
    """Sleep `every` until `check()` holds, at most `tries` times (the caller asserts the outcome)."""
    for _ in range(tries):
        await asyncio.sleep(every)
        if check():
            return


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel a running driver and wait until it has stopped."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def quiet_driver(state: SchedulerState, store: AsyncStore, clock: Callable[[], float] = time.time) -> Driver:
    """A Driver as the composition root builds it, logging only errors."""
    log = build_logger(LogFormat.JSON, LogLevel.ERROR)
    metrics = build_metrics("test")
    return Driver(state, store, metrics, log, framework_name="gantry", embedded_cluster=False, clock=clock)


async def run_subscribed(driver: Driver, client: FakeClient) -> asyncio.Task[None]:
    """Attach `client`, start the driver's reactor, and have it subscribed; returns the running task."""
    driver.attach(client)
    running = asyncio.create_task(driver.run())
    await asyncio.sleep(0)
    await driver.on_event(Subscribed(0.0, "fw-1", "master@127.0.0.1:5050"))
    return running


def offers_event(name: str, agents: int, now: float = 1.0) -> OffersReceived:
    """One offer event: `agents` agents of 4 cpus and 4 GB; offers `<name>-<i>`, agents `<name>-agent-<i>`."""
    return OffersReceived(
        now,
        tuple(
            Offer(f"{name}-{i}", f"{name}-agent-{i}", f"{name}-agent-{i}.example", "*",
                  Resources.of(cpus=4, mem=4096))
            for i in range(agents)
        ),
    )  # fmt: skip


class HeldStore:
    """Wraps a real AsyncStore's apply so the test decides when each write may start (`open`)."""

    def __init__(self, store: AsyncStore) -> None:
        self.real_apply = store.apply
        self.open = asyncio.Event()
        self.open.set()
        self.waiting = 0

    async def apply(self, changes: Sequence[Change]) -> None:
        self.waiting += 1
        await self.open.wait()
        self.waiting -= 1
        await self.real_apply(changes)


class FakeClient:
    """A subscribed Mesos client: `sent` holds every call it answered 202, in submission order."""

    def __init__(self) -> None:
        self.framework_id: str | None = "fw-1"
        self.master_url: str | None = "http://master.example:5050"
        self.reconnects = 0
        self.sent: list[object] = []

    @property
    def subscribed(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return True

    def submit(self, effect: object) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.answer(effect, future)
        return future

    def acknowledge(self, effect: Acknowledge, done: Callable[[Acknowledge, Exception | None], None]) -> None:
        # Through `answer`, so a subclass that fails or holds calls does the same to ACKs.
        future = self.submit(effect)

        def settle(f: asyncio.Future[None]) -> None:
            error = None if f.cancelled() else f.exception()
            assert error is None or isinstance(error, Exception)
            done(effect, error)

        future.add_done_callback(settle)

    def answer(self, effect: object, future: asyncio.Future[None]) -> None:
        self.sent.append(effect)
        future.set_result(None)


class LoggingClient(FakeClient):
    """Logs each call it answers into `log`, which the test's store writes may go to as well."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        super().__init__()
        self._log = log

    def answer(self, effect: object, future: asyncio.Future[None]) -> None:
        self._log.append(("call", effect))
        super().answer(effect, future)
