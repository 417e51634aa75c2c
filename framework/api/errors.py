"""Every API error as one JSON problem shape, and the single table from domain errors to HTTP status.

Role: handlers raise `ApiError` (or let a `DomainError` from the port escape); the error middleware
in framework/api/app.py calls `problem_from_exception` and sends what it returns. The body is always

    {"error": {"code": "invalid_app", "message": "...", "fields": [{"path": "cpus", "message": "..."}]}}

with `fields` present (empty unless the request body had field errors), so clients parse one shape
for every status. `code` is a stable machine-readable word; `message` is for humans and may change.

Must not: leak internals. Unexpected exceptions become a 500 whose message says nothing about the
cause; the traceback goes to the log, never to the client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

from framework.api.port import AppAlreadyExists, AppNotFound, DomainError, SchedulerUnavailable
from framework.core.spec import FieldError

__all__ = ["ApiError", "Problem", "problem_from_exception", "problem_response"]


@dataclass(frozen=True, slots=True)
class Problem:
    """An error to send: status, stable code, human message, field errors, extra headers."""

    status: int
    code: str
    message: str
    fields: tuple[FieldError, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": [error.to_json() for error in self.fields],
            }
        }


class ApiError(Exception):
    """Raised by handlers for request-level problems (bad JSON, wrong content type, invalid spec)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem

    @classmethod
    def of(cls, status: int, code: str, message: str, fields: Sequence[FieldError] = ()) -> ApiError:
        return cls(Problem(status, code, message, tuple(fields)))


# aiohttp raises its own HTTPException subclasses for routing and body-size problems; these are the
# codes they get. Anything not listed keeps its status with a generic code.
_HTTP_CODES: Mapping[int, str] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem_from_exception(exc: BaseException, *, max_body_bytes: int) -> Problem:
    """The problem to send for `exc`. Domain errors map to statuses here and only here."""
    if isinstance(exc, ApiError):
        return exc.problem
    if isinstance(exc, DomainError):
        return _domain_problem(exc)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return Problem(413, "payload_too_large", f"request body is larger than {max_body_bytes} bytes")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(exc.allowed_methods)
        return Problem(
            405,
            "method_not_allowed",
            f"{exc.method} is not allowed here; allowed: {', '.join(allowed)}",
            headers=(("Allow", ",".join(allowed)),),
        )
    if isinstance(exc, web.HTTPNotFound):
        return Problem(404, "not_found", "no such endpoint; see docs/api.md")
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return Problem(exc.status, _HTTP_CODES.get(exc.status, "http_error"), exc.reason)
    return Problem(500, "internal", "internal error; the server log has the details")


def _domain_problem(exc: DomainError) -> Problem:
    # The one place a domain error gets its status. A DomainError subclass missing here is a bug,
    # answered as a plain 500 rather than guessed at.
    match exc:
        case AppNotFound():
            return Problem(404, "app_not_found", str(exc))
        case AppAlreadyExists():
            return Problem(409, "app_exists", str(exc))
        case SchedulerUnavailable():
            return Problem(503, "unavailable", str(exc), headers=(("Retry-After", "5"),))
        case _:
            return Problem(500, "internal", "internal error; the server log has the details")


def problem_response(problem: Problem, extra: Mapping[str, object] | None = None) -> web.Response:
    body = problem.body()
    if extra:
        body.update(extra)
    return web.Response(
        status=problem.status,
        text=json.dumps(body),
        content_type="application/json",
        headers=dict(problem.headers),
    )
