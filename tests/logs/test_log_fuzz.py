"""Fuzzing the log reader with arbitrary bytes through its public entry points: it never raises (issue 13)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from voicemode_otel import testing
from voicemode_otel.contract import Period
from voicemode_otel.logs import ReadStats, SessionReader, completed_sessions
from voicemode_otel.logs import files as log_files
from voicemode_otel.operations import preference, preview_text
from voicemode_otel.operations import preview as next_report
from voicemode_otel.store import Paths

UTC = timezone.utc
NOW = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
DAY = Period(datetime(2026, 11, 24, 16, tzinfo=UTC), datetime(2026, 11, 25, 16, tzinfo=UTC))
_GOOD = [
    testing.voicemode_line(
        f"conv_{n % 3}", kind, NOW - timedelta(hours=20, seconds=-40 * n), provider=testing.KOKORO
    ).encode()
    for n, kind in enumerate(["tts", "stt", "tts", "stt", "tts"])
]


@st.composite
def _mutated(data: st.DrawFn) -> bytes:
    """A VoiceMode line with bytes flipped, cut, or spliced: the shapes real damage takes."""
    line = data(st.sampled_from(_GOOD))
    cut = data(st.integers(0, len(line)))
    how = data(st.sampled_from(["flip", "cut", "splice", "insert"]))
    if how == "flip":
        at = data(st.integers(0, len(line) - 1))
        return line[:at] + bytes([line[at] ^ data(st.integers(1, 255))]) + line[at + 1 :]
    if how == "cut":
        return line[:cut]
    if how == "splice":
        return line[:cut] + data(st.sampled_from(_GOOD))
    return line[:cut] + data(st.binary(max_size=40)) + line[cut:]


def _record(fields: bytes) -> bytes:
    return b"{" + fields + b', "type": "tts"}'


_lines = st.lists(
    st.one_of(
        st.binary(max_size=200),
        st.sampled_from(_GOOD),
        _mutated(),
        st.sampled_from(
            [
                b"[" * 100_000,  # deeper than any recursion limit
                _record(b'"version": 4, "timestamp": "9999-12-31T23:59:59-14:00", "conversation_id": "x"'),
                _record(b'"version": 4, "timestamp": "0001-01-01T00:00:00", "conversation_id": "x"'),
                _record(b'"timestamp": "2026-11-25T00:00:00+00:00", "conversation_id": "\\ud800"'),
                _record(b'"timestamp": "2026-11-25T00:00:00+00:00", "conversation_id": "y", "x": NaN'),
                _record(b'"version": 1e999, "timestamp": "2026-11-25T00:00:00Z", "conversation_id": "z"'),
                b"\xef\xbb\xbf" + _GOOD[0],
                b"\r\n\r\r\n",
            ]
        ),
    ),
    max_size=12,
)
_separators = st.sampled_from([b"\n", b"\r\n", b"\r"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines, separator=_separators)
@example(lines=[b"[" * 100_000], separator=b"\n")  # json.loads raised RecursionError here before
def test_completed_sessions_never_raises(lines: list[bytes], separator: bytes) -> None:
    """Any bytes in the logs: the readers return sessions and counts, and never raise."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "exchanges_2026-11-24.jsonl").write_bytes(separator.join(lines))
        (directory / "exchanges_2026-11-25.jsonl").write_bytes(separator.join(reversed(lines)))
        stats = ReadStats()
        found = completed_sessions(directory, DAY, stats)
        assert stats.lines >= len(found)
        assert sum(stats.schema_versions.values()) <= stats.lines
        reader = SessionReader(directory)
        first = reader.completed_in(Period(DAY.start - timedelta(days=1), DAY.start))
        second = reader.completed_in(DAY)
        assert second == found  # the streamed second period equals reading it alone
        assert not set(first) & set(second)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines, separator=_separators)
def test_preview_never_raises(lines: list[bytes], separator: bytes) -> None:
    """``preview`` over any bytes builds a report (or says there is none) without raising."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = Paths(Path(tmp))
        environ = {"VOICEMODE_BASE_DIR": tmp}
        preference.set_preference(paths, True, environ, now=NOW - timedelta(days=2))
        paths.conversations_dir.mkdir(parents=True)
        (paths.conversations_dir / "exchanges_2026-11-25.jsonl").write_bytes(separator.join(lines))
        preview = next_report.build(paths, environ, NOW)
        assert preview.session_count == sum(
            p.count
            for m in preview.request.resource_metrics[:1]
            for s in m.scope_metrics
            for x in s.metrics
            if x.HasField("histogram") and x.name.endswith("duration")
            for p in x.histogram.data_points
        )
        preview_text.render_summary(preview)


def test_deeply_nested_json_is_a_corrupt_line(tmp_path: Path) -> None:
    """100,000 nested brackets: counted as corrupt (the earlier reader let json.loads' RecursionError out)."""
    (tmp_path / "exchanges_2026-11-24.jsonl").write_bytes(b"[" * 100_000 + b"\n" + _GOOD[0] + b"\n")
    stats = ReadStats()
    assert len(completed_sessions(tmp_path, DAY, stats)) == 1
    assert (stats.lines, stats.corrupt) == (2, 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_lines, separator=_separators, block=st.integers(min_value=32, max_value=700))
def test_block_boundaries_do_not_change_what_is_read(
    lines: list[bytes], separator: bytes, block: int
) -> None:
    """Reading in blocks of any size (lines split across blocks) finds the same sessions and counts."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "exchanges_2026-11-25.jsonl").write_bytes(separator.join(lines))
        whole = ReadStats()
        expected = completed_sessions(directory, DAY, whole)
        original = log_files._BLOCK_BYTES
        log_files._BLOCK_BYTES = block
        try:
            pieces = ReadStats()
            assert completed_sessions(directory, DAY, pieces) == expected
        finally:
            log_files._BLOCK_BYTES = original
        assert pieces == whole
