"""What counts as a usable endpoint URL: http or https, a valid host, a valid port.

Strict on purpose: only what every layer below (``requests``, ``urllib3``,
``http.client``) takes unchanged, so a URL that passes here can fail only on
the network, never as "No connection adapters were found" on every attempt.
Pure standard library: the host's start-up path imports this module.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_URL_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space
_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")  # "_" for container names
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_PORT = re.compile(r"[0-9]{1,5}")


def check_url(url: str, variable: str) -> str | None:
    """Why ``url`` (from ``variable``) cannot be an endpoint, as one sentence; None if it can."""
    shown = f"{variable}={url!r}"
    if not _URL_CHARS.fullmatch(url):
        return f"{shown} is not a URL: it holds a space, a control or a non-ASCII character"
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return f"{shown} is not a valid URL ({error})"
    if parts.scheme not in ("http", "https"):
        hint = f"; did you mean 'http://{url}'?" if not parts.netloc and ":" in url else ""
        return f"{shown} is not an http:// or https:// URL{hint}"
    if "@" in parts.netloc:
        return (
            f"{variable} holds credentials in the URL, which would be written to the local log "
            "and shown by status; put them in OTEL_EXPORTER_OTLP_HEADERS (e.g. authorization=...)"
        )
    host, port = _split_host_port(parts.netloc)
    if not host:
        return f"{shown} has no host"
    if not _valid_host(host):
        return f"{shown} does not name a valid host"
    if port is not None and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        return f"{shown} has an invalid port (1-65535)"
    return None


def _split_host_port(netloc: str) -> tuple[str, str | None]:
    """``host`` and the port text (None when absent or empty); brackets kept for IPv6."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            return "", None
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            return netloc, None  # "[::1]x": not a host
        return host, rest[1:] or None
    host, _, port = netloc.partition(":")
    return host, port or None


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return "%" not in host
    if _DOTTED_NUMBERS.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
