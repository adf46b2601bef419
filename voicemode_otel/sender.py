"""The consent-gated OTLP/HTTP exporter: one report out, one attempt, one outcome back.

The HTTP is the official ``OTLPMetricExporter``'s, given a session of our own
(``http_attempt.PinnedSession``, through the exporter's public ``session=``):

* one request per run, asked for consent immediately before it leaves, so an
  opt-out that lands mid-send stops it; the exporter's internal retries are
  refused (the delivery state machine is the retry policy) and its backoff
  sleep is cut short by ``shutdown()``;
* the whole attempt bounded by the configured timeout (``http_attempt.run``);
* a response hook that reads the status code, ``Retry-After`` and the
  ``ExportMetricsServiceResponse`` through public ``requests`` APIs — the
  exporter's boolean result cannot tell "retry later" from "never again".
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.version import __version__ as exporter_version
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics.export import MetricsData

from voicemode_otel import http_attempt
from voicemode_otel.exporter_config import ExportSettings
from voicemode_otel.http_attempt import ConsentWithdrawn
from voicemode_otel.network_errors import printable

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

Outcome = Literal["delivered", "refused", "retry", "dropped", "withdrawn"]
_COMPRESSION = {"gzip": Compression.Gzip, "none": Compression.NoCompression}
_USER_AGENT = f"OTel-OTLP-Exporter-Python/{exporter_version}"
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600.0
"""A longer Retry-After is broken or hostile; the delivery state machine caps it further."""
_ACTIVE: weakref.WeakSet[ReportSender] = weakref.WeakSet()


def abort_all() -> None:
    """Abort every send in progress (process exit must not wait on a slow endpoint)."""
    for active in list(_ACTIVE):
        active.abort()


@dataclass(frozen=True)
class SendResult:
    """What happened to one report."""

    outcome: Outcome
    status: int | None
    detail: str
    retry_after_seconds: float | None = None
    rejected_points: int = 0
    server_time: datetime | None = None
    """The server's ``Date``: when it judged the report (None without one, or one that is no date)."""


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is True too
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        moment = parsedate_to_datetime(text)
        seconds = (
            moment.replace(tzinfo=moment.tzinfo or timezone.utc) - datetime.now(timezone.utc)
        ).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) else None


def server_time(value: str | None) -> datetime | None:
    """A ``Date`` header as an aware UTC datetime; None if absent or not an HTTP date."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)


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
    """Sends ``MetricsData`` with the OTLP exporter, once, and classifies the result."""

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

        with self._lock:
            self._attempt = attempt
        _ACTIVE.add(self)
        try:
            answer = http_attempt.run(attempt, export)
        finally:
            _ACTIVE.discard(self)
            with self._lock:
                self._attempt = None
        if answer.withdrawn:
            return SendResult("withdrawn", None, answer.cause)
        if answer.response is None:
            return SendResult("retry", None, answer.cause)
        result = self._classify(answer.response, data_points(metrics))
        return replace(result, server_time=server_time(answer.response.headers.get("date")))

    def _format_headers(self) -> dict[str, str]:
        """The headers the OTLP/HTTP request format needs, as the exporter itself would set them."""
        headers = {"Content-Type": "application/x-protobuf", "User-Agent": _USER_AGENT}
        if self._settings.compression == "gzip":  # the exporter compresses the body to match
            headers["Content-Encoding"] = "gzip"
        return headers

    def abort(self) -> None:
        """End the attempt at once (used at process exit): its sockets are shut, nothing new starts."""
        with self._lock:
            attempt = self._attempt
        if attempt is not None:
            attempt.expire("interrupted: the process is exiting")

    @staticmethod
    def _classify(response: requests.Response, points: int) -> SendResult:
        status = response.status_code
        reason = printable(response.reason or "", 80)
        if 200 <= status < 300:
            rejected, message = _partial_success(response)
            if points and rejected >= points:
                # Every point refused: the contract judged the report and stored none of it (the
                # Worker stores a report whole or not at all). Not delivered; resending the same
                # bytes would be refused again.
                detail = f"{status}; all {points} points rejected: {printable(message)}"
                return SendResult("refused", status, detail, rejected_points=rejected)
            detail = f"{status}" + (
                f"; partial success: {rejected} points rejected: {printable(message)}" if rejected else ""
            )
            return SendResult("delivered", status, detail, rejected_points=rejected)
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status in (408, 429) or status >= 500:
            return SendResult("retry", status, f"{status} {reason}".strip(), retry_after)
        # 3xx is not followed (an endpoint that redirects is misconfigured) and 4xx will
        # fail the same way again: log it and move on rather than retry forever.
        return SendResult("dropped", status, f"{status} {reason}".strip())
