"""``make demo``: the whole pipeline on this machine, start to finish, with nothing left behind.

A local Worker (wrangler dev, local D1) on 127.0.0.1; a week of VoiceMode
logs in a temporary VOICEMODE_BASE_DIR (never your ~/.voicemode); an opt-in
there; the real ``voicemode-otel`` CLI previewing and sending; the Worker's
answer; then a month of several simulated installations replayed day by day
through the same sender; the resulting ``/v1/stats``, its day series and the
dashboard's screenshot with its trend charts. Exits non-zero if any step fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from localworker import ROOT, LocalWorker, rollup_cron
from screenshot import capture

from voicemode_otel import testing
from voicemode_otel.contract import ceil_hour, floor_hour
from voicemode_otel.contract import spec as contract
from voicemode_otel.logs import SESSION_GAP
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths

CLI = str(Path(sys.executable).parent / "voicemode-otel")
BAR = 30


class DemoError(Exception):
    """A step failed; the message says which."""


def step(number: int, title: str) -> None:
    title = f"{number}. {title}"
    print("\n" + (f"\033[1m{title}\033[0m" if sys.stdout.isatty() else title), flush=True)


def cli(environ: dict[str, str], *args: str) -> str:
    """Run the real voicemode-otel CLI in the demo's environment; fail the demo on an error exit."""
    result = subprocess.run(
        [CLI, *args], env=environ, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        raise DemoError(
            f"`voicemode-otel {' '.join(args)}` exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def bars(counts: dict[str, int], order: list[str]) -> str:
    largest = max(counts.values(), default=0)
    total = sum(counts.values())
    width = max((len(label) for label in order), default=1)
    lines = []
    for label in order:
        count = counts.get(label)
        if count is None:
            lines.append(f"   {label:>{width}} | —")
            continue
        bar = "█" * max(1 if count else 0, round(BAR * count / largest)) if largest else ""
        share = f"{100 * count / total:4.0f}%" if total else ""
        lines.append(f"   {label:>{width}} | {bar:<{BAR}} {count:>4} {share}")
    return "\n".join(lines)


def render_stats(stats: dict[str, Any]) -> str:
    spec = contract.load()
    out = [
        f"   window: last {stats['days']} days   "
        f"installations: {stats['installations']}   reports: {stats['reports']}",
        "",
    ]
    for name in (contract.DURATION, contract.EXCHANGES):
        metric = spec.metric(name)
        out += [f"   {name} (sessions per bin)", bars(stats["metrics"][name]["bins"], list(metric.bins)), ""]
    providers = stats["metrics"][contract.PROVIDERS]
    for role in spec.closed_values(contract.PROVIDER_ROLE):
        counts = providers.get(role, {})
        out += [
            f"   {contract.PROVIDERS} — {role}",
            bars(counts, sorted(counts, key=lambda k: -counts[k])),
            "",
        ]
    transport = stats.get("transport", {})
    if transport:
        out += [
            "   sessions by transport",
            bars(transport, sorted(transport, key=lambda k: -transport[k])),
            "",
        ]
    out.append(
        "   — : no sessions, or fewer than STATS_MIN_INSTALLATIONS installations (such cells are omitted)"
    )
    return "\n".join(out)


def render_trend(series: dict[str, Any]) -> str:
    """Active installations and sessions per day, one line per day, as bars."""
    buckets = series["buckets"]
    largest = max((b["installations"] or 0 for b in buckets), default=0)
    lines = ["   day (UTC)    active installations          sessions"]
    for bucket in buckets:
        active, sessions = bucket["installations"], bucket["sessions"]
        bar = "█" * round(BAR * (active or 0) / largest) if largest else ""
        shown = "—" if active is None else str(active)
        count = "—" if sessions is None else str(sessions)
        lines.append(f"   {bucket['start']}  {bar:<{BAR}} {shown:>3}   {count:>5}")
    lines.append(
        "   — : none, or withheld (fewer than STATS_MIN_INSTALLATIONS installations, or a complement)"
    )
    return "\n".join(lines)


def run(installations: int) -> None:
    started = time.monotonic()
    print("voicemode-otel demo — everything runs on this machine; your ~/.voicemode is never touched.")
    with tempfile.TemporaryDirectory(prefix="voicemode-demo-") as tmp:
        step(1, "Start the Worker locally (wrangler dev on 127.0.0.1, local D1, migrations applied)")
        worker = LocalWorker(stats_min_installations=1).start()
        pid = worker.pid
        try:
            print(f"   {worker.base_url}  (pid {worker.pid}, state in a temporary directory)")
            print("   STATS_MIN_INSTALLATIONS=1 for the demo: with the default of 5, the stats of one")
            print("   installation would be suppressed by the small-cell rule (by design).")
            demo(Path(tmp), worker, installations)
        finally:
            worker.stop()
        print(f"\nStopped the Worker (pid {pid}) and removed {tmp}. Took {time.monotonic() - started:.0f} s.")


def demo(root: Path, worker: LocalWorker, extra_installations: int) -> None:
    paths = Paths(root / "voicemode")
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(root / "home"),
        "VOICEMODE_BASE_DIR": str(paths.base),
        "VOICEMODE_TELEMETRY_ENDPOINT": worker.metrics_url,
    }
    now = datetime.now(timezone.utc)

    step(2, "Write a week of VoiceMode conversation logs into a temporary VOICEMODE_BASE_DIR")
    sessions = testing.sample_week(paths.conversations_dir, now)
    files = sorted(paths.conversations_dir.iterdir())
    lines = sum(len(path.read_text().splitlines()) for path in files)
    print(f"   {paths.base}: {lines} log lines in {len(files)} daily files, {len(sessions)} sessions")
    print("   (several sessions a day, Kokoro/Whisper and OpenAI, local and LiveKit, one across midnight)")

    step(3, "Opt in — in that directory only (back-dated a week so the sample week is reportable)")
    opted_in = now - timedelta(days=7)
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=opted_in)
    # What the first report can hold: sessions that began after the opt-in and completed
    # (last line + the 5-minute gap) within its period, from the first whole hour after the
    # opt-in to the last whole hour before now; later ones wait for the next day's report.
    period_start, period_end = ceil_hour(opted_in), floor_hour(now)
    reportable = [
        s for s in sessions if s.first >= opted_in and period_start <= s.last + SESSION_GAP < period_end
    ]
    print(indent(cli(environ, "status").split("\n\nWhat is collected")[0]))

    step(4, "What would be sent: `voicemode-otel preview` (sends nothing)")
    preview = cli(environ, "preview").split("\n\nOTLP/JSON body:")[0]
    print(indent(preview))

    step(5, "Send it with the real sender: `voicemode-otel send`")
    sent = cli(environ, "send")
    print(indent(sent))
    if not sent.startswith("delivered:"):
        raise DemoError(f"expected the report to be delivered, got: {sent}")
    entries = [json.loads(line) for line in cli(environ, "log", "--json").splitlines()]
    sent_report = next(entry for entry in entries if entry["kind"] == "report")
    print(f"   The Worker answered: {sent_report['outcome']}  (an OTLP ExportMetricsServiceResponse;")
    print("   `partial success` would list any points it refused)")
    body = sent_report["body"]
    size = len(json.dumps(body))
    print(f"   The body, as logged locally before sending: {size} bytes of OTLP/JSON (`log --body` shows it)")

    if extra_installations:
        from demo_data import seed_history

        step(6, f"{extra_installations} more simulated installations replay a month, day by day")
        print("   (each on its own cadence and upgrade day, through the same sender; the hourly cron")
        print("   runs after each simulated day, as it would in production)")
        cron = rollup_cron()
        for installation in seed_history(
            worker.metrics_url,
            root / "others",
            installations=extra_installations,
            now=now,
            after_day=lambda _day: worker.refresh(cron),
        ):
            outcome, count = installation.result.outcome.value, len(installation.sessions)
            print(f"   {installation.name}: last send {outcome}, {count} sessions in its logs")

    step(7 if extra_installations else 6, "What the Worker stored: GET /v1/stats?days=30")
    stats = worker.stats(30)
    print(render_stats(stats))
    rows = worker.query("SELECT COUNT(*) AS reports FROM reports")[0]["reports"]
    rows_text = f"{rows} report row{'' if rows == 1 else 's'}"
    print(
        f"\n   D1 holds {rows_text}; `make worker-export` copies local D1 into"
        " worker-otlp-ingest/exports/voicemode-otel-local.sqlite."
    )
    telemetry_id = paths.telemetry_id.read_text().strip()
    counted = worker.query(
        "SELECT coalesce(SUM(sessions), 0) AS n FROM report_cells WHERE telemetry_id = ? AND metric = ?",
        (telemetry_id, contract.DURATION),
    )[0]["n"]
    if counted != len(reportable):
        raise DemoError(
            f"the Worker counted {counted} sessions of this installation; {len(reportable)} began after the"
            " opt-in and ended in the period"
        )
    print(
        f"   This installation: {counted} sessions counted = the {len(reportable)} logged sessions that began"
        f" after the opt-in and ended by {period_end:%H:%M} UTC\n"
        "   (a session still open then goes into the next day's report)."
    )
    if extra_installations:
        step(8, "The trend: GET /v1/stats?series=day&days=30 (active installations per day)")
        print(render_trend(worker.get_json("/v1/stats?series=day&days=30")))

    shot = ROOT / "demo-dashboard.png"
    if capture(f"{worker.base_url}/", shot):
        print(f"\n   Dashboard screenshot saved to {shot.relative_to(ROOT)} (the page is {worker.base_url}/)")
    else:
        print("\n   (No Chromium here, so no dashboard screenshot; `make dashboard` serves the page.)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--installations",
        type=int,
        default=12,
        help="simulated installations replaying a month alongside the demo's own (default 12; 0: none)",
    )
    args = parser.parse_args()
    try:
        run(args.installations)
    except (DemoError, RuntimeError) as error:
        print(f"\ndemo FAILED: {error}", file=sys.stderr)
        return 1
    print("\ndemo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
