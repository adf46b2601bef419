"""OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf, http/json and grpc deliver the same report to the user.

Each test sends with the real CLI (or the real delivery run) to a real receiver
that decodes what arrived — the HTTP capture server (protobuf and OTLP/JSON)
or a grpcio server implementing OpenTelemetry's ``MetricsService`` — and
compares it with the report the user can read in the local log. The helpers
(``helpers.send_over``, ``helpers.logged_report``) take any endpoint URL, so
the same checks run through a Collector's receivers.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import helpers
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from voicemode_otel import testing
from voicemode_otel.delivery import run as delivery
from voicemode_otel.export import config as exporter_config
from voicemode_otel.operations import preference
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths, state
from voicemode_otel.testing import CaptureServer, GrpcBehaviour, GrpcCaptureServer

SECRET = "MY_SECRET_KEY"
Received = Callable[[], list[tuple[ExportMetricsServiceRequest, dict[str, str]]]]


@contextmanager
def receiver(protocol: str) -> Iterator[tuple[str, str, Received]]:
    """``(metrics endpoint, base endpoint, what arrived)`` of a real receiver speaking ``protocol``."""
    if protocol == "grpc":
        with GrpcCaptureServer() as server:
            yield server.url, server.url, lambda: [(c.request, c.metadata) for c in server.captured]
    else:
        with CaptureServer() as capture:
            yield capture.url, capture.base_url, lambda: [(c.request(), c.headers) for c in capture.captured]


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json", "grpc"])
def test_each_protocol_delivers_exactly_the_logged_report(paths: Paths, protocol: str, variable: str) -> None:
    """The user's endpoint gets the report over the protocol asked for, with the user's header, exactly."""
    helpers.due_report(paths)
    with receiver(protocol) as (metrics_url, base_url, received):
        endpoint = metrics_url if variable.endswith("METRICS_ENDPOINT") else base_url
        result = helpers.send_over(
            paths,
            protocol,
            endpoint,
            variable=variable,
            OTEL_EXPORTER_OTLP_HEADERS=f"x-honeycomb-team={SECRET}",
        )
        assert result.returncode == 0 and result.stdout.startswith("delivered:"), (
            result.stdout + result.stderr
        )
        [(request, headers)] = received()
    assert request == helpers.logged_report(paths)
    assert headers["x-honeycomb-team"] == SECRET
    assert headers["user-agent"].startswith("OTel-OTLP-Exporter-Python/")


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_http_json_is_the_otlp_json_mapping_of_the_report(
    paths: Paths, capture: CaptureServer, compression: str
) -> None:
    """http/json: Content-Type application/json, and the body is the same OTLP/JSON document the log shows."""
    helpers.due_report(paths)
    result = helpers.send_over(paths, "http/json", capture.url, OTEL_EXPORTER_OTLP_COMPRESSION=compression)
    assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
    [request] = capture.captured
    assert request.headers["content-type"] == "application/json"
    assert ("content-encoding" in request.headers) is (compression == "gzip")
    raw = gzip.decompress(request.raw_body) if compression == "gzip" else request.raw_body
    document = json.loads(raw)
    assert document == otlp_json.to_dict(helpers.logged_report(paths))
    point = document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0]
    assert isinstance(point["startTimeUnixNano"], str)  # 64-bit integers as strings, per the mapping


def test_a_global_grpc_setting_does_not_stop_voicemodes_endpoint(
    paths: Paths, capture: CaptureServer
) -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc is for the user's endpoint: VoiceMode's still gets http/protobuf."""
    helpers.due_report(paths)
    result = helpers.cli(
        paths.base,
        "send",
        VOICEMODE_TELEMETRY_ENDPOINT=capture.url,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_HEADERS=f"x-honeycomb-team={SECRET}",
    )
    assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
    [request] = capture.captured
    assert request.headers["content-type"] == "application/x-protobuf"
    assert "x-honeycomb-team" not in request.headers
    assert request.request() == helpers.logged_report(paths)


def World(paths: Paths, url: str, **extra: str) -> helpers.DueUser:
    """An opted-in user with a due report, sending over gRPC to ``url``."""
    settings = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
        **extra,
    }
    return helpers.DueUser(paths, **settings)


CODES = [  # (the server's answer, the outcome, words the message holds)
    (GrpcBehaviour(grpc.StatusCode.UNAVAILABLE, "shutting down"), delivery.Outcome.RETRY, "UNAVAILABLE"),
    (
        GrpcBehaviour(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", retry_delay_seconds=7200),
        delivery.Outcome.RETRY,
        "RESOURCE_EXHAUSTED",
    ),
    (GrpcBehaviour(grpc.StatusCode.INTERNAL, "oops"), delivery.Outcome.RETRY, "INTERNAL"),
    (GrpcBehaviour(delay=1.5), delivery.Outcome.RETRY, "timed out after 500 ms"),
    (
        GrpcBehaviour(grpc.StatusCode.UNIMPLEMENTED, "unknown service"),
        delivery.Outcome.CHECK_ENDPOINT,
        "the endpoint answered UNIMPLEMENTED: is the URL right?",
    ),
    (
        GrpcBehaviour(grpc.StatusCode.NOT_FOUND, "no such tenant"),
        delivery.Outcome.CHECK_ENDPOINT,
        "the endpoint answered NOT_FOUND: is the URL right?",
    ),
    (
        GrpcBehaviour(grpc.StatusCode.UNAUTHENTICATED, "bad key"),
        delivery.Outcome.CHECK_ENDPOINT,
        "the endpoint answered UNAUTHENTICATED: are the credentials (OTEL_EXPORTER_OTLP_HEADERS) right?",
    ),
    (
        GrpcBehaviour(grpc.StatusCode.PERMISSION_DENIED, "no"),
        delivery.Outcome.CHECK_ENDPOINT,
        "the endpoint answered PERMISSION_DENIED: are the credentials (OTEL_EXPORTER_OTLP_HEADERS) right?",
    ),
    (
        GrpcBehaviour(grpc.StatusCode.INVALID_ARGUMENT, "bad bounds"),
        delivery.Outcome.DROPPED,
        "INVALID_ARGUMENT",
    ),
]


@pytest.mark.parametrize(("behaviour", "outcome", "words"), CODES, ids=lambda v: getattr(v, "name", None))
def test_grpc_status_codes(
    paths: Paths, behaviour: GrpcBehaviour, outcome: delivery.Outcome, words: str
) -> None:
    """Retryable codes and a timeout keep the report, as do a wrong URL or key; INVALID_ARGUMENT settles."""
    with GrpcCaptureServer() as server:
        timeout = {"OTEL_EXPORTER_OTLP_TIMEOUT": "500"} if behaviour.delay else {}
        world = World(paths, server.url, **timeout)
        server.answer(behaviour)
        result = world.run()
        assert result.outcome is outcome, result.message
        assert words in " ".join((result.message, *result.periods))
        if outcome is delivery.Outcome.DROPPED:
            assert not paths.pending_file.exists()
            return
        pending = state.load_pending(paths)
        assert pending is not None
        if behaviour.retry_delay_seconds:
            current = state.load_state(paths)
            assert current.server_retry_after == world.now + timedelta(seconds=behaviour.retry_delay_seconds)
        world.now += timedelta(days=2)
        world.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "5"
        assert world.run().outcome is delivery.Outcome.DELIVERED
        assert server.captured[-1].request == ExportMetricsServiceRequest.FromString(pending.body)
        assert server.captured[0].request == server.captured[-1].request


def test_grpc_partial_success_is_delivered_and_logged(paths: Paths) -> None:
    """An OK with partial_success settles the report and says how many points were rejected."""
    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = 2
    response.partial_success.error_message = "too old"
    with GrpcCaptureServer() as server:
        world = World(paths, server.url)
        server.answer(GrpcBehaviour(response=response))
        result = world.run()
    assert result.outcome is delivery.Outcome.DELIVERED
    assert "partial success: 2 points rejected: too old" in result.periods[0]


def test_grpc_without_the_extra_names_it_and_keeps_the_report(paths: Paths, capture: CaptureServer) -> None:
    """No grpcio: send says to install voicemode-otel[grpc], changes nothing; with it the same report goes."""
    helpers.due_report(paths)
    capture.answer(helpers_behaviour_503())
    assert helpers.cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url).returncode == 1
    kept = paths.pending_file.read_bytes()
    without = (
        "import sys\n"
        "sys.modules['grpc'] = None  # as if the grpc extra were not installed\n"
        "from voicemode_otel.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    with GrpcCaptureServer() as server:
        environ = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ["HOME"],
            "VOICEMODE_BASE_DIR": str(paths.base),
            "OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        }
        for command in (["send"], ["status"]):
            result = subprocess.run(
                [sys.executable, "-c", without, *command],
                env=environ,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            assert (
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the grpc extra: pip install 'voicemode-otel[grpc]'"
                in (result.stdout)
            ), result.stdout + result.stderr
        assert result.returncode == 0  # status
        assert paths.pending_file.read_bytes() == kept
        assert server.captured == []
        sent = helpers.send_over(paths, "grpc", server.url, variable="OTEL_EXPORTER_OTLP_ENDPOINT")
        assert sent.stdout.startswith("delivered:"), sent.stdout + sent.stderr
        [arrived] = server.captured
    assert arrived.request.SerializeToString() == base64.b64decode(json.loads(kept)["body_protobuf_base64"])


def helpers_behaviour_503() -> object:
    from voicemode_otel.testing import Behaviour

    return Behaviour(503)


def test_grpc_endpoint_without_a_scheme_follows_insecure(paths: Paths) -> None:
    """host:port over gRPC: plain text with OTEL_EXPORTER_OTLP_INSECURE=true (the spec's rule), else TLS."""
    assert exporter_config.resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    ).endpoint == ("https://collector:4317")
    helpers.due_report(paths)
    with GrpcCaptureServer() as server:
        result = helpers.send_over(
            paths,
            "grpc",
            f"127.0.0.1:{server.port}",
            variable="OTEL_EXPORTER_OTLP_ENDPOINT",
            OTEL_EXPORTER_OTLP_INSECURE="true",
        )
        assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
        [arrived] = server.captured
    assert arrived.request == helpers.logged_report(paths)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the certificates")
def test_grpc_over_tls_with_the_users_ca_and_client_certificate(paths: Paths, tmp_path: Path) -> None:
    """https:// over gRPC trusts OTEL_EXPORTER_OTLP_CERTIFICATE and presents the client certificate."""
    server_cert, server_key = helpers.make_certificate(tmp_path, "server")
    client_cert, client_key = helpers.make_certificate(tmp_path, "client")
    credentials = grpc.ssl_server_credentials(
        [(server_key.read_bytes(), server_cert.read_bytes())],
        root_certificates=client_cert.read_bytes(),
        require_client_auth=True,
    )
    helpers.due_report(paths)
    with GrpcCaptureServer(credentials=credentials) as server:
        result = helpers.send_over(
            paths,
            "grpc",
            server.url,
            OTEL_EXPORTER_OTLP_CERTIFICATE=str(server_cert),
            OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=str(client_cert),
            OTEL_EXPORTER_OTLP_CLIENT_KEY=str(client_key),
            OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer%20{SECRET}",
        )
        assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
        [arrived] = server.captured
    assert arrived.peer_identities == (b"voicemode-test-client",)
    assert arrived.metadata["authorization"] == f"Bearer {SECRET}"
    assert arrived.request == helpers.logged_report(paths)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("ok=1,grpc-timeout=1S", {"ok": "1"}),
        ("x-key-bin=AAAA,ok=1", {"ok": "1"}),
        ("a!b=1,ok=1", {"ok": "1"}),
    ],
)
def test_grpc_drops_headers_metadata_cannot_carry(raw: str, kept: dict[str, str]) -> None:
    """Over gRPC a header name gRPC reserves or cannot carry is dropped with a warning, the rest kept."""
    settings = exporter_config.resolve(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_HEADERS": raw,
        }
    )
    assert settings.headers == kept
    assert len(settings.warnings) == 1 and "gRPC metadata cannot carry this name" in settings.warnings[0]


def test_a_path_in_a_grpc_endpoint_is_warned_about() -> None:
    """A gRPC endpoint is host and port only: a /v1/metrics path hints at an HTTP setting; status says so."""
    settings = exporter_config.resolve(
        {
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4317/v1/metrics",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        }
    )
    assert settings.warnings == (
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT='http://c:4317/v1/metrics' has a path, which gRPC ignores",
    )


@pytest.mark.e2e
def test_http_json_to_the_worker_stores_the_same_rows_as_protobuf(tmp_path: Path) -> None:
    """The real Worker under wrangler dev stores an http/json report as exactly the protobuf one's rows."""
    from localworker import LocalWorker

    now = datetime.now(timezone.utc)
    with LocalWorker() as worker:
        ids = {}
        for protocol in ("http/protobuf", "http/json"):
            paths = Paths(tmp_path / protocol.replace("/", "-"))
            preference.set_preference(
                paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(hours=30)
            )
            writer = testing.ConversationLogWriter(paths.conversations_dir)
            for hours, rounds in ((20, 2), (12, 9), (6, 25)):
                writer.session(
                    (now - timedelta(hours=hours)).astimezone(testing.PACIFIC),
                    rounds,
                    conversation_id=f"c{hours}",
                )
            result = helpers.send_over(paths, protocol, worker.metrics_url, VOICEMODE_MCP_HOST="cursor")
            assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
            assert "partial success" not in result.stdout
            ids[protocol] = paths.telemetry_id.read_text().strip()
        tables = [
            row["name"]
            for row in worker.query("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            if not row["name"].startswith(("sqlite_", "_cf_", "d1_"))
        ]
        compared: dict[str, int] = {}
        for table in tables:
            columns = [c["name"] for c in worker.query(f'PRAGMA table_info("{table}")')]
            if "telemetry_id" not in columns:
                continue
            rows = {
                protocol: sorted(
                    json.dumps({k: v for k, v in row.items() if k != "telemetry_id"}, sort_keys=True)
                    for row in worker.query(
                        f'SELECT * FROM "{table}" WHERE telemetry_id = ?',  # noqa: S608 - names from sqlite_master
                        (telemetry_id,),
                    )
                )
                for protocol, telemetry_id in ids.items()
            }
            assert rows["http/json"] == rows["http/protobuf"], table
            compared[table] = len(rows["http/json"])
        # The installation, the report (its cells as JSON) and every cell row were compared.
        assert compared["installations"] == compared["reports"] == 1
        assert compared["report_cells"] >= 6
