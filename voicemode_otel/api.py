"""The package's API beyond :func:`voicemode_otel.start`, loaded on first use.

``voicemode_otel`` exposes these names lazily (its ``__getattr__``), so the
host's start-up path never loads this module: only a CLI, a test or an MCP
tool that asks for one of them does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicemode_otel.delivery import ForgetResult
    from voicemode_otel.operations import PreferenceChange, Preview, Status
    from voicemode_otel.store import Paths

__all__ = ["ask_once", "forget", "preview", "set_preference", "status", "stop"]


def stop(timeout: float = 0.5) -> None:
    """Stop the background reporter (process exit does this by itself).

    Waits (within ``timeout``) for a reporter that is still being started, so
    nothing keeps running after this returns.
    """
    import time

    from voicemode_otel import _bootstraps

    deadline = time.monotonic() + timeout
    while _bootstraps and time.monotonic() < deadline:
        time.sleep(0.005)
    from voicemode_otel.delivery import runner

    runner.stop(max(0.0, deadline - time.monotonic()))


def ask_once(base_dir: str | os.PathLike[str] | None = None) -> None:
    """Ask on the first interactive use whether to share the statistics; store the answer. Never raises.

    For a host's CLI subcommands, never its MCP server: asks only with a terminal
    on stdin and stdout and no choice stored or set anywhere; Enter, Ctrl-D and
    Ctrl-C mean No. The same question ``voicemode-otel`` asks.
    """
    try:
        import sys

        from voicemode_otel.cli import maybe_ask

        maybe_ask(_paths(base_dir), os.environ, sys.stdin, sys.stdout)
    except Exception:  # a question about statistics must never break the host's command
        return


def _paths(base_dir: str | os.PathLike[str] | None) -> Paths:
    from pathlib import Path

    from voicemode_otel.store import Paths

    return Paths(Path(base_dir).expanduser()) if base_dir is not None else Paths.from_environ()


def status(base_dir: str | os.PathLike[str] | None = None) -> Status:
    """Consent, endpoint, ID, last send, next due and pending report; changes nothing."""
    from voicemode_otel.operations import current

    return current(_paths(base_dir))


def set_preference(
    enabled: bool, base_dir: str | os.PathLike[str] | None = None, *, keep_server_data: bool = False
) -> PreferenceChange:
    """Opt in or out (refuses to opt in under ``DO_NOT_TRACK``/``OTEL_SDK_DISABLED``).

    Opting out also asks the server to erase this installation's rows when a
    report was ever delivered, unless ``keep_server_data``; it never fails
    for a damaged ``voicemode.env`` (the opt-out is then recorded elsewhere).
    """
    from voicemode_otel.operations import set_preference as _set

    return _set(_paths(base_dir), enabled, keep_server_data=keep_server_data)


def preview(base_dir: str | os.PathLike[str] | None = None, **options: Any) -> Preview:
    """The report that would be sent next; sends and writes nothing."""
    from voicemode_otel.operations import build

    return build(_paths(base_dir), **options)


def forget(base_dir: str | os.PathLike[str] | None = None) -> ForgetResult:
    """Delete this installation's data on the server, then the local ID and state."""
    from voicemode_otel.delivery import forget as _forget

    return _forget(_paths(base_dir))
