"""Views -> JSON-ready dicts: the response shapes of the API, in one place (docs/api.md shows them).

Role: pure functions from the port's frozen views to plain dicts; handlers in routes.py call them and
serialise the result. Times (Unix seconds in the views) become ISO 8601 UTC strings with milliseconds
and a trailing Z; absent values stay in the object as null so every response of one kind has the same
keys.

Must not: do I/O, or reach past the views (no store, no core state).
"""

from __future__ import annotations

from datetime import UTC, datetime

from framework.api.port import (
    AppView,
    FrameworkView,
    QueueEntry,
    Readiness,
    TaskView,
    UnplacedReason,
    VersionView,
)

__all__ = ["app_json", "info_json", "iso", "queue_json", "readiness_json", "task_json", "version_json"]


def iso(ts: float | None) -> str | None:
    """1700000000.5 -> '2023-11-14T22:13:20.500Z'."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def app_json(view: AppView) -> dict[str, object]:
    status = view.status
    return {
        "id": view.spec.id,
        "version": view.version,
        "version_created_at": iso(view.version_created_at),
        "status": {
            "state": status.state.value,
            "instances": view.spec.instances,
            "running": status.running,
            "staged": status.staged,
            "healthy": status.healthy,
            "unhealthy": status.unhealthy,
            "message": status.message,
            "delayed_until": iso(status.delayed_until),
        },
        "spec": view.spec.to_json(),
    }


def task_json(task: TaskView) -> dict[str, object]:
    return {
        "id": task.id,
        "app_id": task.app_id,
        "state": task.state,
        "healthy": task.healthy,
        "agent": task.agent_id,
        "host": task.host,
        "ports": list(task.ports),
        "version": task.version,
        "started_at": iso(task.started_at),
    }


def version_json(version: VersionView) -> dict[str, object]:
    return {"version": version.version, "created_at": iso(version.created_at), "spec": version.spec.to_json()}


def _reason_json(reason: UnplacedReason) -> dict[str, object]:
    return {
        "kind": reason.kind,
        "message": reason.message,
        "agents": reason.agents,
        "resource": reason.resource,
        "requested": reason.requested,
        "best_available": reason.best_available,
        "constraint": list(reason.constraint) if reason.constraint is not None else None,
    }


def queue_json(entry: QueueEntry) -> dict[str, object]:
    return {
        "app_id": entry.app_id,
        "version": entry.version,
        "waiting": entry.waiting,
        "delayed_until": iso(entry.delayed_until),
        "last_offer_at": iso(entry.last_offer_at),
        "reasons": [_reason_json(reason) for reason in entry.reasons],
    }


def info_json(view: FrameworkView, version: str) -> dict[str, object]:
    return {
        "name": view.name,
        "framework_id": view.framework_id,
        "master": view.master,
        "subscribed": view.subscribed,
        "embedded_cluster": view.embedded_cluster,
        "version": version,
    }


def readiness_json(readiness: Readiness) -> list[dict[str, object]]:
    return [{"name": c.name, "ok": c.ok, "message": c.message} for c in readiness.checks]
