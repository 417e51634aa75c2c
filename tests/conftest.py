"""Shared pytest configuration. Package-specific fixtures live in each tests/<layer>/conftest.py."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100)
settings.load_profile("ci")
