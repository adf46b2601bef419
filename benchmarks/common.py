"""Shared pieces of the benchmarks: a result row, timing helpers, sample data."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Row:
    """One line of the results table: ours next to its reference, measured in the same run."""

    what: str
    ours: str
    reference: str
    ratio: float | None
    goal: str
    met: bool | None
    note: str = ""
    gate: bool = False
    """Missing this goal fails ``make bench`` (exit status 1), not just the row."""


def interleaved(commands: Sequence[Sequence[str]], runs: int, env: dict[str, str]) -> list[list[float]]:
    """Wall times of each command, run alternately ``runs`` times so drift hits all alike."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[index].append(time.perf_counter() - start)
    return times


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def time_call(function: Callable[[], object], repeat: int = 5) -> float:
    """Best-of-``repeat`` seconds for one call (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without telemetry settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "VOICEMODE_", "DO_NOT_TRACK"))}
    env.update(extra)
    return env


def compile_package() -> None:
    """Byte-compile the package as pip does on install (this repo's shell sets PYTHONDONTWRITEBYTECODE)."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(ROOT / "voicemode_otel")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
