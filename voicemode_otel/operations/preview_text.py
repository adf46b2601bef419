"""The preview as a person reads it: one screen, summary first, the exact body one flag away.

A day's report is a few hundred lines of OTLP/JSON; what a person needs first
is what it says: the period, how many sessions, the bins side by side, the
providers, and every field that goes with it. ``preview --json`` (or
``--body``) gives the exact bytes; this text is built from that same request,
so the two cannot disagree.
"""

from __future__ import annotations

import textwrap

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from voicemode_otel.contract import shown
from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import ReadStats
from voicemode_otel.operations.preview import Preview

NEWEST_KNOWN_SCHEMA = 4
"""VoiceMode's newest ``ConversationLogger.SCHEMA_VERSION`` this package was tested with (voice-mode 9)."""
_BAR_WIDTH = 12
FOOTER = (
    "The exact body: `voicemode-otel preview --json` (`--body`: summary and body); "
    "what each field means: `voicemode-otel status --verbose`."
)


def _fill(text: str, width: int, indent: str = "") -> list[str]:
    """Wrapped at spaces only: an ID, a path or a key=value is never cut."""
    return textwrap.wrap(
        text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def _bar(count: int, largest: int) -> str:
    return "█" * max(1 if count else 0, round(_BAR_WIDTH * count / largest)) if largest else ""


def _metrics(request: ExportMetricsServiceRequest, name: str) -> list[Metric]:
    return [
        metric
        for entry in request.resource_metrics
        for scope in entry.scope_metrics
        for metric in scope.metrics
        if metric.name == name
    ]


def _histogram(request: ExportMetricsServiceRequest, name: str) -> tuple[list[int], dict[str, int]]:
    """Bin totals and sessions per transport of one histogram."""
    spec = contract.load().metric(name)
    totals = [0] * len(spec.bins)
    by_transport: dict[str, int] = {}
    for metric in _metrics(request, name):
        for point in metric.histogram.data_points:
            for index, count in enumerate(point.bucket_counts):
                totals[index] += count
            attributes = {a.key: a.value.string_value for a in point.attributes}
            transport = attributes.get(contract.TRANSPORT, "unknown")
            by_transport[transport] = by_transport.get(transport, 0) + point.count
    return totals, by_transport


def _providers(request: ExportMetricsServiceRequest) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for metric in _metrics(request, contract.PROVIDERS):
        for point in metric.sum.data_points:
            attributes = {a.key: a.value.string_value for a in point.attributes}
            key = (attributes.get(contract.PROVIDER_ROLE, "?"), attributes.get(contract.PROVIDER_NAME, "?"))
            counts[key] = counts.get(key, 0) + point.as_int
    return counts


def _version_order(key: str) -> tuple[int, int, str]:
    """Integer versions first, in order; then "missing" and "other"."""
    return (0, int(key), "") if key.lstrip("-").isdigit() else (1, 0, key)


def schema_version_lines(stats: ReadStats, width: int = 80) -> list[str]:
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
        note = (
            f"({', '.join(unlike)}: newer or unlike the v{NEWEST_KNOWN_SCHEMA} logs this package was "
            "tested with; read for the same few fields, everything else in them ignored)"
        )
        lines.extend(_fill(note, width - 2, " "))
        lines[1:] = [f"  {line}" for line in lines[1:]]
    return lines


def _side_by_side(request: ExportMetricsServiceRequest, width: int) -> tuple[list[str], dict[str, int]]:
    """The two histograms as bar charts next to each other (one row per bin)."""
    spec = contract.load()
    columns: list[list[str]] = []
    transports: dict[str, int] = {}
    for name in (contract.DURATION, contract.EXCHANGES):
        metric = spec.metric(name)
        totals, transports = _histogram(request, name)
        label = max(len(bin_label) for bin_label in metric.bins)
        largest = max(totals)
        column = [f"{name} ({metric.unit})"]
        column.extend(
            f"{bin_label:>{label}} | {_bar(count, largest)} {count}"
            for bin_label, count in zip(metric.bins, totals, strict=True)
        )
        columns.append(column)
    left = max(len(line) for line in columns[0]) + 3
    if left + max(len(line) for line in columns[1]) > width:  # too narrow: one under the other
        return columns[0] + columns[1], transports
    rows = max(len(column) for column in columns)
    padded = [column + [""] * (rows - len(column)) for column in columns]
    return [f"{a:<{left}}{b}".rstrip() for a, b in zip(*padded, strict=True)], transports


def render_summary(preview: Preview, width: int = 80) -> str:
    """A person-readable summary of the report, ``width`` columns wide, with no part of the body."""
    lines = _fill(preview.note, width)
    if preview.period is not None:
        lines.append(f"Period:   {shown(preview.period.start)} → {shown(preview.period.end)} (UTC)")
    request = preview.request
    if preview.session_count and request.resource_metrics:
        histograms, transports = _side_by_side(request, width)
        split = ", ".join(f"{name} {count}" for name, count in sorted(transports.items()))
        lines.append(f"Sessions: {preview.session_count} ({split})")
        attributes = request.resource_metrics[0].resource.attributes
        resource = ", ".join(f"{a.key}={a.value.string_value}" for a in attributes)
        lines.extend(_fill(f"Sent with it: {resource}", width, "  "))
        lines.extend(histograms)
        providers = _providers(request)
        roles = []
        for role in contract.load().closed_values(contract.PROVIDER_ROLE):
            used = sorted((-n, name) for (r, name), n in providers.items() if r == role)
            named = ", ".join(f"{name} {-n}" for n, name in used) or "none"
            roles.append(f"{role.upper()} providers: {named}")
        lines.extend(_fill("; ".join(roles), width, "  "))
    elif preview.period is not None:
        lines.append("Sessions: 0")
    lines.extend(schema_version_lines(preview.read_stats, width))
    if preview.read_stats.skipped():
        lines.append(f"Log lines skipped as unreadable: {preview.read_stats.skipped()}")
    lines.extend(_fill(FOOTER, width))
    return "\n".join(lines)
