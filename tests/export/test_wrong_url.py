"""A wrong URL or wrong credentials never lose a report: it stays pending, byte for byte, until fixed.

The common mistake: ``OTEL_EXPORTER_OTLP_ENDPOINT=http://host:4318/v1/metrics``
(a base URL, to which ``/v1/metrics`` is appended) posts to
``/v1/metrics/v1/metrics`` and gets 404. A 404, 405 or 415 (and a 401, 403 or
an unfollowed redirect) says the URL or the credentials are wrong, not the
data: the report is kept, the user is told, and once the setting is fixed the
same bytes are delivered — at once, not after a backoff earned by another URL.
Only a refusal that judges the data (400, 413) settles it.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import helpers
import pytest

from voicemode_otel import cli
from voicemode_otel.delivery import run as delivery
from voicemode_otel.delivery import runner
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths, state, transparency
from voicemode_otel.testing import Behaviour, CaptureServer

ROOT = Path(__file__).resolve().parents[2]
WORKER_ROUTES = ("/v1/metrics", "/v1/installations/")


@pytest.fixture
def receiver() -> Iterator[CaptureServer]:
    """A receiver that, like a Collector or the Worker, serves /v1/metrics and answers 404 elsewhere."""
    with CaptureServer(routes=WORKER_ROUTES) as server:
        yield server


def pending_bytes(paths: Paths) -> bytes:
    return paths.pending_file.read_bytes()


def test_the_base_url_mistake_keeps_the_report_and_delivers_it_once_fixed(
    paths: Paths, receiver: CaptureServer
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT=…/v1/metrics: 404, kept byte-identical, delivered after the fix."""
    helpers.due_report(paths)
    wrong = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}  # already ends in /v1/metrics
    warned = helpers.cli(paths.base, "status", **wrong).stdout
    assert (
        f"Warning:   OTEL_EXPORTER_OTLP_ENDPOINT already ends in /v1/metrics, and /v1/metrics is appended "
        f"to it: reports go to {receiver.url}/v1/metrics. Set it to the base URL, or the full URL in "
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
    ) in warned.splitlines()

    failed = helpers.cli(paths.base, "send", **wrong)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stdout.startswith("check-endpoint:")
    assert "the endpoint answered 404: is the URL right?" in failed.stdout
    kept = pending_bytes(paths)
    again = helpers.cli(paths.base, "send", **wrong)  # the user tries again before fixing it
    assert again.returncode == 1 and pending_bytes(paths) == kept
    status = json.loads(helpers.cli(paths.base, "status", "--json", **wrong).stdout)
    assert status["pending_period"] is not None
    assert status["last_outcome"] == "kept: the endpoint answered 404: is the URL right?"

    fixed = helpers.cli(paths.base, "send", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.base_url)
    assert fixed.returncode == 0 and fixed.stdout.startswith("delivered:"), fixed.stdout
    assert [c.path for c in receiver.captured] == ["/v1/metrics/v1/metrics"] * 2 + ["/v1/metrics"]
    stored = json.loads(kept)["body_protobuf_base64"]
    delivered = receiver.captured[-1]
    assert gzip.decompress(delivered.raw_body) == base64.b64decode(stored)
    [logged] = [e["body"] for e in transparency.read(paths) if e["event"] == "pending"]
    assert otlp_json.to_dict(delivered.request()) == logged
    assert not paths.pending_file.exists()
    assert state.load_state(paths).delivered_to == (receiver.url,)  # never the wrong URL


def test_a_metrics_endpoint_without_a_path_is_warned_about(paths: Paths) -> None:
    """OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as is: with no path, status says so before any send."""
    lines = helpers.cli(
        paths.base, "status", OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://127.0.0.1:4318"
    ).stdout.splitlines()
    assert (
        "Warning:   OTEL_EXPORTER_OTLP_METRICS_ENDPOINT='http://127.0.0.1:4318' has no path and is used "
        "as is (an OTLP/HTTP receiver listens on /v1/metrics); or set the base URL in "
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ) in lines


KEPT = {
    404: "the endpoint answered 404: is the URL right?",
    405: "the endpoint answered 405: is the URL right?",
    415: "the endpoint answered 415: is the URL right?",
    401: "the endpoint answered 401: are the credentials (OTEL_EXPORTER_OTLP_HEADERS) right?",
    403: "the endpoint answered 403: are the credentials (OTEL_EXPORTER_OTLP_HEADERS) right?",
    301: "the endpoint answered 301 (a redirect, not followed): is the URL right?",
}


def World(paths: Paths, endpoint: str) -> helpers.DueUser:
    """An opted-in user with a due report, whose metrics endpoint is ``endpoint``."""
    return helpers.DueUser(paths, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=endpoint)


@pytest.mark.parametrize("status", list(KEPT))
def test_refusals_of_the_url_or_credentials_keep_the_report(
    paths: Paths, capture: CaptureServer, status: int
) -> None:
    """404/405/415/401/403/3xx: kept unchanged, said in one line, not an erasure target; then delivered."""
    world = World(paths, capture.url)
    capture.answer(
        Behaviour(status, (("Location", "http://127.0.0.1:9/elsewhere"),) if status == 301 else ())
    )
    result = world.run()
    assert result.outcome is delivery.Outcome.CHECK_ENDPOINT
    assert KEPT[status] in result.message
    kept = pending_bytes(paths)
    current = state.load_state(paths)
    assert current.delivered_to == ()  # the endpoint said it stored nothing: nothing to erase there
    assert current.last_outcome == f"kept: {KEPT[status]}"
    outcomes = [e["outcome"] for e in transparency.read(paths) if e["event"] == "outcome"]
    assert outcomes == [f"kept: {KEPT[status]}"]
    world.now += timedelta(days=2)  # past any backoff
    assert world.run().outcome is delivery.Outcome.DELIVERED
    first, second = capture.captured
    assert first.body == second.body == base64.b64decode(json.loads(kept)["body_protobuf_base64"])
    assert not paths.pending_file.exists()


@pytest.mark.parametrize("status", [400, 413])
def test_refusals_that_judge_the_data_settle_the_report(
    paths: Paths, capture: CaptureServer, status: int
) -> None:
    """A 400 or 413 says the data itself is refused: the report is dropped (and logged), never resent."""
    world = World(paths, capture.url)
    capture.answer(Behaviour(status))
    result = world.run()
    assert result.outcome is delivery.Outcome.DROPPED
    assert not paths.pending_file.exists()
    [outcome] = [e["outcome"] for e in transparency.read(paths) if e["event"] == "outcome"]
    assert outcome.startswith(f"dropped: {status}")


def test_a_fixed_endpoint_is_tried_at_once_not_after_the_old_ones_backoff(paths: Paths) -> None:
    """The backoff a wrong URL earned holds that URL only: the fixed one is tried on the next run."""
    with CaptureServer(routes=WORKER_ROUTES) as server:
        world = World(paths, server.url + "/v1/metrics")
        assert world.run().outcome is delivery.Outcome.CHECK_ENDPOINT
        retry_at = state.load_state(paths).retry_not_before
        assert retry_at is not None and retry_at > world.now
        world.now += timedelta(minutes=10)
        assert world.run().outcome is delivery.Outcome.WAITING  # the same wrong URL: patience
        assert len(server.captured) == 1
        assert runner._seconds_until_work(paths, world.environ, world.now, local=False) > 0
        world.environ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = server.url  # the user fixes it
        assert runner._seconds_until_work(paths, world.environ, world.now, local=False) == 0
        assert world.run().outcome is delivery.Outcome.DELIVERED
        assert [c.path for c in server.captured] == ["/v1/metrics/v1/metrics", "/v1/metrics"]
        assert server.captured[0].body == server.captured[1].body


def test_a_server_retry_after_binds_only_the_server_that_said_it(paths: Paths) -> None:
    """A 429 Retry-After from one endpoint does not hold a report the user now sends elsewhere."""
    with CaptureServer() as busy, CaptureServer() as other:
        world = World(paths, busy.url)
        busy.answer(Behaviour(429, (("Retry-After", "7200"),)))
        assert world.run().outcome is delivery.Outcome.RETRY
        assert world.run().outcome is delivery.Outcome.WAITING
        world.environ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = other.url
        assert world.run().outcome is delivery.Outcome.DELIVERED
        assert busy.captured[0].body == other.captured[0].body


def _documented_exit_codes() -> dict[str, int]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("## `send`: outcomes and exit codes", 1)[1].split("\n## ", 1)[0]
    return {
        word: int(code) for word, code in re.findall(r"^\| `([a-z-]+)` \| (\d) \|", section, re.MULTILINE)
    }


def test_send_outcomes_and_exit_codes_match_the_documentation() -> None:
    """docs/cli.md lists every outcome word `send` can print, with the exit code it really gives."""
    documented = _documented_exit_codes()
    assert set(documented) == {outcome.value for outcome in delivery.Outcome}
    assert documented == {outcome.value: code for outcome, code in cli.send_exit_codes().items()}


@pytest.mark.parametrize(
    ("behaviour", "word"),
    [
        (Behaviour(200), "delivered"),
        (Behaviour(503), "retry"),
        (Behaviour(404), "check-endpoint"),
        (Behaviour(400), "dropped"),
    ],
)
def test_send_exits_as_documented(
    paths: Paths, capture: CaptureServer, behaviour: Behaviour, word: str
) -> None:
    """A real send for each kind of answer prints the outcome word and exits with its documented code."""
    helpers.due_report(paths)
    capture.answer(behaviour)
    result = helpers.cli(paths.base, "send", "--json", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    document = json.loads(result.stdout)
    assert document["outcome"] == word
    assert result.returncode == _documented_exit_codes()[word]
    assert document["ok"] is (result.returncode == 0)
