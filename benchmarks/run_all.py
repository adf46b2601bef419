"""Run every benchmark and print one table of ratios measured side by side in the same run.

``make bench`` runs this; it also writes ``benchmarks/RESULTS.md`` with the
machine description. Each ``bench_*.py`` module exposes ``run() -> list[Row]``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "scripts"))

from common import ROOT, Row

MODULES = ["bench_host", "bench_bytes", "bench_extraction", "bench_preview", "bench_worker", "bench_scale"]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    nodes = sorted(ROOT.glob("worker-otlp-ingest/node_modules/node-linux-*/bin/node"))
    node = (
        subprocess.run(
            [str(nodes[0]), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if nodes
        else ""
    )
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){memory}; "
        f"Python {platform.python_version()}; Node {node or 'n/a'}"
    )


def fmt_ratio(row: Row) -> str:
    """Two decimals, or three where two would print the goal's own number (1.03 against ≤ 1.03)."""
    if row.ratio is None:
        return "—"
    shown = f"{row.ratio:.2f}×"
    return f"{row.ratio:.3f}×" if row.met is not None and shown in row.goal else shown


def verdict(row: Row) -> str:
    return {True: "met", False: "**missed**", None: ""}[row.met]


def table(rows: list[Row]) -> str:
    lines = ["| what | ours | reference | ratio | goal | |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.what} | {r.ours} | {r.reference} | {fmt_ratio(r)} | {r.goal} | {verdict(r)} |" for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="run only these modules")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite RESULTS.md")
    args = parser.parse_args()
    started = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    failed = False
    for name in args.only or MODULES:
        print(f"--- {name}", flush=True)
        try:
            module = importlib.import_module(name)
            produced = module.run()
        except Exception:  # one broken benchmark must not hide the others' numbers
            failed = True
            traceback.print_exc()
            rows.append(Row(f"{name} failed to run", "—", "—", None, "", False))
            continue
        rows.extend(produced)
        notes.extend(f"- **{r.what}**: {r.note}" for r in produced if r.note)
        print(table(produced), flush=True)
        for row in produced:
            if row.gate and row.met is False:
                failed = True
                print(f"FAILED: {row.what} misses its goal {row.goal}", flush=True)
    elapsed = time.monotonic() - started
    report = (
        f"# Benchmark results\n\n"
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; the whole run took {elapsed / 60:.1f} min.\n"
        f"Each row puts ours next to its reference, measured in the same run; `make bench` regenerates this file.\n"
        f"See [README.md](README.md) for what each row measures and how to read it.\n\n"
        f"{table(rows)}\n\n## Notes\n\n" + "\n".join(notes) + "\n"
    )
    print("\n" + table(rows))
    if not args.no_write and not args.only:
        (ROOT / "benchmarks" / "RESULTS.md").write_text(report, encoding="utf-8")
        print("\nwrote benchmarks/RESULTS.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
