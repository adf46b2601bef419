"""``voicemode-otel mcp``'s stdio transport: one JSON-RPC message per line, each line bounded.

The MCP SDK's stdio server reads a whole line, however long, before parsing
it (a 16 MiB line cost ~700 MiB of memory), and a message it cannot parse is
logged and answered with its content. Here stdin is read in chunks: a line
longer than :data:`MAX_MESSAGE_BYTES` is skipped as it streams past — never
held in memory, never echoed — and answered with a JSON-RPC "invalid request"
error for its id (found at the start of the line, where clients write it), so
the caller's request fails at once instead of waiting forever. A line that is
not a JSON-RPC message gets a "parse error", again without its content.

This transport serves only ``voicemode-otel mcp``. Tools registered on
VoiceMode's own server (:func:`voicemode_otel.mcp_tools.register`) are read by
VoiceMode's transport, which this package does not control.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import BinaryIO

import anyio
import mcp.types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

MAX_MESSAGE_BYTES = 1 << 20
"""A request to these tools is a few hundred bytes; a megabyte is generous and bounds what one line costs."""
_CHUNK = 1 << 16
_VALUE = rb'(-?\d{1,18}|"[^"\\]{0,200}")'
_FIRST_ID = re.compile(rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*' + _VALUE + rb"\s*[,}]")
_LAST_ID = re.compile(rb'[{,]\s*"id"\s*:\s*' + _VALUE + rb"\s*\}\s*$")
"""A request's id where clients write it: first (or after "jsonrpc"), or last (the Python SDK's
order: method, params, jsonrpc, id). A nested "id" is never the first or the last key of a line."""

Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]


def request_id(head: bytes, tail: bytes = b"") -> int | str | None:
    """The id of a JSON-RPC line, from its first and last bytes; None where they cannot tell it."""
    found = _FIRST_ID.match(head) or _LAST_ID.search(tail)
    if found is None:
        return None
    value = found.group(1)
    return int(value) if value[:1] != b'"' else value[1:-1].decode("utf-8", "replace")


def _error(identifier: int | str | None, code: int, message: str) -> bytes:
    """A JSON-RPC error line (``id`` null when it cannot be told, as JSON-RPC 2.0 says)."""
    document = {"jsonrpc": "2.0", "id": identifier, "error": {"code": code, "message": message}}
    return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"


@asynccontextmanager
async def bounded_stdio(
    limit: int = MAX_MESSAGE_BYTES, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[Streams]:
    """The SDK's ``stdio_server`` streams, fed by a reader that never holds more than ``limit`` bytes."""
    source = stdin or sys.stdin.buffer
    sink = stdout or sys.stdout.buffer
    incoming_writer, incoming = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    outgoing, outgoing_reader = anyio.create_memory_object_stream[SessionMessage](0)
    read = getattr(source, "read1", source.read)
    lock = anyio.Lock()  # one line at a time on stdout, whoever writes it

    def write(data: bytes) -> None:
        sink.write(data)
        sink.flush()

    async def emit(data: bytes) -> None:
        async with lock:
            await anyio.to_thread.run_sync(write, data)

    async def deliver(line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = types.JSONRPCMessage.model_validate_json(line)
        except ValidationError:
            await emit(
                _error(request_id(line[:512], line[-512:]), types.PARSE_ERROR, "not a JSON-RPC message")
            )
            return
        await incoming_writer.send(SessionMessage(message))

    async def reader() -> None:
        async with incoming_writer:
            line = bytearray()
            head: bytes | None = None  # set while skipping an oversized line: its first bytes ...
            tail = b""  # ... and its last ones, where some clients write the id
            while chunk := await anyio.to_thread.run_sync(read, _CHUNK):
                start = 0
                while start <= len(chunk):
                    newline = chunk.find(b"\n", start)
                    piece = chunk[start : newline if newline >= 0 else len(chunk)]
                    if head is None and len(line) + len(piece) > limit:
                        head, tail = bytes((line + piece)[:512]), bytes((line + piece)[-512:])
                        line.clear()
                    elif head is None:
                        line += piece
                    else:
                        tail = (tail + piece)[-512:]
                    if newline < 0:
                        break
                    if head is not None:
                        refusal = f"request too large: over {limit} bytes; not read"
                        await emit(_error(request_id(head, tail), types.INVALID_REQUEST, refusal))
                        head, tail = None, b""
                    else:
                        await deliver(bytes(line))
                    line.clear()
                    start = newline + 1
            if head is None:
                await deliver(bytes(line))  # a last message without its newline

    async def writer() -> None:
        async with outgoing_reader:
            async for message in outgoing_reader:
                text = message.message.model_dump_json(by_alias=True, exclude_none=True)
                await emit(text.encode("utf-8") + b"\n")

    async with anyio.create_task_group() as group:
        group.start_soon(reader)
        group.start_soon(writer)
        yield incoming, outgoing
