"""Documentation generated from the code is current (privacy.md, the collector configs)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    platform.system() != "Linux", reason="the committed example was captured on Linux (os.type)"
)
def test_privacy_doc_is_current() -> None:
    """docs/privacy.md equals what scripts/make_docs.py generates from the contract and a captured report."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_privacy_doc_lists_every_contract_key() -> None:
    """Every metric and attribute of the contract is explained in the privacy document."""
    from voicemode_otel import contract

    text = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    spec = contract.load()
    for key in [*spec.metrics, *spec.point_attributes, *spec.resource_attributes]:
        assert f"`{key}`" in text
