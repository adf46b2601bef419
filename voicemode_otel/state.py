"""Delivery bookkeeping on disk: ``state.json`` and the one ``pending.json``.

Both are small JSON files replaced atomically. Reading never fails: a
missing file is a fresh start and a corrupt one is reset with a log line.
A reset is always on the safe side — the opt-in time becomes "now", so
nothing from before it is reported, and nothing is ever counted twice.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from voicemode_otel.atomic import remove, write_private
from voicemode_otel.paths import Paths
from voicemode_otel.periods import Period, iso, parse_iso

_log = logging.getLogger(__name__)
_TIMES = ("opted_in_at", "acked_until", "retry_not_before", "last_attempt_at", "last_delivered_at")


@dataclass(frozen=True)
class DeliveryState:
    """Where delivery stands; every field is optional so an old or reset file still loads."""

    opted_in_at: datetime | None = None
    """The moment of opt-in: nothing measured before it is ever reported."""
    acked_until: datetime | None = None
    """End of the last period that was acknowledged, dropped or had nothing to send."""
    retry_not_before: datetime | None = None
    """Set after a retryable failure (``Retry-After`` or backoff)."""
    failures: int = 0
    """Consecutive retryable failures of the pending report."""
    last_attempt_at: datetime | None = None
    last_outcome: str | None = None
    last_delivered_at: datetime | None = None


def _encode_state(state: DeliveryState) -> str:
    raw: dict[str, Any] = asdict(state)
    for name in _TIMES:
        raw[name] = iso(raw[name]) if raw[name] is not None else None
    return json.dumps(raw, indent=2, sort_keys=True) + "\n"


def load_state(paths: Paths) -> DeliveryState:
    """The stored state; a missing file is a fresh state, a corrupt one is reset."""
    try:
        raw = json.loads(paths.state_file.read_text(encoding="utf-8"))
        known = {f.name for f in fields(DeliveryState)}
        values = {k: v for k, v in raw.items() if k in known}
        for name in _TIMES:
            if values.get(name) is not None:
                values[name] = parse_iso(values[name])
        state = DeliveryState(**values)
        if not isinstance(state.failures, int):
            raise TypeError("failures is not an integer")
    except FileNotFoundError:
        return DeliveryState()
    except (OSError, ValueError, TypeError, AttributeError) as error:
        _log.warning(
            "voicemode-otel: %s was unreadable (%s); starting from a fresh state", paths.state_file, error
        )
        return DeliveryState()
    return state


def save_state(paths: Paths, state: DeliveryState) -> None:
    """Replace the state file atomically."""
    write_private(paths.state_file, _encode_state(state))


@dataclass(frozen=True)
class PendingReport:
    """A report written before sending; resent with these exact bytes until settled."""

    period: Period
    body: bytes
    session_count: int
    created_at: datetime


def load_pending(paths: Paths, *, discard_corrupt: bool = True) -> PendingReport | None:
    """The pending report, or None; a corrupt file is removed with a log line.

    Read-only callers (status, preview) pass ``discard_corrupt=False``.
    """
    try:
        raw = json.loads(paths.pending_file.read_text(encoding="utf-8"))
        return PendingReport(
            period=Period(parse_iso(raw["period_start"]), parse_iso(raw["period_end"])),
            body=base64.b64decode(raw["body_protobuf_base64"], validate=True),
            session_count=int(raw["session_count"]),
            created_at=parse_iso(raw["created_at"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as error:
        if discard_corrupt:
            _log.warning("voicemode-otel: %s was unreadable (%s); discarded it", paths.pending_file, error)
            remove(paths.pending_file)
        return None


def save_pending(paths: Paths, pending: PendingReport) -> None:
    """Persist the report before the request is made."""
    document = {
        "period_start": iso(pending.period.start),
        "period_end": iso(pending.period.end),
        "session_count": pending.session_count,
        "created_at": iso(pending.created_at),
        "body_protobuf_base64": base64.b64encode(pending.body).decode("ascii"),
    }
    write_private(paths.pending_file, json.dumps(document, indent=2) + "\n")


def clear_pending(paths: Paths) -> bool:
    """Remove the pending report; True when there was one."""
    return remove(paths.pending_file)
