"""The Worker against the reference OTLP client: the Collector's Go otlphttp exporter.

A pass-through Collector (no processors, no queue: only the exporter under test) sends to the real
Worker under `wrangler dev`, which is made to give each answer OTLP/HTTP defines: 200 with and
without partial_success, 400 with a google.rpc.Status, 404, 413, 415, 429 with Retry-After. A 503
cannot be had from the local Worker on demand (it means D1 failed), so a capture server replays
the Worker's bytes for it, and for a 429 whose Retry-After is short enough to wait for. Each case
is checked in the Collector's own log, its exporter metrics (Prometheus pull reader on a loopback
port) and the answer the Collector gives its own client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from collector_helpers import (
    Answer,
    ExporterCounts,
    canonical,
    exporter_counts,
    last_day,
    new_id,
    post,
    post_request,
    require,
    valid_request,
)
from google.rpc.status_pb2 import Status
from localcollector import LocalCollector, prometheus_metrics
from localworker import LocalWorker, free_port

from voicemode_otel.contract import Period
from voicemode_otel.testing import OK, Behaviour, CaptureServer

pytestmark = [pytest.mark.collector, pytest.mark.e2e]

EXPORTER = "otlp_http/worker"
PASS_THROUGH = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: "127.0.0.1:${env:VOICEMODE_COLLECTOR_HTTP_PORT}"
exporters:
  otlp_http/worker:
    metrics_endpoint: "${env:WORKER_METRICS_URL}"
    compression: "${env:WORKER_COMPRESSION}"
    encoding: proto
    timeout: 10s
    retry_on_failure:
      enabled: true
      initial_interval: 1s
      max_interval: 2s
      max_elapsed_time: 10s
    sending_queue:
      enabled: false
service:
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:METRICS_PORT}
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [otlp_http/worker]
"""


@dataclass(frozen=True)
class Outcome:
    """What one request through the pass-through Collector came to."""

    client: Answer
    exporter: ExporterCounts
    log: str
    """Exporter log lines (after start-up)."""


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    """One local Worker for the module."""
    require()
    with LocalWorker() as started:
        yield started


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("passthrough") / "passthrough.yaml"
    path.write_text(PASS_THROUGH, encoding="utf-8")
    return path


def through_collector(config: Path, metrics_url: str, body: bytes, compression: str = "gzip") -> Outcome:
    """POST ``body`` to a fresh pass-through Collector exporting to ``metrics_url``."""
    port = free_port()
    environ = {
        "WORKER_METRICS_URL": metrics_url,
        "WORKER_COMPRESSION": compression,
        "METRICS_PORT": str(port),
    }
    with LocalCollector([config], environ) as collector:
        ready = len(collector.log().splitlines())
        client = post(collector.metrics_url, body)
        counts = exporter_counts(prometheus_metrics(port), EXPORTER)
        lines = [line for line in collector.log().splitlines()[ready:] if f'"{EXPORTER}"' in line]
    return Outcome(client, counts, "\n".join(lines))


def status_message(answer: Answer) -> str:
    """The message of the google.rpc.Status the Collector answered its client with."""
    return Status.FromString(answer.body).message


def test_200_is_delivered_quietly(worker: LocalWorker, config: Path) -> None:
    """200 without partial_success: every point counted as sent, nothing logged, the client gets 200."""
    outcome = through_collector(config, worker.metrics_url, valid_request(new_id()).SerializeToString())
    assert outcome.client.status == 200
    assert outcome.exporter == ExporterCounts(sent=7, failed=0)
    assert outcome.log == ""


def test_200_partial_success_is_logged_as_a_warning_and_not_retried(
    worker: LocalWorker, config: Path
) -> None:
    """200 with partial_success (the Worker refused a report with a sum): a warning with count and reason."""
    request = valid_request(new_id())
    request.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].sum = 5.0
    outcome = through_collector(config, worker.metrics_url, request.SerializeToString())
    assert outcome.client.status == 200
    assert outcome.exporter == ExporterCounts(sent=7, failed=0)
    [line] = outcome.log.splitlines()
    assert "\twarn\t" in line
    assert "Partial success response" in line
    assert '"dropped_data_points": 7' in line
    assert "7 data points rejected: voicemode.session.duration: sum not allowed" in line


def invalid_utf8(telemetry_id: str) -> bytes:
    """A report whose install method is not UTF-8: the Collector passes it on, the Worker cannot decode it."""
    body = valid_request(telemetry_id).SerializeToString()
    assert b"uv-tool" in body
    return body.replace(b"uv-tool", b"uv-to\xff\xfe")


def many_resources(count: int) -> bytes:
    """One request carrying ``count`` reports (resources): more than the Worker takes at once."""
    request = valid_request(new_id())
    for _ in range(count - 1):
        request.resource_metrics.add().CopyFrom(request.resource_metrics[0])
    return request.SerializeToString()


@pytest.mark.parametrize(
    ("name", "body", "path", "compression", "worker_status", "message", "client_status", "points"),
    [
        (
            "400 with a Status",
            invalid_utf8,
            "/v1/metrics",
            "gzip",
            400,
            "body is not an ExportMetricsServiceRequest in protobuf",
            400,
            7,
        ),
        ("404 with a Status", None, "/v1/metrics/v1/metrics", "gzip", 404, "not found", 404, 7),
        (
            "413",
            lambda _: many_resources(101),
            "/v1/metrics",
            "gzip",
            413,
            "at most 100 reports (resources) per request",
            500,
            707,
        ),
        ("415", None, "/v1/metrics", "zstd", 415, "Content-Encoding must be gzip or absent", 500, 7),
    ],
    ids=["400", "404", "413", "415"],
)
def test_refusals_are_permanent_dropped_once_and_logged_with_the_workers_reason(
    worker: LocalWorker,
    config: Path,
    name: str,
    body: object,
    path: str,
    compression: str,
    worker_status: int,
    message: str,
    client_status: int,
    points: int,
) -> None:
    """4xx but 429: not retried, counted as failed, logged with the Worker's Status message."""
    data = body(new_id()) if callable(body) else valid_request(new_id()).SerializeToString()
    outcome = through_collector(config, worker.base_url + path, data, compression)
    assert outcome.exporter == ExporterCounts(sent=0, failed=points), name
    [line] = [line for line in outcome.log.splitlines() if line.startswith("20")]
    assert "\terror\t" in line
    assert "Permanent error" in line
    assert f"responded with HTTP Status Code {worker_status}, Message={message}," in line
    assert "Will retry" not in outcome.log
    # The Collector answers its client with the refusal's gRPC code as HTTP (413 and 415 have
    # none, so they become 500).
    assert outcome.client.status == client_status
    assert f"Message={message}" in status_message(outcome.client)


def clear_of_the_hour(needed: timedelta) -> None:
    """Wait for the next hour if less than ``needed`` is left of this one (rate-limit windows are hours)."""
    now = datetime.now(timezone.utc)
    left = timedelta(minutes=60 - now.minute) - timedelta(seconds=now.second)
    if left < needed:
        time.sleep(left.total_seconds() + 2)


@pytest.fixture(scope="module")
def rate_limited_id(worker: LocalWorker) -> str:
    """An installation ID that has stored its 10 reports for this hour (the Worker's limit)."""
    clear_of_the_hour(timedelta(minutes=3))
    telemetry_id, day = new_id(), last_day()
    for i in range(10):
        period = Period(day.end - timedelta(hours=30 * (i + 1)), day.end - timedelta(hours=30 * i + 6))
        assert post_request(worker.metrics_url, valid_request(telemetry_id, period)).status == 200
    return telemetry_id


def over_the_limit(telemetry_id: str, n: int) -> bytes:
    day = last_day()
    period = Period(day.end - timedelta(hours=30 * (n + 1)), day.end - timedelta(hours=30 * n + 6))
    return valid_request(telemetry_id, period).SerializeToString()


def test_429_with_a_long_retry_after_ends_the_attempt_at_once(
    worker: LocalWorker, config: Path, rate_limited_id: str
) -> None:
    """The real 429 (Retry-After: rest of the hour) exceeds the retry budget: given up at once, client 429."""
    outcome = through_collector(config, worker.metrics_url, over_the_limit(rate_limited_id, 10))
    assert outcome.exporter == ExporterCounts(sent=0, failed=7)
    [line] = [line for line in outcome.log.splitlines() if line.startswith("20")]
    assert "no more retries left: Throttle (" in line
    assert "HTTP Status Code 429, Message=rate limit exceeded; retry after the hour," in line
    assert outcome.client.status == 429
    # The Collector does not pass the Worker's Retry-After on to its client.
    assert "retry-after" not in outcome.client.headers


def replay(answer: Answer, retry_after: str) -> Behaviour:
    """The Worker's answer, byte for byte, with another Retry-After."""
    headers = tuple((k, v) for k, v in answer.headers.items() if k == "content-type")
    return Behaviour(answer.status, (*headers, ("Retry-After", retry_after)), body=answer.body)


def worker_503() -> Answer:
    """The Worker's 503 when D1 fails (src/routes/metrics.ts), encoded as src/routes/http.ts encodes it."""
    body = Status(code=14, message="storage unavailable").SerializeToString()
    return Answer(503, {"content-type": "application/x-protobuf", "retry-after": "60"}, body)


def test_replayed_worker_bytes_match_the_real_worker(worker: LocalWorker, rate_limited_id: str) -> None:
    """The real Worker's 429 bytes equal the protobuf Status this suite builds for its 503 replay."""
    real = post(worker.metrics_url, over_the_limit(rate_limited_id, 11))
    assert real.status == 429
    assert real.headers["content-type"] == "application/x-protobuf"
    assert int(real.headers["retry-after"]) > 0
    built = Status(code=8, message="rate limit exceeded; retry after the hour").SerializeToString()
    assert real.body == built


@pytest.mark.parametrize("kind", ["429", "503"])
def test_429_and_503_are_retried_after_retry_after(
    worker: LocalWorker, config: Path, rate_limited_id: str, kind: str
) -> None:
    """A 429/503 whose Retry-After fits the budget: the same bytes again after Retry-After, then delivered."""
    if kind == "429":
        answer = post(worker.metrics_url, over_the_limit(rate_limited_id, 12))
        assert answer.status == 429
    else:
        answer = worker_503()
    request = valid_request(new_id())
    with CaptureServer(script=[replay(answer, "1"), OK]) as fake:
        outcome = through_collector(config, fake.url, request.SerializeToString())
        assert [item.committed for item in fake.captured] == [False, True]
        assert fake.captured[0].body == fake.captured[1].body
        assert canonical(fake.captured[1].request()) == canonical(request)
    assert outcome.client.status == 200
    assert outcome.exporter == ExporterCounts(sent=7, failed=0)
    [line] = [line for line in outcome.log.splitlines() if line.startswith("20")]
    assert "Will retry the request after interval" in line
    code = "ResourceExhausted" if kind == "429" else "Unavailable"
    assert f"Throttle (1s), error: rpc error: code = {code}" in line


def test_503_with_the_workers_retry_after_ends_the_attempt_and_the_client_hears_503(config: Path) -> None:
    """The Worker's 503 with Retry-After: 60 exceeds the retry budget: given up at once, client 503."""
    with CaptureServer(script=[replay(worker_503(), "60")]) as fake:
        outcome = through_collector(config, fake.url, valid_request(new_id()).SerializeToString())
        assert len(fake.captured) == 1
    assert outcome.exporter == ExporterCounts(sent=0, failed=7)
    assert "no more retries left: Throttle (1m0s)" in outcome.log
    assert "HTTP Status Code 503, Message=storage unavailable," in outcome.log
    assert outcome.client.status == 503
