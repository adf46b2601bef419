"""Standard OTEL_* variables, resolved per the spec, change exactly what the server receives."""

from __future__ import annotations

import gzip
import shutil
import ssl
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import DAY, make_certificate

from voicemode_otel import testing
from voicemode_otel.delivery import run as delivery
from voicemode_otel.export import config as exporter_config
from voicemode_otel.operations import preference
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths, transparency
from voicemode_otel.testing import Behaviour, CaptureServer


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
    """Headers follow the spec's key=value list with percent-decoding (for the user's own endpoint)."""
    assert exporter_config.resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", **environ}).headers == expected


@pytest.mark.parametrize(
    ("environ", "seconds"),
    [
        ({}, 10.0),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "10"}, 10.0),  # opentelemetry-python's own default, in seconds
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "30"}, 30.0),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "0.5"}, 0.5),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "99.9"}, 99.9),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "100"}, 0.1),  # from 100 on: the specification's milliseconds
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, 2.5),
        ({"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "100"}, 0.1),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "5", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "7"}, 7.0),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, 10.0),
    ],
)
def test_timeout_under_100_is_seconds_from_100_milliseconds(environ: dict[str, str], seconds: float) -> None:
    """OTEL_EXPORTER_OTLP_TIMEOUT: under 100 read as seconds (as opentelemetry-python reads it), else ms."""
    assert exporter_config.resolve(environ).timeout_seconds == seconds


@pytest.mark.parametrize(
    ("value", "reading"),
    [
        (None, "10 s (the default)"),
        ("10", "10 s (OTEL_EXPORTER_OTLP_TIMEOUT=10: under 100, read as seconds)"),
        ("2500", "2.5 s (OTEL_EXPORTER_OTLP_TIMEOUT=2500: read as milliseconds)"),
        ("nan", "10 s (the default: OTEL_EXPORTER_OTLP_TIMEOUT is not usable)"),
    ],
)
def test_status_shows_the_effective_timeout_and_its_reading(
    paths: Paths, value: str | None, reading: str
) -> None:
    """The status prints the timeout in effect and which reading gave it; --json has both."""
    import json

    from helpers import cli

    extra = {"VOICEMODE_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/v1/metrics"}
    if value is not None:
        extra["OTEL_EXPORTER_OTLP_TIMEOUT"] = value
    text = cli(paths.base, "status", **extra).stdout
    assert f"Timeout:   {reading}" in text.splitlines()
    transport = json.loads(cli(paths.base, "status", "--json", **extra).stdout)["transport"]
    assert (transport["timeout_seconds"], transport["timeout_reading"]) == (
        float(reading.split(" s ")[0]),
        reading,
    )


def test_a_timeout_of_10_reaches_a_server_answering_in_half_a_second(
    paths: Paths, capture: CaptureServer
) -> None:
    """With OTEL_EXPORTER_OTLP_TIMEOUT=10 a real send waits 10 s, so a 0.5 s answer is a delivery."""
    from helpers import cli, due_report

    due_report(paths)
    capture.answer(Behaviour(delay=0.5))
    result = cli(
        paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url, OTEL_EXPORTER_OTLP_TIMEOUT="10"
    )
    assert result.returncode == 0 and result.stdout.startswith("delivered:"), result.stdout + result.stderr
    [request] = capture.captured
    [logged] = [e["body"] for e in transparency.read(paths) if e["event"] == "pending"]
    assert otlp_json.to_dict(request.request()) == logged


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


@pytest.mark.parametrize("value", ["thrift", "http", "grpc/json", "HTTP/PROTOBUF/2"])
def test_unsupported_protocol_is_reported_not_attempted(value: str) -> None:
    """An OTEL_EXPORTER_OTLP_PROTOCOL other than the spec's three: nothing is sent and status says why."""
    settings = exporter_config.resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": value}
    )
    assert settings.problem == (
        f"OTEL_EXPORTER_OTLP_PROTOCOL={value!r} is not supported; voicemode-otel sends "
        "http/protobuf, http/json, grpc"
    )


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
    """OTEL_EXPORTER_OTLP_METRICS_HEADERS adds headers to the request to the user's own endpoint."""
    _send(
        paths,
        {
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": capture.url,
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "authorization=Bearer%20t0k",
        },
    )
    assert capture.captured[0].headers["authorization"] == "Bearer t0k"


@pytest.mark.parametrize(("value", "gzipped"), [(None, True), ("gzip", True), ("none", False)])
def test_compression_reaches_the_server(
    paths: Paths, capture: CaptureServer, value: str | None, gzipped: bool
) -> None:
    """Gzip by default; OTEL_EXPORTER_OTLP_COMPRESSION=none sends plain protobuf to the user's endpoint."""
    environ = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": capture.url}
    if value:
        environ["OTEL_EXPORTER_OTLP_COMPRESSION"] = value
    _send(paths, environ)
    [request] = capture.captured
    assert ("content-encoding" in request.headers) == gzipped
    if gzipped:
        assert gzip.decompress(request.raw_body) == request.body
    else:
        assert request.raw_body == request.body


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_certificate_variable_is_used_for_tls(paths: Paths, tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_CERTIFICATE makes a self-signed HTTPS endpoint trusted; without it sending fails."""
    cert, key = make_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with CaptureServer(tls=context) as server:
        environ = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_TIMEOUT": "1000"}
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


ENDPOINT_VARIABLES = (
    "VOICEMODE_TELEMETRY_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
MALFORMED_ENDPOINTS = (
    "127.0.0.1:18931",
    "localhost:4318",
    "not a url",
    "ftp://x",
    "http://",
    "http://[::1",
    "http://[::1]x/",
    "http://c:0",
    "http://c:65536",
    "http://c:-1",
    "http://c:\uff11\uff12",  # full-width digits
    "http://a b/v1/metrics",
    "http://c/v1/\x1b[2J",
    "http://exämple.com/",
    "http://-/",
    "http://a..b/",
    "http://1.2.3.999/",
    "http://%41/",
    "http://user:secret@c:4318/v1/metrics",
    "file:///etc/passwd",
    "//c:4318/v1/metrics",
)


@pytest.mark.parametrize("variable", ENDPOINT_VARIABLES)
@pytest.mark.parametrize("value", MALFORMED_ENDPOINTS)
def test_malformed_endpoints_are_a_problem_naming_the_variable(variable: str, value: str) -> None:
    """A malformed endpoint is refused when resolved: no endpoint, a one-line problem naming the variable."""
    settings = exporter_config.resolve({variable: value})
    assert settings.endpoint is None
    assert settings.endpoint_source == variable
    assert settings.problem is not None and settings.problem.startswith(variable)
    assert "\n" not in settings.problem and "\x1b" not in settings.problem
    assert "secret" not in settings.problem  # credentials in a URL are never echoed


def test_an_invalid_choice_never_falls_back_to_another_endpoint() -> None:
    """A malformed VOICEMODE_TELEMETRY_ENDPOINT is a problem even when a valid OTel endpoint is also set."""
    settings = exporter_config.resolve(
        {"VOICEMODE_TELEMETRY_ENDPOINT": "127.0.0.1:18931", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    )
    assert settings.endpoint is None
    assert settings.problem == (
        "VOICEMODE_TELEMETRY_ENDPOINT='127.0.0.1:18931' is not an http:// or https:// URL; "
        "did you mean 'http://127.0.0.1:18931'?"
    )


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:18931/v1/metrics",
        "https://telemetry.example.org/v1/metrics",
        "http://[::1]:4318/v1/metrics",
        "http://collector.local.:4318/v1/metrics",
        "http://otel_collector:4318/v1/metrics",
        "HTTP://C:4318/v1/metrics",
        "http://c:/v1/metrics",
        "http://c/v1/metrics?tenant=a%20b",
    ],
)
def test_valid_endpoints_are_used_as_given(value: str) -> None:
    """Ordinary, IPv6, trailing-dot, underscore, upper-case and query URLs pass unchanged."""
    settings = exporter_config.resolve({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": value})
    assert (settings.endpoint, settings.problem) == (value, None)


@pytest.mark.parametrize("value", ["http://c:4318?x=1", "http://c:4318#top"])
def test_base_endpoint_with_query_or_fragment_is_a_problem(value: str) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/metrics appended, which a query or fragment would swallow."""
    settings = exporter_config.resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": value})
    assert settings.endpoint is None and settings.problem is not None
    assert "base URL" in settings.problem


@pytest.mark.parametrize(
    "value",
    ["nan", "NaN", "inf", "-inf", "1e400", "0", "-5", "0.0001", "300001", "1e12", "soon", "0x10", "٣"],
)
@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"])
def test_unusable_timeouts_fall_back_to_the_default_with_a_warning(variable: str, value: str) -> None:
    """Non-finite, non-positive, tiny and absurd (over 5 minutes) timeouts give 10 s and say so."""
    settings = exporter_config.resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", variable: value})
    assert settings.timeout_seconds == 10.0
    assert settings.problem is None
    [warning] = settings.warnings
    assert warning.startswith(f"{variable}={value!r} is not a usable timeout") and "using 10 s" in warning


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0.001", 0.001), ("99.99", 99.99), ("100", 0.1), ("300000", 300.0), (" 2500 ", 2.5)],
)
def test_timeout_bounds_are_inclusive(value: str, seconds: float) -> None:
    """1 ms and 5 minutes are the extremes still taken as given; 100 is the first millisecond reading."""
    settings = exporter_config.resolve({"OTEL_EXPORTER_OTLP_TIMEOUT": value})
    assert (settings.timeout_seconds, settings.warnings) == (seconds, ())


@pytest.mark.parametrize(
    ("raw", "kept", "dropped"),
    [
        ("x=a%0d%0aInjected:%201,ok=1", {"ok": "1"}, ["entry 1 (x)"]),
        ("x=a%0aInjected:%201", {}, ["entry 1 (x)"]),
        ("x=a%0d", {}, ["entry 1 (x)"]),
        ("x=a%00b,y=2", {"y": "2"}, ["entry 1 (x)"]),
        ("x=caf%C3%A9", {}, ["entry 1 (x)"]),  # non-ASCII: http.client would send latin-1
        ("x=%FF", {}, ["entry 1 (x)"]),  # not UTF-8 at all
        ("bad%0aname=1,ok=2", {"ok": "2"}, ["entry 1:"]),
        ("has space=1", {}, ["entry 1:"]),
        ("a:b=1", {}, ["entry 1:"]),
        ("content-encoding=br,ok=1", {"ok": "1"}, ["entry 1 (content-encoding)"]),
        ("Content-Length=5", {}, ["entry 1 (content-length)"]),
        ("novalue,ok=1", {"ok": "1"}, ["entry 1 is not key=value"]),
        ("tab=a%09b", {"tab": "a\tb"}, []),
        ("empty=", {"empty": ""}, []),
    ],
)
def test_header_entries_http_cannot_carry_are_dropped_with_a_warning(
    raw: str, kept: dict[str, str], dropped: list[str]
) -> None:
    """CR/LF, NUL, non-ASCII, bad names and headers the exporter owns are dropped; the rest are kept."""
    settings = exporter_config.resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_HEADERS": raw}
    )
    assert settings.headers == kept
    assert len(settings.warnings) == len(dropped)
    for warning, where in zip(settings.warnings, dropped, strict=True):
        assert warning.startswith(f"OTEL_EXPORTER_OTLP_HEADERS {where}")


def test_header_warnings_never_echo_a_value() -> None:
    """A dropped header's value may be a secret: the warning names the entry, never the value."""
    settings = exporter_config.resolve(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20s3cr3t%0d%0a,Bearer s3cr3t",
        }
    )
    assert len(settings.warnings) == 2
    assert not any("s3cr3t" in warning for warning in settings.warnings)


def test_warnings_are_logged_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    """resolve() runs on every status and every reporter wake-up: the same warning is logged once."""
    environ = {"OTEL_EXPORTER_OTLP_TIMEOUT": "1e400-once"}
    with caplog.at_level("WARNING", logger="voicemode_otel.export.variables"):
        for _ in range(3):
            assert len(exporter_config.resolve(environ).warnings) == 1
    assert [r.getMessage() for r in caplog.records].count(
        "voicemode-otel: " + exporter_config.resolve(environ).warnings[0]
    ) == 1


@pytest.mark.parametrize("name", ["CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"])
def test_a_missing_tls_file_is_a_problem(name: str, tmp_path: Path) -> None:
    """A CA or client file that is not there would fail every send as if offline: refuse it up front."""
    missing = tmp_path / "nope.pem"
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", f"OTEL_EXPORTER_OTLP_{name}": str(missing)}
    if name == "CLIENT_KEY":
        environ["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"] = str(tmp_path)  # a directory: not a file either
    settings = exporter_config.resolve(environ)
    assert settings.problem is not None and "is not a readable file" in settings.problem
    assert settings.endpoint == "https://c/v1/metrics"  # the endpoint itself is fine


def test_export_interval_that_is_not_a_number_warns() -> None:
    """OTEL_METRIC_EXPORT_INTERVAL=nan keeps the daily cadence and says so."""
    settings = exporter_config.resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_METRIC_EXPORT_INTERVAL": "nan"}
    )
    assert settings.cadence == timedelta(hours=24)
    assert settings.warnings == (
        "OTEL_METRIC_EXPORT_INTERVAL='nan' is not a positive number of milliseconds",
    )


def test_a_header_http_cannot_carry_is_dropped_and_the_rest_are_sent(
    paths: Paths, capture: CaptureServer
) -> None:
    """A real `send` with CR/LF smuggled into one header: that entry is dropped, with a warning; the rest go.

    The exporter also reads OTEL_EXPORTER_OTLP_HEADERS from the process environment itself and
    merges what it finds: the wire must carry exactly the resolved headers, nothing it re-read.
    """
    import os
    import sys

    now = DAY.end
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(hours=30)
    )
    testing.ConversationLogWriter(paths.conversations_dir).session(now - timedelta(hours=6), 5)
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(paths.base),
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": capture.url,
        "OTEL_EXPORTER_OTLP_HEADERS": (
            "x=a%0d%0aInjected:%201,authorization=Bearer%20t0k,content-encoding=identity,X-Team=voice"
        ),
    }
    script = str(Path(sys.executable).parent / "voicemode-otel")
    result = subprocess.run(
        [script, "send"],
        env=environ,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("delivered:")
    assert result.stderr.splitlines() == [
        "voicemode-otel: OTEL_EXPORTER_OTLP_HEADERS entry 1 (x): the value holds a line break, control or "
        "non-ASCII character that HTTP headers cannot carry; ignored",
        "voicemode-otel: OTEL_EXPORTER_OTLP_HEADERS entry 3 (content-encoding): voicemode-otel sets this "
        "header itself; ignored",
    ]
    [request] = capture.captured
    assert request.headers == {
        "host": f"127.0.0.1:{capture.port}",
        "user-agent": request.headers["user-agent"],
        "accept-encoding": "gzip, deflate",
        "accept": "*/*",
        "connection": "keep-alive",
        "content-type": "application/x-protobuf",
        "content-encoding": "gzip",
        "content-length": str(len(request.raw_body)),
        "authorization": "Bearer t0k",
        "x-team": "voice",
    }
    assert request.headers["user-agent"].startswith("OTel-OTLP-Exporter-Python/")
    assert gzip.decompress(request.raw_body) == request.body


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_configured_ca_file_wins_over_requests_ca_bundle(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE in the environment cannot override OTEL_EXPORTER_OTLP_CERTIFICATE."""
    cert, key = make_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing-bundle.pem"))
    with CaptureServer(tls=context) as server:
        _send(
            paths,
            {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(cert)},
        )
        assert len(server.captured) == 1


def test_a_client_key_without_a_certificate_is_ignored_with_a_warning(tmp_path: Path) -> None:
    """A key alone cannot make a TLS client identity: it is not used, and the warning names the variable."""
    key = tmp_path / "key.pem"
    key.write_text("not used\n")
    settings = exporter_config.resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY": str(key)}
    )
    assert (settings.client_key_file, settings.problem) == (None, None)
    assert settings.warnings == (
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY is ignored without a client certificate",
    )
