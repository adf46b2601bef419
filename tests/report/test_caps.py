"""A genuine log over the contract's count cap: whole sessions left out, noted locally, accepted whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import RESOURCE
from localworker import LocalWorker

from voicemode_otel import testing
from voicemode_otel.contract import Period, ceil_hour, floor_hour
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.logs import Session
from voicemode_otel.operations import preference
from voicemode_otel.report import build as report
from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer

UTC = timezone.utc
OPT_IN = datetime(2026, 11, 20, 9, 17, tzinfo=UTC)
EXTRA = 5


def _crowded(paths: Paths, period: Period, count: int) -> list[Session]:
    """``count`` one-round sessions, one every 50 s from the period's start, all completing inside it."""
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    sessions = [
        writer.session(
            (period.start + timedelta(seconds=50 * i)).astimezone(testing.PACIFIC),
            1,
            conversation_id=f"conv_crowded_{i:04d}",
        )
        for i in range(count)
    ]
    assert all(period.contains(s.completed_at) for s in sessions)
    return sessions


def _sessions_on_the_wire(body: bytes) -> int:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest.FromString(body)
    return sum(
        point.count
        for metric in request.resource_metrics[0].scope_metrics[0].metrics
        if metric.name == contract.DURATION
        for point in metric.histogram.data_points
    )


def test_within_cap_keeps_the_earliest_completing_sessions(paths: Paths) -> None:
    """Above the cap the latest-completing sessions are left out whole, the same ones every time."""
    period = Period(datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC))
    cap = contract.load().counts.max_sessions(2 * 3600)
    assert cap == 2 * contract.load().counts.max_sessions_per_hour
    sessions = _crowded(paths, period, cap + EXTRA)
    kept, left_out = report.within_cap(list(reversed(sessions)), period)
    assert (kept, left_out) == (sessions[:cap], EXTRA)
    assert report.within_cap(sessions[:cap], period) == (sessions[:cap], 0)
    built = report.build(sessions, period, RESOURCE)
    assert (built.session_count, built.left_out, _sessions_on_the_wire(built.body)) == (cap, EXTRA, cap)


def test_sender_sends_at_most_the_cap_and_logs_what_it_left_out(paths: Paths, capture: CaptureServer) -> None:
    """The wire carries exactly the cap's sessions; the local log says how many were left out and why."""
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    preference.set_preference(paths, True, environ, now=OPT_IN)
    period = Period(ceil_hour(OPT_IN), ceil_hour(OPT_IN) + timedelta(hours=2))
    per_hour = contract.load().counts.max_sessions_per_hour
    _crowded(paths, period, 2 * per_hour + EXTRA)
    result = delivery.run(
        delivery.RunConfig(
            paths, environ=environ, clock=lambda: period.end + timedelta(minutes=3), force=True
        )
    )
    assert result.outcome is delivery.Outcome.DELIVERED, result.message
    [request] = capture.captured
    assert _sessions_on_the_wire(request.body) == 2 * per_hour
    [logged] = [
        json.loads(line)
        for file in sorted(paths.transparency_dir.glob("*.jsonl"))
        for line in file.read_text().splitlines()
        if json.loads(line)["event"] == "pending"
    ]
    assert (
        logged["outcome"]
        == f"pending; {EXTRA} sessions over the contract's cap ({per_hour} an hour) left out"
    )


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    """A local Worker (wrangler dev, local D1) for the end-to-end case."""
    with LocalWorker(stats_min_installations=1) as started:
        yield started


@pytest.mark.e2e
def test_the_worker_accepts_the_capped_report_whole(worker: LocalWorker, tmp_path: Path) -> None:
    """The report cut to the cap is stored as sent: the client's cap is exactly the Worker's."""
    now = datetime.now(UTC)
    paths = Paths(tmp_path / "crowded")
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": worker.metrics_url}
    preference.set_preference(paths, True, environ, now=floor_hour(now) - timedelta(hours=2, minutes=30))
    period = Period(floor_hour(now) - timedelta(hours=2), floor_hour(now))
    per_hour = contract.load().counts.max_sessions_per_hour
    _crowded(paths, period, 2 * per_hour + EXTRA)
    result = delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: now, force=True))
    assert result.outcome is delivery.Outcome.DELIVERED, result.message
    assert "rejected" not in result.message, result.message
    telemetry_id = paths.telemetry_id.read_text().strip()
    [stored] = worker.query(
        "SELECT SUM(sessions) AS n FROM report_cells WHERE telemetry_id = ? AND metric = ?",
        (telemetry_id, contract.DURATION),
    )
    assert stored == {"n": 2 * per_hour}
