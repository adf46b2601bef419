"""`make worker-dev` on a terminal: migrations apply and the Worker starts without asking anything."""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import pty_read
from localworker import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_make_worker_dev_on_a_terminal_asks_nothing(tmp_path: Path) -> None:
    """With fresh local D1 (every migration pending) and no input, the Worker comes up; no "(Y/n)"."""
    port = free_port()
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "TERM": "xterm",
        "PERSIST_TO": str(tmp_path / "state"),
    }
    pid, fd = pty.fork()
    if pid == 0:  # child: its own session, the pty its controlling terminal, as in a user's shell
        os.chdir(ROOT)
        os.execvpe("make", ["make", "--no-print-directory", "worker-dev", f"PORT={port}"], environ)
    output = b""
    serving = False
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not serving and b"(Y/n)" not in output:
            chunk = pty_read(fd, 0.5)
            if chunk is None:
                break
            output += chunk
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response,
            ):
                serving = response.status == 200
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)  # pty.fork made the child a session (and group) leader
        for _ in range(60):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.25)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode(errors="replace")
    assert "(Y/n)" not in text, text[-2000:]
    assert serving, text[-2000:]
    assert "Migrations to be applied" in text or "migrations" in text.lower(), text[-2000:]
