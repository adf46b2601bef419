"""Typical report bodies for the Worker benchmarks, made by the real Python pipeline.

One typical day (the 5 sessions of ``bench_bytes``: VoiceMode log lines written the way
VoiceMode writes them, read back by ``completed_sessions``) is built into an OTLP request
with ``voicemode_otel.report.build.build`` for a period ending at the current UTC hour, so it is
always inside the Worker's 90 days. Each body then gets its own telemetry ID — every
request is a new report, never an idempotent resend — and is gzip'd as the exporter sends
it (``compression=gzip`` is the sender's default).
"""

from __future__ import annotations

import gzip
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

from voicemode_otel import testing
from voicemode_otel.contract import Period, floor_hour
from voicemode_otel.logs import completed_sessions
from voicemode_otel.report import build as report

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
TEMPLATE_ID = "00000000-0000-4000-8000-000000000000"
RESOURCE = {
    "service.name": "voicemode",
    "voicemode.telemetry.id": TEMPLATE_ID,
    "service.version": "8.12.0",
    "os.type": "linux",
    "voicemode.install.method": "uv-tool",
    "voicemode.mcp.host": "claude-code",
    "voicemode.exec.source": "mcp",
}


def typical_period(now: datetime | None = None) -> Period:
    """The 24 hours before the current UTC hour."""
    end = floor_hour(now or datetime.now(timezone.utc))
    return Period(end - timedelta(hours=24), end)


def typical_protobuf(period: Period, telemetry_id: str = TEMPLATE_ID) -> bytes:
    """The uncompressed protobuf body of one typical day: 5 sessions, 60 rounds."""
    with TemporaryDirectory() as tmp:
        writer = testing.ConversationLogWriter(Path(tmp))
        day = period.start
        for hours, rounds in ((1, 8), (3, 18), (6, 12), (9, 15), (13, 7)):
            writer.session(
                (day + timedelta(hours=hours)).astimezone(testing.PACIFIC), rounds, round_seconds=45.0
            )
        sessions = completed_sessions(Path(tmp), period)
    assert len(sessions) == 5, sessions
    return report.build(sessions, period, {**RESOURCE, "voicemode.telemetry.id": telemetry_id}).body


def with_id(body: bytes, telemetry_id: str) -> bytes:
    """``body`` with its telemetry ID replaced (same length, so the protobuf stays valid)."""
    assert body.count(TEMPLATE_ID.encode()) == 1 and len(telemetry_id) == len(TEMPLATE_ID)
    return body.replace(TEMPLATE_ID.encode(), telemetry_id.encode())


def typical_bodies(count: int, period: Period | None = None) -> list[bytes]:
    """``count`` gzip'd typical reports, each with a fresh telemetry ID.

    The pipeline runs once; the others differ only in the 36-character ID string. A
    second pipeline run with a real ID checks that substitution gives the same bytes.
    """
    period = period or typical_period()
    template = typical_protobuf(period)
    check = str(uuid.uuid4())
    assert with_id(template, check) == typical_protobuf(period, check)
    return [gzip.compress(with_id(template, str(uuid.uuid4())), compresslevel=9) for _ in range(count)]
