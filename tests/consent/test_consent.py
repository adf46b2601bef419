"""Consent: each DO_NOT_TRACK value class, VOICEMODE_TELEMETRY value and env-file state → decision, reason."""

from __future__ import annotations

import os

import helpers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicemode_otel.consent import decision as consent
from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer

DNT_CASES = {  # value (None = unset) → does it opt out?
    None: False,
    "1": True,
    "true": True,
    "yes": True,
    "": True,  # set but empty still says "do not track"
    "anything": True,
    "0": False,
    "false": False,
    "No": False,
    " OFF ": False,
}
PREFERENCE_CASES = {  # raw value → state
    "true": consent.State.ON,
    "1": consent.State.ON,
    "Yes": consent.State.ON,
    "on": consent.State.ON,
    "false": consent.State.OFF,
    "0": consent.State.OFF,
    "no": consent.State.OFF,
    "OFF": consent.State.OFF,
    "ask": consent.State.NOT_ASKED,
    "maybe": consent.State.NOT_ASKED,
    "enabled": consent.State.NOT_ASKED,
    "2": consent.State.NOT_ASKED,
    "": consent.State.NOT_ASKED,
    "local": consent.State.LOCAL,
    " Local ": consent.State.LOCAL,
}
FILE_STATES = ["missing", "empty", "true", "false", "export-true", "unreadable"]


def _write_env_file(paths: Paths, state: str) -> None:
    paths.base.mkdir(parents=True, exist_ok=True)
    content = {
        "empty": "# VoiceMode settings\nVOICEMODE_TTS_VOICE=af_sky\n",
        "true": "VOICEMODE_TTS_VOICE=af_sky\nVOICEMODE_TELEMETRY=true\n",
        "false": "VOICEMODE_TELEMETRY=false\n",
        "export-true": 'export VOICEMODE_TELEMETRY="true"  # opted in\n',
    }
    if state == "unreadable":
        paths.env_file.mkdir()  # a directory where the file should be: reading fails
    elif state in content:
        paths.env_file.write_text(content[state])


def _expected(dnt: str | None, env_pref: str | None, file_state: str) -> tuple[consent.State, str]:
    if dnt is not None and DNT_CASES[dnt]:
        return consent.State.PAUSED, "DO_NOT_TRACK"
    if env_pref is not None:
        return PREFERENCE_CASES[env_pref], "environment"
    if file_state in ("true", "export-true"):
        return consent.State.ON, "voicemode.env"
    if file_state == "false":
        return consent.State.OFF, "voicemode.env"
    return consent.State.NOT_ASKED, "default"


@pytest.mark.parametrize("file_state", FILE_STATES)
@pytest.mark.parametrize("env_pref", [None, *PREFERENCE_CASES])
@pytest.mark.parametrize("dnt", list(DNT_CASES))
def test_decision_table(paths: Paths, dnt: str | None, env_pref: str | None, file_state: str) -> None:
    """The first matching rule decides, and the reason names it."""
    _write_env_file(paths, file_state)
    environ = {}
    if dnt is not None:
        environ["DO_NOT_TRACK"] = dnt
    if env_pref is not None:
        environ["VOICEMODE_TELEMETRY"] = env_pref
    decision = consent.decide(paths, environ)
    state, source = _expected(dnt, env_pref, file_state)
    assert (decision.state, decision.source) == (state, source)
    assert decision.enabled == (state is consent.State.ON)
    if source == "DO_NOT_TRACK":
        assert decision.reason.startswith(f"DO_NOT_TRACK={dnt} is set")
    elif state is consent.State.ON:
        assert decision.reason.endswith("(opted in)")
    elif state is consent.State.OFF:
        assert decision.reason.endswith("(opted out)")
    elif state is consent.State.LOCAL:
        assert decision.reason.endswith("(local only: reports are kept here, never sent)")
    elif decision.preference is not None and decision.preference.strip().lower() not in ("ask", ""):
        assert decision.reason.startswith(f"unrecognised value {decision.preference.strip()!r}")
        assert "(treated as not asked; use true, false or local)" in decision.reason
    else:
        assert decision.reason.startswith("not asked yet")
    if file_state == "unreadable" and source == "default":
        assert "cannot read" in decision.reason


SDK_DISABLED_CASES = {  # value → paused? For a privacy switch the safe reading is "off".
    "true": True,
    "TRUE": True,
    "1": True,
    "yes": True,
    "Yes": True,
    "on": True,
    " ON ": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
    "": False,
    "disabled": False,  # not a yes-word: the spec's reading (unset) holds
}


@pytest.mark.parametrize(("value", "paused"), list(SDK_DISABLED_CASES.items()))
def test_otel_sdk_disabled(paths: Paths, value: str, paused: bool) -> None:
    """OTEL_SDK_DISABLED pauses for true, 1, yes and on (any case), even over an opt-in; status says so."""
    decision = consent.decide(paths, {"OTEL_SDK_DISABLED": value, "VOICEMODE_TELEMETRY": "true"})
    assert decision.state is (consent.State.PAUSED if paused else consent.State.ON)
    if paused:
        assert decision.source == "OTEL_SDK_DISABLED"
        reading = "" if value.strip().lower() == "true" else " (read as true: 1, yes and on turn it off too)"
        assert decision.reason == f"OTEL_SDK_DISABLED={value.strip()} is set{reading}"


@pytest.mark.parametrize("value", ["1", "yes", "on"])
def test_otel_sdk_disabled_1_sends_nothing(paths: Paths, capture: CaptureServer, value: str) -> None:
    """A real send with OTEL_SDK_DISABLED=1, yes or on: nothing reaches the server; status says why."""
    helpers.due_report(paths)
    extra = {"VOICEMODE_TELEMETRY_ENDPOINT": capture.url, "OTEL_SDK_DISABLED": value}
    sent = helpers.cli(paths.base, "send", **extra)
    assert (sent.returncode, sent.stdout.split(":")[0]) == (0, "off"), sent.stdout
    assert capture.captured == [] and capture.connections == 0
    assert paths.telemetry_id.exists()  # a pause deletes nothing
    status = helpers.cli(paths.base, "status", **extra).stdout
    assert status.splitlines()[0] == (
        f"Telemetry: PAUSED — OTEL_SDK_DISABLED={value} is set (read as true: 1, yes and on turn it off too)"
    )


def test_change_to_env_file_is_seen_by_the_next_call(paths: Paths) -> None:
    """Consent is never cached: an edit of voicemode.env shows on the very next check."""
    paths.base.mkdir(parents=True)
    paths.env_file.write_text("VOICEMODE_TELEMETRY=true\n")
    assert consent.decide(paths, {}).enabled
    paths.env_file.write_text("VOICEMODE_TELEMETRY=false\n")
    os.utime(paths.env_file, ns=(1, 1))  # even with an unchanged size and a rewound clock
    assert consent.decide(paths, {}).state is consent.State.OFF


def test_environment_is_read_on_every_call(paths: Paths) -> None:
    """A change to os.environ reaches a running process at once."""
    environ = {"VOICEMODE_TELEMETRY": "true"}
    assert consent.decide(paths, environ).enabled
    environ["DO_NOT_TRACK"] = "1"
    assert not consent.decide(paths, environ).enabled


def test_last_assignment_wins_and_comments_are_ignored(paths: Paths) -> None:
    """The file is read like a shell sources it."""
    paths.base.mkdir(parents=True)
    paths.env_file.write_text(
        "# VOICEMODE_TELEMETRY=true\n"
        "VOICEMODE_TELEMETRY=true\n"
        "  export VOICEMODE_TELEMETRY='false' # changed mind\n"
    )
    decision = consent.decide(paths, {})
    assert decision.state is consent.State.OFF
    assert decision.preference == "false"


_LINES = st.sampled_from(
    [
        "VOICEMODE_TELEMETRY=true",
        "export VOICEMODE_TELEMETRY='false' # changed mind",
        "  VOICEMODE_TELEMETRY = local",
        "# VOICEMODE_TELEMETRY=true",
        "VOICEMODE_TELEMETRY_ENDPOINT=http://x",
        "XVOICEMODE_TELEMETRY=on",
        "VOICEMODE_TTS_VOICE=af_sky",
        'VOICEMODE_TELEMETRY="yes"\r',
        "",
        "\x0bVOICEMODE_TELEMETRY=no",
        # Comments are recognised on the bytes, before any decoding: these must agree too.
        "  # VOICEMODE_TELEMETRY=true",
        "\t#VOICEMODE_TELEMETRY=no VOICEMODE_TELEMETRY=yes",
        "\x1c# VOICEMODE_TELEMETRY=on",
        "\u00a0# VOICEMODE_TELEMETRY=local",
        "\u00a0VOICEMODE_TELEMETRY=local",
        "\udce9 VOICEMODE_TELEMETRY=1",
        "VOICEMODE_TELEMETRY=on # VOICEMODE_TELEMETRY=off",
        "X=1 # VOICEMODE_TELEMETRY=true",
        "#",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.one_of(_LINES, st.text(max_size=30)), max_size=12), ending=st.sampled_from(["\n", ""])
)
def test_reading_only_the_preference_line_decides_as_parsing_the_whole_file(
    paths: Paths, lines: list[str], ending: str
) -> None:
    """The start-up path reads only the lines naming the variable, comments undecoded: as a full parse."""
    import voicemode_otel as rules
    from voicemode_otel.store import envfile

    text = "\n".join(lines) + ending
    paths.base.mkdir(parents=True, exist_ok=True)
    paths.env_file.write_bytes(text.encode("utf-8", "surrogatepass"))
    rules.env_file_cache.pop(str(paths.env_file), None)
    data = paths.env_file.read_bytes().decode("utf-8", "surrogateescape")
    value, exists, error = rules.read_env_file(str(paths.env_file))
    assert (exists, error) == (True, None)
    assert value == envfile.parse(data).get("VOICEMODE_TELEMETRY")
