"""Where voicemode-otel reads and writes, all under VoiceMode's base directory.

Every path is derived from one base directory so that tests, the demo and a
user's ``VOICEMODE_BASE_DIR`` move everything at once; nothing is written
anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import voicemode_otel as rules  # the consent rules, in the one module the host's start-up loads


@dataclass(frozen=True)
class Paths:
    """The files voicemode-otel uses, rooted at VoiceMode's base directory."""

    base: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Paths:
        """``$VOICEMODE_BASE_DIR``, else ``~/.voicemode`` — the same rule VoiceMode follows."""
        return cls(Path(rules.base_dir(os.environ if environ is None else environ)))

    @property
    def env_file(self) -> Path:
        """VoiceMode's settings file, which holds the ``VOICEMODE_TELEMETRY=`` preference."""
        return self.base / rules.ENV_FILE_NAME

    @property
    def telemetry_id(self) -> Path:
        """The anonymous installation ID (exists only while opted in)."""
        return self.base / "telemetry_id"

    @property
    def state_dir(self) -> Path:
        """Delivery bookkeeping: opt-in time, acknowledged periods, the pending report."""
        return self.base / rules.STATE_DIR_NAME

    @property
    def enrollment_file(self) -> Path:
        """When the user opted in, written once: survives a corrupt ``state.json``."""
        return self.state_dir / "enrollment.json"

    @property
    def local_state_file(self) -> Path:
        """Local mode's own bookkeeping (its start and the periods already logged)."""
        return self.state_dir / "local.json"

    @property
    def erasure_file(self) -> Path:
        """An opted-out ID whose server-side rows are still to be deleted (and nothing else)."""
        return self.state_dir / "erasure.json"

    @property
    def opt_out_marker(self) -> Path:
        """An opt-out recorded here because ``voicemode.env`` could not be changed."""
        return Path(rules.opt_out_marker(str(self.base)))

    @property
    def state_file(self) -> Path:
        """Opt-in time, the end of the last acknowledged period and retry timing."""
        return self.state_dir / "state.json"

    @property
    def pending_file(self) -> Path:
        """The one report written but not yet acknowledged or dropped."""
        return self.state_dir / "pending.json"

    @property
    def lock_file(self) -> Path:
        """Held while a report is built and sent, so two VoiceMode processes never race."""
        return self.state_dir / ".lock"

    @property
    def conversations_dir(self) -> Path:
        """VoiceMode's conversation logs, the only input."""
        return self.base / "logs" / "conversations"

    @property
    def transparency_dir(self) -> Path:
        """The local record of everything sent (``voicemode-otel log`` shows it)."""
        return self.base / "logs" / "telemetry"
