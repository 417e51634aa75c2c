"""Gantry's HTTP API (aiohttp). `build_api` in routes.py; the driver-facing contract in port.py."""

from framework.api.port import SchedulerPort
from framework.api.routes import build_api

__all__ = ["SchedulerPort", "build_api"]
