"""Your own VoiceMode usage in Prometheus: voicemode-prometheus.yaml into a real Prometheus.

Debian's Prometheus (2.42: remote-write receiver, no OTLP) runs on a free loopback port with a
temporary data directory, scraping itself so its head holds current samples, and an
out-of-order window so reports ending days ago are still taken. A week of daily reports goes
through `otelcol-voicemode-prometheus` (contract filter, then delta_to_cumulative, then
prometheus_remote_write); PromQL over the HTTP API must then give, for every `le` bucket, the
count `voicemode-otel preview` shows for the same week, no `_sum` series at all, and the
example queries of collector-config/README.md must answer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import PROMETHEUS, leaks, require, wait_for
from helpers import cli
from localcollector import BUILD, PROMETHEUS_BINARY, LocalCollector
from localworker import free_port, stop_process_group
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from voicemode_otel import testing
from voicemode_otel.contract import floor_hour
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths

pytestmark = pytest.mark.collector

WEEK = 7
# Reports end at most 90 days ago (the contract's max_age); the window takes all of them.
PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
storage:
  tsdb:
    out_of_order_time_window: 90d
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


class Prometheus:
    """A Prometheus server on 127.0.0.1 with its own data directory, stopped by its process group."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        config = directory / "prometheus.yml"
        config.write_text(PROMETHEUS_CONFIG.replace("{port}", str(self.port)), encoding="utf-8")
        self.log = directory / "prometheus.log"
        binary = shutil.which("prometheus")
        assert binary is not None
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-remote-write-receiver",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **query: str) -> Any:
        url = f"{self.base_url}{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())

    def query(self, promql: str, at: datetime) -> list[dict[str, Any]]:
        """An instant PromQL query at ``at``: the result vector."""
        answer = self.get("/api/v1/query", query=promql, time=str(at.timestamp()))
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop_process_group(self.process)  # type: ignore[arg-type]


def prometheus_missing() -> str | None:
    """Why Prometheus cannot run here, or None."""
    marker = BUILD / "prometheus.unavailable"
    if marker.exists():
        return marker.read_text(encoding="utf-8").strip()
    if shutil.which("prometheus") is None:
        return "prometheus is not installed (make prometheus installs Debian's as root)"
    return None


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """A fresh Prometheus that has scraped itself at least once (its head holds current samples)."""
    reason = prometheus_missing()
    if reason is not None:
        pytest.skip(f"Prometheus is not available: {reason}")
    server = Prometheus(tmp_path)
    try:
        wait_for(server.ready, timeout=120, what="Prometheus to be ready")
        wait_for(lambda: server.query("up", datetime.now(timezone.utc)), timeout=60, what="a self-scrape")
        yield server
    finally:
        server.stop()


def cumulative_buckets(request: ExportMetricsServiceRequest, name: str) -> dict[tuple[str, float], int]:
    """``(transport, le) -> sessions at or below le`` of histogram ``name``, as Prometheus counts them."""
    found: dict[tuple[str, float], int] = {}
    for metric in request.resource_metrics[0].scope_metrics[0].metrics:
        if metric.name != name:
            continue
        for point in metric.histogram.data_points:
            transport = next(a.value.string_value for a in point.attributes if a.key == "voicemode.transport")
            total = 0
            for bound, count in zip([*point.explicit_bounds, float("inf")], point.bucket_counts, strict=True):
                total += count
                found[(transport, bound)] = total
    return found


def provider_counts(request: ExportMetricsServiceRequest) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for metric in request.resource_metrics[0].scope_metrics[0].metrics:
        if metric.name == contract.PROVIDERS:
            for point in metric.sum.data_points:
                attributes = {a.key: a.value.string_value for a in point.attributes}
                found[(attributes["voicemode.provider.role"], attributes["voicemode.provider.name"])] = (
                    point.as_int
                )
    return found


def test_a_week_of_reports_in_prometheus_equals_the_preview(prometheus: Prometheus, tmp_path: Path) -> None:
    """Seven daily reports via voicemode-prometheus.yaml: each le bucket in PromQL is what preview shows."""
    require(PROMETHEUS_BINARY)
    # 20:00 UTC yesterday, whatever the time now: which sessions of the seeded week fall into
    # each UTC day then never changes (ending the week "now", a day could be empty after midnight).
    end = floor_hour(datetime.now(timezone.utc)).replace(hour=20) - timedelta(days=1)
    start = end - timedelta(days=WEEK)
    paths = Paths(tmp_path / "voicemode")
    environ = {"VOICEMODE_BASE_DIR": str(paths.base)}
    preference.set_preference(paths, True, environ, now=start - timedelta(minutes=30))
    testing.sample_week(paths.conversations_dir, end, days=WEEK)

    shown = cli(paths.base, "preview", "--json")
    assert shown.returncode == 0, shown.stderr
    week = otlp_json.from_json(shown.stdout)
    assert leaks(week) == []

    collector_environ = {"PROMETHEUS_REMOTE_WRITE_ENDPOINT": f"{prometheus.base_url}/api/v1/write"}
    with LocalCollector([PROMETHEUS], collector_environ, binary=PROMETHEUS_BINARY) as collector:
        sending = {**environ, "VOICEMODE_TELEMETRY_ENDPOINT": collector.metrics_url}
        for day in range(1, WEEK + 1):
            moment = start + timedelta(days=day)
            result = delivery.run(
                delivery.RunConfig(
                    paths, environ=sending, clock=lambda m=moment: m, exec_source="cli", force=True
                )
            )
            assert result.outcome is delivery.Outcome.DELIVERED, result.message
        assert "Exporting failed" not in collector.log()

    for name, series in (
        (contract.DURATION, "voicemode_session_duration_seconds"),
        (contract.EXCHANGES, "voicemode_session_exchanges"),
    ):
        rows = prometheus.query(f"last_over_time({series}_bucket[{WEEK + 1}d])", end)
        seen = {
            (row["metric"]["voicemode_transport"], float(row["metric"]["le"])): int(float(row["value"][1]))
            for row in rows
        }
        assert seen == cumulative_buckets(week, name), series
        counts = prometheus.query(f"last_over_time({series}_count[{WEEK + 1}d])", end)
        assert {r["metric"]["voicemode_transport"]: int(float(r["value"][1])) for r in counts} == {
            transport: total for (transport, bound), total in seen.items() if bound == float("inf")
        }
    providers = prometheus.query(f"last_over_time(voicemode_session_providers_total[{WEEK + 1}d])", end)
    assert {
        (r["metric"]["voicemode_provider_role"], r["metric"]["voicemode_provider_name"]): int(
            float(r["value"][1])
        )
        for r in providers
    } == provider_counts(week)
    assert (
        prometheus.get(
            "/api/v1/series",
            **{
                "match[]": '{__name__=~"voicemode_.+_sum"}',
                "start": str((start - timedelta(days=1)).timestamp()),
            },
        )["data"]
        == []
    )
    days = prometheus.query(f"count_over_time(voicemode_session_exchanges_count[{WEEK + 1}d])", end)
    assert max(int(float(r["value"][1])) for r in days) == WEEK, "one sample per daily report"
    for promql in documented_queries():
        assert prometheus.query(promql, end), promql


def documented_queries() -> list[str]:
    """The example PromQL of collector-config/README.md (its ```promql block, comments left out)."""
    readme = (PROMETHEUS.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```promql\n", 1)[1].split("```", 1)[0]
    queries = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(queries) == 3
    return queries
