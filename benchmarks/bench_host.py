"""Rows 1-2: what the host pays — opted out, opted in with a report due, and at exit."""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import PYTHON, Row, clean_env, compile_package, interleaved, median_ms

from voicemode_otel import preference, testing
from voicemode_otel.otlp_capture import Behaviour, CaptureServer
from voicemode_otel.paths import Paths

RUNS = 100
HEAVY = ("opentelemetry.sdk", "requests", "google.protobuf")


def opted_out() -> list[Row]:
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(DO_NOT_TRACK="1", VOICEMODE_BASE_DIR=tmp)
        ours = [PYTHON, "-c", "import voicemode_otel; voicemode_otel.start()"]
        bare = [PYTHON, "-c", "pass"]
        interleaved([ours, bare], 3, env)  # warm the page cache
        t_ours, t_bare = interleaved([ours, bare], RUNS, env)
        modules = subprocess.run(
            [
                PYTHON,
                "-c",
                "import sys; b=set(sys.modules); import voicemode_otel; voicemode_otel.start(); "
                "print(' '.join(sorted(set(sys.modules)-b)))",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    ratio = median_ms(t_ours) / median_ms(t_bare)
    heavy = [m for m in modules if m.startswith(HEAVY)]
    return [
        Row(
            "opted-out host cost: `import voicemode_otel; start()` (DO_NOT_TRACK=1) vs `python -c pass`",
            f"{median_ms(t_ours):.1f} ms",
            f"{median_ms(t_bare):.1f} ms",
            ratio,
            "≤ 1.05×",
            ratio <= 1.05,
            f"median of {RUNS} interleaved runs; modules added: {', '.join(modules)}; heavy: {heavy or 'none'}",
        )
    ]


START_CODE = """
import json, sys, time
import voicemode_otel
t0 = time.perf_counter()
started = voicemode_otel.start()
t1 = time.perf_counter()
print(json.dumps({"start_ms": (t1 - t0) * 1000, "sdk_on_caller": "opentelemetry.sdk.metrics" in sys.modules}), flush=True)
time.sleep(%s)
"""
NAIVE_CODE = """
import json, time
t0 = time.perf_counter()
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
print(json.dumps({"start_ms": (time.perf_counter() - t0) * 1000}))
"""


def _due(base: Path) -> None:
    paths = Paths(base)
    now = datetime.now(timezone.utc)
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(base)}, now=now - timedelta(hours=30))
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    writer.session((now - timedelta(hours=6)).astimezone(testing.PACIFIC), 6)


def opted_in() -> list[Row]:
    ours, naive, exits = [], [], []
    with CaptureServer() as server:
        server.default = Behaviour(delay=60)  # an endpoint that hangs: the worst case for exit
        for _ in range(15):
            with tempfile.TemporaryDirectory() as tmp:
                _due(Path(tmp))
                env = clean_env(VOICEMODE_BASE_DIR=tmp, VOICEMODE_TELEMETRY_ENDPOINT=server.url)
                started = time.perf_counter()
                process = subprocess.run(
                    [PYTHON, "-c", START_CODE % "1.0"], env=env, capture_output=True, text=True, check=True
                )
                finished = time.perf_counter()
                result = json.loads(process.stdout.splitlines()[0])
                assert not result["sdk_on_caller"]
                ours.append(result["start_ms"])
                exits.append(finished - started)
            result = subprocess.run(
                [PYTHON, "-c", NAIVE_CODE], env=clean_env(), capture_output=True, text=True, check=True
            )
            naive.append(json.loads(result.stdout)["start_ms"])
        # The same script with consent off: the difference is what telemetry adds at exit.
        baseline = []
        for _ in range(15):
            with tempfile.TemporaryDirectory() as tmp:
                env = clean_env(VOICEMODE_BASE_DIR=tmp, DO_NOT_TRACK="1")
                started = time.perf_counter()
                subprocess.run([PYTHON, "-c", START_CODE % "1.0"], env=env, capture_output=True, check=True)
                baseline.append(time.perf_counter() - started)
    start_ms, naive_ms = statistics.median(ours), statistics.median(naive)
    exit_extra = statistics.median(exits) - statistics.median(baseline)
    return [
        Row(
            "opted-in `start()` on the calling thread, report due",
            f"{start_ms:.2f} ms",
            f"{naive_ms:.0f} ms (import SDK + OTLP exporter synchronously)",
            start_ms / naive_ms,
            "≤ 5 ms",
            start_ms <= 5,
            "median of 15 fresh processes; the SDK is never imported on the caller's thread",
        ),
        Row(
            "exit with the endpoint hanging mid-request (extra time vs the same script opted out)",
            f"{exit_extra * 1000:.0f} ms",
            "0 ms",
            None,
            "≤ 1 s",
            exit_extra <= 1.0,
            "the request would hang 60 s; atexit aborts the exporter and waits ≤ 0.5 s for the thread",
        ),
    ]


def run() -> list[Row]:
    return opted_out() + opted_in()
