"""Fixtures for the integration tests (framework + harness in one event loop).

`data_dir` is a fresh directory for Gantry's state database under pytest's tmp_path, so each test
starts from an empty store and nothing outlives the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "gantry-data"
    path.mkdir()
    return path
