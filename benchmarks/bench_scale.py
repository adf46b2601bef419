"""Row 7: GET /v1/stats over 90 days of simulated installations, the rollup cron, and the data's cost in D1.

Steps, each on the real Worker and its real local D1 file:

1. ``wrangler d1 migrations apply --local`` makes an empty database (as ``dev.sh`` does);
2. the Worker (``LocalWorker``) stores a few simulated days sent through the real
   pipeline over HTTP, and ``bench_scale`` checks that ``scale_data`` spells their
   ``cells`` byte for byte as the Worker stored them; the same Worker answers
   ``GET /v1/stats?days=30`` on that near-empty database: the reference time;
3. ``scale_data`` bulk-loads the simulated installations straight into the SQLite file
   (not through HTTP), as the Worker's rows, every report queued for the rollups — what
   migration 0002 leaves on an existing database — except the latest hour's reports;
4. the Worker's own cron (``/cdn-cgi/local/scheduled`` with the hourly cron string, as
   often as it takes) builds the rollups from that backlog;
5. the latest hour's reports arrive (as ingest writes them), and one hourly cron run
   takes them in: its duration and D1 rows read and written, as its own log reports;
6. ``GET /v1/stats?days=30`` and ``?days=90``, first request and then warm (median), on a
   Worker that reads only the rollups (ROLLUP_ON_READ=0, as deployed); then the time
   series, ``?series=day&days=90`` and ``?series=week&days=90``, the same way;
7. the rollup aggregates are compared with the live aggregation over the raw reports
   (``report_cells``, Python's sqlite3): they must be identical;
8. the probe Worker runs the stats statements for D1's ``meta.rows_read``;
9. the day/week history's size: measured for the 90 simulated days, and for two years by
   copying those days' rows back in time into a scratch database (what the history holds
   after two years of the same traffic).

``make bench`` runs 10,000 installations for 90 days (1/10 of the issue's 100k) to stay in
its time budget; ``python benchmarks/bench_scale.py --full`` runs 100k for 90 days.
docs/capacity.md records a full run.
"""

from __future__ import annotations

import argparse
import contextlib
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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "scripts"))

import scale_data
from common import Row
from localworker import WORKER, LocalWorker, node_environment
from worker_noop import BenchWorker
from worker_reports import HEADERS

from voicemode_otel.contract import Period, floor_hour
from voicemode_otel.contract import spec as contract
from voicemode_otel.report import build as report

FULL_INSTALLATIONS = 100_000
DEFAULT_INSTALLATIONS = 10_000
DAYS = 90
WINDOW_DAYS = 30
CHECK_REPORTS = 20
WARM_RUNS = 5
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
    db.executescript(
        "DELETE FROM reports; DELETE FROM installations; DELETE FROM rate_limits; DELETE FROM rollup_pending;"
        " DELETE FROM rollup_hours; DELETE FROM rollup_installations; UPDATE rollup_state SET as_of = NULL;"
        " DELETE FROM series_buckets; DELETE FROM series_backfill;"
    )
    db.close()
    return statistics.median(times)


def source_constant(path: str, pattern: str) -> str:
    """The first match group of ``pattern`` in a Worker source file (so the bench runs what the Worker runs)."""
    found = re.search(pattern, (WORKER / path).read_text(encoding="utf-8"), re.S)
    assert found, (path, pattern)
    return found.group(1)


ROLLUP_CRON = source_constant("src/jobs/cron.ts", r'export const ROLLUP_CRON = "([^"]+)"')


@dataclass
class CronRuns:
    """What the Worker's cron logged over one or more scheduled events."""

    runs: int = 0
    steps: int = 0
    reports: int = 0
    rows_read: int = 0
    rows_written: int = 0
    seconds: float = 0.0


def logged_runs(worker: LocalWorker) -> list[dict[str, object]]:
    """The ``rollup {...}`` lines the cron logged so far (src/jobs/cron.ts)."""
    assert worker.log_path is not None
    return [
        json.loads(line[line.index("rollup {") + len("rollup ") :])
        for line in worker.log_path.read_text(errors="replace").splitlines()
        if "rollup {" in line
    ]


def run_cron(worker: LocalWorker, max_runs: int = 10_000) -> CronRuns:
    """Triggers the hourly cron until a run ends with nothing pending; sums what each run logged."""
    total = CronRuns()
    for _ in range(max_runs):
        seen = len(logged_runs(worker))
        started = time.perf_counter()
        assert worker.refresh(ROLLUP_CRON) == "ok"
        total.seconds += time.perf_counter() - started
        deadline = time.monotonic() + 30
        while len(logged := logged_runs(worker)) == seen and time.monotonic() < deadline:
            time.sleep(0.05)  # wrangler writes the Worker's log line shortly after the response
        (run,) = logged[seen:]
        total.runs += 1
        total.steps += int(str(run["steps"]))
        total.reports += int(str(run["reports"]))
        total.rows_read += int(str(run["rowsRead"]))
        total.rows_written += int(str(run["rowsWritten"]))
        if run["complete"]:
            return total
    raise RuntimeError(f"the rollup was not complete after {max_runs} runs")


LIVE = """
SELECT 'reports', '', '', '', COUNT(*), COUNT(DISTINCT telemetry_id) FROM reports WHERE period_end > :since
UNION ALL SELECT 'bin', metric, bin, '', SUM(sessions), COUNT(DISTINCT telemetry_id)
  FROM report_cells WHERE period_end > :since AND bin IS NOT NULL GROUP BY metric, bin
UNION ALL SELECT 'provider', metric, role, provider, SUM(sessions), COUNT(DISTINCT telemetry_id)
  FROM report_cells WHERE period_end > :since AND provider IS NOT NULL GROUP BY metric, role, provider
UNION ALL SELECT 'transport', metric, transport, '', SUM(sessions), COUNT(DISTINCT telemetry_id)
  FROM report_cells WHERE period_end > :since AND metric = :duration GROUP BY transport
"""
LIVE_FACTS = "SELECT 'fact', '{c}', coalesce({c}, ''), '', 0, COUNT(*) FROM installations WHERE telemetry_id IN (SELECT telemetry_id FROM reports WHERE period_end > :since) GROUP BY 3"
ROLLUP = source_constant("src/db/rollups.ts", r"const READ = `(.*?)`;")
_DAYS, _SPAN = re.fullmatch(
    r"\{ days: (\d+), spanDays: (\d+) \}",
    source_constant("src/db/established.ts", r"export const DEFAULT_ESTABLISHED: Established = (\{.*?\});"),
).groups()  # type: ignore[union-attr]
DEPLOYED_ESTABLISHED = f"{_DAYS}/{_SPAN}"
"""The establishment rule a deployment runs (``src/db/established.ts``): the Worker here runs it too."""
ESTABLISHED = (
    "telemetry_id IN (SELECT telemetry_id FROM installations"
    " WHERE days_seen >= :est_days AND julianday(last_seen_day) - julianday(first_seen_day) >= :est_span)"
)
RULE = {"est_days": int(_DAYS), "est_span": int(_SPAN)}
"""Reports the deployed Worker publishes: those of established installations (the others wait)."""
LIVE = LIVE.replace("WHERE period_end > :since", f"WHERE period_end > :since AND {ESTABLISHED}")
LIVE_FACTS = LIVE_FACTS.replace("WHERE telemetry_id IN", f"WHERE {ESTABLISHED} AND telemetry_id IN")
FACT_COLUMNS = tuple(
    re.findall(
        r'"(\w+)",', source_constant("src/db/rows.ts", r"export const INSTALLATION_COLUMNS\b.*?\{(.*?)\};")
    )
)
"""The installations columns holding environment facts, as the Worker names them (``rows.ts``)."""


def rollups_equal_live(database: Path, since: int) -> tuple[bool, float]:
    """Whether the rollup rows of the window give exactly the live aggregates; and the live query's time."""
    params: dict[str, object] = {"since": since, "duration": contract.DURATION, **RULE}
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        started = time.perf_counter()
        live = set(db.execute(LIVE, params).fetchall())
        for column in FACT_COLUMNS:
            live |= set(db.execute(LIVE_FACTS.format(c=column), params).fetchall())
        seconds = time.perf_counter() - started
        rolled = set(db.execute(ROLLUP.replace("?1", ":since"), params).fetchall())
    live = {row for row in live if row[5] > 0}
    return live == {(k, n, a, b, t if k != "fact" else 0, i) for k, n, a, b, t, i in rolled}, seconds


HISTORY_DAYS = 730
LIVE_DAYS = """
SELECT (period_end - 1) / 86400 * 86400, COUNT(DISTINCT telemetry_id), COUNT(*) FROM reports
WHERE telemetry_id IN (SELECT telemetry_id FROM installations
                       WHERE days_seen >= :est_days AND julianday(last_seen_day) - julianday(first_seen_day) >= :est_span)
GROUP BY 1
"""


def history_equal_live(database: Path) -> bool:
    """Whether the history's active installations and reports per day equal COUNT(DISTINCT) over the reports."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        live = set(db.execute(LIVE_DAYS, RULE).fetchall())
        stored = set(
            db.execute(
                "SELECT start, installations, total FROM series_buckets WHERE grain = 'day' AND kind = 'reports'"
            ).fetchall()
        )
    return live == stored


@dataclass
class HistorySize:
    rows_90: int
    bytes_90: int
    rows_2y: int
    bytes_2y: int


def history_size(database: Path, scratch: Path) -> HistorySize:
    """series_buckets' pages for the simulated days, and for two years of them (rows copied back in time)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        (rows_90,) = db.execute("SELECT COUNT(*) FROM series_buckets").fetchone()
        (bytes_90,) = db.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'series_buckets'").fetchone()
        (schema,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'series_buckets'").fetchone()
        rows = db.execute("SELECT * FROM series_buckets").fetchall()
        (first, last) = db.execute("SELECT MIN(start), MAX(start) FROM series_buckets").fetchone()
    scratch.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(scratch)) as db, db:
        db.execute(schema)
        span = (
            last - first
        ) // 86_400 // 7 * 7 * 86_400 + 7 * 86_400  # whole weeks, so week rows stay Mondays
        copies = -(-HISTORY_DAYS * 86_400 // span)
        for k in range(copies):
            db.executemany(
                "INSERT OR IGNORE INTO series_buckets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(g, start - k * span, *rest) for g, start, *rest in rows],
            )
        db.execute("DELETE FROM series_buckets WHERE start < ?", (last - HISTORY_DAYS * 86_400,))
    with contextlib.closing(sqlite3.connect(scratch)) as db:
        (rows_2y,) = db.execute("SELECT COUNT(*) FROM series_buckets").fetchone()
        (bytes_2y,) = db.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'series_buckets'").fetchone()
    scratch.unlink()
    return HistorySize(rows_90, bytes_90, rows_2y, bytes_2y)


def rows_read(state: Path, since: int) -> tuple[int, float]:
    """D1's rows_read and SQL time (s) of the stats read (the rollup sum and as_of), via the probe."""
    total, seconds = 0, 0.0
    with BenchWorker("probe.wrangler.jsonc", state_dir=state) as probe:
        for sql, params in ((ROLLUP, [since]), ("SELECT as_of FROM rollup_state WHERE id = 1", [])):
            data = json.dumps({"sql": sql, "params": params}).encode()
            request = urllib.request.Request(f"{probe.base_url}/sql", data=data, method="POST")
            with urllib.request.urlopen(request, timeout=3600) as response:
                meta = json.loads(response.read())["meta"]
            total += int(meta["rows_read"])
            seconds += meta["duration"] / 1000
    return total, seconds


@dataclass
class Measured:
    installations: int
    every_day: bool
    loaded: scale_data.Loaded
    latest: int
    backlog: CronRuns
    hourly: CronRuns
    size: int
    tables: dict[str, int]
    payload: int
    in_window: int
    reference: float
    first: float
    warm: list[float]
    warm_90: list[float]
    reads: tuple[int, float]
    identical: bool
    live_seconds: float
    series_first: dict[str, float]
    series_warm: dict[str, list[float]]
    history_identical: bool
    history: HistorySize


def measure(installations: int, *, every_day: bool = False, keep: Path | None = None) -> Measured:
    now = datetime.now(timezone.utc)
    population = scale_data.Population(installations, DAYS, now, every_day=every_day)
    with tempfile.TemporaryDirectory(prefix="voicemode-scale-") as tmp:
        state = keep or Path(tmp)
        database = migrate(state)
        reference = check_cells(state, database, now)
        loaded, latest = scale_data.load(database, population)
        with LocalWorker(state_dir=state, rollup_on_read=False, established=DEPLOYED_ESTABLISHED) as worker:
            backlog = run_cron(worker)
        scale_data.arrive(database, latest)
        with LocalWorker(state_dir=state, rollup_on_read=False, established=DEPLOYED_ESTABLISHED) as worker:
            hourly = run_cron(worker)
            url = f"{worker.base_url}/v1/stats?days={WINDOW_DAYS}"
            asked = int(time.time())
            first, stats = timed_get(url)
            answered = int(time.time())
            warm = [timed_get(url)[0] for _ in range(WARM_RUNS)]
            warm_90 = [timed_get(f"{worker.base_url}/v1/stats?days={DAYS}")[0] for _ in range(WARM_RUNS)]
            series_first: dict[str, float] = {}
            series_warm: dict[str, list[float]] = {}
            for grain in ("day", "week"):
                series_url = f"{worker.base_url}/v1/stats?series={grain}&days={DAYS}"
                series_first[grain], body = timed_get(series_url)
                assert isinstance(body["buckets"], list) and len(body["buckets"]) >= DAYS // 7, body
                series_warm[grain] = [timed_get(series_url)[0] for _ in range(WARM_RUNS)]
        size = database.stat().st_size
        db = sqlite3.connect(database)
        counts = {
            db.execute(
                "SELECT COUNT(*) FROM reports WHERE period_end > ?", (t - WINDOW_DAYS * 86_400,)
            ).fetchone()[0]
            for t in (asked, answered)
        }
        assert stats["reports"] in counts, (stats["reports"], counts)
        tables = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        payload = db.execute("SELECT SUM(length(cells)) FROM reports").fetchone()[0]
        db.close()
        identical, live_seconds = rollups_equal_live(database, asked - WINDOW_DAYS * 86_400)
        reads = rows_read(state, asked - WINDOW_DAYS * 86_400)
        history_identical = history_equal_live(database)
        history = history_size(database, Path(tmp) / "history-2y.sqlite")
    return Measured(
        installations,
        every_day,
        loaded,
        len(latest),
        backlog,
        hourly,
        size,
        tables,
        payload,
        int(str(stats["reports"])),
        reference,
        first,
        warm,
        warm_90,
        reads,
        identical,
        live_seconds,
        series_first,
        series_warm,
        history_identical,
        history,
    )


def rows(m: Measured) -> list[Row]:
    scale = FULL_INSTALLATIONS / m.installations
    label = f"{m.installations:,} installations × {DAYS} days" + (", every day" if m.every_day else "")
    median = statistics.median(m.warm)
    reports = m.loaded.reports + m.latest
    installation_days = m.installations * DAYS
    per_report = m.size / reports
    hourly = m.hourly
    out = [
        Row(
            f"GET /v1/stats?days={WINDOW_DAYS} on simulated D1: {label}",
            f"{median * 1000:.0f} ms (first request {m.first * 1000:.0f} ms; days={DAYS}: "
            f"{statistics.median(m.warm_90) * 1000:.0f} ms)",
            f"{m.reference * 1000:.0f} ms, same Worker, {CHECK_REPORTS} reports",
            median / m.reference,
            "< 1 s",
            median < 1.0,
            f"{reports:,} reports ({reports / installation_days:.2f} per installation-day), "
            f"{m.in_window:,} in the window, {m.loaded.cells:,} cells; bulk-loaded in {m.loaded.seconds:.0f} s; "
            f"median of {WARM_RUNS} after the first request of a fresh workerd; read from the rollups only; "
            f"{'identical to' if m.identical else 'DIFFERENT from'} the live aggregation over the raw reports "
            f"(which took {m.live_seconds:.1f} s in Python's sqlite3)",
        ),
        Row(
            "  D1 rows read per GET /v1/stats (meta.rows_read)",
            f"{m.reads[0]:,}",
            f"free tier: {FREE_ROWS_READ_PER_DAY:,} a day",
            m.reads[0] / FREE_ROWS_READ_PER_DAY,
            "(for reference)",
            None,
            f"the rollup sum and as_of; SQL time {m.reads[1] * 1000:.0f} ms",
        ),
        Row(
            "  results equal the live aggregation (every sum and distinct-installation count)",
            "identical" if m.identical else "DIFFERENT",
            "",
            None,
            "identical",
            m.identical,
            f"{WINDOW_DAYS}-day window, compared before suppression",
        ),
        *[
            Row(
                f"  GET /v1/stats?series={grain}&days={DAYS}",
                f"{statistics.median(m.series_warm[grain]) * 1000:.0f} ms "
                f"(first request {m.series_first[grain] * 1000:.0f} ms)",
                f"{m.reference * 1000:.0f} ms, stats on {CHECK_REPORTS} reports",
                statistics.median(m.series_warm[grain]) / m.reference,
                "< 200 ms warm",
                statistics.median(m.series_warm[grain]) < 0.2,
                f"median of {WARM_RUNS} warm requests; from series_buckets, every cell suppressed and "
                "complemented per bucket",
            )
            for grain in ("day", "week")
        ],
        Row(
            "  history: active installations and reports per day equal the live count",
            "identical" if m.history_identical else "DIFFERENT",
            "",
            None,
            "identical",
            m.history_identical,
            "COUNT(DISTINCT telemetry_id) and COUNT(*) per UTC day of period_end - 1, Python's sqlite3",
        ),
        Row(
            "D1 size of the day/week history (kept 2 years, no IDs)",
            f"{m.history.bytes_2y / 1e6:.1f} MB for 2 years ({m.history.rows_2y:,} rows)",
            f"{m.history.bytes_90 / 1e6:.2f} MB for the {DAYS} simulated days ({m.history.rows_90:,} rows)",
            m.history.bytes_2y / m.size,
            "(capacity.md)",
            None,
            f"SQLite dbstat pages of series_buckets; 2 years = the simulated days' rows copied back in time "
            f"(same traffic, {len(scale_data.FACTS['service_version'])} versions); ratio: share of the "
            "whole database",
        ),
        Row(
            f"Hourly cron run: the latest hour's {hourly.reports:,} new reports",
            f"{hourly.seconds:.1f} s, {hourly.rows_written / max(hourly.reports, 1):.2f} rows written per report",
            f"{hourly.steps} steps; rows read {hourly.rows_read:,}, written {hourly.rows_written:,}",
            None,
            "(capacity.md)",
            None,
            "wall time of the scheduled event (D1 local); rows from the cron's own log (meta of its batches)",
        ),
        Row(
            "  Rollup backlog (what migration 0002 queues on an existing database)",
            f"{m.backlog.reports / m.backlog.seconds:,.0f} reports/s",
            f"{m.backlog.reports:,} reports in {m.backlog.seconds:.0f} s, {m.backlog.runs} cron runs, "
            f"{m.backlog.steps} steps",
            None,
            "(for reference)",
            None,
            f"rows written {m.backlog.rows_written:,} ({m.backlog.rows_written / m.backlog.reports:.2f} per report)",
        ),
        Row(
            "D1 database size per installation-day (90 days kept)",
            f"{m.size / installation_days:.0f} B ({per_report:.0f} B per report; {m.size / 1e6:,.0f} MB in all)",
            f"{m.payload / reports:.0f} B of cells JSON per report",
            per_report / (m.payload / reports),
            "(capacity.md)",
            None,
            "file size after the load and the rollups; pages per table: "
            + ", ".join(
                f"{name} {b / 1e6:,.1f} MB" for name, b in sorted(m.tables.items(), key=lambda t: -t[1])[:6]
            )
            + f"; at {FULL_INSTALLATIONS:,} installations ≈ {m.size * scale / 1e9:.2f} GB "
            "(D1 limit: 10 GB paid, 500 MB free)",
        ),
    ]
    return out


def run() -> list[Row]:
    return rows(measure(DEFAULT_INSTALLATIONS))


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
    produced = rows(measure(installations, every_day=args.every_day, keep=args.keep))
    print(table(produced))
    print("\n" + "\n".join(f"- **{r.what.strip()}**: {r.note}" for r in produced if r.note))
    print(f"\n{(time.monotonic() - started) / 60:.1f} min; TMPDIR={os.environ.get('TMPDIR', '/tmp')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
