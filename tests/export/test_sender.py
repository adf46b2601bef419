"""The sender against a real OTLP receiver: one request per run, and nothing a server says can break it."""

from __future__ import annotations

from datetime import timedelta

import hostile
import pytest
from helpers import DAY, RESOURCE, session
from opentelemetry.sdk.metrics.export import MetricsData

from voicemode_otel import testing
from voicemode_otel.delivery import run as delivery
from voicemode_otel.export import config as exporter_config
from voicemode_otel.export import sender
from voicemode_otel.operations import preference
from voicemode_otel.report import build as report
from voicemode_otel.report import otlp_decode
from voicemode_otel.store import Paths, state
from voicemode_otel.testing import Behaviour, CaptureServer


def a_report() -> MetricsData:
    return otlp_decode.restore(report.build([session()], DAY, RESOURCE).body)


def send_to(url: str, **extra: str) -> sender.SendResult:
    settings = exporter_config.resolve({"VOICEMODE_TELEMETRY_ENDPOINT": url, **extra})
    return sender.ReportSender(settings, lambda: True).send(a_report())


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour(502),
        Behaviour(503),
        Behaviour(504),
        Behaviour(429, (("Retry-After", "1"),)),
        Behaviour(503, (("Retry-After", "0"),)),
    ],
    ids=["502", "503", "504", "429-retry-after-1", "503-retry-after-0"],
)
def test_one_request_per_run_whatever_the_status(capture: CaptureServer, behaviour: Behaviour) -> None:
    """The exporter would retry these within its 10 s; the delivery state machine is the only retry policy."""
    capture.default = behaviour
    result = send_to(capture.url)
    assert result.outcome == "retry"
    assert result.status == behaviour.status
    assert len(capture.captured) == 1
    assert capture.connections == 1


def test_a_consent_check_precedes_the_one_request(capture: CaptureServer) -> None:
    """Consent is asked once, right before the request leaves; withdrawn means no connection at all."""
    asked: list[bool] = []

    def allowed() -> bool:
        asked.append(True)
        return False

    settings = exporter_config.resolve({"VOICEMODE_TELEMETRY_ENDPOINT": capture.url})
    result = sender.ReportSender(settings, allowed).send(a_report())
    assert result.outcome == "withdrawn"
    assert asked == [True]
    assert capture.connections == 0


@pytest.mark.parametrize(
    "value",
    ["²", "99999999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "-1", "nan", "1e9", "\x1b[2J", ""],
)
def test_hostile_retry_after_never_breaks_the_run(paths: Paths, capture: CaptureServer, value: str) -> None:
    """Any Retry-After a server sends: the run ends in "retry", the wait is at most a day, the report kept."""
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    preference.set_preference(paths, True, environ, now=DAY.start - timedelta(minutes=5))
    testing.ConversationLogWriter(paths.conversations_dir).session(DAY.start + timedelta(hours=2), 4)
    capture.answer(Behaviour(503, (("Retry-After", value),)))
    result = delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: DAY.end))
    assert result.outcome is delivery.Outcome.RETRY
    retry_at = state.load_state(paths).retry_not_before
    assert retry_at is not None and DAY.end < retry_at <= DAY.end + delivery.BACKOFF_CAP
    assert paths.pending_file.exists()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("²", None), ("99999999999999999999", 7 * 24 * 3600.0), ("soon", None)],
)
def test_retry_after_parsing(value: str, seconds: float | None) -> None:
    """Delta-seconds in ASCII digits, capped at a week; anything else is no Retry-After at all."""
    assert sender.retry_after_seconds(value) == seconds


def test_a_reason_phrase_cannot_reach_the_terminal_raw() -> None:
    """A status line with escape sequences and a huge reason becomes one short printable detail."""
    reason = b"\x1b[2J\x1b]0;pwned\x07 Slow Down" + b"x" * 5000
    raw = b"HTTP/1.1 503 " + reason + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with hostile.HostileServer(hostile.answers(raw)) as server:
        result = send_to(server.url)
    assert result.outcome == "retry" and result.status == 503
    assert result.detail.isprintable() and "\x1b" not in result.detail and "\x07" not in result.detail
    assert result.detail.startswith("503 ?[2J?]0;pwned? Slow Down") and len(result.detail) <= 90


def test_an_endless_response_body_is_not_read_to_the_end() -> None:
    """A 200 whose body never ends is a 200: delivered, without reading more than a little of it."""
    with hostile.HostileServer(hostile.endless_body) as server:
        result = send_to(server.url, OTEL_EXPORTER_OTLP_TIMEOUT="5000")
    assert (result.outcome, result.status, result.detail) == ("delivered", 200, "200")


def test_partial_success_message_is_made_printable(capture: CaptureServer) -> None:
    """A partial_success error message from the server is shown on one line, control characters replaced."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = 1
    response.partial_success.error_message = "bad\r\n\x1b[31mpoint"
    capture.answer(Behaviour(200, body=response.SerializeToString()))
    result = send_to(capture.url)
    assert result.detail == "200; partial success: 1 points rejected: bad ?[31mpoint"
