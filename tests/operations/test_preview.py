"""`preview`, `preview --json` and the MCP tool: never wrong, never a crash, one screen for a person."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import helpers
import pytest
from conftest import files_under
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from voicemode_otel import testing
from voicemode_otel.contract import floor_hour, iso, shown
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths, state
from voicemode_otel.testing import Behaviour, CaptureServer

SCRIPT = str(Path(sys.executable).parent / "voicemode-otel")


def _sessions(paths: Paths, *hours_ago: float) -> None:
    """One three-round session starting ``h`` hours ago, for each ``h``."""
    now = datetime.now(timezone.utc)
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    for hours in hours_ago:
        writer.session((now - timedelta(hours=hours)).astimezone(testing.PACIFIC), 3)


def _opted_in(paths: Paths, hours_ago: float = 30) -> None:
    now = datetime.now(timezone.utc)
    preference.set_preference(
        paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)}, now=now - timedelta(hours=hours_ago)
    )


def _not_asked(paths: Paths, capture: CaptureServer) -> dict[str, str]:
    return {}


def _on(paths: Paths, capture: CaptureServer) -> dict[str, str]:
    _opted_in(paths)
    return {}


def _off(paths: Paths, capture: CaptureServer) -> dict[str, str]:
    preference.set_preference(paths, False, {"VOICEMODE_BASE_DIR": str(paths.base)})
    return {}


def _local(paths: Paths, capture: CaptureServer) -> dict[str, str]:
    preference.set_mode(paths, "local", {"VOICEMODE_BASE_DIR": str(paths.base)})
    paths.state_dir.mkdir(exist_ok=True)
    since = datetime.now(timezone.utc) - timedelta(hours=30)
    state.save_local(paths, state.DeliveryState(opted_in_at=since))
    return {}


def _erasure_owed(paths: Paths, capture: CaptureServer) -> dict[str, str]:
    helpers.delivered_report(paths, capture.url)
    capture.answer(Behaviour(503, body=b""))
    helpers.cli(paths.base, "disable", VOICEMODE_TELEMETRY_ENDPOINT=capture.url)
    assert paths.erasure_file.exists()
    shutil.rmtree(paths.conversations_dir)  # the delivered day's session: the matrix brings its own logs
    return {}


STATES: dict[str, tuple[Callable[[Paths, CaptureServer], dict[str, str]], dict[str, str]]] = {
    "not-asked": (_not_asked, {}),
    "on": (_on, {}),
    "off": (_off, {}),
    "local": (_local, {}),
    "do-not-track": (_on, {"DO_NOT_TRACK": "1"}),
    "otel-sdk-disabled": (_on, {"OTEL_SDK_DISABLED": "true"}),
    "otel-metrics-exporter-none": (_on, {"OTEL_METRICS_EXPORTER": "none"}),
    "erasure-owed": (_erasure_owed, {}),
}


def _body_sessions(body: dict[str, Any]) -> int:
    """Sessions in an OTLP/JSON body: the duration histogram's counts."""
    total = 0
    for resource in body.get("resourceMetrics", []):
        for scope in resource["scopeMetrics"]:
            for metric in scope["metrics"]:
                if metric["name"] == "voicemode.session.duration":
                    total += sum(int(p["count"]) for p in metric["histogram"]["dataPoints"])
    return total


def _without_exec_source(body: dict[str, Any]) -> dict[str, Any]:
    """The body with `voicemode.exec.source` dropped (the CLI says cli, the MCP tool mcp)."""
    copy = json.loads(json.dumps(body))
    for resource in copy.get("resourceMetrics", []):
        attributes = resource["resource"]["attributes"]
        resource["resource"]["attributes"] = [a for a in attributes if a["key"] != "voicemode.exec.source"]
    return copy


async def _mcp_preview(environ: dict[str, str]) -> Any:
    script = shutil.which("voicemode-otel", path=str(Path(sys.executable).parent))
    assert script
    parameters = StdioServerParameters(command=script, args=["mcp"], env=environ)
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await session.call_tool("telemetry_preview", {})


@pytest.mark.parametrize("logs", ["empty", "sessions"])
@pytest.mark.parametrize("name", list(STATES))
def test_preview_in_every_consent_state(paths: Paths, capture: CaptureServer, name: str, logs: str) -> None:
    """preview, preview --json and the MCP tool agree, exit 0, write nothing and never crash, in any state."""
    setup, extra = STATES[name]
    setup(paths, capture)
    if logs == "sessions":
        _sessions(paths, 20, 8, 5)  # all after the opt-in (30 h ago) and complete
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "VOICEMODE_BASE_DIR": str(paths.base),
        "VOICEMODE_TELEMETRY_ENDPOINT": capture.url,
        **extra,
    }
    before = {p: (paths.base / p).read_bytes() for p in files_under(paths.base)}
    connections = capture.connections
    text = helpers.cli(paths.base, "preview", **{k: v for k, v in environ.items() if k.isupper()})
    body = helpers.cli(paths.base, "preview", "--json", **{k: v for k, v in environ.items() if k.isupper()})
    tool = asyncio.run(_mcp_preview(environ))
    assert (text.returncode, text.stderr) == (0, ""), text.stderr
    assert (body.returncode, body.stderr) == (0, ""), body.stderr
    assert not tool.isError, tool.content
    assert capture.connections == connections  # nothing sent
    assert {p: (paths.base / p).read_bytes() for p in files_under(paths.base)} == before  # nothing written
    document = json.loads(body.stdout)
    assert tool.structuredContent is not None
    assert _without_exec_source(tool.structuredContent["otlp_json"]) == _without_exec_source(document)
    assert tool.structuredContent["sessions"] == _body_sessions(document)
    assert text.stdout.splitlines()[0] == tool.structuredContent["text"].splitlines()[0]
    expected = 0 if logs == "empty" else 3
    assert _body_sessions(document) == expected, text.stdout
    assert (document == {}) == (expected == 0)


def test_preview_right_after_a_delivery_shows_nothing_already_sent(
    paths: Paths, capture: CaptureServer
) -> None:
    """The hour a report was delivered, preview --json is `{}` and the summary says what was sent when."""
    helpers.delivered_report(paths, capture.url)
    delivered = state.load_state(paths).last_delivered_at
    assert delivered is not None
    assert json.loads(helpers.cli(paths.base, "preview", "--json").stdout) == {}
    summary = " ".join(helpers.cli(paths.base, "preview").stdout.split())
    assert "first period has not ended" not in summary and "Sessions:" not in summary
    assert f"delivered at {shown(delivered)}" in summary, summary


def test_preview_after_a_delivery_shows_only_what_is_new(paths: Paths, capture: CaptureServer) -> None:
    """What a delivered report held is never previewed again; only sessions since its end, or `{}`."""
    now = datetime.now(timezone.utc)
    _opted_in(paths, hours_ago=30)
    _sessions(paths, 20, 8)
    sent_at = now - timedelta(hours=3)
    result = delivery.run(
        delivery.RunConfig(
            paths,
            environ={"VOICEMODE_BASE_DIR": str(paths.base), "VOICEMODE_TELEMETRY_ENDPOINT": capture.url},
            clock=lambda: sent_at,
            exec_source="cli",
            force=True,
        )
    )
    assert result.outcome is delivery.Outcome.DELIVERED
    nothing_new = helpers.cli(paths.base, "preview", "--json")
    assert json.loads(nothing_new.stdout) == {}
    summary = " ".join(helpers.cli(paths.base, "preview").stdout.split())
    assert "first period has not ended" not in summary
    assert f"delivered at {shown(sent_at)}" in summary, summary
    _sessions(paths, 2.5)  # completes after the delivered period ended
    body = json.loads(helpers.cli(paths.base, "preview", "--json").stdout)
    assert _body_sessions(body) == 1
    point = body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0]
    assert int(point["startTimeUnixNano"]) == int(floor_hour(sent_at).timestamp()) * 10**9
    assert int(point["timeUnixNano"]) == int(floor_hour(now).timestamp()) * 10**9


def test_preview_right_after_enable_counts_what_is_never_sent(paths: Paths) -> None:
    """Just opted in: nothing would be sent yet; sessions from before the opt-in are counted as never sent."""
    _sessions(paths, 20, 8, 5)
    enabled = helpers.cli(paths.base, "enable")
    assert enabled.returncode == 0
    opted_in = state.load_state(paths).opted_in_at
    assert opted_in is not None
    assert json.loads(helpers.cli(paths.base, "preview", "--json").stdout) == {}
    summary = " ".join(helpers.cli(paths.base, "preview").stdout.split())
    assert f"3 sessions of the last 24 hours began before you opted in ({shown(opted_in)})" in summary
    assert "will never be sent" in summary


def _rich_day(paths: Paths) -> None:
    """A day with every kind of session: both transports, several providers, a long one."""
    now = datetime.now(timezone.utc)
    writer = testing.ConversationLogWriter(paths.conversations_dir)
    day = [(20, 2, "a"), (18, 30, "b"), (15, 7, "c"), (10, 12, "d"), (6, 1, "a"), (4, 4, "c")]
    for hours, rounds, kind in day:
        start = (now - timedelta(hours=hours)).astimezone(testing.PACIFIC)
        if kind == "a":
            writer.session(start, rounds)
        elif kind == "b":
            writer.session(start, rounds, round_seconds=150.0, tts=testing.OPENAI_TTS, stt=testing.OPENAI_STT)
        elif kind == "c":
            writer.session(start, rounds, transport="livekit", fallback_tts=testing.OPENAI_TTS)
        else:
            writer.session(start, rounds, stt=testing.CUSTOM_STT, trailing_tts=True)


@pytest.mark.parametrize("state_name", ["not-asked", "on"])
def test_preview_fits_one_screen_with_the_body_one_flag_away(
    paths: Paths, capture: CaptureServer, state_name: str
) -> None:
    """On an 80x24 terminal the summary fits; --json is exactly the body; --body is the summary, then it."""
    if state_name == "on":
        _opted_in(paths, hours_ago=30)
    _rich_day(paths)
    shown_text, code = helpers.pty_session(paths.base, None, "preview", columns=80, rows=24)
    assert code == 0
    lines = shown_text.replace("\r", "").rstrip("\n").split("\n")
    assert len(lines) <= 24, shown_text
    assert max(len(line) for line in lines) <= 80, shown_text
    assert "resourceMetrics" not in shown_text
    assert "Sessions: 6" in shown_text
    body = helpers.cli(paths.base, "preview", "--json").stdout
    assert _body_sessions(json.loads(body)) == 6
    both = helpers.cli(paths.base, "preview", "--body").stdout
    summary = helpers.cli(paths.base, "preview").stdout
    assert both.startswith(summary)
    assert both[len(summary) :].startswith("\nOTLP/JSON body:\n")
    assert json.loads(both[len(summary) :].split("OTLP/JSON body:\n", 1)[1]) == json.loads(body)


def test_the_summary_names_the_period_and_everything_sent_with_it(paths: Paths) -> None:
    """The one-screen summary still says the period, the ID that goes with it and every resource attribute."""
    _opted_in(paths, hours_ago=30)
    _rich_day(paths)
    summary = helpers.cli(paths.base, "preview").stdout
    body = json.loads(helpers.cli(paths.base, "preview", "--json").stdout)
    resource = {
        a["key"]: a["value"]["stringValue"] for a in body["resourceMetrics"][0]["resource"]["attributes"]
    }
    flat = " ".join(summary.split())
    for key, value in resource.items():
        assert f"{key}={value}" in flat, (key, summary)
    point = body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0]
    start = datetime.fromtimestamp(int(point["startTimeUnixNano"]) // 10**9, timezone.utc)
    assert iso(start) in summary
