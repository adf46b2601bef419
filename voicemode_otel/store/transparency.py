"""The local record of everything sent: ``<base>/logs/telemetry/telemetry_YYYY-MM-DD.jsonl``.

A report is logged (as OTLP/JSON, the exact request) before the request is
made, and its outcome is logged after, so the user can always see what left
the machine and what became of it. So are the events that change what may
be sent: the opt-in, a recovered state, an erasure requested, confirmed or
given up, a report kept locally in local mode. Files older than 30 days are
pruned. The log is written only under the base directory, never through a
link, and read without ever blocking on a FIFO.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from voicemode_otel.contract import Period, iso
from voicemode_otel.store.atomic import append_private, read_private
from voicemode_otel.store.paths import Paths

RETENTION = timedelta(days=30)
_FILE = re.compile(r"^telemetry_(\d{4}-\d{2}-\d{2})\.jsonl$")
_MAX_FILE_BYTES = 1 << 24  # a day of our own entries is a few kilobytes


@dataclass(frozen=True)
class Entry:
    """One line of the log."""

    time: datetime
    event: str
    """``pending`` (before a request), ``outcome`` (after it), ``local``, ``enrolled``,
    ``state-reset``, ``erasure``."""
    endpoint: str
    period: Period | None
    outcome: str
    body: dict[str, Any] | None = None
    """The OTLP/JSON request, on ``pending`` and ``local`` entries."""

    def to_json(self) -> str:
        """One compact JSON line."""
        document: dict[str, Any] = {"time": iso(self.time), "event": self.event, "endpoint": self.endpoint}
        if self.period is not None:
            document["period_start"] = iso(self.period.start)
            document["period_end"] = iso(self.period.end)
        document["outcome"] = self.outcome
        if self.body is not None:
            document["body"] = self.body
        return json.dumps(document, separators=(",", ":"))


def append(paths: Paths, entry: Entry) -> None:
    """Add ``entry`` to its day's file (0600), creating the folder if needed; raises OSError."""
    target = (
        paths.transparency_dir / f"telemetry_{entry.time.astimezone(timezone.utc).date().isoformat()}.jsonl"
    )
    append_private(target, (entry.to_json() + "\n").encode("utf-8"), root=paths.base)


def files(paths: Paths) -> list[tuple[date, Path]]:
    """The log files, oldest first."""
    found = []
    with contextlib.suppress(OSError):
        for item in paths.transparency_dir.iterdir():
            match = _FILE.match(item.name)
            if match:
                with contextlib.suppress(ValueError):
                    found.append((date.fromisoformat(match[1]), item))
    return sorted(found)


def prune(paths: Paths, now: datetime) -> int:
    """Delete files more than 30 days old; how many went."""
    cutoff = (now - RETENTION).date()
    removed = 0
    for day, path in files(paths):
        if day < cutoff:
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def read(paths: Paths) -> Iterator[dict[str, Any]]:
    """Every entry, oldest first; unreadable files and lines are skipped."""
    for _, path in files(paths):
        try:
            data = read_private(path, limit=_MAX_FILE_BYTES)
        except (OSError, ValueError):
            continue
        for line in (data or b"").decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and isinstance(entry.get("time"), str):
                    yield entry


@dataclass(frozen=True)
class Line:
    """What ``voicemode-otel log`` shows: one report with its final outcome, or one event."""

    time: str
    kind: str
    """``report``, ``local`` or the event's name."""
    period_start: str | None
    period_end: str | None
    outcome: str
    endpoint: str
    attempts: int
    body: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The stable ``log --json`` shape."""
        return {
            "time": self.time,
            "kind": self.kind,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "outcome": self.outcome,
            "endpoint": self.endpoint,
            "attempts": self.attempts,
            "body": self.body,
        }


def lines(paths: Paths) -> list[Line]:
    """The log folded for people: a report's ``pending`` entry and its outcomes become one line."""
    folded: list[Line] = []
    open_reports: dict[tuple[str, str], int] = {}
    for entry in read(paths):
        event = str(entry.get("event", ""))
        start, end = entry.get("period_start"), entry.get("period_end")
        endpoint, outcome = str(entry.get("endpoint", "")), str(entry.get("outcome", ""))
        key = (str(start), str(end))
        if event == "pending":
            open_reports[key] = len(folded)
            folded.append(
                Line(str(entry["time"]), "report", start, end, "pending", endpoint, 0, entry.get("body"))
            )
        elif event == "outcome" and key in open_reports:
            index = open_reports[key]
            previous = folded[index]
            folded[index] = Line(
                previous.time, "report", start, end, outcome, endpoint, previous.attempts + 1, previous.body
            )
            if not outcome.startswith(("will retry", "kept:")):  # still pending
                del open_reports[key]
        else:
            kind = "report" if event == "outcome" else event
            attempts = 1 if event == "outcome" else 0
            folded.append(
                Line(str(entry["time"]), kind, start, end, outcome, endpoint, attempts, entry.get("body"))
            )
    return folded
