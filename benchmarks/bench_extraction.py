"""Row 4: session extraction from ~100 MB of VoiceMode logs, vs merely json.loads-ing every line.

Also peak memory with 30, 90 days and 1 GB of logs on disk, and one streaming pass over
the whole 1 GB, which must hold memory as flat as a single period does.
"""

from __future__ import annotations

import json
import random
import re
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

from common import Row

from voicemode_otel import testing
from voicemode_otel.contract import Period
from voicemode_otel.logs import ReadStats, SessionReader, completed_sessions

END = datetime(2026, 11, 25, tzinfo=timezone.utc)
LONG_TEXT = (
    "Sure — here is what I changed in the parser: it now streams the file line by line instead of reading it "
    "whole, and the retry policy waits for Retry-After before trying again. Shall I run the tests? "
)


def generate(directory: Path, days: int, seed: int = 3, *, end: datetime = END, streams: int = 2) -> int:
    """About 3.3 MB and 4,500 lines of VoiceMode logs a day, written in time order as VoiceMode does.

    Two projects in parallel (``streams``), ~750-byte lines: the shape of the earlier work's
    100 MB / 140k-line sample (facts §10). Returns the number of sessions written.
    """
    rng = random.Random(seed)
    writer = testing.ConversationLogWriter(directory, rng)
    count = 0
    for day in range(days):
        morning = (end - timedelta(days=days - day)).astimezone(testing.PACIFIC).replace(hour=6, minute=0)
        lines: list[tuple[datetime, str]] = []
        for stream in range(streams):  # projects open side by side
            cursor = morning + timedelta(minutes=7 * stream)
            while cursor < morning + timedelta(hours=10):
                conversation = testing.conversation_id_for(cursor, rng)
                at = cursor
                for _ in range(rng.randint(5, 60)):
                    text = LONG_TEXT * rng.randint(1, 2)
                    lines.append(
                        (
                            at,
                            testing.voicemode_line(
                                conversation, "tts", at, provider=testing.KOKORO, text=text
                            ),
                        )
                    )
                    heard = at + timedelta(seconds=6)
                    stt = testing.voicemode_line(
                        conversation, "stt", heard, provider=testing.WHISPER_LOCAL, text=text[:120]
                    )
                    lines.append((heard, stt))
                    at += timedelta(seconds=rng.randint(12, 30))
                count += 1
                cursor = at + timedelta(minutes=5, seconds=rng.randint(1, 120))
        for at, line in sorted(lines, key=lambda item: item[0]):
            writer.write(line, at)
    return count


_FILE_DATE = re.compile(r"exchanges_(\d{4}-\d{2}-\d{2})\.jsonl$")


def replicate(directory: Path, weeks: int) -> None:
    """Copy the (7-day) logs in ``directory`` back in time, week by week, to build a long history fast.

    Every date in a copy — file name, timestamps, conversation IDs, audio file names — moves
    by whole weeks, so each copy is a real week of sessions of its own (json.dumps at ~8 MB/s
    would take minutes for 1 GB).
    """
    originals = sorted(directory.iterdir())
    days = [date.fromisoformat(m[1]) for p in originals if (m := _FILE_DATE.search(p.name))]
    for week in range(1, weeks + 1):
        shift = timedelta(days=7 * week)
        for path, day in zip(originals, days, strict=True):
            data = path.read_bytes()
            for other in sorted(days, reverse=True):  # a file holds lines of its neighbours' dates too
                moved = other - shift
                data = data.replace(other.isoformat().encode(), moved.isoformat().encode())
                data = data.replace(other.strftime("%Y%m%d").encode(), moved.strftime("%Y%m%d").encode())
            (directory / f"exchanges_{(day - shift).isoformat()}.jsonl").write_bytes(data)


def json_loads_all(directory: Path) -> tuple[float, int]:
    """The reference: parse every line with json.loads, nothing else."""
    start = time.perf_counter()
    lines = 0
    for path in sorted(directory.iterdir()):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                json.loads(line)
                lines += 1
    return time.perf_counter() - start, lines


def weekly_periods(days: int, end: datetime = END) -> list[Period]:
    """Consecutive 7-day periods over ``days`` (and one more), oldest first: a catch-up."""
    periods, begin = [], end - timedelta(days=days + 1)
    while begin < end:
        periods.append(Period(begin, min(end, begin + timedelta(days=7))))
        begin = periods[-1].end
    return periods


def extract_weekly(directory: Path, days: int) -> tuple[float, int, SessionReader]:
    """The real path after a long absence: consecutive 7-day periods, oldest first, one reader."""
    start = time.perf_counter()
    reader = SessionReader(directory)
    found = sum(len(reader.completed_in(period)) for period in weekly_periods(days))
    return time.perf_counter() - start, found, reader


def peak_memory(directory: Path, period: Period) -> int:
    tracemalloc.start()
    completed_sessions(directory, period, ReadStats())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def streaming_peak(directory: Path, days: int) -> tuple[int, int]:
    """Peak memory and bytes read of one SessionReader serving every week of ``days``."""
    tracemalloc.start()
    reader = SessionReader(directory)
    for period in weekly_periods(days):
        reader.completed_in(period)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert reader.files_opened == reader.stats.files == len(list(directory.iterdir()))
    return peak, sum(p.stat().st_size for p in directory.iterdir())


def run() -> list[Row]:
    with TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sessions = generate(directory, 30)
        size = sum(p.stat().st_size for p in directory.iterdir())
        for _ in range(2):  # warm the page cache for both
            json_loads_all(directory)
        reference = min(json_loads_all(directory)[0] for _ in range(3))
        ours, found, reader = min((extract_weekly(directory, 30) for _ in range(3)), key=lambda r: r[0])
        files = len(list(directory.iterdir()))
        day = Period(END - timedelta(days=1), END)
        t0 = time.perf_counter()
        completed_sessions(directory, day)
        daily = time.perf_counter() - t0
        peak_30 = peak_memory(directory, Period(END - timedelta(days=7), END))
        # Three times the log history: the memory for the same period must not grow.
        with TemporaryDirectory() as bigger:
            generate(Path(bigger), 90, seed=4)
            peak_90 = peak_memory(Path(bigger), Period(END - timedelta(days=7), END))
        # About 1 GB: a real week, copied back in time week by week (~300 days).
        with TemporaryDirectory() as huge:
            generate(Path(huge), 7, seed=5)
            replicate(Path(huge), 44)
            gigabyte = sum(p.stat().st_size for p in Path(huge).iterdir())
            peak_1g = peak_memory(Path(huge), Period(END - timedelta(days=7), END))
            history = (
                END - datetime.combine(min(_dates(Path(huge))), datetime.min.time(), timezone.utc)
            ).days
            peak_stream, streamed = streaming_peak(Path(huge), history)
    assert found == sessions, (found, sessions)
    assert reader.files_opened == reader.stats.files == files, "a file was read twice in the catch-up"
    ours_rate, reference_rate = found / ours, sessions / reference
    worst = max(peak_30, peak_90, peak_1g, peak_stream)
    return [
        Row(
            f"session extraction, {size / 1e6:.0f} MB / 30 days of logs ({found} sessions)",
            f"{ours_rate:,.0f} sessions/s ({size / 1e6 / ours:.0f} MB/s)",
            f"{reference_rate:,.0f} sessions/s (json.loads of every line, {size / 1e6 / reference:.0f} MB/s)",
            ours_rate / reference_rate,
            "≥ 1.5×",
            ours_rate >= 1.5 * reference_rate,
            "every session found exactly once; 5 consecutive ≤7-day periods as after a long absence, served by "
            f"one SessionReader streaming pass: {reader.files_opened} file opens for {files} files (none read "
            "twice); msgspec decodes only the fields a session needs",
        ),
        Row(
            "the daily report's extraction (one 24 h period in 30 days of logs)",
            f"{daily * 1000:.0f} ms",
            f"{reference * 1000:.0f} ms (json.loads of all 30 days)",
            daily / reference,
            "(reads only the files that can hold the period)",
            None,
        ),
        Row(
            "peak memory extracting one 7-day period, 30 / 90 days / 1 GB of logs on disk",
            f"{peak_30 / 1e6:.1f} / {peak_90 / 1e6:.1f} / {peak_1g / 1e6:.1f} MB",
            f"{size / 1e6:.0f} MB / 3× that / {gigabyte / 1e9:.2f} GB of logs",
            peak_1g / peak_30,
            "bounded, independent of log size",
            max(peak_90, peak_1g) <= peak_30 * 1.5,
            "tracemalloc peak; streams line by line, opens only the period's files",
        ),
        Row(
            f"  peak memory of one streaming pass over all {gigabyte / 1e9:.2f} GB ({history} days, weekly periods)",
            f"{peak_stream / 1e6:.1f} MB",
            f"one 7-day period: {peak_30 / 1e6:.1f} MB",
            peak_stream / peak_30,
            "≤ 2× one period (it carries lines across period ends)",
            peak_stream <= peak_30 * 2 and streamed > 0.9e9,
            f"every file read once; generated in a temp dir and deleted after; worst of the rows {worst / 1e6:.1f} MB",
        ),
    ]


def _dates(directory: Path) -> list[date]:
    return [date.fromisoformat(m[1]) for p in directory.iterdir() if (m := _FILE_DATE.search(p.name))]
