"""File-system faults while logs are read: over-long lines, a 2 GB line, truncation, rotation (13.6).

Each fault must leave the read consistent — no crash, memory bounded, the
lines that were there counted once — and, through delivery, exactly one
report on the wire for the period and nothing pending on disk after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from voicemode_otel import testing
from voicemode_otel.contract import Period
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.logs import ReadStats, Session, completed_sessions
from voicemode_otel.logs import files as log_files
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths, state
from voicemode_otel.testing import CaptureServer

UTC = timezone.utc
DAY = Period(datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
AT = datetime(2026, 11, 10, 10, tzinfo=UTC)
LIMIT = 1024  # the lowered limit of the table-driven cases


def _line(kind: str, seconds: float, size: int | None = None, conversation: str = "conv_a") -> bytes:
    """A VoiceMode line (no newline), its text padded so the line is exactly ``size`` bytes."""
    raw = testing.voicemode_line(conversation, kind, AT + timedelta(seconds=seconds), text="")
    if size is not None:
        raw = raw.replace('"text": ""', '"text": "' + "x" * (size - len(raw)) + '"')
        assert len(raw) == size
    return raw.encode()


@pytest.mark.parametrize(
    ("lines", "ending", "exchanges", "corrupt"),
    [
        pytest.param([_line("tts", 0, LIMIT), _line("stt", 5)], b"\n", 1, 0, id="exactly-the-limit-is-read"),
        pytest.param(
            [_line("tts", 0), _line("tts", 5, LIMIT + 1), _line("stt", 9)], b"\n", 1, 1, id="one-over"
        ),
        pytest.param(
            [_line("tts", 0), _line("tts", 5, 40 * LIMIT), _line("stt", 9)], b"\n", 1, 1, id="40-times"
        ),
        pytest.param([_line("tts", 0), b"{" * (3 * LIMIT)], b"", 1, 1, id="over-long-at-eof-without-newline"),
        pytest.param([b"\x00" * (5 * LIMIT), _line("tts", 0), _line("stt", 5)], b"\n", 1, 1, id="first-line"),
        pytest.param(
            [_line("tts", 0), b"x" * 2 * LIMIT, b"y" * 2 * LIMIT, _line("tts", 60)], b"\n", 2, 2, id="two"
        ),
        pytest.param(
            [_line("tts", 0), b"\r".join([_line("stt", 5), _line("tts", 7)])],
            b"\n",
            2,
            0,
            id="cr-splits-lines",
        ),
    ],
)
def test_over_long_lines_are_skipped_and_counted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[bytes],
    ending: bytes,
    exchanges: int,
    corrupt: int,
) -> None:
    """A line longer than the limit is skipped as it streams past and counted as corrupt; the rest is read."""
    monkeypatch.setattr(log_files, "MAX_LINE_BYTES", LIMIT)
    monkeypatch.setattr(log_files, "_BLOCK_BYTES", 256)  # many blocks per over-long line, lines across blocks
    directory = tmp_path / "conversations"
    directory.mkdir()
    (directory / "exchanges_2026-11-10.jsonl").write_bytes(b"\n".join(lines) + ending)
    stats = ReadStats()
    [found] = completed_sessions(directory, DAY, stats)
    physical = sum(1 + line.count(b"\r") for line in lines)  # text mode ends a line at CR too
    assert (found.exchanges, stats.corrupt, stats.lines) == (exchanges, corrupt, physical)


def test_the_real_limit_is_one_mebibyte(tmp_path: Path) -> None:
    """At the shipped limit: a 1 MiB line is read, one byte more is skipped."""
    directory = tmp_path / "conversations"
    directory.mkdir()
    limit = log_files.MAX_LINE_BYTES
    assert limit == 1 << 20
    lines = [_line("tts", 0, limit), _line("stt", 5, limit + 1), _line("stt", 9)]
    (directory / "exchanges_2026-11-10.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    stats = ReadStats()
    [found] = completed_sessions(directory, DAY, stats)
    assert (found.exchanges, found.duration_seconds, stats.corrupt) == (1, 9.0, 1)


def test_a_2_gb_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    """A 2 GiB line without a newline (a sparse file: no disk used) between good lines: skipped, in MBs."""
    directory = tmp_path / "conversations"
    directory.mkdir()
    path = directory / "exchanges_2026-11-10.jsonl"
    with path.open("wb") as handle:
        handle.write(_line("tts", 0) + b"\n")
        handle.seek(handle.tell() + 2 * 1024**3)  # a hole: reads as 2 GiB of zero bytes
        handle.write(b"\n" + _line("stt", 9) + b"\n")
    try:
        code = textwrap.dedent(
            """
            import json, resource, sys
            from datetime import datetime, timezone
            from pathlib import Path
            from voicemode_otel.contract import Period
            from voicemode_otel.logs import ReadStats, completed_sessions
            utc = timezone.utc
            day = Period(datetime(2026, 11, 10, tzinfo=utc), datetime(2026, 11, 11, tzinfo=utc))
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            stats = ReadStats()
            found = completed_sessions(Path(sys.argv[1]), day, stats)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            print(json.dumps([[s.exchanges for s in found], stats.corrupt, stats.lines, grown]))
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(directory)],
            cwd=tmp_path,  # not the checkout: the package comes from sys.path as a host would import it
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr
    exchanges, corrupt, lines, grown_kib = json.loads(done.stdout)
    assert (exchanges, corrupt, lines) == ([1], 1, 3)
    assert grown_kib < 64 * 1024, f"peak memory grew by {grown_kib / 1024:.0f} MiB reading a 2 GiB line"


# --- a file changing while it is read ---------------------------------------------------------------

ROUNDS = 1600  # about 1.9 MB: the fault strikes after the first 256 KiB block, well before the cut


def _big_day(directory: Path) -> tuple[Path, list[Session]]:
    writer = testing.ConversationLogWriter(directory)
    start = datetime(2026, 11, 10, 1, tzinfo=UTC)
    expected = [
        writer.session(start + timedelta(hours=5 * n), ROUNDS // 4, round_seconds=20, conversation_id=f"c{n}")
        for n in range(4)
    ]
    [path] = directory.iterdir()
    return path, expected


def _truncate_mid_line(path: Path) -> int:
    size = path.stat().st_size // 2 + 17
    os.truncate(path, size)
    return size


def _truncate_at_line(path: Path) -> int:
    data = path.read_bytes()
    size = data.index(b"\n", len(data) // 2) + 1
    os.truncate(path, size)
    return size


def _rotate(path: Path) -> int:
    size = path.stat().st_size
    path.rename(path.with_suffix(".jsonl.1"))
    path.write_bytes(b"not even json\n" * 1000)  # a new file under the old name
    return size  # the open descriptor still reads the old file, whole


def _grow(path: Path) -> int:
    later = testing.voicemode_line("c_late", "tts", datetime(2026, 11, 10, 22, tzinfo=UTC))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(later + "\n")
    return path.stat().st_size  # read to the new end


FAULTS: dict[str, Callable[[Path], int]] = {
    "truncated mid-line": _truncate_mid_line,
    "truncated at a line end": _truncate_at_line,
    "rotated (renamed, new file)": _rotate,
    "grown (appended)": _grow,
}


@pytest.fixture
def fault_after_first_line(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[Callable[[Path], int]], list[int]]]:
    """Arm a fault that strikes the first log file right after its first block is read; returns sizes seen."""
    original = log_files.open_log

    def arm(fault: Callable[[Path], int]) -> list[int]:
        sizes: list[int] = []

        def open_log(path: Path, max_line_bytes: int | None = None) -> log_files.LogFile | None:
            opened = original(path, max_line_bytes)
            if opened is None or sizes:
                return opened
            blocks = opened.blocks

            def faulty() -> Iterator[bytes]:
                for index, block in enumerate(blocks()):
                    yield block
                    if index == 0:
                        sizes.append(fault(path))

            opened.blocks = faulty  # type: ignore[method-assign]
            return opened

        monkeypatch.setattr(log_files, "open_log", open_log)
        return sizes

    yield arm


def _as_read(data: bytes, name: str, into: Path) -> list[Session]:
    """The sessions of ``data`` (the bytes the reader's descriptor saw) as a log file of its own."""
    into.mkdir()
    (into / name).write_bytes(data)
    return completed_sessions(into, DAY)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_file_changing_while_read_gives_what_was_there(
    tmp_path: Path, fault: str, fault_after_first_line: Callable[[Callable[[Path], int]], list[int]]
) -> None:
    """Truncated, rotated or grown mid-read: exactly the sessions of the bytes the descriptor saw."""
    path, expected = _big_day(tmp_path / "conversations")
    before = path.read_bytes()
    sizes = fault_after_first_line(FAULTS[fault])
    stats = ReadStats()
    found = completed_sessions(tmp_path / "conversations", DAY, stats)
    [size] = sizes
    data = path.read_bytes() if fault.startswith("grown") else before
    seen = _as_read(data[:size], path.name, tmp_path / "seen")
    assert found == seen
    assert stats.corrupt == (1 if fault == "truncated mid-line" else 0)
    if not fault.startswith("truncated"):
        assert {s.conversation_id for s in expected} <= {s.conversation_id for s in found}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_file_changing_while_a_report_is_built_is_sent_once(
    paths: Paths,
    capture: CaptureServer,
    fault: str,
    fault_after_first_line: Callable[[Callable[[Path], int]], list[int]],
) -> None:
    """Through delivery: one report of the sessions that were read, acknowledged; the next run sends none."""
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=DAY.start - timedelta(hours=1)
    )
    path, _ = _big_day(paths.conversations_dir)
    snapshot = path.read_bytes()
    sizes = fault_after_first_line(FAULTS[fault])
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    config = delivery.RunConfig(paths, environ=environ, clock=lambda: DAY.end + timedelta(minutes=30))
    result = delivery.run(config)
    assert result.outcome is delivery.Outcome.DELIVERED, result
    [size] = sizes
    data = path.read_bytes() if fault.startswith("grown") else snapshot
    seen = _as_read(data[:size], path.name, paths.base.parent / "seen")
    [sent] = [c.request() for c in capture.captured]
    [durations] = [
        m for m in sent.resource_metrics[0].scope_metrics[0].metrics if m.name == contract.DURATION
    ]
    assert sum(p.count for p in durations.histogram.data_points) == len(seen) > 0
    assert not paths.pending_file.exists()
    assert state.load_state(paths).acked_until == DAY.end
    again = delivery.run(config)
    assert again.outcome is delivery.Outcome.NOT_DUE
    assert len(capture.captured) == 1
