"""``preview``: the exact report that would be sent next, sending and writing nothing.

With consent and a pending report, that stored report is what goes next and
is shown byte for byte. Otherwise the next period's report is built the way
the sender would build it. Without consent (or before the first period) the
last 24 hours are shown as an illustration, with a placeholder ID, because
no ID may exist before the opt-in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from voicemode_otel import consent, contract, enrollment, otlp_json, report, schedule, state
from voicemode_otel.identity import PLACEHOLDER_ID
from voicemode_otel.paths import Paths
from voicemode_otel.periods import Period, floor_hour, iso
from voicemode_otel.resource_detector import installation_attributes
from voicemode_otel.sessions import ReadStats, completed_sessions

NEWEST_KNOWN_SCHEMA = 4
"""VoiceMode's newest ``ConversationLogger.SCHEMA_VERSION`` this package was tested with (voice-mode 9)."""
_BAR_WIDTH = 28


@dataclass(frozen=True)
class Preview:
    """The next report (if any) and what it means."""

    consent: consent.Consent
    period: Period
    request: ExportMetricsServiceRequest
    session_count: int
    note: str
    read_stats: ReadStats

    def to_json(self, indent: int | None = 2) -> str:
        """The OTLP/JSON body (``{}`` when nothing would be sent)."""
        return otlp_json.to_json(self.request, indent=indent)


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
    decision = consent.decide(paths, env)
    stats = ReadStats()
    pending = state.load_pending(paths, discard_corrupt=False) if decision.enabled else None
    if pending is not None:
        request = ExportMetricsServiceRequest.FromString(pending.body)
        note = "This report is already saved and waiting to be sent; it will be sent exactly as shown."
        return Preview(decision, pending.period, request, pending.session_count, note, stats)
    enrolled = enrollment.current(paths) if decision.enabled else None
    since: datetime | None = enrolled.opted_in_at if enrolled else None
    schedule_state = state.load_state(paths, moment)
    if decision.local:
        schedule_state = state.load_local(paths)
        since = schedule_state.opted_in_at
    period = None
    if since is not None:
        period = schedule.next_period(schedule_state, since, moment, timedelta(), force=True)
    if period is not None:
        note = (
            "Local mode: this is the next report, built as it will be logged here. Nothing is ever sent."
            if decision.local
            else "This is the report for the next period, built as the sender would build it."
        )
    else:
        end = floor_hour(moment)
        period = Period(end - timedelta(hours=24), end)
        if decision.enabled and enrolled:
            note = (
                "Telemetry is ON but the first period has not ended yet; "
                "this shows what the last 24 hours would look like."
            )
        elif decision.enabled:
            note = (
                f"Telemetry is ON ({decision.reason}). The anonymous ID is made with the first report; "
                "this shows what the last 24 hours would look like, with a placeholder ID."
            )
        elif decision.local:
            note = (
                f"Telemetry is in LOCAL mode ({decision.reason}); nothing is sent. "
                "This shows what a report of the last 24 hours would look like."
            )
        else:
            note = (
                f"Telemetry is OFF ({decision.reason}); nothing is sent. "
                "This shows what a report of the last 24 hours would look like, with a placeholder ID."
            )
    sessions = completed_sessions(paths.conversations_dir, period, stats)
    if since is not None:
        sessions = [s for s in sessions if s.first >= since]
    telemetry_id = enrolled.telemetry_id if enrolled else PLACEHOLDER_ID
    attributes = installation_attributes(telemetry_id, exec_source=exec_source, environ=env, version=version)
    request = (
        report.build_request(sessions, period, attributes) if sessions else ExportMetricsServiceRequest()
    )
    return Preview(decision, period, request, len(sessions), note, stats)


def _bar(count: int, largest: int) -> str:
    return "█" * max(1 if count else 0, round(_BAR_WIDTH * count / largest)) if largest else ""


def _histogram_totals(request: ExportMetricsServiceRequest, name: str) -> tuple[list[int], dict[str, int]]:
    spec = contract.load().metric(name)
    totals = [0] * len(spec.bins)
    by_transport: dict[str, int] = {}
    for entry in request.resource_metrics:
        for scope in entry.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.histogram.data_points:
                    for index, count in enumerate(point.bucket_counts):
                        totals[index] += count
                    transport = next((a.value.string_value for a in point.attributes), "unknown")
                    by_transport[transport] = by_transport.get(transport, 0) + point.count
    return totals, by_transport


def _provider_counts(request: ExportMetricsServiceRequest) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for entry in request.resource_metrics:
        for scope in entry.scope_metrics:
            for metric in scope.metrics:
                if metric.name == contract.PROVIDERS:
                    for point in metric.sum.data_points:
                        attrs = {a.key: a.value.string_value for a in point.attributes}
                        key = (attrs.get(contract.PROVIDER_ROLE, "?"), attrs.get(contract.PROVIDER_NAME, "?"))
                        counts[key] = counts.get(key, 0) + point.as_int
    return counts


def _version_order(key: str) -> tuple[int, int, str]:
    """Integer versions first, in order; then "missing" and "other"."""
    return (0, int(key), "") if key.lstrip("-").isdigit() else (1, 0, key)


def schema_version_lines(stats: ReadStats) -> list[str]:
    """The log records read, by VoiceMode schema version, and a note on versions newer than known.

    A newer version is read like the others (only the fields the contract needs);
    saying so keeps a format change from passing unnoticed.
    """
    versions = stats.schema_versions
    if not versions:
        return []
    keys = sorted(versions, key=_version_order)
    names = {key: f"v{key}" if _version_order(key)[0] == 0 else key for key in keys}
    counts = ", ".join(f"{names[key]} {versions[key]}" for key in keys)
    lines = [f"Log records read, by schema version: {counts}"]
    unlike = [names[k] for k in keys if k == "other" or _version_order(k)[1] > NEWEST_KNOWN_SCHEMA]
    if unlike:
        lines.append(
            f"  ({', '.join(unlike)}: newer or unlike the v{NEWEST_KNOWN_SCHEMA} logs this package was "
            "tested with; read for the same few fields, everything else in them ignored)"
        )
    return lines


def render_summary(preview: Preview) -> str:
    """A person-readable summary: period, resource, and each histogram as a bar chart."""
    lines = [preview.note, f"Period: {iso(preview.period.start)} → {iso(preview.period.end)} (UTC)"]
    lines.extend(schema_version_lines(preview.read_stats))
    if preview.read_stats.skipped():
        lines.append(f"Log lines skipped as unreadable: {preview.read_stats.skipped()}")
    if not preview.session_count:
        lines.append("No session completed in this period: nothing would be sent.")
        return "\n".join(lines)
    lines.append(f"Sessions: {preview.session_count}")
    resource = preview.request.resource_metrics[0].resource
    lines.append("Sent with every report:")
    lines.extend(f"  {a.key} = {a.value.string_value}" for a in resource.attributes)
    spec = contract.load()
    transports: dict[str, int] = {}
    for name in (contract.DURATION, contract.EXCHANGES):
        metric = spec.metric(name)
        totals, transports = _histogram_totals(preview.request, name)
        lines.append(f"{name} ({metric.unit}):")
        width = max(len(label) for label in metric.bins)
        largest = max(totals)
        lines.extend(
            f"  {label:>{width}} | {_bar(count, largest)} {count}"
            for label, count in zip(metric.bins, totals, strict=True)
        )
    lines.append("sessions by transport: " + ", ".join(f"{k} {v}" for k, v in sorted(transports.items())))
    providers = _provider_counts(preview.request)
    for role in spec.closed_values(contract.PROVIDER_ROLE):
        used = sorted((name, n) for (r, name), n in providers.items() if r == role)
        lines.append(f"{role} providers (sessions): " + (", ".join(f"{n} {c}" for n, c in used) or "none"))
    return "\n".join(lines)
