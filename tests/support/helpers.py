"""Small builders shared by tests (sessions, periods, resource attributes)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from voicemode_otel import testing
from voicemode_otel.contract import Period, ceil_hour
from voicemode_otel.delivery import run as delivery
from voicemode_otel.logs import Session
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths

SCRIPT = str(Path(sys.executable).parent / "voicemode-otel")

TEST_ID = "6f2b0c7e-3d4a-4e5f-9a1b-2c3d4e5f6a7b"
RESOURCE = {
    "service.name": "voicemode",
    "voicemode.telemetry.id": TEST_ID,
    "service.version": "8.12.0",
    "os.type": "linux",
    "voicemode.install.method": "uv-tool",
    "voicemode.mcp.host": "claude-code",
    "voicemode.exec.source": "mcp",
}
DAY = Period(datetime(2026, 11, 24, 16, tzinfo=timezone.utc), datetime(2026, 11, 25, 16, tzinfo=timezone.utc))


def session(
    duration: float = 120.0,
    exchanges: int = 3,
    *,
    transport: str = "local",
    tts: frozenset[str] = frozenset({"kokoro"}),
    stt: frozenset[str] = frozenset({"whisper-local"}),
    last: datetime | None = None,
    name: str = "conv_1",
) -> Session:
    """A session that completes inside :data:`DAY` unless ``last`` says otherwise."""
    end = last or DAY.start + timedelta(hours=2)
    return Session(name, end - timedelta(seconds=duration), end, exchanges, transport, tts, stt)


def cli(base: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``voicemode-otel`` console script on ``base`` with a clean environment, no stdin."""
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(base),
        **extra,
    }
    return subprocess.run(
        [SCRIPT, *args],
        env=environ,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=timeout,
    )


def due_report(paths: Paths, *, hours_ago: float = 30) -> None:
    """Opt in ``hours_ago`` and log one five-round session 6 hours ago: the first report is due."""
    now = datetime.now(timezone.utc)
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(hours=hours_ago)
    )
    testing.ConversationLogWriter(paths.conversations_dir).session(
        (now - timedelta(hours=6)).astimezone(testing.PACIFIC), 5
    )


def delivered_report(paths: Paths, endpoint: str, *, hours_ago: float = 30) -> str:
    """:func:`due_report`, delivered to ``endpoint`` by the real ``send``; the ID."""
    due_report(paths, hours_ago=hours_ago)
    result = cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=endpoint)
    assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
    return paths.telemetry_id.read_text().strip()


def make_certificate(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, made with openssl."""
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN=voicemode-test-{name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def send_over(
    paths: Paths,
    protocol: str,
    endpoint: str,
    *,
    variable: str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """The real ``voicemode-otel send`` to any OTLP endpoint (a capture server, a Collector, the Worker)."""
    return cli(paths.base, "send", **{variable: endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, **extra})


def logged_report(paths: Paths) -> ExportMetricsServiceRequest:
    """The one report the transparency log holds (what the user can read), as a decoded request."""
    import json

    from voicemode_otel.report import otlp_json
    from voicemode_otel.store import transparency

    [body] = [e["body"] for e in transparency.read(paths) if e["event"] == "pending"]
    return otlp_json.from_json(json.dumps(body))


def pty_read(fd: int, wait: float) -> bytes | None:
    """What a pseudo-terminal shows within ``wait`` seconds (``b""``: nothing yet); None once closed.

    Linux answers a read on a pty whose other side has exited with EIO, not an empty read.
    """
    import select

    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return b""
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return None
    return chunk or None


def pty_session(
    base: Path, keys: bytes | None, *args: str, columns: int = 80, rows: int = 24, **extra: str
) -> tuple[str, int]:
    """Run ``voicemode-otel ARGS`` on a real pseudo-terminal; answer the first-use prompt with ``keys``.

    ``keys`` None answers with Ctrl-D. Returns everything the terminal showed, and the exit code.
    """
    import fcntl
    import pty
    import struct
    import termios
    import time

    from voicemode_otel import cli as cli_module

    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(base),
        "TERM": "dumb",
        **extra,
    }
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execve(SCRIPT, [SCRIPT, *args], environ)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    output = b""
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk = pty_read(fd, 0.2)
        if chunk is None:
            break
        output += chunk
        if not sent and cli_module.PROMPT.strip().encode() in output:
            sent = True
            os.write(fd, b"\x04" if keys is None else keys)  # Ctrl-D: end of input
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return output.decode(errors="replace"), os.waitstatus_to_exitcode(status)


class DueUser:
    """An opted-in user with a day of sessions whose report is due, on a clock the test moves.

    ``settings`` are the user's variables (where the report goes, how); the clock starts
    25 hours after the sessions, so the first run has a report to send.
    """

    def __init__(self, paths: Paths, **settings: str) -> None:
        self.paths = paths
        self.environ = {"VOICEMODE_BASE_DIR": str(paths.base), **settings}
        self.now = datetime(2026, 11, 20, 9, 17, tzinfo=timezone.utc)
        preference.set_preference(paths, True, self.environ, now=self.now)
        self.now = ceil_hour(self.now)
        writer = testing.ConversationLogWriter(paths.conversations_dir)
        writer.session((self.now + timedelta(hours=2)).astimezone(testing.PACIFIC), 4)
        self.now += timedelta(hours=25)

    def run(self) -> delivery.RunResult:
        return delivery.run(delivery.RunConfig(self.paths, environ=self.environ, clock=lambda: self.now))
