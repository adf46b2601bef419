"""HTTP(S)_PROXY and NO_PROXY: honoured as requests honours them, and named wherever they matter.

A report to an endpoint goes through the proxy the environment names (as for
any ``requests`` user), so a dead proxy must be blamed, not the endpoint, and
``status`` shows which proxy a report would take. Credentials in a proxy URL
(``http://user:pass@proxy:3128``) are used, never shown.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import helpers
import pytest
from forward_proxy import ForwardProxy

from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer, GrpcCaptureServer


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    """A real forwarding proxy on 127.0.0.1."""
    with ForwardProxy() as started:
        yield started


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_dead_proxy_is_blamed_not_the_endpoint(paths: Paths, capture: CaptureServer, variable: str) -> None:
    """Nothing listens at the proxy: the cause names the proxy and its variable; the report is kept."""
    helpers.due_report(paths)
    port = closed_port()
    result = helpers.cli(
        paths.base,
        "send",
        VOICEMODE_TELEMETRY_ENDPOINT=capture.url,
        OTEL_EXPORTER_OTLP_TIMEOUT="5",
        **{variable: f"http://127.0.0.1:{port}"},
    )
    assert result.returncode == 1 and result.stdout.startswith("retry:"), result.stdout + result.stderr
    assert (
        f"(connection refused by 127.0.0.1:{port} (the proxy from {variable}, on the way to "
        f"127.0.0.1:{capture.port}))"
    ) in result.stdout
    assert capture.connections == 0 and paths.pending_file.exists()


def test_reports_go_through_the_proxy_status_names(
    paths: Paths, capture: CaptureServer, proxy: ForwardProxy
) -> None:
    """With HTTP_PROXY set, status names the proxy and the report really travels through it, unchanged."""
    helpers.due_report(paths)
    extra = {"VOICEMODE_TELEMETRY_ENDPOINT": capture.url, "HTTP_PROXY": proxy.url}
    status = helpers.cli(paths.base, "status", **extra).stdout.splitlines()
    assert f"Proxy:     {proxy.url} (from HTTP_PROXY)" in status
    document = json.loads(helpers.cli(paths.base, "status", "--json", **extra).stdout)
    assert document["transport"]["proxy"] == {"url": proxy.url, "variable": "HTTP_PROXY"}
    result = helpers.cli(paths.base, "send", **extra)
    assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
    assert proxy.handled == [("POST", capture.url)]
    [request] = capture.captured
    assert request.request() == helpers.logged_report(paths)


def test_no_proxy_sends_around_the_proxy_and_status_says_so(
    paths: Paths, capture: CaptureServer, proxy: ForwardProxy
) -> None:
    """NO_PROXY naming the endpoint's host: no proxy is used, and status says why."""
    helpers.due_report(paths)
    extra = {"VOICEMODE_TELEMETRY_ENDPOINT": capture.url, "HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}
    status = helpers.cli(paths.base, "status", **extra).stdout.splitlines()
    assert "Proxy:     none (127.0.0.1 is in NO_PROXY; HTTP_PROXY is not used for it)" in status
    assert (
        json.loads(helpers.cli(paths.base, "status", "--json", **extra).stdout)["transport"]["proxy"] is None
    )
    assert helpers.cli(paths.base, "send", **extra).stdout.startswith("delivered:")
    assert proxy.handled == [] and len(capture.captured) == 1


def test_proxy_credentials_are_used_but_never_shown(
    paths: Paths, capture: CaptureServer, proxy: ForwardProxy
) -> None:
    """user:pass@ in HTTP_PROXY reaches the proxy as Proxy-Authorization; status and errors never print it."""
    helpers.due_report(paths)
    with_credentials = proxy.url.replace("http://", "http://alice:s3cr3t@")
    extra = {"VOICEMODE_TELEMETRY_ENDPOINT": capture.url, "HTTP_PROXY": with_credentials}
    for command in (["status"], ["status", "--json"]):
        shown = helpers.cli(paths.base, *command, **extra).stdout
        assert "s3cr3t" not in shown and "alice" not in shown
    dead = f"http://alice:s3cr3t@127.0.0.1:{closed_port()}"
    failed = helpers.cli(
        paths.base, "send", **{**extra, "HTTP_PROXY": dead, "OTEL_EXPORTER_OTLP_TIMEOUT": "5"}
    )
    assert failed.returncode == 1 and "HTTP_PROXY" in failed.stdout, failed.stdout
    assert "s3cr3t" not in failed.stdout + failed.stderr and "alice" not in failed.stdout + failed.stderr
    assert helpers.cli(paths.base, "send", **extra).stdout.startswith("delivered:")
    assert proxy.proxy_authorization == ["Basic YWxpY2U6czNjcjN0"]  # alice:s3cr3t, to the proxy only
    assert "proxy-authorization" not in capture.captured[0].headers


def test_grpc_goes_through_the_same_proxy(paths: Paths, proxy: ForwardProxy) -> None:
    """A gRPC send takes the proxy requests would take (a CONNECT tunnel), and status says so."""
    helpers.due_report(paths)
    with GrpcCaptureServer() as server:
        extra = {"HTTP_PROXY": proxy.url, "OTEL_EXPORTER_OTLP_TIMEOUT": "10"}
        status = helpers.cli(
            paths.base,
            "status",
            OTEL_EXPORTER_OTLP_ENDPOINT=server.url,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            **extra,
        ).stdout.splitlines()
        assert f"Proxy:     {proxy.url} (from HTTP_PROXY)" in status
        result = helpers.send_over(paths, "grpc", server.url, variable="OTEL_EXPORTER_OTLP_ENDPOINT", **extra)
        assert result.stdout.startswith("delivered:"), result.stdout + result.stderr
        [arrived] = server.captured
        assert proxy.handled == [("CONNECT", f"127.0.0.1:{server.port}")]
    assert arrived.request == helpers.logged_report(paths)


def test_grpc_with_a_dead_proxy_names_the_proxy(paths: Paths) -> None:
    """A gRPC send through a proxy nobody runs: the cause names the proxy; the report is kept."""
    helpers.due_report(paths)
    port = closed_port()
    with GrpcCaptureServer() as server:
        server_port = server.port
        result = helpers.send_over(
            paths,
            "grpc",
            server.url,
            variable="OTEL_EXPORTER_OTLP_ENDPOINT",
            HTTP_PROXY=f"http://127.0.0.1:{port}",
            OTEL_EXPORTER_OTLP_TIMEOUT="5",
        )
        assert server.captured == []
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"(connection refused by 127.0.0.1:{port} (the proxy from HTTP_PROXY, on the way to "
        f"127.0.0.1:{server_port}))"
    ) in result.stdout
    assert paths.pending_file.exists()
