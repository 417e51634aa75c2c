"""The Store protocol: the one interface between Gantry and its durable state.

Role: the driver loads a Snapshot once at start, then writes through `apply`, one call per batch of
changes, and acknowledges a Mesos status update only after the `apply` that stored it returned.
The API reads history (versions, deployments, events) through the query methods. Implementations:
`sqlite.SqliteStore` (embedded default); a ZooKeeper store for HA can implement the same protocol.

The protocol is synchronous and NOT thread-safe: an implementation is used from one thread only.
Asyncio code reaches it through `aio.AsyncStore`, which owns that thread. Nothing in the protocol
mentions SQL, files or sessions, so that any store can satisfy it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from framework.state.records import AppVersionRecord, Change, DeploymentRecord, EventRecord, Snapshot


class StoreError(Exception):
    """The store could not do what was asked; nothing of the failed call was applied."""


class SchemaTooNew(StoreError):
    """The stored data was written by a newer Gantry; this one refuses to touch it."""


class StoreLocked(StoreError):
    """Another process holds the data directory: two Gantry instances must never share one store."""


class StoreClosed(StoreError):
    """The store was used after close()."""


class ConflictingChange(StoreError):
    """A change contradicts what is stored (e.g. a different spec under an existing app version)."""


class Store(Protocol):
    def load(self) -> Snapshot:
        """Everything needed to rebuild the in-memory state at start (see Snapshot)."""
        ...

    def apply(self, changes: Sequence[Change]) -> None:
        """Apply every change, in order, atomically and durably: when this returns, all of them
        survive a crash of the process or the machine; when it raises, none was applied."""
        ...

    def app_versions(self, app_id: str) -> list[AppVersionRecord]:
        """The version history of an app, oldest first (kept after the app is deleted)."""
        ...

    def deployments(self, app_id: str | None = None, limit: int = 100) -> list[DeploymentRecord]:
        """The most recent deployments (of one app, or of all), newest first."""
        ...

    def deployment(self, deployment_id: str) -> DeploymentRecord | None:
        """One deployment by id, finished or not."""
        ...

    def events(self, after_seq: int = 0, limit: int = 1000, app_id: str | None = None) -> list[EventRecord]:
        """Retained events with seq > after_seq, oldest first, at most `limit` of them."""
        ...

    def ping(self) -> None:
        """Prove the store is writable now (a small durable write); raise StoreError if not."""
        ...

    def close(self) -> None:
        """Release the store. Idempotent; any other call afterwards raises StoreClosed."""
        ...
