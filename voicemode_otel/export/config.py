"""Where reports go and how: the endpoint, and which of the user's OTel transport settings apply.

The endpoint is ``VOICEMODE_TELEMETRY_ENDPOINT``, else
``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, else ``OTEL_EXPORTER_OTLP_ENDPOINT``
(+ ``/v1/metrics`` over HTTP), else the project's own. The user's transport
settings from the standard ``OTEL_EXPORTER_OTLP_*`` variables — headers
(typically an API key), CA file, client certificate and key, protocol,
compression — are credentials and choices for the user's *own* backend: they
apply only when the endpoint in effect comes from one of the two OTel endpoint
variables. VoiceMode's endpoint (the built-in one or
``VOICEMODE_TELEMETRY_ENDPOINT``) gets none of them: always gzip'd
http/protobuf with the system's trust store, the same request from everyone.
The timeout, which never shows on the wire, applies everywhere.

Resolved here, per the specification, and handed to the sender as explicit
values (the Python exporter would read the variables itself, differently).
Whatever the environment holds, :func:`resolve` never raises and returns
either settings every field of which the sender can use as is, or a
``problem`` saying in one sentence which variable keeps anything from being
sent — refused before any attempt, so a configuration error is never mistaken
for a network failure and never puts a report into backoff.

Pure standard library: resolving settings never loads the HTTP stack.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import urlsplit

from voicemode_otel.export import variables as otlp_variables
from voicemode_otel.export.endpoint import check_url
from voicemode_otel.export.variables import (
    DEFAULT_PROTOCOL,
    DEFAULT_TIMEOUT_MS,
    MAX_TIMEOUT_MS,
    MIN_TIMEOUT_MS,
    RESERVED_HEADERS,
    parse_headers,
)

__all__ = [
    "DEFAULT_PROTOCOL",
    "DEFAULT_TIMEOUT_MS",
    "MAX_TIMEOUT_MS",
    "MIN_TIMEOUT_MS",
    "RESERVED_HEADERS",
    "ExportSettings",
    "installation_url",
    "parse_headers",
    "resolve",
]

PRODUCTION_ENDPOINT = ""
"""The project's Worker URL. Empty until the maintainers deploy it: never an invented domain."""

ENDPOINT_VARIABLE = "VOICEMODE_TELEMETRY_ENDPOINT"
USER_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""An endpoint from these is the user's own backend: the user's transport settings go with it."""
USER_TRANSPORT_SETTINGS = (
    "HEADERS",
    "CERTIFICATE",
    "CLIENT_CERTIFICATE",
    "CLIENT_KEY",
    "PROTOCOL",
    "COMPRESSION",
    "INSECURE",
)
"""``OTEL_EXPORTER_OTLP_[METRICS_]<name>`` settings that apply to the user's own endpoint only."""
METRICS_PATH = "/v1/metrics"
DEFAULT_CADENCE = timedelta(hours=24)
MIN_CADENCE = timedelta(hours=1)  # periods are whole hours
GRPC_EXTRA = "pip install 'voicemode-otel[grpc]'"


@dataclass(frozen=True)
class ExportSettings:
    """Everything the sender needs, resolved once per run."""

    endpoint: str | None
    """A valid http(s) URL, or None when none is configured or the one set is invalid (see ``problem``)."""
    endpoint_source: str
    """The variable the endpoint came from, or ``default``."""
    protocol: str = DEFAULT_PROTOCOL
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_TIMEOUT_MS / 1000
    timeout_reading: str = "10 s (the default)"
    """How the timeout was read, for ``status``."""
    compression: str = "gzip"
    certificate_file: str | None = None
    client_key_file: str | None = None
    client_certificate_file: str | None = None
    cadence: timedelta = DEFAULT_CADENCE
    problem: str | None = None
    """Why nothing can be sent (no endpoint, an invalid one, unsupported protocol), for ``status``."""
    warnings: tuple[str, ...] = ()
    """Settings that were ignored or fell back to their default, one sentence each."""
    ignored: tuple[str, ...] = ()
    """The user's transport variables that are set but not used: the endpoint is VoiceMode's."""
    sources: dict[str, str] = field(default_factory=dict)
    """Which variable each applied user setting came from (``headers``, ``certificate``, ...)."""

    @property
    def user_configured(self) -> bool:
        """The endpoint is the user's choice, not the project's default."""
        return self.endpoint_source != "default"

    @property
    def target(self) -> str:
        """``"<protocol> <endpoint>"``: what a backoff or a server's ``Retry-After`` is bound to."""
        return f"{self.protocol} {self.endpoint or ''}"

    @property
    def users_own(self) -> bool:
        """The endpoint is the user's own backend (from an OTel variable): their settings apply."""
        return self.endpoint_source in USER_ENDPOINT_VARIABLES

    def installation_url(self, telemetry_id: str) -> str | None:
        """The Worker's ``DELETE /v1/installations/{id}`` URL for this endpoint, if it is a Worker."""
        if not self.endpoint or self.protocol == "grpc":
            return None
        return installation_url(self.endpoint, telemetry_id)

    def for_url(self, url: str, telemetry_id: str) -> ExportSettings:
        """These settings for a request to ``url`` (an erasure), with the user's credentials only for theirs.

        The user's own headers and TLS files go with the request only when ``url``
        belongs to the user's own endpoint in effect; anywhere else, none at all.
        """
        if self.users_own and self.installation_url(telemetry_id) == url:
            return self
        return replace(
            self,
            protocol=DEFAULT_PROTOCOL,
            headers={},
            compression="gzip",
            certificate_file=None,
            client_key_file=None,
            client_certificate_file=None,
        )


def installation_url(endpoint: str, telemetry_id: str) -> str | None:
    """``DELETE /v1/installations/{id}`` beside a Worker's ``/v1/metrics``; None for other endpoints."""
    if not endpoint.rstrip("/").endswith(METRICS_PATH):
        return None
    return endpoint.rstrip("/")[: -len(METRICS_PATH)] + f"/v1/installations/{telemetry_id}"


def _source(env: Mapping[str, str]) -> tuple[str, str]:
    """``(variable, value)`` of the endpoint in effect: the first set of the three, else the default."""
    for variable in (ENDPOINT_VARIABLE, *USER_ENDPOINT_VARIABLES):
        value = env.get(variable, "").strip()
        if value:
            return variable, value
    return "default", PRODUCTION_ENDPOINT


def _endpoint(
    variable: str, value: str, protocol: str, insecure: bool, warnings: list[str]
) -> tuple[str | None, str | None]:
    """The URL to send to, or why ``value`` (from ``variable``) cannot be one.

    An invalid choice is a problem, never a reason to send somewhere else. Over
    gRPC an endpoint is ``scheme://host:port`` used as is (no path is appended);
    one given without a scheme takes TLS unless ``OTEL_EXPORTER_OTLP_INSECURE``.
    """
    if not value:
        return None, (
            "no endpoint: the project's Worker is not deployed yet; set "
            f"{ENDPOINT_VARIABLE} or OTEL_EXPORTER_OTLP_ENDPOINT to send reports"
        )
    given = value
    if protocol == "grpc" and "://" not in value:
        given = ("http://" if insecure else "https://") + value
    url = given
    if protocol != "grpc" and variable == "OTEL_EXPORTER_OTLP_ENDPOINT":
        url = value.rstrip("/") + METRICS_PATH
    problem = check_url(given, variable) or check_url(url, variable)
    base = variable == "OTEL_EXPORTER_OTLP_ENDPOINT" and url != value
    if problem is None and base and ("?" in value or "#" in value):
        problem = f"{variable}={value!r} is a base URL ({METRICS_PATH} is appended): no query or fragment"
    if problem is not None:
        return None, problem
    _path_warnings(variable, value, url, protocol, warnings)
    return url, None


def _path_warnings(variable: str, value: str, url: str, protocol: str, warnings: list[str]) -> None:
    """The common path mistakes, said before the first send answers 404."""
    path = urlsplit(url).path
    if protocol == "grpc":
        if path.strip("/"):
            otlp_variables.warn(warnings, f"{variable}={value!r} has a path, which gRPC ignores")
        return
    if variable == "OTEL_EXPORTER_OTLP_ENDPOINT" and urlsplit(value).path.rstrip("/").endswith(METRICS_PATH):
        otlp_variables.warn(
            warnings,
            f"{variable} already ends in {METRICS_PATH}, and {METRICS_PATH} is appended to it: reports "
            f"go to {url}. Set it to the base URL, or the full URL in OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        )
    if variable == "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" and not path.strip("/"):
        otlp_variables.warn(
            warnings,
            f"{variable}={value!r} has no path and is used as is (an OTLP/HTTP receiver listens on "
            f"{METRICS_PATH}); or set the base URL in OTEL_EXPORTER_OTLP_ENDPOINT",
        )


def _cadence(env: Mapping[str, str], user_configured: bool, warnings: list[str]) -> timedelta:
    """24 h; ``OTEL_METRIC_EXPORT_INTERVAL`` (ms) may shorten it, for the user's own endpoint only."""
    raw = env.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
    if not raw or not user_configured:
        return DEFAULT_CADENCE
    millis = otlp_variables.number(raw)
    if not (math.isfinite(millis) and millis > 0):
        otlp_variables.warn(
            warnings, f"OTEL_METRIC_EXPORT_INTERVAL={raw!r} is not a positive number of milliseconds"
        )
        return DEFAULT_CADENCE
    return min(DEFAULT_CADENCE, max(MIN_CADENCE, timedelta(milliseconds=min(millis, 1e12))))


def grpc_available() -> bool:
    """Whether the ``grpc`` extra is installed (looked up, not imported: that is the reporter's job)."""
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("grpc", "opentelemetry.exporter.otlp.proto.grpc")
        )
    except (ImportError, ValueError):  # a parent that is not a package, a module without a spec
        return False


def resolve(environ: Mapping[str, str] | None = None) -> ExportSettings:
    """The export settings the environment asks for; never raises."""
    env = os.environ if environ is None else environ
    warnings: list[str] = []
    source, value = _source(env)
    timeout, reading = otlp_variables.timeout(env, warnings)
    if source not in USER_ENDPOINT_VARIABLES:
        # VoiceMode's endpoint: none of the user's transport settings, whatever they hold.
        endpoint, problem = _endpoint(source, value, DEFAULT_PROTOCOL, False, warnings)
        return ExportSettings(
            endpoint=endpoint,
            endpoint_source=source,
            timeout_seconds=timeout,
            timeout_reading=reading,
            problem=problem,
            cadence=_cadence(env, source != "default", warnings),
            warnings=tuple(warnings),
            ignored=tuple(otlp_variables.set_variables(env, USER_TRANSPORT_SETTINGS)),
        )
    protocol, protocol_variable, problem = otlp_variables.protocol(env)
    insecure = otlp_variables.insecure(env, warnings) if protocol == "grpc" else False
    endpoint, endpoint_problem = _endpoint(source, value, protocol, insecure, warnings)
    problem = endpoint_problem or problem
    if problem is None and protocol == "grpc" and not grpc_available():
        problem = (
            f"{protocol_variable}=grpc needs the grpc extra: {GRPC_EXTRA}; "
            "nothing is sent until it is installed (a pending report is kept)"
        )
    headers_raw, headers_variable = otlp_variables.pick(env, "HEADERS")
    headers = (
        parse_headers(headers_raw, headers_variable or "", warnings, grpc=protocol == "grpc")
        if headers_raw
        else {}
    )
    files, file_variables, tls_problem = otlp_variables.tls_files(env, warnings)
    sources = {
        name.lower(): variable
        for name, variable in (
            ("HEADERS", headers_variable if headers else None),
            ("PROTOCOL", protocol_variable),
            *((name, file_variables[name]) for name in otlp_variables.TLS_SETTINGS),
        )
        if variable
    }
    return ExportSettings(
        endpoint=endpoint,
        endpoint_source=source,
        protocol=protocol,
        headers=headers,
        timeout_seconds=timeout,
        timeout_reading=reading,
        compression=otlp_variables.compression(env, warnings),
        certificate_file=files["CERTIFICATE"],
        client_key_file=files["CLIENT_KEY"],
        client_certificate_file=files["CLIENT_CERTIFICATE"],
        cadence=_cadence(env, True, warnings),
        problem=problem or tls_problem,
        warnings=tuple(warnings),
        sources=sources,
    )
