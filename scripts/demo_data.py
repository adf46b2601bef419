"""Simulated VoiceMode installations sending real reports: the demo's and the dashboard's data.

Each installation gets its own temporary base directory with a realistic week
of VoiceMode logs (written the way VoiceMode writes them), opts in there
(never in the user's ``~/.voicemode``), and sends through the real sender —
the same ``delivery.run`` a VoiceMode server runs — to the given endpoint.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from voicemode_otel import delivery, preference, testing
from voicemode_otel.paths import Paths
from voicemode_otel.sessions import Session

# (MCP host, VoiceMode version, time zone) per simulated installation.
PROFILES = [
    ("claude-code", "8.12.0", testing.PACIFIC),
    ("claude-code", "8.12.0", timezone(timedelta(hours=1), "CET")),
    ("cursor", "8.11.2", timezone(timedelta(hours=-5), "EST")),
    ("claude-desktop", "8.12.0", timezone(timedelta(hours=9), "JST")),
    ("vscode", "8.10.0", timezone(timedelta(hours=5, minutes=30), "IST")),
    ("zed", "8.12.0", timezone.utc),
    ("claude-code", "8.12.0.dev0", timezone(timedelta(hours=10), "AEST")),
]


@dataclass(frozen=True)
class Installation:
    """One simulated installation and what its send did."""

    name: str
    base_dir: Path
    sessions: list[Session]
    result: delivery.RunResult


def seed(
    endpoint: str, root: Path, *, installations: int = 6, days: int = 7, now: datetime | None = None
) -> list[Installation]:
    """Create ``installations`` opted-in installations under ``root`` and send one report each.

    Each opted in ``days`` days and an hour ago, so its first report covers the
    whole week (one 7-day period at most, as the sender allows).
    """
    moment = (now or datetime.now(timezone.utc)).replace(minute=5, second=0, microsecond=0)
    created = []
    for index in range(installations):
        host, version, zone = PROFILES[index % len(PROFILES)]
        name = f"installation-{index + 1}"
        paths = Paths(root / name)
        environ = {
            "VOICEMODE_BASE_DIR": str(paths.base),
            "VOICEMODE_TELEMETRY_ENDPOINT": endpoint,
            "VOICEMODE_MCP_HOST": host,
        }
        opted_in = moment - timedelta(days=days, hours=1)
        preference.set_preference(paths, True, environ, now=opted_in)
        sessions = testing.sample_week(
            paths.conversations_dir, moment, seed=100 + index, zone=zone, days=days
        )
        sessions = [s for s in sessions if s.first >= opted_in]
        result = delivery.run(
            delivery.RunConfig(
                paths, environ=environ, clock=lambda: moment, host_version=version, exec_source="mcp"
            )
        )
        created.append(Installation(name, paths.base, sessions, result))
    return created


def seed_temporary(endpoint: str, *, installations: int = 6, days: int = 7) -> list[Installation]:
    """:func:`seed` into a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="voicemode-demo-") as tmp:
        return seed(endpoint, Path(tmp), installations=installations, days=days)
