"""Each standard ``OTEL_EXPORTER_OTLP_*`` setting, read per the OpenTelemetry specification.

One reader per setting; :mod:`voicemode_otel.export.config` decides which
of them apply (the user's transport settings go only to the user's own
endpoint). A signal-specific ``_METRICS_`` variable replaces (never merges
with) the generic one, setting by setting. A value that cannot be used
either falls back safely with a sentence in ``warnings`` (a timeout, a header
entry, compression) or is a problem naming the variable (a TLS file that is
not there). Warnings name a header entry, never its value: it may be a secret.

Pure standard library: resolving settings never loads the HTTP stack.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

_log = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "http/json", "grpc")
DEFAULT_PROTOCOL = "http/protobuf"
DEFAULT_TIMEOUT_MS = 10_000
MIN_TIMEOUT_MS = 1.0
MAX_TIMEOUT_MS = 300_000.0
"""Five minutes. One attempt sends a report of a few kilobytes, and for all that time a
``voicemode-otel send`` keeps its user waiting and holds the delivery lock that every
other VoiceMode process then skips. A longer value is a typo, not a wish."""
SECONDS_BELOW = 100.0
"""A timeout under this is read as seconds, as opentelemetry-python reads the variable (its
docs give the default as ``10``); the specification's milliseconds from here on. No one
means a 10 ms timeout, and no one means 100 seconds either."""

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
_GRPC_KEY = re.compile(r"[0-9a-z_.-]+")  # gRPC metadata keys are narrower than HTTP names
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")  # printable ASCII, space and tab: no CR, LF, NUL
_TRUE = frozenset({"true"})
_FALSE = frozenset({"false"})

_LOGGED: set[str] = set()


def warn(warnings: list[str], sentence: str) -> None:
    """Keep the sentence for ``status`` and log it once per process (settings are read often)."""
    warnings.append(sentence)
    if sentence not in _LOGGED:
        _LOGGED.add(sentence)
        _log.warning("voicemode-otel: %s", sentence)


def pick(env: Mapping[str, str], name: str) -> tuple[str | None, str | None]:
    """The ``_METRICS_`` variant if set, else the generic variable; with the name that applied."""
    for variable in (f"OTEL_EXPORTER_OTLP_METRICS_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        value = env.get(variable, "").strip()
        if value:
            return value, variable
    return None, None


def parse_headers(
    raw: str,
    variable: str = "OTEL_EXPORTER_OTLP_HEADERS",
    warnings: list[str] | None = None,
    *,
    grpc: bool = False,
) -> dict[str, str]:
    """``key1=value1,key2=value2`` with percent-encoded values, as the spec defines it.

    An entry the transport would refuse (a CR or LF smuggled in as ``%0d%0a``, a
    control or non-ASCII character, a name that is not an HTTP token — or, for
    gRPC, not a metadata key) or one the exporter owns (``content-encoding``, ...)
    is dropped with a warning, and the rest are sent: one bad entry must not stop
    every report.
    """
    found = [] if warnings is None else warnings
    headers: dict[str, str] = {}
    for index, item in enumerate(raw.split(","), start=1):
        key, sep, value = item.partition("=")
        name = unquote(key.strip()).strip().lower()
        where = f"{variable} entry {index}"
        if not sep or not name:
            if item.strip():
                warn(found, f"{where} is not key=value; ignored")
            continue
        if not _TOKEN.fullmatch(name):
            warn(found, f"{where}: the name is not a valid HTTP header name; ignored")
            continue
        if grpc and (not _GRPC_KEY.fullmatch(name) or name.startswith("grpc-") or name.endswith("-bin")):
            warn(found, f"{where} ({name}): gRPC metadata cannot carry this name; ignored")
            continue
        decoded = unquote(value.strip()).strip(" \t")
        if not _FIELD_VALUE.fullmatch(decoded):
            warn(
                found,
                f"{where} ({name}): the value holds a line break, control or non-ASCII character "
                "that HTTP headers cannot carry; ignored",
            )
            continue
        if name in RESERVED_HEADERS:
            warn(found, f"{where} ({name}): voicemode-otel sets this header itself; ignored")
            continue
        headers[name] = decoded
    return headers


def number(raw: str) -> float:
    """``raw`` as a float; NaN for anything else (``float()`` also takes "٣" and "1_0")."""
    try:
        return float(raw) if raw.isascii() else math.nan
    except ValueError:
        return math.nan


def timeout(env: Mapping[str, str], warnings: list[str]) -> tuple[float, str]:
    """The timeout in seconds, and how it was read (for ``status``).

    The specification says milliseconds; opentelemetry-python's exporter reads
    seconds, and Python users write ``10`` or ``30``. Under 100 is therefore
    seconds, 100 or more milliseconds.
    """
    default = DEFAULT_TIMEOUT_MS / 1000
    raw, variable = pick(env, "TIMEOUT")
    if raw is None:
        return default, f"{default:g} s (the default)"
    value = number(raw)
    if math.isfinite(value) and MIN_TIMEOUT_MS / 1000 <= value < SECONDS_BELOW:
        return value, f"{value:g} s ({variable}={raw}: under {SECONDS_BELOW:g}, read as seconds)"
    if math.isfinite(value) and SECONDS_BELOW <= value <= MAX_TIMEOUT_MS:
        return value / 1000, f"{value / 1000:g} s ({variable}={raw}: read as milliseconds)"
    warn(
        warnings,
        f"{variable}={raw!r} is not a usable timeout (under {SECONDS_BELOW:g}: seconds, from "
        f"{MIN_TIMEOUT_MS / 1000:g}; from {SECONDS_BELOW:g}: milliseconds, up to {MAX_TIMEOUT_MS:.0f}); "
        f"using {default:g} s",
    )
    return default, f"{default:g} s (the default: {variable} is not usable)"


def compression(env: Mapping[str, str], warnings: list[str]) -> str:
    """``gzip`` (the default) or ``none``."""
    raw, variable = pick(env, "COMPRESSION")
    value = (raw or "gzip").lower()
    if value not in ("gzip", "none"):
        warn(warnings, f"{variable}={raw!r} is not gzip or none; using gzip")
        return "gzip"
    return value


def protocol(env: Mapping[str, str]) -> tuple[str, str | None, str | None]:
    """``(protocol, the variable it came from, problem)``; an unknown value is a problem."""
    raw, variable = pick(env, "PROTOCOL")
    if raw is None:
        return DEFAULT_PROTOCOL, None, None
    value = raw.lower()
    if value not in PROTOCOLS:
        return (
            DEFAULT_PROTOCOL,
            variable,
            f"{variable}={raw!r} is not supported; voicemode-otel sends {', '.join(PROTOCOLS)}",
        )
    return value, variable, None


def insecure(env: Mapping[str, str], warnings: list[str]) -> bool:
    """``OTEL_EXPORTER_OTLP_[METRICS_]INSECURE``: plain gRPC for an endpoint given without a scheme."""
    raw, variable = pick(env, "INSECURE")
    if raw is None:
        return False
    value = raw.lower()
    if value not in _TRUE | _FALSE:
        warn(warnings, f"{variable}={raw!r} is not true or false; using false (TLS)")
    return value in _TRUE


TLS_SETTINGS = ("CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY")


def tls_files(
    env: Mapping[str, str], warnings: list[str]
) -> tuple[dict[str, str | None], dict[str, str | None], str | None]:
    """CA, client certificate and key files, the variables they came from, and a problem.

    A named file that is not there is a problem: falling back to the system CAs
    would change whom the report is trusted to, and a missing file would
    otherwise fail every send as if the network were down.
    """
    files: dict[str, str | None] = {}
    variables: dict[str, str | None] = {}
    problem = None
    for name in TLS_SETTINGS:
        path, variables[name] = pick(env, name)
        files[name] = path
        if path is not None and problem is None and not _is_file(path):
            problem = f"{variables[name]}={path!r} is not a readable file; nothing is sent until it is"
    if files["CLIENT_KEY"] and not files["CLIENT_CERTIFICATE"]:
        warn(warnings, f"{variables['CLIENT_KEY']} is ignored without a client certificate")
        files["CLIENT_KEY"] = variables["CLIENT_KEY"] = None
    return files, variables, problem


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file() and os.access(path, os.R_OK)
    except (ValueError, OSError):  # missing, an embedded NUL, a name too long
        return False


def set_variables(env: Mapping[str, str], names: tuple[str, ...]) -> list[str]:
    """Which of ``OTEL_EXPORTER_OTLP_[METRICS_]<name>`` are set (non-empty), sorted."""
    return sorted(
        variable
        for name in names
        for variable in (f"OTEL_EXPORTER_OTLP_{name}", f"OTEL_EXPORTER_OTLP_METRICS_{name}")
        if env.get(variable, "").strip()
    )
