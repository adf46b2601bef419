"""(c) ``voicemode_otel.start()`` inside VoiceMode's own process: returns at once; the process exits at once.

Two hosts: a Python process that has imported VoiceMode's whole server
(``voice_mode.server``: its tools, FastMCP, numpy…) and then calls ``start()``, and
the patched ``voicemode`` command itself serving MCP on stdio. With a report due and
an endpoint that accepts the connection but never answers (the request would hang
for 300 s), neither may wait for it: ``start()`` returns in well under 50 ms and the
process ends as soon as its work is done. Without consent nothing starts at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from vmhost import console_script, host_environ, patched_copy

from voicemode_otel import testing
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths
from voicemode_otel.testing import Behaviour, CaptureServer

# Longer than any bound below by far, so a wait on it cannot pass for a slow exit on a loaded machine.
HANG = Behaviour(delay=300)


@pytest.fixture
def hanging() -> Iterator[CaptureServer]:
    with CaptureServer(default=HANG) as server:
        yield server


def _host(tmp_path: Path, endpoint: str, *, opted_in: bool) -> tuple[Paths, dict[str, str]]:
    home = tmp_path / "host"
    home.mkdir()
    paths = Paths(home / ".voicemode")
    environ = host_environ(home, VOICEMODE_TELEMETRY_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="300000")
    if opted_in:
        now = datetime.now(timezone.utc)
        preference.set_preference(paths, True, environ, now=now - timedelta(hours=30))
        writer = testing.ConversationLogWriter(paths.conversations_dir)
        writer.session((now - timedelta(hours=5)).astimezone(timezone(timedelta(hours=11))), 6)
    return paths, environ


IN_PROCESS = """
import json, os, sys, time
import voice_mode.server  # VoiceMode's whole server, as in its own process
import voicemode_otel

before = time.perf_counter()
started = voicemode_otel.start(version="9.0.1")
elapsed = time.perf_counter() - before
log_dir = %r
deadline = time.monotonic() + 60
while started and time.monotonic() < deadline:  # until the report is persisted and its request sent
    time.sleep(0.05)
    logs = os.listdir(log_dir) if os.path.isdir(log_dir) else []
    if any("pending" in open(os.path.join(log_dir, name)).read() for name in logs):
        time.sleep(0.5)
        break
print(json.dumps({"started": started, "elapsed": elapsed, "done_at": time.monotonic()}), flush=True)
"""


@pytest.mark.parametrize("opted_in", [True, False], ids=["opted-in", "not-asked"])
def test_start_inside_voicemodes_process_returns_at_once_and_exit_never_waits(
    tmp_path: Path, hanging: CaptureServer, opted_in: bool
) -> None:
    paths, environ = _host(tmp_path, hanging.url, opted_in=opted_in)
    code = textwrap.dedent(IN_PROCESS) % (str(paths.transparency_dir),)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        cwd=paths.base.parent,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    exited = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["started"] is opted_in
    # Not a performance assertion: 50 ms is far above the microseconds start() takes and far
    # below an SDK import or any network wait, so it shows neither happened on VoiceMode's thread.
    assert report["elapsed"] < 0.05
    assert exited - report["done_at"] < 30  # the hanging request alone would take 300 s
    if opted_in:
        assert hanging.connections >= 1, "the report was in flight when the process ended"
        assert paths.pending_file.exists()  # kept, to be resent unchanged
    else:
        assert hanging.connections == 0
        assert not paths.telemetry_id.exists() and not paths.state_dir.exists()


@pytest.fixture(scope="module")
def patched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return patched_copy(tmp_path_factory.mktemp("patched"))


@pytest.mark.parametrize("opted_in", [True, False], ids=["opted-in", "not-asked"])
def test_voicemodes_own_server_exits_at_once_when_its_client_goes(
    tmp_path: Path, hanging: CaptureServer, patched: Path, opted_in: bool
) -> None:
    """The patched `voicemode` MCP server, its report request hanging: closing stdin ends it at once."""
    paths, environ = _host(tmp_path, hanging.url, opted_in=opted_in)
    server = subprocess.Popen(
        [console_script("voicemode")],
        env={**environ, "PYTHONPATH": str(patched)},
        cwd=paths.base.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        if opted_in:
            while hanging.connections < 1 and server.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert hanging.connections >= 1, "start() in main() began the due report"
        else:
            while not (paths.base / "logs").exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # VoiceMode is up (it made its folders)
            time.sleep(3)
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        assert server.stdin is not None
        closed = time.monotonic()
        server.stdin.close()  # the MCP host went away
        server.wait(timeout=30)
        took = time.monotonic() - closed
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    stderr = server.stderr.read().decode(errors="replace") if server.stderr else ""
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert took < 30, f"exit took {took:.1f}s"  # the hanging request alone would take 300 s
    if not opted_in:
        assert hanging.connections == 0
        assert not paths.telemetry_id.exists() and not paths.state_dir.exists()
