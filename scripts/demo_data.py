"""Simulated VoiceMode installations sending real reports: the demo's and the dashboard's data.

Each installation gets its own temporary base directory with realistic VoiceMode logs
(written the way VoiceMode writes them), opts in there (never in the user's
``~/.voicemode``), and sends through the real sender — the same ``delivery.run`` a
VoiceMode server runs — to the given endpoint.

:func:`seed` gives each installation one report of its last week. :func:`seed_history`
replays a month day by day, in time order across installations: each installation sends
on its own cadence (every day, every few days, weekly; some start mid-month) and
upgrades VoiceMode on its own day, so the trends have something to show. After each
simulated day the caller's ``after_day`` can run the Worker's hourly cron, as
production would within the hour: the day/week history counts an installation's facts
as they are when the cron first counts it. Each installation sends from its own
(simulated) client address, as separate machines do, so the Worker's per-IP limit
applies to it alone; no installation sends more than the per-ID limit (10 an hour).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from voicemode_otel import testing
from voicemode_otel.delivery import run as delivery
from voicemode_otel.logs import Session
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths

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

# The month's releases: (version, days before the end of the month it came out).
RELEASES = [("8.11.2", 40), ("8.12.0", 21), ("8.13.0", 8)]
# Days between two sends, per installation (the sender sends at most once a day); and
# the day of the month each starts on (0 = the first day). At most 10 sends each.
CADENCES = [3, 3, 4, 1, 7, 3, 4, 1, 1, 3, 5, 1]
STARTS = [0, 1, 0, 20, 0, 2, 2, 21, 22, 1, 0, 24]


@dataclass(frozen=True)
class Installation:
    """One simulated installation and what its (last) send did."""

    name: str
    base_dir: Path
    sessions: list[Session]
    result: delivery.RunResult


def _environ(paths: Paths, endpoint: str, host: str, index: int) -> dict[str, str]:
    return {
        "VOICEMODE_BASE_DIR": str(paths.base),
        "VOICEMODE_TELEMETRY_ENDPOINT": endpoint,
        "VOICEMODE_MCP_HOST": host,
        # A client address of its own (documentation range), as a separate machine has.
        "OTEL_EXPORTER_OTLP_HEADERS": f"CF-Connecting-IP=198.51.100.{index + 1}",
    }


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
        environ = _environ(paths, endpoint, host, index)
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


def version_on(day_before_end: float, index: int) -> str:
    """The version installation ``index`` runs ``day_before_end`` days before the month's end.

    Each upgrades a few days after a release (0 to 4 days, by installation); the one on a
    development build stays on it.
    """
    host_version = PROFILES[index % len(PROFILES)][1]
    if ".dev" in host_version:
        return host_version
    current = RELEASES[0][0]
    for version, released in RELEASES:
        if day_before_end <= released - (index % 5):
            current = version
    return current


def _fixed(moment: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``moment``."""
    return lambda: moment


def seed_history(
    endpoint: str,
    root: Path,
    *,
    installations: int = 12,
    days: int = 30,
    now: datetime | None = None,
    after_day: Callable[[datetime], object] | None = None,
) -> list[Installation]:
    """Replay ``days`` days of use by ``installations`` installations, sending as they would.

    Day by day, oldest first: every installation due that day sends what its logs hold
    since its last report (the real sender, clock set to that day); then ``after_day``
    runs with the day's last send time. Returns each installation with the sessions its
    logs hold from its opt-in to its last send, and that send's result.
    """
    end = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)
    first_day = end - timedelta(days=days - 1)
    plans = []
    for index in range(installations):
        host, _version, zone = PROFILES[index % len(PROFILES)]
        paths = Paths(root / f"installation-{index + 1}")
        environ = _environ(paths, endpoint, host, index)
        start = first_day + timedelta(days=STARTS[index % len(STARTS)] % days)
        cadence = CADENCES[index % len(CADENCES)]
        # Its own hour of the day (the server starts then), minutes past it; never less
        # than a day after the opt-in or the last send, as the sender's cadence wants.
        offset = timedelta(hours=index % 6, minutes=5 + index % 50)
        sends = [start + timedelta(days=cadence * (k + 1)) + offset for k in range(days)]
        sends = [t for t in sends if t <= end][-10:]
        if not sends:
            continue
        opted_in = start - timedelta(hours=1)
        preference.set_preference(paths, True, environ, now=opted_in)
        sessions = testing.sample_week(
            paths.conversations_dir, end, seed=100 + index, zone=zone, days=(end - start).days + 1
        )
        plans.append((index, paths, environ, sends, [s for s in sessions if s.first >= opted_in]))
    results: dict[int, delivery.RunResult] = {}
    for day in range(days):
        today = first_day + timedelta(days=day)
        due = [(t, plan) for plan in plans for t in plan[3] if today <= t < today + timedelta(days=1)]
        for moment, (index, paths, environ, _sends, _sessions) in sorted(due, key=lambda d: d[0]):
            version = version_on((end - moment).total_seconds() / 86_400, index)
            results[index] = delivery.run(
                delivery.RunConfig(
                    paths,
                    environ=environ,
                    clock=_fixed(moment),
                    host_version=version,
                    exec_source="mcp",
                )
            )
        if due and after_day is not None:
            after_day(max(t for t, _ in due))
    created = []
    for index, paths, _, sends, sessions in plans:
        logged = [s for s in sessions if s.last < sends[-1]]
        created.append(Installation(f"installation-{index + 1}", paths.base, logged, results[index]))
    return created


def seed_temporary(endpoint: str, *, installations: int = 6, days: int = 7) -> list[Installation]:
    """:func:`seed` into a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="voicemode-demo-") as tmp:
        return seed(endpoint, Path(tmp), installations=installations, days=days)


def history_temporary(
    endpoint: str,
    *,
    installations: int = 12,
    days: int = 30,
    after_day: Callable[[datetime], object] | None = None,
) -> list[Installation]:
    """:func:`seed_history` into a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="voicemode-demo-") as tmp:
        return seed_history(endpoint, Path(tmp), installations=installations, days=days, after_day=after_day)
