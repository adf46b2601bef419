"""Raw provider and transport strings from VoiceMode's logs → the contract's closed sets.

Nothing from a log line ever reaches a report as written: a URL, a custom
host name or a typo becomes ``other``, a missing value ``unknown``. Ports are
compared on the parsed URL (the earlier code matched the substring "2022"
anywhere, so a date in a path made a provider "whisper-local").
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from voicemode_otel.contract import spec as contract

# VoiceMode's default local services (Kokoro TTS on 8880, whisper.cpp STT on 2022).
_PORT_NAMES = {8880: "kokoro", 2022: "whisper-local"}
_NAME_ALIASES = {
    "whisper": "whisper-local",
    "whisper.cpp": "whisper-local",
    "whisper-cpp": "whisper-local",
    "mlx_audio": "mlx-audio",
    "noop": "no-op",
}


@lru_cache(maxsize=1024)
def _from_url(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    if host == "openai.com" or host.endswith(".openai.com"):
        return "openai"
    return _PORT_NAMES.get(port) if port is not None else None


def provider_name(provider: object, provider_url: object = None) -> str:
    """The closed-set provider name for a log line's ``provider`` / ``provider_url``.

    A recognisable URL wins (OpenAI's API, or VoiceMode's default local
    ports). Otherwise a specific provider name the contract lists is kept;
    "openai" with some other URL is an OpenAI-compatible server of the user's
    own, so it becomes ``other``, as does anything unrecognised.
    """
    allowed = contract.load().closed_values(contract.PROVIDER_NAME)
    url = provider_url.strip() if isinstance(provider_url, str) else ""
    if url:
        from_url = _from_url(url)
        if from_url:
            return from_url
    name = provider.strip().lower() if isinstance(provider, str) else ("" if provider is None else "?")
    name = _NAME_ALIASES.get(name, name)
    if name == "openai" and url:
        return "other"
    if name:
        return name if name in allowed else "other"
    return "other" if url else "unknown"


def transport(value: object) -> str:
    """The closed-set transport, ``unknown`` for anything not in the contract."""
    allowed = contract.load().closed_values(contract.TRANSPORT)
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    return "unknown"
