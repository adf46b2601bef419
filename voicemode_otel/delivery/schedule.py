"""When the next report is due and which period it covers (pure, standard library only).

The host's start-up path uses :func:`next_due` to decide whether there is any
work at all, so this module must stay free of the OpenTelemetry SDK.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from voicemode_otel.contract import HOUR, Period, ceil_hour, floor_hour
from voicemode_otel.contract import spec as contract
from voicemode_otel.store import DeliveryState


def period_start(current: DeliveryState, opted_in_at: datetime) -> datetime:
    """Where the next period begins: the last settled end, else the first whole hour after opt-in."""
    first = ceil_hour(opted_in_at)
    return max(current.acked_until, first) if current.acked_until else first


def next_due(current: DeliveryState, opted_in_at: datetime, cadence: timedelta) -> datetime:
    """The first whole hour at which a report is due (one cadence after the period start)."""
    return ceil_hour(period_start(current, opted_in_at) + cadence)


def next_period(
    current: DeliveryState, opted_in_at: datetime, now: datetime, cadence: timedelta, *, force: bool = False
) -> Period | None:
    """The period to report now, or None when none is due.

    Due once ``cadence`` has passed since the period start (``force`` skips
    that wait, for ``voicemode-otel send``). The period ends at the current
    whole hour, is at most seven days long, and never starts earlier than the
    Worker accepts (periods that ended over 90 days ago are skipped).
    """
    rules = contract.load().period
    start = period_start(current, opted_in_at)
    oldest = ceil_hour(now - timedelta(seconds=rules.max_age_seconds)) + HOUR
    start = max(start, oldest)
    end = floor_hour(now)
    if end <= start or (not force and now < ceil_hour(start + cadence)):
        return None
    return Period(start, min(end, start + timedelta(seconds=rules.client_max_seconds)))
