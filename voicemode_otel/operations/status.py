"""What is going on, read-only: consent, endpoint, ID, last send, next due, pending report, erasure.

Used by ``voicemode-otel status``, the MCP status tool and resource. Reading
status never creates or changes a file, and it shows the same decision and
the same (recovered, if need be) state that delivery and ``preview`` use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from voicemode_otel.consent import decision as consent
from voicemode_otel.contract import Period, clock_difference, shown
from voicemode_otel.delivery import erasure, schedule
from voicemode_otel.export import config as exporter_config
from voicemode_otel.export import proxies
from voicemode_otel.installation import identity
from voicemode_otel.store import Paths, state

SCHEMA = 2
"""Version of the ``status --json`` shape; bumped only when a key changes meaning or goes."""


def when(moment: datetime | None) -> str | None:
    """A time as people read it: UTC, to the second."""
    return shown(moment) if moment else None


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
    server_retry_after: datetime | None = None
    id_problem: str | None = None
    state_recovered: str | None = None
    erasures: tuple[erasure.Request, ...] = field(default_factory=tuple)
    local_since: datetime | None = None
    settings: exporter_config.ExportSettings | None = None
    """The resolved export settings, for the ``transport`` lines."""
    proxy: proxies.Proxy | None = None
    proxy_bypassed: str | None = None
    """Why a proxy that is set is not used for the endpoint (``NO_PROXY``)."""
    clock_local_time: datetime | None = None
    """Set while sending is held because this clock and the server's differ by over an hour."""
    clock_server_time: datetime | None = None

    @property
    def label(self) -> str:
        """ON, LOCAL, PAUSED or OFF."""
        state_ = self.consent.state
        if state_ is consent.State.ON:
            return "ON"
        if state_ is consent.State.LOCAL:
            return "LOCAL"
        return "PAUSED" if state_ is consent.State.PAUSED else "OFF"

    def to_dict(self) -> dict[str, Any]:
        """The stable ``status --json`` shape (times in UTC ISO 8601, to the second)."""
        return {
            "schema": SCHEMA,
            "enabled": self.consent.enabled,
            "state": self.consent.state.value,
            "reason": self.consent.reason,
            "source": self.consent.source,
            "base_dir": self.base_dir,
            "endpoint": self.endpoint,
            "endpoint_source": self.endpoint_source,
            "endpoint_problem": self.endpoint_problem,
            "endpoint_warnings": list(self.endpoint_warnings),
            "telemetry_id": self.telemetry_id,
            "telemetry_id_problem": self.id_problem,
            "opted_in_at": when(self.opted_in_at),
            "reported_until": when(self.acked_until),
            "last_delivered_at": when(self.last_delivered_at),
            "last_outcome": self.last_outcome,
            "pending_period": self.pending_period.label() if self.pending_period else None,
            "pending_sessions": self.pending_sessions,
            "retry_not_before": when(self.retry_not_before),
            "server_retry_after": when(self.server_retry_after),
            "next_due": when(self.next_due),
            "state_recovered": self.state_recovered,
            "erasures": [r.to_dict() for r in self.erasures],
            "local_since": when(self.local_since),
            "transport": transport(self.settings, self.proxy) if self.settings else None,
            "clock_hold": self._clock_hold(),
        }

    def _clock_hold(self) -> dict[str, Any] | None:
        if self.clock_local_time is None or self.clock_server_time is None:
            return None
        return {
            "local_time": when(self.clock_local_time),
            "server_time": when(self.clock_server_time),
            "difference_seconds": round((self.clock_local_time - self.clock_server_time).total_seconds()),
            "recheck_after": when(self.retry_not_before),
        }


def transport(settings: exporter_config.ExportSettings, proxy: proxies.Proxy | None = None) -> dict[str, Any]:
    """How a report goes to the endpoint: header *names* (never values), TLS files, protocol, proxy."""
    tls = ("certificate", "client_certificate", "client_key")
    return {
        "endpoint": settings.endpoint,
        "protocol": settings.protocol,
        "compression": settings.compression,
        "headers": sorted(settings.headers),
        "tls_files": sorted(settings.sources[name] for name in tls if name in settings.sources),
        "timeout_seconds": settings.timeout_seconds,
        "timeout_reading": settings.timeout_reading,
        "proxy": {"url": proxy.shown, "variable": proxy.variable} if proxy else None,
        "ignored": list(settings.ignored),
    }


def current(paths: Paths, environ: Mapping[str, str] | None = None) -> Status:
    """Collect the status without side effects."""
    env = os.environ if environ is None else environ
    decision = consent.decide(paths, env)
    settings = exporter_config.resolve(env)
    delivery = state.load_state(paths)
    pending = state.load_pending(paths, discard_corrupt=False)
    local = state.load_local(paths) if decision.local else None
    next_due = None
    if decision.enabled and delivery.opted_in_at is not None and not settings.problem:
        next_due = (
            delivery.backoff_until(settings.target) or datetime.now(timezone.utc)
            if pending
            else schedule.next_due(delivery, delivery.opted_in_at, settings.cadence)
        )
    if next_due is not None and delivery.clock_local_time is not None and delivery.retry_not_before:
        next_due = delivery.retry_not_before  # held for the clock: when the server is asked again
    if local is not None and local.opted_in_at is not None:
        next_due = schedule.next_due(local, local.opted_in_at, settings.cadence)
    return Status(
        base_dir=str(paths.base),
        consent=decision,
        endpoint=settings.endpoint,
        endpoint_source=settings.endpoint_source,
        endpoint_problem=settings.problem,
        endpoint_warnings=settings.warnings,
        telemetry_id=identity.read(paths),
        id_problem=identity.problem(paths),
        opted_in_at=delivery.opted_in_at,
        acked_until=delivery.acked_until,
        last_delivered_at=delivery.last_delivered_at,
        last_outcome=delivery.last_outcome,
        pending_period=pending.period if pending else None,
        pending_sessions=pending.session_count if pending else None,
        retry_not_before=delivery.retry_not_before,
        server_retry_after=delivery.server_retry_after,
        next_due=next_due,
        state_recovered=delivery.recovered,
        erasures=tuple(erasure.load(paths)),
        local_since=local.opted_in_at if local else None,
        settings=settings,
        proxy=proxies.for_url(settings.endpoint) if settings.endpoint else None,
        proxy_bypassed=proxies.bypassed(settings.endpoint) if settings.endpoint else None,
        clock_local_time=delivery.clock_local_time if decision.enabled else None,
        clock_server_time=delivery.clock_server_time if decision.enabled else None,
    )


def _transport_lines(settings: exporter_config.ExportSettings) -> list[str]:
    """Protocol, timeout, header names, TLS files; the user's settings VoiceMode's endpoint does not get."""
    lines = []
    if settings.endpoint:
        lines.append(f"Transport: {settings.protocol}, {settings.compression}")
        lines.append(f"Timeout:   {settings.timeout_reading}")
    if settings.headers:
        lines.append(
            f"Headers:   {', '.join(sorted(settings.headers))} (from {settings.sources['headers']}; "
            "sent to this endpoint only)"
        )
    names = {"certificate": "CA file", "client_certificate": "client certificate", "client_key": "client key"}
    files = [
        f"{label} from {settings.sources[key]}" for key, label in names.items() if key in settings.sources
    ]
    if files:
        lines.append(f"TLS:       {', '.join(files)}")
    if settings.ignored:
        whose = (
            f"VoiceMode's ({settings.endpoint_source})"
            if settings.endpoint_source != "default"
            else "VoiceMode's (the built-in endpoint)"
        )
        lines.append(
            f"Not used:  {', '.join(settings.ignored)}: your OpenTelemetry transport settings go only to an "
            f"endpoint from OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT, and this one is {whose}"
        )
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_short(status: Status) -> str:
    """One line: the state, why, and what is outstanding."""
    parts = [f"telemetry {status.label}: {status.consent.reason}"]
    if status.pending_period:
        parts.append(f"a report is pending ({_plural(status.pending_sessions or 0, 'session')})")
    if status.erasures:
        parts.append(f"{_plural(len(status.erasures), 'erasure')} owed by the server")
    if status.endpoint_problem and status.consent.enabled:
        parts.append(status.endpoint_problem)
    return "; ".join(parts)


def render(status: Status) -> str:
    """The status as a few lines a person can read."""
    on = status.consent.enabled
    lines = [f"Telemetry: {status.label} — {status.consent.reason}"]
    if not status.consent.local:
        lines.append(
            f"Endpoint:  {status.endpoint or '(none)'}"
            + (f" [{status.endpoint_source}]" if status.endpoint else "")
            + (f" — {status.endpoint_problem}" if status.endpoint_problem else "")
        )
        lines.extend(f"Warning:   {warning}" for warning in status.endpoint_warnings)
        if status.settings is not None:
            lines.extend(_transport_lines(status.settings))
        if status.proxy is not None:
            lines.append(f"Proxy:     {status.proxy.shown} (from {status.proxy.variable})")
        elif status.proxy_bypassed:
            lines.append(f"Proxy:     none ({status.proxy_bypassed})")
    if status.id_problem:
        lines.append(f"ID:        (none) — {status.id_problem}")
    elif status.consent.local and status.consent.source == consent.METRICS_EXPORTER and status.telemetry_id:
        held = f"kept: nothing is sent while {consent.METRICS_EXPORTER}=console"
        lines.append(f"ID:        {status.telemetry_id} ({held})")
    elif status.consent.local:
        lines.append("ID:        (none: local mode never sends, so no ID exists)")
    elif on and not status.telemetry_id:  # after `forget`, or consent from the environment
        lines.append("ID:        (none yet: a new one is created with the next report)")
    else:
        lines.append(f"ID:        {status.telemetry_id or '(none: created only when you opt in)'}")
    if status.local_since:
        lines.append(f"Local since: {when(status.local_since)} (reports are logged: `voicemode-otel log`)")
    if status.opted_in_at and on:
        lines.append(f"Opted in:  {when(status.opted_in_at)} (nothing from before this is ever sent)")
    if status.state_recovered:
        lines.append(f"Recovered: {status.state_recovered}; rebuilt from enrollment.json and the log")
    if on or status.last_delivered_at:
        lines.append(f"Last sent: {when(status.last_delivered_at) or 'never'}")
    if status.last_outcome and on:
        lines.append(f"Last outcome: {status.last_outcome}")
    if status.pending_period and on:
        retry = ""
        if status.server_retry_after and status.server_retry_after > datetime.now(timezone.utc):
            retry = f", the server asked to wait until {when(status.server_retry_after)}"
        elif status.retry_not_before:
            retry = f", next automatic attempt after {when(status.retry_not_before)}"
        period, count = status.pending_period.label(), status.pending_sessions or 0
        lines.append(f"Pending:   report for {period} ({_plural(count, 'session')}){retry}")
    if on and status.clock_local_time and status.clock_server_time:
        recheck = (
            f"; the server is asked again after {when(status.retry_not_before)}"
            if status.retry_not_before
            else ""
        )
        lines.append(
            f"Held:      {clock_difference(status.clock_local_time, status.clock_server_time)}. "
            f"Nothing is sent until they agree within an hour{recheck} (`voicemode-otel send --force`: now)"
        )
    if status.next_due and status.consent.collecting:
        overdue = status.next_due <= datetime.now(timezone.utc)
        soon = "now (at the next start of VoiceMode, or `voicemode-otel send`)" if overdue else ""
        lines.append(f"Next due:  {soon or when(status.next_due)}")
    lines.extend(f"Erasure:   {line}" for line in erasure.describe_owed(list(status.erasures)))
    if status.consent.state is consent.State.NOT_ASKED:
        lines.append(
            "Turn on with `voicemode-otel enable` (or try `voicemode-otel local` first); "
            "`voicemode-otel preview` shows what would be sent."
        )
    return "\n".join(lines)
