"""The HTTP API: `build_api(port, metrics, settings, log)` returns the aiohttp application.

Role: translate HTTP into `SchedulerPort` calls and views into JSON. The composition root
(framework/app.py) builds it with the driver as the port and serves it with
`web.AppRunner(app, access_log=None)` (this module logs requests itself, structured); tests build it
over an in-memory fake port.

Routes (docs/api.md has request and response examples):

    GET  /healthz  /readyz  /metrics  /v1/info  /v1/queue
    GET, POST          /v1/apps
    GET                /v1/apps/{id}/tasks       registered before /v1/apps/{id} so that ids
    GET                /v1/apps/{id}/versions    with '/' (shop/web) still reach these two
    GET, PUT, DELETE   /v1/apps/{id}

Because of that ordering an app whose last id segment is `tasks` or `versions` would be unreachable,
so such ids are refused with a 422 on POST and PUT.

Request bodies: `Content-Type: application/json` (else 415), at most `settings.max_body_bytes`
(else 413), UTF-8 JSON without duplicate keys or NaN (else 400), then `validate_app` (else 422 naming
every bad field). Every error, including aiohttp's own 404/405/413, goes out in the one problem shape
of framework/api/errors.py.

Must not: import framework.mesos, touch the store, or block the event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from structlog.typing import FilteringBoundLogger

from framework.api.errors import ApiError, problem_from_exception, problem_response
from framework.api.port import SchedulerPort
from framework.api.render import (
    app_json,
    info_json,
    queue_json,
    readiness_json,
    task_json,
    version_json,
)
from framework.core.spec import AppSpec, FieldError, SpecError, normalize_app_id, validate_app
from framework.metrics import CONTENT_TYPE, Metrics
from framework.settings import Settings, gantry_version

__all__ = ["LOG", "METRICS", "PORT", "RESERVED_LAST_SEGMENTS", "SETTINGS", "build_api"]

PORT = web.AppKey("port", SchedulerPort)
METRICS = web.AppKey("metrics", Metrics)
SETTINGS = web.AppKey("settings", Settings)
LOG = web.AppKey("log", FilteringBoundLogger)
VERSION = web.AppKey("version", str)

RESERVED_LAST_SEGMENTS = frozenset({"tasks", "versions"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_api(
    port: SchedulerPort, metrics: Metrics, settings: Settings, log: FilteringBoundLogger
) -> web.Application:
    # aiohttp enforces client_max_size in request.read(); the error middleware turns its 413 into
    # the problem shape.
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[_observe_middleware, _error_middleware],
    )
    app[PORT] = port
    app[METRICS] = metrics
    app[SETTINGS] = settings
    app[LOG] = log
    app[VERSION] = gantry_version()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/v1/info", _info)
    app.router.add_get("/v1/queue", _queue)
    app.router.add_get("/v1/apps", _list_apps)
    app.router.add_post("/v1/apps", _create_app)
    # Order matters: the suffixed routes must be tried before the catch-all id route.
    app.router.add_get("/v1/apps/{id:.+}/tasks", _tasks)
    app.router.add_get("/v1/apps/{id:.+}/versions", _versions)
    app.router.add_get("/v1/apps/{id:.+}", _get_app)
    app.router.add_put("/v1/apps/{id:.+}", _put_app)
    app.router.add_delete("/v1/apps/{id:.+}", _delete_app)
    return app


# --- middlewares ---------------------------------------------------------------------------------


@web.middleware
async def _observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request metrics and one structured log line per request (the error middleware runs inside)."""
    started = time.perf_counter()
    response = await handler(request)
    elapsed = time.perf_counter() - started
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].observe_http(request.method, route, response.status, elapsed)
    log = request.app[LOG]
    fields = {
        "method": request.method,
        "route": route,
        "status": response.status,
        "ms": round(elapsed * 1e3, 2),
    }
    raw_id = request.match_info.get("id")
    if raw_id is not None:
        # Canonical ('/shop/web') when valid, so API lines match the driver's lines for the app.
        try:
            fields["app_id"] = normalize_app_id(raw_id.rstrip("/"))
        except ValueError:
            fields["app_id"] = raw_id
    # Scrapes and polling GETs are frequent and uninteresting when they succeed.
    if request.method in ("GET", "HEAD") and response.status < 400:
        log.debug("http request", **fields)
    else:
        log.info("http request", **fields)
    return response


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        problem = problem_from_exception(exc, max_body_bytes=request.app[SETTINGS].max_body_bytes)
        if problem.status >= 500 and problem.code == "internal":
            request.app[LOG].exception("unhandled error in API handler", method=request.method,
                                       path=request.path)
        return problem_response(problem)


# --- helpers -------------------------------------------------------------------------------------


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(data), content_type="application/json", headers=headers
    )


def _url_app_id(request: web.Request) -> str:
    """The canonical app id from the URL; an id that cannot be valid names no app (404)."""
    raw = request.match_info["id"].rstrip("/")
    try:
        return normalize_app_id(raw)
    except ValueError as exc:
        raise ApiError.of(404, "app_not_found", f"app {raw!r} does not exist: its id {exc}") from None


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


async def _read_json(request: web.Request) -> object:
    if request.content_type != "application/json":
        raise ApiError.of(
            415,
            "unsupported_media_type",
            f"expected Content-Type: application/json, got {request.content_type or 'none'}",
        )
    if request.charset not in (None, "utf-8", "utf8"):
        raise ApiError.of(415, "unsupported_media_type", f"JSON must be UTF-8, got charset={request.charset}")
    body = await request.read()
    if not body.strip():
        raise ApiError.of(400, "bad_json", "the request body is empty; expected a JSON object")
    try:
        text = body.decode("utf-8")
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError.of(400, "bad_json", "the request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError.of(
            400,
            "bad_json",
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except ValueError as exc:  # from the two hooks above
        raise ApiError.of(400, "bad_json", f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError.of(400, "bad_json", "the request body is nested too deeply") from None


def _validate(body: object, url_id: str | None) -> AppSpec:
    """validate_app plus what only the API cares about: the URL id and the reserved last segments."""
    extra: list[FieldError] = []
    if url_id is not None and isinstance(body, dict):
        given = body.get("id")
        if given is None:
            body = {**body, "id": url_id}  # PUT may leave the id to the URL
        elif isinstance(given, str):
            try:
                if normalize_app_id(given) != url_id:
                    extra.append(FieldError("id", f"is {given!r} but the URL names {url_id!r}"))
            except ValueError:
                pass  # validate_app reports the malformed id itself
    try:
        spec = validate_app(body)
    except SpecError as exc:
        raise ApiError.of(422, "invalid_app", "the app spec is invalid", (*exc.errors, *extra)) from None
    if spec.id.rsplit("/", 1)[-1] in RESERVED_LAST_SEGMENTS:
        extra.append(
            FieldError("id", "must not end in a 'tasks' or 'versions' segment (reserved by the API)")
        )
    if extra:
        raise ApiError.of(422, "invalid_app", "the app spec is invalid", extra)
    return spec


def _location(app_id: str) -> str:
    return "/v1/apps" + app_id


# --- handlers ------------------------------------------------------------------------------------


async def _healthz(request: web.Request) -> web.Response:
    # Liveness only: the process serves HTTP. Whether it can schedule is /readyz.
    return _json({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    readiness = await request.app[PORT].ready()
    checks = readiness_json(readiness)
    if readiness.ready:
        return _json({"ready": True, "checks": checks})
    reasons = "; ".join(f"{c.name}: {c.message or 'failing'}" for c in readiness.failing)
    problem = ApiError.of(503, "not_ready", f"not ready: {reasons}").problem
    return problem_response(problem, extra={"checks": checks})


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


async def _info(request: web.Request) -> web.Response:
    return _json(info_json(await request.app[PORT].info(), request.app[VERSION]))


async def _queue(request: web.Request) -> web.Response:
    return _json({"queue": [queue_json(entry) for entry in await request.app[PORT].queue()]})


async def _list_apps(request: web.Request) -> web.Response:
    return _json({"apps": [app_json(view) for view in await request.app[PORT].apps()]})


async def _create_app(request: web.Request) -> web.Response:
    spec = _validate(await _read_json(request), url_id=None)
    submitted = await request.app[PORT].submit_app(spec, create_only=True)
    return _json(app_json(submitted.app), status=201, headers={"Location": _location(spec.id)})


async def _get_app(request: web.Request) -> web.Response:
    return _json(app_json(await request.app[PORT].app(_url_app_id(request))))


async def _put_app(request: web.Request) -> web.Response:
    raw = request.match_info["id"].rstrip("/")
    try:
        url_id = normalize_app_id(raw)
    except ValueError as exc:
        raise ApiError.of(
            422, "invalid_app", "the app spec is invalid", [FieldError("id", str(exc))]
        ) from None
    spec = _validate(await _read_json(request), url_id=url_id)
    submitted = await request.app[PORT].submit_app(spec, create_only=False)
    if submitted.created:
        return _json(app_json(submitted.app), status=201, headers={"Location": _location(spec.id)})
    return _json(app_json(submitted.app))


async def _delete_app(request: web.Request) -> web.Response:
    app_id = _url_app_id(request)
    await request.app[PORT].delete_app(app_id)
    return _json({"id": app_id, "state": "deleting"}, status=202)


async def _tasks(request: web.Request) -> web.Response:
    app_id = _url_app_id(request)
    tasks = await request.app[PORT].tasks(app_id)
    return _json({"app_id": app_id, "tasks": [task_json(task) for task in tasks]})


async def _versions(request: web.Request) -> web.Response:
    app_id = _url_app_id(request)
    versions = await request.app[PORT].versions(app_id)
    return _json({"app_id": app_id, "versions": [version_json(v) for v in versions]})
