"""A hostile base directory never hangs, clobbers or silences the client (issue 13, items 2 and 6).

Links, FIFOs and directories where our files belong; the clock jumping; a
full disk; a folder made read-only. Each case asserts what reached the wire
(a real HTTP server) and what is on disk afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import cli

import voicemode_otel
from voicemode_otel import testing
from voicemode_otel.contract import ceil_hour
from voicemode_otel.delivery import erasure
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths, state, transparency
from voicemode_otel.testing import CaptureServer

UTC = timezone.utc
VICTIM = b"the user's own precious file\n"


def _environ(paths: Paths, capture: CaptureServer) -> dict[str, str]:
    return {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}


def _run(paths: Paths, capture: CaptureServer, now: datetime, **options: bool) -> delivery.RunResult:
    return delivery.run(
        delivery.RunConfig(paths, environ=_environ(paths, capture), clock=lambda: now, **options)
    )


def _sessions_on_the_wire(capture: CaptureServer) -> int:
    return sum(
        point.count
        for item in capture.captured
        if item.method == "POST"
        for entry in item.request().resource_metrics
        for scope in entry.scope_metrics
        for metric in scope.metrics
        if metric.name == "voicemode.session.duration"
        for point in metric.histogram.data_points
    )


# 13.2 — never through a link


def test_a_linked_id_file_is_never_written_through(paths: Paths, tmp_path: Path) -> None:
    """`ln -s victim telemetry_id; enable`: the victim keeps its bytes; status names the link."""
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    paths.base.mkdir(parents=True)
    paths.telemetry_id.symlink_to(victim)
    enabled = cli(paths.base, "enable")
    assert enabled.returncode == 3 and "is a symbolic link" in enabled.stdout, enabled.stdout
    assert victim.read_bytes() == VICTIM
    status = cli(paths.base, "status").stdout
    assert f"ID:        (none) — {paths.telemetry_id} is a symbolic link" in status
    assert cli(paths.base, "disable").returncode == 0
    assert not paths.telemetry_id.is_symlink() and victim.read_bytes() == VICTIM


LINKED = {
    "state.json": lambda p: p.state_file,
    "pending.json": lambda p: p.pending_file,
    "lock": lambda p: p.lock_file,
    "log file": lambda p: p.transparency_dir / f"telemetry_{datetime.now(UTC).date().isoformat()}.jsonl",
}


@pytest.mark.parametrize("name", list(LINKED))
def test_no_state_file_is_written_through_a_link(
    paths: Paths, capture: CaptureServer, tmp_path: Path, name: str
) -> None:
    """A link at any file we write: the run refuses it, sends nothing, and the target is untouched."""
    now = datetime.now(UTC)
    preference.set_preference(paths, True, _environ(paths, capture), now=now - timedelta(hours=30))
    testing.ConversationLogWriter(paths.conversations_dir).session(
        (now - timedelta(hours=6)).astimezone(testing.PACIFIC), 3
    )
    victim = tmp_path / "victim"
    victim.write_bytes(VICTIM)
    target = LINKED[name](paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    target.symlink_to(victim)
    result = _run(paths, capture, now, force=True)
    assert victim.read_bytes() == VICTIM
    if name == "pending.json":  # unreadable as ours, so discarded like a corrupt one (the link only)
        assert result.outcome is delivery.Outcome.DELIVERED, result
        assert not paths.pending_file.exists()
        return
    assert result.outcome is delivery.Outcome.STORAGE, result
    assert "symbolic link" in result.message
    assert capture.connections == 0
    assert not paths.pending_file.exists() or paths.pending_file.is_symlink()


@pytest.mark.parametrize("folder", ["telemetry", "logs/telemetry"])
def test_a_linked_folder_is_never_written_into(
    paths: Paths, capture: CaptureServer, tmp_path: Path, folder: str
) -> None:
    """The state or log folder as a link to elsewhere: nothing lands there and nothing is sent."""
    now = datetime.now(UTC)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (paths.base / "logs").mkdir(parents=True)
    (paths.base / folder).symlink_to(elsewhere, target_is_directory=True)
    paths.env_file.write_text("VOICEMODE_TELEMETRY=true\n")
    testing.ConversationLogWriter(paths.conversations_dir).session(
        (now - timedelta(hours=6)).astimezone(testing.PACIFIC), 3
    )
    result = _run(paths, capture, now, force=True)
    assert result.outcome is delivery.Outcome.STORAGE and "symbolic link" in result.message
    assert list(elsewhere.iterdir()) == [] and capture.connections == 0
    status = cli(paths.base, "status", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert status.returncode == 0


@pytest.mark.parametrize(
    "name", ["voicemode.env", "telemetry_id", "telemetry/state.json", "telemetry/erasure.json"]
)
def test_a_fifo_in_place_of_a_file_never_hangs(paths: Paths, name: str) -> None:
    """A FIFO where a settings or state file belongs: start(), status and disable all return."""
    paths.state_dir.mkdir(parents=True)
    os.mkfifo(paths.base / name)
    code = "import voicemode_otel, sys; sys.exit(0 if voicemode_otel.start() in (True, False) else 1)"
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}
    import sys

    started = subprocess.run([sys.executable, "-c", code], env=environ, timeout=30, check=False)
    assert started.returncode == 0
    status = cli(paths.base, "status", timeout=30)
    assert status.returncode == 0
    if name == "voicemode.env":
        assert "it is a FIFO" in status.stdout
    assert cli(paths.base, "disable", timeout=30).returncode == 0
    assert cli(paths.base, "status", "--short", timeout=30).stdout.startswith("telemetry OFF")


# 13.6 — the clock


@pytest.fixture
def opted_in(paths: Paths, capture: CaptureServer) -> datetime:
    """Opted in a day and a half ago at a whole hour; returns "now"."""
    now = ceil_hour(datetime.now(UTC)) - timedelta(hours=1)
    preference.set_preference(paths, True, _environ(paths, capture), now=now - timedelta(hours=36))
    return now


def _day_of_sessions(paths: Paths, end: datetime, prefix: str) -> int:
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    for index in range(3):
        writer.session(
            (end - timedelta(hours=20 - 5 * index)).astimezone(testing.PACIFIC),
            3,
            conversation_id=f"{prefix}{index}",
        )
    return 3


def test_clock_back_a_day_sends_nothing_twice(
    paths: Paths, capture: CaptureServer, opted_in: datetime
) -> None:
    """Deliver; the clock goes back a day (nothing happens); then on: the next day is sent, once."""
    first = _day_of_sessions(paths, opted_in, "a")
    assert _run(paths, capture, opted_in).outcome is delivery.Outcome.DELIVERED
    before = state.load_state(paths)
    back = _run(paths, capture, opted_in - timedelta(days=1))
    assert back.outcome is delivery.Outcome.NOT_DUE and len(capture.captured) == 1
    assert state.load_state(paths).delivered_until == before.delivered_until
    later = opted_in + timedelta(days=1)
    second = _day_of_sessions(paths, later, "b")
    assert _run(paths, capture, later).outcome is delivery.Outcome.DELIVERED
    assert _sessions_on_the_wire(capture) == first + second
    keys = [key for item in capture.captured for key in item.report_keys()]
    assert len(keys) == len(set(keys)) == 2


def test_clock_forward_a_year_then_back_loses_nothing(
    paths: Paths, capture: CaptureServer, opted_in: datetime
) -> None:
    """A year ahead: nothing real to send; back to now: the recorded future is distrusted and the day sent."""
    first = _day_of_sessions(paths, opted_in, "a")
    assert _run(paths, capture, opted_in + timedelta(days=365)).outcome in (
        delivery.Outcome.NOTHING_TO_SEND,
        delivery.Outcome.DELIVERED,
    )
    sent_ahead = _sessions_on_the_wire(capture)
    result = _run(paths, capture, opted_in)
    assert result.outcome in (delivery.Outcome.DELIVERED, delivery.Outcome.NOT_DUE), result
    assert _sessions_on_the_wire(capture) == first  # every session once, whenever it went
    assert sent_ahead in (0, first)
    assert any(e["event"] == "clock" for e in transparency.read(paths)) or sent_ahead == first


def test_an_opt_in_recorded_in_the_future_is_brought_back(paths: Paths, capture: CaptureServer) -> None:
    """Opted in while the clock was a year ahead: back at the real time, reporting starts from now."""
    now = datetime.now(UTC)
    preference.set_preference(paths, True, _environ(paths, capture), now=now + timedelta(days=365))
    _run(paths, capture, now)
    fixed = state.load_state(paths)
    assert fixed.opted_in_at is not None and fixed.opted_in_at <= now + timedelta(minutes=5)
    assert state.opted_in_from_enrollment(paths) == fixed.opted_in_at


# 13.6 — the file system: a full disk, a read-only base


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[Path, str], Path]]:
    """Mount tmpfs file systems (root only: a real ENOSPC/EROFS, not a simulated one); unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounted: list[Path] = []

    def mount(where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=True
        )
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    return filler


@pytest.mark.parametrize("full", ["pending", "log"])
def test_a_full_disk_sends_nothing_and_loses_nothing(
    tmp_path: Path, capture: CaptureServer, small_fs: Callable[[Path, str], Path], full: str
) -> None:
    """ENOSPC writing the pending report or the log: nothing sent or advanced; with space, sent once."""
    base = small_fs(tmp_path / "voicemode", "4m")
    paths = Paths(base)
    now = ceil_hour(datetime.now(UTC)) - timedelta(hours=1)
    preference.set_preference(paths, True, _environ(paths, capture), now=now - timedelta(hours=36))
    count = _day_of_sessions(paths, now, "a")
    if full == "log":
        paths.transparency_dir.mkdir(parents=True, exist_ok=True)
        log_fs = small_fs(paths.transparency_dir, "64k")
        filler = _fill(log_fs)
    else:
        filler = _fill(paths.state_dir)
    before = state.load_state(paths)
    result = _run(paths, capture, now)
    assert result.outcome is delivery.Outcome.STORAGE, result
    assert "No space left" in result.message
    assert capture.connections == 0 and not paths.pending_file.exists()
    assert state.load_state(paths).acked_until == before.acked_until
    filler.unlink()
    assert _run(paths, capture, now).outcome is delivery.Outcome.DELIVERED
    assert _sessions_on_the_wire(capture) == count


def test_a_base_made_read_only_after_opt_in(
    tmp_path: Path, capture: CaptureServer, small_fs: Callable[[Path, str], Path]
) -> None:
    """A read-only base (EROFS): start() returns, nothing is sent; writable again, the day goes once."""
    base = small_fs(tmp_path / "voicemode", "4m")
    paths = Paths(base)
    now = ceil_hour(datetime.now(UTC)) - timedelta(hours=1)
    preference.set_preference(paths, True, _environ(paths, capture), now=now - timedelta(hours=36))
    count = _day_of_sessions(paths, now, "a")
    subprocess.run(["mount", "-o", "remount,ro", str(base)], check=True)
    try:
        result = _run(paths, capture, now)
        assert result.outcome is delivery.Outcome.STORAGE and "Read-only file system" in result.message
        assert voicemode_otel.start(base_dir=base, environ=_environ(paths, capture)) is True
        voicemode_otel.stop(timeout=5)
        assert capture.connections == 0
        disabled = cli(base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
        assert disabled.returncode == 3 and "could not record the opt-out anywhere" in disabled.stdout
        assert "VOICEMODE_TELEMETRY=false in your environment" in disabled.stdout
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(base)], check=True)
    assert _run(paths, capture, now).outcome is delivery.Outcome.DELIVERED
    assert _sessions_on_the_wire(capture) == count
    assert erasure.load(paths) == []
