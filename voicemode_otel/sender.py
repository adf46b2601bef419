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
from dataclasses import dataclass
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

__all__ = ["ConsentWithdrawn", "ReportSender", "SendResult", "abort_all", "retry_after_seconds"]

Outcome = Literal["delivered", "retry", "misdirected", "dropped", "withdrawn"]
"""``misdirected``: the endpoint said the URL or the credentials are wrong, not the data (kept)."""
URL_REFUSALS = frozenset({404, 405, 410, 415})
"""Not this URL (no route, not POST, gone, not OTLP's media type): the data was not judged."""
CREDENTIAL_REFUSALS = frozenset({401, 403})
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
        return self._classify(answer.response)

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

    def _classify(self, response: requests.Response) -> SendResult:
        status = response.status_code
        reason = printable(response.reason or "", 80)
        if 200 <= status < 300:
            rejected, message = _partial_success(response)
            detail = f"{status}" + (
                f"; partial success: {rejected} points rejected: {printable(message)}" if rejected else ""
            )
            return SendResult("delivered", status, detail, rejected_points=rejected)
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status in (408, 429) or status >= 500:
            return SendResult("retry", status, f"{status} {reason}".strip(), retry_after)
        wrong = misdirection(status, self._settings.users_own)
        if wrong is not None:
            return SendResult("misdirected", status, wrong, retry_after)
        # A refusal that judges the data (400, 413, ...) will fail the same way again:
        # log it and move on rather than retry forever.
        return SendResult("dropped", status, f"{status} {reason}".strip())


def misdirection(status: int, users_own: bool) -> str | None:
    """What to check when ``status`` says the URL or the credentials are wrong, not the data; else None.

    A redirect is not followed (an endpoint that redirects is misconfigured, and a
    report must not follow it somewhere else), so it is a URL to fix too.
    """
    if 300 <= status < 400:
        return f"the endpoint answered {status} (a redirect, not followed): is the URL right?"
    if status in URL_REFUSALS:
        return f"the endpoint answered {status}: is the URL right?"
    if status == 407:
        return "the proxy answered 407: are the proxy's credentials right?"
    if status in CREDENTIAL_REFUSALS:
        if users_own:
            return f"the endpoint answered {status}: are the credentials (OTEL_EXPORTER_OTLP_HEADERS) right?"
        return (
            f"the endpoint answered {status}: it wants credentials, which go only to an endpoint "
            "from OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT"
        )
    return None
