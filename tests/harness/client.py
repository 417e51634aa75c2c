"""A deliberately plain Mesos scheduler client for testing the harness (not Gantry's client).

Bodies are written as Mesos JSON dictionaries; with protobuf the same dictionary is converted to
a Call message and serialized, and protobuf events are turned back into the same dictionary
shape, so one test body runs in both content types.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from functools import partial
from typing import Any

import aiohttp

from proto import jsoncodec, recordio
from proto.mesos.v1.scheduler import scheduler_pb2

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
PATH = "/api/v1/scheduler"
Event = dict[str, Any]


def framework_info(**extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"user": "tester", "name": "harness-test"}
    info.update(extra)
    return info


class Stream:
    """One SUBSCRIBE response, read in the background into decoded events."""

    def __init__(self, response: aiohttp.ClientResponse, encoding: str) -> None:
        self.response = response
        self.encoding = encoding
        self.stream_id = response.headers.get("Mesos-Stream-Id", "")
        self.events: list[Event] = []
        self.chunks: list[bytes] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._cursor = 0
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        decoder = recordio.Decoder()
        try:
            async for chunk in self.response.content.iter_any():
                self.chunks.append(chunk)
                for record in decoder.feed(chunk):
                    self.events.append(self._decode(record))
                    self._changed.set()
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.closed.set()
            self._changed.set()

    def _decode(self, record: bytes) -> Event:
        if self.encoding == JSON:
            assert b"\n" not in record, "a JSON record contains a raw newline"
            decoded: Event = json.loads(record)
            return decoded
        return jsoncodec.to_dict(scheduler_pb2.Event.FromString(record))

    @property
    def framework_id(self) -> str:
        value: str = self.events[0]["subscribed"]["framework_id"]["value"]
        return value

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.get("type") == kind]

    def updates(self, task_id: str | None = None) -> list[dict[str, Any]]:
        statuses = [e["update"]["status"] for e in self.of_type("UPDATE")]
        return [s for s in statuses if task_id is None or s["task_id"]["value"] == task_id]

    async def wait(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until predicate() is truthy (re-checked on every new event); return its value."""
        async with asyncio.timeout(timeout):
            while True:
                value = predicate()
                if value:
                    return value
                self._changed.clear()
                if self.closed.is_set():
                    value = predicate()
                    if value:
                        return value
                    raise AssertionError("stream closed before the condition was met")
                await self._changed.wait()

    async def next(self, kind: str, timeout: float = 5.0) -> Event:
        """The next event of `kind` after the previous `next` call's result."""

        def find() -> Event | None:
            for index in range(self._cursor, len(self.events)):
                if self.events[index].get("type") == kind:
                    self._cursor = index + 1
                    return self.events[index]
            return None

        event: Event = await self.wait(find, timeout)
        return event

    async def update(self, task_id: str, state: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for an UPDATE of `task_id` to `state`; returns the status."""

        def find() -> dict[str, Any] | None:
            for status in self.updates(task_id):
                if status["state"] == state:
                    return status
            return None

        status: dict[str, Any] = await self.wait(find, timeout)
        return status

    def offers_seen(self) -> list[dict[str, Any]]:
        """Every offer received so far, in order."""
        return [o for e in self.of_type("OFFERS") for o in e["offers"]["offers"]]

    async def offers(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait for at least `count` offers in total; returns all offers received so far."""

        def find() -> list[dict[str, Any]] | None:
            offers = self.offers_seen()
            return offers if len(offers) >= count else None

        found: list[dict[str, Any]] = await self.wait(find, timeout)
        return found

    async def close(self) -> None:
        self.response.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _more_updates(stream: Stream, seen: int) -> bool:
    return len(stream.of_type("UPDATE")) > seen or stream.closed.is_set()


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str, encoding: str = JSON) -> None:
        self.session = session
        self.url = url + PATH
        self.encoding = encoding
        self.streams: list[Stream] = []
        self._ackers: list[asyncio.Task[None]] = []

    def encode(self, body: dict[str, Any]) -> bytes:
        if self.encoding == JSON:
            return json.dumps(body).encode()
        return jsoncodec.parse(body, scheduler_pb2.Call).SerializeToString()

    async def post(
        self,
        body: dict[str, Any] | bytes,
        *,
        stream_id: str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> tuple[int, str]:
        data = body if isinstance(body, bytes) else self.encode(body)
        sent = {"Content-Type": content_type or self.encoding}
        if stream_id is not None:
            sent["Mesos-Stream-Id"] = stream_id
        sent.update(headers or {})
        async with self.session.post(self.url, data=data, headers=sent) as response:
            return response.status, await response.text()

    async def subscribe(
        self,
        info: dict[str, Any] | None = None,
        *,
        framework_id: str | None = None,
        accept: str | None = None,
        suppressed_roles: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Stream:
        info = dict(info or framework_info())
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if framework_id is not None:
            info["id"] = {"value": framework_id}
            body["framework_id"] = {"value": framework_id}
        if suppressed_roles is not None:
            body["subscribe"]["suppressed_roles"] = suppressed_roles
        sent = {"Content-Type": self.encoding, "Accept": accept or self.encoding}
        sent.update(headers or {})
        response = await self.session.post(self.url, data=self.encode(body), headers=sent)
        stream = Stream(response, response.headers.get("Content-Type", self.encoding))
        self.streams.append(stream)
        return stream

    async def call(self, stream: Stream, kind: str, **payload: Any) -> tuple[int, str]:
        """A non-SUBSCRIBE call on behalf of the framework of `stream`."""
        body: dict[str, Any] = {"type": kind, "framework_id": {"value": stream.framework_id}}
        body.update(payload)
        return await self.post(body, stream_id=stream.stream_id)

    async def ack(self, stream: Stream, status: dict[str, Any]) -> tuple[int, str]:
        return await self.call(
            stream,
            "ACKNOWLEDGE",
            acknowledge={
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": status["uuid"],
            },
        )

    def auto_ack(self, stream: Stream) -> None:
        """Acknowledge every update that carries a uuid, as a correct scheduler does."""

        async def run() -> None:
            done = 0
            while True:
                await stream.wait(partial(_more_updates, stream, done), timeout=3600)
                if stream.closed.is_set():
                    return
                for event in stream.of_type("UPDATE")[done:]:
                    status = event["update"]["status"]
                    if "uuid" in status:
                        await self.ack(stream, status)
                    done += 1

        self._ackers.append(asyncio.create_task(run()))

    async def close(self) -> None:
        for acker in self._ackers:
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await acker
        for stream in self.streams:
            await stream.close()


def uuid_b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def scalar(name: str, value: float) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}}


def ports(begin: int, end: int) -> dict[str, Any]:
    return {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": begin, "end": end}]}}


def task(
    task_id: str, offer: dict[str, Any], cpus: float = 0.1, mem: float = 32, **extra: Any
) -> dict[str, Any]:
    """A command task for `offer`'s agent."""
    info: dict[str, Any] = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [scalar("cpus", cpus), scalar("mem", mem)],
        "command": {"value": "sleep 1000"},
    }
    info.update(extra)
    return info


def launch(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}


def accept_body(
    offers: list[dict[str, Any]], *operations: dict[str, Any], refuse: float | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"offer_ids": [o["id"] for o in offers], "operations": list(operations)}
    if refuse is not None:
        body["filters"] = {"refuse_seconds": refuse}
    return body


def labels(**values: str) -> dict[str, Any]:
    return {"labels": [{"key": k, "value": v} for k, v in values.items()]}
