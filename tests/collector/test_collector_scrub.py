"""Scrubbing, live: hostile OTLP posted straight into voicemode.yaml, checked on both sinks.

Each case takes a report voicemode-otel would send, breaks the contract in one way (what a
foreign or modified client could send), posts it to the Collector, and compares what arrives
with what the contract allows: the backend's decoded request must equal the expected request,
and the Worker must store for it exactly what it stores for the expected request sent straight
to it (under another ID). The expected request is written out by hand per case.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from collector_helpers import (
    FAN_OUT,
    ExporterCounts,
    canonical,
    exporter_counts,
    fan_out_environ,
    last_day,
    leaks,
    new_id,
    points,
    post_request,
    require,
    stored_rows,
    telemetry_overlay,
    valid_request,
    wait_for,
)
from localcollector import LocalCollector, prometheus_metrics
from localworker import LocalWorker, free_port
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from voicemode_otel.contract import spec as contract
from voicemode_otel.testing import CaptureServer

pytestmark = [pytest.mark.collector, pytest.mark.e2e]

Request = ExportMetricsServiceRequest
WORKER_EXPORTER = "otlp_http/voicemode_worker"
PARTIAL_SUCCESS = re.compile(r"(?i)partial success")


@dataclass
class Sinks:
    worker: LocalWorker
    backend: CaptureServer
    collector: LocalCollector
    metrics_port: int

    def worker_exporter(self) -> ExporterCounts:
        """What the Collector's Worker exporter has delivered or given up on so far."""
        return exporter_counts(prometheus_metrics(self.metrics_port), WORKER_EXPORTER)


@pytest.fixture(scope="module")
def sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    """One Worker, one capture backend and one fan-out Collector (own metrics on) for the module."""
    require()
    directory = tmp_path_factory.mktemp("collector")
    port = free_port()
    configs = [FAN_OUT, telemetry_overlay(directory, port)]
    with (
        LocalWorker(stats_min_installations=1) as worker,
        CaptureServer() as backend,
        LocalCollector(
            configs, fan_out_environ(worker.base_url, backend.base_url, directory / "queue")
        ) as collector,
    ):
        yield Sinks(worker, backend, collector, port)


# --- editing requests ---------------------------------------------------------------------------


def metric(request: Request, name: str) -> Metric:
    [found] = [m for m in request.resource_metrics[0].scope_metrics[0].metrics if m.name == name]
    return found


def attribute(attributes: object, key: str) -> KeyValue:
    [found] = [a for a in attributes if a.key == key]  # type: ignore[attr-defined]
    return found


def point(request: Request, name: str, **attributes: str) -> object:
    """The one point of metric ``name`` whose attributes include ``attributes``."""
    series = metric(request, name)
    data = series.histogram.data_points if series.HasField("histogram") else series.sum.data_points
    [found] = [
        p
        for p in data
        if all(
            attribute(p.attributes, k.replace("_", ".")).value.string_value == v
            for k, v in attributes.items()
        )
    ]
    return found


def drop_point(request: Request, name: str, **attributes: str) -> None:
    series = metric(request, name)
    data = series.histogram.data_points if series.HasField("histogram") else series.sum.data_points
    data.remove(point(request, name, **attributes))


def set_attribute(attributes: object, key: str, value: str) -> None:
    attribute(attributes, key).value.string_value = value


def resource(request: Request) -> object:
    return request.resource_metrics[0].resource.attributes


DURATION, EXCHANGES, PROVIDERS = contract.DURATION, contract.EXCHANGES, contract.PROVIDERS
T = "voicemode_transport"


def extra_resource_attributes(r: Request) -> None:
    for key, value in (("host.name", "laptop.example.lan"), ("user.email", "someone@example.com")):
        r.resource_metrics[0].resource.attributes.add(key=key).value.string_value = value


def histogram_sum_min_max(r: Request) -> None:
    target = point(r, DURATION, **{T: "local"})
    target.sum, target.min, target.max = 1050.0, 150.0, 900.0  # type: ignore[attr-defined]


def exemplars(r: Request) -> None:
    exemplar = point(r, EXCHANGES, **{T: "livekit"}).exemplars.add()  # type: ignore[attr-defined]
    exemplar.as_double, exemplar.time_unix_nano = 1.0, point(r, EXCHANGES, **{T: "livekit"}).time_unix_nano  # type: ignore[attr-defined]
    exemplar.trace_id = bytes(range(16))


def extra_metrics(r: Request) -> None:
    metrics = r.resource_metrics[0].scope_metrics[0].metrics
    source = point(r, DURATION, **{T: "local"})
    for name in ("voicemode.session.transcript_chars", "process.cpu.time"):
        extra = metrics.add(name=name, unit="1")
        gauge = extra.gauge.data_points.add(as_int=42)
        gauge.start_time_unix_nano, gauge.time_unix_nano = source.start_time_unix_nano, source.time_unix_nano  # type: ignore[attr-defined]


def values_outside_closed_sets(r: Request) -> None:
    set_attribute(resource(r), "voicemode.mcp.host", "my-own-editor")
    set_attribute(resource(r), "voicemode.install.method", "conda")
    set_attribute(resource(r), "os.type", "plan9")
    for name in (DURATION, EXCHANGES):
        set_attribute(point(r, name, **{T: "livekit"}).attributes, "voicemode.transport", "webrtc")  # type: ignore[attr-defined]
    openai = point(r, PROVIDERS, voicemode_provider_name="openai")
    set_attribute(openai.attributes, "voicemode.provider.name", "gpu-box.lan:9000")  # type: ignore[attr-defined]
    whisper = point(r, PROVIDERS, voicemode_provider_name="whisper-local")
    set_attribute(whisper.attributes, "voicemode.provider.role", "stt-fallback")  # type: ignore[attr-defined]


def coarsened(r: Request) -> None:
    set_attribute(resource(r), "voicemode.mcp.host", "other")
    set_attribute(resource(r), "voicemode.install.method", "unknown")
    attributes = r.resource_metrics[0].resource.attributes
    attributes.remove(attribute(attributes, "os.type"))
    for name in (DURATION, EXCHANGES):
        set_attribute(point(r, name, **{T: "livekit"}).attributes, "voicemode.transport", "unknown")  # type: ignore[attr-defined]
    set_attribute(
        point(r, PROVIDERS, voicemode_provider_name="openai").attributes, "voicemode.provider.name", "other"
    )  # type: ignore[attr-defined]
    drop_point(r, PROVIDERS, voicemode_provider_name="whisper-local")


def foreign_service(r: Request) -> None:
    set_attribute(resource(r), "service.name", "someone-elses-app")


def malformed_id(r: Request) -> None:
    set_attribute(resource(r), "voicemode.telemetry.id", "alice@example.com")


def nothing(_: Request) -> None:
    return None


def everything_dropped(r: Request) -> None:
    del r.resource_metrics[:]


@dataclass(frozen=True)
class Case:
    name: str
    hostile: Callable[[Request], None]
    allowed: Callable[[Request], None]
    """Turns the clean request into what may arrive (``everything_dropped``: nothing at all)."""


CASES = [
    Case("resource attributes outside the contract", extra_resource_attributes, nothing),
    Case(
        "a histogram point with sum, min and max",
        histogram_sum_min_max,
        lambda r: drop_point(r, DURATION, **{T: "local"}),
    ),
    Case("a point with exemplars", exemplars, lambda r: drop_point(r, EXCHANGES, **{T: "livekit"})),
    Case("metrics outside the contract", extra_metrics, nothing),
    Case("values outside closed sets", values_outside_closed_sets, coarsened),
    Case("another service's telemetry", foreign_service, everything_dropped),
    Case("a malformed installation ID", malformed_id, everything_dropped),
]


def expected_arrival(clean: Request, case: Case) -> Request | None:
    allowed = copy.deepcopy(clean)
    case.allowed(allowed)
    return allowed if allowed.resource_metrics else None


def with_id(request: Request, telemetry_id: str) -> Request:
    renamed = copy.deepcopy(request)
    set_attribute(resource(renamed), "voicemode.telemetry.id", telemetry_id)
    return renamed


def arrivals(backend: CaptureServer, telemetry_id: str) -> list[Request]:
    """Requests the backend received for one installation ID."""
    found = []
    for item in backend.captured:
        request = item.request()
        ids = {
            a.value.string_value
            for r in request.resource_metrics
            for a in r.resource.attributes
            if a.key == "voicemode.telemetry.id"
        }
        if telemetry_id in ids:
            found.append(request)
    return found


def assert_both_sinks(sinks: Sinks, telemetry_id: str, expected: Request | None, before: Snapshot) -> None:
    """The backend got exactly ``expected`` (or nothing); the Worker stored what ``expected`` gives it.

    The backend answers the client's request (no queue), so it is complete when the Collector
    answers; both exporters get the same data, so nothing at the backend means nothing for the
    Worker. The Worker's copy goes through the on-disk queue: wait until the Worker exporter has
    settled its points (its own counters), then send ``expected`` straight to the Worker under
    another ID and compare the rows (a report the Worker refuses, say for a dropped point that
    leaves durations and exchanges counting different sessions, gives no rows either way).
    """
    if expected is None:
        assert len(sinks.backend.captured) == before.backend, "something reached the backend"
        assert sinks.worker_exporter() == before.worker, "something reached the Worker exporter"
        assert sinks.worker.query("SELECT 1 FROM reports WHERE telemetry_id = ?", (telemetry_id,)) == []
        return
    [arrived] = arrivals(sinks.backend, telemetry_id)
    assert canonical(arrived) == canonical(expected)
    assert leaks(arrived) == []
    settled = before.worker.sent + before.worker.failed + len(points(expected))
    wait_for(
        lambda: (lambda c: c.sent + c.failed >= settled)(sinks.worker_exporter()),
        what="the Worker exporter to settle the queued copy",
    )
    reference = new_id()
    assert post_request(sinks.worker.metrics_url, with_id(expected, reference)).status == 200
    assert stored_rows(sinks.worker, telemetry_id) == stored_rows(sinks.worker, reference)


@dataclass(frozen=True)
class Snapshot:
    backend: int
    worker: ExporterCounts


def snapshot(sinks: Sinks) -> Snapshot:
    return Snapshot(len(sinks.backend.captured), sinks.worker_exporter())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_collector_lets_through_only_what_the_contract_allows(sinks: Sinks, case: Case) -> None:
    """A hostile report is answered 200 and reaches both sinks as the contract allows, or not at all."""
    telemetry_id = new_id()
    clean = valid_request(telemetry_id)
    hostile = copy.deepcopy(clean)
    case.hostile(hostile)
    before = snapshot(sinks)
    assert post_request(sinks.collector.metrics_url, hostile).status == 200
    assert_both_sinks(sinks, telemetry_id, expected_arrival(clean, case), before)


def cumulative(request: Request, start: int, end: int, factor: int) -> Request:
    """``request`` made cumulative: every point from ``start`` to ``end``, ``factor`` times its counts."""
    result = copy.deepcopy(request)
    for series in result.resource_metrics[0].scope_metrics[0].metrics:
        kind = series.histogram if series.HasField("histogram") else series.sum
        kind.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        for p in kind.data_points:
            p.start_time_unix_nano, p.time_unix_nano = start, end
            if series.HasField("histogram"):
                p.count *= factor
                p.bucket_counts[:] = [c * factor for c in p.bucket_counts]
            else:
                p.as_int *= factor
    return result


def test_collector_turns_cumulative_reports_into_the_delta_between_them(sinks: Sinks) -> None:
    """Two cumulative reports become one delta report for the time between them; the first sends nothing."""
    telemetry_id = new_id()
    period = last_day()
    clean = valid_request(telemetry_id, period)
    nanos = 1_000_000_000
    origin = int((period.start.timestamp() - 24 * 3600) * nanos)
    first = cumulative(clean, origin, int(period.start.timestamp() * nanos), 1)
    second = cumulative(clean, origin, int(period.end.timestamp() * nanos), 2)
    before = snapshot(sinks)
    assert post_request(sinks.collector.metrics_url, first).status == 200
    assert len(sinks.backend.captured) == before.backend, "the first cumulative point has no delta yet"
    assert post_request(sinks.collector.metrics_url, second).status == 200
    assert_both_sinks(sinks, telemetry_id, clean, before)


def test_collector_cannot_see_min_max_without_a_sum(sinks: Sinks) -> None:
    """Documented limit: min/max without sum pass the Collector (OTTL cannot see them); the Worker refuses."""
    telemetry_id = new_id()
    hostile = valid_request(telemetry_id)
    target = point(hostile, DURATION, **{T: "local"})
    target.min, target.max = 150.0, 900.0  # type: ignore[attr-defined]
    partial = PARTIAL_SUCCESS.findall(sinks.collector.log())
    assert post_request(sinks.collector.metrics_url, hostile).status == 200
    [arrived] = arrivals(sinks.backend, telemetry_id)
    assert leaks(arrived) == ["min", "max"]
    sinks.collector.wait_for_log(PARTIAL_SUCCESS.pattern, count=len(partial) + 1)
    assert sinks.worker.query("SELECT 1 FROM reports WHERE telemetry_id = ?", (telemetry_id,)) == []
