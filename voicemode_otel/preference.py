"""Recording the user's choice — the one code path behind ``enable``/``disable`` and the MCP tool.

Opting in writes ``VOICEMODE_TELEMETRY=true`` and enrolls (ID + opt-in time);
opting out writes ``false`` and deletes the ID and any unsent report. Both
take effect at once: consent is re-read on every check, and a reporter
thread in this process is woken to notice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from voicemode_otel import consent, enrollment, envfile
from voicemode_otel.paths import Paths

ENV_FILE_COMMENT = "Anonymous usage statistics (voicemode-otel): true, false or ask"


class PreferenceRefused(Exception):
    """The choice cannot be recorded now (a universal opt-out is set); nothing changed."""


@dataclass(frozen=True)
class PreferenceChange:
    """Exactly what changed, for the CLI and MCP replies."""

    enabled: bool
    previous: str | None
    env_file: str
    telemetry_id: str | None
    removed: tuple[str, ...]
    effective: consent.Consent
    """The decision after the change; differs from the choice if the environment overrides the file."""

    def describe(self) -> str:
        """A sentence per change."""
        lines = [
            f"Set VOICEMODE_TELEMETRY={'true' if self.enabled else 'false'} in {self.env_file} "
            f"(was {self.previous if self.previous is not None else 'not set'})."
        ]
        if self.telemetry_id:
            lines.append(f"Anonymous ID: {self.telemetry_id} (deleted again if you opt out).")
        lines.extend(f"Deleted {path}." for path in self.removed)
        if self.effective.enabled != self.enabled:
            now_on = "ON" if self.effective.enabled else "OFF"
            lines.append(f"Note: telemetry is still {now_on}: {self.effective.reason}.")
        return "\n".join(lines)


def set_preference(
    paths: Paths, enabled: bool, environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> PreferenceChange:
    """Store the choice; refuses to opt in while ``DO_NOT_TRACK`` or ``OTEL_SDK_DISABLED`` is set.

    Opting out is always allowed: it only deletes data. Raises
    :class:`PreferenceRefused` or :class:`envfile.EnvFileError`, changing nothing.
    """
    env = os.environ if environ is None else environ
    before = consent.decide(paths, env)
    if enabled and before.state is consent.State.PAUSED:
        raise PreferenceRefused(
            f"cannot turn telemetry on: {before.reason}. Unset it first; nothing was changed."
        )
    previous = envfile.set_value(
        paths.env_file, consent.PREFERENCE_VARIABLE, "true" if enabled else "false", comment=ENV_FILE_COMMENT
    )
    after = consent.decide(paths, env)
    telemetry_id = None
    removed: list[str] = []
    if enabled and after.enabled:
        telemetry_id = enrollment.enroll(paths, now or datetime.now(timezone.utc)).telemetry_id
    elif not enabled:
        removed = enrollment.withdraw(paths)
    _wake_reporter()
    return PreferenceChange(enabled, previous, str(paths.env_file), telemetry_id, tuple(removed), after)


def _wake_reporter() -> None:
    from voicemode_otel.runner import REPORTER

    REPORTER.wake()
