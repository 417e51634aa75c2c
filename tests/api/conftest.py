"""Fixtures: the real API over a FakePort, served by aiohttp's TestServer on a free port."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from framework.api import build_api
from framework.logging import build_logger
from framework.metrics import Metrics, build_metrics
from framework.settings import LogFormat, LogLevel, Settings
from tests.api.fakes import FakePort

BODY_CAP = 4096

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def port() -> FakePort:
    return FakePort()


@pytest.fixture
def metrics() -> Metrics:
    return build_metrics("test")


@pytest.fixture
def log_buffer() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
async def client(port: FakePort, metrics: Metrics, log_buffer: io.StringIO) -> AsyncIterator[Client]:
    settings = Settings(max_body_bytes=BODY_CAP)
    app = build_api(port, metrics, settings, build_logger(LogFormat.JSON, LogLevel.DEBUG, log_buffer))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
