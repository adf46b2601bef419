"""The dashboard in a real headless Chromium, against a local Worker seeded with demo data.

Chromium is Debian's; when it is missing the test installs it with apt (as root)
and is skipped, with the reason, only when that cannot work. Screenshots land in
test-artifacts/ (dashboard-desktop.png, dashboard-phone.png, dashboard-dark.png).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import demo_data
import pytest
import screenshot
from localworker import ROOT, LocalWorker
from screenshot import driver_missing, ensure_chromium, run_browser

from voicemode_otel.contract import spec as contract

# The first run on a fresh machine may install Chromium with apt (two steps, each bounded by APT_TIMEOUT).
pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(900)]

ARTIFACTS = ROOT / "test-artifacts"
INSTALLATIONS = 6
PHONE = (375, 812)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed now if needed and possible."""
    path, why = ensure_chromium()
    if path is None:
        pytest.skip(f"no headless Chromium: {why}")
    missing = driver_missing()
    assert missing is None, missing  # a project dependency: `make test` installs it, so never skip
    return path


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    """The local Worker with every cell visible, seeded by simulated installations."""
    with LocalWorker(stats_min_installations=1) as started:
        seeded = demo_data.seed_temporary(started.metrics_url, installations=INSTALLATIONS)
        assert len(seeded) == INSTALLATIONS
        yield started


@pytest.fixture(scope="module")
def visit(chromium: str, worker: LocalWorker) -> dict[str, Any]:
    """One browser run: desktop, the three window links, a phone width, dark mode; screenshots saved."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = {name: ARTIFACTS / f"dashboard-{name}.png" for name in ("desktop", "phone", "dark")}
    for path in shot.values():
        path.unlink(missing_ok=True)
    steps: list[dict[str, Any]] = [
        {"do": "viewport", "width": 1280, "height": 900},
        {"do": "goto", "url": f"{worker.base_url}/"},
        {"do": "inspect"},
        {"do": "screenshot", "path": str(shot["desktop"])},
        {"do": "click", "link": "7 days"},
        {"do": "inspect"},
        {"do": "click", "link": "90 days"},
        {"do": "inspect"},
        {"do": "click", "link": "30 days"},
        {"do": "inspect"},
        {"do": "viewport", "width": PHONE[0], "height": PHONE[1]},
        {"do": "goto", "url": f"{worker.base_url}/?days=30"},
        {"do": "inspect"},
        {"do": "screenshot", "path": str(shot["phone"])},
        {"do": "viewport", "width": 1280, "height": 900},
        {"do": "colorScheme", "value": "dark"},
        {"do": "goto", "url": f"{worker.base_url}/"},
        {"do": "inspect"},
        {"do": "screenshot", "path": str(shot["dark"]), "fullPage": False},
    ]
    started = time.monotonic()
    answer = run_browser(steps, executable=chromium)
    results = answer["results"]
    return {
        "status": results[1],
        "first": results[2],
        "clicked": {7: (results[4], results[5]), 90: (results[6], results[7]), 30: (results[8], results[9])},
        "phone": results[12],
        "dark": results[17],
        "console": answer["console"],
        "shots": shot,
        "seconds": time.monotonic() - started,
    }


def _charts(inspected: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(chart["path"]): chart for chart in inspected["charts"]}


def test_page_renders_with_its_stylesheet_and_no_errors(visit: dict[str, Any]) -> None:
    """The page answers 200, its CSP-hashed stylesheet applies, no script, no console error."""
    first = visit["first"]
    assert visit["status"] == 200
    assert first["h1"] == "How VoiceMode is used"
    assert first["title"] == "VoiceMode usage · last 30 days"
    assert first["scripts"] == 0
    assert first["bodyBackground"] not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    assert visit["dark"]["bodyBackground"] != first["bodyBackground"]
    assert visit["console"] == []


def test_numbers_equal_v1_stats(visit: dict[str, Any], worker: LocalWorker) -> None:
    """Every number on the page, read from the DOM, equals /v1/stats for its window."""
    assert visit["first"]["stats"] == worker.stats(30)
    assert visit["first"]["stats"]["installations"] == INSTALLATIONS
    for days, (_url, inspected) in visit["clicked"].items():
        assert inspected["stats"] == worker.stats(days)


def test_charts_have_one_labelled_bar_per_bin_or_value(visit: dict[str, Any], worker: LocalWorker) -> None:
    """Histograms: one bar per contract bin, in contract order; other charts: one per published value."""
    spec = contract.load()
    stats = worker.stats(30)
    charts = _charts(visit["first"])
    for name in (contract.DURATION, contract.EXCHANGES):
        chart = charts[("metrics", name, "bins")]
        bins = list(spec.metric(name).bins)
        assert [bar["key"] for bar in chart["bars"]] == bins
        assert chart["labels"] == bins
        published = stats["metrics"][name]["bins"]
        assert [bar["key"] for bar in chart["bars"] if not bar["suppressed"]] == list(published)
        assert all(bar["width"] > 0 for bar in chart["bars"] if not bar["suppressed"])
    for role, counts in stats["metrics"][contract.PROVIDERS].items():
        chart = charts[("metrics", contract.PROVIDERS, role)]
        assert [bar["key"] for bar in chart["bars"]] == chart["labels"] == list(counts)
    assert [bar["key"] for bar in charts[("transport",)]["bars"]] == list(stats["transport"])
    for key, counts in stats["environment"].items():
        assert [bar["key"] for bar in charts[("environment", key)]["bars"]] == list(counts)
    assert len(charts) == 2 + len(stats["metrics"][contract.PROVIDERS]) + 1 + len(stats["environment"])


def test_window_links_navigate(visit: dict[str, Any], worker: LocalWorker) -> None:
    """Each window link loads its window: URL, heading, current link and totals change."""
    for days, (url, inspected) in visit["clicked"].items():
        assert url == f"{worker.base_url}/?days={days}"
        assert inspected["windowHeading"] == f"Last {days} days"
        assert inspected["currentWindow"] == f"{days} days"
        assert inspected["stats"]["days"] == days


def test_phone_width_has_no_horizontal_scroll(visit: dict[str, Any]) -> None:
    """At 375 px the page fits: no horizontal scrolling, same content."""
    phone = visit["phone"]
    assert phone["clientWidth"] == PHONE[0]
    assert phone["scrollWidth"] <= phone["clientWidth"]
    assert phone["stats"] == visit["first"]["stats"]


def test_screenshots_are_saved(visit: dict[str, Any]) -> None:
    """Desktop, phone and dark screenshots are PNG files in test-artifacts/."""
    for path in visit["shots"].values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert visit["seconds"] < 60


@pytest.mark.parametrize(
    ("euid", "apt", "reason"),
    [
        (1000, "/usr/bin/apt-get", "installing it needs root"),
        (0, None, "there is no apt-get to install it"),
    ],
)
def test_missing_chromium_is_skipped_only_when_it_cannot_be_installed(
    monkeypatch: pytest.MonkeyPatch, euid: int, apt: str | None, reason: str
) -> None:
    """Without chromium, not root or without apt-get: no path, and a reason that says which."""
    monkeypatch.setattr(screenshot, "find_chromium", lambda: None)
    monkeypatch.setattr(screenshot.os, "geteuid", lambda: euid)
    monkeypatch.setattr(screenshot.shutil, "which", lambda name: apt if name == "apt-get" else None)
    path, why = screenshot.ensure_chromium()
    assert path is None
    assert why.endswith(reason)
