"""`python -m bench.pack`: packing a CSV inventory, JSON and assignments, clear errors on bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.pack import main

ROOT = Path(__file__).resolve().parent.parent.parent
CAPACITY = "cpus=32,mem=131072"


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert isinstance(result, dict)
    return result


def test_offline_packs_to_the_lower_bound_and_writes_assignments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 4 x (16 cpus, 32768 MB) and 8 x (4 cpus, 16384 MB): cpus 64 + 32 = 96 -> 96 / 32 = 3 agents;
    # mem 131072 + 131072 = 262144 -> 2 agents; LB = max(3, 2) = 3, and 3 agents suffice.
    rows = "app,cpus,mem\n" + "big,16,32768\n" * 4 + "small,4,16384\n" * 8
    tasks = write_csv(tmp_path / "tasks.csv", rows)
    out = tmp_path / "out.csv"
    result = run_json(
        ["--agent-capacity", CAPACITY, "--tasks", str(tasks), "--assignments", str(out)], capsys
    )
    assert {k: result[k] for k in ("agents_used", "lower_bound", "placed", "unplaced")} == {
        "agents_used": 3,
        "lower_bound": 3,
        "placed": 12,
        "unplaced": 0,
    }
    assert isinstance(result["seconds"], float) and isinstance(result["placements_per_second"], int)
    with out.open() as handle:
        assignments = list(csv.DictReader(handle))
    assert [int(a["task_index"]) for a in assignments] == list(range(12))
    # no agent over capacity: per agent, sum of cpus <= 32
    load: dict[str, int] = {}
    for a in assignments:
        load[a["agent_index"]] = load.get(a["agent_index"], 0) + (16 if int(a["task_index"]) < 4 else 4)
    assert max(load.values()) <= 32


def test_online_and_spread_modes_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = write_csv(tmp_path / "tasks.csv", "cpus,mem,owner\n" + "1,1024,x\n" * 10)
    online = run_json(
        ["--agent-capacity", CAPACITY, "--tasks", str(tasks), "--mode", "online", "--batch-size", "3"], capsys
    )
    # 10 x 1 cpu fit one agent of 32 cpus, batch by batch too
    assert (online["agents_used"], online["placed"], online["mode"]) == (1, 10, "online")
    spread = run_json(
        ["--agent-capacity", CAPACITY, "--tasks", str(tasks), "--policy", "spread", "--agents", "5"], capsys
    )
    # spread over the 5 agents given: 2 per agent
    assert (spread["agents_used"], spread["placed"], spread["policy"]) == (5, 10, "spread")


def test_summary_without_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = write_csv(tmp_path / "tasks.csv", "cpus,mem\n2,2048\n")
    assert main(["--agent-capacity", CAPACITY, "--tasks", str(tasks)]) == 0
    assert capsys.readouterr().out.startswith("1 of 1 tasks on 1 agents (lower bound 1")


@pytest.mark.parametrize(
    ("capacity", "text", "message"),
    [
        (CAPACITY, "cpus,memory\n1,2\n", "missing column 'mem'"),
        (CAPACITY, "", "missing column 'cpus' (header: empty)"),
        (CAPACITY, "cpus,mem\n-1,100\n", "line 2: cpus must be a non-negative number, got '-1'"),
        (CAPACITY, "cpus,mem\n1,lots\n", "line 2: mem must be a non-negative number, got 'lots'"),
        (CAPACITY, "cpus,mem\n1,\n", "line 2: mem must be a non-negative number"),
        (CAPACITY, "cpus,mem\n1,1\n64,1\n", "line 3: task needs cpus=64, more than an agent has (32)"),
        (CAPACITY, "cpus,mem\nnan,1\n", "cpus must be a non-negative number, got 'nan'"),
        ("cpus=32", "cpus,mem\n1,1\n", "mem must be given and positive"),
        ("cpus=32,mem=0", "cpus,mem\n1,1\n", "mem must be given and positive"),
        ("cpus=32,ram=4", "cpus,mem\n1,1\n", "expected name=value"),
        ("cpus=x,mem=4", "cpus,mem\n1,1\n", "--agent-capacity cpus must be a non-negative number"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], capacity: str, text: str, message: str
) -> None:
    tasks = write_csv(tmp_path / "tasks.csv", text)
    assert main(["--agent-capacity", capacity, "--tasks", str(tasks)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.startswith("error: ")
    assert captured.out == ""


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--agent-capacity", CAPACITY, "--tasks", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: cannot read: No such file or directory" in capsys.readouterr().err


def test_bad_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--agent-capacity", CAPACITY, "--tasks", "t.csv", "--mode", "sideways"])
    assert exited.value.code == 2
    assert "invalid choice: 'sideways'" in capsys.readouterr().err


def test_as_a_command_no_traceback(tmp_path: Path) -> None:
    tasks = write_csv(tmp_path / "tasks.csv", "cpus,mem\n-3,1\n")
    done = subprocess.run(
        [sys.executable, "-m", "bench.pack", "--agent-capacity", CAPACITY, "--tasks", str(tasks), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cpus must be a non-negative number, got '-3'" in done.stderr
