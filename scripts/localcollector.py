"""Start and stop the project's own OpenTelemetry Collector (``build/otelcol-voicemode``) for tests.

``make collector`` builds the binaries from ``collector/`` (Go modules); where it cannot
(no Go), it leaves ``build/collector.unavailable`` with the reason, which
:func:`unavailable_reason` returns so a test can say why it is skipped. A
:class:`LocalCollector` runs one binary on a config (plus optional overlay files, merged by
the Collector as repeated ``--config``), with its receivers on free loopback ports, waits
until it says it is ready, and stops exactly the process it started.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from localworker import free_port

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
MAIN_BINARY = BUILD / "otelcol-voicemode"
PROMETHEUS_BINARY = BUILD / "otelcol-voicemode-prometheus"
UNAVAILABLE = BUILD / "collector.unavailable"
READY = "Everything is ready. Begin running and processing data."


def unavailable_reason(binary: Path = MAIN_BINARY) -> str | None:
    """Why ``binary`` cannot be used here, or None when it is built and executable."""
    if UNAVAILABLE.exists():
        return UNAVAILABLE.read_text(encoding="utf-8").strip()
    if not os.access(binary, os.X_OK):
        target = "collector-prometheus" if binary.name.endswith("prometheus") else "collector"
        return f"{binary.relative_to(ROOT)} is not built (run: make {target})"
    return None


def run_command(
    binary: Path, *args: str, environ: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``binary args`` (``validate``, ``components``...) with ``environ`` only, and wait."""
    return subprocess.run(
        [str(binary), *args],
        env=dict(environ or {}),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=timeout,
    )


@dataclass
class LocalCollector:
    """One Collector process on ``configs`` (the first is the shipped file, later ones overlays)."""

    configs: Sequence[Path]
    environ: Mapping[str, str] = field(default_factory=dict)
    """Variables the configs read (USER_OTLP_ENDPOINT, ...); the receiver ports are set here."""
    binary: Path = MAIN_BINARY
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def metrics_url(self) -> str:
        """The OTLP/HTTP receiver's metrics endpoint."""
        return f"http://127.0.0.1:{self.http_port}/v1/metrics"

    @property
    def grpc_target(self) -> str:
        """The OTLP/gRPC receiver's ``host:port``."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        """The Collector process started here."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 120.0) -> LocalCollector:
        """Start and wait for the Collector's "ready" line; RuntimeError with the log on failure."""
        if self.log_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="voicemode-otelcol-")
            self.log_path = Path(self._tmp.name) / "otelcol.log"
        environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "VOICEMODE_COLLECTOR_HOST": "127.0.0.1",
            "VOICEMODE_COLLECTOR_HTTP_PORT": str(self.http_port),
            "VOICEMODE_COLLECTOR_GRPC_PORT": str(self.grpc_port),
            **self.environ,
        }
        arguments = [str(self.binary)]
        for config in self.configs:
            arguments.append(f"--config={config}")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                arguments,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            if READY in self.log():
                return self
            time.sleep(0.1)
        log_text = self.log()
        self.stop()
        raise RuntimeError(f"the Collector did not start:\n{log_text[-4000:]}")

    def log(self) -> str:
        """Everything the Collector has logged so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 60.0) -> list[str]:
        """Log lines matching ``pattern`` once there are at least ``count``; AssertionError on timeout."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log().splitlines() if compiled.search(line)]
            if len(lines) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(lines) >= count, f"{count} x {pattern!r} not logged:\n{self.log()[-4000:]}"
        return lines

    def stop(self) -> None:
        """SIGTERM the Collector (it drains and exits), SIGKILL after 20 s; always waited for."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)

    def kill(self) -> None:
        """SIGKILL the Collector, as a crash or power loss would end it (nothing is flushed)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)

    def close(self) -> None:
        """:meth:`stop`, then remove the temporary log directory."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.log_path = None

    def __enter__(self) -> LocalCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def prometheus_metrics(port: int) -> dict[str, float]:
    """The Collector's own metrics from its Prometheus pull reader: ``name{labels}`` -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values
