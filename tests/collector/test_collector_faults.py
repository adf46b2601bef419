"""Faults in the fan-out (voicemode.yaml): what the client is told, what is retried, what each sink holds.

A real `voicemode-otel send` goes through the project's Collector while the Worker is down,
answers 429 or 503 with Retry-After, or answers a partial success, and while the user's backend
is down. Nothing may be lost; a report may arrive twice only at the Worker, which stores it once.
For 429, 503 and partial success the Worker is a capture server replaying the Worker's answers
(the real Worker cannot be made to give them on demand); for downtime and storage the real one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_helpers import FAN_OUT, canonical, fan_out_environ, require, stored_rows, wait_for
from google.rpc.status_pb2 import Status
from helpers import cli, due_report
from hostile import unreachable_port
from localcollector import LocalCollector
from localworker import LocalWorker
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths, transparency
from voicemode_otel.testing import Behaviour, Captured, CaptureServer

pytestmark = [pytest.mark.collector, pytest.mark.e2e]

WORKER_EXPORTER = "otlp_http/voicemode_worker"
BACKEND_EXPORTER = "otlp_http/own_backend"


def status(code: int, message: str) -> bytes:
    """A google.rpc.Status body as the Worker writes it (src/routes/http.ts)."""
    return Status(code=code, message=message).SerializeToString()


# What the Worker answers (src/routes/metrics.ts), with Retry-After shortened so the test need not wait.
RATE_LIMITED = Behaviour(
    429, (("Retry-After", "2"),), body=status(8, "rate limit exceeded; retry after the hour")
)
UNAVAILABLE = Behaviour(503, (("Retry-After", "2"),), body=status(14, "storage unavailable"))
PARTIAL = Behaviour(
    200,
    body=ExportMetricsServiceResponse(
        partial_success={
            "rejected_data_points": 4,
            "error_message": "4 data points rejected: period: too old",
        }
    ).SerializeToString(),
)


@pytest.fixture
def backend() -> Iterator[CaptureServer]:
    """The user's own OTLP backend."""
    with CaptureServer() as server:
        yield server


def installation(root: Path) -> Paths:
    """An installation with one report due."""
    paths = Paths(root / "voicemode")
    due_report(paths)
    return paths


def send(paths: Paths, collector: LocalCollector) -> dict[str, object]:
    """The real `voicemode-otel send --json` through ``collector``; its JSON answer."""
    result = cli(paths.base, "send", "--json", VOICEMODE_TELEMETRY_ENDPOINT=collector.metrics_url)
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def sent_body(paths: Paths) -> dict[str, object]:
    """The report the client logged as sent, canonical (the same bytes on every attempt)."""
    bodies = {json.dumps(e["body"], sort_keys=True) for e in transparency.read(paths) if "body" in e}
    [body] = bodies
    return canonical(otlp_json.from_json(body))


def bodies(items: list[Captured]) -> list[dict[str, object]]:
    return [canonical(item.request()) for item in items]


def test_worker_down_and_collector_crash_lose_nothing(backend: CaptureServer, tmp_path: Path) -> None:
    """Worker down: client hears 200, backend has one copy, the queue survives a SIGKILL and delivers."""
    require()
    port = unreachable_port()
    paths = installation(tmp_path)
    environ = fan_out_environ(f"http://127.0.0.1:{port}", backend.base_url, tmp_path / "queue")
    crashed = LocalCollector([FAN_OUT], environ).start()
    try:
        answer = send(paths, crashed)
        assert answer["outcome"] == "delivered", answer
        crashed.wait_for_log(rf'"{WORKER_EXPORTER}".*Will retry|Will retry.*"{WORKER_EXPORTER}"')
    finally:
        crashed.kill()
        crashed.close()
    assert (tmp_path / "queue").stat().st_mode & 0o777 == 0o700
    assert bodies(backend.captured) == [sent_body(paths)]
    telemetry_id = paths.telemetry_id.read_text(encoding="utf-8").strip()
    with LocalWorker(port=port) as worker, LocalCollector([FAN_OUT], environ):
        wait_for(lambda: stored_rows(worker, telemetry_id)["reports"], what="the queued report at the Worker")
        assert len(stored_rows(worker, telemetry_id)["reports"]) == 1
    assert len(backend.captured) == 1


@pytest.mark.parametrize(
    ("answer", "retried"),
    [(RATE_LIMITED, "Throttle (2s)"), (UNAVAILABLE, "Throttle (2s)")],
    ids=["429", "503"],
)
def test_worker_refusing_for_now_is_retried_after_its_retry_after(
    backend: CaptureServer, tmp_path: Path, answer: Behaviour, retried: str
) -> None:
    """Worker 429/503 + Retry-After: the client hears 200; the Collector resends the same bytes later."""
    require()
    paths = installation(tmp_path)
    with CaptureServer(script=[answer]) as worker:
        environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
        with LocalCollector([FAN_OUT], environ) as collector:
            assert send(paths, collector)["outcome"] == "delivered"
            wait_for(lambda: len(worker.captured) == 2, what="the Collector's retry")
            [line] = collector.wait_for_log("Will retry the request after interval")
            assert retried in line
        assert [item.committed for item in worker.captured] == [False, True]
        assert bodies(worker.captured) == [sent_body(paths)] * 2
    assert bodies(backend.captured) == [sent_body(paths)]


def test_worker_partial_success_is_logged_not_retried(backend: CaptureServer, tmp_path: Path) -> None:
    """Worker 200 with partial_success: the client hears 200; the Collector logs it and sends once."""
    require()
    paths = installation(tmp_path)
    with CaptureServer(script=[PARTIAL]) as worker:
        environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
        with LocalCollector([FAN_OUT], environ) as collector:
            assert send(paths, collector)["outcome"] == "delivered"
            [line] = collector.wait_for_log("Partial success response")
            assert '"dropped_data_points": 4' in line
            assert "period: too old" in line
            assert "Will retry" not in collector.log()
        assert bodies(worker.captured) == [sent_body(paths)]
    assert bodies(backend.captured) == [sent_body(paths)]


def test_worker_refusal_is_final_logged_and_dropped_from_the_queue(
    backend: CaptureServer, tmp_path: Path
) -> None:
    """Worker 400 with a Status: the client hears 200; the Collector logs the reason and never resends."""
    require()
    paths = installation(tmp_path)
    refused = Behaviour(400, body=status(3, "body is not an ExportMetricsServiceRequest in protobuf"))
    with CaptureServer(script=[refused]) as worker:
        environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
        with LocalCollector([FAN_OUT], environ) as collector:
            assert send(paths, collector)["outcome"] == "delivered"
            [line] = collector.wait_for_log("Exporting failed. Dropping data.|Permanent error")
            assert "HTTP Status Code 400, Message=body is not an ExportMetricsServiceRequest" in line
            assert "Will retry" not in collector.log()
        assert len(worker.captured) == 1
    assert bodies(backend.captured) == [sent_body(paths)]


def test_backend_refusal_makes_the_client_drop_the_report(tmp_path: Path) -> None:
    """Backend 400: the client hears 400 and drops the report, as it would without a Collector."""
    require()
    paths = installation(tmp_path)
    refused = Behaviour(400, body=status(3, "not for us"))
    with CaptureServer(script=[refused]) as backend, CaptureServer() as worker:
        environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
        with LocalCollector([FAN_OUT], environ) as collector:
            answer = send(paths, collector)
            assert answer["outcome"] == "dropped", answer
            assert "400" in str(answer["periods"]), answer
            wait_for(lambda: worker.captured, what="the Worker's queued copy")
        assert len(backend.captured) == 1


def test_backend_down_makes_the_client_resend_and_the_worker_dedupes(tmp_path: Path) -> None:
    """Backend down: the client hears 503; its resend reaches the backend once, the Worker twice."""
    require()
    paths = installation(tmp_path)
    down = f"http://127.0.0.1:{unreachable_port()}"
    with LocalWorker() as worker, CaptureServer() as backend:
        environ = fan_out_environ(worker.base_url, down, tmp_path / "queue")
        with LocalCollector([FAN_OUT], environ) as collector:
            answer = send(paths, collector)
            assert answer["outcome"] == "retry", answer
            assert "503" in str(answer["message"])
            collector.wait_for_log(f'"{BACKEND_EXPORTER}".*no more retries left')
        telemetry_id = paths.telemetry_id.read_text(encoding="utf-8").strip()
        first = wait_for(lambda: stored_rows(worker, telemetry_id)["reports"], what="the Worker's copy")
        posts = worker.logged_requests("POST", "/v1/metrics")
        environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
        with LocalCollector([FAN_OUT], environ) as again:
            answer = send(paths, again)
            assert answer["outcome"] == "delivered", answer
            wait_for(
                lambda: worker.logged_requests("POST", "/v1/metrics") > posts, what="the resend at the Worker"
            )
        assert stored_rows(worker, telemetry_id)["reports"] == first
        assert bodies(backend.captured) == [sent_body(paths)]
