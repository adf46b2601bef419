"""The delivery state machine: due period → pending report → sent → settled.

One call of :func:`run` does all the work that is due, in order, and
returns what happened. The rules (design §6, docs/design.md):

* Periods are continuous ``[acked_until, now floored to the hour)``; the first
  starts at the first whole hour after the opt-in; at most 7 days each, oldest
  first; periods that ended over 90 days ago are skipped.
* A report is persisted (pending file + transparency log) before it is sent.
* 2xx → acknowledged; other 4xx/3xx → dropped and logged; network error,
  408, 429, 5xx → kept and resent unchanged later, not before ``Retry-After``.
  The next period starts only once the pending one is settled.
* Consent is checked at the start, again right before every request (in the
  HTTP adapter), and a revoked consent deletes the pending report and the ID.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from voicemode_otel import consent, enrollment, exporter_config, state, transparency
from voicemode_otel.atomic import ensure_private_dir
from voicemode_otel.paths import Paths
from voicemode_otel.periods import Period, iso
from voicemode_otel.schedule import next_due, next_period

if TYPE_CHECKING:
    from voicemode_otel.sessions import SessionReader

_log = logging.getLogger(__name__)

MAX_PERIODS_PER_RUN = 20  # 90 days of 7-day periods fit comfortably
BACKOFF_BASE = timedelta(hours=1)
BACKOFF_CAP = timedelta(hours=24)


class Outcome(enum.Enum):
    """How a run ended."""

    OFF = "off"
    NO_ENDPOINT = "no-endpoint"
    BUSY = "busy"
    NOT_DUE = "not-due"
    WAITING = "waiting-for-retry"
    DELIVERED = "delivered"
    NOTHING_TO_SEND = "nothing-to-send"
    DROPPED = "dropped"
    RETRY = "retry"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on, passed in so tests need no patching."""

    paths: Paths
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    exec_source: str = "mcp"
    host_version: str | None = None
    force: bool = False
    """``voicemode-otel send``: ignore the 24 h cadence (never ``Retry-After``)."""
    before_send: Callable[[], None] | None = None
    """Called after the report is persisted, right before sending (tests use it)."""


@dataclass(frozen=True)
class RunResult:
    """What a run did, for the CLI, the MCP tools and the scheduler."""

    outcome: Outcome
    message: str
    periods: tuple[str, ...] = ()
    next_attempt: datetime | None = None
    """When the background thread should look again (None: nothing scheduled)."""


@contextlib.contextmanager
def _exclusive(paths: Paths) -> Iterator[bool]:
    """A non-blocking lock: a second VoiceMode process skips the run instead of racing."""
    ensure_private_dir(paths.state_dir)
    handle = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            acquired = False
        else:
            acquired = True
        yield acquired
    finally:
        os.close(handle)


def _backoff(failures: int) -> timedelta:
    return min(BACKOFF_CAP, BACKOFF_BASE * (1 << min(max(0, failures - 1), 16)))


def run(config: RunConfig) -> RunResult:
    """Do the delivery work that is due now; never raises for I/O or network trouble."""
    paths, env = config.paths, config.environ
    decision = consent.decide(paths, env)
    if not decision.enabled:
        if decision.revoked and (paths.telemetry_id.exists() or paths.state_dir.exists()):
            enrollment.withdraw(paths)
        return RunResult(Outcome.OFF, f"telemetry is off: {decision.reason}")
    now = config.clock()
    enrolled = enrollment.enroll(paths, now)
    settings = exporter_config.resolve(env)
    if settings.problem or not settings.endpoint:
        return RunResult(Outcome.NO_ENDPOINT, f"nothing sent: {settings.problem}")
    with _exclusive(paths) as acquired:
        if not acquired:
            return RunResult(Outcome.BUSY, "another VoiceMode process is sending; skipped")
        transparency.prune(paths, now)
        return _work(config, enrolled, settings, now)


def _work(
    config: RunConfig,
    enrolled: enrollment.Enrollment,
    settings: exporter_config.ExportSettings,
    now: datetime,
) -> RunResult:
    from voicemode_otel.sessions import SessionReader

    paths = config.paths
    done: list[str] = []
    outcomes: list[Outcome] = []
    last = RunResult(Outcome.NOT_DUE, "no report is due")
    reader = SessionReader(paths.conversations_dir)  # one pass over the logs for all periods of this run
    for _ in range(MAX_PERIODS_PER_RUN):
        current = state.load_state(paths)
        pending = state.load_pending(paths)
        if pending is None:
            period = next_period(current, enrolled.opted_in_at, now, settings.cadence, force=config.force)
            if period is None:
                due = next_due(current, enrolled.opted_in_at, settings.cadence)
                message = f"no report is due until {iso(due)}"
                return RunResult(_overall(outcomes), message, tuple(done), due)
            pending = _prepare(config, enrolled, period, now, settings.endpoint or "", reader)
            if pending is None:
                done.append(f"{period.label()}: nothing to send")
                outcomes.append(Outcome.NOTHING_TO_SEND)
                last = RunResult(Outcome.NOTHING_TO_SEND, "no session completed in the period")
                continue
        elif current.retry_not_before and now < current.retry_not_before:
            return RunResult(
                Outcome.WAITING,
                f"report for {pending.period.label()} is pending; "
                f"next attempt after {iso(current.retry_not_before)}",
                tuple(done),
                current.retry_not_before,
            )
        last = _send(config, pending, settings, now)
        done.append(f"{pending.period.label()}: {last.message}")
        outcomes.append(last.outcome)
        if last.outcome in (Outcome.RETRY, Outcome.WITHDRAWN):
            return replace(last, periods=tuple(done))
    return replace(last, periods=tuple(done))


def _overall(outcomes: list[Outcome]) -> Outcome:
    """One outcome for a run that settled several periods: the most telling one."""
    for candidate in (Outcome.DELIVERED, Outcome.DROPPED, Outcome.NOTHING_TO_SEND):
        if candidate in outcomes:
            return candidate
    return Outcome.NOT_DUE


def _prepare(
    config: RunConfig,
    enrolled: enrollment.Enrollment,
    period: Period,
    now: datetime,
    endpoint: str,
    reader: SessionReader,
) -> state.PendingReport | None:
    """Build the period's report; persist it (pending + log) or, if empty, just advance."""
    from voicemode_otel import otlp_json, report
    from voicemode_otel.resource_detector import installation_attributes

    paths = config.paths
    sessions = [
        s
        for s in reader.completed_in(period)
        if s.first >= enrolled.opted_in_at  # nothing measured before the opt-in
    ]
    current = state.load_state(paths)
    if not sessions:
        state.save_state(paths, replace(current, acked_until=period.end, last_outcome="nothing to send"))
        return None
    attributes = installation_attributes(
        enrolled.telemetry_id,
        exec_source=config.exec_source,
        environ=config.environ,
        version=config.host_version,
    )
    built = report.build(sessions, period, attributes)
    pending = state.PendingReport(period, built.body, built.session_count, now)
    state.save_pending(paths, pending)
    state.save_state(paths, replace(current, failures=0, retry_not_before=None))
    transparency.append(
        paths,
        transparency.Entry(now, "pending", endpoint, period, "pending", otlp_json.to_dict(built.request)),
    )
    return pending


def _send(
    config: RunConfig, pending: state.PendingReport, settings: exporter_config.ExportSettings, now: datetime
) -> RunResult:
    from voicemode_otel.otlp_decode import UnsupportedReport, restore
    from voicemode_otel.sender import ReportSender

    paths = config.paths
    endpoint = settings.endpoint or ""
    try:
        metrics = restore(pending.body)
    except UnsupportedReport as error:
        _settle(config, pending, now, endpoint, "dropped", f"stored report unusable: {error}")
        return RunResult(Outcome.DROPPED, f"dropped: stored report unusable ({error})")
    if config.before_send is not None:
        config.before_send()

    def allowed() -> bool:
        return consent.decide(paths, config.environ).enabled

    result = ReportSender(settings, allowed).send(metrics)
    if result.outcome == "withdrawn":
        decision = consent.decide(paths, config.environ)
        if decision.revoked:
            enrollment.withdraw(paths)
        transparency.append(
            paths, transparency.Entry(now, "outcome", endpoint, pending.period, "withdrawn: nothing sent")
        )
        return RunResult(Outcome.WITHDRAWN, f"not sent: {decision.reason}")
    if result.outcome == "delivered":
        _settle(config, pending, now, endpoint, "delivered", result.detail)
        return RunResult(Outcome.DELIVERED, f"delivered ({result.detail}), {pending.session_count} sessions")
    if result.outcome == "dropped":
        _settle(config, pending, now, endpoint, "dropped", result.detail)
        return RunResult(Outcome.DROPPED, f"dropped: the endpoint refused it ({result.detail})")
    current = state.load_state(paths)
    failures = current.failures + 1
    wait = timedelta(seconds=result.retry_after_seconds) if result.retry_after_seconds else _backoff(failures)
    retry_at = now + min(wait, BACKOFF_CAP)
    state.save_state(
        paths,
        replace(
            current,
            failures=failures,
            retry_not_before=retry_at,
            last_attempt_at=now,
            last_outcome=f"will retry: {result.detail}",
        ),
    )
    transparency.append(
        paths, transparency.Entry(now, "outcome", endpoint, pending.period, f"will retry: {result.detail}")
    )
    return RunResult(Outcome.RETRY, f"kept for retry after {iso(retry_at)} ({result.detail})", (), retry_at)


def _settle(
    config: RunConfig, pending: state.PendingReport, now: datetime, endpoint: str, kind: str, detail: str
) -> None:
    paths = config.paths
    current = state.load_state(paths)
    delivered = kind == "delivered"
    updated = replace(
        current,
        acked_until=pending.period.end,
        failures=0,
        retry_not_before=None,
        last_attempt_at=now,
        last_outcome=f"{kind}: {detail}",
        last_delivered_at=now if delivered else current.last_delivered_at,
    )
    state.save_state(paths, updated)
    state.clear_pending(paths)
    transparency.append(
        paths, transparency.Entry(now, "outcome", endpoint, pending.period, f"{kind}: {detail}")
    )
    if kind == "dropped":
        _log.warning("voicemode-otel: report for %s dropped: %s", pending.period.label(), detail)
