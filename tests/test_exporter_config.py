"""Standard OTEL_* variables, resolved per the spec, change exactly what the server receives."""

from __future__ import annotations

import gzip
import shutil
import ssl
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import DAY

from voicemode_otel import delivery, exporter_config, preference, testing
from voicemode_otel.otlp_capture import CaptureServer
from voicemode_otel.paths import Paths


@pytest.mark.parametrize(
    ("environ", "endpoint", "source"),
    [
        ({}, None, "default"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
            "http://c:4318/v1/metrics",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"},
            "http://c:4318/v1/metrics",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m/x",
            },
            "http://m/x",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m/x",
                "VOICEMODE_TELEMETRY_ENDPOINT": "https://w/v1/metrics",
            },
            "https://w/v1/metrics",
            "VOICEMODE_TELEMETRY_ENDPOINT",
        ),
    ],
)
def test_endpoint_resolution_order(environ: dict[str, str], endpoint: str | None, source: str) -> None:
    """VOICEMODE_TELEMETRY_ENDPOINT, then the metrics endpoint as-is, then the base + /v1/metrics."""
    settings = exporter_config.resolve(environ)
    assert (settings.endpoint, settings.endpoint_source) == (endpoint, source)
    assert (settings.problem is None) == (endpoint is not None)


def test_production_endpoint_is_not_invented() -> None:
    """Until the maintainers deploy the Worker there is no default URL (never a domain someone could own)."""
    assert exporter_config.PRODUCTION_ENDPOINT == ""


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr%20t,X-Team = voice "},
            {"api-key": "s3cr t", "x-team": "voice"},
        ),
        (
            {"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "b=2"},
            {"b": "2"},  # the signal-specific variable replaces the generic one
        ),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "broken,ok=1"}, {"ok": "1"}),
    ],
)
def test_headers_parsing(environ: dict[str, str], expected: dict[str, str]) -> None:
    """Headers follow the spec's key=value list with percent-decoding."""
    assert exporter_config.resolve(environ).headers == expected


@pytest.mark.parametrize(
    ("environ", "seconds"),
    [
        ({}, 10.0),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, 2.5),
        ({"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "100"}, 0.1),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, 10.0),
    ],
)
def test_timeout_is_milliseconds_as_the_spec_says(environ: dict[str, str], seconds: float) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT is read in milliseconds (the Python exporter alone reads seconds)."""
    assert exporter_config.resolve(environ).timeout_seconds == seconds


@pytest.mark.parametrize(
    ("environ", "cadence"),
    [
        ({"OTEL_METRIC_EXPORT_INTERVAL": "60000"}, timedelta(hours=24)),  # not for the project's endpoint
        (
            {"OTEL_METRIC_EXPORT_INTERVAL": "60000", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"},
            timedelta(hours=1),
        ),
        (
            {"OTEL_METRIC_EXPORT_INTERVAL": "10800000", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"},
            timedelta(hours=3),
        ),
        (
            {"OTEL_METRIC_EXPORT_INTERVAL": "999999999", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"},
            timedelta(hours=24),
        ),
    ],
)
def test_export_interval_only_shortens_for_a_users_own_endpoint(
    environ: dict[str, str], cadence: timedelta
) -> None:
    """OTEL_METRIC_EXPORT_INTERVAL may shorten the daily cadence down to an hour, never lengthen it."""
    assert exporter_config.resolve(environ).cadence == cadence


def test_unsupported_protocol_is_reported_not_attempted() -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc: nothing is sent and status says why."""
    settings = exporter_config.resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert settings.problem is not None and "grpc" in settings.problem


def _send(paths: Paths, environ: dict[str, str]) -> None:
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), **environ}
    preference.set_preference(paths, True, environ, now=DAY.start - timedelta(minutes=5))
    testing.ConversationLogWriter(paths.conversations_dir).session(DAY.start + timedelta(hours=2), 4)
    result = delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: DAY.end))
    assert result.outcome is delivery.Outcome.DELIVERED, result.message


@pytest.mark.parametrize(
    "variable",
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "VOICEMODE_TELEMETRY_ENDPOINT"],
)
def test_endpoint_variables_reach_the_server(paths: Paths, capture: CaptureServer, variable: str) -> None:
    """Each endpoint variable sends to the server it names, at the right path."""
    value = capture.base_url if variable == "OTEL_EXPORTER_OTLP_ENDPOINT" else capture.url
    _send(paths, {variable: value})
    assert [(c.method, c.path) for c in capture.captured] == [("POST", "/v1/metrics")]


def test_headers_reach_the_server(paths: Paths, capture: CaptureServer) -> None:
    """OTEL_EXPORTER_OTLP_METRICS_HEADERS adds headers to the request."""
    _send(
        paths,
        {
            "VOICEMODE_TELEMETRY_ENDPOINT": capture.url,
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "authorization=Bearer%20t0k",
        },
    )
    assert capture.captured[0].headers["authorization"] == "Bearer t0k"


@pytest.mark.parametrize(("value", "gzipped"), [(None, True), ("gzip", True), ("none", False)])
def test_compression_reaches_the_server(
    paths: Paths, capture: CaptureServer, value: str | None, gzipped: bool
) -> None:
    """Gzip by default; OTEL_EXPORTER_OTLP_COMPRESSION=none sends the plain protobuf."""
    environ = {"VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    if value:
        environ["OTEL_EXPORTER_OTLP_COMPRESSION"] = value
    _send(paths, environ)
    [request] = capture.captured
    assert ("content-encoding" in request.headers) == gzipped
    if gzipped:
        assert gzip.decompress(request.raw_body) == request.body
    else:
        assert request.raw_body == request.body


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_certificate_variable_is_used_for_tls(paths: Paths, tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_CERTIFICATE makes a self-signed HTTPS endpoint trusted; without it sending fails."""
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with CaptureServer(tls=context) as server:
        environ = {"VOICEMODE_TELEMETRY_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_TIMEOUT": "1000"}
        preference.set_preference(
            paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=DAY.start - timedelta(minutes=5)
        )
        testing.ConversationLogWriter(paths.conversations_dir).session(DAY.start + timedelta(hours=2), 4)
        config = {"VOICEMODE_BASE_DIR": str(paths.base), **environ}
        untrusted = delivery.run(delivery.RunConfig(paths, environ=config, clock=lambda: DAY.end))
        assert untrusted.outcome is delivery.Outcome.RETRY
        assert server.captured == []
        config["OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"] = str(cert)
        trusted = delivery.run(
            delivery.RunConfig(paths, environ=config, clock=lambda: DAY.end + timedelta(hours=2))
        )
        assert trusted.outcome is delivery.Outcome.DELIVERED
        assert len(server.captured) == 1
