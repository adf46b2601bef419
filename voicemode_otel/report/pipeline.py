"""Sessions → OpenTelemetry metrics, through a MeterProvider of our own.

One short-lived ``MeterProvider`` per report (never the global one, so the
host's own OpenTelemetry setup is untouched and nothing of ours leaks into
it). Views make the contract's bucket boundaries the aggregation, drop
min/max and keep only the contract's attribute keys; temporality is DELTA and
exemplars are off. The output still carries ``sum`` and real timestamps —
:mod:`voicemode_otel.report.privacy` removes those, and any metric the contract does
not name, before anything is encoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
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
    # No catch-all DropAggregation view: the SDK applies every matching view to every
    # measurement, so one would double the cost of each record() for nothing. Only the
    # instruments below exist in this private provider, and privacy.apply drops any
    # metric the contract does not name before anything is encoded.
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
    # OTEL_SDK_DISABLED=true makes every SDK provider hand out no-op meters, and this one would
    # then count nothing. It is a private calculator with no exporter: what may leave the
    # machine is consent's decision (which pauses everything under that variable), while
    # `preview` must still show what a report holds. A test fails if the SDK renames this.
    provider._disabled = False
    try:
        meter = provider.get_meter(spec.scope_name)
        duration = spec.metric(contract.DURATION)
        exchanges = spec.metric(contract.EXCHANGES)
        providers = spec.metric(contract.PROVIDERS)
        duration_histogram = meter.create_histogram(duration.name, unit=duration.unit)
        exchanges_histogram = meter.create_histogram(exchanges.name, unit=exchanges.unit)
        provider_counter = meter.create_counter(providers.name, unit=providers.unit)
        # A record() costs ~8 µs in the SDK, so what can be summed first is: the provider
        # counter gets one add() per attribute set, in first-seen order (the order of the
        # data points, so the bytes are exactly those of one add per session). Histograms
        # have no weighted record; each session is one record(), with one attributes
        # dict per transport.
        by_transport: dict[str, dict[str, str]] = {}
        provider_sessions: dict[tuple[str, str], int] = {}
        for session in sessions:
            transport = by_transport.get(session.transport)
            if transport is None:
                transport = by_transport[session.transport] = {contract.TRANSPORT: session.transport}
            duration_histogram.record(session.duration_seconds, transport)
            exchanges_histogram.record(session.exchanges, transport)
            for role, names in (("tts", session.tts_providers), ("stt", session.stt_providers)):
                for name in sorted(names):
                    provider_sessions[role, name] = provider_sessions.get((role, name), 0) + 1
        for (role, name), count in provider_sessions.items():
            provider_counter.add(count, {contract.PROVIDER_ROLE: role, contract.PROVIDER_NAME: name})
        collected = reader.get_metrics_data()
    finally:
        provider.shutdown()
    return collected if collected is not None else MetricsData(resource_metrics=[])
