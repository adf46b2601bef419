"""Small builders shared by tests (sessions, periods, resource attributes)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from voicemode_otel.periods import Period
from voicemode_otel.sessions import Session

TEST_ID = "6f2b0c7e-3d4a-4e5f-9a1b-2c3d4e5f6a7b"
RESOURCE = {
    "service.name": "voicemode",
    "voicemode.telemetry.id": TEST_ID,
    "service.version": "8.12.0",
    "os.type": "linux",
    "voicemode.install.method": "uv-tool",
    "voicemode.mcp.host": "claude-code",
    "voicemode.exec.source": "mcp",
}
DAY = Period(datetime(2026, 11, 24, 16, tzinfo=timezone.utc), datetime(2026, 11, 25, 16, tzinfo=timezone.utc))


def session(
    duration: float = 120.0,
    exchanges: int = 3,
    *,
    transport: str = "local",
    tts: frozenset[str] = frozenset({"kokoro"}),
    stt: frozenset[str] = frozenset({"whisper-local"}),
    last: datetime | None = None,
    name: str = "conv_1",
) -> Session:
    """A session that completes inside :data:`DAY` unless ``last`` says otherwise."""
    end = last or DAY.start + timedelta(hours=2)
    return Session(name, end - timedelta(seconds=duration), end, exchanges, transport, tts, stt)
