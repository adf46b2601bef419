"""The consent-gated OTLP/HTTP exporter: one report out, one outcome back.

The HTTP is the official ``OTLPMetricExporter``'s. Around it:

* a ``requests`` transport adapter that asks for consent immediately before
  every request leaves (also before the exporter's own retries), so an
  opt-out that lands mid-send stops it;
* a response hook that reads the status code, ``Retry-After`` and the
  ``ExportMetricsServiceResponse`` through public ``requests`` APIs — the
  exporter's boolean result cannot tell "retry later" from "never again".
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics.export import MetricsData
from requests.adapters import HTTPAdapter

from voicemode_otel.exporter_config import ExportSettings

_log = logging.getLogger(__name__)

Outcome = Literal["delivered", "retry", "dropped", "withdrawn"]
_COMPRESSION = {"gzip": Compression.Gzip, "none": Compression.NoCompression}
_ACTIVE: weakref.WeakSet[ReportSender] = weakref.WeakSet()


def abort_all() -> None:
    """Abort every send in progress (process exit must not wait on a slow endpoint)."""
    for active in list(_ACTIVE):
        active.abort()


class ConsentWithdrawn(requests.exceptions.RequestException):
    """Raised inside the HTTP stack when consent is gone; nothing was sent."""


class ConsentGatedAdapter(HTTPAdapter):
    """An adapter that refuses to send unless ``allowed()`` says yes at that moment.

    It also pins TLS verification to ``certificate_file`` when one is
    configured: ``requests`` would otherwise let ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` from the environment override the session's setting,
    silently ignoring ``OTEL_EXPORTER_OTLP_CERTIFICATE``.
    """

    def __init__(self, allowed: Callable[[], bool], certificate_file: str | None = None) -> None:
        super().__init__(max_retries=0)
        self._allowed = allowed
        self._certificate_file = certificate_file
        self.withdrawn = False

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Check consent, then send as usual."""
        if not self._allowed():
            self.withdrawn = True
            raise ConsentWithdrawn("telemetry consent was withdrawn; nothing sent")
        if self._certificate_file:
            kwargs["verify"] = self._certificate_file
        return super().send(request, *args, **kwargs)


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
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


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
    """Sends ``MetricsData`` with the OTLP exporter and classifies the result."""

    def __init__(self, settings: ExportSettings, allowed: Callable[[], bool]) -> None:
        if not settings.endpoint:
            raise ValueError("no endpoint configured")
        self._settings = settings
        self._allowed = allowed
        self._lock = threading.Lock()
        self._exporter: OTLPMetricExporter | None = None

    def send(self, metrics: MetricsData) -> SendResult:
        """Export once (the exporter may retry within its timeout); never raises."""
        responses: list[requests.Response] = []
        adapter = ConsentGatedAdapter(self._allowed, self._settings.certificate_file)
        session = requests.Session()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.hooks["response"].append(lambda response, *args, **kwargs: responses.append(response))
        cert: tuple[str, str] | None = None
        if self._settings.client_certificate_file and self._settings.client_key_file:
            cert = (self._settings.client_certificate_file, self._settings.client_key_file)
        try:
            exporter = OTLPMetricExporter(
                endpoint=self._settings.endpoint,
                certificate_file=self._settings.certificate_file,
                client_certificate_file=cert[0] if cert else None,
                client_key_file=cert[1] if cert else None,
                headers=self._settings.headers,
                timeout=self._settings.timeout_seconds,
                compression=_COMPRESSION[self._settings.compression],
                session=session,
            )
            with self._lock:
                self._exporter = exporter
            _ACTIVE.add(self)
            exporter.export(metrics)
        except Exception as error:
            _log.warning("voicemode-otel: export failed before a response: %s", error)
        finally:
            _ACTIVE.discard(self)
            with self._lock:
                if self._exporter is not None:
                    self._exporter.shutdown()
                    self._exporter = None
            session.close()
        if adapter.withdrawn:
            return SendResult("withdrawn", None, "consent withdrawn before sending; nothing sent")
        if not responses:
            return SendResult("retry", None, "no response (network error or timeout)")
        return self._classify(responses[-1])

    def abort(self) -> None:
        """Stop the exporter's retry wait at once (used at process exit)."""
        with self._lock:
            if self._exporter is not None:
                self._exporter.shutdown()
                self._exporter = None

    @staticmethod
    def _classify(response: requests.Response) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            rejected, message = _partial_success(response)
            detail = f"{status}" + (
                f"; partial success: {rejected} points rejected: {message}" if rejected else ""
            )
            return SendResult("delivered", status, detail, rejected_points=rejected)
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status in (408, 429) or status >= 500:
            return SendResult("retry", status, f"{status} {response.reason}", retry_after)
        # 3xx is not followed (an endpoint that redirects is misconfigured) and 4xx will
        # fail the same way again: log it and move on rather than retry forever.
        return SendResult("dropped", status, f"{status} {response.reason}")
