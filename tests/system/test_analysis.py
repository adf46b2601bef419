"""docs/analysis.md's queries, run against a real export of simulated data with known answers.

Six installations on two versions report on known weeks through the real pipeline (the
real report builder and OTLP encoder, HTTP to a local Worker, its hourly cron after each
week); ``make worker-export``'s script exports the local D1 to SQLite; every named query
of docs/analysis.md runs on that file and must give exactly the answer the design implies.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from localworker import ROOT, WORKER, LocalWorker, node_environment, rollup_cron

from voicemode_otel.contract import Period
from voicemode_otel.logs import Session
from voicemode_otel.report import build as report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DOC = ROOT / "docs" / "analysis.md"
OLD, NEW = "8.12.0", "8.13.0"
# installation → (version, the weeks (0..3, oldest first) it reports in)
DESIGN = {
    "a": (OLD, (0, 1, 2, 3)),
    "b": (OLD, (0, 2)),
    "c": (NEW, (1, 2, 3)),
    "d": (NEW, (2, 3)),
    "e": (NEW, (0,)),
    "f": (OLD, (3,)),
}
IDS = {name: f"{i:08d}-aaaa-4aaa-8aaa-aaaaaaaaaaaa" for i, name in enumerate(DESIGN)}
# Per report: OLD has two 3-minute sessions and one of 30 s; NEW two of 8 minutes and one of 3.
LENGTHS = {OLD: (180, 180, 30), NEW: (480, 480, 180)}


def week_starts(now: datetime) -> list[datetime]:
    """The Mondays (00:00 UTC) of the four whole weeks before the current one."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    this_monday = today - timedelta(days=today.weekday())
    return [this_monday - timedelta(weeks=4 - k) for k in range(4)]


def sessions_for(version: str, end: datetime) -> list[Session]:
    out = []
    for i, seconds in enumerate(LENGTHS[version]):
        last = end - timedelta(hours=2 + i)
        out.append(
            Session(
                f"c{i}",
                last - timedelta(seconds=seconds),
                last,
                3,
                "local",
                frozenset({"kokoro"}),
                frozenset({"whisper-local"}),
            )
        )
    return out


def send(worker: LocalWorker, name: str, end: datetime) -> None:
    version, _ = DESIGN[name]
    resource = {
        "service.name": "voicemode",
        "voicemode.telemetry.id": IDS[name],
        "service.version": version,
        "os.type": "linux",
    }
    body = gzip.compress(
        report.build(sessions_for(version, end), Period(end - timedelta(hours=24), end), resource).body
    )
    headers = {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "gzip",
        "CF-Connecting-IP": f"192.0.2.{list(DESIGN).index(name) + 1}",
    }
    request = urllib.request.Request(worker.metrics_url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200 and response.read() == b""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[datetime]]]:
    """The SQLite file make worker-export writes, for the designed weeks."""
    tmp = tmp_path_factory.mktemp("analysis")
    state = tmp / "state"
    state.mkdir()
    weeks = week_starts(datetime.now(timezone.utc))
    with LocalWorker(state_dir=state, stats_min_installations=1, rollup_on_read=False) as worker:
        cron = rollup_cron()
        for k, monday in enumerate(weeks):
            for i, (name, (_version, active)) in enumerate(DESIGN.items()):
                if k in active:
                    send(worker, name, monday + timedelta(days=2, hours=10 + i))
            worker.refresh(cron)
    env = {**node_environment(), "PERSIST_TO": str(state), "EXPORTS_DIR": str(tmp / "exports")}
    done = subprocess.run(
        [str(WORKER / "scripts" / "export.sh"), "--local"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path == tmp / "exports" / "voicemode-otel-local.sqlite"
    yield path, weeks


def queries() -> dict[str, str]:
    """The ```sql blocks of docs/analysis.md, by their `-- name:` line."""
    text = DOC.read_text(encoding="utf-8")
    found = {}
    for block in re.findall(r"```sql\n(.*?)```", text, re.S):
        name = re.match(r"-- name: (\w+)\n", block)
        assert name, f"a query without a name in docs/analysis.md:\n{block}"
        found[name.group(1)] = block
    return found


def run(path: Path, name: str, **params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(queries()[name], params).fetchall()


def day(d: datetime) -> str:
    return d.strftime("%Y-%m-%d")


def test_every_query_in_the_doc_is_tested() -> None:
    """Each named query of docs/analysis.md has a test below."""
    tested = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert set(queries()) <= tested


def test_weekly_active_installations(exported: tuple[Path, list[datetime]]) -> None:
    """Distinct installations and reports per week, from the raw reports."""
    path, weeks = exported
    assert run(path, "weekly_active_installations") == [
        (day(weeks[0]), 3, 3),
        (day(weeks[1]), 2, 2),
        (day(weeks[2]), 4, 4),
        (day(weeks[3]), 4, 4),
    ]


def test_weekly_active_installations_history(exported: tuple[Path, list[datetime]]) -> None:
    """The same from the two-year history, which holds no installation ID."""
    path, weeks = exported
    assert run(path, "weekly_active_installations_history") == run(path, "weekly_active_installations")
    assert [w for w, *_ in run(path, "weekly_active_installations_history")] == [day(w) for w in weeks]


def test_version_adoption(exported: tuple[Path, list[datetime]]) -> None:
    """Per reporting day (the weeks' Wednesdays), installations and share per version."""
    path, weeks = exported
    wednesday = [day(w + timedelta(days=2)) for w in weeks]
    assert run(path, "version_adoption") == [
        (wednesday[0], OLD, 2, 66.7),
        (wednesday[0], NEW, 1, 33.3),
        (wednesday[1], OLD, 1, 50.0),
        (wednesday[1], NEW, 1, 50.0),
        (wednesday[2], OLD, 2, 50.0),
        (wednesday[2], NEW, 2, 50.0),
        (wednesday[3], OLD, 2, 50.0),
        (wednesday[3], NEW, 2, 50.0),
    ]


def test_week_over_week_retention(exported: tuple[Path, list[datetime]]) -> None:
    """Of each week's installations, those back the next week (the last week left out)."""
    path, weeks = exported
    assert run(path, "week_over_week_retention") == [
        (day(weeks[0]), 3, 1, 33.3),
        (day(weeks[1]), 2, 2, 100.0),
        (day(weeks[2]), 4, 3, 75.0),
    ]


def test_bin_shift_between_versions(exported: tuple[Path, list[datetime]]) -> None:
    """Duration-bin shares of the two versions' sessions and the shift, in contract bin order."""
    path, weeks = exported
    since = int(weeks[0].timestamp())
    assert run(path, "bin_shift_between_versions", version_a=OLD, version_b=NEW, since=since) == [
        ("<1min", 33.3, 0.0, -33.3),
        ("1-5min", 66.7, 33.3, -33.3),
        ("5-10min", 0.0, 66.7, 66.7),
        ("10-20min", 0.0, 0.0, 0.0),
        ("20-60min", 0.0, 0.0, 0.0),
        (">60min", 0.0, 0.0, 0.0),
    ]
    # Only the last week: A, C, D, F reported then.
    last = run(
        path, "bin_shift_between_versions", version_a=OLD, version_b=NEW, since=int(weeks[3].timestamp())
    )
    assert last[:3] == [
        ("<1min", 33.3, 0.0, -33.3),
        ("1-5min", 66.7, 33.3, -33.3),
        ("5-10min", 0.0, 66.7, 66.7),
    ]


def test_export_path_is_the_documented_one() -> None:
    """`make worker-export` writes where the docs say: worker-otlp-ingest/exports/, not ./exports."""
    script = (WORKER / "scripts" / "export.sh").read_text(encoding="utf-8")
    assert 'out="${EXPORTS_DIR:-$WORKER_DIR/exports}"' in script
    for doc in (DOC, WORKER / "README.md"):
        text = doc.read_text(encoding="utf-8")
        assert "sqlite3 worker-otlp-ingest/exports/voicemode-otel-" in text, doc
        assert not re.search(r"sqlite3 exports/", text), doc
    assert "exports/" in (WORKER / ".gitignore").read_text(encoding="utf-8").splitlines()
