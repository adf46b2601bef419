"""The voicemode-otel CLI with real files in a temporary base dir; the first-use prompt through a real pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import helpers
import pytest

from voicemode_otel import cli, testing
from voicemode_otel.contract import ceil_hour
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths
from voicemode_otel.testing import Behaviour, CaptureServer

SCRIPT = str(Path(sys.executable).parent / "voicemode-otel")


def run(paths: Paths, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return helpers.cli(paths.base, *args, **extra)


def _due_report(paths: Paths) -> None:
    helpers.due_report(paths)


def test_status_when_not_asked(paths: Paths) -> None:
    """Status: off, why, no ID; what is collected only with --verbose; no prompt or file without a tty."""
    result = run(paths, "status")
    assert result.returncode == 0
    assert "Telemetry: OFF — not asked yet" in result.stdout
    assert "voicemode.session.duration" not in result.stdout
    assert len(result.stdout.splitlines()) <= 6
    assert "voicemode.session.duration" in run(paths, "status", "--verbose").stdout
    assert "Share anonymous usage statistics" not in result.stdout
    assert not paths.base.exists()


def test_status_json(paths: Paths) -> None:
    """Status --json is machine-readable."""
    result = run(paths, "status", "--json", VOICEMODE_TELEMETRY_ENDPOINT="http://127.0.0.1:9/v1/metrics")
    data = json.loads(result.stdout)
    assert data["enabled"] is False and data["endpoint"] == "http://127.0.0.1:9/v1/metrics"


def test_status_says_when_the_next_report_is_due(paths: Paths) -> None:
    """A report due since opt-in + 24 h reads "now", not a date in the past; a fresh opt-in names the hour."""
    _due_report(paths)  # opted in 30 h ago: the first day's report is overdue
    endpoint = {"VOICEMODE_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/v1/metrics"}
    assert "Next due:  now (at the next start of VoiceMode, or `voicemode-otel send`)" in (
        run(paths, "status", **endpoint).stdout
    )
    fresh = Paths(paths.base.parent / "fresh")
    now = datetime.now(timezone.utc)
    preference.set_preference(fresh, True, {"VOICEMODE_BASE_DIR": str(fresh.base)}, now=now)
    due = (ceil_hour(now) + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"Next due:  {due}" in run(fresh, "status", **endpoint).stdout


def test_enable_then_disable(paths: Paths) -> None:
    """Enable writes the preference and an ID; disable writes false and deletes the ID and state."""
    enabled = run(paths, "enable")
    assert enabled.returncode == 0
    telemetry_id = paths.telemetry_id.read_text().strip()
    assert f"Anonymous ID: {telemetry_id}" in enabled.stdout
    assert paths.env_file.read_text().endswith("VOICEMODE_TELEMETRY=true\n")
    assert "Telemetry: ON" in run(paths, "status").stdout
    disabled = run(paths, "disable")
    assert disabled.returncode == 0
    assert f"Deleted {paths.telemetry_id}" in disabled.stdout
    assert not paths.telemetry_id.exists() and not paths.state_dir.exists()
    assert paths.env_file.read_text().endswith("VOICEMODE_TELEMETRY=false\n")


def test_enable_refused_under_do_not_track(paths: Paths) -> None:
    """Enable with DO_NOT_TRACK set: exit 3, a clear message, no file."""
    result = run(paths, "enable", DO_NOT_TRACK="1")
    assert result.returncode == 3
    assert "DO_NOT_TRACK=1" in result.stdout
    assert not paths.base.exists()


def test_preview_without_consent_shows_what_would_be_sent(paths: Paths) -> None:
    """Preview works while off, says so, uses a placeholder ID and writes nothing."""
    now = datetime.now(timezone.utc)
    testing.ConversationLogWriter(paths.conversations_dir).session(
        (now - timedelta(hours=5)).astimezone(testing.PACIFIC), 3
    )
    before = sorted(p.name for p in paths.base.rglob("*"))
    result = run(paths, "preview")
    assert result.returncode == 0
    assert "Telemetry is OFF" in result.stdout and "00000000-0000-4000-8000-000000000000" in result.stdout
    assert "voicemode.session.duration (s)" in result.stdout
    only_json = run(paths, "preview", "--json")
    body = json.loads(only_json.stdout)
    assert body["resourceMetrics"][0]["scopeMetrics"][0]["scope"]["name"] == "voicemode"
    assert sorted(p.name for p in paths.base.rglob("*")) == before


def test_send_delivers_then_has_nothing_to_send(paths: Paths, capture: CaptureServer) -> None:
    """send: exit 0 when delivered, exit 0 again with nothing left; exec source is cli."""
    _due_report(paths)
    first = run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("delivered:")
    resource = {
        a.key: a.value.string_value
        for a in capture.captured[0].request().resource_metrics[0].resource.attributes
    }
    assert resource["voicemode.exec.source"] == "cli"
    second = run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert second.returncode == 0
    assert len(capture.captured) == 1


def test_send_failure_exits_1_and_stays_pending(paths: Paths, capture: CaptureServer) -> None:
    """Send with the server failing: exit 1, the report is kept; log shows it."""
    _due_report(paths)
    capture.answer(Behaviour(500))
    result = run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 1
    assert result.stdout.startswith("retry:")
    assert paths.pending_file.exists()
    log = run(paths, "log")
    assert "will retry: 500" in log.stdout and "  pending  " not in log.stdout


@pytest.mark.parametrize(
    ("extra", "code", "text"), [({"DO_NOT_TRACK": "1"}, 0, "off:"), ({}, 3, "no-endpoint:")]
)
def test_send_when_off_or_unconfigured(paths: Paths, extra: dict[str, str], code: int, text: str) -> None:
    """Send says which: telemetry off (exit 0) or no endpoint configured (exit 3)."""
    _due_report(paths)
    result = run(paths, "send", **extra)
    assert (result.returncode, result.stdout[: len(text)]) == (code, text)


def test_log_shows_bodies_on_request(paths: Paths, capture: CaptureServer) -> None:
    """Log --json prints raw entries with the OTLP/JSON body; log with nothing sent says so."""
    assert "Nothing has been sent" in run(paths, "log").stdout
    _due_report(paths)
    run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    entries = [json.loads(line) for line in run(paths, "log", "--json").stdout.splitlines()]
    assert [(e["kind"], e["outcome"][:9]) for e in entries] == [
        ("enrolled", "opted in"),
        ("report", "delivered"),
    ]
    assert "resourceMetrics" in entries[1]["body"]


def test_forget_deletes_server_rows_then_local_data(paths: Paths, capture: CaptureServer) -> None:
    """forget: DELETE /v1/installations/{id}, then the ID, state and log go."""
    _due_report(paths)
    run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    telemetry_id = paths.telemetry_id.read_text().strip()
    capture.answer(Behaviour(204, body=b""))
    result = run(paths, "forget", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0, result.stdout
    assert (
        capture.captured[-1].method == "DELETE"
        and capture.captured[-1].path == f"/v1/installations/{telemetry_id}"
    )
    assert not paths.telemetry_id.exists() and not paths.transparency_dir.exists()
    assert "new, unlinkable ID" in result.stdout


def test_forget_with_server_down_keeps_the_erasure_owed(paths: Paths, capture: CaptureServer) -> None:
    """Forget with the server failing: exit 1; the ID is kept only in the erasure record, retried later."""
    from voicemode_otel.delivery import erasure

    _due_report(paths)
    run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    telemetry_id = paths.telemetry_id.read_text().strip()
    capture.answer(Behaviour(503, body=b""))
    result = run(paths, "forget", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 1
    assert "503" in result.stdout and "retried automatically" in result.stdout
    assert not paths.telemetry_id.exists()
    assert [r.telemetry_id for r in erasure.load(paths)] == [telemetry_id]
    assert paths.transparency_dir.exists()  # removed only once the server confirmed


def _prompt_session(
    paths: Paths, keys: bytes | None, *args: str, columns: int = 80, **extra: str
) -> tuple[str, int]:
    """The bare CLI (unless ``args``) on a real pseudo-terminal, the prompt answered with ``keys``."""
    return helpers.pty_session(paths.base, keys, *args, columns=columns, **extra)


@pytest.mark.parametrize(
    ("keys", "stored"),
    [
        (b"y\r", "true"),
        (b"yes\r", "true"),
        (b"n\r", "false"),
        (b"\r", "false"),
        (None, "false"),
        (b"\x03", "false"),
    ],
    ids=["y", "yes", "n", "empty", "eof", "ctrl-c"],
)
def test_first_interactive_use_asks_once(paths: Paths, keys: bytes | None, stored: str) -> None:
    """On a terminal with no preference, ask once (default No); the answer is stored and not asked again."""
    output, code = _prompt_session(paths, keys)
    assert cli.PROMPT.strip() in output
    assert code == 0, output
    assert paths.env_file.read_text().endswith(f"VOICEMODE_TELEMETRY={stored}\n")
    assert paths.telemetry_id.exists() == (stored == "true")
    again, _ = _prompt_session(paths, b"y\r")
    assert cli.PROMPT.strip() not in again


@pytest.mark.parametrize("command", ["preview", "log", "send", "forget", "preview --json", "status --json"])
def test_no_prompt_where_no_choice_belongs(paths: Paths, command: str) -> None:
    """Preview (which the prompt recommends), log, send and forget never ask, even on a terminal."""
    output, _ = _prompt_session(paths, b"y\r", *command.split())
    assert cli.PROMPT.strip() not in output
    assert not paths.env_file.exists() and not paths.telemetry_id.exists()


def test_bare_command_asks_and_names_the_real_settings_file(paths: Paths) -> None:
    """A bare `voicemode-otel` asks; the prompt names the voicemode.env that applies and fits the terminal."""
    output, code = _prompt_session(paths, b"n\r", columns=52)
    assert code == 0 and cli.PROMPT.strip() in output
    assert (
        str(paths.env_file) in output.replace("\r\n", " ").replace("\n", " ")
        or str(paths.env_file)[:40] in output
    )
    prompt_text = output.split(cli.PROMPT.strip())[0]
    assert "~/.voicemode/voicemode.env" not in prompt_text
    longest = max(
        len(line) for line in prompt_text.replace("\r", "").split("\n") if str(paths.base) not in line
    )
    assert longest <= 52
    assert "Telemetry: OFF" in output  # then the status
    assert paths.env_file.read_text().endswith("VOICEMODE_TELEMETRY=false\n")


def test_mcp_ends_cleanly_when_stdin_closes(paths: Paths) -> None:
    """`voicemode-otel mcp` with stdin closed at once: exit 0, nothing on stderr."""
    import subprocess

    result = subprocess.run(
        [SCRIPT, "mcp"],
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr and b"Starting MCP server" not in result.stderr


def test_version_and_help_say_what_each_command_does(paths: Paths) -> None:
    """--version names the package; every command's --help has a description, exit codes and environment."""
    from importlib.metadata import version

    assert run(paths, "--version").stdout.strip() == f"voicemode-otel {version('voicemode-otel')}"
    for command in ("status", "enable", "disable", "local", "preview", "send", "forget", "log", "mcp"):
        text = run(paths, command, "--help").stdout
        description = text.split("\n\n")[1]
        assert len(description) > 40, (command, text)
        assert "exit codes: " in text and "environment: " in text, command
    assert "--limit N" in run(paths, "log", "--help").stdout
    assert "--keep-server-data" in run(paths, "disable", "--help").stdout
    assert "--force" in run(paths, "send", "--help").stdout


@pytest.mark.parametrize("command", ["status", "enable", "local", "disable", "send", "forget"])
def test_every_state_command_speaks_json(paths: Paths, command: str, capture: CaptureServer) -> None:
    """--json gives one JSON document with its documented top-level keys."""
    result = run(paths, command, "--json", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    document = json.loads(result.stdout)
    expected = {
        "status": {"schema", "state", "reason", "endpoint", "telemetry_id", "erasures", "next_due"},
        "enable": {"ok", "mode", "state", "telemetry_id"},
        "local": {"ok", "mode", "state"},
        "disable": {"ok", "mode", "state", "erasure", "removed"},
        "send": {"ok", "outcome", "message", "periods", "next_attempt"},
        "forget": {"ok", "server", "removed", "remaining", "still_on"},
    }[command]
    assert expected <= set(document), (command, document)


def test_status_short_is_one_line(paths: Paths) -> None:
    """Status --short: exactly one line."""
    assert run(paths, "status", "--short").stdout.count("\n") == 1
    run(paths, "enable")
    line = run(paths, "status", "--short").stdout
    assert line.count("\n") == 1 and line.startswith("telemetry ON: VOICEMODE_TELEMETRY=true in")


def test_output_is_plain_and_to_the_second(paths: Paths, capture: CaptureServer) -> None:
    """No ANSI codes without a terminal; no microseconds; singulars where there is one."""
    import re

    _due_report(paths)
    capture.answer(Behaviour(500))
    failed = run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert failed.stdout.startswith("retry:")
    run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    outputs = [
        failed,
        *(
            run(paths, *command, VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
            for command in (
                ["status"],
                ["status", "--verbose"],
                ["log"],
                ["preview"],
                ["--help"],
                ["disable"],
            )
        ),
    ]
    for result in outputs:
        text = result.stdout + result.stderr
        assert "\x1b" not in text
        assert not re.search(r"\d\d:\d\d:\d\d\.\d+Z", text.split("OTLP/JSON body:")[0]), text
        assert not re.search(r"\b1 (entries|sessions|reports|attempts)\b", text), text
    log = outputs[3].stdout
    assert log.count(" report ") == 1 and "delivered: 200 (after 2 attempts)" in log, log
    assert "(2 entries;" in log


def test_local_mode_logs_reports_and_sends_nothing(paths: Paths, capture: CaptureServer) -> None:
    """VOICEMODE_TELEMETRY=local: reports are built and logged, no connection, no ID; enable starts afresh."""
    now = datetime.now(timezone.utc)
    assert run(paths, "local").returncode == 0
    paths.state_dir.mkdir(exist_ok=True)
    from voicemode_otel.store import state as state_module

    state_module.save_local(paths, state_module.DeliveryState(opted_in_at=now - timedelta(hours=30)))
    testing.ConversationLogWriter(paths.conversations_dir).session(
        (now - timedelta(hours=6)).astimezone(testing.PACIFIC), 5
    )
    sent = run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert sent.returncode == 0 and sent.stdout.startswith("kept-locally:"), sent.stdout
    assert capture.connections == 0 and not paths.telemetry_id.exists()
    entries = [json.loads(line) for line in run(paths, "log", "--json").stdout.splitlines()]
    local = [e for e in entries if e["kind"] == "local"]
    assert len(local) == 1 and local[0]["outcome"].startswith("kept locally")
    resource = {
        a["key"]: a["value"]["stringValue"]
        for a in local[0]["body"]["resourceMetrics"][0]["resource"]["attributes"]
    }
    assert resource["voicemode.telemetry.id"] == "00000000-0000-4000-8000-000000000000"
    assert run(paths, "status", "--short").stdout.startswith("telemetry LOCAL:")
    assert run(paths, "enable").returncode == 0
    again = run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert capture.connections == 0, again.stdout  # the local week is not consent to send it
