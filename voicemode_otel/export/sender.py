"""The consent-gated OTLP sender: one report out, one attempt, one outcome back.

``http/protobuf`` (the default, and all VoiceMode's own endpoint ever gets) is
the official ``OTLPMetricExporter``'s HTTP, given a session of our own
(``http_attempt.PinnedSession``, through the exporter's public ``session=``):

* one request per run, asked for consent immediately before it leaves, so an
  opt-out that lands mid-send stops it; the exporter's internal retries are
  refused (the delivery state machine is the retry policy) and its backoff
  sleep is cut short by ``shutdown()``;
* the whole attempt bounded by the configured timeout (``http_attempt.run``);
* a response hook that reads the status code, ``Retry-After`` and the
  ``ExportMetricsServiceResponse`` through public ``requests`` APIs — the
  exporter's boolean result cannot tell "retry later" from "never again".

``http/json`` (for a user's own endpoint; the Python SDK has no OTLP/JSON
exporter) posts the OTLP/JSON mapping of the same request — the document
``preview`` and the log show — through the same pinned session and bounds.
``grpc`` is :mod:`voicemode_otel.export.grpc_sender`, imported only when used.
"""

from __future__ import annotations

import gzip
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import replace

import requests
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.version import __version__ as exporter_version
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics.export import MetricsData

from voicemode_otel.export import attempt as http_attempt
from voicemode_otel.export import proxies
from voicemode_otel.export.attempt import ConsentWithdrawn
from voicemode_otel.export.config import ExportSettings
from voicemode_otel.export.errors import printable, through
from voicemode_otel.export.outcome import (
    SendResult,
    delivered,
    misdirection,
    retry_after_seconds,
    server_time,
)
from voicemode_otel.report import otlp_json

_log = logging.getLogger(__name__)

__all__ = [
    "ConsentWithdrawn",
    "ReportSender",
    "SendResult",
    "abort_all",
    "data_points",
    "retry_after_seconds",
    "server_time",
]

_COMPRESSION = {"gzip": Compression.Gzip, "none": Compression.NoCompression}
_USER_AGENT = f"OTel-OTLP-Exporter-Python/{exporter_version}"
_CONTENT_TYPES = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}
_ACTIVE: weakref.WeakSet[ReportSender] = weakref.WeakSet()


def abort_all() -> None:
    """Abort every send in progress (process exit must not wait on a slow endpoint)."""
    for active in list(_ACTIVE):
        active.abort()


def data_points(metrics: MetricsData) -> int:
    """How many data points a report carries (to tell a refusal of all of them from a partial one)."""
    return sum(
        len(metric.data.data_points)
        for resource in metrics.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )


def _partial_success(response: requests.Response) -> tuple[int, str]:
    """Rejected point count and message from an ``ExportMetricsServiceResponse``, if any."""
    body = response.content or b""
    if not body:
        return 0, ""
    try:
        if "json" in response.headers.get("content-type", ""):
            partial = response.json().get("partialSuccess") or {}
            return int(partial.get("rejectedDataPoints", 0) or 0), str(partial.get("errorMessage", ""))
        message = ExportMetricsServiceResponse()
        message.ParseFromString(body)
        return message.partial_success.rejected_data_points, message.partial_success.error_message
    except Exception:  # a foreign backend's odd body must not turn a 200 into a failure
        return 0, ""


class ReportSender:
    """Sends ``MetricsData`` over the configured protocol, once, and classifies the result."""

    def __init__(self, settings: ExportSettings, allowed: Callable[[], bool]) -> None:
        if not settings.endpoint:
            raise ValueError("no endpoint configured")
        self._settings = settings
        self._endpoint: str = settings.endpoint
        self._allowed = allowed
        self._lock = threading.Lock()
        self._attempt: http_attempt.Attempt | None = None

    def send(self, metrics: MetricsData) -> SendResult:
        """One request, bounded by the timeout whatever the server does; never raises."""
        settings = self._settings
        attempt = http_attempt.Attempt(self._endpoint, settings.timeout_seconds, self._allowed)
        if settings.protocol == "grpc":
            from voicemode_otel.export import grpc_sender  # grpcio: only for a user who asked for gRPC

            work = grpc_sender.exchange(attempt, settings, encode_metrics(metrics), data_points(metrics))
        elif settings.protocol == "http/json":
            work = self._post_json(attempt, metrics)
        else:
            work = self._export(attempt, metrics)
        with self._lock:
            self._attempt = attempt
        _ACTIVE.add(self)
        try:
            answer = http_attempt.run(attempt, work)
        finally:
            _ACTIVE.discard(self)
            with self._lock:
                self._attempt = None
        if answer.withdrawn:
            return SendResult("withdrawn", None, answer.cause)
        if isinstance(answer.result, SendResult):
            return answer.result
        if answer.response is None:
            return SendResult("retry", None, answer.cause)
        return self._classify(answer.response, data_points(metrics))

    def _export(self, attempt: http_attempt.Attempt, metrics: MetricsData) -> Callable[[], None]:
        """http/protobuf through the official exporter and the pinned session."""
        settings = self._settings

        def export() -> None:
            session = http_attempt.PinnedSession(attempt, settings, self._format_headers())
            attempt.add_cleanup(session.close)
            exporter = OTLPMetricExporter(
                endpoint=self._endpoint,
                certificate_file=settings.certificate_file,
                client_certificate_file=settings.client_certificate_file,
                client_key_file=settings.client_key_file,
                headers=settings.headers,
                timeout=settings.timeout_seconds,
                compression=_COMPRESSION[settings.compression],
                session=session,
            )
            # After the one request, shutdown() ends the exporter's backoff wait at once.
            attempt.add_cleanup(exporter.shutdown)
            exporter.export(metrics)

        return export

    def _post_json(self, attempt: http_attempt.Attempt, metrics: MetricsData) -> Callable[[], None]:
        """http/json: the OTLP/JSON mapping of the same request, posted once through the pinned session."""
        settings = self._settings

        def post() -> None:
            body = otlp_json.to_json(encode_metrics(metrics)).encode("utf-8")
            if settings.compression == "gzip":
                body = gzip.compress(body)
            session = http_attempt.PinnedSession(attempt, settings, self._format_headers())
            attempt.add_cleanup(session.close)
            session.post(self._endpoint, data=body, timeout=settings.timeout_seconds, allow_redirects=False)

        return post

    def _format_headers(self) -> dict[str, str]:
        """The headers the OTLP/HTTP request format needs, as the exporter itself would set them."""
        content_type = _CONTENT_TYPES[self._settings.protocol]
        headers = {"Content-Type": content_type, "User-Agent": _USER_AGENT}
        if self._settings.compression == "gzip":  # the body is compressed to match
            headers["Content-Encoding"] = "gzip"
        return headers

    def abort(self) -> None:
        """End the attempt at once (used at process exit): its sockets are shut, nothing new starts."""
        with self._lock:
            attempt = self._attempt
        if attempt is not None:
            attempt.expire("interrupted: the process is exiting")

    def _classify(self, response: requests.Response, points: int) -> SendResult:
        result = replace(self._judge(response, points), server_time=server_time(response.headers.get("date")))
        proxy = proxies.for_url(self._endpoint)
        if proxy is None or result.outcome in ("delivered", "refused"):
            return result
        # A 502 or a 407 may be the proxy's own answer: say the request went through one.
        return replace(result, detail=f"{result.detail} {through(proxy)}")

    def _judge(self, response: requests.Response, points: int) -> SendResult:
        status = response.status_code
        reason = printable(response.reason or "", 80)
        if 200 <= status < 300:
            return delivered(status, *_partial_success(response), points)
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status in (408, 429) or status >= 500:
            return SendResult("retry", status, f"{status} {reason}".strip(), retry_after)
        wrong = misdirection(status, self._settings.users_own)
        if wrong is not None:
            return SendResult("misdirected", status, wrong, retry_after)
        # A refusal that judges the data (400, 413, ...) will fail the same way again:
        # log it and move on rather than retry forever.
        return SendResult("dropped", status, f"{status} {reason}".strip())
