"""Errors of the Mesos client, split by whether retrying can help (STYLE.md section 5).

Role: every failure the client raises or records is one of these, so callers (the driver, the
readiness probe, the CLI) can decide by type alone: a `TransientMesosError` goes away by itself
(the client resubscribes with backoff; a failed call may be retried after the next SUBSCRIBED); a
`PermanentMesosError` will not, and needs an operator or a code fix.

Must not: import aiohttp or protobuf, so anything may import it.
"""

from __future__ import annotations


class MesosError(Exception):
    """Base class: something went wrong talking to the Mesos master."""


class TransientMesosError(MesosError):
    """Retrying helps: dropped stream, missed heartbeats, 5xx/503/429, timeouts, not subscribed yet."""


class PermanentMesosError(MesosError):
    """Retrying cannot help: a 4xx the master will keep giving, or the framework was removed.

    `status` is the HTTP status when the error came from a response (None for an ERROR event), and
    `detail` the master's own words (response body or ERROR message).
    """

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class FrameworkRemovedError(PermanentMesosError):
    """The master removed this framework (teardown or failover timeout): its id can never subscribe again."""
