"""What an opted-out host start runs: a bytecode budget, and a root module holding nothing else.

The 1.03x goal for the host's start-up is judged in ``make bench`` (instructions of a
whole interpreter, regular install). These tests hold the two things that goal rests on
without timing anything, counting Python bytecode instructions instead:

* each opted-out ``start()`` runs a few hundred instructions (before, VoiceMode's
  400-line settings file cost over a thousand: the file decoded and searched twice,
  ``os.path.join`` five times, the base directory worked out twice);
* every function in the package root is run by some start: the host loads that module at
  every start, and each function in it costs 10,000 to 50,000 machine instructions to load
  whether it runs or not (what only an opt-in, a misplaced file or a rewrite of
  ``voicemode.env`` needs lives in other modules).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicemode_otel import testing

TRACE = """
import json, sys
import voicemode_otel

count = 0
ran = set()

def tracer(frame, event, arg):
    global count
    frame.f_trace_opcodes = True
    if event == "opcode":
        count += 1
    elif event == "call" and frame.f_globals.get("__name__") == "voicemode_otel":
        ran.add(frame.f_code.co_name)
    return tracer

sys.settrace(tracer)
started = voicemode_otel.start()
sys.settrace(None)
defined = sorted({value.__name__ for value in vars(voicemode_otel).values()
                  if getattr(value, "__module__", None) == "voicemode_otel" and callable(value)})
print(json.dumps({"started": started, "count": count, "ran": sorted(ran), "defined": defined}))
"""

BUDGET = 800
"""Bytecode instructions for an opted-out start (the most today: 756, opted out in VoiceMode's file)."""


def _setup(tmp_path: Path, case: str) -> tuple[dict[str, str], Path]:
    """``(environment, base directory)`` for one way a host can start."""
    home = tmp_path / "home"
    base = home / ".voicemode"
    base.mkdir(parents=True)
    environ = {"PATH": os.environ["PATH"], "HOME": str(home)}
    template = testing.voicemode_env
    if case == "do-not-track":
        environ["DO_NOT_TRACK"] = "1"
    elif case == "sdk-disabled":
        environ["OTEL_SDK_DISABLED"] = "true"
    elif case == "not-asked":
        (base / "voicemode.env").write_text(template())
    elif case == "opted-out-in-file":
        (base / "voicemode.env").write_text(template("false"))
    elif case == "opted-out-in-environment":
        (base / "voicemode.env").write_text(template())
        environ["VOICEMODE_TELEMETRY"] = "false"
    elif case == "no-settings-file":
        pass
    elif case == "base-dir-variable":
        environ["VOICEMODE_BASE_DIR"] = str(base)
        (base / "voicemode.env").write_text(template("ask"))
    elif case == "opted-out-by-marker":
        (base / "telemetry").mkdir()
        (base / "telemetry" / "opted-out").touch()
    elif case == "leftovers-after-opt-out":
        (base / "voicemode.env").write_text(template("false"))
        (base / "telemetry_id").write_text("0" * 32)
    elif case == "opted-in":
        (base / "voicemode.env").write_text(template("true"))
    elif case == "opted-in-exporter-none":
        (base / "voicemode.env").write_text(template("true"))
        environ["OTEL_METRICS_EXPORTER"] = "none"
    else:
        raise AssertionError(case)
    return environ, base


OPTED_OUT = [
    "do-not-track",
    "sdk-disabled",
    "not-asked",
    "opted-out-in-file",
    "opted-out-in-environment",
    "no-settings-file",
    "base-dir-variable",
    "opted-out-by-marker",
]
OTHERS = ["leftovers-after-opt-out", "opted-in", "opted-in-exporter-none"]


def _trace(tmp_path: Path, case: str) -> dict[str, object]:
    environ, _ = _setup(tmp_path, case)
    neutral = tmp_path / "neutral"
    neutral.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", TRACE],
        env=environ,
        cwd=neutral,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    traced: dict[str, object] = json.loads(result.stdout.splitlines()[0])
    return traced


@pytest.mark.parametrize("case", OPTED_OUT)
def test_an_opted_out_start_runs_a_few_hundred_bytecode_instructions(tmp_path: Path, case: str) -> None:
    """Within the budget in every opted-out state, and nothing started."""
    traced = _trace(tmp_path, case)
    assert traced["started"] is False
    assert isinstance(traced["count"], int)
    assert traced["count"] <= BUDGET, f"{case}: {traced['count']} bytecode instructions, budget {BUDGET}"


def test_every_function_in_the_package_root_is_run_by_some_start(tmp_path: Path) -> None:
    """What no start runs does not belong in the one module every host start loads.

    Two exceptions, by design: ``__getattr__`` loads the rest of the API on first use,
    and ``_start_reporter`` is what ``start`` runs on its new thread.
    """
    ran: set[str] = set()
    defined: set[str] = set()
    for case in OPTED_OUT + OTHERS:
        traced = _trace(tmp_path / case, case)
        assert isinstance(traced["ran"], list) and isinstance(traced["defined"], list)
        ran.update(traced["ran"])
        defined = set(traced["defined"])
    assert defined - ran == {"__getattr__", "_start_reporter"}
