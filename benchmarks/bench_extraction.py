"""Row 4: session extraction from ~100 MB of VoiceMode logs, vs merely json.loads-ing every line."""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

from common import Row

from voicemode_otel import testing
from voicemode_otel.periods import Period
from voicemode_otel.sessions import ReadStats, completed_sessions

END = datetime(2026, 11, 25, tzinfo=timezone.utc)
LONG_TEXT = (
    "Sure — here is what I changed in the parser: it now streams the file line by line instead of reading it "
    "whole, and the retry policy waits for Retry-After before trying again. Shall I run the tests? "
)


def generate(directory: Path, days: int, seed: int = 3) -> int:
    """About 3.3 MB and 4,500 lines of VoiceMode logs a day, written in time order as VoiceMode does.

    Two projects in parallel, ~750-byte lines: the shape of the earlier work's 100 MB / 140k-line
    sample (facts §10).
    """
    rng = random.Random(seed)
    writer = testing.ConversationLogWriter(directory, rng)
    count = 0
    for day in range(days):
        morning = (END - timedelta(days=days - day)).astimezone(testing.PACIFIC).replace(hour=6, minute=0)
        lines: list[tuple[datetime, str]] = []
        for stream in range(2):  # two projects open side by side
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


def extract_weekly(directory: Path, days: int) -> tuple[float, int]:
    """The real path after a long absence: consecutive 7-day periods, oldest first."""
    start = time.perf_counter()
    found = 0
    begin = END - timedelta(days=days + 1)
    while begin < END:
        end = min(END, begin + timedelta(days=7))
        found += len(completed_sessions(directory, Period(begin, end)))
        begin = end
    return time.perf_counter() - start, found


def peak_memory(directory: Path, period: Period) -> int:
    tracemalloc.start()
    completed_sessions(directory, period, ReadStats())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run() -> list[Row]:
    with TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sessions = generate(directory, 30)
        size = sum(p.stat().st_size for p in directory.iterdir())
        for _ in range(2):  # warm the page cache for both
            json_loads_all(directory)
        reference = min(json_loads_all(directory)[0] for _ in range(3))
        ours, found = min((extract_weekly(directory, 30) for _ in range(3)), key=lambda r: r[0])
        day = Period(END - timedelta(days=1), END)
        t0 = time.perf_counter()
        completed_sessions(directory, day)
        daily = time.perf_counter() - t0
        peak_30 = peak_memory(directory, Period(END - timedelta(days=7), END))
        # Ten times the log history: the memory for the same period must not grow.
        with TemporaryDirectory() as bigger:
            generate(Path(bigger), 90, seed=4)
            peak_90 = peak_memory(Path(bigger), Period(END - timedelta(days=7), END))
    assert found == sessions, (found, sessions)
    ours_rate, reference_rate = found / ours, sessions / reference
    return [
        Row(
            f"session extraction, {size / 1e6:.0f} MB / 30 days of logs ({found} sessions)",
            f"{ours_rate:,.0f} sessions/s ({size / 1e6 / ours:.0f} MB/s)",
            f"{reference_rate:,.0f} sessions/s (json.loads of every line, {size / 1e6 / reference:.0f} MB/s)",
            ours_rate / reference_rate,
            "≥ 1.0×",
            ours_rate >= reference_rate,
            "every session found exactly once; 5 consecutive ≤7-day periods as after a long absence",
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
            "peak memory extracting one 7-day period, 30 vs 90 days of logs",
            f"{peak_30 / 1e6:.1f} MB / {peak_90 / 1e6:.1f} MB",
            f"{size / 1e6:.0f} MB of logs",
            peak_90 / peak_30,
            "bounded, independent of log size",
            peak_90 <= peak_30 * 1.5,
            "tracemalloc peak; streams line by line",
        ),
    ]
