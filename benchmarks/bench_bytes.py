"""Row 3: bytes on the wire for the same day of usage, ours vs the earlier JSON payload."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

from common import Row

from voicemode_otel import testing
from voicemode_otel.contract import Period, iso
from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import Session, completed_sessions
from voicemode_otel.report import build as report

EARLIER_JSON_BYTES, EARLIER_GZIP_BYTES = 573, 353  # measured by the earlier code for 5 sessions (facts §10)
MAX_GZIP_BYTES = 480  # a typical day's report on the wire; growing past it fails make bench
ID = "5b9f8a3c-1d2e-4f60-8a7b-9c0d1e2f3a4b"
RESOURCE = {
    "service.name": "voicemode",
    "voicemode.telemetry.id": ID,
    "service.version": "8.12.0",
    "os.type": "linux",
    "voicemode.install.method": "uv-tool",
    "voicemode.mcp.host": "claude-code",
    "voicemode.exec.source": "mcp",
}
PERIOD = Period(
    datetime(2026, 11, 24, 8, tzinfo=timezone.utc), datetime(2026, 11, 25, 8, tzinfo=timezone.utc)
)


def typical_day(directory: Path) -> list[Session]:
    """5 sessions, 60 speak-and-listen rounds: the day the earlier code was measured on."""
    writer = testing.ConversationLogWriter(directory)
    local = testing.PACIFIC
    starts = [(9, 5, 8), (11, 30, 18), (14, 0, 12), (16, 45, 15), (20, 10, 7)]
    for hour, minute, rounds in starts:
        writer.session(datetime(2026, 11, 24, hour, minute, tzinfo=local), rounds, round_seconds=45.0)
    return completed_sessions(directory, PERIOD)


def earlier_payload(sessions: list[Session]) -> bytes:
    """The earlier client's JSON (facts §3) for the same sessions, with its own counting rules."""
    spec = contract.load()
    duration, exchanges = spec.metric(contract.DURATION), spec.metric(contract.EXCHANGES)
    usage: dict[str, object] = {}
    durations: dict[str, int] = {}
    per_session: dict[str, int] = {}
    transports: dict[str, int] = {}
    providers: dict[str, dict[str, int]] = {"tts": {}, "stt": {}}
    total_exchanges = 0
    for session in sessions:
        lines = session.exchanges * 2  # it counted log lines, not rounds
        total_exchanges += lines
        durations[duration.bin_label(session.duration_seconds)] = (
            durations.get(duration.bin_label(session.duration_seconds), 0) + 1
        )
        per_session[exchanges.bin_label(lines)] = per_session.get(exchanges.bin_label(lines), 0) + 1
        transports[session.transport] = transports.get(session.transport, 0) + 1
        for role, names in (("tts", session.tts_providers), ("stt", session.stt_providers)):
            for name in names:
                providers[role][name] = providers[role].get(name, 0) + 1
    usage = {
        "total_sessions": len(sessions),
        "total_exchanges": total_exchanges,
        "duration_distribution": durations,
        "exchanges_per_session": per_session,
        "transport_usage": transports,
        "provider_usage": providers,
    }
    now = iso(PERIOD.end)
    payload = {
        "event_id": hashlib.sha256(f"{ID}:{now}".encode()).hexdigest()[:16],
        "telemetry_id": ID,
        "timestamp": now,
        "period_start": iso(PERIOD.start),
        "period_end": now,
        "environment": {
            "os": "Linux",
            "install_method": "uv",
            "mcp_host": "claude-code",
            "exec_source": "mcp",
            "version": "8.12.0",
        },
        "usage": usage,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def gz(data: bytes) -> int:
    """Size as the OTLP exporter compresses (gzip, level 9, with a header)."""
    return len(gzip.compress(data, compresslevel=9))


def run() -> list[Row]:
    with TemporaryDirectory() as tmp:
        sessions = typical_day(Path(tmp))
    ours = report.build(sessions, PERIOD, RESOURCE).body
    theirs = earlier_payload(sessions)
    rows = [
        Row(
            f"bytes on the wire, one typical day ({len(sessions)} sessions), gzip'd",
            f"{gz(ours)} B (OTLP protobuf)",
            f"cap {MAX_GZIP_BYTES} B",
            gz(ours) / MAX_GZIP_BYTES,
            f"≤ {MAX_GZIP_BYTES} B (fails make bench)",
            gz(ours) <= MAX_GZIP_BYTES,
            "the report exactly as the exporter sends it (gzip level 9); growing past the cap fails `make bench`",
            gate=True,
        ),
        Row(
            "  same day against the earlier client's JSON, gzip'd",
            f"{gz(ours)} B (OTLP protobuf)",
            f"{gz(theirs)} B (earlier JSON; it measured {EARLIER_GZIP_BYTES} B)",
            gz(ours) / gz(theirs),
            "(OTLP's framing, ~25 %: benchmarks/README.md)",
            None,
        ),
        Row(
            "bytes on the wire, same day, uncompressed",
            f"{len(ours)} B",
            f"{len(theirs)} B (it measured {EARLIER_JSON_BYTES} B)",
            len(ours) / len(theirs),
            "(for reference)",
            None,
        ),
    ]
    for key in RESOURCE:
        if key in contract.load().resource_required:
            continue
        without = {k: v for k, v in RESOURCE.items() if k != key}
        body = report.build(sessions, PERIOD, without).body
        rows.append(
            Row(
                f"  resource attribute `{key}` costs",
                f"{len(ours) - len(body)} B raw, {gz(ours) - gz(body)} B gzip'd",
                "",
                None,
                "justified in benchmarks/README.md",
                None,
            )
        )
    return rows
