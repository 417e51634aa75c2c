"""Core Persist* effects to store changes, and stored specs back to AppSpec.

Role: the one place where the scheduler core's vocabulary (framework.core.effects) meets the
store's (records.py). The driver turns each run of consecutive Persist* effects into one batch
with `changes_for` and hands it to `AsyncStore.apply`; at start it revives stored specs with
`app_spec`. Pure functions: no I/O, no clock. The core never imports this module (layering).

Specs are serialised with sorted keys and no whitespace, so the same AppSpec always yields the
same string: the core's versions are content-addressed and the store refuses a version whose spec
string differs from the stored one, so a non-deterministic encoding would make an idempotent
re-store look like a conflict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import assert_never

from framework.core.effects import (
    Persist,
    PersistApp,
    PersistAppDeleted,
    PersistFrameworkId,
    PersistTask,
    PersistTaskCounter,
    PersistTaskRemoved,
    RecordEvent,
)
from framework.core.spec import AppSpec, validate_app
from framework.state.records import (
    AdvanceTaskCounter,
    AppendEvent,
    AppVersionRecord,
    Change,
    DeleteApp,
    EventRecord,
    PutAppVersion,
    PutTask,
    RemoveTask,
    SetFrameworkId,
)
from framework.state.store import StoreError


def spec_json(spec: AppSpec) -> str:
    """The canonical stored form of a spec."""
    return json.dumps(spec.to_json(), sort_keys=True, separators=(",", ":"))


def app_spec(record: AppVersionRecord) -> AppSpec:
    """Revive a stored spec; a spec that no longer validates is a StoreError naming the version."""
    try:
        return validate_app(json.loads(record.spec))
    except ValueError as exc:  # json.JSONDecodeError and SpecError are both ValueErrors
        raise StoreError(
            f"stored spec of {record.app_id!r} version {record.version!r} is invalid: {exc}"
        ) from exc


def to_change(effect: Persist) -> Change:
    match effect:
        case PersistFrameworkId(framework_id=framework_id):
            return SetFrameworkId(framework_id)
        case PersistApp(app_id=app_id, version=version, spec=spec, created_at=created_at):
            return PutAppVersion(AppVersionRecord(app_id, version, spec_json(spec), created_at))
        case PersistAppDeleted(app_id=app_id, deleted_at=deleted_at):
            return DeleteApp(app_id, deleted_at)
        case PersistTask(record=record):
            return PutTask(record)
        case PersistTaskRemoved(task_id=task_id):
            return RemoveTask(task_id)
        case PersistTaskCounter(app_id=app_id, value=value):
            return AdvanceTaskCounter(app_id, value)
        case RecordEvent():
            payload = {"message": effect.message, "details": dict(effect.details)}
            return AppendEvent(
                EventRecord(
                    ts=effect.at,
                    kind=effect.kind,
                    payload=json.dumps(payload, separators=(",", ":")),
                    app_id=effect.app_id,
                    task_id=effect.task_id,
                )
            )
        case _:
            assert_never(effect)


def changes_for(effects: Iterable[Persist]) -> list[Change]:
    """One batch for `Store.apply`, in effect order."""
    # PersistTask is nearly every effect (a launch and each status update), so it skips the match:
    # a type test is a fraction of the cost of the pattern dispatch and a function call per effect.
    return [
        PutTask(effect.record) if type(effect) is PersistTask else to_change(effect) for effect in effects
    ]
