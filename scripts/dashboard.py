"""Serve the usage dashboard locally, seeded with demo data (``make dashboard``).

Starts the Worker (``wrangler dev`` on 127.0.0.1, fresh local D1 in a
temporary directory), lets simulated installations send a month of reports through
the real Python sender (``demo_data.seed_history``, the hourly cron run after each
simulated day), prints the page's URL and waits until
Ctrl-C or SIGTERM, then stops the Worker. The threshold is 1 installation by
default, so one small demo set is not all suppressed (``--min-installations 5``
shows the production rule).

``--screenshot PATH`` seeds, saves a PNG of the page and exits instead; this is
how docs/dashboard.png is made (a month of 60 installations, the production threshold)::

    .venv/bin/python scripts/dashboard.py --installations 60 --min-installations 5 \
        --screenshot docs/dashboard.png --height 2150
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import demo_data
from localworker import LocalWorker, rollup_cron
from screenshot import capture

from voicemode_otel.delivery import run as delivery


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGINT and SIGTERM both end the wait (even if SIGINT was inherited as ignored)."""
    raise KeyboardInterrupt


def serve(
    worker: LocalWorker, installations: int, screenshot: Path | None, size: tuple[int, int | None]
) -> int:
    """Seed the running ``worker``, then capture or wait; the exit status."""
    seeded = demo_data.history_temporary(
        worker.metrics_url, installations=installations, after_day=lambda _: worker.refresh(rollup_cron())
    )
    delivered = sum(1 for one in seeded if one.result.outcome is delivery.Outcome.DELIVERED)
    print(
        f"Seeded {delivered} of {installations} simulated installations "
        f"(a month of sample sessions, sent day by day through the real Python sender)."
    )
    url = f"{worker.base_url}/"
    if screenshot is not None:
        width, height = size
        if not capture(url, screenshot, width=width, height=height or 900, full_page=height is None):
            print("No screenshot: Chromium (or playwright-core) is not available.", file=sys.stderr)
            return 1
        print(f"Saved {screenshot}")
        return 0
    print(
        f"\nDashboard: {url}\nJSON:      {worker.base_url}/v1/stats\n\nCtrl-C stops the Worker.", flush=True
    )
    while True:
        time.sleep(3600)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, and always stop the Worker."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8787, help="port on 127.0.0.1 (default 8787)")
    parser.add_argument("--installations", type=int, default=12, help="simulated installations (default 12)")
    parser.add_argument(
        "--min-installations", type=int, default=1, help="STATS_MIN_INSTALLATIONS for this run (default 1)"
    )
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the page here and exit")
    parser.add_argument("--width", type=int, default=1280, help="screenshot width (default 1280)")
    parser.add_argument(
        "--height", type=int, help="capture only this many pixels from the top (default: the whole page)"
    )
    args = parser.parse_args(argv)
    why = " so the small demo set is not suppressed (production: 5)" if args.min_installations < 5 else ""
    threshold = f"STATS_MIN_INSTALLATIONS={args.min_installations}"
    print(f"Starting the Worker on 127.0.0.1:{args.port} with {threshold}{why}.")
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    worker = LocalWorker(port=args.port, stats_min_installations=args.min_installations)
    try:
        worker.start()
        return serve(worker, args.installations, args.screenshot, (args.width, args.height))
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave wrangler running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        worker.stop()
        print("Worker stopped.")


if __name__ == "__main__":
    sys.exit(main())
