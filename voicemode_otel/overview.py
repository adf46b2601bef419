"""What is going on, read-only: consent, endpoint, ID, last send, next due, pending report.

Used by ``voicemode-otel status``, the MCP status tool and resource. Reading
status never creates or changes a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from voicemode_otel import consent, exporter_config, identity, schedule, state
from voicemode_otel.paths import Paths
from voicemode_otel.periods import Period, iso


@dataclass(frozen=True)
class Status:
    """A snapshot of telemetry's state for one base directory."""

    base_dir: str
    consent: consent.Consent
    endpoint: str | None
    endpoint_source: str
    endpoint_problem: str | None
    telemetry_id: str | None
    opted_in_at: datetime | None
    acked_until: datetime | None
    last_delivered_at: datetime | None
    last_outcome: str | None
    pending_period: Period | None
    pending_sessions: int | None
    retry_not_before: datetime | None
    next_due: datetime | None
    endpoint_warnings: tuple[str, ...] = ()
    """Export settings that were ignored or fell back to their default."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times in UTC ISO 8601)."""

        def when(moment: datetime | None) -> str | None:
            return iso(moment) if moment else None

        return {
            "enabled": self.consent.enabled,
            "state": self.consent.state.value,
            "reason": self.consent.reason,
            "base_dir": self.base_dir,
            "endpoint": self.endpoint,
            "endpoint_source": self.endpoint_source,
            "endpoint_problem": self.endpoint_problem,
            "endpoint_warnings": list(self.endpoint_warnings),
            "telemetry_id": self.telemetry_id,
            "opted_in_at": when(self.opted_in_at),
            "reported_until": when(self.acked_until),
            "last_delivered_at": when(self.last_delivered_at),
            "last_outcome": self.last_outcome,
            "pending_period": self.pending_period.label() if self.pending_period else None,
            "pending_sessions": self.pending_sessions,
            "retry_not_before": when(self.retry_not_before),
            "next_due": when(self.next_due),
        }


def current(paths: Paths, environ: Mapping[str, str] | None = None) -> Status:
    """Collect the status without side effects."""
    env = os.environ if environ is None else environ
    decision = consent.decide(paths, env)
    settings = exporter_config.resolve(env)
    delivery = state.load_state(paths)
    pending = state.load_pending(paths, discard_corrupt=False)
    next_due = None
    if decision.enabled and delivery.opted_in_at is not None and not settings.problem:
        next_due = (
            delivery.retry_not_before or datetime.now(timezone.utc)
            if pending
            else schedule.next_due(delivery, delivery.opted_in_at, settings.cadence)
        )
    return Status(
        base_dir=str(paths.base),
        consent=decision,
        endpoint=settings.endpoint,
        endpoint_source=settings.endpoint_source,
        endpoint_problem=settings.problem,
        telemetry_id=identity.read(paths),
        opted_in_at=delivery.opted_in_at,
        acked_until=delivery.acked_until,
        last_delivered_at=delivery.last_delivered_at,
        last_outcome=delivery.last_outcome,
        pending_period=pending.period if pending else None,
        pending_sessions=pending.session_count if pending else None,
        retry_not_before=delivery.retry_not_before,
        next_due=next_due,
        endpoint_warnings=settings.warnings,
    )


def render(status: Status) -> str:
    """The status as a few lines a person can read."""
    on = status.consent.enabled
    lines = [
        f"Telemetry: {'ON' if on else 'OFF'} — {status.consent.reason}",
        f"Endpoint:  {status.endpoint or '(none)'}"
        + (f" [{status.endpoint_source}]" if status.endpoint else "")
        + (f" — {status.endpoint_problem}" if status.endpoint_problem else ""),
        f"ID:        {status.telemetry_id or '(none: created only when you opt in)'}",
    ]
    lines[2:2] = [f"Warning:   {warning}" for warning in status.endpoint_warnings]  # under Endpoint
    if status.opted_in_at:
        lines.append(f"Opted in:  {iso(status.opted_in_at)} (nothing from before this is ever sent)")
    lines.append(f"Last sent: {iso(status.last_delivered_at) if status.last_delivered_at else 'never'}")
    if status.last_outcome:
        lines.append(f"Last outcome: {status.last_outcome}")
    if status.pending_period:
        retry = f", next attempt after {iso(status.retry_not_before)}" if status.retry_not_before else ""
        period, count = status.pending_period.label(), status.pending_sessions
        lines.append(f"Pending:   report for {period} ({count} sessions){retry}")
    if status.next_due and on:
        overdue = status.next_due <= datetime.now(timezone.utc)
        when = "now (at the next start of VoiceMode, or `voicemode-otel send`)" if overdue else ""
        lines.append(f"Next due:  {when or iso(status.next_due)}")
    if status.consent.state is consent.State.NOT_ASKED:
        lines.append(
            "Turn on with `voicemode-otel enable`; `voicemode-otel preview` shows what would be sent."
        )
    return "\n".join(lines)
