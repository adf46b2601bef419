"""An opt-out while a report is on the wire: no row of the ID survives, whoever reaches the Worker first.

`voicemode-otel send` and `voicemode-otel disable` run as two real processes against the
real Worker (`wrangler dev`, local D1), through a relay on 127.0.0.1 that holds the report's
POST on its way — a slow network — while a DELETE passes at once. Before, `disable`
erased at once: its DELETE reached the Worker first, the report landed after "deleted
every row" and stayed for 90 days. Now `disable` waits for the send in progress (the
delivery lock) and the Worker refuses any report of an erased ID.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import SCRIPT
from localworker import LocalWorker

from voicemode_otel import testing
from voicemode_otel.delivery import erasure
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths

pytestmark = pytest.mark.e2e


@dataclass
class HoldingRelay:
    """Forwards POST and DELETE to ``upstream``; while ``holding``, a POST waits for :meth:`release`.

    ``events`` lists what happened, in order: ``POST arrived``, ``POST answered <status>``
    (the Worker's answer, after it stored or refused), ``DELETE answered <status>``.
    """

    upstream_port: int
    holding: bool = False
    events: list[str] = field(default_factory=list)
    post_arrived: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def metrics_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/metrics"

    def note(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def release(self) -> None:
        self._release.set()

    def start(self) -> HoldingRelay:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "POST":
                    relay.note("POST arrived")
                    relay.post_arrived.set()
                    if relay.holding:
                        relay._release.wait(120)
                upstream = http.client.HTTPConnection("127.0.0.1", relay.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body, headers)
                answer = upstream.getresponse()
                payload = answer.read()
                relay.note(f"{self.command} answered {answer.status}")
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

            do_POST = _forward
            do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def worker() -> Iterator[LocalWorker]:
    with LocalWorker(stats_min_installations=1) as started:
        yield started


@pytest.fixture
def relay(worker: LocalWorker) -> Iterator[HoldingRelay]:
    started = HoldingRelay(worker.port).start()
    yield started
    started.stop()


def _cli(base: Path, endpoint: str, *args: str) -> subprocess.Popen[str]:
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(base),
        "VOICEMODE_TELEMETRY_ENDPOINT": endpoint,
    }
    return subprocess.Popen(
        [SCRIPT, *args], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _rows_of(worker: LocalWorker, telemetry_id: str) -> dict[str, int]:
    """Rows naming the ID in every D1 table."""
    found = {}
    for table in [r["name"] for r in worker.query("SELECT name FROM sqlite_master WHERE type = 'table'")]:
        if table.startswith(("sqlite_", "_cf_", "d1_")):
            continue
        rows = worker.query(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from sqlite_master
        hits = sum(1 for row in rows if any(telemetry_id in str(value) for value in row.values()))
        if hits:
            found[table] = hits
    return found


def test_disable_during_a_slow_send_leaves_no_row_of_the_id(
    worker: LocalWorker, relay: HoldingRelay, tmp_path: Path
) -> None:
    """The report held on the wire during `disable` is erased with the rest: no row names the ID after."""
    now = datetime.now(timezone.utc)
    paths = Paths(tmp_path / "racer")
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": relay.metrics_url}
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=50))
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    writer.session((now - timedelta(hours=40)).astimezone(testing.PACIFIC), 4)
    writer.session((now - timedelta(hours=10)).astimezone(testing.PACIFIC), 6)
    first = delivery.run(
        delivery.RunConfig(paths, environ=environ, clock=lambda: now - timedelta(hours=25), force=True)
    )
    assert first.outcome is delivery.Outcome.DELIVERED, first.message
    telemetry_id = paths.telemetry_id.read_text().strip()
    assert _rows_of(worker, telemetry_id)

    relay.holding = True
    relay.post_arrived.clear()
    sender = _cli(paths.base, relay.metrics_url, "send")
    assert relay.post_arrived.wait(60), "the second report never left"
    disabling = _cli(paths.base, relay.metrics_url, "disable")
    # Give `disable` time to race ahead, as it did before (now it waits for the send in
    # progress); then let the report through.
    with contextlib.suppress(subprocess.TimeoutExpired):
        disabling.wait(timeout=3)
    relay.release()
    disabled, _ = disabling.communicate(timeout=120)
    sent, _ = sender.communicate(timeout=120)

    assert disabling.returncode == 0, disabled
    assert "deleted every row of this installation" in disabled, disabled
    assert sender.returncode in (0, 1), sent
    # What the client promised holds on the Worker: no row names the ID, nothing is owed.
    assert _rows_of(worker, telemetry_id) == {}
    assert erasure.load(paths) == []
    # And the client did it in the right order: its last DELETE came after the report's answer.
    order = [event for event in relay.events[2:] if not event.startswith("POST arrived")]
    assert order[-1] == "DELETE answered 204", relay.events
    assert "POST answered 200" in order, relay.events


@dataclass
class SlowServer:
    """An OTLP receiver on 127.0.0.1 answering each POST after ``delay`` seconds, each DELETE at once."""

    delay: float
    events: list[str] = field(default_factory=list)
    first_post: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def metrics_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/metrics"

    def start(self) -> SlowServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.events.append(f"{self.command} arrived")
                if self.command == "POST":
                    server.first_post.set()
                    time.sleep(server.delay)
                with server._lock:
                    server.events.append(f"{self.command} answered")
                self.send_response(200 if self.command == "POST" else 204)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = _answer
            do_DELETE = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def test_a_forget_that_cannot_wait_out_a_backlog_erases_again_after_the_report_in_flight(
    tmp_path: Path,
) -> None:
    """`forget` waits at most one send; a report still on its way then is erased again once answered.

    Three weeks of reports go out one by one, each answered after 4.5 s; `forget` starts
    with the first and waits its 7 s (5 s timeout + 2 s), so it gives the ID up while the
    second is on the wire. The sender sends nothing more for the ID and asks for its
    erasure again after that report's answer: the server's last word on the ID is a DELETE.
    """
    server = SlowServer(delay=4.5).start()
    try:
        paths = Paths(tmp_path / "backlog")
        environ = {
            "VOICEMODE_BASE_DIR": str(paths.base),
            "VOICEMODE_TELEMETRY_ENDPOINT": server.metrics_url,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
        }
        now = datetime.now(timezone.utc)
        preference.set_preference(paths, True, environ, now=now - timedelta(days=20))
        writer = testing.ConversationLogWriter(paths.conversations_dir)
        for day in range(19, 0, -1):
            writer.session((now - timedelta(days=day)).astimezone(testing.PACIFIC), 3)
        results: list[delivery.RunResult] = []
        sender = threading.Thread(
            target=lambda: results.append(delivery.run(delivery.RunConfig(paths, environ=environ)))
        )
        sender.start()
        assert server.first_post.wait(60)
        forgotten = erasure.forget(paths, environ)
        sender.join(120)
        assert not sender.is_alive()
        [result] = results
        assert result.outcome is delivery.Outcome.WITHDRAWN, result.message
        assert "given up while its report was on its way" in result.message
        assert "deleted every row" in result.message
        assert forgotten.ok, forgotten.describe()
        events = server.events
        first_delete = events.index("DELETE arrived")
        assert "POST arrived" not in events[first_delete:], events  # nothing more sent for the ID
        assert events[-1] == "DELETE answered", events
        assert events.count("DELETE answered") == 2, events
        assert erasure.load(paths) == []
        assert not paths.telemetry_id.exists()
    finally:
        server.stop()
