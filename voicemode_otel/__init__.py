"""voicemode-otel: opt-in, privacy-preserving usage metrics for VoiceMode.

Importing this package is nearly free and :func:`start` without consent
imports nothing more: both run in every VoiceMode start-up, so everything
beyond :mod:`voicemode_otel.consent_core` (which needs only ``os``) is loaded
lazily, and the OpenTelemetry SDK, ``requests`` and protobuf only once
consent exists and a report is due (tests hold that line).

* :func:`start` — VoiceMode's one call at server start; returns at once.
* :func:`ask_once` — for VoiceMode's own CLI: the first-run question, on a terminal only.
* :func:`status`, :func:`set_preference`, :func:`preview`, :func:`forget` — the
  operations the ``voicemode-otel`` CLI and the MCP tools offer.
"""

# No ``from __future__ import annotations`` here or in consent_core: in a regular install
# nothing else loads ``__future__`` at start-up, and importing it alone cost 0.14 ms of every
# host start. Annotations that name a type are strings instead.
import _thread
import os

from voicemode_otel import consent_core

# ``typing`` costs milliseconds to import; mypy honours a local TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from voicemode_otel.erasure import ForgetResult
    from voicemode_otel.next_report import Preview
    from voicemode_otel.overview import Status
    from voicemode_otel.paths import Paths
    from voicemode_otel.preference import PreferenceChange

__all__ = ["ask_once", "forget", "preview", "set_preference", "start", "status", "stop"]


def start(
    *,
    base_dir: "str | os.PathLike[str] | None" = None,
    exec_source: str = "mcp",
    version: "str | None" = None,
    environ: "Mapping[str, str] | None" = None,
) -> bool:
    """VoiceMode's one call at server start: returns at once, never raises.

    With consent, a daemon thread sends a report when one is due (and keeps
    doing so daily in a long-running server); returns True. In local mode the
    thread builds and logs reports but sends nothing; returns False. Without
    consent nothing at all happens — unless an opt-out left work behind (an ID
    or unsent report to delete, a server erasure still owed), which a
    background thread then does — and returns False.
    """
    try:
        env = os.environ if environ is None else environ
        base = os.fspath(base_dir) if base_dir is not None else consent_core.base_dir(env)
        state = consent_core.decide(base, env)[0]
        if state == consent_core.PAUSED:
            return False
        if state not in (consent_core.ON, consent_core.LOCAL) and not _owes_work(base):
            return False
    except Exception:
        return False
    # Everything else (the reporter's modules, even ``threading``) is imported on a
    # new thread: the host's thread pays for one consent check and one thread start.
    _bootstraps.append(None)
    _thread.start_new_thread(_start_reporter, (base, exec_source, version, env))
    return state == consent_core.ON


def _owes_work(base: str) -> bool:
    """An ID, delivery state or an owed erasure left by an opt-out (a few ``lstat`` calls)."""
    state_dir = os.path.join(base, consent_core.STATE_DIR_NAME)
    return os.path.lexists(os.path.join(base, "telemetry_id")) or any(
        os.path.lexists(os.path.join(state_dir, name))
        for name in ("state.json", "pending.json", "enrollment.json", "local.json", "erasure.json")
    )


_bootstraps: "list[None]" = []  # one entry per bootstrap thread still starting (list ops are atomic)


def _start_reporter(base: str, exec_source: str, version: "str | None", environ: "Mapping[str, str]") -> None:
    try:
        from voicemode_otel import runner

        runner.start(base_dir=base, exec_source=exec_source, version=version, environ=environ)
    except Exception:  # a bootstrap thread must never print a traceback into the host's stderr
        return
    finally:
        _bootstraps.pop()


def stop(timeout: float = 0.5) -> None:
    """Stop the background reporter (process exit does this by itself).

    Waits (within ``timeout``) for a reporter that is still being started, so
    nothing keeps running after this returns.
    """
    import time

    deadline = time.monotonic() + timeout
    while _bootstraps and time.monotonic() < deadline:
        time.sleep(0.005)
    from voicemode_otel import runner

    runner.stop(max(0.0, deadline - time.monotonic()))


def ask_once(base_dir: "str | os.PathLike[str] | None" = None) -> None:
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


def _paths(base_dir: "str | os.PathLike[str] | None") -> "Paths":
    from pathlib import Path

    from voicemode_otel.paths import Paths

    return Paths(Path(base_dir).expanduser()) if base_dir is not None else Paths.from_environ()


def status(base_dir: "str | os.PathLike[str] | None" = None) -> "Status":
    """Consent, endpoint, ID, last send, next due and pending report; changes nothing."""
    from voicemode_otel.overview import current

    return current(_paths(base_dir))


def set_preference(
    enabled: bool, base_dir: "str | os.PathLike[str] | None" = None, *, keep_server_data: bool = False
) -> "PreferenceChange":
    """Opt in or out (refuses to opt in under ``DO_NOT_TRACK``/``OTEL_SDK_DISABLED``).

    Opting out also asks the server to erase this installation's rows when a
    report was ever delivered, unless ``keep_server_data``; it never fails
    for a damaged ``voicemode.env`` (the opt-out is then recorded elsewhere).
    """
    from voicemode_otel.preference import set_preference as _set

    return _set(_paths(base_dir), enabled, keep_server_data=keep_server_data)


def preview(base_dir: "str | os.PathLike[str] | None" = None, **options: "Any") -> "Preview":
    """The report that would be sent next; sends and writes nothing."""
    from voicemode_otel.next_report import build

    return build(_paths(base_dir), **options)


def forget(base_dir: "str | os.PathLike[str] | None" = None) -> "ForgetResult":
    """Delete this installation's data on the server, then the local ID and state."""
    from voicemode_otel.erasure import forget as _forget

    return _forget(_paths(base_dir))
