"""Where reports go and how, from the standard ``OTEL_EXPORTER_OTLP_*`` variables.

Resolved here, per the OpenTelemetry specification, and handed to the OTLP
exporter as explicit arguments — the Python exporter reads
``OTEL_EXPORTER_OTLP_TIMEOUT`` in seconds where the spec says milliseconds,
and it knows nothing of ``VOICEMODE_TELEMETRY_ENDPOINT``. Signal-specific
``_METRICS_`` variables replace (never merge with) the generic ones.

Whatever the environment holds, :func:`resolve` never raises and returns
either a configuration every field of which the sender can use as is, or a
``problem`` saying in one sentence which variable keeps anything from being
sent. A configuration error is refused here, before any attempt, so it can
never be mistaken for a network failure and put a report into backoff.
Settings that can fall back safely (a timeout, a header entry, compression)
do so, with a sentence in ``warnings``.

Pure standard library: the host's start-up path imports this module.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

from voicemode_otel.endpoint_url import check_url

_log = logging.getLogger(__name__)

PRODUCTION_ENDPOINT = ""
"""The project's Worker URL. Empty until the maintainers deploy it: never an invented domain."""

ENDPOINT_VARIABLE = "VOICEMODE_TELEMETRY_ENDPOINT"
METRICS_PATH = "/v1/metrics"
DEFAULT_TIMEOUT_MS = 10_000
MIN_TIMEOUT_MS = 1.0
MAX_TIMEOUT_MS = 300_000.0
"""Five minutes. One attempt sends a report of a few kilobytes, and for all that time a
``voicemode-otel send`` keeps its user waiting and holds the delivery lock that every
other VoiceMode process then skips. A longer value is a typo or a unit mix-up (the
Python exporter's own reading of this variable is in seconds), not a wish."""
DEFAULT_CADENCE = timedelta(hours=24)
MIN_CADENCE = timedelta(hours=1)  # periods are whole hours
SUPPORTED_PROTOCOL = "http/protobuf"

# Headers the exporter and the HTTP framing own: a user value would corrupt the request
# (a Content-Encoding that does not match the gzip body, a wrong Content-Length, ...).
RESERVED_HEADERS = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "expect",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")  # RFC 9110 field-name (lower-cased)
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")  # printable ASCII, space and tab: no CR, LF, NUL

_LOGGED: set[str] = set()


@dataclass(frozen=True)
class ExportSettings:
    """Everything the sender needs, resolved once per run."""

    endpoint: str | None
    """A valid http(s) URL, or None when none is configured or the one set is invalid (see ``problem``)."""
    endpoint_source: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = DEFAULT_TIMEOUT_MS / 1000
    compression: str = "gzip"
    certificate_file: str | None = None
    client_key_file: str | None = None
    client_certificate_file: str | None = None
    cadence: timedelta = DEFAULT_CADENCE
    problem: str | None = None
    """Why nothing can be sent (no endpoint, an invalid one, unsupported protocol), for ``status``."""
    warnings: tuple[str, ...] = ()
    """Settings that were ignored or fell back to their default, one sentence each."""

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


def _warn(warnings: list[str], sentence: str) -> None:
    """Keep the sentence for ``status`` and log it once per process (``resolve`` runs often)."""
    warnings.append(sentence)
    if sentence not in _LOGGED:
        _LOGGED.add(sentence)
        _log.warning("voicemode-otel: %s", sentence)


def _pick(env: Mapping[str, str], name: str) -> tuple[str | None, str | None]:
    """The ``_METRICS_`` variant if set, else the generic variable; with the name that applied."""
    specific = f"OTEL_EXPORTER_OTLP_METRICS_{name}"
    generic = f"OTEL_EXPORTER_OTLP_{name}"
    for variable in (specific, generic):
        value = env.get(variable, "").strip()
        if value:
            return value, variable
    return None, None


def parse_headers(
    raw: str, variable: str = "OTEL_EXPORTER_OTLP_HEADERS", warnings: list[str] | None = None
) -> dict[str, str]:
    """``key1=value1,key2=value2`` with percent-encoded values, as the spec defines it.

    An entry the HTTP library would refuse (a CR or LF smuggled in as ``%0d%0a``, a
    control or non-ASCII character, a name that is not an HTTP token) or one the
    exporter owns (``content-encoding``, ...) is dropped with a warning, and the rest
    are sent: one bad entry must not stop every report. Warnings name the entry,
    never its value, which may be a secret.
    """
    found = [] if warnings is None else warnings
    headers: dict[str, str] = {}
    for index, item in enumerate(raw.split(","), start=1):
        key, sep, value = item.partition("=")
        name = unquote(key.strip()).strip().lower()
        where = f"{variable} entry {index}"
        if not sep or not name:
            if item.strip():
                _warn(found, f"{where} is not key=value; ignored")
            continue
        if not _TOKEN.fullmatch(name):
            _warn(found, f"{where}: the name is not a valid HTTP header name; ignored")
            continue
        decoded = unquote(value.strip()).strip(" \t")
        if not _FIELD_VALUE.fullmatch(decoded):
            _warn(
                found,
                f"{where} ({name}): the value holds a line break, control or non-ASCII character "
                "that HTTP headers cannot carry; ignored",
            )
            continue
        if name in RESERVED_HEADERS:
            _warn(found, f"{where} ({name}): voicemode-otel sets this header itself; ignored")
            continue
        headers[name] = decoded
    return headers


def _endpoint(env: Mapping[str, str]) -> tuple[str | None, str, str | None]:
    """The endpoint URL, the variable it came from, and why it cannot be used (if so)."""
    explicit = env.get(ENDPOINT_VARIABLE, "").strip()
    metrics = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    for value, variable, url in (
        (explicit, ENDPOINT_VARIABLE, explicit),
        (metrics, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", metrics),
        (base, "OTEL_EXPORTER_OTLP_ENDPOINT", base.rstrip("/") + METRICS_PATH),
    ):
        if value:
            # An invalid choice is a problem, never a reason to send somewhere else.
            problem = check_url(value, variable) or check_url(url, variable)
            if (
                problem is None
                and variable == "OTEL_EXPORTER_OTLP_ENDPOINT"
                and ("?" in value or "#" in value)
            ):
                problem = (
                    f"{variable}={value!r} is a base URL ({METRICS_PATH} is appended): no query or fragment"
                )
            return (None if problem else url), variable, problem
    if PRODUCTION_ENDPOINT:
        return PRODUCTION_ENDPOINT, "default", None
    return (
        None,
        "default",
        "no endpoint: the project's Worker is not deployed yet; set "
        f"{ENDPOINT_VARIABLE} or OTEL_EXPORTER_OTLP_ENDPOINT to send reports",
    )


def _number(raw: str) -> float:
    """``raw`` as a float; NaN for anything else (``float()`` also takes "٣" and "1_0")."""
    try:
        return float(raw) if raw.isascii() else math.nan
    except ValueError:
        return math.nan


def _timeout_seconds(env: Mapping[str, str], warnings: list[str]) -> float:
    raw, variable = _pick(env, "TIMEOUT")
    if raw is None:
        return DEFAULT_TIMEOUT_MS / 1000
    millis = _number(raw)
    if not (math.isfinite(millis) and MIN_TIMEOUT_MS <= millis <= MAX_TIMEOUT_MS):
        _warn(
            warnings,
            f"{variable}={raw!r} is not a number of milliseconds between {MIN_TIMEOUT_MS:.0f} and "
            f"{MAX_TIMEOUT_MS:.0f}; using {DEFAULT_TIMEOUT_MS}",
        )
        return DEFAULT_TIMEOUT_MS / 1000
    return millis / 1000


def _compression(env: Mapping[str, str], warnings: list[str]) -> str:
    raw, variable = _pick(env, "COMPRESSION")
    value = (raw or "gzip").lower()
    if value not in ("gzip", "none"):
        _warn(warnings, f"{variable}={raw!r} is not gzip or none; using gzip")
        return "gzip"
    return value


def _cadence(env: Mapping[str, str], user_configured: bool, warnings: list[str]) -> timedelta:
    """24 h; ``OTEL_METRIC_EXPORT_INTERVAL`` (ms) may shorten it, for the user's own endpoint only."""
    raw = env.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
    if not raw or not user_configured:
        return DEFAULT_CADENCE
    millis = _number(raw)
    if not (math.isfinite(millis) and millis > 0):
        _warn(warnings, f"OTEL_METRIC_EXPORT_INTERVAL={raw!r} is not a positive number of milliseconds")
        return DEFAULT_CADENCE
    return min(DEFAULT_CADENCE, max(MIN_CADENCE, timedelta(milliseconds=min(millis, 1e12))))


def _tls_files(env: Mapping[str, str], warnings: list[str]) -> tuple[dict[str, str | None], str | None]:
    """CA, client certificate and key files; a named file that is not there is a problem.

    Falling back to the system CAs would change whom the report is trusted to, and a
    missing file would otherwise fail every send as if the network were down.
    """
    files: dict[str, str | None] = {}
    variables: dict[str, str | None] = {}
    problem = None
    for name in ("CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"):
        path, variables[name] = _pick(env, name)
        files[name] = path
        if path is not None and problem is None and not _is_file(path):
            problem = f"{variables[name]}={path!r} is not a readable file; nothing is sent until it is"
    if files["CLIENT_KEY"] and not files["CLIENT_CERTIFICATE"]:
        _warn(warnings, f"{variables['CLIENT_KEY']} is ignored without a client certificate")
        files["CLIENT_KEY"] = None
    return files, problem


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file() and os.access(path, os.R_OK)
    except (ValueError, OSError):  # missing, an embedded NUL, a name too long
        return False


def resolve(environ: Mapping[str, str] | None = None) -> ExportSettings:
    """The export settings the environment asks for; never raises."""
    env = os.environ if environ is None else environ
    warnings: list[str] = []
    endpoint, source, problem = _endpoint(env)
    protocol, protocol_variable = _pick(env, "PROTOCOL")
    if problem is None and protocol and protocol != SUPPORTED_PROTOCOL:
        problem = (
            f"{protocol_variable}={protocol!r} is not supported; "
            f"voicemode-otel sends {SUPPORTED_PROTOCOL} only"
        )
    headers_raw, headers_variable = _pick(env, "HEADERS")
    headers = parse_headers(headers_raw, headers_variable or "", warnings) if headers_raw else {}
    files, tls_problem = _tls_files(env, warnings)
    problem = problem or tls_problem
    return ExportSettings(
        endpoint=endpoint,
        endpoint_source=source,
        headers=headers,
        timeout_seconds=_timeout_seconds(env, warnings),
        compression=_compression(env, warnings),
        certificate_file=files["CERTIFICATE"],
        client_key_file=files["CLIENT_KEY"],
        client_certificate_file=files["CLIENT_CERTIFICATE"],
        cadence=_cadence(env, source != "default", warnings),
        problem=problem,
        warnings=tuple(warnings),
    )
