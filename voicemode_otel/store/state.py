"""Delivery bookkeeping on disk: ``state.json`` and the one ``pending.json``.

Both are small JSON files replaced atomically, never through a link. Reading
never fails. A corrupt ``state.json`` is not simply reset (that moved the
opt-in time to "now" and silently dropped a week of sessions): what it held
is recovered from what survives — the opt-in time from ``enrollment.json``,
the periods already settled and where they went from the transparency log,
the pending report's bounds from ``pending.json`` — on the safe side: a
recovered state can lose a period the log no longer remembers, but it can
never report anything twice or from before the opt-in. :func:`load_state`
returns that same recovered view to every reader (status, preview, the
sender), so they always agree; :func:`repair` writes it back and logs it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from voicemode_otel.contract import Period, ceil_hour, floor_hour, iso, parse_iso, shown
from voicemode_otel.store import transparency
from voicemode_otel.store.atomic import read_private, remove, write_private
from voicemode_otel.store.paths import Paths

_log = logging.getLogger(__name__)
_TIMES = (
    "opted_in_at",
    "acked_until",
    "retry_not_before",
    "server_retry_after",
    "last_attempt_at",
    "last_delivered_at",
    "delivered_until",
    "clock_local_time",
    "clock_server_time",
)
LOG_MEMORY = transparency.RETENTION + timedelta(days=1)
"""How far back the transparency log can vouch for what was sent."""


@dataclass(frozen=True)
class DeliveryState:
    """Where delivery stands; every field is optional so an old or reset file still loads."""

    opted_in_at: datetime | None = None
    """The moment of opt-in: nothing measured before it is ever reported."""
    acked_until: datetime | None = None
    """End of the last period that was acknowledged, dropped or had nothing to send."""
    retry_not_before: datetime | None = None
    """The client's own backoff after a retryable failure (``send`` ignores it)."""
    server_retry_after: datetime | None = None
    """A server's ``Retry-After`` (only ``send --force`` ignores it)."""
    failures: int = 0
    """Consecutive retryable failures of the pending report (at ``retry_target``)."""
    retry_target: str | None = None
    """Where those failures happened (``"<protocol> <endpoint>"``): the backoff and a server's
    ``Retry-After`` hold that endpoint only. Once the user points the report elsewhere (a URL
    fixed after a 404), it is tried at once, not after the old endpoint's backoff."""
    last_attempt_at: datetime | None = None
    last_outcome: str | None = None
    last_delivered_at: datetime | None = None
    delivered_until: datetime | None = None
    """End of the last period a server acknowledged: no period may ever start before it."""
    delivered_to: tuple[str, ...] = ()
    """Every endpoint that acknowledged (or may have stored) a report of this ID: where erasure is asked."""
    clock_local_time: datetime | None = None
    """Set while sending is held for a wrong clock: this machine's time when the server's was read."""
    clock_server_time: datetime | None = None
    """... and the server's time then (its ``Date``): they differed by more than an hour."""
    recovered: str | None = None
    """Set (never stored) when this state was rebuilt from a corrupt ``state.json``: why."""

    def holds(self, target: str) -> bool:
        """Whether the backoff and ``Retry-After`` recorded here apply to ``target``.

        An older state file, which did not record where they came from, is taken to mean this one.
        """
        return self.retry_target is None or self.retry_target == target

    def backoff_until(self, target: str) -> datetime | None:
        """When the pending report may next be sent to ``target`` in the background (None: now)."""
        return self.retry_not_before if self.holds(target) else None


def _encode_state(state: DeliveryState) -> str:
    raw: dict[str, Any] = asdict(state)
    raw.pop("recovered")
    for name in _TIMES:
        raw[name] = iso(raw[name]) if raw[name] is not None else None
    raw["delivered_to"] = list(state.delivered_to)
    return json.dumps(raw, indent=2, sort_keys=True) + "\n"


def _decode_state(data: bytes) -> DeliveryState:
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    known = {f.name for f in fields(DeliveryState)} - {"recovered"}
    values = {k: v for k, v in raw.items() if k in known}
    for name in _TIMES:
        if values.get(name) is not None:
            values[name] = parse_iso(values[name])
    if not isinstance(values.get("failures", 0), int) or isinstance(values.get("failures"), bool):
        raise TypeError("failures is not an integer")
    for name in ("last_outcome", "retry_target"):
        if values.get(name) is not None and not isinstance(values[name], str):
            raise TypeError(f"{name} is not a string")
    targets = values.get("delivered_to", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise TypeError("delivered_to is not a list of URLs")
    values["delivered_to"] = tuple(targets)
    return DeliveryState(**values)


def read_state(paths: Paths) -> tuple[DeliveryState | None, str | None]:
    """``(state, None)``; ``(None, None)`` when there is no file; ``(None, why)`` when it is unusable."""
    try:
        data = read_private(paths.state_file)
        if data is None:
            return None, None
        return _decode_state(data), None
    except (OSError, ValueError, TypeError, AttributeError, OverflowError) as error:
        return None, f"{paths.state_file} was unusable ({error})"


def load_state(paths: Paths, now: datetime | None = None) -> DeliveryState:
    """The stored state; a missing file is a fresh state, a corrupt one is recovered (see module doc)."""
    stored, problem = read_state(paths)
    if stored is not None:
        return stored
    if problem is None:
        return DeliveryState()
    return _recover(paths, problem, now)


def opted_in_from_enrollment(paths: Paths) -> datetime | None:
    """The opt-in moment written once at enrollment, or None."""
    try:
        data = read_private(paths.enrollment_file)
        return parse_iso(json.loads(data)["opted_in_at"]) if data else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


def save_enrollment(paths: Paths, opted_in_at: datetime) -> None:
    """Record the opt-in moment (a separate file, so a damaged ``state.json`` cannot lose it)."""
    document = {"opted_in_at": iso(opted_in_at)}
    write_private(paths.enrollment_file, json.dumps(document) + "\n", root=paths.base)


def _recover(paths: Paths, problem: str, now: datetime | None) -> DeliveryState:
    from datetime import timezone

    moment = now or datetime.now(timezone.utc)
    entries = list(transparency.read(paths))
    opted_in = opted_in_from_enrollment(paths)
    if opted_in is None:
        starts = [parse_iso(e["period_start"]) for e in entries if isinstance(e.get("period_start"), str)]
        enrolled = [parse_iso(e["time"]) for e in entries if e.get("event") == "enrolled"]
        opted_in = min(enrolled or starts, default=None)
    settled_ends: list[datetime] = []
    delivered: list[tuple[datetime, datetime, str]] = []
    for entry in entries:
        outcome = str(entry.get("outcome", ""))
        if entry.get("event") != "outcome" or not outcome.startswith(("delivered", "dropped")):
            continue
        end = parse_iso(entry["period_end"])
        settled_ends.append(end)
        if outcome.startswith("delivered"):
            delivered.append((parse_iso(entry["time"]), end, str(entry.get("endpoint", ""))))
    acked = max(settled_ends, default=None)
    pending = load_pending(paths, discard_corrupt=False)
    if pending is not None:
        acked = pending.period.start
    elif opted_in is not None and opted_in < moment - LOG_MEMORY:
        # Reports settled before the log's memory are unknown: start after them, never overlap.
        acked = max(acked or floor_hour(moment - LOG_MEMORY), floor_hour(moment - LOG_MEMORY))
    if opted_in is not None and acked is not None:
        acked = max(acked, ceil_hour(opted_in))
    state = DeliveryState(
        opted_in_at=opted_in,
        acked_until=acked,
        last_delivered_at=max((d[0] for d in delivered), default=None),
        delivered_until=max((d[1] for d in delivered), default=None),
        delivered_to=tuple(sorted({d[2] for d in delivered if d[2]})),
        last_outcome="recovered from the transparency log",
        recovered=problem,
    )
    return state


def repair(paths: Paths, now: datetime) -> DeliveryState:
    """Load the state; if it had to be recovered, store the recovery and say so in the log."""
    state = load_state(paths, now)
    if state.recovered is None:
        return state
    _log.warning("voicemode-otel: %s; recovered what the local records hold", state.recovered)
    save_state(paths, state)
    opted = shown(state.opted_in_at) if state.opted_in_at else "unknown (a new opt-in time is set now)"
    until = shown(state.acked_until) if state.acked_until else "nothing yet"
    transparency.append(
        paths,
        transparency.Entry(
            now,
            "state-reset",
            "",
            None,
            f"{state.recovered}; recovered opt-in time {opted}, reported until {until}",
        ),
    )
    return replace(state, recovered=None)


def save_state(paths: Paths, state: DeliveryState) -> None:
    """Replace the state file atomically."""
    write_private(paths.state_file, _encode_state(state), root=paths.base)


def load_local(paths: Paths) -> DeliveryState:
    """Local mode's bookkeeping (``opted_in_at`` = when local mode began); unusable = a fresh start."""
    try:
        data = read_private(paths.local_state_file)
        return _decode_state(data) if data else DeliveryState()
    except (OSError, ValueError, TypeError, AttributeError, OverflowError):
        return DeliveryState()


def save_local(paths: Paths, state: DeliveryState) -> None:
    """Replace local mode's bookkeeping atomically."""
    write_private(paths.local_state_file, _encode_state(state), root=paths.base)


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
        data = read_private(paths.pending_file, limit=1 << 22)
        if data is None:
            return None
        raw = json.loads(data)
        return PendingReport(
            period=Period(parse_iso(raw["period_start"]), parse_iso(raw["period_end"])),
            body=base64.b64decode(raw["body_protobuf_base64"], validate=True),
            session_count=int(raw["session_count"]),
            created_at=parse_iso(raw["created_at"]),
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
        if discard_corrupt:
            _log.warning("voicemode-otel: %s was unreadable (%s); discarded it", paths.pending_file, error)
            with contextlib.suppress(OSError):
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
    write_private(paths.pending_file, json.dumps(document, indent=2) + "\n", root=paths.base)


def clear_pending(paths: Paths) -> bool:
    """Remove the pending report; True when there was one."""
    return remove(paths.pending_file)
