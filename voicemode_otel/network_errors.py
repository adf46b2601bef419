"""A failed request, said in one line a person can act on.

``requests`` wraps ``urllib3`` wraps the socket error, and its message reads
``HTTPConnectionPool(host=..., port=...): Max retries exceeded with url: ...
(Caused by NewConnectionError(...))``. What matters is at the bottom of that
chain: refused, reset, timed out, a name that does not resolve, an untrusted
certificate. This module finds it and names the host and port.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

_TIMEOUTS = (requests.exceptions.Timeout, TimeoutError, urllib3.exceptions.ReadTimeoutError)
_CLOSED = (
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    BrokenPipeError,
    ConnectionAbortedError,
    urllib3.exceptions.ProtocolError,
    requests.exceptions.ChunkedEncodingError,
)


def duration(seconds: float) -> str:
    """``2.0 s`` or ``300 ms``."""
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def printable(text: str, limit: int = 120) -> str:
    """``text`` on one line, control characters replaced, at most ``limit`` characters.

    A server's reason phrase or error message ends up on the user's terminal and
    in the local log: it must not carry escape sequences or line breaks.
    """
    flat = "".join(ch if ch.isprintable() else "?" for ch in " ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps, outermost first (each once, at most 32)."""
    queue: list[BaseException] = [error]
    seen: set[int] = set()
    while queue and len(seen) < 32:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
        queue.extend(item for item in inner if isinstance(item, BaseException))


def _where(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the endpoint"
    host = parts.hostname or "the endpoint"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe(error: BaseException, url: str, timeout: float) -> str:
    """One line: what went wrong talking to ``url`` (never the raw exception text if avoidable)."""
    where = _where(url)
    chain = list(_chain(error))

    def first(kinds: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException | None:
        return next((item for item in chain if isinstance(item, kinds)), None)

    if first(ConnectionRefusedError):
        return f"connection refused by {where}"
    if first(http.client.RemoteDisconnected):  # a subclass of ConnectionResetError, but a clean close
        return f"connection closed by {where} before a complete response"
    if first(ConnectionResetError):
        return f"connection reset by {where}"
    if first(_TIMEOUTS) or any(type(item) is urllib3.exceptions.ConnectTimeoutError for item in chain):
        return f"timed out after {duration(timeout)}"
    if first((urllib3.exceptions.NameResolutionError, socket.gaierror)):
        return f"cannot resolve the host of {where}"
    verify = first(ssl.SSLCertVerificationError)
    if isinstance(verify, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {where} is not trusted ({printable(verify.verify_message or '')})"
    tls = first(ssl.SSLError)
    if isinstance(tls, ssl.SSLError):
        return f"TLS with {where} failed ({printable(tls.reason or str(tls), 80)})"
    if first(requests.exceptions.ProxyError):
        return f"the proxy for {where} failed"
    if first(_CLOSED):
        return f"connection closed by {where} before a complete response"
    system = next((item for item in chain if isinstance(item, OSError) and item.strerror), None)
    if isinstance(system, OSError) and system.strerror:
        return f"{system.strerror[0].lower()}{system.strerror[1:]} ({where})"
    root = chain[-1]
    return printable(f"{type(root).__name__}: {root}" if str(root) else type(root).__name__, 200)
