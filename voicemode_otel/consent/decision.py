"""The one decision every other module asks for: may anything be sent at all.

Re-evaluated on every call (environment and ``voicemode.env`` are read each
time; the file costs a ``stat`` while unchanged) so that an opt-out reaches a
running server at once. The rules live in the package's ``__init__``
(written against ``os`` alone for the host's start-up path); this module
gives them types.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass

import voicemode_otel as rules  # the consent rules, in the one module the host's start-up loads
from voicemode_otel import DO_NOT_TRACK, METRICS_EXPORTER, PREFERENCE_VARIABLE, SDK_DISABLED
from voicemode_otel.store import Paths

__all__ = [
    "DO_NOT_TRACK",
    "METRICS_EXPORTER",
    "PREFERENCE_VARIABLE",
    "SDK_DISABLED",
    "Consent",
    "State",
    "decide",
]


class State(enum.Enum):
    """Why telemetry is on or off; decides what an off state may delete."""

    ON = rules.ON
    # Reports are built and kept in the local log, never uploaded (like `go telemetry local`).
    LOCAL = rules.LOCAL
    # A universal kill switch is set: stop everything, delete nothing.
    PAUSED = rules.PAUSED
    # The user said no: the ID and unsent data must go.
    OFF = rules.OFF
    # Nobody asked yet (or the value is not understood): off; leftovers go.
    NOT_ASKED = rules.NOT_ASKED


@dataclass(frozen=True)
class Consent:
    """The decision, where it came from, and a sentence a person can read."""

    state: State
    reason: str
    preference: str | None
    """The raw ``VOICEMODE_TELEMETRY`` value that applied, if any."""
    source: str
    """Where it came from: ``DO_NOT_TRACK``, ``OTEL_SDK_DISABLED``, ``OTEL_METRICS_EXPORTER``,
    ``environment``, ``opted-out`` (our own record), ``voicemode.env`` or ``default``."""

    @property
    def enabled(self) -> bool:
        """True only when reports may be built and sent."""
        return self.state is State.ON

    @property
    def local(self) -> bool:
        """True in local mode: reports are built and logged here, never sent."""
        return self.state is State.LOCAL

    @property
    def collecting(self) -> bool:
        """True when reports are built at all (on, or local)."""
        return self.state in (State.ON, State.LOCAL)

    @property
    def revoked(self) -> bool:
        """True when there is no consent to upload: the ID and unsent report must go, server rows too.

        Local mode counts: it means "build, but never send", so nothing that
        names this installation to a server is kept. Not so when the local mode
        comes from ``OTEL_METRICS_EXPORTER=console`` over an opt-in: that holds
        sending, like a pause, and gives nothing up.
        """
        if self.source == METRICS_EXPORTER:
            return False
        return self.state in (State.OFF, State.NOT_ASKED, State.LOCAL)


def decide(paths: Paths, environ: Mapping[str, str] | None = None, *, metrics: bool = True) -> Consent:
    """The current consent, from scratch (never cached for the process).

    ``metrics=False`` leaves ``OTEL_METRICS_EXPORTER`` out (for the host's traces and resource).
    """
    state, reason, preference, source = rules.decide(
        str(paths.base), os.environ if environ is None else environ, metrics
    )
    return Consent(State(state), reason, preference, source)
