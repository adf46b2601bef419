"""The dashboard's trends in a real headless Chromium, on a month of simulated installations.

The Worker runs locally (wrangler dev, local D1); twelve installations send a month of
reports day by day through the real Python sender, the hourly cron running after each
simulated day. Checked in the browser: four SVG charts, each an image named and
described by its own <title> and <desc>; every number of their tables and every point
drawn equal to ``/v1/stats?series=``; readable and without horizontal scroll at 375 px;
the dark palette applied. Screenshots land in test-artifacts/trends-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import demo_data
import pytest
from localworker import ROOT, LocalWorker, rollup_cron
from packaging.version import Version
from screenshot import driver_missing, ensure_chromium, run_browser

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(900)]

ARTIFACTS = ROOT / "test-artifacts"
INSTALLATIONS = 12
PHONE = (375, 812)
DARK_ACCENT = "rgb(88, 166, 255)"
LIGHT_ACCENT = "rgb(10, 95, 194)"


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed now if needed and possible."""
    path, why = ensure_chromium()
    if path is None:
        pytest.skip(f"no headless Chromium: {why}")
    missing = driver_missing()
    assert missing is None, missing
    return path


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    """The local Worker, every cell visible, after a simulated month of 12 installations."""
    with LocalWorker(stats_min_installations=1, rollup_on_read=False) as started:
        cron = rollup_cron()
        seeded = demo_data.history_temporary(
            started.metrics_url, installations=INSTALLATIONS, after_day=lambda _: started.refresh(cron)
        )
        assert len(seeded) == INSTALLATIONS
        assert all(one.result.outcome.value == "delivered" for one in seeded)
        started.refresh(cron)
        yield started


@pytest.fixture(scope="module")
def visit(chromium: str, worker: LocalWorker) -> dict[str, Any]:
    """One browser run: desktop, phone width, dark mode; screenshots saved."""
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {name: ARTIFACTS / f"trends-{name}.png" for name in ("desktop", "phone", "dark")}
    for path in shots.values():
        path.unlink(missing_ok=True)
    url = f"{worker.base_url}/?days=30"
    steps: list[dict[str, Any]] = [
        {"do": "viewport", "width": 1280, "height": 1100},
        {"do": "goto", "url": url},
        {"do": "inspect"},
        {"do": "screenshot", "path": str(shots["desktop"]), "fullPage": False},
        {"do": "viewport", "width": PHONE[0], "height": PHONE[1]},
        {"do": "goto", "url": url},
        {"do": "inspect"},
        {"do": "screenshot", "path": str(shots["phone"])},
        {"do": "viewport", "width": 1280, "height": 1100},
        {"do": "colorScheme", "value": "dark"},
        {"do": "goto", "url": url},
        {"do": "inspect"},
        {"do": "screenshot", "path": str(shots["dark"]), "fullPage": False},
    ]
    answer = run_browser(steps, executable=chromium)
    results = answer["results"]
    return {
        "desktop": results[2],
        "phone": results[6],
        "dark": results[11],
        "console": answer["console"],
        "shots": shots,
    }


def _at(bucket: dict[str, Any], path: list[str]) -> Any:
    node: Any = bucket
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def test_four_charts_each_an_image_with_its_own_title_and_description(visit: dict[str, Any]) -> None:
    """Active installations, sessions, version adoption, weekly median: role=img, <title> and <desc>."""
    trends = visit["desktop"]["trends"]
    assert [t["title"] for t in trends] == [
        "Active installations per day",
        "Sessions per day",
        "VoiceMode version adoption",
        "Median session length, by week",
    ]
    for chart in trends:
        assert chart["role"] == "img"
        assert len(chart["desc"]) > 40
    assert visit["console"] == []


def test_numbers_and_points_equal_the_series_json(visit: dict[str, Any], worker: LocalWorker) -> None:
    """Every table cell and every drawn point, read from the DOM, equals /v1/stats?series=."""
    series = {grain: worker.get_json(f"/v1/stats?series={grain}&days=30") for grain in ("day", "week")}
    tables = visit["desktop"]["trendTables"]
    assert [t["grain"] for t in tables] == ["day", "day", "week", "week"]
    for table in tables:
        buckets = series[table["grain"]]["buckets"]
        assert [row["start"] for row in table["rows"]] == [b["start"] for b in buckets]
        for row, bucket in zip(table["rows"], buckets, strict=True):
            for cell in row["cells"]:
                assert cell["value"] == _at(bucket, cell["path"]), (row["start"], cell["path"])
    days = series["day"]["buckets"]
    trends = visit["desktop"]["trends"]
    assert trends[0]["points"] == [
        [b["start"], b["installations"]] for b in days if b["installations"] is not None
    ]
    assert trends[1]["points"] == [[b["start"], b["sessions"]] for b in days if b["sessions"] is not None]
    # A month of several installations: most days are drawn, and the versions move.
    assert len(trends[0]["points"]) >= 20
    assert {key for key, _fill in trends[2]["bands"]} >= {"8.12.0", "8.13.0"}


def test_newest_version_on_top(visit: dict[str, Any]) -> None:
    """Bands are drawn bottom to top: what is not shown, then versions oldest to newest."""
    keys = [key for key, _fill in visit["desktop"]["trends"][2]["bands"]]
    order = [k for i, k in enumerate(keys) if k and keys.index(k) == i]
    # PEP 440 order (pytest's own dependency `packaging` knows it): 8.12.0.dev0 < 8.12.0.
    assert order == sorted(order, key=Version)
    assert order[-1] == "8.13.0"


def test_readable_at_375px_without_horizontal_scroll(visit: dict[str, Any]) -> None:
    """At phone width the page does not scroll sideways, charts fit, and axis text stays ≥ 8 px."""
    phone = visit["phone"]
    assert phone["clientWidth"] == PHONE[0]
    assert phone["scrollWidth"] <= phone["clientWidth"]
    for chart in phone["trends"]:
        assert chart["right"] <= PHONE[0]
        assert chart["width"] >= 280
        assert chart["minTextHeight"] is not None and chart["minTextHeight"] >= 8
    assert phone["trendTables"] == visit["desktop"]["trendTables"]


def test_dark_mode_recolours_the_charts(visit: dict[str, Any]) -> None:
    """prefers-color-scheme: dark switches lines and bands to the dark palette."""
    light, dark = visit["desktop"]["trends"], visit["dark"]["trends"]
    assert light[0]["lineStroke"] == LIGHT_ACCENT
    assert dark[0]["lineStroke"] == DARK_ACCENT
    assert [fill for _, fill in light[2]["bands"]] != [fill for _, fill in dark[2]["bands"]]


def test_screenshots_are_saved(visit: dict[str, Any]) -> None:
    """Desktop, phone and dark screenshots of the trends are PNG files in test-artifacts/."""
    for path in visit["shots"].values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
