"""Words that must be exact: what is sent, what the server sees, what an erasure leaves behind."""

from __future__ import annotations

import re
from pathlib import Path

import helpers
import pytest

from voicemode_otel import texts
from voicemode_otel.contract import spec as contract
from voicemode_otel.store import Paths
from voicemode_otel.testing import Behaviour, CaptureServer

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# How README's "What is sent" names each attribute of the contract. A new attribute fails
# this test until the README says it is sent.
README_WORDS = {
    "voicemode.telemetry.id": "a random ID",
    "service.version": "VoiceMode version",
    "os.type": "OS family",
    "voicemode.install.method": "install method",
    "voicemode.mcp.host": "app (Claude Code, Cursor, …)",
    "voicemode.exec.source": "from the MCP server or the command line",
    "voicemode.transport": "how the audio ran",
    "voicemode.provider.name": "which *kind* of speech providers",
    "voicemode.provider.role": "speech providers",
}
CONSTANT = {"service.name"}  # always "voicemode": names the product, tells nothing about anyone


def _paragraph(text: str, start: str) -> str:
    """The paragraph of ``text`` that begins with ``start``, on one line."""
    found = re.search(re.escape(start) + r"(.*?)\n\n", text, re.DOTALL)
    assert found, start
    return " ".join((start + found.group(1)).split())


def test_readme_says_every_field_that_is_sent() -> None:
    """README's "What is sent" names each resource and point attribute of the contract."""
    spec = contract.load()
    keys = {*spec.resource_attributes, *spec.point_attributes} - CONSTANT
    assert set(README_WORDS) == keys
    paragraph = _paragraph(README, "**What is sent**")
    for key, words in README_WORDS.items():
        assert words in paragraph, (key, words)


def test_the_ip_address_is_not_claimed_unsent() -> None:
    """The server necessarily sees the address: README and the opt-in text say it is seen, never stored."""
    never = _paragraph(README, "**Never sent**")
    assert "IP address" not in never.split(".")[0], never
    assert "sees your IP address" in never and "never stores it" in never, never
    prompt = " ".join(texts.opt_in_prompt().split())
    assert "sees your IP address" in prompt and "never stores it" in prompt, prompt
    assert not re.search(r"Never [^.]*IP address", prompt), prompt


@pytest.mark.parametrize("command", ["disable", "forget"])
def test_an_erasure_says_the_id_free_totals_remain(
    paths: Paths, capture: CaptureServer, command: str
) -> None:
    """An erasure that deleted every row of the installation says its share of the ID-free totals remains."""
    helpers.delivered_report(paths, capture.url)
    capture.answer(Behaviour(204, body=b""))
    result = helpers.cli(paths.base, command, VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    text = " ".join(result.stdout.split())
    assert "deleted every row of this installation" in text, text
    assert "its share of the daily and weekly totals, which carry no ID, remains" in text, text


def test_readme_says_the_id_free_totals_remain() -> None:
    """README's opt-out row says what an erasure cannot take back, as docs/privacy.md does."""
    row = next(line for line in README.splitlines() if line.startswith("| `voicemode-otel disable` |"))
    assert "share of the daily and weekly totals" in row and "no ID" in row, row
    privacy = " ".join((ROOT / "docs" / "privacy.md").read_text(encoding="utf-8").split())
    assert "added to the sums (hourly, daily, weekly) stays there" in privacy
    assert "those sums hold no ID" in privacy
