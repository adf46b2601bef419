"""The last step before encoding: make the metrics say only what the contract allows.

With one session a day a histogram's ``sum`` is that session's exact
duration, and ``min``/``max``/exemplars and real timestamps are just as
revealing, so they are removed here, not merely "not recorded". Attributes
are cut to the contract's keys; a value outside a closed set is a bug
upstream and stops the report (fail closed) instead of being sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from opentelemetry.sdk.metrics.export import (
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

from voicemode_otel.contract import Period
from voicemode_otel.contract import spec as contract

# The OTLP encoder turns a ``None`` optional field into "absent" (proto3
# optional semantics), which is how a histogram point goes out without
# sum/min/max. The SDK types declare floats, hence ``Any``.
ABSENT: Any = None


class PrivacyViolation(Exception):
    """Something outside the contract reached the filter; the report is not sent."""


def resource_attributes(raw: Mapping[str, object]) -> dict[str, str]:
    """Only the contract's resource keys with allowed values; required keys must be valid."""
    spec = contract.load()
    kept: dict[str, str] = {}
    for key, attribute in spec.resource_attributes.items():
        value = raw.get(key)
        if isinstance(value, str) and len(value) <= spec.max_value_length and attribute.allows(value):
            kept[key] = value
        elif key in spec.resource_required:
            raise PrivacyViolation(f"resource attribute {key} is missing or invalid")
    return kept


def _point_attributes(metric: contract.MetricSpec, raw: Mapping[str, object]) -> dict[str, str]:
    spec = contract.load()
    kept: dict[str, str] = {}
    for key in metric.attributes:
        value = raw.get(key)
        if not isinstance(value, str) or not spec.point_attributes[key].allows(value):
            raise PrivacyViolation(f"{metric.name}: attribute {key}={value!r} is outside the contract")
        kept[key] = value
    return kept


def _histogram(metric: contract.MetricSpec, data: Histogram, period: Period) -> Histogram:
    points = []
    for point in data.data_points:
        if tuple(point.explicit_bounds) != metric.boundaries:
            raise PrivacyViolation(f"{metric.name}: bucket boundaries differ from the contract")
        points.append(
            HistogramDataPoint(
                attributes=_point_attributes(metric, point.attributes or {}),
                start_time_unix_nano=period.start_nanos,
                time_unix_nano=period.end_nanos,
                count=point.count,
                sum=ABSENT,
                bucket_counts=list(point.bucket_counts),
                explicit_bounds=list(metric.boundaries),
                min=ABSENT,
                max=ABSENT,
                exemplars=[],
            )
        )
    return Histogram(data_points=points, aggregation_temporality=data.aggregation_temporality)


def _counter(metric: contract.MetricSpec, data: Sum, period: Period) -> Sum:
    points = [
        NumberDataPoint(
            attributes=_point_attributes(metric, point.attributes or {}),
            start_time_unix_nano=period.start_nanos,
            time_unix_nano=period.end_nanos,
            value=int(point.value),
            exemplars=[],
        )
        for point in data.data_points
    ]
    return Sum(data_points=points, aggregation_temporality=data.aggregation_temporality, is_monotonic=True)


def _metric(raw: Metric, period: Period) -> Metric | None:
    spec = contract.load()
    metric = spec.metrics.get(raw.name)
    if metric is None:
        return None
    data = raw.data
    if metric.instrument == "histogram" and isinstance(data, Histogram):
        filtered: Histogram | Sum = _histogram(metric, data, period)
    elif metric.instrument == "counter" and isinstance(data, Sum) and data.is_monotonic:
        filtered = _counter(metric, data, period)
    else:
        raise PrivacyViolation(f"{raw.name}: instrument kind differs from the contract")
    if not filtered.data_points:
        return None
    return Metric(name=metric.name, description="", unit=metric.unit, data=filtered)


def apply(metrics: MetricsData, period: Period) -> MetricsData:
    """The contract-clean copy of ``metrics``, stamped with the period's bounds."""
    spec = contract.load()
    scope = InstrumentationScope(spec.scope_name)
    resource_metrics = []
    for resource_entry in metrics.resource_metrics:
        kept = [
            metric
            for scope_entry in resource_entry.scope_metrics
            for raw in scope_entry.metrics
            if (metric := _metric(raw, period)) is not None
        ]
        if not kept:
            continue
        resource = Resource(resource_attributes(resource_entry.resource.attributes))
        resource_metrics.append(
            ResourceMetrics(
                resource=resource,
                scope_metrics=[ScopeMetrics(scope=scope, metrics=kept, schema_url="")],
                schema_url="",
            )
        )
    return replace(metrics, resource_metrics=resource_metrics)
