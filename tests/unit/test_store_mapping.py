"""framework.state.mapping: core Persist* effects become store changes, and specs survive the trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.core.effects import (
    Persist,
    PersistApp,
    PersistAppDeleted,
    PersistFrameworkId,
    PersistTask,
    PersistTaskCounter,
    PersistTaskRemoved,
    RecordEvent,
    TaskRecord,
)
from framework.core.events import TaskState
from framework.core.spec import validate_app
from framework.state.mapping import app_spec, changes_for, spec_json, to_change
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
from framework.state.sqlite import SqliteStore
from framework.state.store import StoreError

SPEC = validate_app(
    {"id": "shop/web", "cmd": "python3 -m http.server $PORT0", "ports": ["http"], "env": {"B": "1", "A": "2"}}
)
TASK = TaskRecord(
    task_id="shop_web.1",
    app_id="/shop/web",
    version="v1",
    slot=0,
    state=TaskState.RUNNING,
    updated_at=5.0,
    agent_id="a1",
    hostname="h1",
    ports=(31000,),
    healthy=True,
    started_at=4.0,
    status_uuid=b"\x01" * 16,
)
SPEC_JSON = spec_json(SPEC)

CASES: list[tuple[Persist, Change]] = [
    (PersistFrameworkId("fw-1"), SetFrameworkId("fw-1")),
    (
        PersistApp(app_id="/shop/web", version="v1", spec=SPEC, created_at=3.0),
        PutAppVersion(AppVersionRecord("/shop/web", "v1", SPEC_JSON, 3.0)),
    ),
    (PersistAppDeleted(app_id="/shop/web", deleted_at=9.0), DeleteApp("/shop/web", 9.0)),
    (PersistTask(TASK), PutTask(TASK)),  # the very same record: the store reuses the core's type
    (PersistTaskRemoved("shop_web.1"), RemoveTask("shop_web.1")),
    (PersistTaskCounter(app_id="/shop/web", value=4), AdvanceTaskCounter("/shop/web", 4)),
    (
        RecordEvent(
            at=7.0,
            kind="task_failed",
            message="exited 1",
            app_id="/shop/web",
            task_id="shop_web.1",
            details=(("exit_code", 1), ("agent", "a1")),
        ),
        AppendEvent(
            EventRecord(
                ts=7.0,
                kind="task_failed",
                app_id="/shop/web",
                task_id="shop_web.1",
                payload='{"message":"exited 1","details":{"exit_code":1,"agent":"a1"}}',
            )
        ),
    ),
]


@pytest.mark.parametrize(("effect", "change"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_each_persist_effect_maps_to_one_change(effect: Persist, change: Change) -> None:
    assert to_change(effect) == change


def test_changes_for_maps_a_mixed_batch_like_to_change_in_effect_order() -> None:
    # changes_for has a shortcut for PersistTask; interleaving it with every other effect checks
    # that the shortcut yields the generic mapping's change and keeps the batch order.
    effects = [effect for case in CASES for effect in (case[0], PersistTask(TASK))]
    assert changes_for(effects) == [to_change(effect) for effect in effects]
    assert changes_for([PersistTask(TASK)] * 3) == [PutTask(TASK)] * 3


def test_spec_json_is_canonical_and_revives_to_the_same_spec() -> None:
    assert json.dumps(json.loads(SPEC_JSON), sort_keys=True, separators=(",", ":")) == SPEC_JSON
    assert spec_json(validate_app(json.loads(SPEC_JSON))) == SPEC_JSON
    assert app_spec(AppVersionRecord("/shop/web", "v1", SPEC_JSON, 3.0)) == SPEC


@pytest.mark.parametrize(
    ("spec", "match"),
    [("{not json", "'/shop/web' version 'v9' is invalid"), ('{"id": "shop/web", "cpus": -1}', "cpus")],
)
def test_a_stored_spec_that_no_longer_validates_is_a_store_error(spec: str, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        app_spec(AppVersionRecord("/shop/web", "v9", spec, 3.0))


def test_core_effects_round_trip_through_the_sqlite_store(tmp_path: Path) -> None:
    effects: list[Persist] = [
        case[0] for case in CASES if not isinstance(case[0], PersistTaskRemoved | PersistAppDeleted)
    ]
    # Storing the same content-addressed version twice is idempotent, as the core relies on.
    effects.append(PersistApp(app_id="/shop/web", version="v1", spec=SPEC, created_at=3.0))
    store = SqliteStore.open(tmp_path)
    store.apply(changes_for(effects))
    snap = store.load()
    store.close()
    assert snap.framework_id == "fw-1"
    assert snap.tasks == [TASK]
    assert snap.task_counters == {"/shop/web": 4}
    assert app_spec(snap.apps["/shop/web"]) == SPEC
    assert snap.last_event_seq == 1
