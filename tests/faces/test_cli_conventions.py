"""The CLI speaks the conventions people know (go telemetry, gh, brew): pipes, help, aliases, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import helpers
import pytest

from voicemode_otel import testing
from voicemode_otel.contract import ceil_hour, shown
from voicemode_otel.delivery import erasure
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths, state
from voicemode_otel.testing import Behaviour, CaptureServer

SCRIPT = str(Path(sys.executable).parent / "voicemode-otel")
ORDER = ["status", "preview", "log", "enable", "disable", "local", "send", "forget", "mcp", "help"]


def run(paths: Paths, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return helpers.cli(paths.base, *args, **extra)


def _with_history(paths: Paths, capture: CaptureServer) -> None:
    """Sessions in the logs and a delivered report: every command has something to print."""
    now = datetime.now(timezone.utc)
    helpers.delivered_report(paths, capture.url)
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    for hours in (5, 4, 3):
        writer.session((now - timedelta(hours=hours)).astimezone(testing.PACIFIC), 3)


def _closed_stdout(paths: Paths, *args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader has already gone (``| head -c0``, deterministically)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [SCRIPT, *args],
            env={
                "PATH": os.environ["PATH"],
                "HOME": os.environ["HOME"],
                "VOICEMODE_BASE_DIR": str(paths.base),
            },
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)


@pytest.mark.parametrize(
    "command", ["preview", "preview --json", "log", "log --json", "status", "status --json", "--help"]
)
def test_a_closed_stdout_ends_the_command_quietly(paths: Paths, capture: CaptureServer, command: str) -> None:
    """`voicemode-otel … | head -c0`: no traceback, no "Exception ignored"; ended by SIGPIPE like any tool."""
    _with_history(paths, capture)
    result = _closed_stdout(paths, *command.split())
    assert result.stderr == ""
    assert result.returncode == -signal.SIGPIPE


def test_a_reader_that_stops_early_leaves_no_traceback(paths: Paths, capture: CaptureServer) -> None:
    """`voicemode-otel log --json | head -1` in a real shell: one line out, nothing on stderr."""
    from voicemode_otel.store import transparency

    _with_history(paths, capture)
    now = datetime.now(timezone.utc)
    for index in range(3000):  # far more than a pipe buffer: the writer is still writing when head exits
        transparency.append(paths, transparency.Entry(now, "erasure", "", None, f"event {index}"))
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {SCRIPT} log --json | head -1"],
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stderr == ""
    assert result.returncode == 128 + signal.SIGPIPE  # what `yes | head -1` gives under pipefail
    assert len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize(("alias", "command"), [("on", "enable"), ("off", "disable")])
def test_on_and_off_are_enable_and_disable(paths: Paths, alias: str, command: str) -> None:
    """`on`/`off`, as in `go telemetry on`, do exactly what `enable`/`disable` do."""
    if alias == "off":
        run(paths, "enable")
    result = run(paths, alias, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["mode"] == ("on" if alias == "on" else "off")
    assert paths.env_file.read_text().endswith(
        f"VOICEMODE_TELEMETRY={'true' if alias == 'on' else 'false'}\n"
    )
    assert paths.telemetry_id.exists() == (alias == "on")
    assert run(paths, alias, "--help").stdout == run(paths, command, "--help").stdout


def test_help_command_shows_the_overview_or_one_command(paths: Paths) -> None:
    """`help` prints the overview, `help log` what `log --help` does; an unknown name is a usage error."""
    overview = run(paths, "help")
    assert overview.returncode == 0 and overview.stdout == run(paths, "--help").stdout
    for command in ORDER[:-1]:
        assert run(paths, "help", command).stdout == run(paths, command, "--help").stdout, command
    unknown = run(paths, "help", "nosuch")
    assert unknown.returncode == 2 and "nosuch" in unknown.stderr and unknown.stdout == ""


def test_commands_are_listed_look_first_then_choose_then_act(paths: Paths) -> None:
    """The command list reads in the order people need it: look, choose, act, then the rest."""
    text = run(paths, "--help").stdout
    listed = [line.split()[0] for line in text.splitlines() if line[:4] == "    " and line[4:5] not in " "]
    assert listed == ORDER, text
    assert "enable (on)" in text and "disable (off)" in text


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["log", "--limt", "3"], "usage: voicemode-otel log "),
        (["status", "--jsn"], "usage: voicemode-otel status "),
        (["send", "extra"], "usage: voicemode-otel send "),
        (["log", "--limit", "0"], "usage: voicemode-otel log "),
        (["log", "--limit", "-1"], "usage: voicemode-otel log "),
        (["log", "--limit", "x"], "usage: voicemode-otel log "),
        (["nosuch"], "usage: voicemode-otel [-h]"),
    ],
)
def test_a_usage_error_shows_that_commands_usage_and_exits_2(
    paths: Paths, args: list[str], usage: str
) -> None:
    """A bad option or value names the subcommand's own usage; exit 2 is for usage errors only."""
    result = run(paths, *args)
    assert result.returncode == 2
    assert result.stderr.startswith(usage), result.stderr
    assert result.stdout == ""
    assert not paths.base.exists()


def test_log_limit_shows_the_last_n(paths: Paths, capture: CaptureServer) -> None:
    """`log --limit 1` shows the one newest line."""
    _with_history(paths, capture)
    lines = run(paths, "log", "--json").stdout.splitlines()
    assert run(paths, "log", "--json", "--limit", "1").stdout.splitlines() == lines[-1:]


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["enable"], {"DO_NOT_TRACK": "1"}),
        (["local"], {"OTEL_SDK_DISABLED": "true"}),
        (["disable"], {"VOICEMODE_TELEMETRY": "true"}),
        (["send"], {}),
    ],
    ids=["enable-under-dnt", "local-under-sdk-disabled", "disable-overridden", "send-without-endpoint"],
)
def test_a_refusal_has_its_own_exit_code(paths: Paths, args: list[str], extra: dict[str, str]) -> None:
    """Refused or overridden (nothing done as asked) exits 3, never the usage-error code 2."""
    if args == ["send"]:
        helpers.due_report(paths)
    result = run(paths, *args, **extra)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr == ""


def test_disable_overridden_by_the_environment_shows_no_id(paths: Paths) -> None:
    """`disable` while the environment says true creates and shows no ID; it says why nothing changed yet."""
    result = run(paths, "disable", VOICEMODE_TELEMETRY="true")
    assert "Anonymous ID" not in result.stdout
    assert not paths.telemetry_id.exists()
    assert "does not apply yet: VOICEMODE_TELEMETRY=true in the environment" in result.stdout


def test_send_names_an_unsupported_protocol_as_the_cause(paths: Paths, capture: CaptureServer) -> None:
    """An unsupported protocol for the user's own valid endpoint is `invalid-settings`, not `no-endpoint`."""
    helpers.due_report(paths)
    # The protocol applies only to an endpoint from the OTel variables (issue 20): the user's own.
    result = run(
        paths,
        "send",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=capture.url,
        OTEL_EXPORTER_OTLP_PROTOCOL="thrift/binary",
    )
    assert result.stdout.startswith("invalid-settings: nothing sent: OTEL_EXPORTER_OTLP_PROTOCOL="), (
        result.stdout
    )
    assert result.returncode == 3
    assert capture.connections == 0


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_send_says_it_completed_an_owed_erasure(paths: Paths, capture: CaptureServer, as_json: bool) -> None:
    """After an opt-out whose erasure could not be confirmed, the next `send` confirms it and says so."""
    telemetry_id = helpers.delivered_report(paths, capture.url)
    capture.answer(Behaviour(503, body=b""))
    run(paths, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert [r.telemetry_id for r in erasure.load(paths)] == [telemetry_id]
    capture.answer(Behaviour(204, body=b""))
    result = run(paths, "send", *(["--json"] if as_json else []), VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0
    assert not erasure.load(paths)
    url = f"{capture.url.removesuffix('/v1/metrics')}/v1/installations/{telemetry_id}"
    if as_json:
        document = json.loads(result.stdout)
        assert document["outcome"] == "off"
        assert document["erasure"] == [{"outcome": "confirmed", "detail": f"confirmed by {url} (204)"}]
    else:
        assert result.stdout.splitlines()[1:] == [f"erasure: confirmed by {url} (204)"], result.stdout
    again = run(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert "erasure" not in again.stdout  # nothing owed any more: nothing to say


def test_send_with_nothing_due_names_the_real_next_times(paths: Paths) -> None:
    """Right after opting in, `send` says when `send` can send the first period, and when VoiceMode will."""
    now = datetime.now(timezone.utc)
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now)
    first = ceil_hour(now)
    result = run(paths, "send", "--json", VOICEMODE_TELEMETRY_ENDPOINT="http://127.0.0.1:9/v1/metrics")
    document = json.loads(result.stdout)
    assert document["outcome"] == "not-due"
    assert document["message"] == (
        f"nothing to send yet: the next report starts at {shown(first)}; `voicemode-otel send` can send it "
        f"from {shown(first + timedelta(hours=1))}, and VoiceMode sends it by itself from "
        f"{shown(first + timedelta(hours=24))}"
    )
    assert document["next_attempt"] == shown(first + timedelta(hours=24))


def test_forget_lists_everything_it_removed(paths: Paths, capture: CaptureServer) -> None:
    """`forget` while on names the ID, the state files and the log folder it deleted."""
    helpers.delivered_report(paths, capture.url)
    capture.answer(Behaviour(204, body=b""))
    existing = {str(p) for p in (paths.telemetry_id, paths.state_file, paths.enrollment_file)}
    result = run(paths, "forget", "--json", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    document = json.loads(result.stdout)
    assert existing <= set(document["removed"])
    assert str(paths.transparency_dir) in document["removed"]
    assert not paths.transparency_dir.exists()


def test_status_after_forget_while_on_says_a_new_id_comes_with_the_next_report(
    paths: Paths, capture: CaptureServer
) -> None:
    """After `forget`, telemetry is still ON: status says the new ID is made with the next report."""
    helpers.delivered_report(paths, capture.url)
    capture.answer(Behaviour(204, body=b""))
    run(paths, "forget", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    text = run(paths, "status", VOICEMODE_TELEMETRY_ENDPOINT=capture.url).stdout
    assert text.startswith("Telemetry: ON")
    assert "ID:        (none yet: a new one is created with the next report)" in text
    assert "created only when you opt in" not in text
    assert state.load_state(paths).opted_in_at is None


def test_status_on_a_terminal_changes_nothing(paths: Paths) -> None:
    """`status` does what its help says, "changes nothing": only a bare `voicemode-otel` asks."""
    output, code = helpers.pty_session(paths.base, b"y\r", "status")
    assert code == 0
    assert "Share anonymous usage statistics" not in output
    assert "Telemetry: OFF" in output
    assert not paths.base.exists()
    assert "changes nothing" in run(paths, "status", "--help").stdout.replace("\n", " ").lower()


@pytest.mark.parametrize("columns", [40, 52, 80])
def test_the_first_run_prompt_never_breaks_a_path(tmp_path: Path, columns: int) -> None:
    """The question wraps at spaces: the settings file's path (hyphens and all) stays on one line, whole."""
    base = tmp_path / "a-very-long-folder-name-with-hyphens" / "another-long-part" / "voicemode-base-dir"
    output, code = helpers.pty_session(base, b"n\r", columns=columns)
    assert code == 0
    lines = output.replace("\r", "").split("\n")
    env_file = str(base / "voicemode.env")
    prompt_lines = lines[: next(i for i, line in enumerate(lines) if "[y/N]" in line)]
    assert any(env_file in line for line in prompt_lines), output
    assert all(len(line) <= columns or env_file in line for line in prompt_lines), prompt_lines
