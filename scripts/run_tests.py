"""Run every check and test suite, then print one closing line: ``N passed, N failed``.

Called by ``make test`` (and so by CI's ``.ci/run``) with the venvs, Node 22, the
project's Collector and Prometheus already installed. Suites: lint (ruff, ruff
format, mypy --strict, tsc), the Python tests (pytest, including the end-to-end
ones that start the local Worker), the Collector tests (pytest ``-m collector``:
the project's own Collector on the shipped configs, with the Worker, a capture
backend and Prometheus), the real-VoiceMode tests (pytest in
``.venv-voicemode``, where voice-mode itself is installed: ``tests/voicemode/``)
and the Worker tests (vitest in workerd). A lint tool counts as one test. The
exit status is non-zero if anything failed.

The Collector suite is skipped, saying why, on a machine that cannot build the
Collector (no Go) or install Prometheus; under ``CI=true`` every skip in it
counts as a failure instead, so CI cannot pass without running it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "worker-otlp-ingest"
ARTIFACTS = ROOT / "test-artifacts"
VENV_BIN = Path(sys.executable).parent
VOICEMODE_VENV = ROOT / ".venv-voicemode"
VOICEMODE_TESTS = "tests/voicemode"
COLLECTOR_MARK = "collector"


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: Tally) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped


def banner(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def run(command: list[str], cwd: Path = ROOT) -> int:
    print("$ " + " ".join(command), flush=True)
    return subprocess.call(command, cwd=cwd)


def lint() -> Tally:
    tally = Tally()
    checks = [
        ("ruff check", [str(VENV_BIN / "ruff"), "check", "."], ROOT),
        ("ruff format", [str(VENV_BIN / "ruff"), "format", "--check", "."], ROOT),
        ("mypy --strict", [str(VENV_BIN / "mypy")], ROOT),
    ]
    if (WORKER / "package.json").exists():
        checks.append(("tsc --noEmit", ["npm", "run", "--silent", "typecheck"], WORKER))
    for name, command, cwd in checks:
        banner(name)
        if run(command, cwd) == 0:
            tally.passed += 1
        else:
            print(f"FAILED: {name}", flush=True)
            tally.failed += 1
    return tally


def pytest_suite() -> Tally:
    banner("Python tests (pytest)")
    return _pytest(VENV_BIN / "pytest", ARTIFACTS / "pytest.xml", "-m", f"not {COLLECTOR_MARK}")


def in_ci() -> bool:
    """Whether this is CI (``CI=true``), where nothing may be skipped for want of a tool."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skips_fail(tally: Tally, ci: bool) -> Tally:
    """``tally`` with its skips counted as failures when ``ci``: CI must run the whole suite."""
    if not ci or not tally.skipped:
        return tally
    print(f"FAILED: {tally.skipped} tests skipped under CI=true (the SKIPPED reasons are above)", flush=True)
    return Tally(passed=tally.passed, failed=tally.failed + tally.skipped)


def collector_suite() -> Tally:
    """The tests marked ``collector``; in CI a skipped one (no Go, no Prometheus) is a failure."""
    banner("Collector tests (pytest -m collector: the project's Collector, Worker, backends, Prometheus)")
    tally = _pytest(VENV_BIN / "pytest", ARTIFACTS / "pytest-collector.xml", "-m", COLLECTOR_MARK)
    return skips_fail(tally, in_ci())


def voicemode_suite() -> Tally:
    """tests/voicemode/ in the venv that has the real voice-mode (the main one does not collect them)."""
    banner("Real-VoiceMode tests (pytest in .venv-voicemode, voice-mode from PyPI)")
    unavailable = VOICEMODE_VENV / ".unavailable"
    if unavailable.exists():
        reason = unavailable.read_text(encoding="utf-8").strip()
        print(f"SKIPPED: the real-VoiceMode suite cannot run here: {reason}", flush=True)
        return Tally(skipped=1)
    pytest = VOICEMODE_VENV / "bin" / "pytest"
    if not (VOICEMODE_VENV / ".installed").exists() or not pytest.exists():
        print(f"FAILED: {VOICEMODE_VENV.name} is not installed (make voicemode-venv)", flush=True)
        return Tally(failed=1)
    return _pytest(pytest, ARTIFACTS / "pytest-voicemode.xml", VOICEMODE_TESTS)


def _pytest(pytest: Path, report: Path, *paths: str) -> Tally:
    report.unlink(missing_ok=True)
    code = run([str(pytest), "-q", f"--junitxml={report}", "-p", "no:cacheprovider", *paths])
    tally = Tally()
    if not report.exists():
        tally.failed += 1
        return tally
    for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314 - pytest wrote this file just now
        total = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        tally.passed += total - failed - skipped
        tally.failed += failed
        tally.skipped += skipped
    if code not in (0, 1) and tally.failed == 0:  # interrupted, internal error or no tests
        tally.failed += 1
    return tally


def worker_suite() -> Tally:
    tally = Tally()
    if not (WORKER / "package.json").exists():
        return tally
    # vitest's global setup generates the Python-pipeline fixtures with this interpreter.
    os.environ["PYTHON"] = sys.executable
    banner("Worker tests (vitest in workerd)")
    report = ARTIFACTS / "vitest.json"
    code = run(
        ["npx", "vitest", "run", "--reporter=default", "--reporter=json", f"--outputFile.json={report}"],
        WORKER,
    )
    if not report.exists():
        tally.failed += 1
        return tally
    results = json.loads(report.read_text(encoding="utf-8"))
    tally.passed += int(results.get("numPassedTests", 0))
    tally.failed += int(results.get("numFailedTests", 0))
    tally.skipped += int(results.get("numPendingTests", 0)) + int(results.get("numTodoTests", 0))
    if code != 0 and tally.failed == 0:  # a suite failed to load, or vitest itself failed
        tally.failed += 1
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lint-only", action="store_true")
    args = parser.parse_args()
    ARTIFACTS.mkdir(exist_ok=True)
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    total = Tally()
    total.add(lint())
    if not args.lint_only:
        total.add(pytest_suite())
        total.add(collector_suite())
        total.add(voicemode_suite())
        total.add(worker_suite())
    if total.skipped:
        print(f"\n({total.skipped} skipped)")
    print(f"\n{total.passed} passed, {total.failed} failed", flush=True)
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
