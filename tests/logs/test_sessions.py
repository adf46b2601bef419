"""Sessions from VoiceMode's logs: grouping, exchanges, providers, time zones, bad lines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from differential import checked_sessions as completed_sessions
from hypothesis import example, given, settings
from hypothesis import strategies as st

from voicemode_otel import testing
from voicemode_otel.contract import Period
from voicemode_otel.logs import ReadStats, normalize
from voicemode_otel.logs import records as log_records

UTC = timezone.utc
TOKYO = timezone(timedelta(hours=9))
PACIFIC = testing.PACIFIC
WIDE = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def _logs(tmp_path: Path) -> testing.ConversationLogWriter:
    return testing.ConversationLogWriter(tmp_path / "conversations")


def test_writer_and_reader_agree_on_a_week(tmp_path: Path) -> None:
    """Every session the VoiceMode-style writer produced is found, exactly as expected."""
    end = datetime(2026, 11, 25, 16, tzinfo=UTC)
    expected = testing.sample_week(tmp_path / "conversations", end)
    found = completed_sessions(tmp_path / "conversations", Period(end - timedelta(days=8), end))
    assert sorted(found, key=lambda s: s.conversation_id) == sorted(expected, key=lambda s: s.conversation_id)
    assert any(s.first.astimezone(PACIFIC).date() != s.last.astimezone(PACIFIC).date() for s in found)


def test_tts_answered_by_stt_is_one_exchange(tmp_path: Path) -> None:
    """A speak-and-listen round counts once; a lone tts or stt counts once."""
    writer = _logs(tmp_path)
    start = datetime(2026, 11, 10, 9, tzinfo=PACIFIC)
    cid = "conv_20261110_090000_abcdef"
    kinds = ["tts", "stt", "tts", "stt", "stt", "tts", "tts", "stt"]  # 2 rounds, lone stt, lone tts, 1 round
    for index, kind in enumerate(kinds):
        at = start + timedelta(seconds=20 * index)
        writer.write(testing.voicemode_line(cid, kind, at, provider=testing.KOKORO), at)
    [found] = completed_sessions(writer.conversations_dir, WIDE)
    assert found.exchanges == 5
    assert found.duration_seconds == 20 * (len(kinds) - 1)


def test_session_spanning_midnight_and_files_counted_once(tmp_path: Path) -> None:
    """A session across local midnight (two files) is one session with its full duration."""
    writer = _logs(tmp_path)
    expected = writer.session(datetime(2026, 11, 10, 23, 55, tzinfo=TOKYO), 10, round_seconds=60)
    assert len(list(writer.conversations_dir.iterdir())) == 2
    assert completed_sessions(writer.conversations_dir, WIDE) == [expected]


def test_lines_are_placed_by_their_own_timestamps(tmp_path: Path) -> None:
    """UTC+9 and UTC-8 timestamps convert to UTC; a file's name does not decide the period."""
    writer = _logs(tmp_path)
    tokyo = writer.session(datetime(2026, 11, 11, 8, 0, tzinfo=TOKYO), 2)  # 2026-11-10 23:00 UTC
    pacific = writer.session(datetime(2026, 11, 10, 16, 30, tzinfo=PACIFIC), 2)  # 2026-11-11 00:30 UTC
    day = Period(datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
    assert completed_sessions(writer.conversations_dir, day) == [tokyo]
    next_day = Period(day.end, day.end + timedelta(days=1))
    assert completed_sessions(writer.conversations_dir, next_day) == [pacific]


def test_gap_of_five_minutes_splits_even_within_one_conversation_id(tmp_path: Path) -> None:
    """A reused ID after a 5-minute silence is a new session (VoiceMode's rule, enforced here too)."""
    writer = _logs(tmp_path)
    cid = "conv_20261110_100000_zzzzzz"
    start = datetime(2026, 11, 10, 10, tzinfo=UTC)
    for at in (start, start + timedelta(minutes=4, seconds=59), start + timedelta(minutes=10)):
        writer.write(testing.voicemode_line(cid, "tts", at), at)
    found = completed_sessions(writer.conversations_dir, WIDE)
    assert [s.exchanges for s in found] == [2, 1]


def test_bad_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    """Corrupt JSON, unknown types and missing fields are counted, never fatal."""
    writer = _logs(tmp_path)
    good = writer.session(datetime(2026, 11, 10, 10, tzinfo=UTC), 1)
    path = next(writer.conversations_dir.iterdir())
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"version": 3, "timestamp": "2026-11-10T10:01:00+00:00", "conversation_id": "x", "ty\n')
        handle.write("not json at all\n")
        handle.write("[1, 2, 3]\n")
        handle.write(
            json.dumps({"version": 3, "timestamp": "2026-11-10T10:00:30+00:00", "type": "tts"}) + "\n"
        )
        handle.write(json.dumps({"conversation_id": "c", "timestamp": "yesterday", "type": "tts"}) + "\n")
        handle.write(
            json.dumps({"conversation_id": "c", "timestamp": "2026-11-10T10:00:40+00:00", "type": "event"})
            + "\n"
        )
        handle.write("\n")
    stats = ReadStats()
    assert completed_sessions(writer.conversations_dir, WIDE, stats) == [good]
    assert (stats.corrupt, stats.missing_fields, stats.unknown_type) == (3, 2, 1)


def test_two_records_run_together_are_not_misread(tmp_path: Path) -> None:
    """A line holding a truncated record followed by a whole one is rejected, not half-trusted."""
    writer = _logs(tmp_path)
    at = datetime(2026, 11, 10, 10, tzinfo=UTC)
    first = testing.voicemode_line("conv_a", "tts", at)
    second = testing.voicemode_line("conv_b", "stt", at, provider=testing.OPENAI_STT)
    writer.write(first[:120] + second, at)
    stats = ReadStats()
    assert completed_sessions(writer.conversations_dir, WIDE, stats) == []
    assert (stats.lines, stats.corrupt) == (1, 1)


@pytest.mark.parametrize(
    ("provider", "url", "expected"),
    [
        ("kokoro", "http://127.0.0.1:8880/v1", "kokoro"),
        ("openai", "http://localhost:8880/v1", "kokoro"),
        ("whisper", "http://127.0.0.1:2022/v1", "whisper-local"),
        ("openai", "https://api.openai.com/v1", "openai"),
        ("openai", None, "openai"),
        ("openai", "http://gpu-box.lan:9000/v1", "other"),
        ("kokoro", "http://10.0.0.5:8881/v1", "kokoro"),
        (None, "https://example.com/2022/tts", "other"),
        ("mlx_audio", None, "mlx-audio"),
        ("no-op", None, "no-op"),
        ("local", None, "local"),
        ("Some Custom TTS", None, "other"),
        (None, None, "unknown"),
        ("", "", "unknown"),
        ("unknown", None, "unknown"),
        (42, None, "other"),
    ],
)
def test_provider_names_are_closed(provider: object, url: object, expected: str) -> None:
    """Raw names and URLs become one of the contract's names; nothing passes through raw."""
    assert normalize.provider_name(provider, url) == expected


_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    text=_texts,
    kind=st.sampled_from(["tts", "stt", "event"]),
    provider=st.sampled_from([None, "kokoro", "openai", "whisper"]),
    url=st.sampled_from([None, "http://127.0.0.1:8880/v1", 'http://x/"metadata": {']) | _texts,
    transport=st.sampled_from([None, "local", "livekit", "carrier-pigeon", 7]),
    extra=st.dictionaries(
        st.sampled_from(["error", "emotion", "voice_requested", "voice_resolved", "voice_via"]),
        _texts,
        max_size=3,
    ),
    version=st.sampled_from([3, 4, 5]),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_msgspec_decode_reads_what_json_loads_reads(
    text: str,
    kind: str,
    provider: str | None,
    url: str | None,
    transport: object,
    extra: dict[str, str],
    version: int,
    micros: int,
) -> None:
    """The typed msgspec decode yields exactly the full json.loads decode's values, or defers to it."""
    at = datetime(2026, 11, 10, 10, 0, 0, micros, tzinfo=PACIFIC)
    raw = testing.voicemode_line(
        "conv_x",
        kind,
        at,
        provider=(provider, url),
        transport=transport,  # type: ignore[arg-type]
        text=text,
        version=version,
        extra_metadata=extra,
    ).encode()
    found = log_records.LineCounts()
    full = log_records.full_decode(raw + b"\n", found)
    assert full is not None
    assert found.version == str(version)
    assert full == (at.timestamp(), "conv_x", kind, provider, url, transport)
    if not isinstance(transport, (str, type(None))):
        with pytest.raises(log_records.REFUSED):
            log_records.decode(raw)
        return
    record = log_records.decode(raw + b"\n")
    meta = record.metadata or log_records.Metadata()
    fast = (record.timestamp.timestamp(), record.conversation_id, record.type)
    assert (*fast, meta.provider, meta.provider_url, meta.transport) == full
    assert record.version == version


@pytest.mark.parametrize(
    ("version_field", "key"),
    [
        ('"version": 3, ', "3"),
        ('"version": 4, ', "4"),
        ('"version": 17, ', "17"),
        ("", "missing"),
        ('"version": "4", ', "other"),
        ('"version": 4.0, ', "other"),
        ('"version": true, ', "other"),
        ('"version": null, ', "other"),
    ],
)
def test_lines_are_counted_by_schema_version(tmp_path: Path, version_field: str, key: str) -> None:
    """Every record is counted under its schema version; an odd or absent version is still read."""
    writer = _logs(tmp_path)
    at = datetime(2026, 11, 10, 10, tzinfo=UTC)
    line = testing.voicemode_line("conv_v", "tts", at, provider=testing.KOKORO)
    line = line.replace('"version": 3, ', version_field)
    writer.write(line, at)
    writer.write(testing.voicemode_line("conv_v", "stt", at + timedelta(seconds=5), version=4), at)
    writer.write("not json", at)
    stats = ReadStats()
    [found] = completed_sessions(writer.conversations_dir, WIDE, stats)
    assert found.exchanges == 1
    assert stats.schema_versions == ({"4": 2} if key == "4" else {key: 1, "4": 1})
    assert stats.corrupt == 1


@settings(max_examples=60, deadline=None)
@example(versions=[version for version in range(40) for _ in range(3)])  # past the bound, in runs
@given(versions=st.lists(st.integers(min_value=0, max_value=45), min_size=1, max_size=120))
def test_schema_versions_are_counted_exactly_and_bounded(versions: list[int]) -> None:
    """Runs of one version, changes, and more distinct versions than are named: every line counted once.

    The first 32 distinct versions seen are named; lines of any later one count as "other".
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        writer = _logs(Path(tmp))
        start = datetime(2026, 11, 10, 10, tzinfo=UTC)
        for index, version in enumerate(versions):
            at = start + timedelta(seconds=index)
            writer.write(testing.voicemode_line("conv_n", "tts", at, version=version), at)
        stats = ReadStats()
        completed_sessions(writer.conversations_dir, WIDE, stats)
    named = list(dict.fromkeys(versions))[:32]
    expected: dict[str, int] = {}
    for version in versions:
        key = str(version) if version in named else "other"
        expected[key] = expected.get(key, 0) + 1
    assert stats.schema_versions == expected
    assert stats.lines == len(versions)


def test_voicemode_9_and_a_future_schema_keep_parsing(tmp_path: Path) -> None:
    """Version 4's new tts keys and a version 5 with unknown fields everywhere are read, and counted."""
    writer = _logs(tmp_path)
    start = datetime(2026, 11, 10, 10, tzinfo=UTC)
    voices = {"voice_requested": "af_sky", "voice_resolved": "af_sky", "voice_via": "kokoro"}
    for index, version in enumerate([3, 4, 4, 5]):
        at = start + timedelta(seconds=30 * index)
        line = json.loads(testing.voicemode_line("conv_9", "tts", at, version=version, extra_metadata=voices))
        if version == 5:
            line["emotion"] = {"valence": 0.4}
            line["metadata"]["latency"] = [1, 2, 3]
        writer.write(json.dumps(line), at)
    stats = ReadStats()
    [found] = completed_sessions(writer.conversations_dir, WIDE, stats)
    assert found.exchanges == 4
    assert stats.schema_versions == {"3": 1, "4": 2, "5": 1}
    assert stats.skipped() == 0


def test_session_longer_than_the_read_margin_is_read_back_to_its_start(tmp_path: Path) -> None:
    """A session of more than two days is found whole even though its first files lie outside the margin."""
    writer = _logs(tmp_path)
    expected = writer.session(datetime(2026, 11, 7, 9, tzinfo=PACIFIC), 1100, round_seconds=170)
    assert expected.duration_seconds > 2 * 86400
    end = expected.completed_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    stats = ReadStats()
    assert completed_sessions(writer.conversations_dir, Period(end - timedelta(hours=1), end), stats) == [
        expected
    ]
    assert stats.files == len(list(writer.conversations_dir.iterdir()))


_STAMPS = st.one_of(
    st.datetimes(
        timezones=st.sampled_from(
            [timezone.utc, timezone(timedelta(hours=-8)), timezone(timedelta(hours=10, minutes=30))]
        )
    ).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat()),  # no offset: local time
    st.datetimes().map(lambda moment: moment.isoformat(sep=" ", timespec="milliseconds")),
    st.datetimes(timezones=st.just(timezone.utc)).map(
        lambda moment: moment.isoformat().replace("+00:00", "Z")
    ),
    st.text(alphabet="0123456789-:T.Z+ ", max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(stamp=_STAMPS)
def test_a_timestamp_means_the_same_on_the_fast_and_the_full_path(stamp: str) -> None:
    """The fast path reads ``timestamp`` as msgspec does; the full decode must agree on every text."""
    raw = json.dumps({"timestamp": stamp, "conversation_id": "c", "type": "tts"}).encode()
    found = log_records.LineCounts()
    full = log_records.full_decode(raw, found)
    try:
        record = log_records.decode(raw)
        fast: float | None = record.timestamp.timestamp()
    except log_records.REFUSED:
        return  # the line takes the full decode on both paths
    except (ValueError, OverflowError, OSError):
        fast = None
    assert (full[0] if full is not None else None) == fast
