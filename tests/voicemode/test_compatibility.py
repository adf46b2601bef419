"""The `[mcp]` extra's fastmcp range is the one tested here: VoiceMode's, at the version it resolves to."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from vmhost import ROOT, VOICEMODE_VERSION


def _fastmcp_requirement(distribution: str, extra: str | None = None) -> Requirement:
    for line in metadata.requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.name != "fastmcp":
            continue
        if extra is None and requirement.marker is None:
            return requirement
        if (
            extra is not None
            and requirement.marker is not None
            and requirement.marker.evaluate({"extra": extra})
        ):
            return requirement
    raise AssertionError(f"{distribution} declares no fastmcp requirement{f' in [{extra}]' if extra else ''}")


def _pin(constraints: str, name: str) -> str:
    for line in (ROOT / constraints).read_text(encoding="utf-8").splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1]
    raise AssertionError(f"{constraints} pins no {name}")


def test_the_mcp_extra_declares_voicemodes_fastmcp_range() -> None:
    assert metadata.version("voice-mode") == VOICEMODE_VERSION
    ours = _fastmcp_requirement("voicemode-otel", extra="mcp")
    theirs = _fastmcp_requirement("voice-mode")
    assert ours.specifier == theirs.specifier, (str(ours.specifier), str(theirs.specifier))


def test_these_tests_run_against_voicemodes_pinned_fastmcp() -> None:
    installed = metadata.version("fastmcp")
    assert installed == _pin("constraints-voicemode.txt", "fastmcp")
    assert installed in _fastmcp_requirement("voice-mode").specifier
    assert installed in _fastmcp_requirement("voicemode-otel", extra="mcp").specifier
    # The main venv's pin (tests/host/test_mcp.py) lies in the same range.
    assert _pin("constraints.txt", "fastmcp") in _fastmcp_requirement("voicemode-otel", extra="mcp").specifier
