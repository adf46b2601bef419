"""A refused report is never "delivered"; a wrong clock holds sending instead of silencing it for years."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from voicemode_otel import testing
from voicemode_otel.contract import ceil_hour, floor_hour
from voicemode_otel.delivery import run as delivery
from voicemode_otel.delivery import schedule
from voicemode_otel.operations import preference
from voicemode_otel.operations import status as overview
from voicemode_otel.store import Paths, state, transparency
from voicemode_otel.testing import Behaviour, CaptureServer

UTC = timezone.utc
TEN_YEARS = timedelta(days=3653)


def _refusal(points: int, reason: str) -> bytes:
    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = points
    response.partial_success.error_message = f"{points} data points rejected: {reason}"
    return response.SerializeToString()


def _points(body: bytes) -> int:
    request = ExportMetricsServiceRequest.FromString(body)
    return sum(
        len(metric.histogram.data_points) + len(metric.sum.data_points)
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )


class Clock:
    """The client's clock, set by the test; the capture server answers with the real time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def setup(paths: Paths, capture: CaptureServer) -> tuple[Paths, dict[str, str], datetime]:
    """Opted in 30 h ago (real clock), two sessions since; the server states its time (Date)."""
    now = datetime.now(UTC)
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=30))
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    for hours in (20, 6):
        writer.session((now - timedelta(hours=hours)).astimezone(testing.PACIFIC), 3)
        # ... and as VoiceMode would log them under a clock ten years ahead
        writer.session((now + TEN_YEARS - timedelta(hours=hours)).astimezone(testing.PACIFIC), 2)
    capture.clock = lambda: datetime.now(UTC)
    return paths, environ, now


def _run(paths: Paths, environ: dict[str, str], clock: Clock, **options: bool) -> delivery.RunResult:
    return delivery.run(delivery.RunConfig(paths, environ=environ, clock=clock, force=True, **options))


def test_a_report_refused_whole_is_settled_as_refused_not_delivered(
    setup: tuple[Paths, dict[str, str], datetime], capture: CaptureServer
) -> None:
    """All points rejected (the contract refused the report): logged as refused, with why; never resent."""
    paths, environ, now = setup
    capture.answer(Behaviour(200, body=_refusal(4, "voicemode.session.exchanges: count above the cap")))
    result = _run(paths, environ, Clock(now))
    assert result.outcome is delivery.Outcome.REFUSED, result
    [sent] = capture.captured
    current = state.load_state(paths)
    assert current.delivered_until is None and current.last_delivered_at is None
    assert current.acked_until == floor_hour(now)  # settled: the same bytes are not sent again
    assert current.delivered_to == ()
    assert not paths.pending_file.exists()
    assert (current.last_outcome or "").startswith("refused: ")
    assert "count above the cap" in (current.last_outcome or "")
    [line] = [line for line in transparency.lines(paths) if line.kind == "report"]
    assert line.outcome.startswith("refused: ") and "count above the cap" in line.outcome
    assert _points(sent.body) == 4  # one transport, two providers: all four points were rejected


def test_a_partial_rejection_is_delivered(
    setup: tuple[Paths, dict[str, str], datetime], capture: CaptureServer
) -> None:
    """Some points rejected and the rest stored (a foreign backend): delivered, the rejection logged."""
    paths, environ, now = setup
    capture.answer(Behaviour(200, body=_refusal(2, "not wanted")))
    assert _run(paths, environ, Clock(now)).outcome is delivery.Outcome.DELIVERED
    assert state.load_state(paths).delivered_until == floor_hour(now)


def test_a_clock_years_ahead_holds_instead_of_recording_the_future(
    setup: tuple[Paths, dict[str, str], datetime], capture: CaptureServer
) -> None:
    """Refused as ending in the server's future: nothing settled, held, resumed on the real clock."""
    paths, environ, now = setup
    ahead = Clock(now + TEN_YEARS)
    capture.answer(Behaviour(200, body=_refusal(4, "period: ends in the future")))
    held = _run(paths, environ, ahead)
    assert held.outcome is delivery.Outcome.HELD, held
    current = state.load_state(paths)
    assert current.opted_in_at is not None and current.delivered_until is None
    assert schedule.period_start(current, current.opted_in_at) == ceil_hour(current.opted_in_at)
    assert not paths.pending_file.exists()  # refused: rebuilt, never resent byte for byte
    assert current.clock_server_time is not None
    assert abs(current.clock_server_time - now) < timedelta(minutes=5)
    text = overview.render(overview.current(paths, environ))
    assert "Held:" in text and "10 years ahead of the server" in text, text
    again = _run(paths, environ, ahead)
    assert again.outcome is delivery.Outcome.HELD and len(capture.captured) == 1  # nothing sent while held
    capture.answer(Behaviour(200, body=_refusal(4, "period: ends in the future")))
    forced = _run(paths, environ, ahead, ignore_retry_after=True)  # `send --force` asks the server again
    assert forced.outcome is delivery.Outcome.HELD and len(capture.captured) == 2
    back = _run(paths, environ, Clock(datetime.now(UTC)))
    assert back.outcome is delivery.Outcome.DELIVERED, back
    request = ExportMetricsServiceRequest.FromString(capture.captured[-1].body)
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]
    opted_in = state.load_state(paths).opted_in_at
    assert opted_in is not None
    assert point.start_time_unix_nano == int(ceil_hour(opted_in).timestamp()) * 10**9  # nothing was skipped
    resumed = state.load_state(paths)
    assert resumed.clock_server_time is None
    assert resumed.acked_until == floor_hour(datetime.now(UTC))


def test_a_delivery_under_a_clock_hours_off_holds_the_next_one(
    setup: tuple[Paths, dict[str, str], datetime], capture: CaptureServer
) -> None:
    """Accepted, but the server's Date is 3 h from ours: delivered, then held until the clocks agree."""
    paths, environ, now = setup
    behind = Clock(now - timedelta(hours=3))
    assert _run(paths, environ, behind).outcome is delivery.Outcome.DELIVERED
    assert state.load_state(paths).clock_server_time is not None
    testing.ConversationLogWriter(paths.conversations_dir).session(
        (now - timedelta(hours=2)).astimezone(testing.PACIFIC), 2
    )
    behind.now = now - timedelta(hours=2, minutes=30)
    held = _run(paths, environ, behind)
    assert held.outcome is delivery.Outcome.HELD and len(capture.captured) == 1, held
    behind.now = datetime.now(UTC)  # the clock was put right: the server is asked again
    assert _run(paths, environ, behind).outcome is delivery.Outcome.DELIVERED
    assert len(capture.captured) == 2
    assert state.load_state(paths).clock_server_time is None  # the clocks agree again


def test_a_server_without_a_date_is_never_judged(
    setup: tuple[Paths, dict[str, str], datetime], capture: CaptureServer
) -> None:
    """No Date header (a server without a clock): nothing to compare, nothing held."""
    paths, environ, now = setup
    capture.clock = None
    assert _run(paths, environ, Clock(now - timedelta(hours=3))).outcome is delivery.Outcome.DELIVERED
    assert state.load_state(paths).clock_server_time is None


def test_the_reporter_sleeps_through_a_hold_and_wakes_when_the_clock_is_set_back(
    setup: tuple[Paths, dict[str, str], datetime], capture: CaptureServer
) -> None:
    """A held reporter sleeps until the recheck, not "now" hourly; a clock set back wakes it at once."""
    from voicemode_otel.delivery import runner

    paths, environ, now = setup
    capture.answer(Behaviour(200, body=_refusal(4, "period: ends in the future")))
    ahead = now + TEN_YEARS
    assert _run(paths, environ, Clock(ahead)).outcome is delivery.Outcome.HELD
    recheck = state.load_state(paths).retry_not_before
    assert recheck is not None
    wait = runner._seconds_until_work(paths, environ, ahead + timedelta(minutes=10), local=False)
    assert wait == (recheck - ahead - timedelta(minutes=10)).total_seconds() > 0
    assert runner._seconds_until_work(paths, environ, now, local=False) == 0.0
