"""The recording pipeline before one-add-per-attribute-set (commit 08ad631), verbatim, for tests.

tests/report/test_pipeline_identity.py checks the package's report bytes equal this one's.

Original docstring: Sessions → OpenTelemetry metrics, through a MeterProvider of our own.

One short-lived ``MeterProvider`` per report (never the global one, so the
host's own OpenTelemetry setup is untouched and nothing of ours leaks into
it). Views make the contract's bucket boundaries the aggregation, drop
min/max and drop any instrument the contract does not name; temporality is
DELTA and exemplars are off. The output still carries ``sum`` and real
timestamps — :mod:`voicemode_otel.report.privacy` removes those before anything is
encoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import DropAggregation, ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import Session


def _views(spec: contract.Contract) -> list[View]:
    views = [
        View(
            instrument_name=metric.name,
            aggregation=ExplicitBucketHistogramAggregation(list(metric.boundaries), record_min_max=False)
            if metric.instrument == "histogram"
            else None,
            attribute_keys=set(metric.attributes),
        )
        for metric in spec.metrics.values()
    ]
    # Anything else recorded into this provider is dropped, not exported.
    views.append(View(instrument_name="*", aggregation=DropAggregation()))
    return views


def record_sessions(sessions: Iterable[Session], resource_attributes: Mapping[str, str]) -> MetricsData:
    """Record every session into fresh instruments and collect the result once."""
    spec = contract.load()
    reader = InMemoryMetricReader(
        preferred_temporality={
            Histogram: AggregationTemporality.DELTA,
            Counter: AggregationTemporality.DELTA,
        }
    )
    provider = MeterProvider(
        resource=Resource(dict(resource_attributes)),  # explicit: Resource.create() adds host data
        metric_readers=[reader],
        views=_views(spec),
        exemplar_filter=AlwaysOffExemplarFilter(),
        shutdown_on_exit=False,  # no atexit hook in the host process
    )
    try:
        meter = provider.get_meter(spec.scope_name)
        duration = spec.metric(contract.DURATION)
        exchanges = spec.metric(contract.EXCHANGES)
        providers = spec.metric(contract.PROVIDERS)
        duration_histogram = meter.create_histogram(duration.name, unit=duration.unit)
        exchanges_histogram = meter.create_histogram(exchanges.name, unit=exchanges.unit)
        provider_counter = meter.create_counter(providers.name, unit=providers.unit)
        for session in sessions:
            transport = {contract.TRANSPORT: session.transport}
            duration_histogram.record(session.duration_seconds, transport)
            exchanges_histogram.record(session.exchanges, transport)
            for role, names in (("tts", session.tts_providers), ("stt", session.stt_providers)):
                for name in sorted(names):
                    provider_counter.add(1, {contract.PROVIDER_ROLE: role, contract.PROVIDER_NAME: name})
        collected = reader.get_metrics_data()
    finally:
        provider.shutdown()
    return collected if collected is not None else MetricsData(resource_metrics=[])
