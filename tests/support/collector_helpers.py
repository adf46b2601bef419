"""Shared pieces of the Collector suite (tests marked ``collector``): configs, requests, sinks.

The suite runs the project's own Collector (``build/otelcol-voicemode``, ``make collector``) on
the shipped configs in collector-config/, with the Worker under ``wrangler dev`` and a capture
server as the user's backend. Where the binary is missing each test is skipped with the reason
``scripts/collector_build.sh`` left (``scripts/run_tests.py`` fails such a skip under CI=true).
"""

from __future__ import annotations

import gzip
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from helpers import RESOURCE, session
from localcollector import MAIN_BINARY, unavailable_reason
from localworker import LocalWorker
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from voicemode_otel.contract import Period, floor_hour
from voicemode_otel.report import build as report

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "collector-config"
FAN_OUT = CONFIG_DIR / "voicemode.yaml"
ALTERNATIVE_SINK = CONFIG_DIR / "voicemode-alternative-sink.yaml"
PROMETHEUS = CONFIG_DIR / "voicemode-prometheus.yaml"
PROTOBUF = "application/x-protobuf"


def require(binary: Path = MAIN_BINARY) -> Path:
    """``binary``, or skip the test saying why it cannot run here."""
    reason = unavailable_reason(binary)
    if reason is not None:
        pytest.skip(f"the project's Collector is not available: {reason}")
    return binary


def fan_out_environ(worker_base_url: str, backend_base_url: str, queue_dir: Path) -> dict[str, str]:
    """The variables voicemode.yaml reads, pointing at a Worker, a backend and a queue directory."""
    return {
        "VOICEMODE_WORKER_ENDPOINT": worker_base_url,
        "USER_OTLP_ENDPOINT": backend_base_url,
        "VOICEMODE_COLLECTOR_QUEUE_DIR": str(queue_dir),
        "HOME": str(queue_dir.parent),
    }


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes


def post(url: str, body: bytes, *, content_type: str = PROTOBUF, encoding: str | None = None) -> Answer:
    """POST ``body`` to ``url`` (gzip-compressed when ``encoding`` is ``gzip``) and read the answer."""
    headers = {"Content-Type": content_type}
    if encoding == "gzip":
        body = gzip.compress(body)
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def post_request(url: str, request: ExportMetricsServiceRequest) -> Answer:
    """POST an OTLP request as protobuf."""
    return post(url, request.SerializeToString())


def last_day(now: datetime | None = None) -> Period:
    """The 24 whole hours before ``now``: a period the Worker accepts."""
    end = floor_hour(now or datetime.now(timezone.utc))
    return Period(end - timedelta(hours=24), end)


def new_id() -> str:
    """A fresh installation ID (UUIDv4, as the contract requires)."""
    return str(uuid.uuid4())


def valid_request(telemetry_id: str, period: Period | None = None) -> ExportMetricsServiceRequest:
    """A report voicemode-otel itself would send: local and LiveKit sessions, four providers."""
    period = period or last_day()
    end = period.end - timedelta(hours=3)
    sessions = [
        session(150.0, 3, last=end, name="c1"),
        session(900.0, 14, last=end - timedelta(hours=2), name="c2", tts=frozenset({"openai"})),
        session(40.0, 1, transport="livekit", last=end - timedelta(hours=4), name="c3"),
    ]
    return report.build_request(sessions, period, {**RESOURCE, "voicemode.telemetry.id": telemetry_id})


def canonical(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    """The request as a dict with every attribute list sorted by key, for order-free comparison."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: walk(v) for k, v in value.items()}
            if isinstance(out.get("attributes"), list):
                out["attributes"] = sorted(out["attributes"], key=lambda a: a["key"])
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return dict(walk(MessageToDict(request)))


def points(request: ExportMetricsServiceRequest) -> list[Any]:
    """Every histogram and sum data point in the request."""
    found: list[Any] = []
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found += (
                    metric.histogram.data_points if metric.HasField("histogram") else metric.sum.data_points
                )
    return found


def leaks(request: ExportMetricsServiceRequest) -> list[str]:
    """Fields the contract never lets out, wherever they occur in the request."""
    found = []
    for point in points(request):
        for name in ("sum", "min", "max"):
            if point.DESCRIPTOR.fields_by_name.get(name) and point.HasField(name):
                found.append(name)
        if point.exemplars:
            found.append("exemplars")
    return found


def wait_for(condition: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def stored_rows(worker: LocalWorker, telemetry_id: str) -> dict[str, list[dict[str, Any]]]:
    """The Worker's D1 rows for one installation, without the ID itself (to compare installations)."""
    reports = worker.query(
        "SELECT period_start, period_end, received_day, cells FROM reports WHERE telemetry_id = ? "
        "ORDER BY period_start",
        (telemetry_id,),
    )
    installations = worker.query(
        "SELECT first_seen_day, last_seen_day, service_version, os_type, install_method, mcp_host, "
        "exec_source FROM installations WHERE telemetry_id = ?",
        (telemetry_id,),
    )
    return {"reports": reports, "installations": installations}


def stored_cells(worker: LocalWorker, telemetry_id: str) -> set[tuple[Any, ...]]:
    """The Worker's cells for one installation: (metric, transport, bin, role, provider, sessions)."""
    rows = worker.query(
        "SELECT metric, transport, bin, role, provider, sessions FROM report_cells WHERE telemetry_id = ?",
        (telemetry_id,),
    )
    return {(r["metric"], r["transport"], r["bin"], r["role"], r["provider"], r["sessions"]) for r in rows}


def telemetry_overlay(directory: Path, metrics_port: int, name: str = "telemetry.yaml") -> Path:
    """A config overlay that turns on the Collector's own metrics, pulled on a loopback port."""
    path = directory / name
    path.write_text(
        "service:\n"
        "  telemetry:\n"
        "    metrics:\n"
        "      level: detailed\n"
        "      readers:\n"
        "        - pull:\n"
        "            exporter:\n"
        "              prometheus:\n"
        "                host: 127.0.0.1\n"
        f"                port: {metrics_port}\n",
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class ExporterCounts:
    """An exporter's own counters: data points it delivered and points it gave up on."""

    sent: float
    failed: float


def exporter_counts(metrics: dict[str, float], exporter: str) -> ExporterCounts:
    """``otelcol_exporter_sent_metric_points`` and ``..._send_failed_...`` of ``exporter``, all labels."""

    def total(name: str) -> float:
        return sum(
            value
            for key, value in metrics.items()
            if key.startswith(name + "{") and f'exporter="{exporter}"' in key
        )

    return ExporterCounts(
        total("otelcol_exporter_sent_metric_points"), total("otelcol_exporter_send_failed_metric_points")
    )
