"""Opting out always works and erases everywhere (issue 12): real files, the real CLI, a real HTTP server.

Every request the server sees after the opt-out is decoded and asserted: an
opted-out ID is only ever named in a ``DELETE /v1/installations/{id}``.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import cli, delivered_report

import voicemode_otel
from voicemode_otel import testing
from voicemode_otel.consent import decision as consent
from voicemode_otel.delivery import erasure, runner
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths, state, transparency
from voicemode_otel.testing import Behaviour, CaptureServer

UTC = timezone.utc
NO_CONTENT = Behaviour(204, body=b"")
UNAVAILABLE = Behaviour(503, headers=(("Retry-After", "120"),), body=b"")


def _requests_after(capture: CaptureServer, count: int) -> list[tuple[str, str]]:
    return [(c.method, c.path) for c in capture.captured[count:]]


def _erasure_events(paths: Paths) -> list[str]:
    return [e["outcome"] for e in transparency.read(paths) if e["event"] == "erasure"]


def _files_naming(root: Path, text: str) -> set[str]:
    """Files under ``root`` (the transparency log aside) whose bytes contain ``text``."""
    found = set()
    for path in root.rglob("*"):
        if path.is_file() and "logs/telemetry" not in str(path) and text.encode() in path.read_bytes():
            found.add(str(path.relative_to(root)))
    return found


# 12.1 — erasure on opt-out


def test_disable_after_a_delivery_erases_on_the_server(paths: Paths, capture: CaptureServer) -> None:
    """`disable` asks DELETE /v1/installations/{id} where the report went, then deletes the ID."""
    telemetry_id = delivered_report(paths, capture.url)
    seen = len(capture.captured)
    capture.answer(NO_CONTENT)
    result = cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _requests_after(capture, seen) == [("DELETE", f"/v1/installations/{telemetry_id}")]
    assert "deleted every row of this installation" in result.stdout
    assert not paths.telemetry_id.exists() and not paths.state_dir.exists()
    assert _erasure_events(paths) == ["erasure requested", "erasure confirmed (204)"]
    assert "Erasure:" not in cli(paths.base, "status").stdout


def test_erasure_is_owed_until_the_server_confirms(paths: Paths, capture: CaptureServer) -> None:
    """Server down at opt-out: only the erasure record names the ID; the next runs retry with backoff."""
    telemetry_id = delivered_report(paths, capture.url)
    seen = len(capture.captured)
    capture.answer(UNAVAILABLE)
    result = cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0  # the opt-out itself succeeded; the erasure is owed
    assert "erasure requested but not yet confirmed" in result.stdout
    assert _files_naming(paths.base, telemetry_id) == {"telemetry/erasure.json"}
    status = cli(paths.base, "status", "--json", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    owed = json.loads(status.stdout)["erasures"]
    assert [(o["telemetry_id"], o["attempts"]) for o in owed] == [(telemetry_id, 1)]
    assert "Erasure:   erasure requested" in cli(paths.base, "status").stdout

    env = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    soon = datetime.now(UTC) + timedelta(minutes=30)  # within the 1 h backoff: no request
    delivery.run(delivery.RunConfig(paths, environ=env, clock=lambda: soon))
    assert len(capture.captured) == seen + 1
    later = datetime.now(UTC) + timedelta(hours=2)
    capture.answer(NO_CONTENT)
    assert (
        delivery.run(delivery.RunConfig(paths, environ=env, clock=lambda: later)).outcome
        is delivery.Outcome.OFF
    )
    path = f"/v1/installations/{telemetry_id}"
    assert _requests_after(capture, seen) == [("DELETE", path), ("DELETE", path)]
    assert not paths.erasure_file.exists() and not paths.state_dir.exists()
    assert _erasure_events(paths)[-1] == "erasure confirmed (204)"


def test_erasure_gives_up_after_30_days(paths: Paths, capture: CaptureServer) -> None:
    """An erasure that never succeeds is dropped after 30 days, and the log says so."""
    delivered_report(paths, capture.url)
    capture.default = Behaviour(500, body=b"")
    cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    seen = len(capture.captured)
    env = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    attempts = erasure.attempt(paths, env, datetime.now(UTC) + timedelta(days=31))
    assert [a.outcome for a in attempts] == ["gave-up"]
    assert len(capture.captured) == seen  # giving up sends nothing
    assert not paths.erasure_file.exists()
    assert _erasure_events(paths)[-1].startswith("erasure gave up after 30 days")


def test_keep_server_data_asks_for_nothing(paths: Paths, capture: CaptureServer) -> None:
    """`disable --keep-server-data` deletes locally and sends no request at all."""
    delivered_report(paths, capture.url)
    seen = len(capture.captured)
    result = cli(paths.base, "disable", "--keep-server-data", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0
    assert len(capture.captured) == seen
    assert not paths.telemetry_id.exists() and not paths.erasure_file.exists()
    assert _erasure_events(paths) == [
        "erasure not requested (--keep-server-data): the server keeps what it has"
    ]


def test_nothing_delivered_means_nothing_to_erase(paths: Paths, capture: CaptureServer) -> None:
    """An ID that never reached a server is deleted without a request."""
    cli(paths.base, "enable")
    result = cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0 and capture.connections == 0
    assert not paths.erasure_file.exists()


def test_do_not_track_holds_the_erasure(paths: Paths, capture: CaptureServer) -> None:
    """While DO_NOT_TRACK is set nothing leaves, not even the erasure; once lifted it goes."""
    telemetry_id = delivered_report(paths, capture.url)
    seen = len(capture.captured)
    result = cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url, DO_NOT_TRACK="1")
    assert result.returncode == 0 and len(capture.captured) == seen
    assert [r.telemetry_id for r in erasure.load(paths)] == [telemetry_id]
    capture.answer(NO_CONTENT)
    cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert _requests_after(capture, seen) == [("DELETE", f"/v1/installations/{telemetry_id}")]
    assert not paths.erasure_file.exists()


def test_forget_after_disable_completes_the_erasure(paths: Paths, capture: CaptureServer) -> None:
    """`forget` after a `disable` whose erasure failed retries it at once and clears the log."""
    telemetry_id = delivered_report(paths, capture.url)
    capture.answer(UNAVAILABLE)
    cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    seen = len(capture.captured)
    capture.answer(NO_CONTENT)
    result = cli(paths.base, "forget", "--json", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["ok"] is True and "deleted every row" in document["server"]
    assert _requests_after(capture, seen) == [("DELETE", f"/v1/installations/{telemetry_id}")]
    assert not paths.erasure_file.exists() and not paths.transparency_dir.exists()


def test_a_running_reporter_erases_when_the_file_says_no(paths: Paths, capture: CaptureServer) -> None:
    """An opt-out written to voicemode.env by hand is seen by the reporter thread, which erases."""
    telemetry_id = delivered_report(paths, capture.url)
    seen = len(capture.captured)
    os.environ["VOICEMODE_TELEMETRY_ENDPOINT"] = capture.url
    try:
        assert voicemode_otel.start() is True
        capture.answer(NO_CONTENT)
        paths.env_file.write_text("VOICEMODE_TELEMETRY=false\n")
        runner.REPORTER.wake()  # what its hourly re-check does, now
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while paths.telemetry_id.exists() or paths.erasure_file.exists():
            assert datetime.now(UTC) < deadline, "the reporter did not erase"
            runner.REPORTER.wake()
            import time

            time.sleep(0.05)
    finally:
        del os.environ["VOICEMODE_TELEMETRY_ENDPOINT"]
        voicemode_otel.stop(timeout=5)
    assert _requests_after(capture, seen) == [("DELETE", f"/v1/installations/{telemetry_id}")]


def test_a_new_opt_in_while_an_erasure_is_owed_gets_a_new_id(paths: Paths, capture: CaptureServer) -> None:
    """The old ID is never reused or sent with a report: the new opt-in is unlinkable."""
    old = delivered_report(paths, capture.url)
    capture.answer(UNAVAILABLE)
    cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    cli(paths.base, "enable")
    assert paths.telemetry_id.read_text().strip() != old
    assert [r.telemetry_id for r in erasure.load(paths)] == [old]


# 12.2 — voicemode.env in any state: the opt-out always takes effect

ENV_STATES = {
    "missing": None,
    "empty": b"",
    "non-utf8": b"# caf\xe9 settings\nVOICEMODE_TELEMETRY=true\nVOICEMODE_TTS_VOICE=af_sky\n",
    "crlf": b"A=1\r\nVOICEMODE_TELEMETRY=true\r\nB=2\r\n",
    "no-final-newline": b"VOICEMODE_TTS_VOICE=af_sky\nVOICEMODE_TELEMETRY=true",
}


@pytest.mark.parametrize("name", list(ENV_STATES))
def test_opt_out_rewrites_any_bytes_exactly(paths: Paths, name: str) -> None:
    """Missing, empty, non-UTF-8, CRLF, no final newline: only the value changes, every other byte stays."""
    cli(paths.base, "enable")
    original = ENV_STATES[name]
    if original is None:
        paths.env_file.unlink()
    else:
        paths.env_file.write_bytes(original)
    assert cli(paths.base, "status", "--short").stdout.startswith(
        "telemetry ON" if original and b"TELEMETRY=true" in original else "telemetry OFF"
    )
    result = cli(paths.base, "disable")
    assert result.returncode == 0, result.stdout
    data = paths.env_file.read_bytes()
    if original and b"VOICEMODE_TELEMETRY=true" in original:
        assert data == original.replace(b"VOICEMODE_TELEMETRY=true", b"VOICEMODE_TELEMETRY=false")
    else:
        assert data.startswith(original or b"") and data.endswith(b"VOICEMODE_TELEMETRY=false\n")
    assert consent.decide(paths, {}).state is consent.State.OFF
    assert not paths.telemetry_id.exists()


def _cli_obeying_file_modes(base: Path, *args: str) -> tuple[int, str]:
    """The real CLI as a user who cannot override file modes (root, here, without CAP_DAC_OVERRIDE)."""
    import subprocess

    from helpers import SCRIPT

    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(base)}
    result = subprocess.run(
        [*prefix, SCRIPT, *args],
        env=environ,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def _unwritable_file(paths: Paths) -> None:
    paths.env_file.chmod(0o400)


def _unwritable_directory(paths: Paths) -> None:
    paths.env_file.chmod(0o400)
    paths.base.chmod(0o500)
    (paths.state_dir).chmod(0o700)


def _link_to_foreign_file(paths: Paths) -> None:
    foreign = paths.base.parent / "someone-elses.env"
    foreign.write_bytes(paths.env_file.read_bytes())
    paths.env_file.unlink()
    paths.env_file.symlink_to(foreign)
    if os.geteuid() == 0:
        os.chown(foreign, 65534, 65534)  # another user's file
    elif foreign.stat().st_uid == os.geteuid():
        pytest.skip("needs root to give the link's target to another user")


def _directory_in_its_place(paths: Paths) -> None:
    paths.env_file.unlink()
    paths.env_file.mkdir()


@pytest.mark.parametrize(
    "damage",
    [_unwritable_file, _unwritable_directory, _link_to_foreign_file, _directory_in_its_place],
    ids=["read-only-file", "read-only-directory", "link-to-a-file-not-yours", "directory-in-its-place"],
)
def test_opt_out_holds_when_voicemode_env_cannot_be_changed(paths: Paths, damage: object) -> None:
    """The opt-out is recorded in voicemode-otel's own folder, the decision is OFF, and the reply says so."""
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    before = paths.env_file.read_bytes()
    damage(paths)  # type: ignore[operator]
    code, output = _cli_obeying_file_modes(paths.base, "disable")
    assert code == 0, output
    assert "opt-out is recorded in" in output and "telemetry is off" in output
    code, status = _cli_obeying_file_modes(paths.base, "status", "--short")
    assert status.startswith("telemetry OFF: opted out with voicemode-otel"), status
    assert consent.decide(paths, {}).state is consent.State.OFF
    if damage is _unwritable_directory:  # nothing can be deleted there: said, and never used while off
        assert f"Could not delete {paths.telemetry_id}" in output
    else:
        assert not paths.telemetry_id.exists()
    if paths.env_file.is_file():
        assert paths.env_file.read_bytes() == before  # left exactly as it was
    paths.base.chmod(0o700)


def test_opt_out_through_a_link_to_your_own_file_rewrites_the_target(paths: Paths) -> None:
    """A dotfile manager's link to the user's own file: the target is rewritten and the reply says so."""
    cli(paths.base, "enable")
    real = paths.base.parent / "dotfiles.env"
    real.write_bytes(paths.env_file.read_bytes())
    paths.env_file.unlink()
    paths.env_file.symlink_to(real)
    result = cli(paths.base, "disable")
    assert result.returncode == 0
    assert f"is a link: rewrote its target {real}" in result.stdout
    assert paths.env_file.is_symlink() and real.read_bytes().endswith(b"VOICEMODE_TELEMETRY=false\n")


def test_enable_after_a_recorded_opt_out_clears_it(paths: Paths) -> None:
    """Once the file can be written again, `enable` opts in and removes the recorded opt-out."""
    cli(paths.base, "enable")
    paths.env_file.unlink()
    paths.env_file.mkdir()
    cli(paths.base, "disable")
    assert paths.opt_out_marker.exists()
    paths.env_file.rmdir()
    assert cli(paths.base, "enable").returncode == 0
    assert not paths.opt_out_marker.exists()
    assert consent.decide(paths, {}).state is consent.State.ON


# 12.4 — `send` is a person asking to send now


def test_send_ignores_the_clients_backoff(paths: Paths, capture: CaptureServer) -> None:
    """After two failures the server is back: `send` tries at once and delivers (exit 0)."""
    _opted_in_with_a_session(paths)
    capture.answer(Behaviour(500), Behaviour(500))
    for _ in range(2):
        assert cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url).returncode == 1
    assert state.load_state(paths).retry_not_before is not None
    result = cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0 and result.stdout.startswith("delivered:"), result.stdout
    assert [c.method for c in capture.captured] == ["POST", "POST", "POST"]


def test_send_respects_a_servers_retry_after_unless_forced(paths: Paths, capture: CaptureServer) -> None:
    """A 429 with Retry-After holds `send` (exit 1, says why); `send --force` sends anyway."""
    _opted_in_with_a_session(paths)
    capture.answer(Behaviour(429, headers=(("Retry-After", "3600"),)))
    assert cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url).returncode == 1
    held = cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert held.returncode == 1 and "Retry-After" in held.stdout and "--force" in held.stdout
    assert len(capture.captured) == 1
    forced = cli(paths.base, "send", "--force", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert forced.returncode == 0 and len(capture.captured) == 2


def test_the_background_keeps_its_backoff(paths: Paths, capture: CaptureServer) -> None:
    """The reporter's own runs (no ignore_backoff) still wait after a failure."""
    now = _opted_in_with_a_session(paths)
    env = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    capture.answer(Behaviour(500))
    assert (
        delivery.run(delivery.RunConfig(paths, environ=env, clock=lambda: now)).outcome
        is delivery.Outcome.RETRY
    )
    waiting = delivery.run(delivery.RunConfig(paths, environ=env, clock=lambda: now + timedelta(minutes=5)))
    assert waiting.outcome is delivery.Outcome.WAITING and len(capture.captured) == 1


def _opted_in_with_a_session(paths: Paths) -> datetime:
    now = datetime.now(UTC)
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(hours=30)
    )
    testing.ConversationLogWriter(paths.conversations_dir).session(
        (now - timedelta(hours=6)).astimezone(testing.PACIFIC), 4
    )
    return now


# 12.6 — a corrupted state.json loses nothing and every view agrees


@pytest.mark.parametrize("garbage", [b"{not json", b"", b"[]", b'{"opted_in_at": 5}', b"\xff\xfe"])
def test_corrupt_state_recovers_the_opt_in_and_reports_the_week(
    paths: Paths, capture: CaptureServer, garbage: bytes
) -> None:
    """The opt-in moment comes back from enrollment.json; the week is reported; status, preview, MCP agree."""
    now = datetime.now(UTC)
    opted_in = now - timedelta(days=7, hours=1)
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=opted_in)
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    for day in range(1, 7):
        writer.session(
            (now - timedelta(days=day)).astimezone(testing.PACIFIC), 3, conversation_id=f"conv_{day}"
        )
    paths.state_file.write_bytes(garbage)

    status = json.loads(cli(paths.base, "status", "--json", VOICEMODE_TELEMETRY_ENDPOINT=capture.url).stdout)
    preview = cli(paths.base, "preview", VOICEMODE_TELEMETRY_ENDPOINT=capture.url).stdout
    assert status["state"] == "on" and status["opted_in_at"] == opted_in.replace(
        microsecond=0
    ).isoformat().replace("+00:00", "Z")
    assert "Telemetry is OFF" not in preview and "Sessions: 6" in preview
    from voicemode_otel.mcp_tools import _status

    assert _status(paths)["enabled"] is True

    result = cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert result.returncode == 0, result.stdout
    sent = sum(
        point.count
        for c in capture.captured
        for m in c.request().resource_metrics[0].scope_metrics[0].metrics
        if m.name == "voicemode.session.duration"
        for point in m.histogram.data_points
    )
    assert sent == 6
    resets = [e for e in transparency.read(paths) if e["event"] == "state-reset"]
    assert len(resets) == 1 and "recovered opt-in time" in resets[0]["outcome"]


def test_corrupt_state_never_resends_a_delivered_period(paths: Paths, capture: CaptureServer) -> None:
    """After a delivery, a damaged state.json resumes after the delivered period (from the log)."""
    delivered_report(paths, capture.url)
    delivered_until = state.load_state(paths).acked_until
    paths.state_file.write_text("garbage")
    assert state.load_state(paths).acked_until == delivered_until
    cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert len({key for c in capture.captured for key in c.report_keys()}) == 1


# 12.7 — unrecognised values are named; an environment that wins is named


@pytest.mark.parametrize("value", ["enabled", "2", "yes please"])
def test_unrecognised_values_are_named(paths: Paths, value: str) -> None:
    """`VOICEMODE_TELEMETRY=enabled` is shown as unrecognised, treated as not asked, with the fix."""
    out = cli(paths.base, "status", VOICEMODE_TELEMETRY=value).stdout
    assert f"unrecognised value {value!r}" in out and "use true, false or local" in out
    paths.base.mkdir(parents=True, exist_ok=True)
    paths.env_file.write_text(f"VOICEMODE_TELEMETRY={value}\n")
    assert (
        f"unrecognised value {value!r} for VOICEMODE_TELEMETRY in {paths.env_file}"
        in cli(paths.base, "status").stdout
    )


def test_disable_while_the_environment_forces_it_on_fails_and_names_it(paths: Paths) -> None:
    """`disable` with VOICEMODE_TELEMETRY=true exported: exit 3, the variable that wins is named."""
    result = cli(paths.base, "disable", VOICEMODE_TELEMETRY="true")
    assert result.returncode == 3
    assert "VOICEMODE_TELEMETRY=true in the environment" in result.stdout
    assert paths.env_file.read_text().endswith("VOICEMODE_TELEMETRY=false\n")  # applies once it is unset
    as_json = json.loads(cli(paths.base, "disable", "--json", VOICEMODE_TELEMETRY="1").stdout)
    assert as_json["ok"] is False and as_json["overridden"] is True and as_json["state"] == "on"


def test_preference_change_shapes_are_stable(paths: Paths) -> None:
    """enable/disable/local --json: the documented keys, always."""
    keys = {
        "ok",
        "mode",
        "previous",
        "env_file",
        "telemetry_id",
        "removed",
        "notes",
        "erasure",
        "state",
        "reason",
        "overridden",
        "problem",
    }
    for command in ("enable", "local", "disable"):
        document = json.loads(cli(paths.base, command, "--json").stdout)
        assert set(document) == keys and document["ok"] is True, document


def test_set_preference_api_keeps_its_signature(paths: Paths) -> None:
    """The public API still opts out in one call (and can keep server data)."""
    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    change = voicemode_otel.set_preference(False, paths.base, keep_server_data=True)
    assert change.mode == "off" and not paths.telemetry_id.exists()
    assert replace(change).effective.state is consent.State.OFF
