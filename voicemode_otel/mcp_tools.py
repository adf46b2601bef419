"""Telemetry tools and resources for VoiceMode's FastMCP server (the ``mcp`` extra).

VoiceMode calls :func:`register` once, next to its own tools; ``voicemode-otel
mcp`` serves the same over stdio for any MCP host. Every operation is the
same code the CLI runs, and every text is generated from the contract, so
what an assistant tells the user is what the code does. Importing
``voicemode_otel`` never imports this module (or fastmcp).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import StrictBool
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from voicemode_otel import texts
from voicemode_otel.consent import decision as consent
from voicemode_otel.store import Paths

TOOL_NAMES = ("telemetry_check_status", "telemetry_set_preference", "telemetry_preview", "telemetry_forget")
STATUS_URI = "voicemode://telemetry/status"
OPT_IN_URI = "voicemode://telemetry/opt-in-prompt"

ASK_THE_USER = (
    "The user has not chosen yet. Read the resource voicemode://telemetry/opt-in-prompt to them, "
    "ask whether they want to share anonymous usage statistics, then call "
    "telemetry_set_preference(enabled=true) or telemetry_set_preference(enabled=false) with their answer. "
    "Do not choose for them; if they do not answer, leave it unset."
)


class StatusResult(TypedDict):
    """What telemetry_check_status returns."""

    enabled: bool
    state: str
    reason: str
    endpoint: str | None
    endpoint_problem: str | None
    telemetry_id: str | None
    last_sent: str | None
    next_due: str | None
    pending: str | None
    collected: list[str]
    never_collected: list[str]
    how_to_change: str
    instructions: str | None
    text: str


class PreferenceResult(TypedDict):
    """What telemetry_set_preference returns."""

    enabled: bool
    previous: str | None
    telemetry_id: str | None
    removed: list[str]
    erasure: list[str]
    effective_state: str
    effective_reason: str
    text: str


class PreviewResult(TypedDict):
    """What telemetry_preview returns."""

    enabled: bool
    period: str | None
    """None when no period has ended since the last report (nothing would be sent)."""
    sessions: int
    schema_versions: dict[str, int]
    text: str
    otlp_json: dict[str, Any]


class ForgetResult(TypedDict):
    """What telemetry_forget returns when it succeeded."""

    server: str
    removed: list[str]
    text: str


def _status(paths: Paths) -> StatusResult:
    from voicemode_otel.operations import status as overview

    current = overview.current(paths)
    data = current.to_dict()
    needs_answer = current.consent.state is consent.State.NOT_ASKED and current.consent.preference is None
    text = overview.render(current) + "\n\nWhat is collected:\n" + texts.what_is_collected()
    how_to_change = texts.how_to_change(str(paths.env_file))
    if needs_answer:
        text += "\n\n" + ASK_THE_USER
    return StatusResult(
        enabled=current.consent.enabled,
        state=current.consent.state.value,
        reason=current.consent.reason,
        endpoint=current.endpoint,
        endpoint_problem=current.endpoint_problem,
        telemetry_id=current.telemetry_id,
        last_sent=data["last_delivered_at"],
        next_due=data["next_due"],
        pending=data["pending_period"],
        collected=texts.collected_lines(),
        never_collected=list(texts.NEVER_COLLECTED),
        how_to_change=how_to_change,
        instructions=ASK_THE_USER if needs_answer else None,
        text=text,
    )


def register(server: FastMCP, *, base_dir: str | os.PathLike[str] | None = None) -> None:
    """Add the telemetry tools and resources to ``server`` (VoiceMode's FastMCP instance).

    Refuses (ValueError) rather than replace a tool or resource the host
    already has under one of these names.
    """
    import asyncio

    def paths() -> Paths:
        return Paths(Path(base_dir).expanduser()) if base_dir is not None else Paths.from_environ()

    async def existing() -> tuple[set[str], set[str]]:
        tools = {tool.name for tool in await server.list_tools()}
        resources = {str(resource.uri) for resource in await server.list_resources()}
        return tools, resources

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        tools, resources = asyncio.run(existing())
    else:  # called from inside an event loop: ask in a helper thread
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            tools, resources = pool.submit(asyncio.run, existing()).result()
    clashes = sorted((set(TOOL_NAMES) & tools) | ({STATUS_URI, OPT_IN_URI} & resources))
    if clashes:
        raise ValueError(f"the server already has {', '.join(clashes)}; not replacing the host's own")

    @server.tool(name="telemetry_check_status", annotations={"readOnlyHint": True, "openWorldHint": False})
    def telemetry_check_status() -> StatusResult:
        """Whether anonymous usage statistics are on and why, what is collected and where it goes.

        Also the last and next send. When the user has not chosen yet, the
        result says how to ask them.
        """
        return _status(paths())

    @server.tool(
        name="telemetry_set_preference", annotations={"destructiveHint": True, "idempotentHint": True}
    )
    def telemetry_set_preference(
        enabled: StrictBool, keep_server_data: StrictBool = False
    ) -> PreferenceResult:
        """Record the user's choice to share (true) or not share (false) anonymous usage statistics.

        Only call this with the user's explicit answer, as a JSON true or false (a string such
        as "yes" is refused: consent is never guessed from text). Opting out deletes the
        anonymous ID and any unsent report and asks the server to erase what it
        holds of this installation (unless keep_server_data is true). Takes
        effect at once.
        """
        from voicemode_otel.delivery import runner
        from voicemode_otel.operations import PreferenceRefused, set_preference
        from voicemode_otel.store import EnvFileError

        where = paths()
        try:
            change = set_preference(
                where, enabled, keep_server_data=keep_server_data, process_environ=os.environ
            )
        except (PreferenceRefused, EnvFileError) as error:
            raise ToolError(str(error)) from error
        if change.effective.collecting:
            runner.start(base_dir=where.base)
        return PreferenceResult(
            enabled=change.enabled,
            previous=change.previous,
            telemetry_id=change.telemetry_id,
            removed=list(change.removed),
            erasure=[f"{a.outcome}: {a.detail}" for a in change.erasure],
            effective_state=change.effective.state.value,
            effective_reason=change.effective.reason,
            text=change.describe(),
        )

    @server.tool(name="telemetry_preview", annotations={"readOnlyHint": True, "openWorldHint": False})
    def telemetry_preview() -> PreviewResult:
        """The exact report that would be sent next (nothing is sent), with a readable summary."""
        from voicemode_otel.operations import preview as next_report
        from voicemode_otel.operations import preview_text
        from voicemode_otel.report import otlp_json

        built = next_report.build(paths())
        return PreviewResult(
            enabled=built.consent.enabled,
            period=built.period.label() if built.period else None,
            sessions=built.session_count,
            schema_versions=dict(built.read_stats.schema_versions),
            text=preview_text.render_summary(built),
            otlp_json=otlp_json.to_dict(built.request),
        )

    @server.tool(name="telemetry_forget", annotations={"destructiveHint": True, "openWorldHint": True})
    def telemetry_forget() -> ForgetResult:
        """Delete this installation's statistics on the server, then its anonymous ID and local state."""
        from voicemode_otel.delivery import forget

        result = forget(paths())
        if not result.ok:
            retry = (
                "The erasure is retried automatically for 30 days; call telemetry_forget again to retry now."
            )
            raise ToolError(f"{result.describe()}\n{retry}")
        return ForgetResult(server=result.server, removed=list(result.removed), text=result.describe())

    @server.resource(STATUS_URI, name="telemetry_status", mime_type="text/plain")
    def status_resource() -> str:
        """The same status the telemetry_check_status tool reports, as text."""
        return _status(paths())["text"]

    @server.resource(OPT_IN_URI, name="telemetry_opt_in_prompt", mime_type="text/plain")
    def opt_in_resource() -> str:
        """What is and is not collected and how to change it later; short enough to read aloud."""
        return texts.opt_in_prompt(str(paths().env_file))


def build_server(base_dir: str | os.PathLike[str] | None = None) -> FastMCP:
    """A standalone server with just the telemetry tools (``voicemode-otel mcp``); serverInfo names us."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("voicemode-otel")
    except PackageNotFoundError:
        ours = "0+unknown"
    server: FastMCP = FastMCP(
        "voicemode-otel",
        instructions=f"Check, preview, choose or forget VoiceMode's anonymous statistics. {ASK_THE_USER}",
        version=ours,
    )
    register(server, base_dir=base_dir)
    return server


def serve_stdio() -> None:
    """Serve over stdio until the client disconnects (closes stdin); quiet on stderr.

    Runs the server the way FastMCP's own stdio runner does (its lifespan, its
    low-level server and initialization options), over :mod:`voicemode_otel.mcp_stdio`'s
    bounded transport instead of the SDK's unbounded line reader.
    """
    import anyio
    from fastmcp.server.context import reset_transport, set_transport
    from fastmcp.utilities.logging import temporary_log_level
    from mcp.server.lowlevel.server import NotificationOptions

    from voicemode_otel.mcp_stdio import bounded_stdio

    server = build_server()

    async def serve() -> None:
        token = set_transport("stdio")
        try:
            with temporary_log_level("WARNING"):
                async with server._lifespan_manager(), bounded_stdio() as (read, write):
                    low_level = server._mcp_server
                    options = NotificationOptions(tools_changed=True)
                    await low_level.run(
                        read, write, low_level.create_initialization_options(notification_options=options)
                    )
        finally:
            reset_transport(token)

    anyio.run(serve)
