"""`python -m bench.pack`: pack your own task inventory with the placement engine (capacity planning).

    python -m bench.pack --agent-capacity cpus=32,mem=131072 --tasks tasks.csv \\
        [--mode offline|online] [--policy pack|spread] [--agents N] [--batch-size N] \\
        [--assignments out.csv] [--json]

`tasks.csv` has a header naming at least `cpus` and `mem` (MB), optionally `app`; other columns are
ignored. Every row is one task. The cluster is homogeneous: agents of `--agent-capacity`, as many as
`--agents`, or by default as many as the packing needs (starting at twice the lower bound and
doubling while something is left over, never more than one per task).

- offline: every task pending at once (rows of one app and size form one demand).
- online: tasks arrive in file order, batch by batch, onto what earlier batches left: a batch is a
  run of consecutive rows of one app, or `--batch-size` rows when there is no `app` column.

Output: with `--json` one JSON object (`agents_used`, `lower_bound`, `placed`, `unplaced`, `seconds`,
`placements_per_second`, plus `agents_offered`, `ratio`, `mode`, `policy`), otherwise a short summary;
`--assignments` writes `task_index,agent_index` rows (0-based, in task order) for placed tasks.
Bad input (missing column, a negative or non-numeric size, a task larger than an agent) prints one
line naming the problem and exits with status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from framework.core.model import Demand, Offer, Policy
from framework.core.placement import place
from framework.core.resources import SCALAR_NAMES, Resources, to_milli

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """The user's input is wrong; the message says where and how."""


@dataclass(frozen=True, slots=True)
class Row:
    app: str
    cpus: int  # thousandths
    mem: int  # thousandths of MB


@dataclass(frozen=True, slots=True)
class Outcome:
    agents_offered: int
    assignments: list[int]  # agent index per task, -1 if unplaced
    seconds: float


def parse_capacity(text: str) -> Resources:
    """`cpus=32,mem=131072[,disk=...,gpus=...]` -> Resources; cpus and mem are required and positive."""
    values: dict[str, float] = {}
    for part in text.split(","):
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or name not in SCALAR_NAMES:
            raise InputError(
                f"--agent-capacity: expected name=value with names {', '.join(SCALAR_NAMES)}, got {part!r}"
            )
        values[name] = _number(raw, f"--agent-capacity {name}")
    for required in ("cpus", "mem"):
        if values.get(required, 0) <= 0:
            raise InputError(f"--agent-capacity: {required} must be given and positive")
    return Resources.of(
        cpus=values["cpus"], mem=values["mem"], disk=values.get("disk", 0.0), gpus=values.get("gpus", 0.0)
    )


def _number(raw: str, where: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{where} must be a non-negative number, got {raw.strip()!r}") from None
    if not value >= 0 or value == float("inf"):
        raise InputError(f"{where} must be a non-negative number, got {raw.strip()!r}")
    return value


def read_tasks(path: Path, capacity: Resources) -> tuple[list[Row], bool]:
    """Rows of the CSV, checked; and whether it has an `app` column."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            for column in ("cpus", "mem"):
                if column not in header:
                    raise InputError(
                        f"{path}: missing column {column!r} (header: {','.join(header) or 'empty'})"
                    )
            has_app = "app" in header
            rows = [_row(path, reader.line_num, record, has_app, capacity) for record in reader]
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file: {exc}") from None
    return rows, has_app


def _row(path: Path, line: int, record: dict[str, str | None], has_app: bool, capacity: Resources) -> Row:
    cpus = to_milli(_number(record.get("cpus") or "", f"{path} line {line}: cpus"))
    mem = to_milli(_number(record.get("mem") or "", f"{path} line {line}: mem"))
    for name, need, have in (("cpus", cpus, capacity.cpus_milli), ("mem", mem, capacity.mem_milli)):
        if need > have:
            raise InputError(
                f"{path} line {line}: task needs {name}={need / 1000:g}, "
                f"more than an agent has ({have / 1000:g})"
            )
    return Row((record.get("app") or "").strip() if has_app else "", cpus, mem)


def lower_bound(rows: Sequence[Row], capacity: Resources) -> int:
    cpus = sum(r.cpus for r in rows)
    mem = sum(r.mem for r in rows)
    return max(-(-cpus // capacity.cpus_milli), -(-mem // capacity.mem_milli)) if rows else 0


def batches(rows: Sequence[Row], mode: str, has_app: bool, batch_size: int) -> list[list[int]]:
    if mode == "offline":
        return [list(range(len(rows)))]
    if not has_app:
        return [list(range(s, min(s + batch_size, len(rows)))) for s in range(0, len(rows), batch_size)]
    out: list[list[int]] = []
    for i, row in enumerate(rows):
        if out and rows[out[-1][-1]].app == row.app:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def pack(
    rows: Sequence[Row], capacity: Resources, agents: int, plan: list[list[int]], policy: Policy | None
) -> Outcome:
    """Run the engine batch by batch on `agents` agents; returns each task's agent (-1 if unplaced)."""
    free = [capacity] * agents
    assignment = [-1] * len(rows)
    seconds = 0.0
    for batch in plan:
        # One demand per (app, size): the engine places its instances as one equivalence class.
        members: dict[tuple[str, int, int], list[int]] = {}
        for i in batch:
            members.setdefault((rows[i].app, rows[i].cpus, rows[i].mem), []).append(i)
        demands = [
            Demand(f"{n}:{app}", "1", Resources(cpus, mem), count=len(tasks))
            for n, ((app, cpus, mem), tasks) in enumerate(members.items())
        ]
        offers = [
            Offer(f"o{a}", str(a), f"agent-{a}", "*", free[a])
            for a in range(agents)
            if not free[a].is_empty()
        ]
        started = time.perf_counter()
        result = place(demands, offers, policy=policy)
        seconds += time.perf_counter() - started
        tasks_of = list(members.values())
        for launch in result.launches:
            agent = int(launch.agent_id)
            for group in launch.groups:
                free[agent] = free[agent].subtract(group.total)
                demand_index = int(group.app_id.split(":", 1)[0])
                for k in range(group.first_index, group.first_index + group.count):
                    assignment[tasks_of[demand_index][k]] = agent
    return Outcome(agents, assignment, seconds)


def solve(rows: Sequence[Row], capacity: Resources, args: argparse.Namespace, has_app: bool) -> Outcome:
    plan = batches(rows, args.mode, has_app, args.batch_size)
    policy = Policy(args.policy) if args.policy else None
    if args.agents is not None:
        return pack(rows, capacity, args.agents, plan, policy)
    agents = min(len(rows), max(1, 2 * lower_bound(rows, capacity)))
    while True:
        outcome = pack(rows, capacity, agents, plan, policy)
        # Every task fits an empty agent (checked on input), so one agent per task always suffices.
        if -1 not in outcome.assignments or agents >= len(rows):
            return outcome
        agents = min(len(rows), agents * 2)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.pack", description=__doc__.split("\n\n")[0])
    p.add_argument("--agent-capacity", required=True, help="e.g. cpus=32,mem=131072 (mem in MB)")
    p.add_argument("--tasks", required=True, type=Path, help="CSV with a header: cpus,mem[,app]")
    p.add_argument("--mode", choices=("offline", "online"), default="offline")
    p.add_argument("--policy", choices=[p.value for p in Policy], default=None)
    p.add_argument("--agents", type=_positive, default=None, help="cluster size (default: as many as needed)")
    p.add_argument(
        "--batch-size", type=_positive, default=100, help="online rows per batch without an app column"
    )
    p.add_argument("--assignments", type=Path, default=None, help="write task_index,agent_index rows here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        capacity = parse_capacity(args.agent_capacity)
        rows, has_app = read_tasks(args.tasks, capacity)
        outcome = solve(rows, capacity, args, has_app)
        if args.assignments is not None:
            write_assignments(args.assignments, outcome.assignments)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(summary(rows, capacity, outcome, args))
    return 0


def write_assignments(path: Path, assignments: Sequence[int]) -> None:
    try:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["task_index", "agent_index"])
            writer.writerows((task, agent) for task, agent in enumerate(assignments) if agent >= 0)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None


def summary(rows: Sequence[Row], capacity: Resources, outcome: Outcome, args: argparse.Namespace) -> str:
    placed = sum(1 for a in outcome.assignments if a >= 0)
    used = len({a for a in outcome.assignments if a >= 0})
    bound = lower_bound(rows, capacity)
    result = {
        "agents_used": used,
        "lower_bound": bound,
        "ratio": round(used / bound, 4) if bound else 0.0,
        "placed": placed,
        "unplaced": len(rows) - placed,
        "seconds": round(outcome.seconds, 6),
        "placements_per_second": round(placed / outcome.seconds) if outcome.seconds else 0,
        "agents_offered": outcome.agents_offered,
        "mode": args.mode,
        "policy": args.policy or "pack",
    }
    if args.json:
        return json.dumps(result)
    return (
        f"{placed} of {len(rows)} tasks on {used} agents (lower bound {bound}, ratio {result['ratio']}), "
        f"{args.mode}, {result['policy']}; {result['placements_per_second']:,} placements/s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
