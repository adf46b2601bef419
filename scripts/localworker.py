"""Start and stop the Worker locally (``wrangler dev`` on 127.0.0.1, local D1) for tests, demo, bench.

One place knows how: ``worker-otlp-ingest/scripts/dev.sh`` applies the D1
migrations to a state directory and execs ``wrangler dev``; this module runs
it on a free port in its own process group, waits for ``/healthz``, and
stops exactly what it started (the process group it created, by PID).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "worker-otlp-ingest"


def rollup_cron() -> str:
    """The hourly cron string the Worker dispatches on (``src/jobs/cron.ts`` ROLLUP_CRON)."""
    source = (WORKER / "src" / "jobs" / "cron.ts").read_text(encoding="utf-8")
    found = re.search(r'export const ROLLUP_CRON = "([^"]+)"', source)
    if found is None:
        raise RuntimeError("ROLLUP_CRON not found in src/jobs/cron.ts")
    return found.group(1)


def free_port() -> int:
    """A currently free port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_environment() -> dict[str, str]:
    """PATH with Node 22 (from npm) first, and wrangler kept offline and out of $HOME."""
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x64"
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [
            str(WORKER / "node_modules" / f"node-linux-{arch}" / "bin"),
            str(WORKER / "node_modules" / ".bin"),
            env["PATH"],
        ]
    )
    env.update(
        WRANGLER_SEND_METRICS="false",
        CLOUDFLARE_CF_FETCH_ENABLED="false",
        WRANGLER_HIDE_BANNER="true",
        NO_UPDATE_NOTIFIER="1",
        XDG_CONFIG_HOME=str(WORKER / ".wrangler" / "xdg"),
    )
    return env


def serving(process: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    """Whether ``url`` answers 200 within ``timeout`` seconds while ``process`` is still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return True
        time.sleep(0.25)
    return False


def stop_process_group(process: subprocess.Popen[bytes] | None) -> None:
    """Stops a process started with ``start_new_session`` and its group (wrangler and its workerd).

    SIGTERM, then SIGKILL after 15 s; waits for it either way, so nothing is left running.
    """
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@dataclass
class LocalWorker:
    """A ``wrangler dev`` process with its own local D1 state; use as a context manager."""

    port: int = 0
    """The port on 127.0.0.1; 0: a free one, chosen again if another process binds it first."""
    state_dir: Path | None = None
    """Where local D1 lives; a fresh temporary directory (removed at stop) when None."""
    stats_min_installations: int | None = None
    rollup_on_read: bool = True
    """Stats reads first take in what was sent (ROLLUP_ON_READ); False: only ``refresh()``, as deployed."""
    established: str = "1/0"
    """STATS_ESTABLISHED: every installation counts at once (local default); "3/7" as deployed."""
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    _any_port: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._any_port = self.port == 0
        if self._any_port:
            self.port = free_port()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The OTLP metrics endpoint."""
        return f"{self.base_url}/v1/metrics"

    @property
    def pid(self) -> int | None:
        """The wrangler process (and process group) started here."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 180.0) -> LocalWorker:
        """Start and wait until ``/healthz`` answers; raises RuntimeError with the log tail on failure."""
        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="voicemode-worker-")
            self.state_dir = Path(self._tmp.name)
        if self.log_path is None:
            self.log_path = self.state_dir / "wrangler.log"
        env = node_environment()
        env["PERSIST_TO"] = str(self.state_dir)
        if self.stats_min_installations is not None:
            env["STATS_MIN_INSTALLATIONS"] = str(self.stats_min_installations)
        env["ROLLUP_ON_READ"] = "1" if self.rollup_on_read else "0"
        env["STATS_ESTABLISHED"] = self.established
        # A free port is free only until someone binds it: another server of the same test
        # run may take it between free_port() and wrangler's bind. Then a port of our own
        # choosing is chosen again (a port the caller gave is not).
        for attempt in range(3):
            with self.log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    [str(WORKER / "scripts" / "dev.sh"), str(self.port)],
                    cwd=WORKER,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop() ends wrangler and workerd
                )
            if serving(self._process, f"{self.base_url}/healthz", timeout):
                return self
            tail = self.log_path.read_text(errors="replace")[-3000:]
            if not (self._any_port and attempt < 2 and "Address already in use" in tail):
                break
            stop_process_group(self._process)
            self.port = free_port()
        self.stop()
        raise RuntimeError(f"the local Worker did not start on port {self.port}:\n{tail}")

    def stop(self) -> None:
        """Stop the process group started here and wait for it; remove a temporary state dir."""
        process, self._process = self._process, None
        stop_process_group(process)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.state_dir = None

    def database_file(self) -> Path:
        """The local D1 database (a SQLite file miniflare keeps under the state directory)."""
        assert self.state_dir is not None, "not started"
        found = [
            path
            for path in (self.state_dir / "v3" / "d1" / "miniflare-D1DatabaseObject").glob("*.sqlite")
            if path.name != "metadata.sqlite"
        ]
        if len(found) != 1:
            raise RuntimeError(f"expected one local D1 database, found {found}")
        return found[0]

    def query(self, sql: str, parameters: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only SQL query against the local D1 database (opened read-only)."""
        uri = f"file:{self.database_file()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql, parameters)]

    def logged_requests(self, method: str, path: str) -> int:
        """How many ``METHOD path`` requests wrangler logged (it logs every request it serves)."""
        assert self.log_path is not None
        needle = f"] {method} {path} "
        return sum(1 for line in self.log_path.read_text(errors="replace").splitlines() if needle in line)

    def get_json(self, path: str) -> Any:
        """GET ``path`` and decode the JSON body."""
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=30) as response:
            return json.loads(response.read())

    def refresh(self, cron: str | None = None) -> str:
        """Runs the Worker's scheduled handler now (wrangler dev's ``/cdn-cgi/local/scheduled``).

        With ``cron`` None it runs what the daily trigger runs: retention, then the
        rollup job and the history; with the hourly trigger's string (``src/jobs/cron.ts`` ROLLUP_CRON), the
        rollup only. ``stats()`` needs no refresh unless ``rollup_on_read`` is False: the
        Worker then brings its rollups up to date before every stats read.
        """
        query = "" if cron is None else "?" + urllib.parse.urlencode({"cron": cron})
        with urllib.request.urlopen(
            f"{self.base_url}/cdn-cgi/local/scheduled{query}", timeout=3600
        ) as response:
            return str(response.read().decode())

    def stats(self, days: int = 30) -> dict[str, Any]:
        """``GET /v1/stats?days=N`` (up to date with every report sent: see ``refresh``)."""
        result: dict[str, Any] = self.get_json(f"/v1/stats?days={days}")
        return result

    def __enter__(self) -> LocalWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
