"""Which proxy a request to an endpoint takes: ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY``.

Read exactly as ``requests`` reads them for the request itself
(``requests.utils.get_environ_proxies`` and ``select_proxy``: the process
environment, lower case before upper case, ``NO_PROXY`` hosts, domains and
CIDR ranges), so what ``status`` shows and what an error blames is the proxy
the report really takes. The gRPC sender is given the same proxy explicitly:
gRPC's own reading of the variables differs (it ignores ``HTTP_PROXY`` in
upper case, for one). A proxy URL may hold credentials (``user:pass@``): they
are used, and never shown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Proxy:
    """The proxy for one endpoint."""

    url: str
    """As configured, credentials included: for the transport only, never to be shown."""
    shown: str
    """``scheme://host:port``, without credentials."""
    variable: str
    """The variable it came from (``HTTPS_PROXY``, ``http_proxy``, ``ALL_PROXY``, ...)."""
    where: str
    """``host:port`` of the proxy, as connection errors name it."""


def _variable(scheme: str, value: str) -> str:
    """Which variable holds ``value`` (urllib takes lower case over upper case, as here)."""
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if os.environ.get(name, "").strip() == value.strip():
            return name
    return "the proxy settings"


def _redacted(url: str) -> tuple[str, str]:
    """``(scheme://host:port, host:port)`` of a proxy URL, credentials dropped."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    where = f"{host}:{port}" if port else host
    return f"{parts.scheme}://{where}", where


def for_url(url: str) -> Proxy | None:
    """The proxy ``requests`` would use for ``url``, or None (none set, or ``NO_PROXY`` covers it)."""
    import requests.utils

    try:
        chosen = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    except (ValueError, TypeError):  # a malformed variable: requests would fail the same way
        return None
    if not chosen:
        return None
    shown, where = _redacted(chosen)
    return Proxy(chosen, shown, _variable(urlsplit(url).scheme, chosen), where)


def bypassed(url: str) -> str | None:
    """Why no proxy is used although one is set (``NO_PROXY`` covers the host), for ``status``."""
    if for_url(url) is not None:
        return None
    scheme = urlsplit(url).scheme
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if os.environ.get(name, "").strip():
            host = urlsplit(url).hostname or url
            return f"{host} is in NO_PROXY; {name} is not used for it"
    return None
