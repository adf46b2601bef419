"""The local record of everything sent: ``<base>/logs/telemetry/telemetry_YYYY-MM-DD.jsonl``.

A report is logged (as OTLP/JSON, the exact request) before the request is
made, and its outcome is logged after, so the user can always see what left
the machine and what became of it. Files older than 30 days are pruned.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from voicemode_otel.atomic import ensure_private_dir
from voicemode_otel.paths import Paths
from voicemode_otel.periods import Period, iso

RETENTION = timedelta(days=30)
_FILE = re.compile(r"^telemetry_(\d{4}-\d{2}-\d{2})\.jsonl$")


@dataclass(frozen=True)
class Entry:
    """One line of the log."""

    time: datetime
    event: str
    """``pending`` (written before the request) or ``outcome`` (after it)."""
    endpoint: str
    period: Period
    outcome: str
    body: dict[str, Any] | None = None
    """The OTLP/JSON request, on ``pending`` entries."""

    def to_json(self) -> str:
        """One compact JSON line."""
        document: dict[str, Any] = {
            "time": iso(self.time),
            "event": self.event,
            "endpoint": self.endpoint,
            "period_start": iso(self.period.start),
            "period_end": iso(self.period.end),
            "outcome": self.outcome,
        }
        if self.body is not None:
            document["body"] = self.body
        return json.dumps(document, separators=(",", ":"))


def append(paths: Paths, entry: Entry) -> None:
    """Add ``entry`` to today's file (0600), creating the folder if needed."""
    ensure_private_dir(paths.transparency_dir)
    target = (
        paths.transparency_dir / f"telemetry_{entry.time.astimezone(timezone.utc).date().isoformat()}.jsonl"
    )
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(entry.to_json() + "\n")


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
    """Every entry, oldest first; unreadable lines are skipped."""
    for _, path in files(paths):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    yield entry
