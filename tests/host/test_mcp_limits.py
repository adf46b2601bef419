"""MCP: consent changes only on a JSON boolean; an oversized request is refused early, bounded, unechoed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

from voicemode_otel.store import Paths

NOT_BOOLEANS: list[Any] = ["yes", "on", "1", "true", "false", 1, 0, 1.0, None, [], {}]
SIXTEEN_MIB = 16 << 20


def _script() -> str:
    found = shutil.which("voicemode-otel", path=str(Path(sys.executable).parent))
    assert found
    return found


def _environ(paths: Paths) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "VOICEMODE_BASE_DIR": str(paths.base)}


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def test_set_preference_over_stdio_takes_only_json_booleans(paths: Paths) -> None:
    """`"yes"`, `"on"`, `"1"`, `1`, `1.0` … are errors naming the boolean type; consent stays unchanged."""

    async def scenario() -> None:
        parameters = StdioServerParameters(command=_script(), args=["mcp"], env=_environ(paths))
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            schema = tools["telemetry_set_preference"].inputSchema["properties"]
            assert schema["enabled"]["type"] == "boolean" and schema["keep_server_data"]["type"] == "boolean"
            for value in NOT_BOOLEANS:
                for arguments in ({"enabled": value}, {"enabled": False, "keep_server_data": value}):
                    result = await session.call_tool("telemetry_set_preference", arguments)
                    assert result.isError, (arguments, _text(result))
                    assert "valid boolean" in _text(result), _text(result)
                    assert not paths.env_file.exists() and not paths.telemetry_id.exists(), arguments
            accepted = await session.call_tool("telemetry_set_preference", {"enabled": True})
            assert not accepted.isError and paths.telemetry_id.exists()

    asyncio.run(scenario())


@pytest.mark.parametrize("value", NOT_BOOLEANS)
def test_set_preference_registered_on_a_host_takes_only_json_booleans(paths: Paths, value: Any) -> None:
    """`register(mcp)` on VoiceMode's FastMCP: the same tool refuses anything but true/false."""
    from fastmcp import Client, FastMCP

    from voicemode_otel.mcp_tools import register

    host = FastMCP("voicemode")
    register(host, base_dir=paths.base)

    async def call() -> Any:
        async with Client(host) as client:
            arguments = {"enabled": value}
            return await client.call_tool("telemetry_set_preference", arguments, raise_on_error=False)

    result = asyncio.run(call())
    assert result.is_error and "valid boolean" in result.content[0].text  # type: ignore[union-attr]
    assert not paths.env_file.exists() and not paths.telemetry_id.exists()


def test_an_oversized_request_fails_that_call_and_the_session_goes_on(paths: Paths) -> None:
    """A 16 MiB request gets an error naming the limit; the next call on the same session works."""

    async def scenario() -> None:
        parameters = StdioServerParameters(command=_script(), args=["mcp"], env=_environ(paths))
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            with pytest.raises(McpError, match="request too large: over 1048576 bytes"):
                await session.call_tool("telemetry_check_status", {"padding": "A" * SIXTEEN_MIB})
            status = await session.call_tool("telemetry_check_status", {})
            assert not status.isError and status.structuredContent is not None

    asyncio.run(scenario())


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_an_oversized_request_costs_bounded_memory_and_is_not_echoed(paths: Paths) -> None:
    """16 MiB on one line: peak memory grows by less than 16 MiB, stderr stays quiet, the reply is short."""
    process = subprocess.Popen(
        [_script(), "mcp"],
        env=_environ(paths),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    errors = bytearray()
    drain = threading.Thread(target=lambda: errors.extend(process.stderr.read()), daemon=True)  # type: ignore[union-attr]
    drain.start()
    assert process.stdin is not None and process.stdout is not None

    def send(message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        process.stdin.write(data + b"\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]

    def reply() -> dict[str, Any]:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert len(line) < 65536, len(line)
        return dict(json.loads(line))

    try:
        send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
        )
        assert reply()["id"] == 1
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert reply()["id"] == 2
        before = _peak_rss_kib(process.pid)
        head = (
            b'{"jsonrpc":"2.0","id":3,"method":"tools/call",'
            + b'"params":{"name":"telemetry_preview","arguments":{"x":"'
        )
        send(head + b"A" * SIXTEEN_MIB + b'"}}}')
        refused = reply()
        send({"jsonrpc": "2.0", "id": 4, "method": "tools/list"})
        listed = reply()
        after = _peak_rss_kib(process.pid)
    finally:
        process.stdin.close()
        process.wait(timeout=60)
        drain.join(timeout=10)
    assert refused == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": -32600, "message": "request too large: over 1048576 bytes; not read"},
    }
    assert listed["id"] == 4 and "result" in listed
    print(f"peak RSS before {before} KiB, after {after} KiB")
    assert after - before < 16 * 1024, (before, after)
    assert b"AAAAAAAA" not in errors and len(errors) < 4096, bytes(errors[:500])
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}', 7),
        (b'{"id": "a-b", "jsonrpc": "2.0", "method": "x"}', "a-b"),
        (b'{"method":"tools/call","params":{"arguments":{"id":5}},"jsonrpc":"2.0","id":9}', 9),
        (b'{"method":"tools/call","params":{"arguments":{"id":5}}}', None),
        (b'{"method":"x","params":{"id":1,"y":2},"jsonrpc":"2.0"}', None),
        (b"not json at all", None),
    ],
)
def test_the_id_of_a_line_too_long_to_read_is_found_at_either_end(line: bytes, expected: object) -> None:
    """The reply to an unread line carries its id when the id is the line's first or last key, else null."""
    from voicemode_otel.mcp_stdio import request_id

    assert request_id(line[:512], line[-512:]) == expected
