"""Views -> JSON-ready dicts: the response shapes of the API, in one place (docs/api.md shows them).

Role: pure functions from the port's frozen views to plain dicts; handlers in routes.py call them and
serialise the result. Times (Unix seconds in the views) become ISO 8601 UTC strings with milliseconds
and a trailing Z; absent values stay in the object as null so every response of one kind has the same
keys.

Must not: do I/O, or reach past the views (no store, no core state).
"""

from __future__ import annotations

from datetime import UTC, datetime

from framework.api.port import FrameworkView, Readiness, VersionView
from framework.core.effects import TaskRecord
from framework.core.views import AppStatus, BackoffStatus, QueueEntry, QueueReason

__all__ = ["app_json", "info_json", "iso", "queue_json", "readiness_json", "task_json", "version_json"]


def iso(ts: float | None) -> str | None:
    """1700000000.5 -> '2023-11-14T22:13:20.500Z'."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _backoff_json(backoff: BackoffStatus | None) -> dict[str, object] | None:
    if backoff is None:
        return None
    return {
        "delay_seconds": backoff.delay_seconds,
        "until": iso(backoff.until),
        "remaining_seconds": backoff.remaining_seconds,
        "crashes": backoff.crashes,
        "last_crash": backoff.last_crash,
    }


def app_json(app: AppStatus) -> dict[str, object]:
    return {
        "id": app.app_id,
        "version": app.version,
        "version_created_at": iso(app.created_at),
        "status": {
            "state": app.status,
            "instances": app.instances,
            "tasks": app.tasks,
            "staged": app.staged,
            "running": app.running,
            "healthy": app.healthy,
            "unhealthy": app.unhealthy,
            "ready": app.ready,
            "unreachable": app.unreachable,
            "killing": app.killing,
            "waiting": app.waiting,
            "deploying": app.deploying,
            "backoff": _backoff_json(app.backoff),
        },
        "spec": app.spec.to_json(),
    }


def task_json(task: TaskRecord) -> dict[str, object]:
    return {
        "id": task.task_id,
        "app_id": task.app_id,
        "state": task.state.value,
        "healthy": task.healthy,
        "agent": task.agent_id,
        "host": task.hostname,
        "ports": list(task.ports),
        "version": task.version,
        "started_at": iso(task.started_at),
    }


def version_json(version: VersionView) -> dict[str, object]:
    return {"version": version.version, "created_at": iso(version.created_at), "spec": version.spec.to_json()}


def _reason_json(reason: QueueReason) -> dict[str, object]:
    return {"kind": reason.kind, "label": reason.label, "agents": reason.agents, "message": reason.message}


def queue_json(entry: QueueEntry) -> dict[str, object]:
    return {
        "app_id": entry.app_id,
        "version": entry.version,
        "waiting": entry.waiting,
        "since": iso(entry.since),
        "offer_rounds": entry.offer_rounds,
        "last_round": [_reason_json(reason) for reason in entry.last_round],
        "refused": [{"label": label, "agents": agents} for label, agents in entry.refused],
        "backoff": _backoff_json(entry.backoff),
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
