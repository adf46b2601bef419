"""The cheaper recording path (one add per provider attribute set) sends exactly the same bytes as before."""

from __future__ import annotations

from datetime import timedelta

import reference_pipeline
from helpers import DAY, RESOURCE, session
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import Session
from voicemode_otel.report import build as report
from voicemode_otel.report import privacy

_spec = contract.load()
_names = st.frozensets(st.sampled_from(_spec.closed_values(contract.PROVIDER_NAME)), max_size=3)


@st.composite
def _sessions(draw: st.DrawFn) -> list[Session]:
    specs = draw(
        st.lists(
            st.tuples(
                st.floats(min_value=0, max_value=5 * 3600, allow_nan=False),
                st.integers(min_value=0, max_value=60),
                st.sampled_from(_spec.closed_values(contract.TRANSPORT)),
                _names,
                _names,
                st.integers(min_value=0, max_value=22 * 3600),
            ),
            min_size=1,
            max_size=40,
        )
    )
    return [
        session(d, x, transport=t, tts=tts, stt=stt, last=DAY.start + timedelta(seconds=end), name=f"c{i}")
        for i, (d, x, t, tts, stt, end) in enumerate(specs)
    ]


def _earlier_bytes(sessions: list[Session]) -> bytes:
    metrics = privacy.apply(reference_pipeline.record_sessions(sessions, RESOURCE), DAY)
    return encode_metrics(metrics).SerializeToString()


@settings(max_examples=150, deadline=None)
@given(sessions=_sessions())
def test_report_bytes_are_identical_to_one_record_per_measurement(sessions: list[Session]) -> None:
    """Any sessions: the protobuf body equals, byte for byte, what one add() per session produced."""
    assert report.build(sessions, DAY, RESOURCE).body == _earlier_bytes(sessions)


def test_a_thousand_sessions_are_identical() -> None:
    """A heavy week's worth of varied sessions, including every transport and provider."""
    transports = _spec.closed_values(contract.TRANSPORT)
    providers = sorted(_spec.closed_values(contract.PROVIDER_NAME))
    sessions = [
        session(
            17.0 * i,
            i % 45,
            transport=transports[i % len(transports)],
            tts=frozenset(providers[i % len(providers) : i % len(providers) + 2]),
            stt=frozenset(providers[(3 * i) % len(providers) :][:1]),
            last=DAY.start + timedelta(seconds=60 * i),
            name=f"c{i}",
        )
        for i in range(1000)
    ]
    assert report.build(sessions, DAY, RESOURCE).body == _earlier_bytes(sessions)
