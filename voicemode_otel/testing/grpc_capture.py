"""A real OTLP/gRPC metrics receiver on 127.0.0.1 that records what arrives (needs the ``grpc`` extra).

The gRPC twin of :mod:`voicemode_otel.testing.capture`, for tests (ours and a
host's): a ``grpcio`` server implementing the OpenTelemetry
``MetricsService`` from ``opentelemetry-proto``. It answers from a script of
behaviours — success (with an optional ``partial_success``), any status code
(with an optional ``google.rpc.RetryInfo`` delay), a slow reply — and keeps
each call's metadata (the gRPC form of HTTP headers) and decoded
``ExportMetricsServiceRequest``, so a test can assert exactly what was sent
and to whom a header went.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)


@dataclass(frozen=True)
class GrpcBehaviour:
    """How to answer one call."""

    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""
    retry_delay_seconds: int | None = None
    """Sent as a ``google.rpc.RetryInfo`` trailer (gRPC's Retry-After) with a failure code."""
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's deadline = a timeout)."""
    response: ExportMetricsServiceResponse | None = None


GRPC_OK = GrpcBehaviour()


@dataclass(frozen=True)
class GrpcCaptured:
    """One ``Export`` call as it arrived."""

    metadata: dict[str, str]
    """Every metadata entry (keys are lower case in gRPC), ``user-agent`` included."""
    request: ExportMetricsServiceRequest
    committed: bool
    """The call succeeded (status OK)."""
    peer_identities: tuple[bytes, ...] = ()
    """The client certificate's identities when it presented one over TLS."""


@dataclass
class GrpcCaptureServer:
    """Start with :meth:`start` (or as a context manager); ``url`` is the gRPC endpoint."""

    script: list[GrpcBehaviour] = field(default_factory=list)
    default: GrpcBehaviour = GRPC_OK
    captured: list[GrpcCaptured] = field(default_factory=list)
    credentials: grpc.ServerCredentials | None = None
    """Serve TLS with these (``grpc.ssl_server_credentials``); plain HTTP/2 when None."""
    _server: grpc.Server | None = None
    _port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with TLS): an OTLP/gRPC endpoint has no path."""
        return f"{'https' if self.credentials else 'http'}://127.0.0.1:{self.port}"

    def answer(self, *behaviours: GrpcBehaviour) -> None:
        """Queue behaviours for the next calls (then ``default``)."""
        with self._lock:
            self.script.extend(behaviours)

    def _next(self) -> GrpcBehaviour:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def requests(self) -> Iterator[ExportMetricsServiceRequest]:
        """The decoded requests, in arrival order."""
        return (item.request for item in self.captured)

    def start(self) -> GrpcCaptureServer:
        """Bind 127.0.0.1 on a free port and serve on a small thread pool."""
        capture = self

        class Servicer(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(
                self, request: ExportMetricsServiceRequest, context: grpc.ServicerContext
            ) -> ExportMetricsServiceResponse:
                behaviour = capture._next()
                metadata = {
                    key: value if isinstance(value, str) else value.hex()
                    for key, value in context.invocation_metadata()
                }
                # grpcio gives each auth property as a list of bytes (the stubs say bytes).
                names: Iterable[bytes] = context.auth_context().get("x509_common_name", [])  # type: ignore[assignment]
                identities = tuple(names)
                ok = behaviour.code is grpc.StatusCode.OK
                copy = ExportMetricsServiceRequest()
                copy.CopyFrom(request)
                with capture._lock:
                    capture.captured.append(GrpcCaptured(metadata, copy, ok, identities))
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                if not ok:
                    if behaviour.retry_delay_seconds is not None:
                        info = RetryInfo()
                        info.retry_delay.seconds = behaviour.retry_delay_seconds
                        trailer = (("google.rpc.retryinfo-bin", info.SerializeToString()),)
                        context.set_trailing_metadata(trailer)
                    context.abort(behaviour.code, behaviour.details)
                return behaviour.response or ExportMetricsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Servicer(), server)  # type: ignore[no-untyped-call]
        if self.credentials is None:
            self._port = server.add_insecure_port("127.0.0.1:0")
        else:
            self._port = server.add_secure_port("127.0.0.1:0", self.credentials)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving at once (calls in progress are cancelled) and wait for it."""
        if self._server is not None:
            self._server.stop(grace=None).wait(10)
            self._server = None

    def __enter__(self) -> GrpcCaptureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
