"""``ConsentSampler``: a trace sampler that drops every span without consent.

Registered as ``voicemode_consent`` in ``opentelemetry_traces_sampler`` so
``OTEL_TRACES_SAMPLER=voicemode_consent`` makes any SDK setup in the host
respect VoiceMode's telemetry choice; ``OTEL_TRACES_SAMPLER_ARG`` is an
optional ratio for the sampler used while consent holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from voicemode_otel.consent import decision as consent
from voicemode_otel.store import Paths


class ConsentSampler(Sampler):
    """Delegates to ``delegate`` while consent holds; drops everything otherwise.

    Consent is decided again for every span, so an opt-out (or
    ``DO_NOT_TRACK``) takes effect on the next span of a running process.
    """

    def __init__(self, delegate: Sampler | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        self._delegate = delegate if delegate is not None else ParentBased(ALWAYS_ON)
        self._environ = environ

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """Drop without consent, else ask the delegate."""
        env = os.environ if self._environ is None else self._environ
        # OTEL_METRICS_EXPORTER is about metrics: it does not decide the host's traces.
        if not consent.decide(Paths.from_environ(env), env, metrics=False).enabled:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """Names the delegate, as OTel samplers do."""
        return f"ConsentSampler{{{self._delegate.get_description()}}}"


def consent_sampler_factory(argument: str | None = None) -> Sampler:
    """Entry-point factory: ``OTEL_TRACES_SAMPLER_ARG`` (a ratio) picks the delegate."""
    try:
        ratio = float(argument) if argument else None
    except ValueError:
        ratio = None
    if ratio is None or not 0.0 <= ratio <= 1.0:
        return ConsentSampler()
    return ConsentSampler(ParentBased(TraceIdRatioBased(ratio)))
