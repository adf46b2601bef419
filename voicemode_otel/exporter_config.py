"""Where reports go and how, from the standard ``OTEL_EXPORTER_OTLP_*`` variables.

Resolved here, per the OpenTelemetry specification, and handed to the OTLP
exporter as explicit arguments — the Python exporter reads
``OTEL_EXPORTER_OTLP_TIMEOUT`` in seconds where the spec says milliseconds,
and it knows nothing of ``VOICEMODE_TELEMETRY_ENDPOINT``. Signal-specific
``_METRICS_`` variables replace (never merge with) the generic ones.
Pure standard library: the host's start-up path imports this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import unquote

_log = logging.getLogger(__name__)

PRODUCTION_ENDPOINT = ""
"""The project's Worker URL. Empty until the maintainers deploy it: never an invented domain."""

ENDPOINT_VARIABLE = "VOICEMODE_TELEMETRY_ENDPOINT"
METRICS_PATH = "/v1/metrics"
DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_CADENCE = timedelta(hours=24)
MIN_CADENCE = timedelta(hours=1)  # periods are whole hours
SUPPORTED_PROTOCOL = "http/protobuf"


@dataclass(frozen=True)
class ExportSettings:
    """Everything the sender needs, resolved once per run."""

    endpoint: str | None
    endpoint_source: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_TIMEOUT_MS / 1000
    compression: str = "gzip"
    certificate_file: str | None = None
    client_key_file: str | None = None
    client_certificate_file: str | None = None
    cadence: timedelta = DEFAULT_CADENCE
    problem: str | None = None
    """Why nothing can be sent (no endpoint, unsupported protocol), for ``status``."""

    @property
    def user_configured(self) -> bool:
        """The endpoint is the user's choice, not the project's default."""
        return self.endpoint_source != "default"

    def installation_url(self, telemetry_id: str) -> str | None:
        """The Worker's ``DELETE /v1/installations/{id}`` URL for this endpoint, if it is a Worker."""
        return installation_url(self.endpoint, telemetry_id) if self.endpoint else None


def installation_url(endpoint: str, telemetry_id: str) -> str | None:
    """``DELETE /v1/installations/{id}`` beside a Worker's ``/v1/metrics``; None for other endpoints."""
    if not endpoint.rstrip("/").endswith(METRICS_PATH):
        return None
    return endpoint.rstrip("/")[: -len(METRICS_PATH)] + f"/v1/installations/{telemetry_id}"


def _pick(env: Mapping[str, str], name: str) -> tuple[str | None, str | None]:
    """The ``_METRICS_`` variant if set, else the generic variable; with the name that applied."""
    specific = f"OTEL_EXPORTER_OTLP_METRICS_{name}"
    generic = f"OTEL_EXPORTER_OTLP_{name}"
    for variable in (specific, generic):
        value = env.get(variable, "").strip()
        if value:
            return value, variable
    return None, None


def parse_headers(raw: str) -> dict[str, str]:
    """``key1=value1,key2=value2`` with percent-encoded values, as the spec defines it."""
    headers: dict[str, str] = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            if item.strip():
                _log.warning("voicemode-otel: ignoring malformed OTLP header entry %r", item.strip())
            continue
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def _endpoint(env: Mapping[str, str]) -> tuple[str | None, str]:
    explicit = env.get(ENDPOINT_VARIABLE, "").strip()
    if explicit:
        return explicit, ENDPOINT_VARIABLE
    metrics = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
    if metrics:
        return metrics, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if base:
        return base.rstrip("/") + METRICS_PATH, "OTEL_EXPORTER_OTLP_ENDPOINT"
    return (PRODUCTION_ENDPOINT or None), "default"


def _timeout_seconds(env: Mapping[str, str]) -> float:
    raw, variable = _pick(env, "TIMEOUT")
    if raw is None:
        return DEFAULT_TIMEOUT_MS / 1000
    try:
        millis = float(raw)
    except ValueError:
        millis = -1
    if millis <= 0:
        _log.warning("voicemode-otel: %s=%r is not a positive number of milliseconds", variable, raw)
        return DEFAULT_TIMEOUT_MS / 1000
    return millis / 1000


def _compression(env: Mapping[str, str]) -> str:
    raw, variable = _pick(env, "COMPRESSION")
    value = (raw or "gzip").lower()
    if value not in ("gzip", "none"):
        _log.warning("voicemode-otel: %s=%r is not gzip or none; using gzip", variable, raw)
        return "gzip"
    return value


def _cadence(env: Mapping[str, str], user_configured: bool) -> timedelta:
    """24 h; ``OTEL_METRIC_EXPORT_INTERVAL`` (ms) may shorten it, for the user's own endpoint only."""
    raw = env.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
    if not raw or not user_configured:
        return DEFAULT_CADENCE
    try:
        interval = timedelta(milliseconds=float(raw))
    except (ValueError, OverflowError):
        return DEFAULT_CADENCE
    return min(DEFAULT_CADENCE, max(MIN_CADENCE, interval))


def resolve(environ: Mapping[str, str] | None = None) -> ExportSettings:
    """The export settings the environment asks for."""
    env = os.environ if environ is None else environ
    endpoint, source = _endpoint(env)
    problem = None
    if endpoint is None:
        problem = (
            "no endpoint: the project's Worker is not deployed yet; set "
            f"{ENDPOINT_VARIABLE} or OTEL_EXPORTER_OTLP_ENDPOINT to send reports"
        )
    protocol, protocol_variable = _pick(env, "PROTOCOL")
    if protocol and protocol != SUPPORTED_PROTOCOL:
        problem = (
            f"{protocol_variable}={protocol} is not supported; voicemode-otel sends {SUPPORTED_PROTOCOL} only"
        )
    headers_raw, _ = _pick(env, "HEADERS")
    user_configured = source != "default"
    return ExportSettings(
        endpoint=endpoint,
        endpoint_source=source,
        headers=parse_headers(headers_raw) if headers_raw else {},
        timeout_seconds=_timeout_seconds(env),
        compression=_compression(env),
        certificate_file=_pick(env, "CERTIFICATE")[0],
        client_key_file=_pick(env, "CLIENT_KEY")[0],
        client_certificate_file=_pick(env, "CLIENT_CERTIFICATE")[0],
        cadence=_cadence(env, user_configured),
        problem=problem,
    )
