"""A failed request, said in one line a person can act on.

``requests`` wraps ``urllib3`` wraps the socket error, and its message reads
``HTTPConnectionPool(host=..., port=...): Max retries exceeded with url: ...
(Caused by NewConnectionError(...))``. What matters is at the bottom of that
chain: refused, reset, timed out, a name that does not resolve, an untrusted
certificate. This module finds it and names the host and port — the proxy's
when the request went to a proxy (``HTTP_PROXY``, ...) and that is what failed,
so a dead proxy is not blamed on the endpoint.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from voicemode_otel.export.proxies import Proxy

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


_PROXY_ERRORS = (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)
"""Raised when the proxy itself could not be reached or refused the tunnel."""


def _where(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the endpoint"
    host = parts.hostname or "the endpoint"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe(error: BaseException, url: str, timeout: float, proxy: Proxy | None = None) -> str:
    """One line: what went wrong talking to ``url`` (never the raw exception text if avoidable).

    With a ``proxy`` in use, a failure to reach the proxy names it and its variable
    ("connection refused by 127.0.0.1:3128 (the proxy from HTTP_PROXY, on the way to
    c:4318)"); any other failure says it went through the proxy.
    """
    chain = list(_chain(error))
    if proxy is None:
        return _cause(chain, _where(url), timeout)
    if any(isinstance(item, _PROXY_ERRORS) for item in chain):
        cause = _cause(chain, proxy.where, timeout)
        text = f"{cause} (the proxy from {proxy.variable}, on the way to {_where(url)})"
    else:
        text = f"{_cause(chain, _where(url), timeout)} {through(proxy)}"
    userinfo = urlsplit(proxy.url).netloc.rpartition("@")[0]
    return text.replace(userinfo, "***") if userinfo else text  # a raw message must not carry them


def through(proxy: Proxy) -> str:
    """``(through the proxy http://host:port from HTTPS_PROXY)``: credentials never shown."""
    return f"(through the proxy {proxy.shown} from {proxy.variable})"


def _cause(chain: list[BaseException], where: str, timeout: float) -> str:
    """The cause at the bottom of ``chain``, naming ``where`` (the endpoint or the proxy)."""

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
        return f"the proxy {where} failed"
    if first(_CLOSED):
        return f"connection closed by {where} before a complete response"
    system = next((item for item in chain if isinstance(item, OSError) and item.strerror), None)
    if isinstance(system, OSError) and system.strerror:
        return f"{system.strerror[0].lower()}{system.strerror[1:]} ({where})"
    root = chain[-1]
    return printable(f"{type(root).__name__}: {root}" if str(root) else type(root).__name__, 200)
