"""msgspec is imported only where logs are read: never by the host's start-up, with or without consent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voicemode_otel.operations import preference
from voicemode_otel.store import Paths

PROBE = """
import json, sys, time
import voicemode_otel
voicemode_otel.start()
time.sleep(0.3)
import voicemode_otel.logs.sessions, voicemode_otel.delivery.run  # what a run imports first
import voicemode_otel.report.build
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "msgspec")))
"""


def _run(paths: Paths, **extra: str) -> list[str]:
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE)],
        env={**environ, **extra},
        cwd=paths.base.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize("extra", [{}, {"DO_NOT_TRACK": "1"}, {"VOICEMODE_TELEMETRY": "false"}])
def test_start_without_consent_never_imports_msgspec(paths: Paths, extra: dict[str, str]) -> None:
    """Off, paused or never asked: start() and the modules it could reach leave msgspec unloaded."""
    assert _run(paths, **extra) == []


def test_start_with_consent_and_nothing_due_never_imports_msgspec(paths: Paths) -> None:
    """Opted in but no report due: the reporter sleeps, and nothing has read a log, so no msgspec."""
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    assert _run(paths) == []


def test_reading_a_log_imports_it(tmp_path: Path) -> None:
    """The decoder is loaded at the first log file read, not before."""
    code = """
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from voicemode_otel.contract import Period
    from voicemode_otel.logs import SessionReader
    reader = SessionReader(Path(sys.argv[1]))
    before = "msgspec" in sys.modules
    (Path(sys.argv[1]) / "exchanges_2026-11-24.jsonl").write_text("{}\\n")
    utc = timezone.utc
    reader.completed_in(Period(datetime(2026, 11, 24, tzinfo=utc), datetime(2026, 11, 25, tzinfo=utc)))
    print(before, "msgspec" in sys.modules)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["False", "True"]
