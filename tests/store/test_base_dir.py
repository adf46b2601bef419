"""Where VoiceMode's folder is: ``$VOICEMODE_BASE_DIR``, else ``~/.voicemode``, as VoiceMode finds it."""

from __future__ import annotations

import os

import pytest

import voicemode_otel as rules
from voicemode_otel.store import Paths


@pytest.mark.parametrize("home", ["/home/ada", "/home/ada/", "/home/ada//", "/", "", "/srv/a b"])
def test_home_read_from_the_environment_is_what_expanduser_gives(
    home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``~`` is read from ``$HOME`` directly on the start-up path; the folder is expanduser's to the byte."""
    monkeypatch.delenv("VOICEMODE_BASE_DIR", raising=False)
    monkeypatch.setenv("HOME", home)
    expected = os.path.expanduser("~/.voicemode")  # noqa: PTH111 (the function the shortcut must equal)
    assert rules.base_dir({"HOME": home}) == expected
    assert rules.base_dir(os.environ) == expected
    assert Paths.from_environ({"HOME": home}).base == Paths.from_environ().base


def test_without_home_in_the_mapping_expanduser_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mapping without HOME (a host's partial environment) falls back to the process's home."""
    monkeypatch.delenv("VOICEMODE_BASE_DIR", raising=False)
    monkeypatch.setenv("HOME", "/home/grace")
    assert rules.base_dir({}) == "/home/grace/.voicemode"


@pytest.mark.parametrize(
    ("configured", "expected"),
    [("/data/vm", "/data/vm"), ("  /data/vm  ", "/data/vm"), ("~/vm", "/home/grace/vm"), ("   ", None)],
)
def test_voicemode_base_dir_wins_and_blank_means_unset(
    configured: str, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/grace")
    environ = {"VOICEMODE_BASE_DIR": configured, "HOME": "/home/grace"}
    assert rules.base_dir(environ) == (expected or "/home/grace/.voicemode")
