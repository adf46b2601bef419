"""``OTEL_METRICS_EXPORTER`` narrows an opt-in: the OpenTelemetry way of choosing where metrics go.

One of the consent rules of the package's ``__init__`` (rule 7 there), which calls it only
for an opt-in with the variable set: in a module of its own, a host that has not opted in
never loads it (every function on the host's start-up path is paid at every start). Like
the root, it imports nothing: it runs on the host's thread.

``otlp`` or unset → on; ``none`` (anywhere in the list) → paused, nothing deleted;
``console`` → local (reports kept in the local log, never printed: stdout is VoiceMode's
MCP channel) without giving the ID up; anything else → paused, named as not supported.
It never turns telemetry on and never overrides an opt-out.
"""

from voicemode_otel import LOCAL, METRICS_EXPORTER, PAUSED

TYPE_CHECKING = False  # ``typing`` is not free to import; mypy honours this name
if TYPE_CHECKING:
    from voicemode_otel import Decision


def narrowed(decision: "Decision", raw: str) -> "Decision":
    """An opt-in as ``OTEL_METRICS_EXPORTER`` narrows it (a comma-separated list, as the spec allows)."""
    names = {name.strip().lower() for name in raw.split(",")} - {""}
    shown = raw.strip()
    if "none" in names:  # whatever else is listed: "none" means nothing leaves
        reason = f"{METRICS_EXPORTER}={shown} is set: no metrics are exported (paused; nothing is deleted)"
        return PAUSED, reason, decision[2], METRICS_EXPORTER
    if not names or "otlp" in names:
        return decision
    if "console" in names:
        return (
            LOCAL,
            f"{METRICS_EXPORTER}={shown} is set: reports are built and kept in the local log, never sent "
            "(`voicemode-otel log --body`; nothing is deleted)",
            decision[2],
            METRICS_EXPORTER,
        )
    return (
        PAUSED,
        f"{METRICS_EXPORTER}={shown!r} is not supported (voicemode-otel exports otlp, and understands "
        "none and console): nothing is sent",
        decision[2],
        METRICS_EXPORTER,
    )
