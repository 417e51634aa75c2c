"""Regenerate (or check) the Python modules compiled from Gantry's Mesos .proto files.

Role: the single place that knows how `proto/mesos/**/*.proto` become the committed
`*_pb2.py` modules and their mypy-protobuf `*_pb2.pyi` stubs. `make proto` runs
`python -m proto.generate`; CI and tests/wire/test_generated_current.py run it with
`--check`, which compiles into a temporary directory and fails, naming each file,
when the committed output differs.

protoc runs with the repository root as its only include path, so imports read
`import "proto/mesos/v1/mesos.proto";` and the generated code imports
`from proto.mesos.v1 import mesos_pb2`. This module is build tooling: nothing at
runtime imports it, and it must not import the generated modules itself.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

#: The repository root: the parent of the `proto` package.
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Sources, relative to REPO_ROOT, in dependency order.
PROTO_FILES: tuple[str, ...] = (
    "proto/mesos/v1/mesos.proto",
    "proto/mesos/v1/scheduler/scheduler.proto",
    "proto/mesos/v1/executor/executor.proto",
)


class GenerateError(RuntimeError):
    """protoc or its mypy plugin could not be run, or compilation failed."""


def outputs_for(proto_file: str) -> tuple[str, str]:
    """The two generated paths (module and stub) for one source, relative to the root."""
    stem = proto_file.removesuffix(".proto")
    return f"{stem}_pb2.py", f"{stem}_pb2.pyi"


def expected_outputs() -> list[str]:
    return [path for source in PROTO_FILES for path in outputs_for(source)]


def find_mypy_plugin() -> Path:
    """Locate protoc-gen-mypy: next to the running interpreter first (the venv), then PATH."""
    beside = Path(sys.executable).parent / "protoc-gen-mypy"
    if beside.is_file():
        return beside
    found = shutil.which("protoc-gen-mypy")
    if found is None:
        raise GenerateError("protoc-gen-mypy not found: install mypy-protobuf (pip install -e '.[dev]')")
    return Path(found)


def protoc_args(out_dir: Path, plugin: Path) -> list[str]:
    """The exact protoc command line (argv[0] included) used for generation."""
    return [
        "grpc_tools.protoc",
        f"--proto_path={REPO_ROOT}",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"--python_out={out_dir}",
        # `quiet` stops the plugin from printing one line per stub it writes.
        f"--mypy_out=quiet:{out_dir}",
        *(str(REPO_ROOT / source) for source in PROTO_FILES),
    ]


def generate_into(out_dir: Path) -> list[Path]:
    """Compile every source into `out_dir` (mirroring the repo layout); return the written files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # grpc_tools ships no type information; importing it dynamically keeps that
    # untyped surface to this one call instead of a mypy override.
    protoc = importlib.import_module("grpc_tools.protoc")
    status: int = protoc.main(protoc_args(out_dir, find_mypy_plugin()))
    if status != 0:
        raise GenerateError(f"protoc failed with exit status {status} (its messages are above)")
    written = [out_dir / path for path in expected_outputs()]
    missing = [str(path) for path in written if not path.is_file()]
    if missing:
        raise GenerateError(f"protoc did not produce: {', '.join(missing)}")
    return written


def stale_outputs() -> list[str]:
    """Generated paths (relative to the root) that are missing or differ from a fresh compile."""
    with tempfile.TemporaryDirectory(prefix="gantry-proto-") as tmp:
        fresh_root = Path(tmp)
        generate_into(fresh_root)
        stale: list[str] = []
        for path in expected_outputs():
            committed = REPO_ROOT / path
            if not committed.is_file() or not filecmp.cmp(committed, fresh_root / path, shallow=False):
                stale.append(path)
        return stale


def regenerate() -> list[str]:
    """Compile in place: write fresh modules and stubs into the source tree."""
    return [str(path.relative_to(REPO_ROOT)) for path in generate_into(REPO_ROOT)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m proto.generate",
        description="Regenerate the *_pb2.py modules and *_pb2.pyi stubs from proto/mesos/**/*.proto.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compile into a temporary directory and exit 1 if any committed file is stale",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_outputs()
            if stale:
                print("stale generated files (run `make proto`):", file=sys.stderr)
                for path in stale:
                    print(f"  {path}", file=sys.stderr)
                return 1
            print(f"generated files are current ({len(expected_outputs())} files)")
            return 0
        for path in regenerate():
            print(f"wrote {path}")
        return 0
    except GenerateError as error:
        print(f"proto.generate: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
