"""(a) A week of VoiceMode's own logs in Sydney, reported exactly.

VoiceMode's real ``ConversationLogger`` (voice-mode 9.0.1, schema v4) writes the
week of scenario.py — one process per server run, in its project's directory —
under libfaketime with ``TZ=Australia/Sydney``, so every timestamp, file name and
conversation ID is VoiceMode's own. The user opts in with ``voicemode-otel enable``
during the week. What the first report must hold is computed here from the
scenario and the contract's boundaries; ``voicemode-otel preview --json`` must be
exactly that, and a real send to the local Worker must store exactly that.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import scenario
from localworker import LocalWorker
from vmhost import ROOT, SYDNEY, WRITER, FrozenClock, at_micros, console_script, host_environ, micros

from voicemode_otel.delivery import run as delivery
from voicemode_otel.store import Paths, transparency

pytestmark = pytest.mark.e2e

CONTRACT = json.loads((ROOT / "voicemode_otel" / "contract.json").read_text(encoding="utf-8"))
DURATION, EXCHANGES, PROVIDERS = CONTRACT["metrics"]
ZONE = "Australia/Sydney"
Cell = tuple[str, str | None, str | None, str | None, str | None]


def bin_label(metric: str, value: float) -> str:
    """The bin of ``value``: buckets are upper-bound inclusive (OpenTelemetry's explicit buckets)."""
    spec = CONTRACT["metrics"][metric]
    return str(spec["bins"][sum(1 for bound in spec["boundaries"] if value > bound)])


def expected_cells(conversations: list[scenario.Conversation]) -> Counter[Cell]:
    cells: Counter[Cell] = Counter()
    for conversation in conversations:
        cells[
            (DURATION, conversation.transport, bin_label(DURATION, conversation.duration_seconds), None, None)
        ] += 1
        cells[
            (EXCHANGES, conversation.transport, bin_label(EXCHANGES, conversation.exchanges), None, None)
        ] += 1
        for role in ("tts", "stt"):
            for name in conversation.providers(role):
                cells[(PROVIDERS, None, None, role, name)] += 1
    return cells


def body_cells(body: dict[str, Any]) -> Counter[Cell]:
    """The non-empty cells of an OTLP/JSON body, read straight from its JSON."""
    cells: Counter[Cell] = Counter()
    [resource] = body["resourceMetrics"]
    for scope in resource["scopeMetrics"]:
        for metric in scope["metrics"]:
            name = metric["name"]
            if "histogram" in metric:
                for point in metric["histogram"]["dataPoints"]:
                    [attribute] = point["attributes"]
                    transport = attribute["value"]["stringValue"]
                    for label, count in zip(
                        CONTRACT["metrics"][name]["bins"], point["bucketCounts"], strict=True
                    ):
                        if int(count):
                            cells[(name, transport, label, None, None)] += int(count)
            else:
                for point in metric["sum"]["dataPoints"]:
                    attrs = {a["key"]: a["value"]["stringValue"] for a in point["attributes"]}
                    role, provider = attrs["voicemode.provider.role"], attrs["voicemode.provider.name"]
                    cells[(name, None, None, role, provider)] += int(point["asInt"])
    return cells


@dataclass(frozen=True)
class LivedWeek:
    home: Path
    paths: Paths
    week: scenario.Week
    now: datetime
    environ: dict[str, str]
    preview_json: dict[str, Any]
    preview_text: str


@pytest.fixture(scope="module")
def lived(tmp_path_factory: pytest.TempPathFactory) -> LivedWeek:
    """The week, lived: VoiceMode runs and the opt-in in time order, then both previews at "now"."""
    root = tmp_path_factory.mktemp("sydney")
    home = root / "home"
    clock = FrozenClock(root)
    now = datetime.now(timezone.utc)
    week = scenario.week(now)
    environ = host_environ(home, VOICEMODE_MCP_HOST="claude-code")
    opted_in = False
    for number, run in enumerate(week.runs):
        if not opted_in and run.start > week.opted_in:
            enabled = clock.run(
                [console_script("voicemode-otel"), "enable"], environ, week.opted_in, ZONE, home
            )
            assert enabled.returncode == 0, enabled.stderr
            opted_in = True
        project = home / run.project
        project.mkdir(parents=True, exist_ok=True)
        events = root / f"run-{number}.json"
        events.write_text(json.dumps(run.events()), encoding="utf-8")
        wrote = clock.run([sys.executable, str(WRITER), str(events)], environ, run.start, ZONE, project)
        assert wrote.returncode == 0, wrote.stderr
        assert json.loads(wrote.stdout) == {"schema_version": 4}
    assert opted_in
    at = micros(now)
    preview_json = clock.run([console_script("voicemode-otel"), "preview", "--json"], environ, at, ZONE, home)
    assert preview_json.returncode == 0, preview_json.stderr
    preview_text = clock.run([console_script("voicemode-otel"), "preview"], environ, at, ZONE, home)
    assert preview_text.returncode == 0, preview_text.stderr
    return LivedWeek(
        home,
        Paths(home / ".voicemode"),
        week,
        now,
        environ,
        json.loads(preview_json.stdout),
        preview_text.stdout,
    )


def _logged(paths: Paths) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every line VoiceMode wrote, by conversation ID, with the file it is in."""
    by_id: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in sorted(paths.conversations_dir.glob("exchanges_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            by_id.setdefault(record["conversation_id"], []).append((path.name, record))
    return by_id


def test_voicemode_logged_the_scenario_with_its_own_ids_times_and_files(lived: LivedWeek) -> None:
    """One ID per scenario conversation (VoiceMode's own rules), Sydney timestamps, local-date files, v4."""
    logged = _logged(lived.paths)
    expected = {
        c.name: [at_micros(u.at).astimezone(SYDNEY).isoformat() for u in c.utterances]
        for c in lived.week.conversations
    }
    found = {cid: [record["timestamp"] for _, record in lines] for cid, lines in logged.items()}
    assert sorted(found.values()) == sorted(expected.values())
    names = {tuple(stamps): name for name, stamps in expected.items()}
    by_name = {names[tuple(stamps)]: cid for cid, stamps in found.items()}
    for name, cid in by_name.items():
        start = at_micros(next(c for c in lived.week.conversations if c.name == name).first).astimezone(
            SYDNEY
        )
        assert re.fullmatch(rf"conv_{start:%Y%m%d_%H%M%S}_[a-z0-9]{{6}}", cid), (name, cid)
    records = [record for lines in logged.values() for _, record in lines]
    assert {record["version"] for record in records} == {4}
    assert all(r["timestamp"].endswith(("+10:00", "+11:00")) for r in records)
    for lines in logged.values():
        for file_name, record in lines:
            assert file_name == f"exchanges_{record['timestamp'][:10]}.jsonl"
    midnight = logged[by_name["across midnight"]]
    assert len({file_name for file_name, _ in midnight}) == 2  # one ID, two local dates
    tts = [r for r in records if r["type"] == "tts" and r["metadata"].get("provider") == "kokoro"]
    assert tts and all(r["metadata"]["voice_requested"] == "af_sky" for r in tts)
    assert {r["metadata"].get("transport") for r in records if r["type"] == "stt"} == {
        "local",
        "livekit",
        "survey",
    }
    assert any(r["text"] == "[no speech detected]" for r in records)


def test_the_scenario_covers_what_it_claims(lived: LivedWeek) -> None:
    """Guards the scenario itself: every case the report must handle is in the counted set or out of it."""
    reported = {c.name for c in lived.week.reported()}
    every = {c.name for c in lived.week.conversations}
    assert every - reported == {"done before opt-in", "straddles opt-in", "ends after the period"}
    straddle = next(c for c in lived.week.conversations if c.name == "straddles opt-in")
    assert straddle.first < lived.week.opted_in and lived.week.period_start <= straddle.completed
    cells = expected_cells(lived.week.reported())
    assert {t for (_, t, _, _, _) in cells if t} == {"local", "livekit", "survey"}
    for metric in (DURATION, EXCHANGES):
        missing = set(CONTRACT["metrics"][metric]["bins"]) - {b for (m, _, b, _, _) in cells if m == metric}
        assert missing <= {"0"}, missing  # every bin but "0 exchanges" (no log line means no session)


def test_preview_json_is_exactly_the_expected_report(lived: LivedWeek) -> None:
    """`voicemode-otel preview --json` holds exactly the cells computed from the scenario, for the period."""
    assert body_cells(lived.preview_json) == expected_cells(lived.week.reported())
    [resource] = lived.preview_json["resourceMetrics"]
    attributes = {a["key"]: a["value"]["stringValue"] for a in resource["resource"]["attributes"]}
    assert attributes["service.version"] == "9.0.1"  # VoiceMode's own version, from its installed metadata
    assert attributes["voicemode.exec.source"] == "cli"
    assert attributes["voicemode.mcp.host"] == "claude-code"
    stamps = {
        (int(point["startTimeUnixNano"]), int(point["timeUnixNano"]))
        for scope in resource["scopeMetrics"]
        for metric in scope["metrics"]
        for point in (metric.get("histogram") or metric["sum"])["dataPoints"]
    }
    assert stamps == {(lived.week.period_start * 1000, lived.week.period_end * 1000)}


def test_preview_summary_counts_the_records_by_schema_version(lived: LivedWeek) -> None:
    """The human preview shows every record VoiceMode wrote, all schema v4, and the session count."""
    written = sum(len(c.utterances) for c in lived.week.conversations)
    assert f"Log records read, by schema version: v4 {written}\n" in lived.preview_text
    assert "newer or unlike" not in lived.preview_text
    assert f"Sessions: {len(lived.week.reported())} (" in lived.preview_text


@pytest.fixture(scope="module")
def worker() -> Iterator[LocalWorker]:
    with LocalWorker(stats_min_installations=1) as started:
        yield started


def test_a_real_send_stores_exactly_the_expected_rows(lived: LivedWeek, worker: LocalWorker) -> None:
    """The real sender at "now" sends the previewed body exactly; D1 stores exactly the expected cells."""
    environ = {**lived.environ, "VOICEMODE_TELEMETRY_ENDPOINT": worker.metrics_url}
    result = delivery.run(
        delivery.RunConfig(lived.paths, environ=environ, clock=lambda: lived.now, exec_source="cli")
    )
    assert result.outcome is delivery.Outcome.DELIVERED, result.message
    [sent] = [entry["body"] for entry in transparency.read(lived.paths) if "body" in entry]
    assert sent == lived.preview_json
    telemetry_id = lived.paths.telemetry_id.read_text().strip()
    rows = worker.query(
        "SELECT metric, transport, bin, role, provider, sessions FROM report_cells WHERE telemetry_id = ?",
        (telemetry_id,),
    )
    stored = Counter(
        {(r["metric"], r["transport"], r["bin"], r["role"], r["provider"]): r["sessions"] for r in rows}
    )
    assert stored == expected_cells(lived.week.reported())
    [report] = worker.query(
        "SELECT period_start, period_end FROM reports WHERE telemetry_id = ?", (telemetry_id,)
    )
    assert report == {
        "period_start": lived.week.period_start // 1_000_000,
        "period_end": lived.week.period_end // 1_000_000,
    }
    [installation] = worker.query(
        "SELECT service_version, mcp_host, exec_source FROM installations WHERE telemetry_id = ?",
        (telemetry_id,),
    )
    assert installation == {"service_version": "9.0.1", "mcp_host": "claude-code", "exec_source": "cli"}
    transports = Counter(c.transport for c in lived.week.reported())
    assert worker.stats(7)["transport"] == dict(transports)
    with urllib.request.urlopen(f"{worker.base_url}/?days=7", timeout=30) as response:
        page = response.read().decode()
    assert re.search(rf'<tr data-key="survey" data-count="{transports["survey"]}">', page)
