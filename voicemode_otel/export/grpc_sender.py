"""OTLP/gRPC to a user's own endpoint (``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``, the ``grpc`` extra).

The official gRPC exporter's ``export()`` retries inside (up to six calls,
with backoff, until its deadline) and answers SUCCESS or FAILURE only, while
the delivery state machine needs exactly one call and its status code:
UNAVAILABLE means later, UNIMPLEMENTED a wrong URL, INVALID_ARGUMENT a refused
report. So the one call is made here with what that exporter itself uses —
the generated ``MetricsServiceStub`` of ``opentelemetry-proto``, the same
encoder (the stored report's exact request), the exporter's user agent — with
TLS credentials built from the resolved files and the resolved headers as
metadata, nothing read from the environment on the side. It runs inside an
``http_attempt.Attempt`` like an HTTP send: consent is asked right before the
call, the whole exchange is bounded by the timeout, and closing the channel at
the deadline (or at process exit) cancels the call.

Imported only on the reporter thread, and only when gRPC was asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import grpc
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.grpc.version import __version__ as exporter_version
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub

from voicemode_otel.export import proxies
from voicemode_otel.export.attempt import Attempt
from voicemode_otel.export.config import ExportSettings
from voicemode_otel.export.errors import duration, printable, through
from voicemode_otel.export.outcome import MAX_RETRY_AFTER_SECONDS, SendResult, credentials_hint, delivered

USER_AGENT = f"OTel-OTLP-Exporter-Python/{exporter_version}"
"""The official gRPC exporter's (``grpc.primary_user_agent``): the same request as it would make."""
_Code = grpc.StatusCode
WRONG_URL = frozenset({_Code.UNIMPLEMENTED, _Code.NOT_FOUND})
"""No MetricsService there (another service, another port): the URL is wrong, not the data."""
WRONG_CREDENTIALS = frozenset({_Code.UNAUTHENTICATED, _Code.PERMISSION_DENIED})
REFUSED = frozenset({_Code.INVALID_ARGUMENT, _Code.FAILED_PRECONDITION, _Code.ALREADY_EXISTS})
"""The report itself is refused: the same bytes would be refused again. Every other code is
"later" (the OTLP specification's retryable codes, RESOURCE_EXHAUSTED, and the server errors)."""


def target(endpoint: str) -> str:
    """``host:port`` for the channel; the port of the scheme when the URL names none."""
    parts = urlsplit(endpoint)
    host = parts.netloc.rsplit("@", 1)[-1]
    if parts.port is None:
        host = f"{host.rstrip(':')}:{443 if parts.scheme == 'https' else 80}"
    return host


def _credentials(settings: ExportSettings) -> grpc.ChannelCredentials:
    """TLS from the resolved files only (the system's trust store when no CA file is set)."""

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as handle:  # noqa: PTH123 - checked readable when resolved
            return handle.read()

    client = settings.client_certificate_file and settings.client_key_file
    return grpc.ssl_channel_credentials(
        root_certificates=read(settings.certificate_file),
        private_key=read(settings.client_key_file) if client else None,
        certificate_chain=read(settings.client_certificate_file) if client else None,
    )


def _retry_delay(error: grpc.Call) -> float | None:
    """A ``google.rpc.RetryInfo`` trailer (gRPC's Retry-After), in seconds."""
    for key, value in error.trailing_metadata() or ():
        if key == "google.rpc.retryinfo-bin" and isinstance(value, bytes):
            info = RetryInfo()
            try:
                info.ParseFromString(value)
            except Exception:  # a hostile trailer is no Retry-After
                return None
            seconds = float(info.retry_delay.seconds) + float(info.retry_delay.nanos) / 1e9
            return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
    return None


def classify(
    error: grpc.RpcError, settings: ExportSettings, timeout: float, proxy: proxies.Proxy | None = None
) -> SendResult:
    """The outcome of a failed call, by its status code; a refused connection names who refused it."""
    call = error if isinstance(error, grpc.Call) else None
    code = call.code() if call is not None else _Code.UNKNOWN
    details = printable(call.details() or "", 160) if call is not None else ""
    name = code.name
    if code in WRONG_URL:
        return SendResult("misdirected", None, f"the endpoint answered {name}: is the URL right?")
    if code in WRONG_CREDENTIALS:
        return SendResult("misdirected", None, credentials_hint(name, settings.users_own))
    if code in REFUSED:
        return SendResult("dropped", None, f"{name}: {details}".rstrip(": "))
    if code is _Code.DEADLINE_EXCEEDED:
        return SendResult("retry", None, f"timed out after {duration(timeout)}")
    wait = _retry_delay(call) if call is not None else None
    if code is _Code.UNAVAILABLE and "connection refused" in details.lower():
        endpoint = target(settings.endpoint or "")
        if proxy is None:
            return SendResult("retry", None, f"connection refused by {endpoint}", wait)
        # Through an HTTP CONNECT proxy, the only TCP connection is the one to the proxy.
        refused = (
            f"connection refused by {proxy.where} (the proxy from {proxy.variable}, on the way to {endpoint})"
        )
        return SendResult("retry", None, refused, wait)
    if proxy is not None:
        details = f"{details} {through(proxy)}".strip()
    return SendResult("retry", None, f"{name}: {details}".rstrip(": "), wait)


def exchange(
    attempt: Attempt, settings: ExportSettings, request: ExportMetricsServiceRequest, points: int
) -> Callable[[], None]:
    """The work of one attempt: open a channel, ask consent, make the one ``Export`` call.

    ``points`` is how many data points ``request`` carries, so that a partial success
    refusing all of them reads as ``refused``, as over HTTP.
    """

    def work() -> None:
        endpoint = settings.endpoint or ""
        options: list[tuple[str, str | int]] = [("grpc.primary_user_agent", USER_AGENT)]
        # The proxy requests would take, given explicitly: gRPC reads the variables its own
        # way (it ignores HTTP_PROXY in upper case), and status shows requests' reading.
        proxy = proxies.for_url(endpoint)
        options.append(("grpc.http_proxy", proxy.url) if proxy else ("grpc.enable_http_proxy", 0))
        compression = (
            grpc.Compression.Gzip if settings.compression == "gzip" else grpc.Compression.NoCompression
        )
        if urlsplit(endpoint).scheme == "https":
            channel = grpc.secure_channel(target(endpoint), _credentials(settings), options, compression)
        else:
            channel = grpc.insecure_channel(target(endpoint), options, compression)
        attempt.add_cleanup(channel.close)  # at the deadline or at exit: cancels the call
        attempt.admit()
        remaining = max(0.001, attempt.deadline - time.monotonic())
        try:
            stub = MetricsServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
            response, _ = stub.Export.with_call(
                request, metadata=tuple(settings.headers.items()), timeout=remaining
            )
        except grpc.RpcError as error:
            attempt.concluded(classify(error, settings, attempt.timeout, proxy))
            return
        partial = response.partial_success
        attempt.concluded(delivered(None, partial.rejected_data_points, partial.error_message, points))

    return work
