"""``preview``: the exact report that would be sent next, sending and writing nothing.

With consent, what is shown is what ``voicemode-otel send`` would send now,
byte for byte: the pending report if one is waiting, else the period since
the last settled one (never anything a delivered report already held), or
``{}`` when no session has completed since. Right after opting in that is
``{}`` too, and the sessions of the last 24 hours that began before the
opt-in are counted: they are never sent. Local mode shows the next report as
it will be logged. Without consent (off, not asked, paused) a report of the
last 24 hours is shown as an illustration, with a placeholder ID, because no
ID may exist before the opt-in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from voicemode_otel.consent import decision as consent
from voicemode_otel.contract import HOUR, Period, floor_hour, shown
from voicemode_otel.delivery import schedule
from voicemode_otel.export import config as exporter_config
from voicemode_otel.installation import PLACEHOLDER_ID, enrollment, installation_attributes
from voicemode_otel.logs import ReadStats, Session, completed_sessions
from voicemode_otel.report import build as report
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths, state

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Preview:
    """The next report (possibly empty) and what it means."""

    consent: consent.Consent
    period: Period | None
    """The period the report covers; None when no period has ended since the last one."""
    request: ExportMetricsServiceRequest
    session_count: int
    note: str
    read_stats: ReadStats
    exact: bool = True
    """True: this is what would be sent (or logged, in local mode); False: an illustration."""
    never_sent: int = 0
    """Sessions of the last 24 hours that began before the opt-in: no report will ever hold them."""

    def to_json(self, indent: int | None = 2) -> str:
        """The OTLP/JSON body (``{}`` when nothing would be sent)."""
        return otlp_json.to_json(self.request, indent=indent)


@dataclass(frozen=True)
class _Context:
    paths: Paths
    environ: Mapping[str, str]
    now: datetime
    decision: consent.Consent
    exec_source: str
    version: str | None


def build(
    paths: Paths,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    *,
    exec_source: str = "mcp",
    version: str | None = None,
) -> Preview:
    """Build the preview; creates no ID and writes nothing.

    The note names the same decision ``status`` shows (one consent check, the
    same recovered state), so the two can never disagree.
    """
    env = os.environ if environ is None else environ
    moment = now or datetime.now(timezone.utc)
    context = _Context(paths, env, moment, consent.decide(paths, env), exec_source, version)
    if context.decision.enabled:
        return _next_report(context)
    if context.decision.local:
        return _next_local(context)
    return _illustration(context)


def _read(context: _Context, period: Period | None) -> tuple[list[Session], ReadStats]:
    """Sessions completed in ``period`` and in the last 24 hours (to count those never sent)."""
    end = floor_hour(context.now)
    start = min(period.start, end - DAY) if period else end - DAY
    stats = ReadStats()
    return completed_sessions(context.paths.conversations_dir, Period(start, end), stats), stats


def _request(
    context: _Context, sessions: list[Session], period: Period | None, telemetry_id: str
) -> ExportMetricsServiceRequest:
    if not sessions or period is None:
        return ExportMetricsServiceRequest()
    attributes = installation_attributes(
        telemetry_id, exec_source=context.exec_source, environ=context.environ, version=context.version
    )
    return report.build_request(sessions, period, attributes)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _next_report(context: _Context) -> Preview:
    """Consent: exactly what `send` would send now."""
    paths, decision = context.paths, context.decision
    pending = state.load_pending(paths, discard_corrupt=False)
    if pending is not None:
        note = (
            "Telemetry is ON. This report is already saved and waiting to be sent; it will be sent "
            "exactly as shown."
        )
        request = ExportMetricsServiceRequest.FromString(pending.body)
        return Preview(decision, pending.period, request, pending.session_count, note, ReadStats())
    enrolled = enrollment.current(paths)
    cadence = exporter_config.resolve(context.environ).cadence
    current = state.load_state(paths, context.now)
    # Consent from the environment, not acted on yet: the opt-in moment will be the next run.
    since = enrolled.opted_in_at if enrolled else context.now
    period = schedule.next_period(current, since, context.now, cadence, force=True) if enrolled else None
    sessions, stats = _read(context, period)
    chosen = [s for s in sessions if period and period.contains(s.completed_at) and s.first >= since]
    never = sum(1 for s in sessions if s.first < since)
    request = _request(context, chosen, period, enrolled.telemetry_id if enrolled else PLACEHOLDER_ID)
    if enrolled is None:
        note = (
            f"Telemetry is ON ({decision.reason}). The opt-in moment is recorded when voicemode-otel first "
            "acts on it (VoiceMode's next start, or `voicemode-otel send`); nothing from before it is "
            "ever sent, so nothing would be sent now."
        )
    else:
        due = schedule.next_due(current, since, cadence)
        start = schedule.period_start(current, since)
        if current.last_delivered_at is not None and current.acked_until is not None:
            last = (
                f"The last report (until {shown(current.acked_until)}) was delivered at "
                f"{shown(current.last_delivered_at)}. "
            )
        else:
            last = ""
        if period is None:
            note = (
                f"Telemetry is ON. {last}Nothing would be sent now: the next report starts at "
                f"{shown(start)}; `voicemode-otel send` can send it from {shown(start + HOUR)}, and "
                f"VoiceMode sends it by itself from {shown(due)}."
            )
        elif chosen:
            itself = (
                f"VoiceMode sends it by itself from {shown(due)} (covering until then)"
                if due > context.now
                else "it is due, so VoiceMode sends it by itself the next time it runs"
            )
            note = (
                f"Telemetry is ON. {last}This is the report `voicemode-otel send` would send now; {itself}."
            )
        else:
            note = (
                f"Telemetry is ON. {last}No session has completed since {shown(period.start)}: "
                "nothing would be sent now."
            )
    if never:
        when = shown(since) if enrolled else "at the next run"
        note += (
            f" {_plural(never, 'session')} of the last 24 hours began before you opted in ({when}) "
            "and will never be sent."
        )
    return Preview(decision, period, request, len(chosen), note, stats, never_sent=never)


def _next_local(context: _Context) -> Preview:
    """Local mode: the next report as it will be logged here (never sent)."""
    local = state.load_local(context.paths)
    since = local.opted_in_at
    cadence = exporter_config.resolve(context.environ).cadence
    period = (
        schedule.next_period(local, since, context.now, cadence, force=True) if since is not None else None
    )
    sessions, stats = _read(context, period)
    chosen = [
        s for s in sessions if period and period.contains(s.completed_at) and since and s.first >= since
    ]
    request = _request(context, chosen, period, PLACEHOLDER_ID)
    if since is None:
        detail = "the first starts when voicemode-otel first acts on it (VoiceMode's next start, or `send`)"
    elif period is None:
        detail = f"the next one starts at {shown(schedule.period_start(local, since))}; none has ended since"
    else:
        detail = "this is the next one, as it will be logged"
    note = f"Telemetry is LOCAL ({context.decision.reason}): reports are logged here, never sent; {detail}."
    return Preview(context.decision, period, request, len(chosen), note, stats)


def _illustration(context: _Context) -> Preview:
    """No consent: what a report of the last 24 hours would look like, with a placeholder ID."""
    decision = context.decision
    end = floor_hour(context.now)
    period = Period(end - DAY, end)
    sessions, stats = _read(context, period)
    request = _request(context, sessions, period, PLACEHOLDER_ID)
    label = {consent.State.PAUSED: "PAUSED"}.get(decision.state, "OFF")
    note = (
        f"Telemetry is {label} ({decision.reason}); nothing is sent. If it were on, a report of the last "
        "24 hours would look like this (with a placeholder ID):"
    )
    return Preview(decision, period, request, len(sessions), note, stats, exact=False)
