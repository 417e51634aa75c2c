"""The import layering of DESIGN.md, checked on the source tree (no imports are executed).

- framework/core imports only the standard library and framework.core itself (pure decision code).
- framework/api never imports framework.mesos (the API talks to the driver).
- harness imports only proto (never framework or executor: it must not share our bugs).
- executor imports proto, never framework; framework never imports executor or harness,
  except the composition root (app.py / cli.py), which may start the harness as the embedded cluster.
- proto imports nothing of ours.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"proto", "framework", "harness", "executor", "bench", "tests"}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def sources(package: str) -> list[Path]:
    # A package that does not exist yet (executor/) has no sources and so no violations.
    return sorted(p for p in (ROOT / package).rglob("*.py") if not p.name.endswith("_pb2.py"))


def violations(package: str, allowed: object) -> list[str]:
    bad = []
    for path in sources(package):
        for name in sorted(imports_of(path)):
            if not allowed(path, name):  # type: ignore[operator]
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def top(name: str) -> str:
    return name.split(".")[0]


def test_core_is_pure() -> None:
    def ok(_: Path, name: str) -> bool:
        return top(name) in STDLIB or name == "framework.core" or name.startswith("framework.core.")

    assert violations("framework/core", ok) == []


def test_api_does_not_talk_to_mesos() -> None:
    def ok(_: Path, name: str) -> bool:
        return not (name == "framework.mesos" or name.startswith("framework.mesos."))

    assert violations("framework/api", ok) == []


def test_harness_imports_only_proto() -> None:
    def ok(_: Path, name: str) -> bool:
        return top(name) not in OURS or top(name) in {"proto", "harness"}

    assert violations("harness", ok) == []


def test_executor_never_imports_framework() -> None:
    def ok(_: Path, name: str) -> bool:
        return top(name) not in OURS or top(name) in {"proto", "executor"}

    assert violations("executor", ok) == []


def test_framework_does_not_import_harness_or_executor() -> None:
    roots = {"app.py", "cli.py"}

    def ok(path: Path, name: str) -> bool:
        if top(name) in {"harness", "executor", "bench", "tests"}:
            return path.parent == ROOT / "framework" and path.name in roots and top(name) == "harness"
        return True

    assert violations("framework", ok) == []


def test_proto_imports_nothing_of_ours() -> None:
    def ok(_: Path, name: str) -> bool:
        return top(name) not in OURS or top(name) == "proto"

    assert violations("proto", ok) == []
