"""The resource detector and the sampler load through the SDK's own machinery and obey consent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import files_under

from voicemode_otel.consent import ConsentSampler, consent_sampler_factory
from voicemode_otel.installation import VoiceModeResourceDetector
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths


def _run(code: str, paths: Paths, **extra: str) -> dict[str, object]:
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}
    environ.update(extra)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


RESOURCE_CREATE = """
    import json
    from opentelemetry.sdk.resources import Resource
    print(json.dumps(dict(Resource.create().attributes)))
"""


def test_detector_loads_by_name_and_adds_the_installation_under_consent(paths: Paths) -> None:
    """OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=voicemode makes Resource.create() carry our attributes."""
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    attributes = _run(RESOURCE_CREATE, paths, OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="voicemode")
    assert attributes["voicemode.telemetry.id"] == paths.telemetry_id.read_text().strip()
    assert attributes["service.name"] == "voicemode"
    assert attributes["voicemode.mcp.host"] in ("other", "unknown")


def test_detector_without_consent_adds_nothing_and_creates_no_id(paths: Paths) -> None:
    """Without consent the detector returns an empty resource and writes nothing."""
    attributes = _run(RESOURCE_CREATE, paths, OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="voicemode")
    assert not any(key.startswith("voicemode.") for key in attributes)
    assert not paths.base.exists()


def test_detector_in_process_respects_do_not_track(paths: Paths) -> None:
    """An opted-in user with DO_NOT_TRACK gets an empty resource (and keeps the ID)."""
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "DO_NOT_TRACK": "1"}
    assert dict(VoiceModeResourceDetector(environ=environ).detect().attributes) == {}
    assert paths.telemetry_id.exists()


SAMPLER = """
    import json
    from opentelemetry import trace
    from opentelemetry.sdk._configuration import _OTelSDKConfigurator
    _OTelSDKConfigurator().configure()
    provider = trace.get_tracer_provider()
    tracer = provider.get_tracer("host")
    with tracer.start_as_current_span("work") as span:
        sampled = span.get_span_context().trace_flags.sampled
    print(json.dumps({"description": provider.sampler.get_description(), "sampled": sampled}))
"""


@pytest.mark.parametrize(("preference_value", "sampled"), [("true", True), ("false", False), (None, False)])
def test_sampler_loads_by_name_through_sdk_configuration(
    paths: Paths, preference_value: str | None, sampled: bool
) -> None:
    """OTEL_TRACES_SAMPLER=voicemode_consent is resolved by the SDK configurator; spans follow consent."""
    extra = {
        "OTEL_TRACES_SAMPLER": "voicemode_consent",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    if preference_value is not None:
        extra["VOICEMODE_TELEMETRY"] = preference_value
    result = _run(SAMPLER, paths, **extra)
    parent_based = (
        "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,"
        "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,"
        "localParentNotSampled:AlwaysOffSampler}"
    )
    assert result == {"description": f"ConsentSampler{{{parent_based}}}", "sampled": sampled}
    assert files_under(paths.base) == set()


def test_sampler_sees_an_opt_out_on_the_next_span(paths: Paths) -> None:
    """Consent is checked per span: DO_NOT_TRACK set mid-process drops the next span."""
    from opentelemetry.sdk.trace import TracerProvider

    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY": "true"}
    tracer = TracerProvider(sampler=ConsentSampler(environ=environ)).get_tracer("t")
    with tracer.start_as_current_span("a") as first:
        assert first.get_span_context().trace_flags.sampled
    environ["DO_NOT_TRACK"] = "1"
    with tracer.start_as_current_span("b") as second:
        assert not second.get_span_context().trace_flags.sampled


def test_sampler_argument_picks_a_ratio() -> None:
    """OTEL_TRACES_SAMPLER_ARG sets the ratio of the delegate; nonsense falls back to always-on."""
    assert "TraceIdRatioBased{0.25}" in consent_sampler_factory("0.25").get_description()
    assert "AlwaysOnSampler" in consent_sampler_factory("lots").get_description()
