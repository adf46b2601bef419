"""A user's OpenTelemetry transport settings (headers, TLS files, protocol) go only to the user's endpoint.

``OTEL_EXPORTER_OTLP_HEADERS`` typically holds an API key for the user's own
backend (Honeycomb, Grafana Cloud, ...). It, the CA file, the client
certificate and key, the protocol and the compression apply only when the
endpoint in effect comes from ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``; VoiceMode's endpoint (the built-in one, or
``VOICEMODE_TELEMETRY_ENDPOINT``) gets none of them, always as gzip'd
http/protobuf. Each test reads what really arrived at a real server.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import helpers
import pytest

from voicemode_otel import testing
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths, transparency
from voicemode_otel.testing import Behaviour, Captured, CaptureServer

SECRET = "MY_SECRET_KEY"
USER_SETTINGS = {
    "OTEL_EXPORTER_OTLP_HEADERS": f"x-honeycomb-team={SECRET}",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS": f"x-honeycomb-team={SECRET},authorization=Bearer%20{SECRET}",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json",
    "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
}
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the certificates")


def standard_headers(
    request: Captured, port: int, content_type: str = "application/x-protobuf"
) -> dict[str, str]:
    """Exactly what a request carries with no user header: the request format's headers and requests' own."""
    return {
        "host": f"127.0.0.1:{port}",
        "user-agent": request.headers["user-agent"],
        "accept-encoding": "gzip, deflate",
        "accept": "*/*",
        "connection": "keep-alive",
        "content-type": content_type,
        "content-encoding": "gzip",
        "content-length": str(len(request.raw_body)),
    }


def logged_body(paths: Paths) -> object:
    """The OTLP/JSON body of the one report in the transparency log (what the user can read)."""
    [body] = [e["body"] for e in transparency.read(paths) if e["event"] == "pending"]
    return body


@pytest.mark.parametrize("setting", [*USER_SETTINGS, "all"])
def test_user_settings_never_reach_the_voicemode_endpoint(
    paths: Paths, capture: CaptureServer, setting: str
) -> None:
    """VOICEMODE_TELEMETRY_ENDPOINT with the user's OTel headers, protocol or compression: none is used."""
    helpers.due_report(paths)
    extra = USER_SETTINGS if setting == "all" else {setting: USER_SETTINGS[setting]}
    result = helpers.cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url, **extra)
    assert result.returncode == 0 and result.stdout.startswith("delivered:"), result.stdout + result.stderr
    [request] = capture.captured
    assert request.headers == standard_headers(request, capture.port)
    assert SECRET not in json.dumps(request.headers)
    assert otlp_json.to_dict(request.request()) == logged_body(paths)


def test_user_headers_never_reach_the_built_in_endpoint(paths: Paths, capture: CaptureServer) -> None:
    """With the project's own endpoint (as once deployed), the user's API key stays home too."""
    helpers.due_report(paths)
    code = (
        "import sys\n"
        "from voicemode_otel.export import config as exporter_config\n"
        "exporter_config.PRODUCTION_ENDPOINT = sys.argv[1]  # as once deployed; here a local server\n"
        "from voicemode_otel.cli import main\n"
        "raise SystemExit(main(['send']))\n"
    )
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(paths.base),
        **USER_SETTINGS,
    }
    result = subprocess.run(
        [sys.executable, "-c", code, capture.url],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.startswith("delivered:"), result.stdout + result.stderr
    [request] = capture.captured
    assert request.headers == standard_headers(request, capture.port)
    assert otlp_json.to_dict(request.request()) == logged_body(paths)


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"])
def test_user_headers_reach_the_users_own_endpoint(
    paths: Paths, capture: CaptureServer, variable: str
) -> None:
    """An endpoint from the OTel variables gets the user's headers (metrics-specific beats generic)."""
    helpers.due_report(paths)
    endpoint = capture.url if variable.endswith("METRICS_ENDPOINT") else capture.base_url
    result = helpers.cli(
        paths.base,
        "send",
        **{variable: endpoint},
        OTEL_EXPORTER_OTLP_HEADERS="x-generic=1",
        OTEL_EXPORTER_OTLP_METRICS_HEADERS=f"x-honeycomb-team={SECRET}",
    )
    assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
    [request] = capture.captured
    assert request.path == "/v1/metrics"
    assert request.headers == {**standard_headers(request, capture.port), "x-honeycomb-team": SECRET}
    assert otlp_json.to_dict(request.request()) == logged_body(paths)


def _tls_server(tmp_path: Path) -> tuple[CaptureServer, Path, Path, Path]:
    """An HTTPS capture server that asks for (but does not require) a client certificate."""
    server_cert, server_key = helpers.make_certificate(tmp_path, "server")
    client_cert, client_key = helpers.make_certificate(tmp_path, "client")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert, server_key)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(client_cert)
    return CaptureServer(tls=context), server_cert, client_cert, client_key


def _run(paths: Paths, environ: dict[str, str]) -> delivery.RunResult:
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "OTEL_EXPORTER_OTLP_TIMEOUT": "5000", **environ}
    preference.set_preference(paths, True, environ, now=helpers.DAY.start - timedelta(minutes=5))
    testing.ConversationLogWriter(paths.conversations_dir).session(helpers.DAY.start + timedelta(hours=2), 4)
    return delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: helpers.DAY.end))


@needs_openssl
def test_client_certificate_goes_only_to_the_users_endpoint(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/KEY: presented to the user's endpoint, never to VoiceMode's."""
    server, server_cert, client_cert, client_key = _tls_server(tmp_path)
    client = {
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(client_cert),
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(client_key),
    }
    with server:
        # VoiceMode's endpoint, trusted the way any requests user trusts a private CA.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server_cert))
        voicemode = _run(paths, {"VOICEMODE_TELEMETRY_ENDPOINT": server.url, **client})
        assert voicemode.outcome is delivery.Outcome.DELIVERED, voicemode.message
        assert server.captured[0].client_certificate is None
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        other = Paths(tmp_path / "other")
        own = _run(
            other,
            {
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": server.url,
                "OTEL_EXPORTER_OTLP_CERTIFICATE": str(server_cert),
                **client,
            },
        )
        assert own.outcome is delivery.Outcome.DELIVERED, own.message
        presented = server.captured[1].client_certificate
        assert presented is not None
        assert dict(item[0] for item in presented["subject"]) == {"commonName": "voicemode-test-client"}


@needs_openssl
def test_the_users_ca_file_does_not_vouch_for_voicemodes_endpoint(paths: Paths, tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_CERTIFICATE is trust for the user's backend, not for VoiceMode's endpoint."""
    server, server_cert, _, _ = _tls_server(tmp_path)
    with server:
        result = _run(
            paths,
            {"VOICEMODE_TELEMETRY_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(server_cert)},
        )
    assert result.outcome is delivery.Outcome.RETRY
    assert "TLS certificate" in result.message and "not trusted" in result.message
    assert server.captured == []


def test_status_lists_header_names_and_where_they_go(paths: Paths, capture: CaptureServer) -> None:
    """The JSON status names the headers (never their values) and the endpoint they go to."""
    helpers.due_report(paths)
    own = json.loads(
        helpers.cli(
            paths.base,
            "status",
            "--json",
            OTEL_EXPORTER_OTLP_ENDPOINT=capture.base_url,
            OTEL_EXPORTER_OTLP_HEADERS=f"x-honeycomb-team={SECRET},X-Team=voice",
        ).stdout
    )
    assert own["transport"]["endpoint"] == capture.url
    assert own["transport"]["headers"] == ["x-honeycomb-team", "x-team"]
    assert own["transport"]["ignored"] == []
    voicemode = helpers.cli(
        paths.base, "status", "--json", VOICEMODE_TELEMETRY_ENDPOINT=capture.url, **USER_SETTINGS
    ).stdout
    document = json.loads(voicemode)
    assert document["transport"]["endpoint"] == capture.url
    assert document["transport"]["headers"] == []
    assert document["transport"]["protocol"] == "http/protobuf"
    assert document["transport"]["ignored"] == sorted(USER_SETTINGS)
    assert SECRET not in voicemode and SECRET not in json.dumps(own)


def test_status_says_user_settings_were_ignored_for_voicemodes_endpoint(paths: Paths) -> None:
    """The text status names the ignored variables and why, without a value."""
    helpers.due_report(paths)
    text = helpers.cli(
        paths.base,
        "status",
        VOICEMODE_TELEMETRY_ENDPOINT="http://127.0.0.1:9/v1/metrics",
        OTEL_EXPORTER_OTLP_HEADERS=f"x-honeycomb-team={SECRET}",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    ).stdout
    [line] = [line for line in text.splitlines() if line.startswith("Not used:")]
    assert line == (
        "Not used:  OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL: your OpenTelemetry transport "
        "settings go only to an endpoint from OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT, and this one is "
        "VoiceMode's (VOICEMODE_TELEMETRY_ENDPOINT)"
    )
    assert SECRET not in text


@pytest.mark.parametrize(
    ("variable", "credentials"),
    [("VOICEMODE_TELEMETRY_ENDPOINT", False), ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", True)],
)
def test_erasure_carries_the_users_headers_only_to_the_users_endpoint(
    paths: Paths, capture: CaptureServer, variable: str, credentials: bool
) -> None:
    """An erasure's DELETE authenticates to the user's own endpoint; VoiceMode's Worker never sees the key."""
    helpers.due_report(paths)
    settings = {variable: capture.url, "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{SECRET}"}
    assert helpers.cli(paths.base, "send", **settings).stdout.startswith("delivered:")
    telemetry_id = paths.telemetry_id.read_text().strip()
    capture.answer(Behaviour(204, body=b""))
    result = helpers.cli(paths.base, "forget", **settings)
    assert result.returncode == 0, result.stdout + result.stderr
    delete = capture.captured[-1]
    assert (delete.method, delete.path) == ("DELETE", f"/v1/installations/{telemetry_id}")
    assert ("authorization" in delete.headers) is credentials
    assert ("authorization" in capture.captured[0].headers) is credentials
