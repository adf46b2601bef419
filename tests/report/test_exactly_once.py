"""Exactly once: for random logs and random cuts of time into periods, each session is counted once."""

from __future__ import annotations

import itertools
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from differential import checked_sessions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicemode_otel import testing
from voicemode_otel.contract import Period
from voicemode_otel.logs import Session, SessionReader

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
ZONES = [timezone(timedelta(hours=h)) for h in (-12, -8, 0, 5.5, 9, 14)]

session_specs = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6 * 24 * 60),  # start, minutes after T0
        st.integers(min_value=1, max_value=25),  # rounds
        st.floats(min_value=9, max_value=290),  # seconds per round: gaps stay under 5 minutes
        st.sampled_from(ZONES),
        st.booleans(),  # a trailing lone tts
    ),
    min_size=1,
    max_size=12,
)
long_session = st.one_of(st.none(), st.integers(min_value=0, max_value=3 * 24 * 60))
cuts = st.lists(st.integers(min_value=-30, max_value=8 * 24), min_size=2, max_size=10, unique=True)


def _write(
    directory: Path, specs: list[tuple[int, int, float, timezone, bool]], long_start: int | None
) -> list[Session]:
    """Write the sessions' lines in time order across all sessions, as concurrent VoiceModes would."""
    staged = testing.ConversationLogWriter(directory / "staging")
    expected = []
    for index, (minute, rounds, seconds, zone, trailing) in enumerate(specs):
        start = (T0 + timedelta(minutes=minute)).astimezone(zone)
        expected.append(
            staged.session(
                start, rounds, round_seconds=seconds, trailing_tts=trailing, conversation_id=f"conv_{index}"
            )
        )
    if long_start is not None:  # longer than a day: read back beyond the usual margin
        start = (T0 + timedelta(minutes=long_start)).astimezone(ZONES[1])
        expected.append(staged.session(start, 700, round_seconds=170, conversation_id="conv_long"))
    lines = sorted(
        (line for path in staged.conversations_dir.iterdir() for line in path.read_text().splitlines()),
        key=lambda raw: datetime.fromisoformat(raw.split('"timestamp": "')[1].split('"')[0]),
    )
    final = testing.ConversationLogWriter(directory / "conversations")
    for raw in lines:
        final.write(raw, datetime.fromisoformat(raw.split('"timestamp": "')[1].split('"')[0]))
    return expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=session_specs, long_start=long_session, hours=cuts)
def test_every_session_counted_exactly_once_across_periods(
    specs: list[tuple[int, int, float, timezone, bool]], long_start: int | None, hours: list[int]
) -> None:
    """Consecutive periods count each session once, in the period holding its completion time."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        expected = _write(directory, specs, long_start)
        bounds = sorted(T0 + timedelta(hours=h) for h in hours)
        periods = [Period(a, b) for a, b in itertools.pairwise(bounds)]
        # One streaming pass for all periods, as a catch-up reads them; each period alone
        # must find the same (and the same as the earlier reader: checked_sessions).
        reader = SessionReader(directory / "conversations")
        counted: list[tuple[Period, Session]] = []
        for period in periods:
            streamed = reader.completed_in(period)
            assert streamed == checked_sessions(directory / "conversations", period)
            counted += [(period, found) for found in streamed]
    ids = [found.conversation_id for _, found in counted]
    assert len(ids) == len(set(ids)), "a session was counted twice"
    for period, found in counted:
        assert period.contains(found.completed_at), "counted outside the period of its completion"
    in_range = {s.conversation_id: s for s in expected if bounds[0] <= s.completed_at < bounds[-1]}
    assert {found.conversation_id: found for _, found in counted} == in_range
    # A session still going at a period's end is not in that period: it shows up in a later one.
    for period, found in counted:
        assert found.last + timedelta(minutes=5) >= period.start
