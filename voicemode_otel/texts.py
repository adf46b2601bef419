"""Words shown to people (CLI, MCP, docs), generated from the contract so they cannot drift.

Every claim here must be true of the code: the "collected" list is built
from ``contract.json`` (the same file the Worker enforces), and the "never
collected" list names fields VoiceMode's logs really contain that no code
path reads into a report (tests check both).
"""

from __future__ import annotations

from voicemode_otel.contract import spec as contract

NEVER_COLLECTED = (
    "what you or the assistant said (transcripts), audio, or voice names",
    "file paths, project names or anything about your code",
    "provider URLs, hostnames, API keys, or error messages",
    "a session's exact length or number of exchanges, or any time finer than the hour",
    "your IP address: the server sees it, as any web server does, and never stores it "
    "(its rate limit keys on a keyed hash of the address and the day)",
)

DEFAULT_ENV_FILE = "~/.voicemode/voicemode.env"


def how_to_change(env_file: str = DEFAULT_ENV_FILE) -> str:
    """How to turn it off, naming the settings file that applies (``VOICEMODE_BASE_DIR`` moves it)."""
    return (
        "Turn off any time: `voicemode-otel disable` (which also asks the server to delete what it "
        "holds), the telemetry_set_preference MCP tool, "
        f"VOICEMODE_TELEMETRY=false in {env_file}, or DO_NOT_TRACK=1."
    )


HOW_TO_CHANGE = how_to_change()


def _bins(metric: contract.MetricSpec) -> str:
    return ", ".join(metric.bins)


def collected_lines() -> list[str]:
    """One line per metric and per installation fact, from the contract."""
    spec = contract.load()
    lines = []
    for metric in spec.metrics.values():
        detail = f"bins: {_bins(metric)}" if metric.bins else "counts only"
        keys = ", ".join(
            f"{key} ({'/'.join(spec.point_attributes[key].values)})" for key in metric.attributes
        )
        lines.append(f"{metric.name}: {metric.description} ({detail}; split by {keys})")
    for key, attribute in spec.resource_attributes.items():
        allowed = f" One of: {', '.join(attribute.values)}." if len(attribute.values) > 1 else ""
        lines.append(f"{key}: {attribute.description}{allowed}")
    return lines


def what_is_collected() -> str:
    """The full list, for ``status`` and the MCP status tool."""
    collected = "\n".join(f"  - {line}" for line in collected_lines())
    never = "\n".join(f"  - {line}" for line in NEVER_COLLECTED)
    return (
        "Collected, once a day, as counts per period of whole UTC hours:\n"
        f"{collected}\n"
        "Never collected:\n"
        f"{never}"
    )


def opt_in_prompt(env_file: str = DEFAULT_ENV_FILE) -> str:
    """Short enough to read aloud: what, what not, and how to change your mind."""
    spec = contract.load()
    duration = spec.metric(contract.DURATION)
    exchanges = spec.metric(contract.EXCHANGES)
    return (
        "VoiceMode can share anonymous usage statistics with its maintainers, once a day. "
        f"Only counts of sessions by length ({_bins(duration)}), by number of exchanges "
        f"({_bins(exchanges)}), which kinds of speech providers and transport were used, "
        "your OS family, VoiceMode version, install method and app — plus a random ID that "
        "is deleted when you opt out. "
        "Never your words, audio, file or project names, URLs or exact times. The server sees your "
        "IP address, as any server does, and never stores it. "
        "It is off unless you say yes. "
        f"{how_to_change(env_file)} "
        "Would you like to share these statistics?"
    )
