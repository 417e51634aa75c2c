"""Benchmark runner: `python -m bench [name ...]` (what `make bench` calls).

Every module `bench/bench_<name>.py` exposes `run(results_dir: Path) -> str`: it measures, writes its
JSON results into `results_dir` and returns a Markdown section (a heading and a table). This runner
calls the selected modules and rewrites `docs/performance.md` from the sections of every module
whose results it has this run, keeping the previous section for modules not run this time.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
HEADER = (
    "# Performance\n\n"
    "Measured by `make bench` (`python -m bench [name ...]`) on the project's 2-core machine.\n"
    "Raw results are JSON files in `bench/results/`. Each section below is rewritten by its\n"
    "benchmark module.\n"
)
MARK = re.compile(r"^<!-- bench:(\w+) -->$", re.M)


def _modules() -> list[str]:
    pkg = Path(__file__).resolve().parent
    return sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules([str(pkg)]) if m.name.startswith("bench_")
    )


def _old_sections() -> dict[str, str]:
    if not DOC.exists():
        return {}
    text = DOC.read_text()
    marks = list(MARK.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out[m.group(1)] = text[m.end() : end].strip("\n")
    return out


def main(argv: list[str]) -> int:
    available = _modules()
    chosen = argv or available
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr
        )
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        print(f"== bench {name}", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        section = module.run(RESULTS).strip("\n")
        # Re-read just before writing: a long benchmark must not wipe sections written meanwhile.
        sections = _old_sections()
        sections[name] = section
        DOC.write_text(HEADER + "".join(f"\n<!-- bench:{k} -->\n{v}\n" for k, v in sorted(sections.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
