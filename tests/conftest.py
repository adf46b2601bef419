"""Shared fixtures: every test runs in its own base directory and a scrubbed environment."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer

# tests/voicemode/ needs the real voice-mode package: scripts/run_tests.py runs it in
# .venv-voicemode (its "Real-VoiceMode tests" suite); a venv without VoiceMode skips the folder.
collect_ignore = [] if importlib.util.find_spec("voice_mode") else ["voicemode"]

_SCRUBBED_PREFIXES = (
    "OTEL_",
    "VOICEMODE_",
    "DO_NOT_TRACK",
    "CLAUDE",
    "CURSOR_",
    "TERM_PROGRAM",
    "ZED_",
    "WINDSURF_",
)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's telemetry settings or touches the real home directory."""
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("VOICEMODE_BASE_DIR", str(tmp_path / "voicemode"))
    yield
    import voicemode_otel

    voicemode_otel.stop(timeout=5)


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    """The base directory the autouse fixture points VOICEMODE_BASE_DIR at."""
    return Paths(tmp_path / "voicemode")


@pytest.fixture
def env(paths: Paths) -> dict[str, str]:
    """A minimal explicit environment for functions that take ``environ``."""
    return {"VOICEMODE_BASE_DIR": str(paths.base)}


@pytest.fixture
def now() -> datetime:
    """A fixed "now" (a Wednesday afternoon, UTC)."""
    return datetime(2026, 11, 25, 16, 30, tzinfo=timezone.utc)


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    """A real OTLP/HTTP receiver on 127.0.0.1, stopped after the test."""
    with CaptureServer() as server:
        yield server


def files_under(root: Path) -> set[str]:
    """Every file below ``root``, relative, for "nothing was written" assertions."""
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
