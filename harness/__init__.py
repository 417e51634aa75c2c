"""The fake Mesos master with simulated agents (see harness/harness.py and docs/harness.md).

Imports only proto (never framework): it must not share the scheduler's bugs.
"""

from harness.harness import AgentRecord, FrameworkRecord, Harness, OfferRecord, TaskRecord
from harness.simulation import SimulationTimings

__all__ = ["AgentRecord", "FrameworkRecord", "Harness", "OfferRecord", "SimulationTimings", "TaskRecord"]
