"""(b) The telemetry tools inside VoiceMode's own MCP server, over stdio, driven by the official `mcp` client.

Two servers, one scenario:

* ``installed``: voice-mode 9.0.1 exactly as installed from PyPI, started by a
  launcher that does what a host does — ``register(voice_mode.server.mcp)``,
  ``voicemode_otel.start()``, then VoiceMode's own ``main()``.
* ``patched``: the same files with docs/voicemode-integration.patch applied, run
  through VoiceMode's real ``voicemode`` command, as a user's MCP host runs it.

The user opted in a day ago and a report is due; the endpoint answers 503 with
``Retry-After: 1``, so VoiceMode's reporter thread keeps retrying while the
client works. Every VoiceMode tool, resource, template and prompt must still be
listed next to the telemetry ones; each telemetry tool must work; and an opt-out
through ``telemetry_set_preference`` must stop the running reporter at once.

The installed package reads ``~/.voicemode/voicemode.env`` into its environment
at import, so there the preference lives under a separate ``VOICEMODE_BASE_DIR``
(which VoiceMode's loader does not read); the patched one keeps the default
layout, which its config.py hunk makes safe — the last test shows why it is needed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import scenario
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from vmhost import WRITER, FrozenClock, console_script, host_environ, micros, patched_copy

from voicemode_otel import texts
from voicemode_otel.operations import preference
from voicemode_otel.store import Paths
from voicemode_otel.testing import Behaviour, CaptureServer

pytestmark = pytest.mark.timeout(600)

TELEMETRY_TOOLS = {
    "telemetry_check_status",
    "telemetry_forget",
    "telemetry_preview",
    "telemetry_set_preference",
}
TELEMETRY_RESOURCES = {"voicemode://telemetry/opt-in-prompt", "voicemode://telemetry/status"}
ALL_TOOLS = {"VOICEMODE_TOOLS_DISABLED": "none"}  # VoiceMode's blacklist mode: every tool it has
RETRY_SOON = Behaviour(status=503, headers=(("Retry-After", "1"),))

LAUNCHER = """
import voicemode_otel
from voice_mode.server import main, mcp
from voicemode_otel.mcp_tools import register

register(mcp)
voicemode_otel.start()
main()
"""

LISTING = """
import asyncio, json
from voice_mode.server import mcp

async def names():
    return {
        "tools": sorted(t.name for t in await mcp.list_tools()),
        "resources": sorted(str(r.uri) for r in await mcp.list_resources()),
        "templates": sorted(str(t.uri_template) for t in await mcp.list_resource_templates()),
        "prompts": sorted(p.name for p in await mcp.list_prompts()),
    }

print(json.dumps(asyncio.run(names())))
"""


@dataclass(frozen=True)
class Host:
    """One VoiceMode installation: its HOME, where voicemode-otel keeps its files, how to start it."""

    name: str
    home: Path
    paths: Paths
    environ: dict[str, str]
    command: list[str]


@pytest.fixture(scope="module")
def patched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return patched_copy(tmp_path_factory.mktemp("patched"))


def make_host(kind: str, root: Path, patched_tree: Path | None, endpoint: str) -> Host:
    home = root / "host"  # the test's own HOME (tests/conftest.py) stays apart
    home.mkdir()
    extra = {**ALL_TOOLS, "VOICEMODE_TELEMETRY_ENDPOINT": endpoint, "VOICEMODE_MCP_HOST": "claude-code"}
    if kind == "installed":
        base = home / "voicemode-data"
        environ = host_environ(home, VOICEMODE_BASE_DIR=str(base), **extra)
        return Host(kind, home, Paths(base), environ, [sys.executable, "-c", LAUNCHER])
    assert patched_tree is not None
    environ = host_environ(home, PYTHONPATH=str(patched_tree), **extra)
    return Host(kind, home, Paths(home / ".voicemode"), environ, [console_script("voicemode")])


def baseline(environ: dict[str, str], cwd: Path) -> dict[str, list[str]]:
    """What VoiceMode itself serves: the installed package, nothing registered, the same settings."""
    plain = {k: v for k, v in environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", LISTING],
        env=plain,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed: dict[str, list[str]] = json.loads(done.stdout)
    assert "converse" in listed["tools"] and not TELEMETRY_TOOLS & set(listed["tools"])
    return listed


def opted_in_a_day_ago_with_sessions(host: Host, root: Path) -> int:
    """Opted in 30 h ago; VoiceMode's own logger wrote two conversations since. Returns how many."""
    now = datetime.now(timezone.utc)
    preference.set_preference(host.paths, True, host.environ, now=now - timedelta(hours=30))
    build = scenario.Builder(seed=2)
    start = micros(now - timedelta(hours=6))
    conversations = [
        build.talk("morning", start, 4, 40),
        build.talk(
            "survey",
            start + 2 * 3600 * scenario.SECOND,
            3,
            30,
            stt=scenario.SURVEY_STT,
            transport="survey",
            tts_logs_transport=False,
        ),
    ]
    events = root / "events.json"
    events.write_text(json.dumps(scenario.Run("code/app", conversations).events()), encoding="utf-8")
    project = host.home / "code" / "app"
    project.mkdir(parents=True)
    wrote = FrozenClock(root).run(
        [sys.executable, str(WRITER), str(events)],
        host.environ,
        conversations[0].first,
        "Australia/Sydney",
        project,
    )
    assert wrote.returncode == 0, wrote.stderr
    return len(conversations)


@asynccontextmanager
async def session_with(host: Host) -> AsyncIterator[ClientSession]:
    parameters = StdioServerParameters(
        command=host.command[0], args=host.command[1:], env=host.environ, cwd=str(host.home)
    )
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer(default=RETRY_SOON) as server:
        yield server


@pytest.mark.parametrize("kind", ["installed", "patched"])
def test_voicemode_server_keeps_its_tools_and_the_opt_out_stops_its_reporter(
    kind: str, tmp_path: Path, patched: Path, capture: CaptureServer
) -> None:
    host = make_host(kind, tmp_path, patched if kind == "patched" else None, capture.url)
    own = baseline(host.environ, host.home)
    sessions = opted_in_a_day_ago_with_sessions(host, tmp_path)
    telemetry_id = host.paths.telemetry_id.read_text().strip()

    async def scenario_() -> None:
        async with session_with(host) as session:
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert tools == set(own["tools"]) | TELEMETRY_TOOLS
            resources = {str(r.uri) for r in (await session.list_resources()).resources}
            assert resources == set(own["resources"]) | TELEMETRY_RESOURCES
            templates = {
                str(t.uriTemplate) for t in (await session.list_resource_templates()).resourceTemplates
            }
            assert templates == set(own["templates"])
            prompts = {p.name for p in (await session.list_prompts()).prompts}
            assert prompts == set(own["prompts"])
            version = await session.read_resource("voice-mode:version")  # VoiceMode's own still answer
            assert "9.0.1" in version.contents[0].text  # type: ignore[union-attr]

            # The reporter VoiceMode started is sending the due report, and retrying.
            await _wait_for(lambda: len(capture.captured) >= 2, 90, "the reporter's first retry")
            [report] = {key for item in capture.captured for key in item.report_keys()}
            assert report[0] == telemetry_id

            status = await session.call_tool("telemetry_check_status", {})
            assert not status.isError and status.structuredContent is not None
            assert status.structuredContent["enabled"] is True
            assert status.structuredContent["telemetry_id"] == telemetry_id
            assert status.structuredContent["pending"] is not None
            as_resource = await session.read_resource("voicemode://telemetry/status")
            assert "ON" in as_resource.contents[0].text  # type: ignore[union-attr]
            prompt = await session.read_resource("voicemode://telemetry/opt-in-prompt")
            assert prompt.contents[0].text == texts.opt_in_prompt(str(host.paths.env_file))  # type: ignore[union-attr]

            preview = await session.call_tool("telemetry_preview", {})
            assert not preview.isError and preview.structuredContent is not None
            assert preview.structuredContent["sessions"] == sessions
            assert "already saved" in preview.structuredContent["text"]

            opted_out = await session.call_tool("telemetry_set_preference", {"enabled": False})
            assert not opted_out.isError and opted_out.structuredContent is not None
            assert opted_out.structuredContent["enabled"] is False
            assert "opted out" in opted_out.structuredContent["effective_reason"]
            assert "still ON" not in opted_out.structuredContent["text"]
            assert str(host.paths.telemetry_id) in opted_out.structuredContent["removed"]

            # The running reporter sees it: at most the report in flight finishes, then the
            # only requests are the erasure of this ID (the server still answers 503).
            sent = len(capture.captured)
            await asyncio.sleep(6.5)  # several retry intervals
            later = capture.captured[sent:]
            assert sum(1 for c in later if c.method == "POST") <= 1
            assert {c.path for c in later if c.method == "DELETE"} <= {f"/v1/installations/{telemetry_id}"}
            await _wait_for(
                lambda: not host.paths.telemetry_id.exists() and not host.paths.pending_file.exists(),
                10,
                "clean-up",
            )
            after = await session.call_tool("telemetry_check_status", {})
            assert after.structuredContent is not None and after.structuredContent["enabled"] is False
            assert "VOICEMODE_TELEMETRY=false" in host.paths.env_file.read_text()

            forgot = await session.call_tool("telemetry_forget", {})
            assert forgot.isError and "retried automatically" in _text(forgot)  # 503: still owed
            capture.default = Behaviour(204, body=b"")
            forgot = await session.call_tool("telemetry_forget", {})
            assert not forgot.isError, _text(forgot)
            assert "deleted every row" in _text(forgot)
            assert not host.paths.telemetry_id.exists() and not host.paths.erasure_file.exists()

    asyncio.run(scenario_())


def test_unpatched_voicemode_still_honours_an_opt_out_through_mcp(
    tmp_path: Path, capture: CaptureServer
) -> None:
    """Unpatched, VoiceMode copies voicemode.env into its environment at start, and the environment wins.

    The tool therefore also replaces the copied value in the server's own
    environment: the opt-out holds at once, the reporter does not enroll again,
    and the only request that follows is the erasure of the old ID. (The patch's
    config.py hunk is still wanted: without it a hand edit of voicemode.env is
    not seen by a running VoiceMode, and a project's ``.voicemode.env`` could
    opt a user in.)
    """
    home = tmp_path / "host"
    home.mkdir()
    environ = host_environ(home, VOICEMODE_TELEMETRY_ENDPOINT=capture.url, VOICEMODE_MCP_HOST="claude-code")
    host = Host(
        "installed, default layout",
        home,
        Paths(home / ".voicemode"),
        environ,
        [sys.executable, "-c", LAUNCHER],
    )
    opted_in_a_day_ago_with_sessions(host, tmp_path)
    first_id = host.paths.telemetry_id.read_text().strip()

    async def scenario_() -> None:
        async with session_with(host) as session:
            await _wait_for(lambda: len(capture.captured) >= 1, 90, "the reporter's first send")
            opted_out = await session.call_tool("telemetry_set_preference", {"enabled": False})
            assert opted_out.structuredContent is not None
            assert opted_out.structuredContent["effective_state"] == "off", opted_out.structuredContent
            assert "in this server's environment" in opted_out.structuredContent["text"]
            seen = len(capture.captured)
            await asyncio.sleep(3)  # the reporter's retry would have come by now
            assert not host.paths.telemetry_id.exists()
            after = [(c.method, c.path) for c in capture.captured[seen - 1 :] if c.method == "POST"]
            assert len(after) <= 1  # at most the send already under way when the tool ran
            status = await session.call_tool("telemetry_check_status", {})
            assert status.structuredContent is not None and status.structuredContent["state"] == "off"

    asyncio.run(scenario_())
    deletes = {c.path for c in capture.captured if c.method == "DELETE"}
    assert deletes == {f"/v1/installations/{first_id}"}
