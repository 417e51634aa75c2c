"""gantry_offer_answer_seconds: the driver observes, for every offer an ACCEPT or DECLINE answers, the
time from the offer's OffersReceived `now` to handing that call to the client; answers later than
1 s are also counted. Offers nobody answers (no subscription) are observed by neither."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from framework.core.effects import Accept, Decline
from framework.core.events import Disconnected
from framework.core.scheduler import SchedulerState
from framework.core.spec import validate_app
from framework.driver import Driver
from framework.state.aio import AsyncStore
from framework.state.sqlite import SqliteStore
from tests.integration.driver_fakes import FakeClient, offers_event, poll, quiet_driver, run_subscribed, stop


def _answer_metrics(driver: Driver) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(driver._metrics.render().decode()):
        for sample in family.samples:
            if sample.name.startswith(("gantry_offer_answer_seconds_", "gantry_offers_answered_late")):
                le = sample.labels.get("le")
                out[sample.name + (f"{{le={le}}}" if le else "")] = sample.value
    return out


def _answers(client: FakeClient) -> int:
    return sum(isinstance(c, Accept | Decline) for c in client.sent)


async def test_each_answered_offer_is_observed_once_from_its_receipt_to_its_answer(data_dir: Path) -> None:
    clock = [0.5]
    state = SchedulerState()
    store = await AsyncStore.open(lambda: SqliteStore.open(data_dir))
    client = FakeClient()
    try:
        driver = quiet_driver(state, store, clock=lambda: clock[0])
        running = await run_subscribed(driver, client)
        spec = validate_app({"id": "/shop/web", "cmd": "serve", "cpus": 1, "mem": 64, "instances": 5})
        await driver.submit_app(spec, create_only=True)
        # 5 tasks of 1 cpu on 3 agents of 4: two ACCEPTs and a DECLINE, each 0.25 s after receipt.
        clock[0] = 1.25
        await driver.on_event(offers_event("a", 3, now=1.0))
        await poll(lambda: _answers(client) == 3 and not driver._inbox, tries=500)
        in_time = _answer_metrics(driver)
        # Nothing left to launch: both offers declined, 1.5 s after receipt (late).
        clock[0] = 3.0
        await driver.on_event(offers_event("b", 2, now=1.5))
        await poll(lambda: _answers(client) == 4 and not driver._inbox, tries=500)
        # Offers on a lost subscription are answered by nobody: nothing observed, nothing kept.
        await driver.on_event(Disconnected(3.0, "stream dropped"))
        await driver.on_event(offers_event("c", 2, now=3.0))
        await poll(lambda: not driver._inbox, tries=500)
        await asyncio.sleep(0.05)  # the last turn ends
        await stop(running)
    finally:
        await store.close()
    assert in_time["gantry_offer_answer_seconds_count"] == 3
    assert in_time["gantry_offer_answer_seconds_sum"] == 0.75
    assert in_time["gantry_offer_answer_seconds_bucket{le=0.25}"] == 3
    assert in_time["gantry_offers_answered_late_total"] == 0
    final = _answer_metrics(driver)
    assert final["gantry_offer_answer_seconds_count"] == 5
    assert final["gantry_offer_answer_seconds_sum"] == 0.75 + 3.0
    assert final["gantry_offer_answer_seconds_bucket{le=1.0}"] == 3
    assert final["gantry_offers_answered_late_total"] == 2
    assert driver._offers_received == {}
