"""Simulated installations for the scale benchmark: days of VoiceMode use → the Worker's D1 rows.

A population of installations, each with a usage class (how often VoiceMode is used,
how many sessions a day), a UTC hour at which its server starts and reports, and
environment facts. Each day it is used gives one report whose period runs from the
previous report's end (at most 7 days back, as the client sends) to that hour: exactly
the rows the Worker writes for it (``worker-otlp-ingest/src/db/rows.ts``). Cells are
computed here from simulated sessions with the contract's bins, in the Worker's compact
encoding (``src/db/cells.ts``: ``[metric, transport|role, bin|provider, sessions]`` as
contract indexes) and canonical order; ``bench_scale`` checks that spelling against
what the real Worker stores for the same sessions sent through the real pipeline.

Bulk path: rows go straight into the local D1 SQLite file (made by
``wrangler d1 migrations apply --local``) with Python's sqlite3, in the order the Worker
would receive them (see :func:`load`); the schema ends exactly as the migrations made it.
Every loaded report is queued for the rollup job (``rollup_pending``, by the Worker's own
trigger), as migration 0002 leaves an existing database; the reports of the latest hour are held back, for
:func:`arrive` to store later as the hour's new reports.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import Session

DAY = 86_400
HOUR = 3_600
MAX_PERIOD = 7 * DAY  # the client's longest period


@dataclass(frozen=True)
class UsageClass:
    """How a kind of user uses VoiceMode: share of installations, days used, sessions per day."""

    name: str
    share: float
    day_probability: float
    sessions_mean: float


# Heavy users report nearly daily; regular ones about every other day; occasional ones
# about once a week. On average an installation reports on 58% of days.
CLASSES = (
    UsageClass("daily", 0.40, 0.92, 4.0),
    UsageClass("regular", 0.35, 0.50, 2.5),
    UsageClass("occasional", 0.25, 0.15, 1.5),
)
TRANSPORTS = (("local", 0.88), ("livekit", 0.10), ("unknown", 0.02))
SETUPS = (  # (tts providers, stt providers, weight): one per session
    (("kokoro",), ("whisper-local",), 0.40),
    (("openai",), ("openai",), 0.25),
    (("kokoro", "openai"), ("whisper-local",), 0.08),  # a TTS fallback
    (("kokoro",), ("openai",), 0.10),
    (("openai",), ("openai-whisper",), 0.05),
    (("kokoro",), ("mlx-audio",), 0.07),
    (("other",), ("other",), 0.03),
    (("no-op",), ("local",), 0.02),
)
FACTS = {  # installation column → (value, weight); None = not sent ("unknown")
    "service_version": (("8.12.0", 0.55), ("8.11.2", 0.25), ("8.10.0", 0.15), ("8.13.0.dev0", 0.05)),
    "os_type": (("darwin", 0.55), ("linux", 0.40), ("windows", 0.04), (None, 0.01)),
    "install_method": (("uv-tool", 0.60), ("uvx", 0.25), ("pipx", 0.10), (None, 0.05)),
    "mcp_host": (
        ("claude-code", 0.55),
        ("cursor", 0.15),
        ("claude-desktop", 0.15),
        ("vscode", 0.10),
        ("zed", 0.05),
    ),
    "exec_source": (("mcp", 0.90), ("cli", 0.10)),
}


def _pick(rng: random.Random, weighted: Sequence[tuple[object, float]]) -> object:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _poisson_at_least_one(rng: random.Random, mean: float) -> int:
    n, p, target = 0, 1.0, pow(2.718281828459045, -(mean - 1))
    while True:  # Knuth's method for Poisson(mean - 1), plus one
        p *= rng.random()
        if p < target:
            return n + 1
        n += 1


def simulate_sessions(rng: random.Random, count: int, period_end: datetime) -> list[Session]:
    """``count`` sessions of one day, completing before ``period_end``."""
    sessions = []
    for index in range(count):
        seconds = min(4 * 3600.0, rng.lognormvariate(5.9, 1.1))  # median ≈ 6 min
        rounds = 0 if rng.random() < 0.03 else max(1, round(seconds / rng.choice((20, 45, 90, 150))))
        tts, stt, _ = rng.choices(SETUPS, [w for *_, w in SETUPS])[0]
        last = period_end - timedelta(hours=1 + index)
        sessions.append(
            Session(
                f"conv_{index}",
                last - timedelta(seconds=seconds),
                last,
                rounds,
                str(_pick(rng, TRANSPORTS)),
                frozenset(tts),
                frozenset(stt),
            )
        )
    return sessions


def cells(sessions: Sequence[Session]) -> list[list[int]]:
    """The non-empty cells of a report as ``rows.ts`` stores them: sorted index tuples."""
    spec = contract.load()
    metrics = list(spec.metrics)
    transports = spec.closed_values(contract.TRANSPORT)
    roles = spec.closed_values(contract.PROVIDER_ROLE)
    names = spec.closed_values(contract.PROVIDER_NAME)
    histograms = [spec.metric(contract.DURATION), spec.metric(contract.EXCHANGES)]
    providers = metrics.index(contract.PROVIDERS)
    counts: Counter[tuple[int, int, int]] = Counter()
    for s in sessions:
        transport = transports.index(s.transport)
        for histogram, value in zip(histograms, (s.duration_seconds, s.exchanges), strict=True):
            counts[(metrics.index(histogram.name), transport, histogram.bin_index(value))] += 1
        for role, used in (("tts", s.tts_providers), ("stt", s.stt_providers)):
            for name in used:
                counts[(providers, roles.index(role), names.index(name))] += 1
    return [[m, a, b, n] for (m, a, b), n in sorted(counts.items())]


def cells_json(sessions: Sequence[Session]) -> str:
    """``JSON.stringify(report.cells)``: no spaces."""
    return json.dumps(cells(sessions), separators=(",", ":"))


@dataclass(frozen=True)
class Population:
    """What to simulate: ``installations`` over the ``days`` days before ``now``."""

    installations: int
    days: int
    now: datetime
    seed: int = 7
    pool_size: int = 20_000
    every_day: bool = False
    """Every installation reports every day (the 100k × 90 = 9M reports upper bound)."""


@dataclass
class Loaded:
    reports: int = 0
    installations: int = 0
    rate_limits: int = 0
    cells: int = 0
    seconds: float = 0.0


def _day_pool(rng: random.Random, usage: UsageClass, size: int, end: datetime) -> list[tuple[str, int]]:
    """``size`` days of use of one class: (cells JSON, number of cells)."""
    pool = []
    for _ in range(size):
        sessions = simulate_sessions(rng, _poisson_at_least_one(rng, usage.sessions_mean), end)
        pool.append((cells_json(sessions), len(cells(sessions))))
    return pool


Report = tuple[str, int, int, str, str]
"""A ``reports`` row: telemetry_id, period_start, period_end, received_day, cells."""


@dataclass(frozen=True)
class Simulated:
    """One installation: its ``installations`` row and its ``reports`` rows (with cell counts)."""

    installation: tuple[object, ...]
    reports: list[Report]
    cells: int


def simulate(population: Population, rng: random.Random) -> Iterator[Simulated]:
    """The installations in telemetry-ID order, each with its reports in period order."""
    now = int(population.now.timestamp()) // HOUR * HOUR
    first_day = now // DAY * DAY - population.days * DAY
    pool_end = datetime.fromtimestamp(now, timezone.utc)
    pools = [_day_pool(rng, usage, population.pool_size // len(CLASSES), pool_end) for usage in CLASSES]
    shares = [usage.share for usage in CLASSES]
    ids = sorted(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(population.installations))
    for telemetry_id in ids:
        index = rng.choices(range(len(CLASSES)), shares)[0]
        probability = 1.0 if population.every_day else CLASSES[index].day_probability
        pool = pools[index]
        hour = rng.randrange(24)
        facts = tuple(_pick(rng, options) for options in FACTS.values())
        reports: list[Report] = []
        count = 0
        previous_end = 0
        for day in range(population.days):
            end = first_day + (day + 1) * DAY + hour * HOUR
            if end > now or rng.random() >= probability:
                continue
            start = max(previous_end, end - MAX_PERIOD) if previous_end else end - DAY
            received = datetime.fromtimestamp(end, timezone.utc).strftime("%Y-%m-%d")
            day_cells, n = pool[rng.randrange(len(pool))]
            reports.append((telemetry_id, start, end, received, day_cells))
            count += n
            previous_end = end
        if reports:
            days_seen = len({r[3] for r in reports})
            yield Simulated((telemetry_id, reports[0][3], reports[-1][3], days_seen, *facts), reports, count)


def load(database: Path, population: Population) -> tuple[Loaded, list[Report]]:
    """Writes the simulated rows into the migrated local D1 file ``database``.

    Reports go in in ``period_end`` order, as the Worker receives them — random order of
    the ``(telemetry_id, period_start)`` key, so the table's pages split and fill as they
    would in production (inserting in key order would pack them differently). The
    ``period_end`` index is kept, so it fills as it would too; only the overlap trigger,
    which reads but never writes, is dropped during the load and recreated after. Each
    report is queued in ``rollup_pending`` by the enqueue trigger, as ingest's are. The reports that ended in the latest hour are
    not written: they are returned, for :func:`arrive`.
    """
    started = time.perf_counter()
    rng = random.Random(population.seed)
    result = Loaded()
    installations: list[tuple[object, ...]] = []
    reports: list[Report] = []
    for simulated in simulate(population, rng):
        installations.append(simulated.installation)
        reports += simulated.reports
        result.cells += simulated.cells
    reports.sort(key=lambda r: (r[2], r[0]))
    latest_hour = int(population.now.timestamp()) // HOUR * HOUR
    held = [r for r in reports if r[2] >= latest_hour]
    reports = reports[: len(reports) - len(held)]
    db = sqlite3.connect(database, isolation_level=None)
    (trigger,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'reports_no_overlap'").fetchone()
    journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1048576")  # 1 GiB while loading
    db.execute("DROP TRIGGER reports_no_overlap")
    db.execute("BEGIN")
    for offset in range(0, len(reports), 100_000):
        chunk = reports[offset : offset + 100_000]
        db.executemany("INSERT INTO reports VALUES (?, ?, ?, ?, ?)", chunk)
    result.reports = len(reports)
    # The rate-limit counts the daily cron has not removed yet: at most a day's worth. The
    # ID's hourly count is in its installation row (migration 0004), set for the IDs that
    # reported on the last day; one IP bucket per client.
    last_day = max(str(i[2]) for i in installations)
    window = int(population.now.timestamp()) // HOUR * HOUR
    limits = [(window, 1, 10) if i[2] == last_day else (None, None, None) for i in installations]
    db.executemany(
        "INSERT INTO installations (telemetry_id, first_seen_day, last_seen_day, days_seen, service_version,"
        " os_type, install_method, mcp_host, exec_source, limit_window, limit_hits, limit_max)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*i, *limit) for i, limit in zip(installations, limits, strict=True)],
    )
    result.installations = len(installations)
    today = [i[0] for i in installations if i[2] == last_day]
    buckets = [(f"ip:{rng.getrandbits(256):064x}", window, 1, 100) for _ in today]
    db.executemany("INSERT INTO rate_limits VALUES (?, ?, ?, ?)", buckets)
    result.rate_limits = len(buckets)
    db.execute("COMMIT")
    db.execute(trigger)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.close()
    result.seconds = time.perf_counter() - started
    return result, held


def arrive(database: Path, reports: Sequence[Report]) -> None:
    """Stores ``reports`` as ingest does: the report rows and their rollup queue entries.

    (Their installations and rate-limit rows are already there from :func:`load`.)
    """
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.executemany("INSERT INTO reports VALUES (?, ?, ?, ?, ?)", reports)
