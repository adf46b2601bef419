"""A tiny OTLP/HTTP metrics receiver on 127.0.0.1 that records and decodes what arrives.

For tests (ours and a host's): it answers from a script of behaviours —
success, any status with headers, a slow reply, a hang past the client's
timeout, or "commit then drop the connection before replying" — and keeps
every request's headers, raw body, decompressed body, the client certificate
it presented (over TLS) and the decoded ``ExportMetricsServiceRequest``
(from protobuf or OTLP/JSON, by ``Content-Type``) so a test can assert
exactly what was sent.
Like the Worker it treats ``(telemetry id, period)`` as a report's identity,
so "counted exactly once" can be checked across retries.
"""

from __future__ import annotations

import contextlib
import gzip
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)


@dataclass(frozen=True)
class Behaviour:
    """How to answer one request."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client timeout = a timeout)."""
    drop_connection: bool = False
    """Record the request as committed, then close the socket without any reply."""
    body: bytes | None = None


OK = Behaviour()


@dataclass(frozen=True)
class Captured:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    """Names lower-cased (HTTP header names are case-insensitive)."""
    raw_body: bytes
    body: bytes
    """After undoing ``Content-Encoding``."""
    committed: bool
    """The server counted it (2xx or dropped-after-commit)."""
    client_certificate: dict[str, Any] | None = None
    """The certificate the client presented over TLS (``getpeercert()``); None if none or plain HTTP."""

    @property
    def is_json(self) -> bool:
        """The body is OTLP/JSON (``Content-Type: application/json``), not protobuf."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"

    def request(self) -> ExportMetricsServiceRequest:
        """The decoded OTLP request, from protobuf or OTLP/JSON as the ``Content-Type`` says."""
        if self.is_json:
            from voicemode_otel.report import from_json

            return from_json(self.body)
        return ExportMetricsServiceRequest.FromString(self.body)

    def report_keys(self) -> list[tuple[str, int, int]]:
        """``(telemetry id, period start, period end)`` of each resource in the request."""
        keys = []
        for entry in self.request().resource_metrics:
            attributes = {a.key: a.value.string_value for a in entry.resource.attributes}
            times = {
                (p.start_time_unix_nano, p.time_unix_nano)
                for scope in entry.scope_metrics
                for metric in scope.metrics
                for p in (
                    metric.histogram.data_points if metric.HasField("histogram") else metric.sum.data_points
                )
            }
            for start, end in times:
                keys.append((attributes.get("voicemode.telemetry.id", ""), start, end))
        return keys


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


@dataclass
class CaptureServer:
    """Start with :meth:`start` (or as a context manager); ``url`` is the metrics endpoint."""

    script: list[Behaviour] = field(default_factory=list)
    default: Behaviour = OK
    captured: list[Captured] = field(default_factory=list)
    connections: int = 0
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this server-side context (for certificate tests)."""
    routes: tuple[str, ...] | None = None
    """Like a real receiver, answer 404 to any other path (None: serve all). A route ending in
    ``/`` is a prefix: ``("/v1/metrics", "/v1/installations/")`` is what the Worker serves."""
    clock: Callable[[], datetime] | None = None
    """The server's clock, stated in a ``Date`` header; None: no ``Date`` (a server without a clock,
    as RFC 9110 allows), so tests that move the client's clock are not judged by the real one."""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with ``tls``)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OTLP metrics endpoint."""
        return f"{self.base_url}/v1/metrics"

    def answer(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests (then ``default``)."""
        with self._lock:
            self.script.extend(behaviours)

    def _next(self) -> Behaviour:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def committed_reports(self) -> list[tuple[str, int, int]]:
        """Distinct reports the server stored (idempotent by id and period, as the Worker is)."""
        seen: list[tuple[str, int, int]] = []
        for item in self.captured:
            if item.committed:
                seen.extend(key for key in item.report_keys() if key not in seen)
        return seen

    def start(self) -> CaptureServer:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def send_response(self, code: int, message: str | None = None) -> None:
                """As the standard handler, with ``Date`` only from ``capture.clock``."""
                self.send_response_only(code, message)
                self.send_header("Server", self.version_string())
                if capture.clock is not None:
                    self.send_header("Date", format_datetime(capture.clock(), usegmt=True))

            def handle(self) -> None:
                # A client that gave up (a timeout test, an aborted exit) closes the socket
                # while we answer: that is the scenario under test, not a server error.
                with contextlib.suppress(ConnectionError):
                    super().handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                routed = capture.routes is None or any(
                    path == route or (route.endswith("/") and path.startswith(route))
                    for route in capture.routes
                )
                behaviour = capture._next() if routed else Behaviour(404, body=b"404 page not found\n")
                try:
                    body = _decompress(raw, self.headers.get("Content-Encoding", ""))
                except (OSError, zlib.error):
                    body = b""
                committed = behaviour.drop_connection or 200 <= behaviour.status < 300
                peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
                item = Captured(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    raw,
                    body,
                    committed,
                    peer or None,
                )
                with capture._lock:
                    capture.captured.append(item)
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                if behaviour.drop_connection:
                    self.close_connection = True
                    self.connection.close()
                    return
                # Answered in the request's encoding, as the OTLP/HTTP specification asks.
                json_request = item.is_json
                payload = behaviour.body
                if payload is None:
                    success = b"{}" if json_request else ExportMetricsServiceResponse().SerializeToString()
                    payload = success if behaviour.status < 300 else b""
                self.send_response(behaviour.status)
                self.send_header(
                    "Content-Type", "application/json" if json_request else "application/x-protobuf"
                )
                for name, value in behaviour.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _handle
            do_DELETE = _handle

            def setup(self) -> None:
                super().setup()
                with capture._lock:
                    capture.connections += 1

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-capture", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def statuses(items: Iterable[Captured]) -> list[str]:
    """``METHOD path`` of each captured request, for readable assertions."""
    return [f"{item.method} {item.path}" for item in items]
