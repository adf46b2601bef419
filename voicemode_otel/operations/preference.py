"""Recording the user's choice — the one code path behind ``enable``/``disable``/``local`` and the MCP tool.

Opting in writes ``VOICEMODE_TELEMETRY=true`` and enrolls (ID + opt-in time).
Opting out writes ``false``, gives the ID up — asking the server to erase its
rows if a report was ever delivered (:mod:`voicemode_otel.delivery.erasure`) — and
deletes any unsent report. Local mode writes ``local``: reports are built and
logged here, never sent, so the ID goes too.

An opt-out never fails: when ``voicemode.env`` cannot be changed (a directory
in its place, a read-only file, a link to someone else's file, no space) the
opt-out is recorded in voicemode-otel's own folder (``telemetry/opted-out``),
which consent reads before the file, and the reply says so. Only if nothing
at all can be written does it fail, naming the two settings that still work.
Every change takes effect at once: consent is re-read on every check, and a
reporter thread in this process is woken to notice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from voicemode_otel.consent import decision as consent
from voicemode_otel.contract import shown
from voicemode_otel.delivery import erasure
from voicemode_otel.installation import enrollment
from voicemode_otel.store import Paths, envfile, remove, write_private

ENV_FILE_COMMENT = "Anonymous usage statistics (voicemode-otel): true, false, local or ask"
Mode = Literal["on", "off", "local"]
_VALUES: dict[str, str] = {"on": "true", "off": "false", "local": "local"}


class PreferenceRefused(Exception):
    """The choice cannot be recorded now (a universal opt-out is set, or nothing is writable)."""


@dataclass(frozen=True)
class PreferenceChange:
    """Exactly what changed, for the CLI and MCP replies."""

    mode: Mode
    previous: str | None
    env_file: str
    telemetry_id: str | None
    removed: tuple[str, ...]
    effective: consent.Consent
    """The decision after the change; differs from the choice if the environment overrides the file."""
    notes: tuple[str, ...] = ()
    erasure: tuple[erasure.Attempt, ...] = ()
    unsupported: tuple[str, ...] = ()
    problem: str | None = None
    """Why the choice was recorded but cannot act yet (e.g. a link where the ID belongs)."""

    @property
    def enabled(self) -> bool:
        """The choice was to opt in."""
        return self.mode == "on"

    @property
    def overridden(self) -> bool:
        """The environment decides otherwise than the choice: the choice does not apply yet."""
        wanted = {"on": consent.State.ON, "off": consent.State.OFF, "local": consent.State.LOCAL}[self.mode]
        if self.mode == "off" and self.effective.state is consent.State.PAUSED:
            return False  # paused sends nothing either; the opt-out holds once the pause is lifted
        return self.effective.state is not wanted

    def describe(self) -> str:
        """A sentence per change."""
        previous = self.previous if self.previous is not None else "not set"
        lines = [f"Set VOICEMODE_TELEMETRY={_VALUES[self.mode]} in {self.env_file} (was {previous})."]
        lines.extend(self.notes)
        if self.telemetry_id:
            lines.append(f"Anonymous ID: {self.telemetry_id} (deleted again if you opt out).")
        lines.extend(f"Deleted {path}." for path in self.removed)
        if self.erasure:
            lines.append("Server: " + erasure.summarize(list(self.erasure)) + ".")
        for endpoint in self.unsupported:
            lines.append(
                f"{endpoint} is not a VoiceMode Worker and cannot erase: ask its operator to delete it."
            )
        if self.overridden:
            lines.append(f"Note: this does not apply yet: {self.effective.reason}.")
        if self.problem:
            lines.append(f"Problem: {self.problem}.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """The stable ``enable``/``disable``/``local --json`` shape."""
        return {
            "mode": self.mode,
            "previous": self.previous,
            "env_file": self.env_file,
            "telemetry_id": self.telemetry_id,
            "removed": list(self.removed),
            "notes": list(self.notes),
            "erasure": [{"outcome": a.outcome, "detail": a.detail} for a in self.erasure],
            "state": self.effective.state.value,
            "reason": self.effective.reason,
            "overridden": self.overridden,
            "problem": self.problem,
        }


def _record_opt_out(paths: Paths, error: envfile.EnvFileError, now: datetime) -> str:
    """Write the opt-out marker; the note for the reply. Raises PreferenceRefused if even that fails."""
    text = f"VOICEMODE_TELEMETRY=false recorded by voicemode-otel at {shown(now)}: {error}\n"
    try:
        write_private(paths.opt_out_marker, text, root=paths.base)
    except OSError as second:
        raise PreferenceRefused(
            f"could not record the opt-out anywhere: {error}; and {paths.opt_out_marker}: {second}. "
            "Set VOICEMODE_TELEMETRY=false in your environment (or DO_NOT_TRACK=1) to turn telemetry off."
        ) from second
    return (
        f"Could not change the settings file ({error}), so the opt-out is recorded in "
        f"{paths.opt_out_marker}: telemetry is off."
    )


def set_mode(
    paths: Paths,
    mode: Mode,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    *,
    keep_server_data: bool = False,
    erase_now: bool = True,
    process_environ: MutableMapping[str, str] | None = None,
) -> PreferenceChange:
    """Store the choice; opting in (or local) is refused under ``DO_NOT_TRACK``/``OTEL_SDK_DISABLED``.

    Raises :class:`PreferenceRefused` or, for ``on``/``local``,
    :class:`envfile.EnvFileError`, changing nothing. ``erase_now`` asks the
    server for an owed erasure right away (the CLI and MCP tool do;
    a bounded single request). ``process_environ``: the running process's
    environment, when the choice is made inside the host (the MCP tool). A host
    may have copied ``voicemode.env`` into it at start-up (VoiceMode 9 does), and
    the environment wins over the file, so a copied value there is replaced too:
    otherwise the user's "no" would not reach the server they are talking to.
    """
    env = os.environ if environ is None else environ
    moment = now or datetime.now(timezone.utc)
    before = consent.decide(paths, env)
    if mode != "off" and before.state is consent.State.PAUSED:
        raise PreferenceRefused(
            f"cannot turn telemetry {mode}: {before.reason}. Unset it first; nothing was changed."
        )
    notes: list[str] = []
    previous: str | None = before.preference if before.source in ("voicemode.env", "opted-out") else None
    try:
        change = envfile.set_value(
            paths.env_file, consent.PREFERENCE_VARIABLE, _VALUES[mode], comment=ENV_FILE_COMMENT
        )
    except envfile.EnvFileError as error:
        if mode != "off":
            raise
        notes.append(_record_opt_out(paths, error, moment))
    else:
        previous = change.previous
        if change.note:
            notes.append(change.note[:1].upper() + change.note[1:] + ".")
        if paths.opt_out_marker.exists() or paths.opt_out_marker.is_symlink():
            remove(paths.opt_out_marker)
    if process_environ is not None and consent.PREFERENCE_VARIABLE in process_environ:
        process_environ[consent.PREFERENCE_VARIABLE] = _VALUES[mode]
        notes.append(f"Also set {consent.PREFERENCE_VARIABLE}={_VALUES[mode]} in this server's environment.")
    after = consent.decide(paths, env)
    telemetry_id = None
    removed: tuple[str, ...] = ()
    attempts: tuple[erasure.Attempt, ...] = ()
    unsupported: tuple[str, ...] = ()
    problem = None
    if after.enabled and mode == "on":  # a `disable` the environment overrides creates no ID
        try:
            telemetry_id = enrollment.enroll(paths, moment).telemetry_id
        except OSError as error:  # a link or a FIFO in the way, a read-only folder: never written through
            problem = f"telemetry is on, but the anonymous ID cannot be created ({error}); nothing is sent"
    elif after.revoked or (mode == "off" and after.state is consent.State.PAUSED):
        gave_up = erasure.give_up_id(
            paths, moment, env, keep_server_data=keep_server_data, keep_local=after.local
        )
        removed, unsupported = gave_up.removed, gave_up.unsupported
        notes.extend(
            f"Could not delete {item}: remove it yourself; it is never sent while telemetry is off."
            for item in gave_up.undeletable
        )
        if erase_now:
            attempts = tuple(erasure.attempt(paths, env, moment, force=True))
    _wake_reporter()
    return PreferenceChange(
        mode,
        previous,
        str(paths.env_file),
        telemetry_id,
        removed,
        after,
        tuple(notes),
        attempts,
        unsupported,
        problem,
    )


def set_preference(
    paths: Paths,
    enabled: bool,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    *,
    keep_server_data: bool = False,
    process_environ: MutableMapping[str, str] | None = None,
) -> PreferenceChange:
    """Opt in (True) or out (False); see :func:`set_mode`."""
    return set_mode(
        paths,
        "on" if enabled else "off",
        environ,
        now,
        keep_server_data=keep_server_data,
        process_environ=process_environ,
    )


def _wake_reporter() -> None:
    from voicemode_otel.delivery import REPORTER

    REPORTER.wake()
