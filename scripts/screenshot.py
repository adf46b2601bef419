"""Headless Chromium for the dashboard: screenshots (``make demo``, docs/dashboard.png) and browser tests.

The browser is Debian's ``chromium``, driven by ``playwright-core`` (a pinned
devDependency of the Worker package, run with Node 22 from npm) through
``worker-otlp-ingest/test/support/chromium.mjs``, which takes a list of steps
and answers with what each step saw. Every run gets a fresh profile directory
and the flags in :data:`CHROMIUM_FLAGS`; nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from localworker import WORKER, node_environment

DRIVER = WORKER / "test" / "support" / "chromium.mjs"
PLAYWRIGHT = WORKER / "node_modules" / "playwright-core" / "package.json"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
APT_TIMEOUT = 400.0


class BrowserError(Exception):
    """The browser run failed (the message carries the driver's error output)."""


def find_chromium() -> str | None:
    """Debian's ``chromium`` on PATH, or None."""
    return shutil.which("chromium")


def ensure_chromium() -> tuple[str | None, str]:
    """Chromium's path, installing it with apt when missing and possible; else None and why not.

    Installs only as root with ``apt-get`` present (``apt-get update`` then
    ``apt-get install -y --no-install-recommends chromium``), each step bounded
    by :data:`APT_TIMEOUT` seconds.
    """
    found = find_chromium()
    if found:
        return found, ""
    if os.name != "posix" or os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "chromium is not installed and there is no apt-get to install it"
    environ = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        [apt, "update"],
        [apt, "install", "-y", "--no-install-recommends", "chromium"],
    ):
        try:
            done = subprocess.run(
                command, env=environ, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"`{' '.join(command)}` timed out after {APT_TIMEOUT:.0f} s"
        if done.returncode != 0:
            return None, f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}"
    found = find_chromium()
    return (found, "") if found else (None, "apt installed chromium but it is not on PATH")


def driver_missing() -> str | None:
    """Why the Node driver cannot run (no playwright-core in node_modules), or None."""
    if not PLAYWRIGHT.exists():
        return "playwright-core is not installed: run `npm ci` in worker-otlp-ingest (or `make node`)"
    return None


def run_browser(steps: list[dict[str, Any]], *, executable: str, timeout: float = 120.0) -> dict[str, Any]:
    """Run ``steps`` in one fresh headless Chromium; the driver's JSON answer.

    Raises :class:`BrowserError` if the driver fails or times out.
    """
    job = {"executablePath": executable, "args": list(CHROMIUM_FLAGS), "steps": steps}
    with tempfile.TemporaryDirectory(prefix="voicemode-browser-") as tmp:
        job_file = Path(tmp) / "job.json"
        job_file.write_text(json.dumps(job), encoding="utf-8")
        try:
            done = subprocess.run(
                ["node", str(DRIVER), str(job_file)],
                cwd=WORKER,
                env=node_environment(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise BrowserError(f"the browser run took longer than {timeout:.0f} s") from error
    if done.returncode != 0:
        raise BrowserError(f"the browser run failed:\n{done.stderr.strip()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def capture(url: str, out: Path, *, width: int = 1280, height: int = 900, full_page: bool = True) -> bool:
    """Save a PNG of ``url`` to ``out``; False (and nothing written) without Chromium or the driver.

    Does not install anything. A failed browser run is reported on stderr and
    also gives False, so a demo never stops for a screenshot.
    """
    executable = find_chromium()
    if executable is None or driver_missing():
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, Any]] = [
        {"do": "viewport", "width": width, "height": height},
        {"do": "goto", "url": url},
        {"do": "screenshot", "path": str(out.resolve()), "fullPage": full_page},
    ]
    try:
        run_browser(steps, executable=executable)
    except BrowserError as error:
        print(f"screenshot of {url} failed: {error}", file=sys.stderr)
        return False
    return out.exists()
