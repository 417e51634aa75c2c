"""The life of one call to the master: attempts, redirects, retries and how the caller learns the outcome.

Role: a `PendingCall` carries one encoded call through `MesosClient`'s pipelines. `attempt()` reads
the stream id and master afresh and submits the bytes; `on_answer` gets what the pipeline learned and
settles the caller, follows a 307 at once, or asks the client to try again after a backoff.
`PendingAck` is the same for an ACKNOWLEDGE settled through a plain callback rather than a future
(two of every launched task's three calls). `send_in_order` sends the calls of one effect one after
the other; `error_for_status` maps an HTTP answer to a transient or permanent error.

Caller: framework/mesos/client.py only (`MesosClient.submit`, `acknowledge`, and its retry timer).

Retry rule (client.py's module docstring has the reasoning): an ACCEPT goes again only when it
certainly never reached the master (not written, 503, 429, 307); every other call is idempotent at
the master and may go again after any failure, up to the client's `call_attempts`.

Must not: hold its own connections, timers or tasks (the client's pipelines and `_retry_later` do
that), decide anything about scheduling, or let protobuf objects out of framework/mesos.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from framework.core.effects import Acknowledge
from framework.mesos.errors import MesosError, PermanentMesosError, TransientMesosError
from framework.mesos.pipeline import NotSentError, PipelineError, Response
from framework.mesos.wire import encode_call
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

if TYPE_CHECKING:
    from framework.mesos.client import MesosClient

AckDone = Callable[[Acknowledge, Exception | None], None]
_ACKNOWLEDGE = scheduler.Call.ACKNOWLEDGE


class PendingCall:
    """One call on its way through the pipelines: its attempts, redirects and the caller's future.

    `attempt()` reads the stream id and master afresh (a resubscription between attempts moves
    them) and submits; `on_answer` runs when the pipeline has the outcome and either settles the
    future, follows a 307 at once, or schedules the next attempt after a backoff. The retry rule
    (module docstring) lives in `on_answer`.
    """

    __slots__ = (
        "attempts",
        "base",
        "body",
        "client",
        "future",
        "idempotent",
        "name",
        "redirected",
        "redirects",
        "stream_id",
        "urgent",
    )

    def __init__(
        self,
        client: MesosClient,
        call_type: scheduler.Call.Type.ValueType,
        body: bytes,
        future: asyncio.Future[None],
    ) -> None:
        self.client = client
        self.future = future
        self.name = CALL_NAMES.get(call_type) or str(call_type)
        self.body = body
        self.idempotent = call_type != scheduler.Call.ACCEPT
        # ACKs may wait behind everything else: offer answers must leave within their interval.
        self.urgent = call_type != _ACKNOWLEDGE
        self.attempts = self.redirects = 0
        self.redirected: str | None = None
        self.base = self.stream_id = ""

    def settled(self) -> bool:
        return self.future.done()

    def succeed(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def attempt(self) -> None:
        if self.settled():
            return  # the caller gave up (cancelled): do not send it again
        client = self.client
        stream_id, base = client._stream_id, self.redirected or client.master_url
        pipeline = client._pipeline(base) if base is not None and stream_id is not None else None
        if pipeline is None or stream_id is None or base is None:
            self.fail(TransientMesosError(f"cannot send {self.name}: not subscribed"))
            return
        self.base, self.stream_id = base, stream_id
        pipeline.submit(self.body, stream_id, self.on_answer, urgent=self.urgent)

    def fail(self, error: MesosError) -> None:
        if not self.future.done():
            self.client.last_error = str(error)
            self.future.set_exception(error)

    def on_answer(self, outcome: Response | PipelineError) -> None:
        client = self.client
        if isinstance(outcome, Response):
            status = outcome.status
            if status == 202 or status == 200:
                client.calls_sent += 1
                self.succeed()
                return
            if status == 307:
                self.redirects += 1
                if self.redirects > client._max_redirects:
                    self.fail(
                        TransientMesosError(f"{self.name}: more than {client._max_redirects} redirects")
                    )
                    return
                try:
                    self.redirected = client._follow_redirect(outcome.headers.get("location"), self.base)
                except TransientMesosError as exc:
                    self.fail(exc)
                    return
                self.attempt()
                return
            failure = client._call_error(outcome, self.name, self.stream_id, self.base)
            # 503 ("not the leader / recovering") and 429 (framework rate limit) are answered
            # before the master processes the call: even an ACCEPT may go again.
            retry_allowed = self.idempotent or status in (429, 503)
        elif isinstance(outcome, NotSentError):
            failure = TransientMesosError(f"{self.name}: not sent to {self.base}: {outcome}")
            retry_allowed = True
        else:
            # Written, never answered: the master may have processed it.
            failure = TransientMesosError(
                f"{self.name} to {self.base} may have reached the master: {outcome}"
            )
            retry_allowed = self.idempotent
        self.attempts += 1
        if (
            isinstance(failure, PermanentMesosError)
            or not retry_allowed
            or self.attempts >= client._call_attempts
            or client._pipelines is None  # the client stopped
        ):
            self.fail(failure)
            return
        client._retry_later(self, client._backoff.delay(self.attempts - 1, client._jitter()))


class PendingAck(PendingCall):
    """An ACKNOWLEDGE whose outcome goes to a callback (`MesosClient.acknowledge`), not a future."""

    __slots__ = ("done", "effect")

    def __init__(self, client: MesosClient, body: bytes, effect: Acknowledge, done: AckDone) -> None:
        # Fields set here rather than through PendingCall.__init__: this runs twice per launched task.
        self.client = client
        self.body = body
        self.effect = effect
        self.done: AckDone | None = done
        self.name = "ACKNOWLEDGE"
        self.idempotent = True
        self.urgent = False  # ACKs wait behind offer answers (see PendingCall)
        self.attempts = self.redirects = 0
        self.redirected = None
        self.base = self.stream_id = ""

    def settled(self) -> bool:
        return self.done is None

    def succeed(self) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(self.effect, None)

    def on_answer(self, outcome: Response | PipelineError) -> None:
        # Nearly every answer is a 202: settled here without the general path's type tests and
        # calls (two ACKs per launched task); anything else takes that path.
        done = self.done
        if type(outcome) is Response and outcome.status == 202 and done is not None:
            self.client.calls_sent += 1
            self.done = None
            done(self.effect, None)
            return
        PendingCall.on_answer(self, outcome)

    def fail(self, error: MesosError) -> None:
        done, self.done = self.done, None
        if done is not None:
            self.client.last_error = str(error)
            done(self.effect, error)


CALL_NAMES = {number: name for name, number in scheduler.Call.Type.items()}


def send_in_order(client: MesosClient, calls: list[scheduler.Call], future: asyncio.Future[None]) -> None:
    """Several calls for one effect (a large reconciliation): each once the one before succeeded."""
    remaining = iter(calls)
    loop = future.get_loop()

    def next_call(previous: asyncio.Future[None] | None) -> None:
        if future.done():
            return
        if previous is not None:
            if previous.cancelled():
                future.cancel()
                return
            if (error := previous.exception()) is not None:
                future.set_exception(error)
                return
        call = next(remaining, None)
        if call is None:
            future.set_result(None)
            return
        step: asyncio.Future[None] = loop.create_future()
        step.add_done_callback(next_call)
        PendingCall(client, call.type, encode_call(call, client._content_type), step).attempt()

    next_call(None)


def error_for_status(status: int, reason: str, detail: str, what: str) -> MesosError:
    """Map a non-success answer to an error that says whether retrying helps."""
    message = f"{what} failed with {status} {reason}".rstrip()
    if detail:
        message += f": {detail}"
    if status == 429 or status >= 500 or status < 400:
        return TransientMesosError(message)
    return PermanentMesosError(message, status=status, detail=detail)
