"""Report periods: continuous, whole UTC hours, never overlapping.

A period is the half-open interval ``[start, end)``. Sessions are counted in
the one period containing their completion time, so consecutive periods with
shared bounds count every session exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def floor_hour(moment: datetime) -> datetime:
    """The whole UTC hour at or before ``moment``."""
    utc = moment.astimezone(timezone.utc)
    return utc.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    """The first whole UTC hour at or after ``moment``."""
    floored = floor_hour(moment)
    return floored if floored == moment.astimezone(timezone.utc) else floored + HOUR


def to_unix_nanos(moment: datetime) -> int:
    """Exact nanoseconds since the epoch (no float rounding)."""
    delta = moment.astimezone(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def from_unix_nanos(nanos: int) -> datetime:
    """The UTC datetime of a nanosecond timestamp (sub-microsecond part dropped)."""
    return _EPOCH + timedelta(microseconds=nanos // 1_000)


@dataclass(frozen=True, order=True)
class Period:
    """``[start, end)`` in whole UTC hours."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None or moment != floor_hour(moment):
                raise ValueError(f"period bounds must be whole UTC hours, got {moment.isoformat()}")
        if self.start >= self.end:
            raise ValueError(
                f"period start {self.start.isoformat()} is not before end {self.end.isoformat()}"
            )

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in ``[start, end)``."""
        return self.start <= moment < self.end

    @property
    def start_nanos(self) -> int:
        """``start`` as OTLP's ``start_time_unix_nano``."""
        return to_unix_nanos(self.start)

    @property
    def end_nanos(self) -> int:
        """``end`` as OTLP's ``time_unix_nano``."""
        return to_unix_nanos(self.end)

    def label(self) -> str:
        """A compact human form, e.g. ``2026-11-24T10:00Z/2026-11-25T10:00Z``."""
        return f"{iso(self.start)}/{iso(self.end)}"


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a ``Z``, the one time format in our files."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def shown(moment: datetime) -> str:
    """:func:`iso` to the second, for people (stored times keep their microseconds)."""
    return iso(moment.replace(microsecond=0))


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso` (also accepts ``+00:00``); raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return moment.astimezone(timezone.utc)


def clock_difference(local: datetime, server: datetime) -> str:
    """How far and which way this clock was from the server's, for the run's message and ``status``."""
    seconds = (local - server).total_seconds()
    span = _span(abs(seconds))
    side = "ahead of" if seconds > 0 else "behind"
    return (
        f"this computer's clock was {span} {side} the server's at {shown(local)} "
        f"(the server's time then: {shown(server)})"
    )


def _span(seconds: float) -> str:
    for unit, size in (("year", 365.25 * 86400), ("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{round(seconds)} seconds"
