"""MCP: the official `mcp` SDK client drives `voicemode-otel mcp` over stdio; registration on a host."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from voicemode_otel import texts
from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer

TOOLS = ["telemetry_check_status", "telemetry_forget", "telemetry_preview", "telemetry_set_preference"]
RESOURCES = ["voicemode://telemetry/opt-in-prompt", "voicemode://telemetry/status"]


def _server_command() -> str:
    script = shutil.which("voicemode-otel", path=str(Path(sys.executable).parent))
    assert script, "the console script is installed with the package"
    return script


@asynccontextmanager
async def stdio_session(environ: dict[str, str]) -> AsyncIterator[ClientSession]:
    """A real subprocess `voicemode-otel mcp`, spoken to by the official SDK's stdio client."""
    parameters = StdioServerParameters(command=_server_command(), args=["mcp"], env=environ)
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def _base_env(paths: Paths, **extra: str) -> dict[str, str]:
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}
    environ.update(extra)
    return environ


def test_stdio_server_lists_calls_and_reads_everything(paths: Paths) -> None:
    """Exact tool and resource names; each tool and resource works; files change as promised."""

    async def scenario() -> None:
        async with stdio_session(_base_env(paths)) as session:
            tools = sorted(tool.name for tool in (await session.list_tools()).tools)
            assert tools == TOOLS
            resources = sorted(str(r.uri) for r in (await session.list_resources()).resources)
            assert resources == RESOURCES

            status = await session.call_tool("telemetry_check_status", {})
            assert not status.isError
            assert status.structuredContent is not None
            assert status.structuredContent["enabled"] is False
            assert status.structuredContent["state"] == "not-asked"
            assert "telemetry_set_preference" in status.structuredContent["instructions"]
            assert status.structuredContent["collected"] == texts.collected_lines()

            prompt = await session.read_resource("voicemode://telemetry/opt-in-prompt")
            assert prompt.contents[0].text == texts.opt_in_prompt(str(paths.env_file))  # type: ignore[union-attr]
            as_resource = await session.read_resource("voicemode://telemetry/status")
            assert as_resource.contents[0].text == status.structuredContent["text"]  # type: ignore[union-attr]

            enabled = await session.call_tool("telemetry_set_preference", {"enabled": True})
            assert not enabled.isError
            telemetry_id = paths.telemetry_id.read_text().strip()
            assert enabled.structuredContent is not None
            assert enabled.structuredContent["telemetry_id"] == telemetry_id
            assert "VOICEMODE_TELEMETRY=true" in paths.env_file.read_text()
            after = await session.call_tool("telemetry_check_status", {})
            assert after.structuredContent is not None
            assert after.structuredContent["enabled"] is True
            assert after.structuredContent["instructions"] is None

            preview = await session.call_tool("telemetry_preview", {})
            assert not preview.isError
            assert preview.structuredContent is not None
            assert preview.structuredContent["sessions"] == 0

            disabled = await session.call_tool("telemetry_set_preference", {"enabled": False})
            assert disabled.structuredContent is not None
            assert str(paths.telemetry_id) in disabled.structuredContent["removed"]
            assert not paths.telemetry_id.exists()
            assert "VOICEMODE_TELEMETRY=false" in paths.env_file.read_text()

            forgot = await session.call_tool("telemetry_forget", {})
            assert not forgot.isError
            assert "nothing to delete" in _text(forgot)

    asyncio.run(scenario())


def test_opt_in_refused_under_do_not_track(paths: Paths) -> None:
    """With DO_NOT_TRACK=1 the tool answers with a tool error and touches no file."""

    async def scenario() -> None:
        async with stdio_session(_base_env(paths, DO_NOT_TRACK="1")) as session:
            result = await session.call_tool("telemetry_set_preference", {"enabled": True})
            assert result.isError
            assert "DO_NOT_TRACK=1" in _text(result)

    asyncio.run(scenario())
    assert not paths.base.exists()


def _opted_in_with_one_delivery_to(paths: Paths, url: str) -> str:
    """Opted in, one report recorded as delivered to ``url`` (an opt-out then owes it an erasure); the ID."""
    from dataclasses import replace

    from voicemode_otel.operations import preference
    from voicemode_otel.store import state

    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    current = state.load_state(paths)
    state.save_state(paths, replace(current, last_delivered_at=current.opted_in_at, delivered_to=(url,)))
    return paths.telemetry_id.read_text().strip()


def test_forget_against_a_server_and_with_it_down(paths: Paths, capture: CaptureServer) -> None:
    """Forget asks DELETE /v1/installations/{id}; with the server down the erasure stays owed, then goes."""
    from voicemode_otel.delivery import erasure
    from voicemode_otel.testing import Behaviour

    telemetry_id = _opted_in_with_one_delivery_to(paths, capture.url)
    capture.answer(Behaviour(503, body=b""))

    async def down() -> None:
        async with stdio_session(_base_env(paths, VOICEMODE_TELEMETRY_ENDPOINT=capture.url)) as session:
            result = await session.call_tool("telemetry_forget", {})
            assert result.isError
            assert "503" in _text(result) and "retried automatically" in _text(result)

    asyncio.run(down())
    assert not paths.telemetry_id.exists()  # the ID lives on only in the erasure record
    assert [r.telemetry_id for r in erasure.load(paths)] == [telemetry_id]

    async def up() -> None:
        async with stdio_session(_base_env(paths, VOICEMODE_TELEMETRY_ENDPOINT=capture.url)) as session:
            result = await session.call_tool("telemetry_forget", {})
            assert not result.isError, _text(result)
            assert "deleted every row" in _text(result)

    capture.default = Behaviour(status=204, body=b"")
    asyncio.run(up())
    path = f"/v1/installations/{telemetry_id}"
    assert [(c.method, c.path) for c in capture.captured] == [("DELETE", path), ("DELETE", path)]
    assert not paths.telemetry_id.exists() and not paths.state_dir.exists()
    assert not paths.transparency_dir.exists()


def test_registration_keeps_the_hosts_tools_and_works_in_process(paths: Paths) -> None:
    """On a FastMCP 3 server with its own tools, nothing is replaced and an in-process client works."""
    from fastmcp import Client, FastMCP

    from voicemode_otel.mcp_tools import register

    host = FastMCP("voicemode")

    @host.tool
    def converse(message: str) -> str:
        """The host's own voice tool."""
        return f"spoke: {message}"

    @host.resource("voicemode://config")
    def config() -> str:
        """The host's own resource."""
        return "host config"

    register(host, base_dir=paths.base)

    async def scenario() -> None:
        async with Client(host) as client:
            names = sorted(tool.name for tool in await client.list_tools())
            assert names == sorted(["converse", *TOOLS])
            assert (await client.call_tool("converse", {"message": "hi"})).data == "spoke: hi"
            assert (await client.read_resource("voicemode://config"))[0].text == "host config"  # type: ignore[union-attr]
            status = await client.call_tool("telemetry_check_status", {})
            assert status.structured_content is not None
            assert status.structured_content["state"] == "not-asked"

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="not replacing"):
        register(host, base_dir=paths.base)


def test_tool_change_is_seen_at_once_by_start_and_status(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preference set through the tool is what start() and status see in the same process, immediately."""
    from fastmcp import Client, FastMCP

    import voicemode_otel
    from voicemode_otel.delivery import REPORTER
    from voicemode_otel.mcp_tools import register

    host = FastMCP("voicemode")
    register(host, base_dir=paths.base)
    assert voicemode_otel.start(base_dir=paths.base) is False

    async def choose(enabled: bool) -> None:
        async with Client(host) as client:
            await client.call_tool("telemetry_set_preference", {"enabled": enabled})

    asyncio.run(choose(True))
    assert voicemode_otel.status(paths.base).consent.enabled
    assert REPORTER.running()
    asyncio.run(choose(False))
    assert not voicemode_otel.status(paths.base).consent.enabled
    assert voicemode_otel.start(base_dir=paths.base) is False
    REPORTER.stop(timeout=5)
    assert not REPORTER.running()


def test_texts_claim_only_what_is_collected() -> None:
    """The texts never promise data the code does not collect (the seed promised success rates and errors)."""
    everything = json.dumps([texts.what_is_collected(), texts.opt_in_prompt()]).lower()
    for never in ("success rate", "error type", "failure rate", "latency"):
        assert never not in everything
    for line in texts.collected_lines():
        assert line.split(":")[0] in everything


def test_server_info_names_voicemode_otel(paths: Paths) -> None:
    """`voicemode-otel mcp` introduces itself as voicemode-otel with its own version, not FastMCP's."""
    from importlib.metadata import version

    async def scenario() -> None:
        parameters = StdioServerParameters(command=_server_command(), args=["mcp"], env=_base_env(paths))
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            result = await session.initialize()
            assert (result.serverInfo.name, result.serverInfo.version) == (
                "voicemode-otel",
                version("voicemode-otel"),
            )

    asyncio.run(scenario())


def test_opt_out_through_mcp_erases_on_the_server(paths: Paths, capture: CaptureServer) -> None:
    """telemetry_set_preference(enabled=false) after a delivery asks the server to delete the ID's rows."""
    from voicemode_otel.testing import Behaviour

    telemetry_id = _opted_in_with_one_delivery_to(paths, capture.url)
    capture.answer(Behaviour(204, body=b""))

    async def scenario() -> None:
        async with stdio_session(_base_env(paths, VOICEMODE_TELEMETRY_ENDPOINT=capture.url)) as session:
            result = await session.call_tool("telemetry_set_preference", {"enabled": False})
            assert not result.isError, _text(result)
            assert result.structuredContent is not None
            assert result.structuredContent["erasure"][0].startswith("confirmed: confirmed by")

    asyncio.run(scenario())
    assert [(c.method, c.path) for c in capture.captured] == [("DELETE", f"/v1/installations/{telemetry_id}")]
    assert not paths.telemetry_id.exists() and not paths.erasure_file.exists()


def test_opt_out_reaches_a_host_that_copied_the_file_into_its_environment(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VoiceMode 9 copies voicemode.env into os.environ at import; the tool's "no" must still hold there."""
    from fastmcp import Client, FastMCP

    from voicemode_otel.consent import decision as consent
    from voicemode_otel.mcp_tools import register
    from voicemode_otel.operations import preference

    preference.set_preference(paths, True, {"VOICEMODE_BASE_DIR": str(paths.base)})
    monkeypatch.setenv("VOICEMODE_TELEMETRY", "true")  # what the host's loader did at start-up
    host = FastMCP("voicemode")
    register(host, base_dir=paths.base)

    async def scenario() -> None:
        async with Client(host) as client:
            result = await client.call_tool("telemetry_set_preference", {"enabled": False})
            assert result.structured_content is not None
            assert result.structured_content["effective_state"] == "off"

    asyncio.run(scenario())
    assert os.environ["VOICEMODE_TELEMETRY"] == "false"
    assert consent.decide(paths).state is consent.State.OFF
    assert not paths.telemetry_id.exists()
