"""Row 7: GET /v1/stats over 90 days of simulated installations, and what the data costs in D1.

Steps, each on the real Worker and its real local D1 file:

1. ``wrangler d1 migrations apply --local`` makes an empty database (as ``dev.sh`` does);
2. the Worker (``LocalWorker``) stores a few simulated days sent through the real
   pipeline over HTTP, and ``bench_scale`` checks that ``scale_data`` spells their
   ``cells`` byte for byte as the Worker stored them; the same Worker answers
   ``GET /v1/stats?days=30`` on that near-empty database: the reference time;
3. ``scale_data`` bulk-loads the simulated installations straight into the SQLite file
   (not through HTTP), as the Worker's rows;
4. the Worker restarts on that state: ``GET /v1/stats?days=30``, first request and then
   warm (median);
5. the probe Worker opens the same file and runs each statement of the Worker's
   ``readAggregates()`` (read from ``src/db.ts``) for D1's ``meta.rows_read``.

``make bench`` runs 10,000 installations for 90 days (1/10 of the issue's 100k) to stay in
its time budget; ``python benchmarks/bench_scale.py --full`` runs 100k for 90 days (≈ 11 min,
≈ 11 GB of disk under $TMPDIR). docs/capacity.md records a full run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "scripts"))

import scale_data
from common import Row
from localworker import WORKER, LocalWorker, node_environment
from worker_noop import BenchWorker
from worker_reports import HEADERS

from voicemode_otel import contract, report
from voicemode_otel.periods import Period, floor_hour

FULL_INSTALLATIONS = 100_000
DEFAULT_INSTALLATIONS = 10_000
DAYS = 90
WINDOW_DAYS = 30
CHECK_REPORTS = 20
WARM_RUNS = 3
FREE_ROWS_READ_PER_DAY = 5_000_000


def migrate(state: Path) -> Path:
    """An empty, migrated local D1 under ``state``; returns its SQLite file."""
    subprocess.run(
        ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", str(state)],
        cwd=WORKER,
        env=node_environment(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (database,) = [
        f for f in state.glob("v3/d1/miniflare-D1DatabaseObject/*.sqlite") if f.name != "metadata.sqlite"
    ]
    return database


def timed_get(url: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=3600) as response:
        body: dict[str, object] = json.loads(response.read())
    return time.perf_counter() - started, body


def check_cells(state: Path, database: Path, now: datetime) -> float:
    """Sends simulated days through the real pipeline; returns the stats time on this tiny database."""
    rng = random.Random(1)
    end = floor_hour(now)
    period = Period(end - timedelta(hours=24), end)
    expected = {}
    with LocalWorker(state_dir=state) as worker:
        for index in range(CHECK_REPORTS):
            telemetry_id = str(uuid.uuid4())
            sessions = scale_data.simulate_sessions(rng, 1 + index % 12, period.end)
            resource = {"service.name": "voicemode", "voicemode.telemetry.id": telemetry_id}
            body = gzip.compress(report.build(sessions, period, resource).body)
            headers = {**HEADERS, "CF-Connecting-IP": f"10.200.0.{index}"}
            request = urllib.request.Request(worker.metrics_url, data=body, method="POST", headers=headers)
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200 and response.read() == b""
            expected[telemetry_id] = scale_data.cells_json(sessions)
        url = f"{worker.base_url}/v1/stats?days={WINDOW_DAYS}"
        times = [timed_get(url)[0] for _ in range(5)]
    db = sqlite3.connect(database, isolation_level=None)
    stored = dict(db.execute("SELECT telemetry_id, cells FROM reports").fetchall())
    assert stored == expected, "scale_data does not spell cells as the Worker stores them"
    db.executescript("DELETE FROM reports; DELETE FROM installations; DELETE FROM rate_limits;")
    db.close()
    return statistics.median(times)


def stats_statements() -> list[tuple[str, str]]:
    """(name, SQL) of each statement ``readAggregates()`` runs, in order, from ``src/db.ts``."""
    source = (WORKER / "src" / "db.ts").read_text(encoding="utf-8")
    constants = dict(re.findall(r"const ([A-Z_]+) = `(.*?)`;", source, re.S))
    body = source[source.index("export async function readAggregates") :]
    body = body[: body.index("\n}\n")]
    return [(name, constants[name]) for name in re.findall(r"db\.prepare\(([A-Z_]+)\)", body)]


def rows_read(state: Path, since: int) -> dict[str, tuple[int, float]]:
    """D1's rows_read and SQL time (s) of each stats statement on this database, via the probe."""
    duration = contract.load().metric(contract.DURATION).name
    out = {}
    with BenchWorker("probe.wrangler.jsonc", state_dir=state) as probe:
        for name, sql in stats_statements():
            params: list[object] = [since, duration] if "?2" in sql else [since]
            data = json.dumps({"sql": sql, "params": params}).encode()
            request = urllib.request.Request(f"{probe.base_url}/sql", data=data, method="POST")
            with urllib.request.urlopen(request, timeout=3600) as response:
                meta = json.loads(response.read())["meta"]
            out[name] = (int(meta["rows_read"]), meta["duration"] / 1000)
    return out


def measure(installations: int, *, every_day: bool = False, keep: Path | None = None) -> list[Row]:
    now = datetime.now(timezone.utc)
    population = scale_data.Population(installations, DAYS, now, every_day=every_day)
    with tempfile.TemporaryDirectory(prefix="voicemode-scale-") as tmp:
        state = keep or Path(tmp)
        database = migrate(state)
        reference = check_cells(state, database, now)
        loaded = scale_data.load(database, population)
        size = database.stat().st_size
        with LocalWorker(state_dir=state) as worker:
            url = f"{worker.base_url}/v1/stats?days={WINDOW_DAYS}"
            asked = int(time.time())
            first, stats = timed_get(url)
            answered = int(time.time())
            warm = [timed_get(url)[0] for _ in range(WARM_RUNS)]
        db = sqlite3.connect(database)
        counts = {
            db.execute(
                "SELECT COUNT(*) FROM reports WHERE period_end > ?", (t - WINDOW_DAYS * 86_400,)
            ).fetchone()[0]
            for t in (asked, answered)
        }
        assert stats["reports"] in counts, (stats["reports"], counts)
        in_window = int(str(stats["reports"]))
        tables = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        payload = db.execute("SELECT SUM(length(cells)) FROM reports").fetchone()[0]
        db.close()
        reads = rows_read(state, asked - WINDOW_DAYS * 86_400)
    return rows(
        installations, every_day, loaded, size, tables, payload, in_window, reference, first, warm, reads
    )


def rows(
    installations: int,
    every_day: bool,
    loaded: scale_data.Loaded,
    size: int,
    tables: dict[str, int],
    payload: int,
    in_window: int,
    reference: float,
    first: float,
    warm: list[float],
    reads: dict[str, tuple[int, float]],
) -> list[Row]:
    scale = FULL_INSTALLATIONS / installations
    label = f"{installations:,} installations × {DAYS} days" + (", every day" if every_day else "")
    median = statistics.median(warm)
    installation_days = installations * DAYS
    total_reads = sum(n for n, _ in reads.values())
    per_report = size / loaded.reports
    out = [
        Row(
            f"GET /v1/stats?days={WINDOW_DAYS} on simulated D1: {label}",
            f"{median:.2f} s (first request {first:.2f} s)",
            f"{reference * 1000:.0f} ms, same Worker, {CHECK_REPORTS} reports",
            median / reference,
            "< 1 s",
            median < 1.0,
            f"{loaded.reports:,} reports ({loaded.reports / installation_days:.2f} per installation-day), "
            f"{in_window:,} in the window, {loaded.cells:,} cells; bulk-loaded in {loaded.seconds:.0f} s; median of "
            f"{WARM_RUNS} after the first request of a fresh workerd; SQL time per statement: "
            + ", ".join(f"{name} {t:.1f} s" for name, (_, t) in reads.items()),
        ),
    ]
    if scale != 1:
        out.append(
            Row(
                f"  extrapolated to {FULL_INSTALLATIONS:,} installations (×{scale:g})",
                f"≈ {median * scale:.0f} s or more",
                "",
                None,
                "< 1 s",
                median * scale < 1.0,
                "linear in the cells of the window; a full-size run (--full) measured 54 s, more than linear "
                "(a 10 GB file reads slower than a 1 GB one): docs/capacity.md",
            )
        )
    out += [
        Row(
            "  D1 rows read per GET /v1/stats (meta.rows_read, json_each rows count)",
            f"{total_reads:,}",
            f"free tier: {FREE_ROWS_READ_PER_DAY:,} a day",
            total_reads / FREE_ROWS_READ_PER_DAY,
            "(for reference)",
            None,
            ", ".join(f"{name} {n:,}" for name, (n, _) in reads.items()),
        ),
        Row(
            "D1 database size per installation-day (90 days kept)",
            f"{size / installation_days:.0f} B ({per_report:.0f} B per report; {size / 1e6:,.0f} MB in all)",
            f"{payload / loaded.reports:.0f} B of cells JSON per report",
            per_report / (payload / loaded.reports),
            "(capacity.md)",
            None,
            "file size after the load; pages per table: "
            + ", ".join(
                f"{name} {b / 1e6:,.0f} MB" for name, b in sorted(tables.items(), key=lambda t: -t[1])[:4]
            )
            + f"; at {FULL_INSTALLATIONS:,} installations ≈ {size * scale / 1e9:.1f} GB (D1 limit: 10 GB paid, 500 MB free)",
        ),
    ]
    return out


def run() -> list[Row]:
    return measure(DEFAULT_INSTALLATIONS)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help=f"{FULL_INSTALLATIONS:,} installations")
    parser.add_argument("--installations", type=int, help="any other number of installations")
    parser.add_argument(
        "--every-day", action="store_true", help="every installation reports every day (upper bound)"
    )
    parser.add_argument("--keep", type=Path, help="build the database in this directory and keep it")
    args = parser.parse_args()
    installations = args.installations or (FULL_INSTALLATIONS if args.full else DEFAULT_INSTALLATIONS)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    from run_all import table

    started = time.monotonic()
    produced = measure(installations, every_day=args.every_day, keep=args.keep)
    print(table(produced))
    print("\n" + "\n".join(f"- **{r.what.strip()}**: {r.note}" for r in produced if r.note))
    print(f"\n{(time.monotonic() - started) / 60:.1f} min; TMPDIR={os.environ.get('TMPDIR', '/tmp')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
