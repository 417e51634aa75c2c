"""The committed *_pb2.py modules and *_pb2.pyi stubs are what the .proto files compile to."""

from __future__ import annotations

import pytest

from proto import generate


def test_committed_generated_files_match_a_fresh_compile() -> None:
    stale = generate.stale_outputs()
    assert stale == [], f"stale generated files, run `make proto`: {stale}"


def test_every_proto_source_has_a_committed_module_and_stub() -> None:
    for source in generate.PROTO_FILES:
        assert (generate.REPO_ROOT / source).is_file()
        for output in generate.outputs_for(source):
            assert (generate.REPO_ROOT / output).is_file(), output


def test_check_mode_exits_zero_and_says_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check"]) == 0
    assert "generated files are current" in capsys.readouterr().out
