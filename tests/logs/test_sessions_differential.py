"""The msgspec reader finds exactly the sessions the earlier reader found, on the benchmarks' 100 MB of logs.

The earlier implementation is kept verbatim in tests/support/reference_sessions.py; every
scenario in test_sessions.py and test_exactly_once.py is also checked against it
(``differential.checked_sessions``). This test adds the benchmark's data set: about
100 MB / 135k lines over 30 days, read as a catch-up (five consecutive 7-day periods
through one SessionReader, which must open each file once) and as single periods.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
import reference_sessions
from differential import as_tuples

from voicemode_otel.contract import Period
from voicemode_otel.logs import SessionReader, completed_sessions

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_extraction  # the benchmarks' own generator, so both read the same data


@pytest.fixture(scope="module")
def benchmark_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    directory = tmp_path_factory.mktemp("benchmark-logs")
    written = bench_extraction.generate(directory, 30)
    assert sum(p.stat().st_size for p in directory.iterdir()) > 90e6
    return directory, written


def _catch_up_periods() -> list[Period]:
    periods, begin = [], bench_extraction.END - timedelta(days=31)
    while begin < bench_extraction.END:
        end = min(bench_extraction.END, begin + timedelta(days=7))
        periods.append(Period(begin, end))
        begin = end
    return periods


def test_catch_up_over_100_mb_is_identical_and_reads_each_file_once(benchmark_logs: tuple[Path, int]) -> None:
    """Five consecutive periods from one pass: the same sessions as the earlier reader, period by period."""
    directory, written = benchmark_logs
    reader = SessionReader(directory)
    total = 0
    for period in _catch_up_periods():
        ours = reader.completed_in(period)
        assert as_tuples(ours) == as_tuples(reference_sessions.completed_sessions(directory, period))
        total += len(ours)
    assert total == written
    files = len(list(directory.iterdir()))
    assert reader.files_opened == reader.stats.files == files
    assert reader.stats.schema_versions == {"3": reader.stats.lines}


@pytest.mark.parametrize(("days_back", "hours"), [(1, 24), (3, 7 * 24), (16, 5), (30, 24)])
def test_single_periods_over_100_mb_are_identical(
    benchmark_logs: tuple[Path, int], days_back: int, hours: int
) -> None:
    """A daily report, a week, an odd few hours, the first day: each read alone, the same as before."""
    directory, _ = benchmark_logs
    start = bench_extraction.END - timedelta(days=days_back)
    period = Period(start, start + timedelta(hours=hours))
    ours = completed_sessions(directory, period)
    assert as_tuples(ours) == as_tuples(reference_sessions.completed_sessions(directory, period))
    assert ours
