"""End to end: the real sender → a real `wrangler dev` on 127.0.0.1 (local workerd + D1) → rows and stats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from localworker import LocalWorker
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics.export import MetricsData

from voicemode_otel import testing
from voicemode_otel.contract import Period, floor_hour
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.logs import Session
from voicemode_otel.operations import preference
from voicemode_otel.report import otlp_json, pipeline, privacy
from voicemode_otel.store import Paths, state, transparency

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    """One local Worker for the module, with every stats cell visible (one installation per test)."""
    with LocalWorker(stats_min_installations=1) as started:
        yield started


def _install(root: Path, worker: LocalWorker, name: str, **extra: str) -> tuple[Paths, dict[str, str]]:
    paths = Paths(root / name)
    environ = {
        "VOICEMODE_BASE_DIR": str(paths.base),
        "VOICEMODE_TELEMETRY_ENDPOINT": worker.metrics_url,
        "VOICEMODE_MCP_HOST": "cursor",
        **extra,
    }
    return paths, environ


def _known_day(paths: Paths, now: datetime) -> list[Session]:
    """Four sessions in the last day: local and LiveKit, Kokoro and OpenAI, one across local midnight."""
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    day = now - timedelta(hours=20)
    tokyo = timezone(timedelta(hours=9))
    return [
        writer.session(day.astimezone(testing.PACIFIC), 2),
        writer.session((day + timedelta(hours=2)).astimezone(testing.PACIFIC), 14, round_seconds=80.0),
        writer.session(
            (day + timedelta(hours=5)).astimezone(tokyo), 6, transport="livekit", tts=testing.OPENAI_TTS
        ),
        writer.session(
            (day + timedelta(hours=9)).astimezone(tokyo),
            3,
            fallback_tts=testing.OPENAI_TTS,
            stt=testing.OPENAI_STT,
        ),
    ]


def _expected_cells(sessions: list[Session]) -> set[tuple[object, ...]]:
    """The report's non-empty cells, computed from the sessions without the package's pipeline."""
    spec = contract.load()
    cells: dict[tuple[object, ...], int] = {}
    for session in sessions:
        for name, value in (
            (contract.DURATION, session.duration_seconds),
            (contract.EXCHANGES, session.exchanges),
        ):
            metric = spec.metric(name)
            label = metric.bins[sum(1 for bound in metric.boundaries if value > bound)]
            key = (name, session.transport, label, None, None)
            cells[key] = cells.get(key, 0) + 1
        for role, names in (("tts", session.tts_providers), ("stt", session.stt_providers)):
            for provider in names:
                key = (contract.PROVIDERS, None, None, role, provider)
                cells[key] = cells.get(key, 0) + 1
    return {(*key, count) for key, count in cells.items()}


def _stored_cells(worker: LocalWorker, telemetry_id: str) -> set[tuple[object, ...]]:
    rows = worker.query(
        "SELECT metric, transport, bin, role, provider, sessions FROM report_cells WHERE telemetry_id = ?",
        (telemetry_id,),
    )
    return {(r["metric"], r["transport"], r["bin"], r["role"], r["provider"], r["sessions"]) for r in rows}


def _send(paths: Paths, environ: dict[str, str], now: datetime) -> delivery.RunResult:
    return delivery.run(delivery.RunConfig(paths, environ=environ, clock=lambda: now, host_version="8.12.0"))


def test_known_logs_become_exactly_these_rows_and_stats(worker: LocalWorker, tmp_path: Path) -> None:
    """The real sender's report for known logs is stored as exactly the expected D1 rows and stats."""
    now = datetime.now(timezone.utc)
    paths, environ = _install(tmp_path, worker, "known")
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=26))
    sessions = _known_day(paths, now)
    before = worker.stats(7)
    result = _send(paths, environ, now)
    assert result.outcome is delivery.Outcome.DELIVERED, result.message
    telemetry_id = paths.telemetry_id.read_text().strip()

    [report] = worker.query(
        "SELECT period_start, period_end FROM reports WHERE telemetry_id = ?", (telemetry_id,)
    )
    period_end = floor_hour(now)
    assert report == {
        "period_start": int((floor_hour(now - timedelta(hours=26)) + timedelta(hours=1)).timestamp()),
        "period_end": int(period_end.timestamp()),
    }
    assert _stored_cells(worker, telemetry_id) == _expected_cells(sessions)
    [installation] = worker.query(
        "SELECT service_version, mcp_host, exec_source FROM installations WHERE telemetry_id = ?",
        (telemetry_id,),
    )
    assert installation == {"service_version": "8.12.0", "mcp_host": "cursor", "exec_source": "mcp"}

    after = worker.stats(7)
    assert after["installations"] == before["installations"] + 1
    assert after["reports"] == before["reports"] + 1
    for metric in (contract.DURATION, contract.EXCHANGES):
        for label in contract.load().metric(metric).bins:
            added = after["metrics"][metric]["bins"].get(label, 0) - before["metrics"][metric]["bins"].get(
                label, 0
            )
            expected = sum(
                count for (m, _, b, _, _, count) in _expected_cells(sessions) if m == metric and b == label
            )
            assert added == expected, (metric, label)


def test_resending_the_same_pending_report_adds_nothing(worker: LocalWorker, tmp_path: Path) -> None:
    """A report resent with the same bytes (the ack was lost) is acknowledged and stores nothing new."""
    now = datetime.now(timezone.utc)
    paths, environ = _install(tmp_path, worker, "resend")
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=26))
    _known_day(paths, now)
    assert _send(paths, environ, now).outcome is delivery.Outcome.DELIVERED
    telemetry_id = paths.telemetry_id.read_text().strip()
    cells = _stored_cells(worker, telemetry_id)
    reports = worker.query("SELECT COUNT(*) AS n FROM reports")[0]["n"]
    sent = [entry for entry in transparency.read(paths) if "body" in entry]
    # Put the same report back as pending, as if the 200 had never arrived.
    body = otlp_json.from_json(json.dumps(sent[0]["body"])).SerializeToString()
    settled = state.load_state(paths)
    period = Period(
        datetime.fromisoformat(sent[0]["period_start"].replace("Z", "+00:00")),
        datetime.fromisoformat(sent[0]["period_end"].replace("Z", "+00:00")),
    )
    state.save_pending(paths, state.PendingReport(period, body, 4, now))
    state.save_state(paths, replace(settled, acked_until=period.start))
    posts = worker.logged_requests("POST", "/v1/metrics")
    assert _send(paths, environ, now).outcome is delivery.Outcome.DELIVERED
    assert worker.logged_requests("POST", "/v1/metrics") == posts + 1
    assert worker.query("SELECT COUNT(*) AS n FROM reports")[0]["n"] == reports
    assert _stored_cells(worker, telemetry_id) == cells


def _export_raw(worker: LocalWorker, metrics: MetricsData) -> ExportMetricsServiceResponse:
    """Send with the real OTLP exporter class, reading the Worker's response through a requests hook."""
    import requests

    responses: list[requests.Response] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, *a, **k: responses.append(response))
    exporter = OTLPMetricExporter(endpoint=worker.metrics_url, session=session, timeout=30)
    exporter.export(metrics)
    exporter.shutdown()
    [response] = responses
    assert response.status_code == 200, response.status_code
    return ExportMetricsServiceResponse.FromString(response.content)


def _violations(now: datetime) -> dict[str, MetricsData]:
    """Bodies that break the privacy promise in different ways, built with the SDK."""
    from opentelemetry.sdk.metrics.export import HistogramDataPoint

    period = Period(floor_hour(now) - timedelta(hours=24), floor_hour(now))
    end = period.end - timedelta(hours=2)
    sessions = [
        Session(
            f"c{i}",
            end - timedelta(minutes=3 * i + 1),
            end,
            i + 1,
            "local",
            frozenset({"kokoro"}),
            frozenset(),
        )
        for i in range(3)
    ]
    resource = {"service.name": "voicemode", "voicemode.telemetry.id": "3f0c7e2a-5b1d-4c9e-8a7f-6d5e4c3b2a19"}
    clean = privacy.apply(pipeline.record_sessions(sessions, resource), period)
    raw = pipeline.record_sessions(sessions, resource)  # sum, min/max and real timestamps still in it
    first = clean.resource_metrics[0].scope_metrics[0].metrics[0]
    point = first.data.data_points[0]
    with_sum = replace(first, data=replace(first.data, data_points=[replace(point, sum=123.0)]))
    extra_attribute = replace(
        first,
        data=replace(
            first.data, data_points=[replace(point, attributes={**point.attributes, "host.name": "laptop"})]
        ),
    )

    def swap(metric: object) -> MetricsData:
        scope = clean.resource_metrics[0].scope_metrics[0]
        metrics = [metric, *scope.metrics[1:]]
        return replace(
            clean,
            resource_metrics=[
                replace(clean.resource_metrics[0], scope_metrics=[replace(scope, metrics=metrics)])  # type: ignore[list-item]
            ],
        )

    from opentelemetry.sdk.resources import Resource

    extra_resource = replace(
        clean,
        resource_metrics=[
            replace(clean.resource_metrics[0], resource=Resource({**resource, "host.name": "alices-laptop"}))
        ],
    )
    assert isinstance(point, HistogramDataPoint)
    return {
        "raw SDK output (sum, min, max, real timestamps)": raw,
        "a histogram sum": swap(with_sum),
        "an extra point attribute": swap(extra_attribute),
        "an extra resource attribute": extra_resource,
    }


@pytest.mark.parametrize("kind", list(_violations(datetime.now(timezone.utc))))
def test_privacy_violating_bodies_are_refused_and_store_nothing(worker: LocalWorker, kind: str) -> None:
    """Bodies with sum/min/max or extra attributes, sent by the real exporter class: refused, no rows."""
    metrics = _violations(datetime.now(timezone.utc))[kind]
    assert encode_metrics(metrics).resource_metrics  # the exporter will send something decodable
    before = worker.query(
        "SELECT (SELECT COUNT(*) FROM reports) AS r, (SELECT COUNT(*) FROM installations) AS i"
    )
    response = _export_raw(worker, metrics)
    assert response.partial_success.rejected_data_points > 0
    assert response.partial_success.error_message
    after = worker.query(
        "SELECT (SELECT COUNT(*) FROM reports) AS r, (SELECT COUNT(*) FROM installations) AS i"
    )
    assert after == before


def test_do_not_track_means_the_worker_receives_nothing(worker: LocalWorker, tmp_path: Path) -> None:
    """An opted-in user with DO_NOT_TRACK=1: start and a delivery run make no request at all."""
    now = datetime.now(timezone.utc)
    paths, environ = _install(tmp_path, worker, "dnt")
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=26))
    _known_day(paths, now)
    environ["DO_NOT_TRACK"] = "1"
    posts = worker.logged_requests("POST", "/v1/metrics")
    import voicemode_otel

    assert voicemode_otel.start(base_dir=paths.base, environ=environ) is False
    assert _send(paths, environ, now).outcome is delivery.Outcome.OFF
    assert worker.logged_requests("POST", "/v1/metrics") == posts


def test_forget_deletes_every_row_of_the_installation(worker: LocalWorker, tmp_path: Path) -> None:
    """`forget` against the real Worker removes the installation's rows and then the local ID."""
    from voicemode_otel.delivery import forget

    now = datetime.now(timezone.utc)
    paths, environ = _install(tmp_path, worker, "forget")
    preference.set_preference(paths, True, environ, now=now - timedelta(hours=26))
    _known_day(paths, now)
    assert _send(paths, environ, now).outcome is delivery.Outcome.DELIVERED
    telemetry_id = paths.telemetry_id.read_text().strip()
    result = forget(paths, environ)
    assert result.ok, result.describe()
    left = worker.query(
        "SELECT (SELECT COUNT(*) FROM reports WHERE telemetry_id = ?1) AS reports,"
        " (SELECT COUNT(*) FROM installations WHERE telemetry_id = ?1) AS installations",
        (telemetry_id,),
    )
    assert left == [{"reports": 0, "installations": 0}]
    assert not paths.telemetry_id.exists()


def _rows_naming(worker: LocalWorker, text: str) -> dict[str, int]:
    """Every D1 table's rows that hold ``text`` in any column (the whole database is searched)."""
    tables = [r["name"] for r in worker.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found = {}
    for table in tables:
        if table.startswith(("sqlite_", "_cf_", "d1_")):
            continue
        rows = worker.query(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from sqlite_master
        hits = sum(1 for row in rows if any(text in str(value) for value in row.values()))
        if hits:
            found[table] = hits
    return found


def test_disable_erases_everywhere_even_after_an_outage(tmp_path: Path) -> None:
    """Send → Worker down → disable → next run with the Worker back: no row names the ID.

    Nothing but the DELETE is ever sent for the opted-out ID (the Worker's own request log),
    and the published numbers do not move: what the report added stays in the ID-free
    rollups until it ages out, so no reader can tell the erasure from the numbers.
    """
    import subprocess
    import sys

    from localworker import free_port

    from voicemode_otel.delivery import erasure

    now = datetime.now(timezone.utc)
    state_dir = tmp_path / "d1"
    state_dir.mkdir()
    port = free_port()
    worker = LocalWorker(port=port, state_dir=state_dir, stats_min_installations=1).start()
    try:
        paths, environ = _install(tmp_path, worker, "erase")
        preference.set_preference(paths, True, environ, now=now - timedelta(hours=26))
        _known_day(paths, now)
        assert _send(paths, environ, now).outcome is delivery.Outcome.DELIVERED
        telemetry_id = paths.telemetry_id.read_text().strip()
        assert _rows_naming(worker, telemetry_id)
        assert worker.stats(30)["installations"] == 1
    finally:
        worker.stop()

    script = str(Path(sys.executable).parent / "voicemode-otel")
    disabled = subprocess.run(
        [script, "disable"],
        env={**environ, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert disabled.returncode == 0, disabled.stdout + disabled.stderr
    assert "not yet confirmed" in disabled.stdout
    assert [r.telemetry_id for r in erasure.load(paths)] == [telemetry_id]

    worker = LocalWorker(port=port, state_dir=state_dir, stats_min_installations=1).start()
    try:
        later = now + timedelta(hours=2)  # the next run after the erasure's 1 h backoff
        assert _send(paths, environ, later).outcome is delivery.Outcome.OFF
        assert not paths.erasure_file.exists()
        assert _rows_naming(worker, telemetry_id) == {}
        assert worker.stats(30)["installations"] == 1
        assert worker.logged_requests("POST", "/v1/metrics") == 0  # this run: only the DELETE
        assert worker.logged_requests("DELETE", f"/v1/installations/{telemetry_id}") == 1
    finally:
        worker.stop()
