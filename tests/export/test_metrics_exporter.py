"""OTEL_METRICS_EXPORTER: ``none`` exports nothing, ``console`` is local mode, an unknown value sends nothing.

``OTEL_METRICS_EXPORTER=none`` is OpenTelemetry's way of saying "export no
metrics": with it set nothing leaves the machine (a pause: nothing is
deleted). ``console`` builds the reports and keeps them in the local log — it
never prints them, since stdout is VoiceMode's MCP channel. ``otlp`` (or
unset) sends as usual; any other value sends nothing and ``status`` says it is
not supported. The variable only narrows an opt-in: it never turns telemetry on
and never overrides an opt-out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import helpers
import pytest

from voicemode_otel.consent import decision as consent
from voicemode_otel.store import Paths, transparency
from voicemode_otel.testing import Behaviour, CaptureServer

ON, LOCAL, PAUSED = consent.State.ON, consent.State.LOCAL, consent.State.PAUSED
NONE_REASON = "OTEL_METRICS_EXPORTER=none is set: no metrics are exported (paused; nothing is deleted)"
CONSOLE_REASON = (
    "OTEL_METRICS_EXPORTER=console is set: reports are built and kept in the local log, never sent "
    "(`voicemode-otel log --body`; nothing is deleted)"
)


def unsupported(value: str) -> str:
    return (
        f"OTEL_METRICS_EXPORTER={value!r} is not supported (voicemode-otel exports otlp, and understands "
        "none and console): nothing is sent"
    )


CASES = {  # value → (state, reason or None for the opt-in's own reason)
    "": (ON, None),
    "otlp": (ON, None),
    " OTLP ": (ON, None),
    "otlp,console": (ON, None),  # the log is the console's record; the report is sent
    "otlp,prometheus": (ON, None),
    "none": (PAUSED, NONE_REASON),
    "None": (PAUSED, NONE_REASON.replace("=none", "=None")),
    "none,otlp": (PAUSED, NONE_REASON.replace("=none", "=none,otlp")),  # "none" anywhere: nothing leaves
    "console": (LOCAL, CONSOLE_REASON),
    "prometheus": (PAUSED, unsupported("prometheus")),
    "logging": (PAUSED, unsupported("logging")),
}


@pytest.mark.parametrize(("value", "expected"), list(CASES.items()))
def test_metrics_exporter_narrows_an_opt_in(
    paths: Paths, value: str, expected: tuple[consent.State, str]
) -> None:
    """Over VOICEMODE_TELEMETRY=true each value gives its state and a reason that names the variable."""
    decision = consent.decide(paths, {"VOICEMODE_TELEMETRY": "true", "OTEL_METRICS_EXPORTER": value})
    state, reason = expected
    assert decision.state is state
    if reason is None:
        assert decision.source == "environment"
    else:
        assert (decision.reason, decision.source) == (reason, "OTEL_METRICS_EXPORTER")
        assert not decision.revoked  # it holds sending; it never gives the ID up


@pytest.mark.parametrize("value", ["none", "console", "prometheus"])
@pytest.mark.parametrize(
    ("preference", "state"), [("false", consent.State.OFF), ("ask", consent.State.NOT_ASKED)]
)
def test_metrics_exporter_never_overrides_an_opt_out(
    paths: Paths, value: str, preference: str, state: consent.State
) -> None:
    """An opt-out (or no answer yet) stays what it is, whatever OTEL_METRICS_EXPORTER says."""
    decision = consent.decide(paths, {"VOICEMODE_TELEMETRY": preference, "OTEL_METRICS_EXPORTER": value})
    assert decision.state is state


@pytest.mark.parametrize("value", ["none", "prometheus"])
def test_none_or_unsupported_sends_nothing_and_deletes_nothing(
    paths: Paths, capture: CaptureServer, value: str
) -> None:
    """A pending report stays byte for byte, the ID stays, nothing connects; status names the variable."""
    helpers.due_report(paths)
    capture.answer(Behaviour(503))
    assert helpers.cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url).returncode == 1
    before = {p: p.read_bytes() for p in (paths.pending_file, paths.telemetry_id, paths.state_file)}
    connections = capture.connections
    extra = {"VOICEMODE_TELEMETRY_ENDPOINT": capture.url, "OTEL_METRICS_EXPORTER": value}
    sent = helpers.cli(paths.base, "send", **extra)
    assert (sent.returncode, sent.stdout.split(":")[0]) == (0, "off"), sent.stdout
    assert capture.connections == connections and len(capture.captured) == 1
    assert {p: p.read_bytes() for p in before} == before
    status = helpers.cli(paths.base, "status", **extra).stdout.splitlines()[0]
    reason = NONE_REASON if value == "none" else unsupported(value)
    assert status == f"Telemetry: PAUSED — {reason}"
    resumed = helpers.cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert resumed.stdout.startswith("delivered:"), resumed.stdout  # unset again: the same report goes
    assert capture.captured[-1].body == capture.captured[0].body


def test_console_keeps_reports_in_the_local_log_and_the_id(paths: Paths, capture: CaptureServer) -> None:
    """console: the report is built into the local log, never sent nor printed; the ID and schedule stay."""
    helpers.due_report(paths)
    telemetry_id = paths.telemetry_id.read_text()
    extra = {"VOICEMODE_TELEMETRY_ENDPOINT": capture.url, "OTEL_METRICS_EXPORTER": "console"}
    sent = helpers.cli(paths.base, "send", **extra)
    assert sent.returncode == 0 and sent.stdout.startswith("kept-locally:"), sent.stdout
    assert "resourceMetrics" not in sent.stdout  # a summary line, never the payload
    assert capture.connections == 0
    assert paths.telemetry_id.read_text() == telemetry_id
    [local] = [e for e in transparency.read(paths) if e["event"] == "local"]
    assert local["body"]["resourceMetrics"]
    status = helpers.cli(paths.base, "status", **extra).stdout.splitlines()
    assert status[0] == f"Telemetry: LOCAL — {CONSOLE_REASON}"
    assert (
        f"ID:        {telemetry_id.strip()} (kept: nothing is sent while OTEL_METRICS_EXPORTER=console)"
        in status
    )
    resumed = helpers.cli(paths.base, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert resumed.stdout.startswith("delivered:"), resumed.stdout
    [request] = capture.captured
    resource = {
        a.key: a.value.string_value for a in request.request().resource_metrics[0].resource.attributes
    }
    assert resource["voicemode.telemetry.id"] == telemetry_id.strip()


def test_console_in_a_running_host_never_writes_to_stdout(paths: Paths) -> None:
    """VoiceMode's start() with OTEL_METRICS_EXPORTER=console: the report is logged, stdout stays empty."""
    helpers.due_report(paths)
    code = """
        import sys, time, json
        import voicemode_otel
        from voicemode_otel.store import transparency
        from voicemode_otel.store import Paths
        paths = Paths.from_environ()
        voicemode_otel.start()
        for _ in range(600):  # the reporter thread works in the background; wait for its log line
            if any(e["event"] == "local" for e in transparency.read(paths)):
                break
            time.sleep(0.1)
        voicemode_otel.stop(5)
        sys.stderr.write(json.dumps(sorted({e["event"] for e in transparency.read(paths)})))
    """
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(paths.base),
        "OTEL_METRICS_EXPORTER": "console",
        "VOICEMODE_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/v1/metrics",
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout == ""
    assert "local" in json.loads(result.stderr.splitlines()[-1])


def test_json_status_names_the_variable(paths: Paths) -> None:
    """The JSON status gives the paused state, its source and the reason."""
    helpers.due_report(paths)
    document = json.loads(helpers.cli(paths.base, "status", "--json", OTEL_METRICS_EXPORTER="none").stdout)
    assert (document["state"], document["source"], document["reason"]) == (
        "paused",
        "OTEL_METRICS_EXPORTER",
        NONE_REASON,
    )


@pytest.mark.parametrize("value", ["none", "console", "prometheus"])
def test_metrics_exporter_does_not_decide_the_hosts_traces(paths: Paths, value: str) -> None:
    """The consent sampler and detector serve the host's own traces: OTEL_METRICS_EXPORTER leaves them be."""
    environ = {"VOICEMODE_TELEMETRY": "true", "OTEL_METRICS_EXPORTER": value}
    assert consent.decide(paths, environ, metrics=False).state is ON
    assert consent.decide(paths, environ).state is not ON
