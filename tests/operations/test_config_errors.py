"""A configuration error through the real CLI: status says it, send refuses with it, nothing backs off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import helpers
import pytest

from voicemode_otel.store import Paths, state
from voicemode_otel.testing import Behaviour, CaptureServer

SCRIPT = str(Path(sys.executable).parent / "voicemode-otel")
MALFORMED = ("127.0.0.1:18931", "not a url", "ftp://x", "http://", "http://[::1")
VARIABLES = (
    "VOICEMODE_TELEMETRY_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def cli(paths: Paths, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return helpers.cli(paths.base, *args, **extra)


def opted_in_with_a_due_report(paths: Paths) -> None:
    helpers.due_report(paths)


def snapshot(paths: Paths) -> dict[str, bytes]:
    """Every file under the base dir, with its bytes."""
    return {
        str(p.relative_to(paths.base)): p.read_bytes() for p in sorted(paths.base.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("value", MALFORMED)
def test_send_with_a_malformed_endpoint_exits_3_and_records_no_failure(
    paths: Paths, variable: str, value: str
) -> None:
    """Send refuses before any attempt: exit 3, the problem named; no backoff, no pending report, no log."""
    opted_in_with_a_due_report(paths)
    before = snapshot(paths)
    result = cli(paths, "send", **{variable: value})
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.startswith(f"no-endpoint: nothing sent: {variable}={value!r} ")
    assert result.stderr == ""
    assert snapshot(paths) == before  # no pending.json, no failures, no retry_not_before, no log entry
    current = state.load_state(paths)
    assert (current.failures, current.retry_not_before, current.last_outcome) == (0, None, None)


@pytest.mark.parametrize("value", MALFORMED)
def test_status_shows_the_endpoint_problem(paths: Paths, value: str) -> None:
    """Status names the variable and why its value cannot be used, in text and in --json."""
    opted_in_with_a_due_report(paths)
    text = cli(paths, "status", OTEL_EXPORTER_OTLP_ENDPOINT=value)
    [line] = [line for line in text.stdout.splitlines() if line.startswith("Endpoint:")]
    assert line.startswith(f"Endpoint:  (none) — OTEL_EXPORTER_OTLP_ENDPOINT={value!r} ")
    assert "Next due" not in text.stdout  # nothing will be sent while it is wrong
    data = json.loads(cli(paths, "status", "--json", OTEL_EXPORTER_OTLP_ENDPOINT=value).stdout)
    assert data["endpoint"] is None
    assert data["endpoint_problem"].startswith(f"OTEL_EXPORTER_OTLP_ENDPOINT={value!r} ")


def test_a_pending_report_stays_exactly_as_it_was(paths: Paths, capture: CaptureServer) -> None:
    """After a real failure, a misconfigured send changes nothing: same bytes, same backoff, same failures."""
    opted_in_with_a_due_report(paths)
    capture.answer(Behaviour(503))
    failed = cli(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert failed.returncode == 1 and paths.pending_file.exists()
    before = snapshot(paths)
    result = cli(paths, "send", VOICEMODE_TELEMETRY_ENDPOINT="http://[::1")
    assert result.returncode == 3
    assert snapshot(paths) == before
    assert len(capture.captured) == 1


def test_status_shows_settings_that_fell_back(paths: Paths) -> None:
    """A nan timeout and a CR/LF header are listed under the endpoint (and in --json); no value echoed."""
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "nan",
        "OTEL_EXPORTER_OTLP_HEADERS": "x=s3cr3t%0d%0aInjected:%201,ok=1",
    }
    lines = cli(paths, "status", **environ).stdout.splitlines()
    endpoint = next(i for i, line in enumerate(lines) if line.startswith("Endpoint:"))
    assert lines[endpoint + 1 : endpoint + 3] == [
        "Warning:   OTEL_EXPORTER_OTLP_TIMEOUT='nan' is not a usable timeout (under 100: seconds, "
        "from 0.001; from 100: milliseconds, up to 300000); using 10 s",
        "Warning:   OTEL_EXPORTER_OTLP_HEADERS entry 1 (x): the value holds a line break, control or "
        "non-ASCII character that HTTP headers cannot carry; ignored",
    ]
    data = json.loads(cli(paths, "status", "--json", **environ).stdout)
    assert len(data["endpoint_warnings"]) == 2
    assert "s3cr3t" not in json.dumps(data)
