"""A client clock 10 years ahead against the real Worker (`wrangler dev`, local D1): held, never silenced."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import helpers
import pytest
from localworker import LocalWorker

from voicemode_otel import testing
from voicemode_otel.contract import ceil_hour, floor_hour, shown
from voicemode_otel.delivery import run as delivery
from voicemode_otel.delivery import schedule
from voicemode_otel.operations import preference
from voicemode_otel.operations import status as overview
from voicemode_otel.store import Paths, state, transparency

pytestmark = pytest.mark.e2e
UTC = timezone.utc
TEN_YEARS = timedelta(days=3653)


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    with LocalWorker(stats_min_installations=1) as started:
        yield started


def _opted_in_with_sessions(paths: Paths, environ: dict[str, str]) -> datetime:
    """Opted in 30 h ago, two sessions since; and two more that VoiceMode logged under the wrong clock."""
    now = datetime.now(UTC)
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=30))
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    for hours in (20, 6):
        writer.session((now - timedelta(hours=hours)).astimezone(testing.PACIFIC), 3)
        writer.session((now + TEN_YEARS - timedelta(hours=hours)).astimezone(testing.PACIFIC), 2)
    return now


def _rows(worker: LocalWorker, telemetry_id: str) -> list[dict[str, object]]:
    return worker.query(
        "SELECT period_start, period_end FROM reports WHERE telemetry_id = ?", (telemetry_id,)
    )


def test_a_clock_ten_years_ahead_is_held_and_reporting_resumes_where_the_server_accepted(
    paths: Paths, worker: LocalWorker
) -> None:
    """The Worker refuses the future period: nothing "delivered", sending holds; the real clock resumes it."""
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": worker.metrics_url}
    now = _opted_in_with_sessions(paths, environ)
    telemetry_id = paths.telemetry_id.read_text().strip()

    def run(moment: datetime) -> delivery.RunResult:
        config = delivery.RunConfig(
            paths, environ=environ, clock=lambda: moment, exec_source="cli", force=True
        )
        return delivery.run(config)

    wrong = run(now + TEN_YEARS)
    assert wrong.outcome.value == "held-for-clock", wrong
    current = state.load_state(paths)
    assert current.delivered_until is None and current.last_delivered_at is None
    assert current.opted_in_at is not None
    assert schedule.period_start(current, current.opted_in_at) == ceil_hour(current.opted_in_at)
    assert _rows(worker, telemetry_id) == []
    [line] = [line for line in transparency.lines(paths) if line.kind == "report"]
    assert line.outcome.startswith("refused") and "period: ends in the future" in line.outcome, line.outcome
    status = overview.render(overview.current(paths, environ))
    assert "10 years ahead of the server" in status, status
    pending = [e for e in transparency.read(paths) if e["event"] == "pending"]
    assert run(now + TEN_YEARS + timedelta(minutes=30)).outcome.value == "held-for-clock"
    # Nothing built or sent while held:
    assert [e for e in transparency.read(paths) if e["event"] == "pending"] == pending

    right = run(datetime.now(UTC))
    assert right.outcome is delivery.Outcome.DELIVERED, right
    assert len([e for e in transparency.read(paths) if e["event"] == "pending"]) == 2
    opted_in = state.load_state(paths).opted_in_at
    assert opted_in is not None
    start, end = ceil_hour(opted_in), floor_hour(datetime.now(UTC))
    assert _rows(worker, telemetry_id) == [
        {"period_start": int(start.timestamp()), "period_end": int(end.timestamp())}
    ]
    assert "2036" not in right.message and "2037" not in right.message
    assert state.load_state(paths).clock_server_time is None


def _libfaketime() -> Path | None:
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    return found[0] if found else None


@pytest.mark.skipif(
    _libfaketime() is None, reason="libfaketime is not installed (make voicemode-venv installs it)"
)
def test_send_and_status_under_a_faked_clock(paths: Paths, worker: LocalWorker) -> None:
    """The CLI under libfaketime +10 years: `send` holds and says why, `status` names the server's time."""
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": worker.metrics_url}
    _opted_in_with_sessions(paths, environ)
    library = _libfaketime()
    assert library is not None
    faked = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        **environ,
        "LD_PRELOAD": str(library),
        "FAKETIME": "+3653d",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }

    def cli(*args: str, fake: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [helpers.SCRIPT, *args],
            env=faked if fake else {k: v for k, v in faked.items() if not k.startswith(("LD_", "FAKETIME"))},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    sent = cli("send", "--json")
    document = json.loads(sent.stdout)
    assert document["outcome"] == "held-for-clock", sent.stdout + sent.stderr
    assert sent.returncode == 1
    status = json.loads(cli("status", "--json").stdout)
    assert status["clock_hold"] is not None
    server_time = datetime.fromisoformat(status["clock_hold"]["server_time"].replace("Z", "+00:00"))
    assert abs(server_time - datetime.now(UTC)) < timedelta(minutes=10)
    assert "ahead of the server" in cli("status").stdout
    back = cli("send", "--json", fake=False)
    assert json.loads(back.stdout)["outcome"] == "delivered", back.stdout
    next_due = json.loads(back.stdout)["next_attempt"]
    assert next_due < shown(datetime.now(UTC) + timedelta(days=2))
