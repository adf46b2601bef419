"""Rows 1-2: what the host pays — opted out, opted in with a report due, and at exit."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import PYTHON, ROOT, Row, clean_env

from voicemode_otel import testing
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths
from voicemode_otel.testing import Behaviour, CaptureServer

RUNS = 300
HEAVY = ("opentelemetry.sdk", "requests", "google.protobuf")


def regular_install(root: Path) -> tuple[Path, str]:
    """A wheel of this checkout, pip-installed into a fresh venv: what users run, no editable hook.

    The editable ``.venv`` starts every interpreter through its import hook (~30 ms here),
    a denominator that hides what the package itself costs. Returns the venv's python and
    how its dependencies were installed.
    """
    wheels, venv, source = root / "wheel", root / "venv", root / "source"
    # Built from a copy of what the wheel is made of: setuptools stages a build in the
    # checkout's build/lib and packs whatever is there, so a module moved or deleted since
    # an earlier build would still be installed (and on the import path) from the checkout.
    shutil.copytree(
        ROOT / "voicemode_otel", source / "voicemode_otel", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", *(p.name for p in ROOT.glob("LICENSE*"))):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [PYTHON, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)],
        check=True,
        cwd=root,
    )
    [wheel] = wheels.glob("voicemode_otel-*.whl")
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    with_deps = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(wheel)],
        check=False,
        capture_output=True,
    )
    if with_deps.returncode == 0:
        return python, "with its dependencies"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)
    return python, "without its dependencies (they could not be installed here)"


def _cpu_and_wall(
    commands: dict[str, list[str]], runs: int, env: dict[str, str], cwd: Path
) -> dict[str, tuple[list[float], list[float]]]:
    """Interleaved in random order; per run the child's CPU time (user + sys, from wait4) and wall time.

    CPU time is what the host pays and is far less disturbed than wall time by other
    work on a shared machine; both are reported.
    """
    import os
    import random

    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in commands}
    devnull = os.open(os.devnull, os.O_RDWR)
    here = Path.cwd()
    os.chdir(cwd)
    try:
        for _ in range(runs):
            names = list(commands)
            random.shuffle(names)
            for name in names:
                started = time.perf_counter()
                pid = os.posix_spawn(
                    commands[name][0], commands[name], env, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)]
                )
                _, status, usage = os.wait4(pid, 0)
                assert status == 0, commands[name]
                times[name][0].append(usage.ru_utime + usage.ru_stime)
                times[name][1].append(time.perf_counter() - started)
    finally:
        os.chdir(here)
        os.close(devnull)
    return times


def _instructions(python: Path, code: str, env: dict[str, str], cwd: Path) -> int | None:
    """Instructions executed by the whole process (valgrind's callgrind), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(python), "-c", code],
        env={**env, "PYTHONHASHSEED": "0"},  # string hashing is randomised per process otherwise
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    return int(found.group(1)) if found else None


def opted_out() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        python, how = regular_install(root)
        neutral = root / "neutral"
        neutral.mkdir()
        cases = [
            ("DO_NOT_TRACK=1", {"DO_NOT_TRACK": "1"}, None),
            ("not asked yet, VoiceMode's 400-line voicemode.env", {}, None),
            ("opted out: VOICEMODE_TELEMETRY=false in that voicemode.env", {}, "false"),
        ]
        # The call lives in a host module, byte-compiled as VoiceMode's own code is, against an
        # empty host module: with `-c "import voicemode_otel; voicemode_otel.start()"` against
        # `-c pass`, compiling the longer command line alone was counted as ours (~74,000
        # instructions, 0.2 % of the interpreter), a cost no host pays at start.
        (neutral / "host_ours.py").write_text("import voicemode_otel\n\nvoicemode_otel.start()\n")
        (neutral / "host_bare.py").write_text("")
        subprocess.run(
            [str(python), "-m", "py_compile", "host_ours.py", "host_bare.py"], cwd=neutral, check=True
        )
        ours_code, bare_code = "import host_ours", "import host_bare"
        for number, (label, extra, telemetry) in enumerate(cases):
            # Where VoiceMode keeps it for most users: ~/.voicemode, VOICEMODE_BASE_DIR unset.
            home = root / f"home-{number}"
            (home / ".voicemode").mkdir(parents=True)
            (home / ".voicemode" / "voicemode.env").write_text(testing.voicemode_env(telemetry))
            env = {"PATH": "/usr/bin:/bin", "HOME": str(home), **extra}
            commands = {"ours": [str(python), "-c", ours_code], "bare": [str(python), "-c", bare_code]}
            _cpu_and_wall(commands, 5, env, neutral)  # warm the page cache
            times = _cpu_and_wall(commands, RUNS, env, neutral)
            cpu = {name: statistics.median(times[name][0]) for name in commands}
            wall = {name: statistics.median(times[name][1]) for name in commands}
            modules = subprocess.run(
                [
                    str(python),
                    "-c",
                    "import sys; b=set(sys.modules); import voicemode_otel; voicemode_otel.start(); "
                    "print(' '.join(sorted(set(sys.modules)-b)))",
                ],
                env=env,
                cwd=neutral,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            heavy = [m for m in modules if m.startswith(HEAVY)]
            counted = [_instructions(python, code, env, neutral) for code in (ours_code, bare_code)]
            cpu_ratio = cpu["ours"] / cpu["bare"]
            # Instructions are deterministic (PYTHONHASHSEED=0); times on a shared machine are
            # not. The goal is judged on instructions where valgrind is installed.
            ratio = counted[0] / counted[1] if counted[0] and counted[1] else cpu_ratio
            judged = "instructions" if counted[0] and counted[1] else "median CPU time"
            rows.append(
                Row(
                    f"opted-out host cost, regular install: `import voicemode_otel; start()` ({label}) "
                    "in a byte-compiled host module vs an empty one",
                    f"{cpu['ours'] * 1000:.2f} ms CPU",
                    f"{cpu['bare'] * 1000:.2f} ms CPU",
                    ratio,
                    "≤ 1.03×",
                    ratio <= 1.03,
                    f"ratio of {judged}; wheel pip-installed {how} into a fresh venv, run from a folder holding only the two host modules; "
                    f"median CPU time (user + sys) of {RUNS} interleaved runs {cpu_ratio:.3f}×, wall "
                    f"{wall['ours'] * 1000:.1f} vs {wall['bare'] * 1000:.1f} ms "
                    f"({wall['ours'] / wall['bare']:.3f}×)"
                    + (
                        f"; instructions (callgrind) {counted[0]:,} vs {counted[1]:,}"
                        if counted[0] and counted[1]
                        else ""
                    )
                    + f"; modules added: {', '.join(modules)}; heavy: {heavy or 'none'}",
                )
            )
    return rows


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
