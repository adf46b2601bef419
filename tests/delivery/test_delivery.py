"""Delivery against a real OTLP/HTTP server on 127.0.0.1: persist, send, settle, retry, count once."""

from __future__ import annotations

import gzip
import itertools
import json
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from voicemode_otel import testing
from voicemode_otel.contract import Period, ceil_hour, floor_hour, to_unix_nanos
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.logs import Session
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths, state, transparency
from voicemode_otel.testing import Behaviour, CaptureServer

UTC = timezone.utc
START = datetime(2026, 11, 20, 9, 17, tzinfo=UTC)  # opt-in moment


def free_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class World:
    """A base dir with an opted-in user, logs written day by day, and a controllable clock."""

    paths: Paths
    environ: dict[str, str]
    now: datetime = START
    sessions: list[Session] = field(default_factory=list)

    def opt_in(self) -> None:
        """Opt in at START; the clock then moves to the first whole hour (where periods begin)."""
        preference.set_preference(self.paths, True, self.environ, now=START)
        self.now = ceil_hour(START)

    def use_for_a_day(self, seed: int) -> None:
        """Write a realistic day of sessions during the next 24 hours and move the clock past them."""
        writer = testing.ConversationLogWriter(self.paths.conversations_dir)
        at = self.now + timedelta(hours=1)
        for index in range(3):
            session = writer.session(
                at.astimezone(testing.PACIFIC) + timedelta(hours=3 * index),
                rounds=2 + seed + index * 4,
                transport="livekit" if index == 2 else "local",
                tts=testing.OPENAI_TTS if index == 1 else testing.KOKORO,
                conversation_id=f"conv_{seed}_{index}",
            )
            self.sessions.append(session)
        self.now += timedelta(hours=24)

    def run(self, **options: object) -> delivery.RunResult:
        return delivery.run(
            delivery.RunConfig(self.paths, environ=self.environ, clock=lambda: self.now, **options)
        )  # type: ignore[arg-type]


@pytest.fixture
def world(paths: Paths, capture: CaptureServer) -> World:
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    created = World(paths, environ)
    created.opt_in()
    return created


def _histogram_counts(sessions: list[Session], name: str) -> dict[str, list[int]]:
    """Expected bucket counts per transport, computed without the package's pipeline."""
    metric = contract.load().metric(name)
    counts: dict[str, list[int]] = {}
    for session in sessions:
        value = session.duration_seconds if name == contract.DURATION else session.exchanges
        index = sum(1 for bound in metric.boundaries if value > bound)
        counts.setdefault(session.transport, [0] * len(metric.bins))[index] += 1
    return counts


def _provider_counts(sessions: list[Session]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for session in sessions:
        for role, names in (("tts", session.tts_providers), ("stt", session.stt_providers)):
            for name in names:
                counts[(role, name)] = counts.get((role, name), 0) + 1
    return counts


def assert_report_is_exactly(body: bytes, sessions: list[Session], period: Period, telemetry_id: str) -> None:
    """Decode the wire bytes and compare every field with what these sessions must produce."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest.FromString(body)
    [resource_metrics] = request.resource_metrics
    resource = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
    assert resource["service.name"] == "voicemode"
    assert resource["voicemode.telemetry.id"] == telemetry_id
    assert set(resource) <= set(contract.load().resource_attributes)
    [scope] = resource_metrics.scope_metrics
    assert (scope.scope.name, scope.scope.version) == ("voicemode", "")
    by_name = {m.name: m for m in scope.metrics}
    assert set(by_name) == set(contract.load().metrics)
    for name in (contract.DURATION, contract.EXCHANGES):
        metric = by_name[name]
        assert metric.unit == contract.load().metric(name).unit
        assert metric.histogram.aggregation_temporality == 1  # DELTA
        found = {}
        for point in metric.histogram.data_points:
            assert not point.HasField("sum") and not point.HasField("min") and not point.HasField("max")
            assert list(point.exemplars) == []
            assert (point.start_time_unix_nano, point.time_unix_nano) == (
                to_unix_nanos(period.start),
                to_unix_nanos(period.end),
            )
            assert list(point.explicit_bounds) == list(contract.load().metric(name).boundaries)
            assert point.count == sum(point.bucket_counts)
            [attribute] = point.attributes
            assert attribute.key == contract.TRANSPORT
            found[attribute.value.string_value] = list(point.bucket_counts)
        assert found == _histogram_counts(sessions, name)
    providers = by_name[contract.PROVIDERS].sum
    assert (providers.aggregation_temporality, providers.is_monotonic) == (1, True)
    seen = {}
    for point in providers.data_points:
        attrs = {a.key: a.value.string_value for a in point.attributes}
        assert set(attrs) == {contract.PROVIDER_ROLE, contract.PROVIDER_NAME}
        assert list(point.exemplars) == []
        seen[(attrs[contract.PROVIDER_ROLE], attrs[contract.PROVIDER_NAME])] = point.as_int
    assert seen == _provider_counts(sessions)


def test_first_report_goes_out_exactly_as_built(world: World, capture: CaptureServer) -> None:
    """One POST, gzip'd protobuf, with exactly the contract's fields for the logged sessions."""
    world.use_for_a_day(1)
    result = world.run()
    assert result.outcome is delivery.Outcome.DELIVERED
    [request] = capture.captured
    assert (request.method, request.path) == ("POST", "/v1/metrics")
    assert request.headers["content-type"] == "application/x-protobuf"
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(request.raw_body) == request.body
    period = Period(datetime(2026, 11, 20, 10, tzinfo=UTC), floor_hour(world.now))
    telemetry_id = world.paths.telemetry_id.read_text().strip()
    assert_report_is_exactly(request.body, world.sessions, period, telemetry_id)
    settled = state.load_state(world.paths)
    assert settled.acked_until == period.end
    assert not world.paths.pending_file.exists()


def test_nothing_measured_before_opt_in_is_sent(paths: Paths, capture: CaptureServer) -> None:
    """Sessions before the opt-in (even ones completing after it) never appear in a report."""
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url}
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    writer.session(START - timedelta(days=1), 3)  # the day before
    writer.session(START - timedelta(minutes=10), 4)  # straddles the opt-in
    world = World(paths, environ)
    world.opt_in()
    world.use_for_a_day(2)
    assert world.run().outcome is delivery.Outcome.DELIVERED
    [request] = capture.captured
    counted = sum(
        p.count
        for m in request.request().resource_metrics[0].scope_metrics[0].metrics
        if m.HasField("histogram") and m.name == contract.DURATION
        for p in m.histogram.data_points
    )
    assert counted == len(world.sessions) == 3


def test_period_with_no_sessions_sends_nothing_but_advances(world: World, capture: CaptureServer) -> None:
    """An idle day makes no request; the next period starts where it ended."""
    world.now += timedelta(days=1, hours=2)
    result = world.run()
    assert result.outcome is delivery.Outcome.NOTHING_TO_SEND
    assert capture.connections == 0
    assert state.load_state(world.paths).acked_until == floor_hour(world.now)


def test_not_due_before_24_hours(world: World, capture: CaptureServer) -> None:
    """Within 24 h of the period start nothing is built or sent."""
    world.now += timedelta(hours=20)
    result = world.run()
    assert result.outcome is delivery.Outcome.NOT_DUE
    assert result.next_attempt == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert capture.connections == 0


def test_send_now_ignores_the_cadence(world: World, capture: CaptureServer) -> None:
    """`send` (force) reports the hours so far without waiting for 24 h."""
    world.now += timedelta(hours=5)
    testing.ConversationLogWriter(world.paths.conversations_dir).session(START + timedelta(hours=1), 2)
    assert world.run(force=True).outcome is delivery.Outcome.DELIVERED
    assert len(capture.captured) == 1


def test_long_gap_is_sent_as_consecutive_week_periods_oldest_first(
    world: World, capture: CaptureServer
) -> None:
    """After 20 days away, three periods of at most 7 days go out in order, each once."""
    for seed in range(20):
        world.use_for_a_day(seed)
    assert world.run().outcome is delivery.Outcome.DELIVERED
    keys = [key for item in capture.captured for key in item.report_keys()]
    spans = [(end - start) / 3.6e12 for _, start, end in keys]
    assert spans == [168, 168, 144]
    assert [k[1] for k in keys] == sorted(k[1] for k in keys)
    assert all(a[2] == b[1] for a, b in itertools.pairwise(keys))


def test_periods_older_than_90_days_are_skipped(world: World, capture: CaptureServer) -> None:
    """Coming back after 100 days, nothing older than the Worker's 90-day window is sent."""
    world.use_for_a_day(1)
    world.now += timedelta(days=100)
    world.use_for_a_day(2)
    assert world.run().outcome is delivery.Outcome.DELIVERED
    keys = [key for item in capture.captured for key in item.report_keys()]
    assert min(start for _, start, _ in keys) >= to_unix_nanos(world.now - timedelta(days=90))
    assert max(end for _, _, end in keys) == to_unix_nanos(world.now)


@dataclass(frozen=True)
class Scenario:
    name: str
    failures: tuple[Behaviour, ...]
    timeout_ms: int = 400


SCENARIOS = [
    Scenario("500", (Behaviour(500),) * 3),
    Scenario("503", (Behaviour(503),) * 3),
    Scenario("429 retry-after", (Behaviour(429, (("Retry-After", "7200"),)),)),
    Scenario("timeout", (Behaviour(delay=1.5),), timeout_ms=300),
    Scenario("committed then dropped", (Behaviour(drop_connection=True),) * 2),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_outage_then_recovery_loses_nothing_and_counts_once(
    world: World, capture: CaptureServer, scenario: Scenario
) -> None:
    """Over several days with a failing server, every session arrives exactly once, resent unchanged."""
    world.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = str(scenario.timeout_ms)
    for day in range(4):
        world.use_for_a_day(day)
        if day == 1:
            capture.answer(*scenario.failures)
        result = world.run()  # never raises
        if day == 1 and scenario.name != "committed then dropped":
            assert result.outcome is delivery.Outcome.RETRY
            assert world.paths.pending_file.exists()
    world.now += timedelta(days=1)  # past any Retry-After or backoff
    world.run()
    assert not world.paths.pending_file.exists()
    # Every POST of one report carried identical bytes for the same period.
    bodies: dict[tuple[str, int, int], set[bytes]] = {}
    for item in capture.captured:
        for key in item.report_keys():
            bodies.setdefault(key, set()).add(item.body)
    assert all(len(variants) == 1 for variants in bodies.values())
    committed = capture.committed_reports()
    assert len(committed) == len(set(committed))
    total = sum(
        p.count
        for item in capture.captured
        if item.committed
        for key in item.report_keys()[:1]
        if key in committed and committed.remove(key) is None  # count each report once
        for m in item.request().resource_metrics[0].scope_metrics[0].metrics
        if m.name == contract.DURATION
        for p in m.histogram.data_points
    )
    assert total == len(world.sessions)


def test_retry_after_is_honoured(world: World, capture: CaptureServer) -> None:
    """After a 429 with Retry-After, no request is made before that time; then the same bytes go out."""
    world.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "300"
    world.use_for_a_day(1)
    capture.answer(Behaviour(429, (("Retry-After", "3600"),)))
    assert world.run().outcome is delivery.Outcome.RETRY
    first = len(capture.captured)
    world.now += timedelta(minutes=30)
    waiting = world.run()
    assert waiting.outcome is delivery.Outcome.WAITING
    assert len(capture.captured) == first
    world.now += timedelta(minutes=31)
    assert world.run().outcome is delivery.Outcome.DELIVERED
    assert {item.body for item in capture.captured} == {capture.captured[0].body}


def test_connection_refused_keeps_the_report(paths: Paths, capture: CaptureServer) -> None:
    """Nobody listening: the report stays pending, then goes out unchanged once a server appears."""
    dead = f"http://127.0.0.1:{free_port()}/v1/metrics"
    world = World(paths, {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": dead})
    world.opt_in()
    world.use_for_a_day(3)
    for _ in range(3):
        assert world.run().outcome in (delivery.Outcome.RETRY, delivery.Outcome.WAITING)
        world.now += timedelta(hours=2)
    stored = state.load_pending(paths)
    assert stored is not None
    world.environ["VOICEMODE_TELEMETRY_ENDPOINT"] = capture.url
    world.now += timedelta(days=1)
    assert world.run().outcome is delivery.Outcome.DELIVERED
    assert capture.captured[0].body == stored.body
    assert not paths.pending_file.exists()


@pytest.mark.parametrize("status", [400, 409, 413, 422])
def test_non_retryable_refusal_is_dropped_and_logged(
    world: World, capture: CaptureServer, status: int
) -> None:
    """A 4xx that judges the data is logged and dropped, not retried forever; later periods go on.

    (A refusal of the URL or the credentials keeps the report: tests/export/test_wrong_url.py.)
    """
    world.use_for_a_day(1)
    capture.answer(Behaviour(status))
    result = world.run()
    assert result.outcome is delivery.Outcome.DROPPED
    assert len(capture.captured) == 1
    assert not world.paths.pending_file.exists()
    outcomes = [e["outcome"] for e in transparency.read(world.paths) if e["event"] in ("pending", "outcome")]
    assert outcomes[0] == "pending" and outcomes[-1].startswith(f"dropped: {status}")
    world.use_for_a_day(2)
    assert world.run().outcome is delivery.Outcome.DELIVERED


def test_partial_success_is_acknowledged_and_logged(world: World, capture: CaptureServer) -> None:
    """A 200 with partial_success settles the report and records the rejection."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = 2
    response.partial_success.error_message = "period too old"
    capture.answer(Behaviour(200, body=response.SerializeToString()))
    world.use_for_a_day(1)
    assert world.run().outcome is delivery.Outcome.DELIVERED
    assert "2 points rejected: period too old" in (state.load_state(world.paths).last_outcome or "")


def test_transparency_log_records_body_before_sending(world: World, capture: CaptureServer) -> None:
    """The log holds the exact OTLP/JSON body (written before the request) and then the outcome."""
    from voicemode_otel.report import otlp_json

    world.use_for_a_day(1)
    world.run()
    enrolled, pending, outcome = list(transparency.read(world.paths))
    assert enrolled["event"] == "enrolled" and "body" not in enrolled
    assert pending["event"] == "pending" and outcome["event"] == "outcome"
    assert pending["endpoint"] == capture.url
    assert json.dumps(pending["body"]) == json.dumps(otlp_json.to_dict(capture.captured[0].request()))
    assert outcome["outcome"].startswith("delivered: 200")
    log_file = next(world.paths.transparency_dir.iterdir())
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"


def test_old_transparency_logs_are_pruned(world: World) -> None:
    """Log files older than 30 days are deleted on the next run."""
    world.paths.transparency_dir.mkdir(parents=True, exist_ok=True)
    old = world.paths.transparency_dir / "telemetry_2026-09-01.jsonl"
    old.write_text("{}\n")
    recent = world.paths.transparency_dir / "telemetry_2026-11-10.jsonl"
    recent.write_text("{}\n")
    world.now += timedelta(hours=1)
    world.run()
    assert not old.exists() and recent.exists()


def test_revoking_between_persist_and_send_sends_nothing(world: World, capture: CaptureServer) -> None:
    """Consent withdrawn after the report is written but before the request: no connection, data deleted."""
    world.use_for_a_day(1)

    def revoke() -> None:
        world.paths.env_file.write_text("VOICEMODE_TELEMETRY=false\n")

    result = world.run(before_send=revoke)
    assert result.outcome is delivery.Outcome.WITHDRAWN
    assert capture.connections == 0
    assert not world.paths.pending_file.exists()
    assert not world.paths.telemetry_id.exists()


def test_do_not_track_between_persist_and_send_pauses_without_deleting(
    world: World, capture: CaptureServer
) -> None:
    """DO_NOT_TRACK set mid-run stops the send but keeps the pending report and the ID (a pause)."""
    world.use_for_a_day(1)
    result = world.run(before_send=lambda: world.environ.__setitem__("DO_NOT_TRACK", "1"))
    assert result.outcome is delivery.Outcome.WITHDRAWN
    assert capture.connections == 0
    assert world.paths.pending_file.exists() and world.paths.telemetry_id.exists()


def test_second_process_skips_while_first_holds_the_lock(world: World, capture: CaptureServer) -> None:
    """Two VoiceMode processes never send at once: the second run sees the lock and skips."""
    import fcntl
    import os

    world.use_for_a_day(1)
    handle = os.open(world.paths.lock_file, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert world.run().outcome is delivery.Outcome.BUSY
    finally:
        os.close(handle)
    assert world.run().outcome is delivery.Outcome.DELIVERED


def test_no_endpoint_means_nothing_sent_and_says_so(paths: Paths) -> None:
    """With consent but no endpoint configured (the production URL is not set yet) nothing is sent."""
    environ = {"VOICEMODE_BASE_DIR": str(paths.base)}
    preference.set_preference(paths, True, environ, now=START)
    result = delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: START + timedelta(days=2)))
    assert result.outcome is delivery.Outcome.NO_ENDPOINT
    assert "no endpoint" in result.message
    assert not paths.pending_file.exists()


def test_run_after_opt_out_deletes_leftovers(world: World, capture: CaptureServer) -> None:
    """If the user opted out by editing voicemode.env, the next run deletes the ID and pending data."""
    world.use_for_a_day(1)
    capture.answer(Behaviour(503))
    world.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "200"
    world.run()
    assert world.paths.pending_file.exists()
    world.paths.env_file.write_text("VOICEMODE_TELEMETRY=no\n")
    assert world.run().outcome is delivery.Outcome.OFF
    assert not world.paths.telemetry_id.exists() and not world.paths.state_dir.exists()


def test_resend_uses_stored_bytes_even_if_logs_change(world: World, capture: CaptureServer) -> None:
    """A pending report is resent from its stored bytes, not rebuilt from (possibly changed) logs."""
    world.environ["OTEL_EXPORTER_OTLP_TIMEOUT"] = "200"
    world.use_for_a_day(1)
    capture.answer(Behaviour(503))
    world.run()
    for path in world.paths.conversations_dir.iterdir():
        path.unlink()
    world.now += timedelta(hours=2)
    world.run()
    bodies = {item.body for item in capture.captured}
    assert len(bodies) == 1
    assert capture.captured[-1].committed


def test_files_written_are_private(world: World) -> None:
    """Every file voicemode-otel writes is readable by the user alone."""
    world.use_for_a_day(1)
    world.run()
    for path in [world.paths.telemetry_id, world.paths.state_file, world.paths.env_file]:
        assert path.stat().st_mode & 0o077 == 0, path
    assert Path(world.paths.state_dir).stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "opt_out",
    [
        {"DO_NOT_TRACK": "1"},
        {"DO_NOT_TRACK": ""},
        {"OTEL_SDK_DISABLED": "true"},
        {"VOICEMODE_TELEMETRY": "false"},
        {"VOICEMODE_TELEMETRY": "ask"},
        {},
    ],
    ids=["dnt", "dnt-empty", "sdk-disabled", "false", "ask", "unset"],
)
def test_consent_matrix_end_to_end(paths: Paths, capture: CaptureServer, opt_out: dict[str, str]) -> None:
    """Any opt-out: with logs and an endpoint, start() and a run connect nowhere and create no ID or state."""
    import time

    import voicemode_otel

    testing.ConversationLogWriter(paths.conversations_dir).session(START - timedelta(days=2), 5)
    before = sorted(str(p.relative_to(paths.base)) for p in paths.base.rglob("*"))
    environ = {"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url, **opt_out}
    assert voicemode_otel.start(base_dir=paths.base, environ=environ) is False
    result = delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: START, force=True))
    assert result.outcome is delivery.Outcome.OFF
    time.sleep(0.2)  # give any (wrongly) started thread a chance to connect
    assert capture.connections == 0
    assert sorted(str(p.relative_to(paths.base)) for p in paths.base.rglob("*")) == before
    assert not paths.telemetry_id.exists()
