"""Coarse facts about the installation, each mapped into the contract's closed sets.

Everything here is best effort and cheap: no subprocess, no network, nothing
read beyond the environment, ``sys.prefix``, package metadata and (on Linux)
the parent process name. An unrecognised answer is ``unknown`` or ``other``,
never the raw string (the earlier code sent ``MCP_HOST`` verbatim and called
VS Code "claude-code" because its process name contains "code").
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

HOST_DISTRIBUTION = "voice-mode"
"""VoiceMode's distribution name on PyPI: its version and install method are reported."""

_OS_TYPES = {
    "linux": "linux",
    "darwin": "darwin",
    "windows": "windows",
    "freebsd": "freebsd",
    "netbsd": "netbsd",
    "openbsd": "openbsd",
    "dragonfly": "dragonflybsd",
    "hp-ux": "hpux",
    "aix": "aix",
    "sunos": "solaris",
    "os/390": "z_os",
    "zos": "z_os",
}


def os_type(system: str | None = None) -> str | None:
    """OpenTelemetry's ``os.type`` value for this OS, or None when it has none."""
    return _OS_TYPES.get((system if system is not None else platform.system()).lower())


def _direct_url(distribution: metadata.Distribution) -> dict[str, object]:
    try:
        text = distribution.read_text("direct_url.json")
        parsed = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def install_method(
    prefix: str | None = None, environ: Mapping[str, str] | None = None, distribution: str = HOST_DISTRIBUTION
) -> str:
    """How the host was installed, judged from the environment it runs in.

    uv tools live in ``.../uv/tools/<name>``, uvx in uv's cache, pipx in
    ``.../pipx/venvs/<name>``, Homebrew under its Cellar or prefix; an
    editable install (``direct_url.json`` says so) is a development checkout.
    """
    env = os.environ if environ is None else environ
    where = (prefix if prefix is not None else sys.prefix).replace("\\", "/")
    try:
        dist: metadata.Distribution | None = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        dir_info = _direct_url(dist).get("dir_info")
        if isinstance(dir_info, dict) and dir_info.get("editable"):
            return "dev"
    uv_tool_dir = env.get("UV_TOOL_DIR", "").replace("\\", "/")
    if (uv_tool_dir and where.startswith(uv_tool_dir)) or "/uv/tools/" in where:
        return "uv-tool"
    uv_cache = env.get("UV_CACHE_DIR", "").replace("\\", "/")
    if (uv_cache and where.startswith(uv_cache)) or re.search(
        r"/uv/(archive-v\d+|environments-v\d+)/", where
    ):
        return "uvx"
    if "/pipx/venvs/" in where:
        return "pipx"
    if re.search(r"/(Cellar|homebrew|linuxbrew)/", where, re.IGNORECASE):
        return "homebrew"
    if dist is not None:
        return "pip"
    return "unknown"


# Environment markers set by the hosts themselves, most specific first.
_HOST_MARKERS: tuple[tuple[str, str], ...] = (
    ("CLAUDECODE", "claude-code"),
    ("CLAUDE_CODE_ENTRYPOINT", "claude-code"),
    ("CURSOR_TRACE_ID", "cursor"),
    ("WINDSURF_EXTENSION_ID", "windsurf"),
    ("ZED_TERM", "zed"),
)
# Exact (lowercased) parent process names; anything else is "other".
_HOST_PROCESSES = {
    "claude": "claude-code",
    "claude.exe": "claude-code",
    "claude desktop": "claude-desktop",
    "claude helper": "claude-desktop",
    "cursor": "cursor",
    "cursor helper": "cursor",
    "code": "vscode",
    "code helper": "vscode",
    "code - insiders": "vscode",
    "code-insiders": "vscode",
    "codium": "vscode",
    "windsurf": "windsurf",
    "windsurf helper": "windsurf",
    "zed": "zed",
    "zed-editor": "zed",
}
HOST_OVERRIDE_VARIABLE = "VOICEMODE_MCP_HOST"


def _parent_process_name(ppid: int | None = None) -> str | None:
    """The parent's executable name where the OS shows it without a subprocess (Linux)."""
    pid = os.getppid() if ppid is None else ppid
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def mcp_host(environ: Mapping[str, str] | None = None, parent_name: str | None = None) -> str:
    """Which app runs VoiceMode, as one of the contract's host names.

    ``VOICEMODE_MCP_HOST`` (normalised into the closed set) wins; then markers
    the hosts set in their children's environment; then the parent process
    name matched exactly (VS Code's "code" is ``vscode``, never Claude Code).
    A parent that is none of these is ``other``; no clue at all is ``unknown``.
    """
    from voicemode_otel.contract import spec as contract

    allowed = contract.load().closed_values("voicemode.mcp.host")
    env = os.environ if environ is None else environ
    override = env.get(HOST_OVERRIDE_VARIABLE, "").strip().lower()
    if override:
        return override if override in allowed else "other"
    for variable, host in _HOST_MARKERS:
        if env.get(variable):
            return host
    if env.get("TERM_PROGRAM", "").lower() == "vscode":
        return "vscode"
    name = parent_name if parent_name is not None else _parent_process_name()
    if not name:
        return "unknown"
    return _HOST_PROCESSES.get(name.strip().lower(), "other")


_RELEASE = re.compile(
    r"^\s*v?(?P<release>\d+(?:\.\d+){0,3})"
    r"(?:[-_.]?(?P<pre>alpha|beta|rc|a|b|c)(?![a-z])[-_.]?(?P<pre_n>\d+)?)?"
    r"(?:[-_.]?post[-_.]?(?P<post>\d+))?"
    r"(?P<dev>[-_.]?dev(?P<dev_n>[-_.]?\d+)?)?",
    re.IGNORECASE,
)
_PRE_NAMES = {"alpha": "a", "beta": "b", "c": "rc"}


def release_version(raw: str | None) -> str | None:
    """The release part of a version, PEP 440 style; local and commit parts removed.

    ``2.17.2-dev.abc123`` → ``2.17.2.dev0`` (the commit is dropped, the dev
    marker kept), ``8.12.0+g1234`` → ``8.12.0``; the earlier code turned the
    first into ``2-dev``. None when there is no leading release number.
    """
    if not raw:
        return None
    match = _RELEASE.match(raw)
    if match is None:
        return None
    version = match["release"]
    if match["pre"]:
        version += _PRE_NAMES.get(match["pre"].lower(), match["pre"].lower()) + str(int(match["pre_n"] or 0))
    if match["post"]:
        version += f".post{int(match['post'])}"
    if match["dev"]:
        digits = re.sub(r"\D", "", match["dev_n"] or "")
        version += f".dev{int(digits) if digits else 0}"
    return version


def host_version(distribution: str = HOST_DISTRIBUTION) -> str | None:
    """The installed host's release version, if the host is installed."""
    try:
        return release_version(metadata.version(distribution))
    except metadata.PackageNotFoundError:
        return None
