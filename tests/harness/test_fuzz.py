"""Hypothesis junk against a running harness: it never crashes and answers 4xx unless valid.

One harness and one event loop serve every example (starting a server per example would be slow);
each example is one HTTP request made with a plain aiohttp client.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import Harness
from tests.harness.client import JSON, PATH, PROTOBUF

CALL_TYPES = [
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "REVIVE",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "RECONCILE",
    "MESSAGE",
    "REQUEST",
    "SUPPRESS",
    "UPDATE_FRAMEWORK",
    "ACCEPT_INVERSE_OFFERS",
    "DECLINE_INVERSE_OFFERS",
    "ACKNOWLEDGE_OPERATION_STATUS",
    "RECONCILE_OPERATIONS",
    "UNKNOWN",
    "BOGUS",
]
# Statuses a well-formed-or-not request may get; 5xx would mean the harness broke.
ALLOWED = {200, 202, 400, 403, 404, 406, 415}


class Rig:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.harness = Harness(agents=1, heartbeat_interval=0.2, allocation_interval=0.05, record_calls=False)
        self.loop.run_until_complete(self.harness.start())
        self.session = self.loop.run_until_complete(self._session())

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def post(self, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> int:
        async def go() -> int:
            sent = {"Content-Type": content_type, **(headers or {})}
            async with self.session.post(self.harness.url + PATH, data=body, headers=sent) as response:
                # A valid SUBSCRIBE streams forever: look at the status only.
                return response.status

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.run_until_complete(self.harness.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
ids = st.fixed_dictionaries({"value": st.text(max_size=12)})
call_shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(CALL_TYPES)},
    optional={
        "framework_id": ids | json_values,
        "subscribe": st.fixed_dictionaries(
            {
                "framework_info": st.fixed_dictionaries(
                    {},
                    optional={
                        "user": st.text(max_size=5),
                        "name": st.text(max_size=5),
                        "roles": st.lists(st.text(max_size=5)),
                        "role": st.text(max_size=5),
                        "capabilities": st.lists(
                            st.fixed_dictionaries(
                                {
                                    "type": st.sampled_from(["MULTI_ROLE", "PARTITION_AWARE", "NOPE"])
                                    | st.integers()
                                }
                            )
                        ),
                    },
                )
            }
        ),
        "accept": st.fixed_dictionaries({}, optional={"offer_ids": st.lists(ids), "operations": json_values}),
        "decline": st.fixed_dictionaries(
            {},
            optional={
                "offer_ids": st.lists(ids),
                "filters": st.fixed_dictionaries({"refuse_seconds": st.floats() | st.text()}),
            },
        ),
        "kill": st.fixed_dictionaries({}, optional={"task_id": ids, "agent_id": ids}),
        "acknowledge": st.fixed_dictionaries(
            {},
            optional={
                "agent_id": ids,
                "task_id": ids,
                "uuid": st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode())
                | st.text(max_size=8),
            },
        ),
        "reconcile": st.fixed_dictionaries(
            {}, optional={"tasks": st.lists(st.fixed_dictionaries({"task_id": ids}))}
        ),
    },
)

FAST = settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)


@FAST
@given(body=st.binary(max_size=200), content_type=st.sampled_from([JSON, PROTOBUF]))
def test_random_bytes(rig: Rig, body: bytes, content_type: str) -> None:
    status = rig.post(body, content_type)
    assert status in ALLOWED
    if content_type == JSON:
        assert status >= 400  # random bytes are never a valid JSON Call (no type)
    assert rig.harness.errors == []


@FAST
@given(document=json_values)
def test_random_json(rig: Rig, document: Any) -> None:
    status = rig.post(json.dumps(document).encode(), JSON)
    assert 400 <= status < 500
    assert rig.harness.errors == []


@FAST
@given(call=call_shaped, stream_id=st.none() | st.text(alphabet="abcdef0123456789-", max_size=36))
def test_random_call_shaped_dicts(rig: Rig, call: dict[str, Any], stream_id: str | None) -> None:
    headers = {"Mesos-Stream-Id": stream_id} if stream_id is not None else {}
    status = rig.post(json.dumps(call).encode(), JSON, headers)
    assert status in ALLOWED
    if status < 400:
        # Only a well-formed SUBSCRIBE (no stream id header) can succeed: every other call
        # names a framework this harness has never seen.
        assert call["type"] == "SUBSCRIBE" and stream_id is None
    assert rig.harness.errors == []
