"""Any value of any OTEL_EXPORTER_OTLP_* variable: resolve() never raises and never hands the sender junk.

The result is either a configuration every field of which the HTTP stack takes
as is — checked with the real ``requests`` preparation and ``http.client``'s
own request-line and header validation, which is where a CR/LF, a bad port or
a missing scheme used to fail every send — or a one-line problem naming the
variable, so nothing is attempted.
"""

from __future__ import annotations

import http.client
import math
from pathlib import Path
from urllib.parse import quote_from_bytes

import requests
import urllib3.util
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicemode_otel.export import config as exporter_config

SETTINGS = (
    "ENDPOINT",
    "HEADERS",
    "TIMEOUT",
    "COMPRESSION",
    "CERTIFICATE",
    "CLIENT_KEY",
    "CLIENT_CERTIFICATE",
    "INSECURE",
)
VARIABLES = (
    *(f"OTEL_EXPORTER_OTLP_{name}" for name in (*SETTINGS, "PROTOCOL")),
    *(f"OTEL_EXPORTER_OTLP_METRICS_{name}" for name in (*SETTINGS, "PROTOCOL")),
    "VOICEMODE_TELEMETRY_ENDPOINT",
    "OTEL_METRIC_EXPORT_INTERVAL",
)

# Environment strings can hold anything but NUL, including lone surrogates (undecodable bytes).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
hosts = st.one_of(
    st.sampled_from(
        [
            "127.0.0.1",
            "localhost",
            "[::1]",
            "[::1",
            "c",
            "a..b",
            "-x",
            "x_y",
            "",
            "[fe80::1%eth0]",
            "1.2.3.999",
        ]
    ),
    st.from_regex(r"[a-zA-Z0-9._\-\[\]:%@]{0,20}", fullmatch=True),
    any_text,
)
ports = st.one_of(
    st.just(""),
    st.integers(-5, 70_000).map(lambda port: f":{port}"),
    st.sampled_from([":", ":x", ": 1", ":+1"]),
)
paths = st.one_of(
    st.just(""),
    st.sampled_from(["/v1/metrics", "/?q=1", "#f", "/%zz", "/\\x", "/a b", "/\r\nX: y"]),
    any_text,
)
schemes = st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "http:/", "//", "http:"])
urls = st.builds(lambda *parts: "".join(parts), schemes, hosts, ports, paths)
numbers = st.one_of(
    st.floats().map(repr),
    st.integers().map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0x10", "1_000", " 5 ", "٣", "1e-300"]),
)
header_names = st.one_of(st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}", fullmatch=True), any_text)
header_values = st.one_of(st.binary(max_size=12).map(quote_from_bytes), any_text)
header_lists = st.lists(
    st.tuples(header_names, st.sampled_from(["=", "", "=="]), header_values), max_size=4
).map(lambda entries: ",".join(f"{name}{sep}{value}" for name, sep, value in entries))
values = st.one_of(
    urls,
    numbers,
    header_lists,
    any_text,
    st.sampled_from(["gzip", "none", "grpc", "http/protobuf", "http/json", "true", "false"]),
)
plausible_urls = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(["http://", "https://"]),
    st.sampled_from(["127.0.0.1", "[::1]", "collector", "otel_collector.local."]),
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}")),
    st.sampled_from(["", "/", "/v1/metrics", "/otlp/v1/metrics?tenant=a%20b"]),
)
values = st.one_of(values, plausible_urls)


def _with_a_valid_endpoint(environ: dict[str, str]) -> dict[str, str]:
    environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    return environ


environments = st.dictionaries(st.sampled_from(VARIABLES), values, max_size=6)
environments = st.one_of(environments, environments.map(_with_a_valid_endpoint))


def assert_request_acceptable(endpoint: str, headers: dict[str, str]) -> None:
    """What requests and http.client do before any byte is sent; both raise on what they refuse."""
    parsed = urllib3.util.parse_url(endpoint)
    assert parsed.scheme in ("http", "https") and parsed.host
    prepared = requests.Request("POST", endpoint, headers=headers, data=b"x").prepare()
    connection = http.client.HTTPConnection("127.0.0.1", 9)  # never connects: stops before endheaders()
    try:
        connection.putrequest("POST", prepared.path_url)
        for name, value in prepared.headers.items():
            connection.putheader(name, value)
    finally:
        connection.close()


def assert_sendable_or_not_configured(resolved: exporter_config.ExportSettings) -> None:
    assert math.isfinite(resolved.timeout_seconds)
    assert (
        exporter_config.MIN_TIMEOUT_MS / 1000
        <= resolved.timeout_seconds
        <= exporter_config.MAX_TIMEOUT_MS / 1000
    )
    assert resolved.compression in ("gzip", "none")
    assert resolved.protocol in ("http/protobuf", "http/json", "grpc")
    if not resolved.users_own:  # VoiceMode's endpoint: none of the user's transport settings
        assert (resolved.protocol, resolved.headers, resolved.compression) == ("http/protobuf", {}, "gzip")
        assert (
            resolved.certificate_file is resolved.client_certificate_file is resolved.client_key_file is None
        )
    assert exporter_config.MIN_CADENCE <= resolved.cadence <= exporter_config.DEFAULT_CADENCE
    assert isinstance(resolved.warnings, tuple)
    for sentence in (*resolved.warnings, resolved.problem or ""):
        assert isinstance(sentence, str) and sentence.isprintable(), sentence
    if resolved.endpoint is not None:
        assert_request_acceptable(resolved.endpoint, resolved.headers)
    if resolved.problem is not None:
        assert resolved.problem.startswith((*VARIABLES, "no endpoint")), resolved.problem
        return
    assert resolved.endpoint is not None
    for path in (resolved.certificate_file, resolved.client_certificate_file, resolved.client_key_file):
        assert path is None or Path(path).is_file()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(environments)
def test_any_environment_resolves_to_something_sendable_or_a_clear_problem(environ: dict[str, str]) -> None:
    """resolve() never raises; the result is sendable as is, or says which variable keeps it from sending."""
    assert_sendable_or_not_configured(exporter_config.resolve(environ))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(VARIABLES), any_text)
def test_any_single_value_of_any_variable(variable: str, value: str) -> None:
    """Each variable alone, next to a valid endpoint, with an arbitrary string."""
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", variable: value}
    assert_sendable_or_not_configured(exporter_config.resolve(environ))


@settings(max_examples=500, deadline=None)
@given(header_lists)
def test_any_header_list_keeps_only_what_http_can_carry(raw: str) -> None:
    """Whatever the header list holds, the kept headers pass requests' and http.client's checks."""
    resolved = exporter_config.resolve(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_HEADERS": raw}
    )
    assert resolved.problem is None
    assert_request_acceptable(resolved.endpoint or "", resolved.headers)
    assert not set(resolved.headers) & exporter_config.RESERVED_HEADERS
