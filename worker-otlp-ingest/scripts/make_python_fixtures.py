#!/usr/bin/env python3
"""Request bodies made by the real Python pipeline, for the Worker's tests.

Builds a few known reports from explicit session lists with voicemode_otel's own
``report.build`` (sessions → OTel SDK → privacy filter → official OTLP encoder) and
writes, per report, one body per wire format — each with its own fresh telemetry ID
so the three can be stored side by side:

  <name>.pb      the protobuf body (``ExportMetricsServiceRequest.SerializeToString``)
  <name>.pb.gz   what the official OTLP/HTTP exporter (gzip) actually put on the wire,
                 captured by a throwaway HTTP server on 127.0.0.1
  <name>.json    OTLP/JSON (``voicemode_otel.report.otlp_json.to_json``)

``manifest.json`` lists each body with its headers and the rows the Worker must store,
computed here independently of the pipeline: bins by a plain walk over the contract's
upper-inclusive boundaries, provider counts as distinct providers per session.
Periods are relative to now, so the fixtures never age past the Worker's 90 days.

Run with the repository's virtualenv (the Worker's test setup does this):
    ../.venv/bin/python scripts/make_python_fixtures.py test/fixtures/generated/python
"""

from __future__ import annotations

import gzip
import http.server
import json
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import MetricExportResult

from voicemode_otel.contract import Period
from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import SESSION_GAP, Session
from voicemode_otel.report import build as report
from voicemode_otel.report import otlp_json

HOUR = timedelta(hours=1)

# Which installations column holds which resource attribute (the Worker's src/db/rows.ts).
INSTALLATION_COLUMNS = {
    "service.version": "service_version",
    "os.type": "os_type",
    "voicemode.install.method": "install_method",
    "voicemode.mcp.host": "mcp_host",
    "voicemode.exec.source": "exec_source",
}


def now_hour() -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def session(
    name: str,
    period: Period,
    *,
    seconds: float,
    exchanges: int,
    transport: str = "local",
    tts: Sequence[str] = ("kokoro",),
    stt: Sequence[str] = ("whisper-local",),
) -> Session:
    """A session completing (last line + 5 min) one hour before the period ends."""
    last = period.end - HOUR - SESSION_GAP
    first = last - timedelta(seconds=seconds)
    return Session(name, first, last, exchanges, transport, frozenset(tts), frozenset(stt))


def reports() -> list[tuple[str, Period, list[Session], dict[str, str]]]:
    """The known reports: (name, period, sessions, optional resource facts)."""
    end = now_hour()
    day = Period(end - 24 * HOUR, end)
    week = Period(end - 30 * 24 * HOUR - 7 * 24 * HOUR, end - 30 * 24 * HOUR)
    hour = Period(end - 2 * HOUR, end - HOUR)
    full = {
        "service.version": "8.12.0",
        "os.type": "darwin",
        "voicemode.install.method": "uv-tool",
        "voicemode.mcp.host": "claude-code",
        "voicemode.exec.source": "mcp",
    }
    typical = [
        session("conv_a", day, seconds=30, exchanges=2),
        session("conv_b", day, seconds=240, exchanges=4, tts=("kokoro", "openai")),
        session("conv_c", day, seconds=420, exchanges=9, stt=("openai-whisper",)),
        session(
            "conv_d", day, seconds=900, exchanges=15, transport="livekit", tts=("openai",), stt=("openai",)
        ),
        session("conv_e", day, seconds=5400, exchanges=40, tts=(), stt=("mlx-audio",)),
    ]
    # Every boundary of both histograms, at the boundary and one above it.
    edges = [
        session("conv_60", week, seconds=60, exchanges=0, tts=(), stt=()),
        session("conv_61", week, seconds=61, exchanges=1, tts=("other",), stt=("other",)),
        session("conv_300", week, seconds=300, exchanges=5, transport="unknown"),
        session("conv_301", week, seconds=301, exchanges=6),
        session("conv_600", week, seconds=600, exchanges=10, tts=("no-op",), stt=("local",)),
        session("conv_601", week, seconds=601, exchanges=11),
        session("conv_1200", week, seconds=1200, exchanges=20, transport="livekit"),
        session("conv_1201", week, seconds=1201, exchanges=21, transport="livekit"),
        session("conv_3600", week, seconds=3600, exchanges=21, tts=("unknown",), stt=("unknown",)),
        session("conv_3601", week, seconds=3601, exchanges=100),
    ]
    single = [session("conv_one", hour, seconds=0, exchanges=1, tts=("kokoro",), stt=())]
    return [
        ("typical-day", day, typical, full),
        ("boundaries-week", week, edges, {"os.type": "linux", "voicemode.install.method": "pipx"}),
        ("single-session-minimal-resource", hour, single, {}),
    ]


def bin_label(metric: contract.MetricSpec, value: float) -> str:
    """Upper-inclusive buckets by a plain walk: value <= boundary closes that bucket."""
    for boundary, label in zip(metric.boundaries, metric.bins, strict=False):
        if value <= boundary:
            return label
    return metric.bins[-1]


def expected_cells(sessions: Sequence[Session]) -> list[dict[str, Any]]:
    spec = contract.load()
    duration = spec.metric(contract.DURATION)
    exchanges = spec.metric(contract.EXCHANGES)
    bins: Counter[tuple[str, str, str]] = Counter()
    providers: Counter[tuple[str, str]] = Counter()
    for s in sessions:
        bins[(duration.name, s.transport, bin_label(duration, s.duration_seconds))] += 1
        bins[(exchanges.name, s.transport, bin_label(exchanges, s.exchanges))] += 1
        for role, names in (("tts", s.tts_providers), ("stt", s.stt_providers)):
            for name in names:
                providers[(role, name)] += 1
    cells: list[dict[str, Any]] = [
        {"metric": m, "transport": t, "bin": b, "sessions": n} for (m, t, b), n in bins.items()
    ]
    cells += [
        {"metric": contract.PROVIDERS, "role": r, "provider": p, "sessions": n}
        for (r, p), n in providers.items()
    ]
    return cells


def resource_for(telemetry_id: str, facts: Mapping[str, str]) -> dict[str, str]:
    return {"service.name": "voicemode", "voicemode.telemetry.id": telemetry_id, **facts}


class _Capture(http.server.BaseHTTPRequestHandler):
    """Records one POST (headers and raw body) and answers like the Worker: 200, empty."""

    captured: ClassVar[dict[str, Any]] = {}

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        _Capture.captured = {
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": self.rfile.read(length),
        }
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def exporter_wire_body(
    sessions: Sequence[Session], period: Period, resource: Mapping[str, str]
) -> tuple[bytes, dict[str, str]]:
    """What OTLPMetricExporter(compression=gzip) sends for this report, byte for byte."""
    metrics = report.build(sessions, period, resource).metrics
    server = http.server.HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        exporter = OTLPMetricExporter(
            endpoint=f"http://127.0.0.1:{server.server_port}/v1/metrics",
            compression=Compression.Gzip,
            timeout=10,
        )
        result = exporter.export(metrics)
        exporter.shutdown()
    finally:
        thread.join(timeout=10)
        server.server_close()
    if result is not MetricExportResult.SUCCESS:
        raise RuntimeError("the exporter did not deliver to the capture server")
    return _Capture.captured["body"], _Capture.captured["headers"]


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        old.unlink()
    manifest: list[dict[str, Any]] = []
    for name, period, sessions, facts in reports():
        for wire in ("protobuf", "gzip", "json"):
            telemetry_id = str(uuid.uuid4())
            resource = resource_for(telemetry_id, facts)
            request = report.build_request(sessions, period, resource)
            headers = {"Content-Type": "application/x-protobuf"}
            if wire == "protobuf":
                file, body = f"{name}.pb", request.SerializeToString()
            elif wire == "json":
                file, body = f"{name}.json", otlp_json.to_json(request).encode()
                headers = {"Content-Type": "application/json"}
            else:
                body, sent = exporter_wire_body(sessions, period, resource)
                if gzip.decompress(body) != request.SerializeToString():
                    raise RuntimeError("the exporter sent something other than build_request's bytes")
                file = f"{name}.pb.gz"
                headers = {"Content-Type": sent["content-type"], "Content-Encoding": sent["content-encoding"]}
            (out_dir / file).write_bytes(body)
            manifest.append(
                {
                    "name": name,
                    "wire": wire,
                    "file": file,
                    "headers": headers,
                    "points": sum(
                        len(m.histogram.data_points) + len(m.sum.data_points)
                        for rm in request.resource_metrics
                        for sm in rm.scope_metrics
                        for m in sm.metrics
                    ),
                    "expected": {
                        "report": {
                            "telemetry_id": telemetry_id,
                            "period_start": int(period.start.timestamp()),
                            "period_end": int(period.end.timestamp()),
                        },
                        "installation": {
                            "telemetry_id": telemetry_id,
                            **{column: facts.get(key) for key, column in INSTALLATION_COLUMNS.items()},
                        },
                        "cells": expected_cells(sessions),
                    },
                }
            )
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(manifest)} Python pipeline bodies to {out_dir}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} OUT_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
