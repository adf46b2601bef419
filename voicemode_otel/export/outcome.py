"""What one send came to, and the rules that read it from an HTTP status or a gRPC code.

Shared by the HTTP sender (:mod:`voicemode_otel.export.sender`) and the gRPC one
(:mod:`voicemode_otel.export.grpc_sender`), so that the same answer means the same
thing over every protocol: the delivery state machine sees only these outcomes.

* ``delivered`` — the endpoint acknowledged the report (perhaps partially).
* ``refused`` — the endpoint answered but stored none of it: every point was
  rejected (a 2xx whose ``partial_success`` counts them all). Not delivered; the
  same bytes would be refused again.
* ``retry`` — no answer, or one that says "later" (408, 429, 5xx; gRPC
  UNAVAILABLE, RESOURCE_EXHAUSTED, ...): kept, resent unchanged.
* ``misdirected`` — the URL or the credentials are wrong, not the data (404,
  405, 410, 415, 401, 403, 407, 3xx; gRPC UNIMPLEMENTED, NOT_FOUND,
  UNAUTHENTICATED, PERMISSION_DENIED): kept, and the user is told what to check.
* ``dropped`` — the endpoint refused the data itself (400, 413, other 4xx;
  gRPC INVALID_ARGUMENT, ...): the same bytes would be refused again.
* ``withdrawn`` — consent went away before the request left: nothing was sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

Outcome = Literal["delivered", "refused", "retry", "misdirected", "dropped", "withdrawn"]
URL_REFUSALS = frozenset({404, 405, 410, 415})
"""Not this URL (no route, not POST, gone, not OTLP's media type): the data was not judged."""
CREDENTIAL_REFUSALS = frozenset({401, 403})
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600.0
"""A longer Retry-After is broken or hostile; the delivery state machine caps it further."""
CREDENTIALS_HINT = "are the credentials (OTEL_EXPORTER_OTLP_HEADERS) right?"


@dataclass(frozen=True)
class SendResult:
    """What happened to one report."""

    outcome: Outcome
    status: int | None
    """The HTTP status, if an HTTP response arrived."""
    detail: str
    retry_after_seconds: float | None = None
    rejected_points: int = 0
    server_time: datetime | None = None
    """The server's ``Date``: when it judged the report (None without one, or one that is no date)."""


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is True too
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        moment = parsedate_to_datetime(text)
        seconds = (
            moment.replace(tzinfo=moment.tzinfo or timezone.utc) - datetime.now(timezone.utc)
        ).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) else None


def server_time(value: str | None) -> datetime | None:
    """A ``Date`` header as an aware UTC datetime; None if absent or not an HTTP date."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)


def misdirection(status: int, users_own: bool) -> str | None:
    """What to check when ``status`` says the URL or the credentials are wrong, not the data; else None.

    A redirect is not followed (an endpoint that redirects is misconfigured, and a
    report must not follow it somewhere else), so it is a URL to fix too.
    """
    if 300 <= status < 400:
        return f"the endpoint answered {status} (a redirect, not followed): is the URL right?"
    if status in URL_REFUSALS:
        return f"the endpoint answered {status}: is the URL right?"
    if status == 407:
        return "the proxy answered 407: are the proxy's credentials right?"
    if status in CREDENTIAL_REFUSALS:
        return credentials_hint(str(status), users_own)
    return None


def delivered(status: int | None, rejected: int, message: str, points: int) -> SendResult:
    """An acknowledgement of a report of ``points`` points, ``rejected`` of them refused (partial success).

    Every point refused is no delivery: the contract judged the report and stored none
    of it (the Worker stores a report whole or not at all), so it is ``refused``.
    """
    from voicemode_otel.export.errors import printable

    shown = "OK" if status is None else f"{status}"
    if points and rejected >= points:
        detail = f"{shown}; all {points} points rejected: {printable(message)}"
        return SendResult("refused", status, detail, rejected_points=rejected)
    detail = shown + (
        f"; partial success: {rejected} points rejected: {printable(message)}" if rejected else ""
    )
    return SendResult("delivered", status, detail, rejected_points=rejected)


def credentials_hint(answer: str, users_own: bool) -> str:
    """The sentence for a refusal of the credentials; VoiceMode's endpoint never gets the user's."""
    if users_own:
        return f"the endpoint answered {answer}: {CREDENTIALS_HINT}"
    return (
        f"the endpoint answered {answer}: it wants credentials, which go only to an endpoint "
        "from OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT"
    )
