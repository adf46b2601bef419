"""The host's start hook: returns at once, reports from a daemon thread.

``start()`` runs on VoiceMode's start-up path, so it does only what the
standard library can do in microseconds: decide consent and, with consent,
start (or wake) one daemon thread. Without consent it starts nothing and
imports nothing more. The thread sleeps until a report is due, imports the
OpenTelemetry SDK only then, and re-checks consent every time it wakes, so a
server that runs for days still reports daily and stops the moment the user
opts out. At exit the thread gets at most about a second to finish.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from voicemode_otel.consent import decision as consent
from voicemode_otel.delivery import erasure, schedule
from voicemode_otel.export import config as exporter_config
from voicemode_otel.installation import enrollment
from voicemode_otel.store import Paths, state

_log = logging.getLogger(__name__)

EXIT_GRACE_SECONDS = 0.5  # state writes are atomic, so cutting the thread off never corrupts them
RECHECK_SECONDS = 3600.0  # wake at least hourly to notice configuration changes
BUSY_RETRY_SECONDS = 600.0


def _paths(base_dir: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Paths:
    return Paths(Path(base_dir).expanduser()) if base_dir is not None else Paths.from_environ(environ)


_LEFTOVERS = ("state.json", "pending.json", "enrollment.json", "erasure.json")


def owes_work(paths: Paths, decision: consent.Consent) -> bool:
    """Whether an opted-out installation still has something to do: leftovers to delete, an erasure owed."""
    names = _LEFTOVERS if decision.local else (*_LEFTOVERS, "local.json")
    return os.path.lexists(paths.telemetry_id) or any(os.path.lexists(paths.state_dir / n) for n in names)


def _seconds_until_work(paths: Paths, environ: Mapping[str, str], now: datetime, local: bool) -> float:
    """How long the thread may sleep before there is anything to do (0: now)."""
    current = state.load_local(paths) if local else state.load_state(paths)
    if current.opted_in_at is None:
        return 0.0
    settings = exporter_config.resolve(environ)
    if not local and current.clock_local_time is not None:  # held for a wrong clock
        if now < current.clock_local_time - enrollment.CLOCK_SKEW:
            return 0.0  # the clock was set back since: ask the server again now
        wake = current.retry_not_before or now
    elif not local and paths.pending_file.exists():
        # A backoff earned by another endpoint (a URL since fixed) does not hold this one.
        wake = current.backoff_until(settings.target) or now
    else:
        wake = schedule.next_due(current, current.opted_in_at, settings.cadence)
    return max(0.0, (wake - now).total_seconds())


class Reporter:
    """One background reporting thread per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._exit_hook_registered = False

    def ensure_running(
        self, paths: Paths, environ: Mapping[str, str], exec_source: str, version: str | None
    ) -> None:
        """Start the thread, or wake it if it already runs."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._wake.set()
                return
            self._stop.clear()
            self._wake.clear()
            thread = threading.Thread(
                target=self._loop,
                args=(paths, environ, exec_source, version),
                name="voicemode-otel-reporter",
                daemon=True,
            )
            thread.start()
            self._thread = thread  # only a started thread is ever visible to stop()
            if not self._exit_hook_registered:
                atexit.register(self.stop)
                self._exit_hook_registered = True

    def wake(self) -> None:
        """Make the thread re-check consent and due work now (after a preference change)."""
        self._wake.set()

    def running(self) -> bool:
        """Whether the reporting thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self, timeout: float = EXIT_GRACE_SECONDS) -> None:
        """Ask the thread to finish, aborting any HTTP wait; wait at most ``timeout``."""
        self._stop.set()
        self._wake.set()
        try:
            from voicemode_otel.export import sender  # already imported if a send is under way

            sender.abort_all()
        except Exception:  # stopping must never raise, at exit least of all
            _log.debug("voicemode-otel: abort failed", exc_info=True)
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self, paths: Paths, environ: Mapping[str, str], exec_source: str, version: str | None) -> None:
        while not self._stop.is_set():
            try:
                sleep = self._cycle(paths, environ, exec_source, version)
            except Exception:
                _log.warning("voicemode-otel: reporting failed; will retry later", exc_info=True)
                sleep = RECHECK_SECONDS
            if sleep is None:
                return
            self._wake.wait(min(sleep, RECHECK_SECONDS))
            self._wake.clear()

    def _cycle(
        self, paths: Paths, environ: Mapping[str, str], exec_source: str, version: str | None
    ) -> float | None:
        """One look at the world; how long to sleep, or None to end the thread."""
        decision = consent.decide(paths, environ)
        if decision.state is consent.State.PAUSED:
            return None  # DO_NOT_TRACK: nothing leaves, nothing is deleted; the next start() looks again
        now = datetime.now(timezone.utc)
        if decision.revoked and owes_work(paths, decision):
            erasure.give_up_id(paths, now, environ, keep_local=decision.local)
        erasure.attempt(paths, environ, now)
        owed = [r.next_attempt_at for r in erasure.load(paths) if r.next_attempt_at]
        erasure_wait = max(1.0, (min(owed) - now).total_seconds()) if owed else None
        if not decision.collecting:
            return erasure_wait  # stay only while an erasure is owed (retried with its backoff)
        if decision.enabled:
            enrollment.enroll(paths, now)
        wait = _seconds_until_work(paths, environ, now, decision.local)
        if wait > 0:
            return min(wait, erasure_wait) if erasure_wait else wait
        from voicemode_otel.delivery import (
            run as delivery,  # the SDK is imported here, on this thread, only when needed
        )

        result = delivery.run(
            delivery.RunConfig(paths, environ=environ, exec_source=exec_source, host_version=version)
        )
        _log.info("voicemode-otel: %s", result.message)
        if result.outcome is delivery.Outcome.OFF:
            return erasure_wait
        if result.outcome is delivery.Outcome.BUSY:
            return BUSY_RETRY_SECONDS
        if result.next_attempt is not None:
            return max(1.0, (result.next_attempt - datetime.now(timezone.utc)).total_seconds())
        return RECHECK_SECONDS


REPORTER = Reporter()


def start(
    *,
    base_dir: str | os.PathLike[str] | None = None,
    exec_source: str = "mcp",
    version: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """VoiceMode's one call at server start; True when a reporter runs. Never raises.

    Without consent this does nothing at all — unless an opt-out left work
    behind (an ID or unsent report to delete, an erasure the server still
    owes), which the reporter thread then does. Local mode runs the thread
    too (it builds and logs reports) but returns False: nothing is sent.
    """
    try:
        env = os.environ if environ is None else environ
        paths = _paths(base_dir, env)
        decision = consent.decide(paths, env)
        if decision.state is consent.State.PAUSED:
            return False
        if not decision.collecting and not owes_work(paths, decision):
            return False
        REPORTER.ensure_running(paths, env, exec_source, version)
        return decision.enabled
    except Exception:
        _log.debug("voicemode-otel: start failed", exc_info=True)
        return False


def stop(timeout: float = EXIT_GRACE_SECONDS) -> None:
    """Stop the background reporter (hosts rarely need this; exit does it)."""
    REPORTER.stop(timeout)
