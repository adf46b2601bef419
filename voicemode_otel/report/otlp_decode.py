"""OTLP request bytes → SDK ``MetricsData``, so a stored report can be resent unchanged.

The OTLP exporter's public ``export()`` takes SDK metrics, not bytes. A
pending report is stored as the exact protobuf body that was logged; to
resend it we rebuild the SDK objects and check that encoding them again
gives back the same bytes before anything is sent (see :func:`restore`).
Only what our reports contain is supported: histograms and monotonic sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from voicemode_otel.report.privacy import ABSENT


class UnsupportedReport(ValueError):
    """The bytes are not a report this package could have written."""


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, str]:
    attributes = {}
    for pair in pairs:
        if pair.value.WhichOneof("value") != "string_value":
            raise UnsupportedReport(f"attribute {pair.key} is not a string")
        attributes[pair.key] = pair.value.string_value
    return attributes


def _optional(message: metrics_pb2.HistogramDataPoint, name: Literal["sum", "min", "max"]) -> float:
    return float(getattr(message, name)) if message.HasField(name) else ABSENT


def _histogram(data: metrics_pb2.Histogram) -> Histogram:
    points = [
        HistogramDataPoint(
            attributes=_attributes(point.attributes),
            start_time_unix_nano=point.start_time_unix_nano,
            time_unix_nano=point.time_unix_nano,
            count=point.count,
            sum=_optional(point, "sum"),
            bucket_counts=list(point.bucket_counts),
            explicit_bounds=list(point.explicit_bounds),
            min=_optional(point, "min"),
            max=_optional(point, "max"),
            exemplars=[],
        )
        for point in data.data_points
    ]
    return Histogram(points, AggregationTemporality(data.aggregation_temporality))


def _sum(data: metrics_pb2.Sum) -> Sum:
    points = [
        NumberDataPoint(
            attributes=_attributes(point.attributes),
            start_time_unix_nano=point.start_time_unix_nano,
            time_unix_nano=point.time_unix_nano,
            value=point.as_int,
            exemplars=[],
        )
        for point in data.data_points
    ]
    return Sum(points, AggregationTemporality(data.aggregation_temporality), data.is_monotonic)


def _metric(message: metrics_pb2.Metric) -> Metric:
    kind = message.WhichOneof("data")
    if kind == "histogram":
        data: Histogram | Sum = _histogram(message.histogram)
    elif kind == "sum":
        data = _sum(message.sum)
    else:
        raise UnsupportedReport(f"metric {message.name} has unsupported data {kind}")
    return Metric(message.name, message.description, message.unit, data)


def to_metrics_data(request: ExportMetricsServiceRequest) -> MetricsData:
    """The SDK objects that the OTLP encoder turns back into ``request``."""
    return MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(_attributes(entry.resource.attributes), entry.schema_url or None),
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope(scope.scope.name, scope.scope.version or None),
                        metrics=[_metric(metric) for metric in scope.metrics],
                        schema_url=scope.schema_url,
                    )
                    for scope in entry.scope_metrics
                ],
                schema_url=entry.schema_url,
            )
            for entry in request.resource_metrics
        ]
    )


def restore(body: bytes) -> MetricsData:
    """SDK metrics that encode to exactly ``body``; raises :class:`UnsupportedReport` otherwise."""
    request = ExportMetricsServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as error:  # protobuf raises DecodeError, a plain Exception subclass
        raise UnsupportedReport(f"not an OTLP metrics request: {error}") from error
    metrics = to_metrics_data(request)
    if encode_metrics(metrics).SerializeToString() != body:
        raise UnsupportedReport("re-encoding the stored report does not give the same bytes")
    return metrics
