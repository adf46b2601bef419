"""scripts/run_tests.py's Collector stage and scripts/collector_build.sh: skipped here, failed in CI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import run_tests

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("tally", "ci", "expected"),
    [
        (run_tests.Tally(passed=5, skipped=2), False, run_tests.Tally(passed=5, skipped=2)),
        (run_tests.Tally(passed=5, skipped=2), True, run_tests.Tally(passed=5, failed=2)),
        (run_tests.Tally(passed=5, failed=1), True, run_tests.Tally(passed=5, failed=1)),
    ],
)
def test_skipped_collector_tests_fail_only_in_ci(tally, ci, expected):
    """A skipped Collector test is reported as skipped on a developer's machine, as failed under CI=true."""
    assert run_tests.skips_fail(tally, ci) == expected


@pytest.mark.parametrize(
    ("value", "ci"), [("true", True), ("1", True), ("TRUE", True), ("", False), ("0", False)]
)
def test_ci_is_read_from_the_ci_variable(monkeypatch, value, ci):
    """CI=true (as CI services set it) turns on the strict reading; anything else does not."""
    monkeypatch.setenv("CI", value)
    assert run_tests.in_ci() is ci


def test_build_without_go_leaves_the_reason_and_succeeds(tmp_path):
    """Without Go, collector_build.sh exits 0 and leaves collector.unavailable saying why."""
    bash = shutil.which("bash")
    assert bash is not None
    out = tmp_path / "build"
    result = subprocess.run(
        [bash, str(ROOT / "scripts" / "collector_build.sh"), str(out), str(tmp_path / "cache"), "x"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GO": "go-not-installed"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    reason = (out / "collector.unavailable").read_text(encoding="utf-8")
    assert reason.startswith("Go is not installed")
    assert "SKIPPED" in result.stderr
    assert [p.name for p in out.iterdir()] == ["collector.unavailable"]
    assert not (tmp_path / "cache").exists()
