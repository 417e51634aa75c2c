"""The `gantry` command: run the framework, or talk to a running one from a shell or a CI job.

    gantry run [--master URL] [--listen HOST:PORT] [--data-dir DIR] [--local-agents N] ...
    gantry [--url URL] apps [--json]          (client options go before or after the command)
    gantry tasks APP [--url URL] [--json]
    gantry deploy FILE [--url URL] [--json]

`run` parses settings (flags over GANTRY_* variables, framework/settings.py) and hands them to the
composition root, `framework.app.run(settings) -> int`, imported lazily so the client commands start
fast and never load the scheduler. The client commands use the HTTP API at `--url`, else
$GANTRY_URL, else http://127.0.0.1:8080, through urllib (blocking is fine in a one-shot command).

Exit codes: 0 success; 1 the request or the run failed (unreachable server, HTTP error, invalid
file); 2 usage errors, invalid settings, and commands that a later version adds (wait, promote,
abort, rollback), which say so rather than pretend. 130 after Ctrl-C. Errors are one or a few plain
lines on stderr, never a traceback.

Must not: import framework.mesos, the store or the core at module level (`run` reaches them only
through framework.app); keep module-level state (streams and environment are passed to `main`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

from framework.settings import Settings, SettingsError, add_run_arguments, gantry_version, load_settings

__all__ = ["DEFAULT_URL", "main"]

DEFAULT_URL = "http://127.0.0.1:8080"
LATER_COMMANDS = {
    "wait": "wait for a deployment to finish",
    "promote": "promote a canary or blue/green deployment",
    "abort": "abort a running deployment",
    "rollback": "roll an app back to an earlier version",
}
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True, slots=True)
class Console:
    out: TextIO
    err: TextIO

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")


class CommandFailed(Exception):
    """A client command failed for a reason the user can act on; the message says which."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that writes to the given console instead of sys.stdout/sys.stderr."""

    def __init__(self, *args: Any, console: Console, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._console = console

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (self._console.err if file is sys.stderr else self._console.out).write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._console.err.write(message)
        raise SystemExit(status)


def build_parser(console: Console) -> argparse.ArgumentParser:
    parser = _Parser(prog="gantry", description="A native Apache Mesos framework.", console=console)
    parser.add_argument("--version", action="version", version=f"gantry {gantry_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run the scheduler (embedded local cluster unless --master)",
                              console=console)
    add_run_arguments(run)

    # The client options work before the command (`gantry --url U apps`) and after it. After it they
    # default to SUPPRESS, so a subcommand does not overwrite a value given before the command.
    client = _Parser(add_help=False, console=console)
    _add_client_options(parser, suppress=False)
    _add_client_options(client, suppress=True)

    commands.add_parser("apps", parents=[client], help="list apps", console=console)
    tasks = commands.add_parser("tasks", parents=[client], help="list an app's tasks", console=console)
    tasks.add_argument("app", metavar="APP", help="app id, e.g. shop/web")
    deploy = commands.add_parser("deploy", parents=[client], console=console,
                                 help="create or update the app in a JSON file (PUT /v1/apps/{id})")
    deploy.add_argument("file", metavar="FILE", help="app spec JSON file (docs/app-spec.md)")
    for name, what in LATER_COMMANDS.items():
        later = commands.add_parser(name, help=f"{what} (not yet available)", console=console)
        later.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _add_client_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--url", default=default(None),
                        help=f"Gantry API base URL [env GANTRY_URL, default {DEFAULT_URL}]")
    parser.add_argument("--timeout", type=float, default=default(30.0),
                        help="seconds to wait for the API (default 30)")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="print the API's JSON instead of a table")


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Entry point of the `gantry` console script; returns the exit code."""
    console = Console(
        stdout if stdout is not None else sys.stdout, stderr if stderr is not None else sys.stderr
    )
    environ = env if env is not None else os.environ
    try:
        args = build_parser(console).parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command = f"gantry {args.command}"
    try:
        return _dispatch(args, console, environ)
    except CommandFailed as exc:
        console.warn(f"{command}: {exc}")
        return exc.code
    except KeyboardInterrupt:
        console.warn(f"{command}: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so in one line rather than dump a traceback on a CI log
        console.warn(f"{command}: internal error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace, console: Console, env: Mapping[str, str]) -> int:
    if args.command == "run":
        return _run(args, console, env)
    if args.command in LATER_COMMANDS:
        raise CommandFailed(f"not yet available in this version of Gantry ({gantry_version()})", EXIT_USAGE)
    api = _Api(_base_url(args.url, env), args.timeout)
    match args.command:
        case "apps":
            return _apps(api, console, args.json)
        case "tasks":
            return _tasks(api, console, args.app, args.json)
        case "deploy":
            return _deploy(api, console, Path(args.file), args.json)
    raise CommandFailed(f"unknown command {args.command!r}", EXIT_USAGE)


# --- gantry run ----------------------------------------------------------------------------------


def _run(args: argparse.Namespace, console: Console, env: Mapping[str, str]) -> int:
    try:
        settings = load_settings(vars(args), env)
    except SettingsError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    try:
        module = importlib.import_module("framework.app")
    except ModuleNotFoundError as exc:
        if exc.name != "framework.app":
            raise
        raise CommandFailed("this build has no composition root (framework/app.py); cannot run") from None
    run = cast(Callable[[Settings], int], module.run)
    return run(settings)


# --- the HTTP client -----------------------------------------------------------------------------


def _base_url(flag: str | None, env: Mapping[str, str]) -> str:
    raw = flag or env.get("GANTRY_URL") or DEFAULT_URL
    bad = CommandFailed(f"--url / GANTRY_URL must be http(s)://host:port, got {raw!r}", EXIT_USAGE)
    try:
        parts = urllib.parse.urlsplit(raw)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in 0-65535
    except ValueError:  # e.g. "http://[::1" or "http://host:abc": urllib would fail later, less clearly
        raise bad from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in raw):
        raise bad
    return raw.rstrip("/")


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: Any


class _Api:
    """A tiny JSON client for Gantry's API. Non-2xx answers come back as replies, not exceptions."""

    def __init__(self, base: str, timeout: float) -> None:
        self.base = base
        self.timeout = timeout

    def request(self, method: str, path: str, body: object | None = None) -> _Reply:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _Reply(response.status, self._decode(response.read(), response.status))
        except urllib.error.HTTPError as error:
            with error:
                return _Reply(error.code, self._decode(error.read(), error.code))
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise CommandFailed(self._timed_out()) from None
            raise CommandFailed(self._unreachable(error.reason)) from None
        except TimeoutError:
            raise CommandFailed(self._timed_out()) from None
        except OSError as error:  # reset connections and the like, outside urllib's wrapping
            raise CommandFailed(self._unreachable(error)) from None

    def _decode(self, raw: bytes, status: int) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            snippet = raw[:80].decode("utf-8", "replace")
            raise CommandFailed(
                f"{self.base} answered HTTP {status} with something that is not JSON ({snippet!r}); "
                "is --url / GANTRY_URL pointing at Gantry?"
            ) from None

    def _timed_out(self) -> str:
        return f"no answer from Gantry at {self.base} within {self.timeout:g} s"

    def _unreachable(self, reason: object) -> str:
        detail = "connection refused" if isinstance(reason, ConnectionRefusedError) else str(reason)
        return (
            f"cannot reach Gantry at {self.base}: {detail} "
            "(is `gantry run` running? set --url or GANTRY_URL)"
        )


def _app_path(app_id: str) -> str:
    body = app_id.strip().strip("/")
    if not body:
        raise CommandFailed("the app id is empty", EXIT_USAGE)
    return "/v1/apps/" + urllib.parse.quote(body, safe="/")


def _fail_with(reply: _Reply, what: str) -> NoReturn:
    """Turn an error reply into a CommandFailed that lists field errors one per line."""
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    if not isinstance(error, dict):
        raise CommandFailed(f"{what}: HTTP {reply.status}")
    lines = [f"{what}: HTTP {reply.status} {error.get('code', 'error')}: {error.get('message', '')}".rstrip()]
    for field in error.get("fields") or []:
        if isinstance(field, dict):
            lines.append(f"  {field.get('path')}: {field.get('message')}")
    raise CommandFailed("\n".join(lines))


# --- client commands -----------------------------------------------------------------------------


def _apps(api: _Api, console: Console, as_json: bool) -> int:
    reply = api.request("GET", "/v1/apps")
    if reply.status != 200:
        _fail_with(reply, "listing apps failed")
    if as_json:
        console.say(json.dumps(reply.body, indent=2))
        return EXIT_OK
    rows = [
        [
            app["id"],
            app["status"]["state"],
            f"{app['status']['ready']}/{app['status']['instances']}",
            str(app["status"]["running"]),
            str(app["status"]["waiting"]),
            app["version"],
        ]
        for app in reply.body["apps"]
    ]
    if not rows:
        console.say("no apps")
        return EXIT_OK
    _table(console, ["ID", "STATE", "READY", "RUNNING", "WAITING", "VERSION"], rows)
    return EXIT_OK


def _tasks(api: _Api, console: Console, app_id: str, as_json: bool) -> int:
    reply = api.request("GET", _app_path(app_id) + "/tasks")
    if reply.status != 200:
        _fail_with(reply, f"listing tasks of {app_id} failed")
    if as_json:
        console.say(json.dumps(reply.body, indent=2))
        return EXIT_OK
    rows = [
        [
            task["id"],
            task["state"],
            {True: "yes", False: "no", None: "-"}[task["healthy"]],
            task["host"] or "-",
            ",".join(str(port) for port in task["ports"]) or "-",
            task["version"],
            task["started_at"] or "-",
        ]
        for task in reply.body["tasks"]
    ]
    if not rows:
        console.say(f"no tasks for {reply.body['app_id']}")
        return EXIT_OK
    _table(console, ["ID", "STATE", "HEALTHY", "HOST", "PORTS", "VERSION", "STARTED"], rows)
    return EXIT_OK


def _deploy(api: _Api, console: Console, path: Path, as_json: bool) -> int:
    spec = _read_spec(path)
    app_id = spec.get("id")
    # PUT creates or updates; without a usable id there is no URL to PUT to, so POST and let the
    # API name the problem with the id field.
    if isinstance(app_id, str) and app_id.strip("/ "):
        reply = api.request("PUT", _app_path(app_id), spec)
    else:
        reply = api.request("POST", "/v1/apps", spec)
    if reply.status not in (200, 201):
        _fail_with(reply, f"deploying {path} failed")
    if as_json:
        console.say(json.dumps(reply.body, indent=2))
        return EXIT_OK
    app = reply.body
    verb = "created" if reply.status == 201 else "updated"
    console.say(f"{verb} {app['id']} version {app['version']} ({app['status']['instances']} instances)")
    return EXIT_OK


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandFailed(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandFailed(f"{path}: is a directory, expected a JSON file") from None
    except UnicodeDecodeError:
        raise CommandFailed(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise CommandFailed(f"{path}: cannot read: {exc.strerror}") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandFailed(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(spec, dict):
        raise CommandFailed(f"{path}: expected a JSON object (one app spec), got {type(spec).__name__}")
    return spec


def _table(console: Console, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        console.say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
