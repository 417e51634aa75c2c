"""docs/api.md documents every route the API serves, and every error code errors.py can produce."""

from __future__ import annotations

import io
import re
from pathlib import Path

from framework.api import build_api
from framework.logging import build_logger
from framework.metrics import build_metrics
from framework.settings import Settings
from tests.api.fakes import FakePort

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
ERRORS = (Path(__file__).resolve().parents[2] / "framework" / "api" / "errors.py").read_text(encoding="utf-8")
ROUTES = (Path(__file__).resolve().parents[2] / "framework" / "api" / "routes.py").read_text(encoding="utf-8")


def test_every_route_is_documented() -> None:
    app = build_api(FakePort(), build_metrics("test"), Settings(), build_logger(stream=io.StringIO()))
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical if route.resource is not None else ""
        assert f"`{route.method} {path}`" in DOC or f"{route.method} {path}" in DOC, (route.method, path)


def test_every_error_code_is_documented() -> None:
    codes = set(re.findall(r'(?:Problem\(\d+, |ApiError\.of\(\s*\d+,\s*)"([a-z_]+)"', ERRORS + ROUTES))
    assert codes >= {"bad_json", "app_not_found", "app_exists", "invalid_app", "unsupported_media_type"}
    for code in codes:
        assert f"`{code}`" in DOC, code
