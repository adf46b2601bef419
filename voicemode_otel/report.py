"""One period's report: sessions → privacy-clean metrics → the exact OTLP request.

The request built here is byte for byte what the exporter sends, what
``preview`` prints and what the transparency log records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import MetricsData

from voicemode_otel import pipeline, privacy
from voicemode_otel.periods import Period
from voicemode_otel.sessions import Session


@dataclass(frozen=True)
class Report:
    """A report ready to persist and send."""

    period: Period
    session_count: int
    metrics: MetricsData
    request: ExportMetricsServiceRequest

    @property
    def body(self) -> bytes:
        """The protobuf request body (before any HTTP compression)."""
        return self.request.SerializeToString()

    @property
    def empty(self) -> bool:
        """No session completed in the period: nothing is sent for it."""
        return self.session_count == 0


def build_metrics(sessions: Sequence[Session], period: Period, resource: Mapping[str, str]) -> MetricsData:
    """The privacy-filtered SDK metrics for ``sessions`` (all must complete in ``period``)."""
    late = [s.conversation_id for s in sessions if not period.contains(s.completed_at)]
    if late:
        raise ValueError(f"sessions completing outside {period.label()}: {late[:3]}")
    return privacy.apply(pipeline.record_sessions(sessions, resource), period)


def build_request(
    sessions: Sequence[Session], period: Period, resource: Mapping[str, str]
) -> ExportMetricsServiceRequest:
    """The OTLP ``ExportMetricsServiceRequest`` the exporter sends for these sessions."""
    return build(sessions, period, resource).request


def build(sessions: Sequence[Session], period: Period, resource: Mapping[str, str]) -> Report:
    """The complete report for ``period``."""
    metrics = build_metrics(sessions, period, resource)
    request = encode_metrics(metrics)
    return Report(period=period, session_count=len(sessions), metrics=metrics, request=request)
