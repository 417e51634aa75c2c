"""Fixtures for the harness tests: a fast harness (short intervals) and plain clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from harness import Harness
from tests.harness.client import JSON, PROTOBUF, Client

FAST: dict[str, Any] = {
    "heartbeat_interval": 0.2,
    "allocation_interval": 0.05,
    "status_update_retry": (0.2, 1.0),
    "failover_timeout_cap": 0.5,
}


@pytest.fixture(params=[JSON, PROTOBUF], ids=["json", "protobuf"])
def encoding(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def make_harness() -> Callable[..., Harness]:
    """Build a harness with the fast settings, overridable per test."""

    def build(**overrides: Any) -> Harness:
        return Harness(**{"agents": 2, **FAST, **overrides})

    return build


@pytest.fixture
async def h(make_harness: Callable[..., Harness]) -> AsyncIterator[Harness]:
    async with make_harness() as harness:
        yield harness
        assert harness.errors == []
        assert harness.violations == []


@pytest.fixture
async def client(h: Harness, session: aiohttp.ClientSession, encoding: str) -> AsyncIterator[Client]:
    c = Client(session, h.url, encoding)
    yield c
    await c.close()
