"""Privacy on the wire: decode what the real exporter sends, even in a hostile OTel environment."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta

from conftest import files_under
from helpers import DAY, RESOURCE, session
from hypothesis import given, settings
from hypothesis import strategies as st

from voicemode_otel import testing
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.report import build as report
from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer

HOSTILE = {
    "OTEL_RESOURCE_ATTRIBUTES": "host.name=alices-laptop,user.name=alice,service.instance.id=abc",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "process,host,os",
    "OTEL_SERVICE_NAME": "alices-secret-project",
    "OTEL_METRICS_EXEMPLAR_FILTER": "always_on",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
}


def assert_contract_only(body: bytes) -> None:
    """Every key and field in ``body`` is allowed by the contract; nothing identifying slipped in."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    spec = contract.load()
    request = ExportMetricsServiceRequest.FromString(body)
    for entry in request.resource_metrics:
        keys = [a.key for a in entry.resource.attributes]
        assert set(keys) <= set(spec.resource_attributes), keys
        for attribute in entry.resource.attributes:
            assert spec.resource_attributes[attribute.key].allows(attribute.value.string_value)
        assert entry.resource.dropped_attributes_count == 0
        for scope in entry.scope_metrics:
            assert (
                scope.scope.name == spec.scope_name and not scope.scope.version and not scope.scope.attributes
            )
            for metric in scope.metrics:
                assert metric.name in spec.metrics and not metric.description and not metric.metadata
                points = (
                    metric.histogram.data_points if metric.HasField("histogram") else metric.sum.data_points
                )
                data = metric.histogram if metric.HasField("histogram") else metric.sum
                assert data.aggregation_temporality == 1
                for point in points:
                    assert list(point.exemplars) == []
                    for attribute in point.attributes:
                        assert attribute.key in spec.metric(metric.name).attributes
                        assert spec.point_attributes[attribute.key].allows(attribute.value.string_value)
                    assert point.start_time_unix_nano % 3_600_000_000_000 == 0
                    assert point.time_unix_nano % 3_600_000_000_000 == 0
                    if metric.HasField("histogram"):
                        assert not (point.HasField("sum") or point.HasField("min") or point.HasField("max"))
    # No stray text anywhere in the bytes either.
    for secret in (b"alice", b"laptop", b"secret", b"host.name", b"service.instance.id", b"process."):
        assert secret not in body


def test_hostile_otel_environment_changes_nothing_on_the_wire(paths: Paths, capture: CaptureServer) -> None:
    """OTEL_RESOURCE_ATTRIBUTES, resource detectors, exemplar and temporality settings cannot add data."""
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url, **HOSTILE}
    start = DAY.start - timedelta(minutes=30)
    preference.set_preference(paths, True, environ, now=start)
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    writer.session(DAY.start + timedelta(hours=3), 5)
    writer.session(DAY.start + timedelta(hours=9), 30, transport="livekit", tts=testing.OPENAI_TTS)
    os.environ.update(HOSTILE)  # the SDK reads some of these from the process environment
    try:
        result = delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: DAY.end))
    finally:
        for key in HOSTILE:
            os.environ.pop(key)
    assert result.outcome is delivery.Outcome.DELIVERED
    [request] = capture.captured
    assert_contract_only(request.body)


SESSIONS = st.lists(
    st.builds(
        lambda d, e, t, tts, stt, n: session(d, e, transport=t, tts=tts, stt=stt, name=f"c{n}"),
        st.floats(min_value=0, max_value=20_000),
        st.integers(min_value=0, max_value=500),
        st.sampled_from(contract.load().closed_values(contract.TRANSPORT)),
        st.frozensets(st.sampled_from(contract.load().closed_values(contract.PROVIDER_NAME)), max_size=3),
        st.frozensets(st.sampled_from(contract.load().closed_values(contract.PROVIDER_NAME)), max_size=3),
        st.integers(),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(sessions=SESSIONS)
def test_any_sessions_encode_to_contract_only_bytes(sessions: list) -> None:  # type: ignore[type-arg]
    """Whatever the sessions, the encoded request carries only contract fields, and counts add up."""
    body = report.build(sessions, DAY, RESOURCE).body
    assert_contract_only(body)
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    metrics = ExportMetricsServiceRequest.FromString(body).resource_metrics[0].scope_metrics[0].metrics
    for metric in metrics:
        if metric.HasField("histogram"):
            assert sum(p.count for p in metric.histogram.data_points) == len(sessions)


def test_without_consent_no_provider_no_id_no_files(paths: Paths) -> None:
    """No consent: start, a delivery run, the detector and status build no MeterProvider and write nothing."""
    code = """
        import sys, json
        import voicemode_otel
        from voicemode_otel.delivery import run as delivery
        from voicemode_otel.operations import status as overview
        from voicemode_otel.store import Paths
        paths = Paths.from_environ()
        voicemode_otel.start()
        result = delivery.run(delivery.RunConfig(paths))
        overview.current(paths)
        sdk = [m for m in sys.modules if m.startswith("opentelemetry.sdk")]
        print(json.dumps([result.outcome.value, sdk]))
    """
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}
    testing.ConversationLogWriter(paths.conversations_dir).session(DAY.start, 3)
    before = files_under(paths.base)
    output = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environ, capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == '["off", []]'
    assert files_under(paths.base) == before
