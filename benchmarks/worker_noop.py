"""Start and stop the benchmark's reference Workers (``benchmarks/noop-worker/``) like the real one.

``scripts/localworker.py`` starts the ingest Worker through ``worker-otlp-ingest/scripts/dev.sh``,
which runs ``wrangler dev --local --ip 127.0.0.1 --port N --persist-to DIR
--show-interactive-dev-session=false`` with the environment of ``node_environment()``.
:class:`BenchWorker` runs the same wrangler, with the same flags and environment, on
another config (no ``--env-file``: these Workers have no secret), in its own process
group, and stops exactly that group.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from localworker import free_port, node_environment, serving, stop_process_group

NOOP_DIR = Path(__file__).resolve().parent / "noop-worker"


@dataclass
class BenchWorker:
    """``wrangler dev --local`` of one config in ``benchmarks/noop-worker/``; a context manager."""

    config: str = "wrangler.jsonc"
    port: int = field(default_factory=free_port)
    state_dir: Path | None = None
    """Local state (D1, KV); a temporary directory, removed at stop, when None."""
    migrate: bool = False
    """Apply the DB binding's migrations first, as ``dev.sh`` does for the ingest Worker."""
    _process: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The wrangler process (and process group) started here."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 180.0) -> BenchWorker:
        """Start and wait until it answers; raises RuntimeError with the log tail on failure."""
        self._tmp = tempfile.TemporaryDirectory(prefix="voicemode-bench-worker-")
        state = str(self.state_dir or self._tmp.name)
        log_path = Path(self._tmp.name) / "wrangler.log"
        if self.migrate:
            subprocess.run(
                [
                    "wrangler",
                    "d1",
                    "migrations",
                    "apply",
                    "DB",
                    "--local",
                    "--persist-to",
                    state,
                    "--config",
                    self.config,
                ],
                cwd=NOOP_DIR,
                env=node_environment(),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        args = ["--local", "--ip", "127.0.0.1", "--port", str(self.port), "--persist-to", state]
        args += ["--show-interactive-dev-session=false", "--config", self.config]
        with log_path.open("wb") as log:
            self._process = subprocess.Popen(
                ["wrangler", "dev", *args],
                cwd=NOOP_DIR,
                env=node_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if serving(self._process, f"{self.base_url}/", timeout):
            return self
        tail = log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"{self.config} did not start on port {self.port}:\n{tail}")

    def stop(self) -> None:
        """Stop the process group started here (wrangler and its workerd) and wait for it."""
        process, self._process = self._process, None
        stop_process_group(process)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> BenchWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
