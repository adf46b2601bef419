"""Misbehaving servers on 127.0.0.1: one attempt, bounded by the timeout, one line of cause, nothing lost.

The official exporter used to retry inside a run (three "Transient error
HTTPConnectionPool(...)" lines and 7.6 s for a port nobody listens on) and
could be held for minutes by a server dripping one byte a second, because
socket timeouts bound each read, not the request.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import helpers
import hostile
import pytest
from opentelemetry.sdk.metrics.export import MetricsData

from voicemode_otel.export import config as exporter_config
from voicemode_otel.export import sender
from voicemode_otel.report import otlp_decode
from voicemode_otel.store import Paths, state, transparency
from voicemode_otel.testing import CaptureServer

SCRIPT = str(Path(sys.executable).parent / "voicemode-otel")
TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Hostile:
    name: str
    behaviour: hostile.Behaviour | None  # None: nothing listens on the port
    cause: Callable[[int], str]


HOSTILE = [
    Hostile("unreachable", None, lambda port: f"connection refused by 127.0.0.1:{port}"),
    Hostile("never-answers", hostile.never_answers, lambda port: "timed out after 2.0 s"),
    Hostile("slow-drip", hostile.slow_drip, lambda port: "timed out after 2.0 s"),
    Hostile("reset", hostile.resets, lambda port: f"connection reset by 127.0.0.1:{port}"),
    Hostile(
        "closes-silently",
        hostile.closes_silently,
        lambda port: f"connection closed by 127.0.0.1:{port} before a complete response",
    ),
]


class Endpoint:
    """A hostile server (or a dead port) for the duration of a test."""

    def __init__(self, case: Hostile) -> None:
        self.server = hostile.HostileServer(case.behaviour).start() if case.behaviour else None
        self.port = self.server.port if self.server else hostile.unreachable_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/metrics"

    @property
    def connections(self) -> int:
        return self.server.connections if self.server else 0

    def stop(self) -> None:
        if self.server:
            self.server.stop()


@pytest.fixture(params=HOSTILE, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> Hostile:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def endpoint(case: Hostile) -> Iterator[Endpoint]:
    created = Endpoint(case)
    yield created
    created.stop()


def opted_in_with_a_due_report(paths: Paths) -> None:
    helpers.due_report(paths)


def a_report() -> MetricsData:
    from helpers import DAY, RESOURCE, session

    from voicemode_otel.report import build as report

    return otlp_decode.restore(report.build([session()], DAY, RESOURCE).body)


def test_one_bounded_attempt_with_one_cause(case: Hostile, endpoint: Endpoint) -> None:
    """ReportSender.send: "retry" with the cause, at most one connection, back within timeout + 1 s."""
    settings = exporter_config.resolve(
        {"VOICEMODE_TELEMETRY_ENDPOINT": endpoint.url, "OTEL_EXPORTER_OTLP_TIMEOUT": str(TIMEOUT_MS)}
    )
    metrics = a_report()
    started = time.monotonic()
    result = sender.ReportSender(settings, lambda: True).send(metrics)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.status, result.detail) == ("retry", None, case.cause(endpoint.port))
    assert endpoint.connections <= 1  # no retry inside the run, not even the exporter's quick reconnect
    # Not a performance assertion: the slow-drip server would take 80 s and the silent one forever;
    # returning within the timeout plus a second is the behaviour under test.
    assert elapsed < TIMEOUT_MS / 1000 + 1, f"send took {elapsed:.1f} s"


def test_real_send_prints_one_line_and_keeps_the_report(
    paths: Paths, case: Hostile, endpoint: Endpoint
) -> None:
    """`voicemode-otel send`: exit 1, the cause on stdout, nothing on stderr; the same bytes stay pending."""
    opted_in_with_a_due_report(paths)
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(paths.base),
        "VOICEMODE_TELEMETRY_ENDPOINT": endpoint.url,
        "OTEL_EXPORTER_OTLP_TIMEOUT": str(TIMEOUT_MS),
    }

    def send() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCRIPT, "send"],
            env=environ,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    started = time.monotonic()
    first = send()
    elapsed = time.monotonic() - started
    cause = case.cause(endpoint.port)
    assert first.returncode == 1, first.stdout + first.stderr
    assert first.stderr == ""  # no "Transient error HTTPConnectionPool(...)", no "Failed to export"
    assert first.stdout.startswith("retry:\n")
    assert first.stdout.rstrip().endswith(f"({cause})")
    assert elapsed < 30, f"send took {elapsed:.1f} s"  # the server itself would hold it 80 s or forever
    pending = state.load_pending(paths)
    assert pending is not None
    assert state.load_state(paths).last_outcome == f"will retry: {cause}"
    assert [entry["outcome"] for entry in transparency.read(paths)][-1] == f"will retry: {cause}"
    second = send()  # whether it retries at once or waits for the backoff, nothing is lost or printed
    assert second.stderr == ""
    still = state.load_pending(paths)
    assert still is not None and still.body == pending.body


def test_forget_is_bounded_the_same_way(paths: Paths, case: Hostile, endpoint: Endpoint) -> None:
    """The DELETE of forget: one attempt within the timeout, the same cause, the erasure kept for a retry."""
    from dataclasses import replace

    from voicemode_otel.delivery import erasure
    from voicemode_otel.delivery import run as delivery

    opted_in_with_a_due_report(paths)
    with CaptureServer() as worker:
        environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": worker.url}
        assert delivery.run(delivery.RunConfig(paths, environ=environ)).outcome is delivery.Outcome.DELIVERED
    telemetry_id = paths.telemetry_id.read_text().strip()
    # The erasure goes where reports went: make that the hostile endpoint.
    state.save_state(paths, replace(state.load_state(paths), delivered_to=(endpoint.url,)))
    environ = {
        "VOICEMODE_BASE_DIR": str(paths.base),
        "VOICEMODE_TELEMETRY_ENDPOINT": endpoint.url,
        "OTEL_EXPORTER_OTLP_TIMEOUT": str(TIMEOUT_MS),
    }
    started = time.monotonic()
    result = erasure.forget(paths, environ)
    elapsed = time.monotonic() - started
    url = endpoint.url.replace("/v1/metrics", f"/v1/installations/{telemetry_id}")
    assert not result.ok
    assert result.remaining == (f"{telemetry_id} at {url}",)
    assert f"{url}: {case.cause(endpoint.port)}" in result.server
    assert [r.telemetry_id for r in erasure.load(paths)] == [telemetry_id]  # kept, and only there
    assert not paths.telemetry_id.exists()
    assert endpoint.connections <= 1
    assert elapsed < TIMEOUT_MS / 1000 + 1, f"forget took {elapsed:.1f} s"


def test_abort_ends_a_send_in_flight_at_once() -> None:
    """abort_all() (process exit) at once ends a send waiting on a silent server with a 60 s timeout."""
    with hostile.HostileServer(hostile.never_answers) as server:
        settings = exporter_config.resolve(
            {"VOICEMODE_TELEMETRY_ENDPOINT": server.url, "OTEL_EXPORTER_OTLP_TIMEOUT": "60000"}
        )
        results: list[sender.SendResult] = []
        thread = threading.Thread(
            target=lambda: results.append(sender.ReportSender(settings, lambda: True).send(a_report()))
        )
        thread.start()
        deadline = time.monotonic() + 20
        while server.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the request is written and the client waits for an answer
        sender.abort_all()
        thread.join(5)
        assert not thread.is_alive(), "abort did not end the send"
        [result] = results
        assert (result.outcome, result.detail) == ("retry", "interrupted: the process is exiting")
