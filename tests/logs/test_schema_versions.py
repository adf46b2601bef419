"""VoiceMode 9's log changes: schema versions counted (and shown), survey mode as its own transport."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from voicemode_otel import testing
from voicemode_otel.contract import Period
from voicemode_otel.logs import ReadStats, completed_sessions
from voicemode_otel.operations import preference, preview_text
from voicemode_otel.operations import preview as next_report
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths

UTC = timezone.utc
SYDNEY_SUMMER = timezone(timedelta(hours=11))
WIDE = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
V4_TTS_FIELDS = {"voice_requested": "blackadder", "voice_resolved": "af_sky", "voice_via": "cast-default:x"}


def _write(writer: testing.ConversationLogWriter, line: str, at: datetime) -> None:
    writer.write(line, at)


MIXED = {"3": 4, "4": 2, "5": 2, "other": 3, "missing": 1}


def _mixed_logs(paths: Paths, start: datetime = datetime(2026, 11, 10, 9, tzinfo=SYDNEY_SUMMER)) -> None:
    """One conversation per schema shape: v3, v4 (VoiceMode 9), a future v5, and odd versions."""
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    writer.session(start, 2)  # v3: 4 lines

    at = start + timedelta(hours=1)
    cid = "conv_20261110_100000_v4v4v4"
    for offset, kind in ((0, "tts"), (8, "stt")):
        moment = at + timedelta(seconds=offset)
        extra = V4_TTS_FIELDS if kind == "tts" else None
        provider = testing.KOKORO if kind == "tts" else testing.WHISPER_LOCAL
        line = testing.voicemode_line(cid, kind, moment, provider=provider, version=4, extra_metadata=extra)
        _write(writer, line, moment)

    # A future version with fields nobody knows yet, in VoiceMode's exact shape (the
    # reader's fast path) and reordered (its full JSON parse): neither may be dropped.
    at = start + timedelta(hours=2)
    cid = "conv_20261110_110000_future"
    future = testing.voicemode_line(
        cid, "tts", at, provider=testing.KOKORO, version=5, extra_metadata={"prosody": {"rate": 1.1}}
    )
    _write(writer, future, at)
    reordered = json.loads(
        testing.voicemode_line(
            cid, "stt", at + timedelta(seconds=9), provider=testing.WHISPER_LOCAL, version=5
        )
    )
    reordered = {"metadata": reordered.pop("metadata"), "mood": "curious", **reordered}
    _write(writer, json.dumps(reordered), at)

    odd = start + timedelta(hours=3)
    for index, version in enumerate(['"4"', "true", "4.0", None]):
        moment = odd + timedelta(seconds=10 * index)
        line = json.loads(testing.voicemode_line("conv_20261110_120000_oddodd", "tts", moment))
        if version is None:
            del line["version"]
        else:
            line["version"] = json.loads(version)
        _write(writer, json.dumps(line), moment)
    _write(writer, "{not json", odd)
    _write(writer, "[4]", odd)


def test_records_are_counted_by_schema_version_and_none_is_dropped(paths: Paths) -> None:
    """v3, v4 and an unknown v5 are all read; odd versions count as "other"/"missing"; junk is no record."""
    _mixed_logs(paths)
    stats = ReadStats()
    found = completed_sessions(paths.conversations_dir, WIDE, stats)
    assert stats.schema_versions == MIXED
    assert stats.corrupt == 2  # "{not json" and "[4]": not records, so not in schema_versions
    by_id = {s.conversation_id: s for s in found}
    assert by_id["conv_20261110_110000_future"].exchanges == 1
    assert by_id["conv_20261110_110000_future"].tts_providers == {"kokoro"}
    assert by_id["conv_20261110_110000_future"].stt_providers == {"whisper-local"}
    assert by_id["conv_20261110_100000_v4v4v4"].exchanges == 1
    assert by_id["conv_20261110_120000_oddodd"].exchanges == 4


def test_late_lines_are_counted_too(tmp_path: Path) -> None:
    """Every record read is counted, also those after the period (which wait for a later report)."""
    writer = testing.ConversationLogWriter(tmp_path / "conversations")
    start = datetime(2026, 11, 10, 9, tzinfo=UTC)
    writer.session(start, 3)
    stats = ReadStats()
    early = Period(datetime(2026, 11, 9, tzinfo=UTC), start)
    assert completed_sessions(writer.conversations_dir, early, stats) == []
    assert stats.schema_versions == {"3": 6}


def test_preview_shows_the_counts_and_names_an_unknown_version(paths: Paths, env: dict[str, str]) -> None:
    """The human summary lists records per version and says a newer one was read, not ignored."""
    _mixed_logs(paths)
    built = next_report.build(paths, env, now=datetime(2026, 11, 10, 12, tzinfo=UTC))
    assert built.read_stats.schema_versions == MIXED
    text = preview_text.render_summary(built)
    assert "Log records read, by schema version: v3 4, v4 2, v5 2, missing 1, other 3\n" in text
    assert "(v5, other: newer or unlike the v4 logs this package was tested with;" in " ".join(text.split())


def test_preview_of_known_versions_adds_no_note(paths: Paths, env: dict[str, str]) -> None:
    testing.ConversationLogWriter(paths.conversations_dir).session(datetime(2026, 11, 10, 9, tzinfo=UTC), 2)
    built = next_report.build(paths, env, now=datetime(2026, 11, 10, 12, tzinfo=UTC))
    text = preview_text.render_summary(built)
    assert "Log records read, by schema version: v3 4\n" in text
    assert "newer or unlike" not in text


def test_mcp_preview_returns_the_counts(paths: Paths) -> None:
    """telemetry_preview's structured result carries the counts, and its text shows them."""
    from fastmcp import Client, FastMCP

    from voicemode_otel.mcp_tools import register

    # The tool previews the last 24 hours of the real clock (no consent): logs from 3 hours ago.
    _mixed_logs(paths, (datetime.now(UTC) - timedelta(hours=4)).astimezone(SYDNEY_SUMMER))
    host = FastMCP("voicemode")
    register(host, base_dir=paths.base)

    async def call() -> dict[str, object]:
        async with Client(host) as client:
            result = await client.call_tool("telemetry_preview", {})
            assert result.structured_content is not None
            return result.structured_content

    result = asyncio.run(call())
    assert result["schema_versions"] == MIXED
    assert "v3 4, v4 2, v5 2, missing 1, other 3" in str(result["text"])


def test_survey_transport_is_its_own_value_on_the_wire(paths: Paths, env: dict[str, str]) -> None:
    """VoiceMode's survey mode (transport "survey" on its stt lines) is reported as survey, not unknown."""
    environ = env
    now = datetime(2026, 11, 11, 12, 5, tzinfo=UTC)
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=30))
    start = datetime(2026, 11, 11, 9, tzinfo=SYDNEY_SUMMER)
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    cid = "conv_20261111_090000_survey"
    for index in range(3):  # survey turns: tts without transport, then the answer logged as "survey"
        asked = start + timedelta(seconds=30 * index)
        writer.write(
            testing.voicemode_line(cid, "tts", asked, provider=testing.KOKORO, transport=None), asked
        )
        heard = asked + timedelta(seconds=12)
        writer.write(
            testing.voicemode_line(cid, "stt", heard, provider=testing.WHISPER_LOCAL, transport="survey"),
            heard,
        )
    [session] = completed_sessions(paths.conversations_dir, WIDE)
    assert session.transport == "survey"
    built = next_report.build(paths, environ, now=now)
    body = otlp_json.to_dict(built.request)
    transports = {
        attribute["value"]["stringValue"]
        for metric in body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        if "histogram" in metric
        for point in metric["histogram"]["dataPoints"]
        for attribute in point["attributes"]
    }
    assert transports == {"survey"}
