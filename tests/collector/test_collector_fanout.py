"""The shipped configs, live: a real `voicemode-otel send` through the project's Collector.

The fan-out (collector-config/voicemode.yaml) runs with the Worker under `wrangler dev` (local D1)
and a capture server as the user's backend; the alternative sink with the backend only. What the
Worker stores for a report that came through the Collector must equal what it stores for the same
logs sent straight to it, and the backend must receive exactly the report the client sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from collector_helpers import (
    ALTERNATIVE_SINK,
    FAN_OUT,
    canonical,
    fan_out_environ,
    leaks,
    new_id,
    post_request,
    require,
    stored_rows,
    valid_request,
    wait_for,
)
from helpers import cli, logged_report, send_over
from localcollector import LocalCollector
from localworker import LocalWorker
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from voicemode_otel import testing
from voicemode_otel.operations import preference
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths, transparency
from voicemode_otel.testing import CaptureServer

pytestmark = [pytest.mark.collector, pytest.mark.e2e]


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    """One local Worker for the module."""
    require()
    with LocalWorker(stats_min_installations=1) as started:
        yield started


@pytest.fixture
def backend() -> Iterator[CaptureServer]:
    """The user's own OTLP backend: a capture server that decodes what arrives."""
    with CaptureServer() as server:
        yield server


def clear_of_the_hour() -> datetime:
    """Now, after waiting out the last minute of an hour, so two sends share one period end."""
    now = datetime.now(timezone.utc)
    if now.minute == 59:
        time.sleep(61 - now.second)
    return datetime.now(timezone.utc)


def installation(root: Path, name: str, now: datetime) -> Paths:
    """An installation that opted in three days ago, with three days of VoiceMode's logs (seeded)."""
    paths = Paths(root / name)
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(days=3)
    )
    testing.sample_week(paths.conversations_dir, now, days=3)
    return paths


def send(paths: Paths, endpoint: str) -> dict[str, object]:
    """The real `voicemode-otel send --json` to ``endpoint``; its JSON answer."""
    result = cli(paths.base, "send", "--json", VOICEMODE_TELEMETRY_ENDPOINT=endpoint)
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def sent_request(paths: Paths) -> ExportMetricsServiceRequest:
    """The one report the client logged as sent (its transparency log keeps the exact body)."""
    [entry] = [e for e in transparency.read(paths) if "body" in e]
    return otlp_json.from_json(json.dumps(entry["body"]))


def telemetry_id(paths: Paths) -> str:
    return paths.telemetry_id.read_text(encoding="utf-8").strip()


def test_send_through_the_fan_out_stores_what_a_direct_send_stores(
    worker: LocalWorker, backend: CaptureServer, tmp_path: Path
) -> None:
    """Logs sent via voicemode.yaml give the D1 rows a direct send gives; the backend gets the report."""
    now = clear_of_the_hour()
    direct = installation(tmp_path, "direct", now)
    via = installation(tmp_path, "via-collector", now)
    environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
    with LocalCollector([FAN_OUT], environ) as collector:
        assert send(direct, worker.metrics_url)["outcome"] == "delivered"
        answer = send(via, collector.metrics_url)
        assert answer["outcome"] == "delivered", answer
        expected = stored_rows(worker, telemetry_id(direct))
        assert len(expected["reports"]) == 1
        assert wait_for(lambda: stored_rows(worker, telemetry_id(via))["reports"], what="the Worker's copy")
        assert stored_rows(worker, telemetry_id(via)) == expected
        assert "partial success" not in collector.log().lower()

    [arrived] = backend.captured
    assert arrived.path == "/v1/metrics"
    assert arrived.headers["content-encoding"] == "gzip"
    assert canonical(arrived.request()) == canonical(sent_request(via))
    assert leaks(arrived.request()) == []


def test_send_through_the_alternative_sink_reaches_only_the_backend(
    backend: CaptureServer, tmp_path: Path
) -> None:
    """Through voicemode-alternative-sink.yaml the backend gets exactly the client's report, nothing else."""
    require()
    now = clear_of_the_hour()
    paths = installation(tmp_path, "alternative", now)
    with LocalCollector([ALTERNATIVE_SINK], {"USER_OTLP_ENDPOINT": backend.base_url}) as collector:
        answer = send(paths, collector.metrics_url)
        assert answer["outcome"] == "delivered", answer
        assert "voicemode_worker" not in collector.log()
    [arrived] = backend.captured
    assert canonical(arrived.request()) == canonical(sent_request(paths))
    assert leaks(arrived.request()) == []


def test_grpc_receiver_takes_the_same_report_as_http(
    worker: LocalWorker, backend: CaptureServer, tmp_path: Path
) -> None:
    """A report exported over OTLP/gRPC (grpcio) into voicemode.yaml is stored like one sent over HTTP."""
    grpc = pytest.importorskip("grpc", reason="grpcio is not installed (the [grpc] extra: make venv)")
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc

    direct_id, via_id = new_id(), new_id()
    assert post_request(worker.metrics_url, valid_request(direct_id)).status == 200
    request = valid_request(via_id)
    environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
    with (
        LocalCollector([FAN_OUT], environ) as collector,
        grpc.insecure_channel(collector.grpc_target) as channel,
    ):
        response = metrics_service_pb2_grpc.MetricsServiceStub(channel).Export(request, timeout=60)
        assert not response.HasField("partial_success") or response.partial_success.rejected_data_points == 0
        assert wait_for(lambda: stored_rows(worker, via_id)["reports"], what="the Worker's copy")
    assert stored_rows(worker, via_id) == stored_rows(worker, direct_id)
    [arrived] = backend.captured
    assert canonical(arrived.request()) == canonical(request)


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json", "grpc"])
def test_each_client_protocol_through_the_fan_out_stores_what_a_direct_send_stores(
    worker: LocalWorker, backend: CaptureServer, tmp_path: Path, protocol: str
) -> None:
    """The real `send` over each OTLP protocol into the Collector stores the rows a direct send stores."""
    if protocol == "grpc":
        pytest.importorskip("grpc", reason="grpcio is not installed (the [grpc] extra: make venv)")
    now = clear_of_the_hour()
    direct = installation(tmp_path, "direct", now)
    via = installation(tmp_path, "via-collector", now)
    environ = fan_out_environ(worker.base_url, backend.base_url, tmp_path / "queue")
    with LocalCollector([FAN_OUT], environ) as collector:
        assert send(direct, worker.metrics_url)["outcome"] == "delivered"
        # The user's own endpoint: gRPC takes the receiver's address, HTTP the full metrics URL.
        endpoint = f"http://{collector.grpc_target}" if protocol == "grpc" else collector.metrics_url
        result = send_over(via, protocol, endpoint)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "delivered" in result.stdout
        assert wait_for(lambda: stored_rows(worker, telemetry_id(via))["reports"], what="the Worker's copy")
        assert stored_rows(worker, telemetry_id(via)) == stored_rows(worker, telemetry_id(direct))
        assert "partial success" not in collector.log().lower()

    [arrived] = backend.captured
    assert arrived.path == "/v1/metrics"
    assert canonical(arrived.request()) == canonical(logged_report(via))
    assert leaks(arrived.request()) == []
