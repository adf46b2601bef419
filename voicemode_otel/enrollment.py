"""Opt-in and opt-out on disk: the ID and the opt-in time come and go together."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import datetime

from voicemode_otel import identity
from voicemode_otel.paths import Paths
from voicemode_otel.state import load_state, save_state


@dataclass(frozen=True)
class Enrollment:
    """An opted-in installation: its ID and when it opted in."""

    telemetry_id: str
    opted_in_at: datetime


def enroll(paths: Paths, now: datetime) -> Enrollment:
    """Create the ID and record the opt-in time if either is missing (call only under consent).

    When consent comes from the environment rather than ``enable``, this runs
    the first time the package sees it, which makes that the opt-in moment.
    """
    telemetry_id = identity.ensure(paths)
    state = load_state(paths)
    if state.opted_in_at is None:
        state = replace(state, opted_in_at=now)
        save_state(paths, state)
    assert state.opted_in_at is not None
    return Enrollment(telemetry_id, state.opted_in_at)


def current(paths: Paths) -> Enrollment | None:
    """The existing enrollment, creating nothing."""
    telemetry_id = identity.read(paths)
    opted_in_at = load_state(paths).opted_in_at
    if telemetry_id is None or opted_in_at is None:
        return None
    return Enrollment(telemetry_id, opted_in_at)


def withdraw(paths: Paths) -> list[str]:
    """Delete the ID and all delivery state (pending report included); list what went.

    The transparency log under ``logs/telemetry`` stays: it is the user's own
    record of what was sent (pruned after 30 days; ``forget`` removes it).
    """
    removed = []
    if identity.delete(paths):
        removed.append(str(paths.telemetry_id))
    if paths.state_dir.exists():
        shutil.rmtree(paths.state_dir, ignore_errors=True)
        removed.append(str(paths.state_dir))
    return removed
