"""Opt-in and opt-out on disk: the ID and the opt-in time come and go together.

The opt-in moment is written twice: in ``state.json`` (where delivery reads
it) and once, on its own, in ``enrollment.json``, so a damaged state file
cannot move it. A clock that jumped back since (the opt-in or the last
settled period now lie in the future) would otherwise silence reporting
until the clock caught up: the state is brought back to what can be trusted
— never before the last period a server acknowledged, never before the
opt-in that consent covers — and the log says so.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from voicemode_otel.contract import ceil_hour, shown
from voicemode_otel.installation import identity
from voicemode_otel.store import (
    DeliveryState,
    Paths,
    opted_in_from_enrollment,
    remove,
    repair,
    save_enrollment,
    save_state,
    transparency,
)

CLOCK_SKEW = timedelta(minutes=5)
"""A moment this far in the future is a clock that jumped, not a race."""
KEPT_ON_WITHDRAW = ("erasure.json", "opted-out")
"""What an opt-out leaves in ``telemetry/``: the erasure still owed, and the opt-out itself."""


@dataclass(frozen=True)
class Enrollment:
    """An opted-in installation: its ID and when it opted in."""

    telemetry_id: str
    opted_in_at: datetime


def _trusted(paths: Paths, state: DeliveryState, now: datetime) -> DeliveryState:
    """``state`` with the times a backwards clock pushed into the future brought back to now."""
    changes: dict[str, datetime | None] = {}
    if state.opted_in_at is not None and state.opted_in_at > now + CLOCK_SKEW:
        changes["opted_in_at"] = now
    if state.acked_until is not None and state.acked_until > now + CLOCK_SKEW:
        floor = state.delivered_until
        opted = changes.get("opted_in_at", state.opted_in_at)
        if opted is not None:
            floor = max(floor, ceil_hour(opted)) if floor else ceil_hour(opted)
        changes["acked_until"] = floor
        changes["retry_not_before"] = None
    if not changes:
        return state
    fixed = replace(state, **changes)  # type: ignore[arg-type]
    save_state(paths, fixed)
    transparency.append(
        paths,
        transparency.Entry(
            now,
            "clock",
            "",
            None,
            "the clock is earlier than recorded times; "
            f"opt-in time {shown(fixed.opted_in_at) if fixed.opted_in_at else '-'}, "
            f"reporting resumes from {shown(fixed.acked_until) if fixed.acked_until else 'the opt-in'}",
        ),
    )
    return fixed


def enroll(paths: Paths, now: datetime) -> Enrollment:
    """Create the ID and record the opt-in time if either is missing (call only under consent).

    When consent comes from the environment rather than ``enable``, this runs
    the first time the package sees it, which makes that the opt-in moment.
    Raises OSError (an :class:`~voicemode_otel.store.atomic.UnsafePath` for a link)
    when the files cannot be written; nothing is sent then.
    """
    telemetry_id = identity.ensure(paths)
    state = repair(paths, now)
    if state.opted_in_at is None:
        opted_in = opted_in_from_enrollment(paths) or now
        state = replace(state, opted_in_at=opted_in)
        save_state(paths, state)
        if opted_in == now:
            transparency.append(paths, transparency.Entry(now, "enrolled", "", None, "opted in"))
    state = _trusted(paths, state, now)
    assert state.opted_in_at is not None
    if opted_in_from_enrollment(paths) != state.opted_in_at:
        save_enrollment(paths, state.opted_in_at)
    return Enrollment(telemetry_id, state.opted_in_at)


def current(paths: Paths) -> Enrollment | None:
    """The existing enrollment, creating nothing."""
    from voicemode_otel.store import load_state

    telemetry_id = identity.read(paths)
    opted_in_at = load_state(paths).opted_in_at
    if telemetry_id is None or opted_in_at is None:
        return None
    return Enrollment(telemetry_id, opted_in_at)


def withdraw(paths: Paths, *, keep_local: bool = False) -> tuple[list[str], list[str]]:
    """Delete the ID and the delivery state (pending report included); what went, and what could not.

    What an opt-out still owes stays (:data:`KEPT_ON_WITHDRAW`), and with
    ``keep_local`` so does local mode's bookkeeping. Links are removed, never
    followed. The transparency log stays: it is the user's own record of what
    was sent (pruned after 30 days; ``forget`` removes it).
    """
    removed: list[str] = []
    failed: list[str] = []
    try:
        if identity.delete(paths):
            removed.append(str(paths.telemetry_id))
    except OSError as error:  # a read-only base dir: consent already says off, so it is never sent
        failed.append(f"{paths.telemetry_id} ({error.strerror})")
    keep = set(KEPT_ON_WITHDRAW) | ({paths.local_state_file.name} if keep_local else set())
    if paths.state_dir.is_symlink():
        try:
            remove(paths.state_dir)  # the link only: where it points was never ours
            removed.append(str(paths.state_dir))
        except OSError as error:
            failed.append(f"{paths.state_dir} ({error.strerror})")
        return removed, failed
    try:
        names = sorted(item.name for item in paths.state_dir.iterdir())
    except OSError:
        return removed, failed
    for name in names:
        if name in keep:
            continue
        target = paths.state_dir / name
        try:
            if remove(target) and not name.startswith("."):  # the lock file is not data
                removed.append(str(target))
        except OSError as error:  # a read-only folder: consent already says off, so nothing is sent from it
            failed.append(f"{target} ({error.strerror})")
    with contextlib.suppress(OSError):
        paths.state_dir.rmdir()  # only when nothing is kept in it
    return removed, failed
