"""The composition root: build settings' parts, start them in one TaskGroup, stop them in order.

Role: `gantry run` calls `run(settings)`; tests call `serve(settings, started=...)` inside their own
event loop. This module is the only one that knows every part: it opens the store and restores the
core from it, starts the embedded local cluster (the harness) when no master is given, builds the
Mesos client, the driver and the HTTP API, and runs them until a signal or a fatal error.

Start order matters: the store is opened (and locked) first, so a second Gantry on the same data dir
fails before it can subscribe; the driver runs before the client subscribes, so no event can arrive
before someone consumes it; the API binds its port before the client subscribes, so a taken port
fails start-up before the master hands out a framework id (until the driver runs, it answers 503).

Must not: contain decisions or protocol code; every part it wires lives in its own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from structlog.typing import FilteringBoundLogger

from framework import heap
from framework.api.routes import build_api
from framework.core.scheduler import RestoredApp, SchedulerConfig, SchedulerState
from framework.driver import Driver, DriverFailed
from framework.logging import build_logger, route_stdlib_logging
from framework.mesos.client import Backoff, MesosClient
from framework.mesos.errors import PermanentMesosError
from framework.mesos.wire import ContentType, FrameworkConfig
from framework.metrics import build_metrics
from framework.settings import AgentResources, Settings, gantry_version
from framework.state.aio import AsyncStore
from framework.state.mapping import app_spec
from framework.state.sqlite import SqliteStore
from framework.state.store import StoreError

__all__ = ["Running", "run", "serve"]


@dataclass(frozen=True, slots=True)
class Running:
    """What `serve` tells its caller once everything is up."""

    api_url: str
    master_url: str
    driver: Driver
    client: MesosClient


def harness_resources(resources: AgentResources) -> str:
    """Settings' agent resources in the harness's `--agent-resources` syntax."""
    ports = ",".join(f"{r.begin}-{r.end}" for r in resources.ports)
    text = f"cpus:{resources.cpus:g};mem:{resources.mem:g};disk:{resources.disk:g}"
    return text + (f";ports:[{ports}]" if ports else "")


@contextlib.asynccontextmanager
async def _embedded_cluster(settings: Settings, log: FilteringBoundLogger) -> AsyncIterator[str]:
    """Start the harness in-process as the local cluster; yield the master URL it serves."""
    # Imported here: only the composition root may reach the harness (tests/test_layering.py).
    from harness import Harness

    async with Harness(
        agents=settings.local_agents,
        agent_resources=harness_resources(settings.local_agent_resources),
        host="127.0.0.1",
        port=0,
        record_calls=False,  # a long-running local cluster must not keep every call in memory
    ) as cluster:
        log.info("embedded_cluster_started", master=cluster.url, agents=settings.local_agents)
        yield cluster.url


async def _restore(store: AsyncStore, config: SchedulerConfig | None) -> SchedulerState:
    snapshot = await store.load()
    apps = [RestoredApp(app_spec(r), r.version, r.created_at) for r in snapshot.apps.values()]
    return SchedulerState.restore(
        framework_id=snapshot.framework_id,
        apps=apps,
        tasks=snapshot.tasks,
        task_counters=snapshot.task_counters,
        config=config,
    )


async def serve(
    settings: Settings,
    *,
    log: FilteringBoundLogger | None = None,
    started: Callable[[Running], Awaitable[None] | None] | None = None,
    scheduler_config: SchedulerConfig | None = None,
    client_backoff: Backoff | None = None,
    freeze_heap: bool = False,
) -> None:
    """Run Gantry until cancelled. Raises StoreError, DriverFailed or PermanentMesosError on a fatal error.

    `scheduler_config` and `client_backoff` replace the production timers (refuse filters, revive
    rate, reconciliation retries; resubscription backoff); integration tests shorten them so a
    scenario converges in seconds. `gantry run` leaves them at their defaults. `freeze_heap` runs
    heap.freeze_heap alongside (process-wide, so only a process of Gantry's own asks for it).
    """
    log = log or build_logger(settings.log_format, settings.log_level)
    scheduler_config = dataclasses.replace(
        scheduler_config or SchedulerConfig(), max_launches_per_decision=settings.max_launches_per_decision
    )
    version = gantry_version()
    metrics = build_metrics(version)
    store = await AsyncStore.open(lambda: SqliteStore.open(settings.data_dir))
    try:
        state = await _restore(store, scheduler_config)
        async with contextlib.AsyncExitStack() as stack:
            if settings.master is None:
                master = await stack.enter_async_context(_embedded_cluster(settings, log))
            else:
                master = settings.master
            driver = Driver(
                state,
                store,
                metrics,
                log,
                framework_name=settings.framework_name,
                embedded_cluster=settings.embedded_cluster,
            )
            client = MesosClient(
                master,
                FrameworkConfig(
                    name=settings.framework_name,
                    user=settings.framework_user,
                    roles=settings.roles,
                    principal=settings.principal,
                    failover_timeout=settings.failover_timeout_seconds,
                ),
                driver.on_event,
                framework_id=state.framework_id,
                content_type=ContentType(settings.mesos_content_type.value),
                backoff=client_backoff,
                logger=log,
            )
            driver.attach(client)
            runner = web.AppRunner(build_api(driver, metrics, settings, log), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            # Bind the API before subscribing: a taken port must fail Gantry before the master
            # hands it a framework id (requests meanwhile get 503 "starting" from the driver).
            await web.TCPSite(runner, settings.listen_host, settings.listen_port).start()
            api_url = _site_url(runner, settings)
            async with asyncio.TaskGroup() as group:
                group.create_task(driver.run(), name="driver")
                group.create_task(client.run(), name="mesos-client")
                if freeze_heap:
                    group.create_task(heap.freeze_heap(), name="heap")
                log.info("gantry_started", api=api_url, master=master, version=version)
                if started is not None:
                    result = started(Running(api_url, master, driver, client))
                    if result is not None:
                        await result
    finally:
        await store.close()


def _site_url(runner: web.AppRunner, settings: Settings) -> str:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            host = settings.listen_host
            return f"http://{'[' + host + ']' if ':' in host else host}:{address[1]}"
    return f"http://{settings.listen_host}:{settings.listen_port}"


# The cyclic collector's thresholds for the `gantry run` process, which also freezes its heap every
# 0.1 s (heap.py). With Python's defaults (700, 10, 10) a launch of 100,000 tasks ran ~4,400
# collections costing a quarter of the scheduler's CPU: every young collection of 700 new objects
# (records, effects, protobuf wrappers, futures) and the older generations behind them walk the
# growing heap. At (50,000, 20, 10) the collector took 0.72-0.90 s of that launch, 0.43-0.49 s with
# the heap frozen; a young generation of 200,000 is rarely reached between two freezes, and the same
# launch spent 0.01 s collecting (bench e2e, two runs each). Gantry's long-lived state is acyclic and
# freed by reference counting; the cycles left to the collector wait at most until heap.py's thaw.
GC_THRESHOLDS = (200_000, 20, 10)


def run(settings: Settings) -> int:
    """`gantry run`: serve until SIGINT/SIGTERM. Returns the process exit code."""
    gc.set_threshold(*GC_THRESHOLDS)
    log = build_logger(settings.log_format, settings.log_level)
    route_stdlib_logging(log, settings.log_level)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(settings, log=log, freeze_heap=True)
        log.info("gantry_stopped")

    failure: tuple[str, BaseException] | None = None
    try:
        asyncio.run(main())
    except* StoreError as group:
        failure = ("the state store failed", group.exceptions[0])
    except* DriverFailed as group:
        failure = ("the scheduler stopped", group.exceptions[0])
    except* PermanentMesosError as group:
        failure = ("the Mesos master refused Gantry", group.exceptions[0])
    except* OSError as group:
        failure = ("cannot start", group.exceptions[0])
    except* Exception as group:
        # A bug. Without this the CLI could only say "ExceptionGroup: unhandled errors in a
        # TaskGroup", and the log would hold nothing to find it by: keep the traceback in the log.
        crash = _innermost(group)
        log.error("gantry_crashed", error=f"{type(crash).__name__}: {crash}", exc_info=crash)
        failure = (f"internal error ({type(crash).__name__})", crash)
    if failure is not None:
        _fatal(log, *failure)
        return 1
    return 0


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _fatal(log: FilteringBoundLogger, what: str, exc: BaseException) -> None:
    log.error("gantry_failed", reason=what, error=str(exc))
    print(f"gantry: {what}: {exc}", file=sys.stderr)
