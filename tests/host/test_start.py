"""The host's start hook: instant, silent without consent, background with it, never blocking exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import files_under

import voicemode_otel
from voicemode_otel import testing
from voicemode_otel.delivery import REPORTER
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths
from voicemode_otel.testing import Behaviour, CaptureServer

HEAVY = ("opentelemetry.sdk", "requests", "google.protobuf", "fastmcp", "mcp", "grpc")


def run_python(code: str, environ: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (the way a host process starts)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env(paths: Paths, **extra: str) -> dict[str, str]:
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}
    environ.update(extra)
    return environ


def _opted_in_a_day_ago(paths: Paths) -> None:
    """Opted in 30 h ago with sessions since, so a report is due now (real clock)."""
    now = datetime.now(timezone.utc)
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(hours=30)
    )
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    writer.session((now - timedelta(hours=20)).astimezone(testing.PACIFIC), 4)
    writer.session((now - timedelta(hours=5)).astimezone(testing.PACIFIC), 9, transport="livekit")


@pytest.mark.parametrize(
    "extra",
    [
        {"DO_NOT_TRACK": "1"},
        {"OTEL_SDK_DISABLED": "true"},
        {"VOICEMODE_TELEMETRY": "false"},
        {"VOICEMODE_TELEMETRY": "ask"},
        {},
    ],
    ids=["dnt", "sdk-disabled", "opted-out", "ask", "unset"],
)
def test_without_consent_start_does_nothing_at_all(paths: Paths, extra: dict[str, str]) -> None:
    """No thread, no files, no heavy imports: only the package module itself (with the consent rules)."""
    result = run_python(
        """
        import json, sys, threading
        before = set(sys.modules)
        import voicemode_otel
        started = voicemode_otel.start()
        print(json.dumps({"started": started, "threads": threading.active_count(),
                          "modules": sorted(set(sys.modules) - before)}))
        """,
        _env(paths, **extra),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {
        "started": False,
        "threads": 1,
        "modules": ["voicemode_otel"],
    }
    assert not paths.base.exists()


def test_with_consent_but_nothing_due_no_sdk_is_imported(paths: Paths) -> None:
    """An opted-in start with no report due starts the sleeper thread without importing the SDK."""
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    result = run_python(
        """
        import json, sys, time
        import voicemode_otel
        print(json.dumps({"started": voicemode_otel.start()}))
        time.sleep(0.5)
        heavy = [m for m in sys.modules if m.startswith(%r)]
        print(json.dumps(heavy))
        """
        % (HEAVY,),
        _env(paths),
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert json.loads(first) == {"started": True}
    assert json.loads(second) == []


def test_report_due_is_sent_in_the_background(
    paths: Paths, capture: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start() returns at once (well under 50 ms, no SDK import on the calling thread); the thread sends."""
    _opted_in_a_day_ago(paths)
    monkeypatch.setenv("VOICEMODE_TELEMETRY_ENDPOINT", capture.url)
    before = time.perf_counter()
    assert voicemode_otel.start(exec_source="mcp", version="8.12.0") is True
    elapsed = time.perf_counter() - before
    # Not a performance assertion: 50 ms is far above the microseconds start() takes and far
    # below any network call or SDK import (~200 ms), so it proves neither happened here.
    assert elapsed < 0.05
    deadline = time.monotonic() + 30
    while not capture.captured and time.monotonic() < deadline:
        time.sleep(0.05)
    [request] = capture.captured
    resource = {
        a.key: a.value.string_value for a in request.request().resource_metrics[0].resource.attributes
    }
    assert resource["service.version"] == "8.12.0"
    assert resource["voicemode.exec.source"] == "mcp"
    REPORTER.stop(timeout=5)


def test_exit_does_not_wait_for_a_hanging_endpoint(paths: Paths, capture: CaptureServer) -> None:
    """With the endpoint hanging mid-request, the host process still exits promptly (bounded by ~1 s)."""
    _opted_in_a_day_ago(paths)
    capture.answer(Behaviour(delay=60))
    result = run_python(
        """
        import os, time, voicemode_otel
        voicemode_otel.start()
        log = %r
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the report is written and the request in flight
            time.sleep(0.05)
            if os.path.exists(log) and "pending" in open(log).read():
                time.sleep(0.3)
                break
        print(time.monotonic(), flush=True)
        """
        % (str(paths.transparency_dir / f"telemetry_{datetime.now(timezone.utc).date()}.jsonl"),),
        _env(paths, VOICEMODE_TELEMETRY_ENDPOINT=capture.url, OTEL_EXPORTER_OTLP_TIMEOUT="60000"),
    )
    finished = time.monotonic()
    assert result.returncode == 0, result.stderr
    exited_after = finished - float(result.stdout.strip())
    assert capture.connections >= 1, "the request was in flight at exit"
    assert exited_after < 5, f"exit took {exited_after:.1f}s"  # the request itself would hang 60 s
    assert "Traceback" not in result.stderr


def test_exit_with_nothing_listening_is_clean(paths: Paths) -> None:
    """Connection refused at exit time: no traceback, status 0, the report stays pending."""
    _opted_in_a_day_ago(paths)
    result = run_python(
        """
        import time, voicemode_otel
        voicemode_otel.start()
        time.sleep(3)
        """,
        _env(paths, VOICEMODE_TELEMETRY_ENDPOINT="http://127.0.0.1:9/v1/metrics"),
    )
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert paths.pending_file.exists()


@pytest.mark.parametrize(
    "setup",
    ["base-is-a-file", "env-file-is-a-directory", "state-is-garbage", "weird-interval"],
)
def test_start_never_raises(paths: Paths, setup: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken local state or settings never raise into the host."""
    if setup == "base-is-a-file":
        paths.base.parent.mkdir(parents=True, exist_ok=True)
        paths.base.write_text("oops")
        monkeypatch.setenv("VOICEMODE_TELEMETRY", "true")
    elif setup == "env-file-is-a-directory":
        paths.env_file.mkdir(parents=True)
    else:
        preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
        if setup == "state-is-garbage":
            paths.state_file.write_bytes(b"\xff\x00garbage")
        else:
            monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "-5e999")
    voicemode_otel.start()
    REPORTER.stop(timeout=5)


def test_opted_out_start_removes_leftovers(paths: Paths) -> None:
    """After an opt-out by editing voicemode.env, the next start deletes the ID and state (no SDK needed).

    The user's own log of what happened stays (it records the opt-in).
    """
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    paths.env_file.write_text("VOICEMODE_TELEMETRY=false\n")
    assert voicemode_otel.start() is False
    deadline = time.monotonic() + 10  # the clean-up runs on a background thread
    kept = {"voicemode.env", *(f for f in files_under(paths.base) if f.startswith("logs/telemetry/"))}
    while files_under(paths.base) != kept and time.monotonic() < deadline:
        time.sleep(0.02)
    assert files_under(paths.base) == kept


# Files in the state folder that an opt-out leaves nothing to do about: our own opt-out record
# (the decision reads it) and the delivery lock (empty, held only while a delivery runs).
NOT_LEFTOVERS = {"opt_out_marker", "lock_file"}


def _leftover_files(paths: Paths) -> dict[str, Path]:
    """Every file Paths names for this installation's ID and delivery state."""
    found = {"telemetry_id": paths.telemetry_id}
    for name, member in vars(Paths).items():
        if isinstance(member, property) and name not in NOT_LEFTOVERS:
            path = getattr(paths, name)
            if path.parent == paths.state_dir:
                found[name] = path
    return found


def test_the_start_hook_sees_every_file_an_opt_out_must_remove(paths: Paths) -> None:
    """The root's ``_owes_work`` names these files itself (the start-up path cannot load Paths): one list.

    Any of them alone, after an opt-out, means the start hands clean-up to a thread.
    """
    leftovers = _leftover_files(paths)
    assert set(leftovers) >= {"telemetry_id", "state_file", "pending_file", "erasure_file"}
    assert not voicemode_otel._owes_work(str(paths.base))
    for name, path in leftovers.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        assert voicemode_otel._owes_work(str(paths.base)), name
        path.unlink()


def test_do_not_track_pauses_without_deleting(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """DO_NOT_TRACK stops everything but deletes nothing (design §3)."""
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    before = files_under(paths.base)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    assert voicemode_otel.start() is False
    assert files_under(paths.base) == before


def test_long_running_server_reports_again_when_due(
    paths: Paths, capture: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread sleeps until the next report is due and wakes for a preference change."""
    _opted_in_a_day_ago(paths)
    monkeypatch.setenv("VOICEMODE_TELEMETRY_ENDPOINT", capture.url)
    voicemode_otel.start()
    deadline = time.monotonic() + 30
    while not capture.captured and time.monotonic() < deadline:
        time.sleep(0.05)
    assert REPORTER.running()  # asleep until tomorrow's report
    voicemode_otel.set_preference(False)
    deadline = time.monotonic() + 10
    while REPORTER.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not REPORTER.running()
    assert not paths.telemetry_id.exists()


def test_module_import_is_light(tmp_path: Path) -> None:
    """Importing the package loads only itself, consent rules included (no typing, pathlib, json, re)."""
    result = run_python(
        """
        import sys
        before = set(sys.modules)
        import voicemode_otel
        print(sorted(set(sys.modules) - before))
        """,
        {"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    assert result.stdout.strip() == "['voicemode_otel']"


def _regular_install(root: Path) -> Path:
    """A venv holding the package as a wheel install leaves it: files in site-packages, byte-compiled.

    No editable-install import hook and no checkout on ``sys.path``: what users run.
    """
    import compileall
    import shutil
    import sysconfig

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    target = Path(purelib) / "voicemode_otel"
    shutil.copytree(
        Path(voicemode_otel.__file__).parent, target, ignore=shutil.ignore_patterns("__pycache__")
    )
    assert compileall.compile_dir(str(target), quiet=1)
    return venv / "bin" / "python"


@pytest.mark.parametrize(
    ("extra", "env_file"),
    [
        ({"DO_NOT_TRACK": "1"}, None),
        ({}, "# VoiceMode settings\nVOICEMODE_TTS_VOICE=af_sky\n"),
        ({}, "VOICEMODE_TELEMETRY=false\n"),
    ],
    ids=["dnt", "not-asked", "opted-out"],
)
def test_regular_install_start_loads_only_the_consent_rules(
    tmp_path: Path, extra: dict[str, str], env_file: str | None
) -> None:
    """In a regular install, from a neutral folder, an opted-out start() loads one module: the package's.

    An editable install's import hook loads ``__future__`` and more at interpreter
    start-up and so hides what the package itself costs a user.
    """
    python = _regular_install(tmp_path)
    base = tmp_path / "voicemode"
    if env_file is not None:
        base.mkdir()
        (base / "voicemode.env").write_text(env_file)
    neutral = tmp_path / "neutral"
    neutral.mkdir()
    result = subprocess.run(
        [
            str(python),
            "-c",
            "import sys; before = set(sys.modules); import voicemode_otel; "
            "started = voicemode_otel.start(); print(started, sorted(set(sys.modules) - before))",
        ],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VOICEMODE_BASE_DIR": str(base), **extra},
        cwd=neutral,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['voicemode_otel']"
