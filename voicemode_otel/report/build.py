"""One period's report: sessions → privacy-clean metrics → the exact OTLP request.

The request built here is byte for byte what the exporter sends, what
``preview`` prints and what the transparency log records.

A report holds at most the contract's sessions per hour of its period
(``contract.json`` ``counts``), the cap the Worker enforces. A log with more —
only a broken or replayed log gets there: it is five VoiceMode servers at their
fastest, every hour — loses its latest-completing sessions, whole, and the
report says how many (``left_out``; the sender writes it to the local log).
Leaving whole sessions out keeps every number sent a true count of real
sessions and the three metrics in agreement; clamping a bin would not, and
splitting the period would not help (the cap is per hour).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics.export import MetricsData

from voicemode_otel.contract import Period
from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import Session
from voicemode_otel.report import pipeline, privacy


@dataclass(frozen=True)
class Report:
    """A report ready to persist and send."""

    period: Period
    session_count: int
    metrics: MetricsData
    request: ExportMetricsServiceRequest
    left_out: int = 0
    """Sessions over the contract's cap, not in the report (see the module docstring)."""

    @property
    def body(self) -> bytes:
        """The protobuf request body (before any HTTP compression)."""
        return self.request.SerializeToString()

    @property
    def empty(self) -> bool:
        """No session completed in the period: nothing is sent for it."""
        return self.session_count == 0


def within_cap(sessions: Sequence[Session], period: Period) -> tuple[list[Session], int]:
    """The sessions a report of ``period`` may hold, and how many were left out.

    The earliest-completing ones are kept (ties by conversation ID), so the choice
    is the same every time the period's report is built.
    """
    seconds = int((period.end - period.start).total_seconds())
    cap = contract.load().counts.max_sessions(seconds)
    if len(sessions) <= cap:
        return list(sessions), 0
    ordered = sorted(sessions, key=lambda s: (s.completed_at, s.conversation_id))
    return ordered[:cap], len(sessions) - cap


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
    """The complete report for ``period``, within the contract's cap."""
    kept, left_out = within_cap(sessions, period)
    metrics = build_metrics(kept, period, resource)
    request = encode_metrics(metrics)
    return Report(period=period, session_count=len(kept), metrics=metrics, request=request, left_out=left_out)
