"""The package's log reader checked against the one it replaced (tests/support/reference_sessions.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import reference_sessions

from voicemode_otel.contract import Period
from voicemode_otel.logs import ReadStats, Session, completed_sessions


def as_tuples(found: list[Session] | list[reference_sessions.Session]) -> list[tuple[object, ...]]:
    """Sessions of either implementation, comparable."""
    return [dataclasses.astuple(s) for s in found]


def checked_sessions(directory: Path, period: Period, stats: ReadStats | None = None) -> list[Session]:
    """``completed_sessions``, asserted to find exactly what the earlier reader found."""
    found = completed_sessions(directory, period, stats)
    assert as_tuples(found) == as_tuples(reference_sessions.completed_sessions(directory, period))
    return found
