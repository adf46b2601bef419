"""Things that are not log files but are named like one never hang, crash or get read (issue 13.1).

A FIFO is the sharp case: ``open()`` on it blocks until a writer appears. Each
test that could hang runs the code under test in a child process or thread
with a deadline, and releases a stuck reader itself, so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from voicemode_otel import testing
from voicemode_otel.contract import Period
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.logs import ReadStats, Session, completed_sessions
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer

UTC = timezone.utc
SCRIPT = str(Path(sys.executable).parent / "voicemode-otel")
DEADLINE = 60.0  # seconds; a hang is the failure, not slowness


def _hostile_entry(kind: str, path: Path, tmp_path: Path) -> Iterator[None]:
    """Create ``path`` as ``kind``; yields while it exists, then cleans up what needs it."""
    if kind == "fifo":
        os.mkfifo(path)
        yield
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        try:
            listener.bind(str(path))
            listener.listen(1)
            yield
        finally:
            listener.close()
    elif kind == "directory":
        path.mkdir()
        yield
    elif kind == "link to a device":
        path.symlink_to("/dev/zero")  # would never end if read
        yield
    elif kind == "link to a fifo":
        os.mkfifo(tmp_path / "elsewhere.fifo")
        path.symlink_to(tmp_path / "elsewhere.fifo")
        yield
    elif kind == "dangling link":
        path.symlink_to(tmp_path / "nothing-here")
        yield
    else:
        raise AssertionError(kind)


KINDS = ["fifo", "socket", "directory", "link to a device", "link to a fifo", "dangling link"]


def _with_deadline(work: Callable[[], object], fifo: Path | None) -> object:
    """``work()`` on a thread; if it is still running at the deadline, unblock it and fail."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        if fifo is not None:  # a reader stuck in open(): a writer that closes at once lets it go
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"still reading after {DEADLINE:.0f} s: blocked on a non-regular file")
    return result[0]


def _day_of_logs(conversations: Path) -> tuple[Period, list[Session]]:
    writer = testing.ConversationLogWriter(conversations)
    start = datetime(2026, 11, 24, 9, tzinfo=testing.PACIFIC)
    expected = [writer.session(start, 3), writer.session(start + timedelta(hours=2), 6, transport="livekit")]
    return Period(datetime(2026, 11, 24, 0, tzinfo=UTC), datetime(2026, 11, 26, 0, tzinfo=UTC)), expected


@pytest.mark.parametrize("kind", KINDS)
def test_non_regular_entries_are_skipped_and_counted(tmp_path: Path, kind: str) -> None:
    """Only regular files are read; the rest is counted in skipped_files and the real logs still count."""
    conversations = tmp_path / "conversations"
    period, expected = _day_of_logs(conversations)
    entry = conversations / "exchanges_2026-11-25.jsonl"
    stats = ReadStats()
    for _ in _hostile_entry(kind, entry, tmp_path):
        found = _with_deadline(lambda: completed_sessions(conversations, period, stats), entry)
        assert found == expected
        assert (stats.files, stats.skipped_files, stats.skipped()) == (1, 1, 0)


def test_a_link_to_a_regular_file_is_read(tmp_path: Path) -> None:
    """A symlinked log (say, logs kept on another disk) is the user's own and is read like the file."""
    elsewhere = tmp_path / "other-disk"
    period, expected = _day_of_logs(elsewhere)
    conversations = tmp_path / "conversations"
    conversations.mkdir()
    for target in elsewhere.iterdir():
        (conversations / target.name).symlink_to(target)
    stats = ReadStats()
    assert completed_sessions(conversations, period, stats) == expected
    assert stats.skipped_files == 0


def _consent(paths: Paths, hours_ago: float = 30) -> datetime:
    now = datetime.now(UTC)
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(hours=hours_ago)
    )
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    # UTC+14: the session's file is named at least a day after the opt-in's (see _todays_log).
    writer.session((now - timedelta(hours=6)).astimezone(timezone(timedelta(hours=14))), 5)
    return now


def _todays_log(paths: Paths) -> Path:
    """A log name the next report's read covers (the opt-in's day), other than the session's file."""
    return paths.conversations_dir / f"exchanges_{(datetime.now(UTC) - timedelta(hours=30)).date()}.jsonl"


def _inherited() -> dict[str, str]:
    """PYTHONPATH, if set: lets these tests be run against another checkout of the package."""
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def _cli(paths: Paths, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}
    return subprocess.run(
        [SCRIPT, *args],
        env={**environ, **_inherited(), **extra},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=DEADLINE,  # raises TimeoutExpired (the test fails) where the FIFO would hang it
    )


def _sessions_sent(capture: CaptureServer) -> int:
    [request] = [c.request() for c in capture.captured]
    [points] = [
        m.histogram.data_points
        for m in request.resource_metrics[0].scope_metrics[0].metrics
        if m.name == contract.DURATION
    ]
    return sum(p.count for p in points)


def test_preview_with_a_fifo_named_like_a_log_returns(paths: Paths) -> None:
    """``voicemode-otel preview --json`` (the real CLI) answers at once with the real logs' sessions."""
    _consent(paths)
    os.mkfifo(_todays_log(paths))
    result = _cli(paths, "preview", "--json")
    assert result.returncode == 0, result.stderr
    assert '"voicemode.session.duration"' in result.stdout
    plain = _cli(paths, "preview")
    assert "Sessions: 1" in plain.stdout


def test_send_with_a_fifo_named_like_a_log_delivers(paths: Paths, capture: CaptureServer) -> None:
    """``voicemode-otel send`` delivers the report (so the send lock is released), twice in a row."""
    _consent(paths)
    os.mkfifo(_todays_log(paths))
    result = _cli(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered" in result.stdout
    assert _sessions_sent(capture) == 1
    again = _cli(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert again.returncode == 0
    assert "busy" not in again.stdout


def test_delivery_run_with_a_fifo_named_like_a_log_settles(paths: Paths, capture: CaptureServer) -> None:
    """delivery.run reads past the FIFO, sends the real sessions once and acknowledges the period."""
    now = _consent(paths)
    fifo = _todays_log(paths)
    os.mkfifo(fifo)
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    config = delivery.RunConfig(paths, environ=environ, clock=lambda: now)
    result = _with_deadline(lambda: delivery.run(config), fifo)
    assert isinstance(result, delivery.RunResult)
    assert result.outcome is delivery.Outcome.DELIVERED, result
    assert _sessions_sent(capture) == 1
    assert not paths.pending_file.exists()


def test_reporter_thread_with_a_fifo_named_like_a_log_reports(paths: Paths, capture: CaptureServer) -> None:
    """Inside a host process, start()'s reporter sends past the FIFO, and the host exits normally."""
    _consent(paths)
    os.mkfifo(_todays_log(paths))
    code = textwrap.dedent(
        """
        import pathlib, time, voicemode_otel
        voicemode_otel.start(version="8.12.0")
        state, deadline = pathlib.Path(%r), time.monotonic() + %r
        while time.monotonic() < deadline:  # the host goes on with its work meanwhile
            if state.exists() and '"last_outcome": "delivered' in state.read_text():
                break
            time.sleep(0.05)
        """
        % (str(paths.state_file), DEADLINE)
    )
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(paths.base),
        "VOICEMODE_TELEMETRY_ENDPOINT": capture.url,
        **_inherited(),
    }
    host = subprocess.Popen([sys.executable, "-c", code], env=environ, cwd=paths.base)
    try:
        deadline = time.monotonic() + DEADLINE
        while not capture.captured and time.monotonic() < deadline:
            time.sleep(0.05)
        assert host.wait(timeout=DEADLINE) == 0
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
    assert _sessions_sent(capture) == 1
