"""The fake Mesos master with simulated agents (see harness/harness.py and docs/harness.md).

Imports only proto (never framework): it must not share the scheduler's bugs.
"""

from harness.harness import (
    GC_THRESHOLDS,
    AgentRecord,
    FrameworkRecord,
    Harness,
    OfferRecord,
    TaskRecord,
    tune_gc,
)
from harness.simulation import SimulationTimings

__all__ = [
    "GC_THRESHOLDS",
    "AgentRecord",
    "FrameworkRecord",
    "Harness",
    "OfferRecord",
    "SimulationTimings",
    "TaskRecord",
    "tune_gc",
]
