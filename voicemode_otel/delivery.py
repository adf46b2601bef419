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
  HTTP adapter); a revoked consent gives the ID up (deleting the pending
  report and asking the server to erase what it holds, :mod:`erasure`).
* Backoff is the background's patience, not the user's: ``send``
  (``ignore_backoff``) attempts at once; only a server's ``Retry-After`` holds
  it, and ``send --force`` (``ignore_retry_after``) not even that.
* Local mode builds the same reports and logs them, never sends them.
* Nothing is sent unless it is first persisted: if the pending file or the
  log cannot be written (disk full, read-only folder, a link in the way), the
  run stops with that cause and the period is built again next time.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from voicemode_otel import (
    consent,
    contract,
    delivery_lock,
    enrollment,
    erasure,
    exporter_config,
    identity,
    state,
    transparency,
)
from voicemode_otel.atomic import remove
from voicemode_otel.paths import Paths
from voicemode_otel.periods import Period, shown
from voicemode_otel.schedule import next_due, next_period

if TYPE_CHECKING:
    from voicemode_otel import report
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
    LOCAL = "kept-locally"
    STORAGE = "cannot-write"


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on, passed in so tests need no patching."""

    paths: Paths
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    exec_source: str = "mcp"
    host_version: str | None = None
    force: bool = False
    """``voicemode-otel send``: ignore the 24 h cadence."""
    ignore_backoff: bool = False
    """``voicemode-otel send``: attempt now, whatever the client's own backoff says."""
    ignore_retry_after: bool = False
    """``voicemode-otel send --force``: attempt even before a server's ``Retry-After``."""
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


def _backoff(failures: int) -> timedelta:
    return min(BACKOFF_CAP, BACKOFF_BASE * (1 << min(max(0, failures - 1), 16)))


def run(config: RunConfig) -> RunResult:
    """Do the delivery work that is due now; never raises for I/O or network trouble."""
    paths, env = config.paths, config.environ
    decision = consent.decide(paths, env)
    now = config.clock()
    try:
        if decision.revoked and _has_id_or_state(paths, decision):
            erasure.give_up_id(paths, now, env, keep_local=decision.local)
        if decision.state is not consent.State.PAUSED:
            erasure.attempt(paths, env, now)
        if not decision.collecting:
            return RunResult(Outcome.OFF, f"telemetry is off: {decision.reason}")
        if decision.local:
            return _run_local(config, now)
        enrolled = enrollment.enroll(paths, now)
    except OSError as error:
        return RunResult(Outcome.STORAGE, f"nothing sent: {error}")
    settings = exporter_config.resolve(env)
    if settings.problem or not settings.endpoint:
        return RunResult(Outcome.NO_ENDPOINT, f"nothing sent: {settings.problem}")
    try:
        with delivery_lock.hold(paths) as acquired:
            if not acquired:
                return RunResult(Outcome.BUSY, "another VoiceMode process is sending; skipped")
            transparency.prune(paths, now)
            return _work(config, enrolled, settings, now)
    except OSError as error:
        return RunResult(
            Outcome.STORAGE,
            f"nothing sent: cannot write the report first ({error}); it is built again next time",
        )


def _has_id_or_state(paths: Paths, decision: consent.Consent) -> bool:
    names = ("state.json", "pending.json", "enrollment.json") + (() if decision.local else ("local.json",))
    return os.path.lexists(paths.telemetry_id) or any(os.path.lexists(paths.state_dir / n) for n in names)


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
        if identity.read(paths) != enrolled.telemetry_id:  # given up (forget, opt-out) since the run began
            message = "the anonymous ID was given up meanwhile; nothing more is sent for it"
            return RunResult(Outcome.WITHDRAWN, message, tuple(done))
        current = state.load_state(paths)
        pending = state.load_pending(paths)
        if pending is None:
            period = next_period(current, enrolled.opted_in_at, now, settings.cadence, force=config.force)
            if period is None:
                due = next_due(current, enrolled.opted_in_at, settings.cadence)
                message = f"no report is due until {shown(due)}"
                return RunResult(_overall(outcomes), message, tuple(done), due)
            pending = _prepare(config, enrolled, period, now, settings.endpoint or "", reader)
            if pending is None:
                done.append(f"{period.label()}: nothing to send")
                outcomes.append(Outcome.NOTHING_TO_SEND)
                last = RunResult(Outcome.NOTHING_TO_SEND, "no session completed in the period")
                continue
        else:
            waiting = _waiting(config, current, pending, now)
            if waiting is not None:
                return replace(waiting, periods=tuple(done))
        last = _send(config, pending, settings, now, enrolled.telemetry_id)
        done.append(f"{pending.period.label()}: {last.message}")
        outcomes.append(last.outcome)
        if last.outcome in (Outcome.RETRY, Outcome.WITHDRAWN):
            return replace(last, periods=tuple(done))
    return replace(last, periods=tuple(done))


def _waiting(
    config: RunConfig, current: state.DeliveryState, pending: state.PendingReport, now: datetime
) -> RunResult | None:
    """Why the pending report may not be sent yet, or None to send it now."""
    label = pending.period.label()
    server = current.server_retry_after
    if server and now < server and not config.ignore_retry_after:
        return RunResult(
            Outcome.WAITING,
            f"report for {label} is pending; the server asked for no retry before {shown(server)} "
            "(Retry-After; `voicemode-otel send --force` sends anyway)",
            next_attempt=server,
        )
    backoff = current.retry_not_before
    if backoff and now < backoff and not config.ignore_backoff:
        return RunResult(
            Outcome.WAITING,
            f"report for {label} is pending; next attempt after {shown(backoff)} "
            "(`voicemode-otel send` tries now)",
            next_attempt=backoff,
        )
    return None


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
    try:
        transparency.append(
            paths,
            transparency.Entry(
                now,
                "pending",
                endpoint,
                period,
                "pending" + _left_out(built),
                otlp_json.to_dict(built.request),
            ),
        )
        state.save_state(paths, replace(current, failures=0, retry_not_before=None, server_retry_after=None))
    except OSError:
        remove(paths.pending_file)  # not in the user's log means not sent: build it again next time
        raise
    return pending


def _send(
    config: RunConfig,
    pending: state.PendingReport,
    settings: exporter_config.ExportSettings,
    now: datetime,
    telemetry_id: str,
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
        # Consent, and the ID still ours: a forget or opt-out may have given it up meanwhile.
        return consent.decide(paths, config.environ).enabled and identity.read(paths) == telemetry_id

    result = ReportSender(settings, allowed).send(metrics)
    if result.outcome == "withdrawn":
        decision = consent.decide(paths, config.environ)
        if decision.revoked:
            erasure.give_up_id(paths, now, config.environ, keep_local=decision.local)
        _note(paths, transparency.Entry(now, "outcome", endpoint, pending.period, "withdrawn: nothing sent"))
        reason = decision.reason if not decision.enabled else "the anonymous ID was given up"
        return RunResult(Outcome.WITHDRAWN, f"not sent: {reason}")
    if identity.read(paths) != telemetry_id and result.outcome != "dropped":
        return _given_up_in_flight(config, pending, endpoint, now, telemetry_id, result.detail)
    if result.outcome == "delivered":
        _settle(config, pending, now, endpoint, "delivered", result.detail)
        return RunResult(Outcome.DELIVERED, f"delivered ({result.detail}), {pending.session_count} sessions")
    if result.outcome == "dropped":
        _settle(config, pending, now, endpoint, "dropped", result.detail)
        return RunResult(Outcome.DROPPED, f"dropped: the endpoint refused it ({result.detail})")
    current = state.load_state(paths)
    failures = current.failures + 1
    # A server's Retry-After is its instruction (OTLP: honour it), shorter or longer than ours.
    server_after = None
    retry_at = now + _backoff(failures)
    if result.retry_after_seconds:
        server_after = now + min(timedelta(seconds=result.retry_after_seconds), BACKOFF_CAP)
        retry_at = server_after
    state.save_state(
        paths,
        replace(
            current,
            failures=failures,
            retry_not_before=retry_at,
            server_retry_after=server_after,
            last_attempt_at=now,
            last_outcome=f"will retry: {result.detail}",
            # No answer is not "not stored" (a connection dropped after the commit): erase here too.
            delivered_to=tuple(sorted({*current.delivered_to, endpoint})),
        ),
    )
    _note(paths, transparency.Entry(now, "outcome", endpoint, pending.period, f"will retry: {result.detail}"))
    return RunResult(Outcome.RETRY, f"kept for retry after {shown(retry_at)} ({result.detail})", (), retry_at)


def _given_up_in_flight(
    config: RunConfig,
    pending: state.PendingReport,
    endpoint: str,
    now: datetime,
    telemetry_id: str,
    detail: str,
) -> RunResult:
    """The ID was given up while this report was on its way (an erasure that could not wait).

    The report may be stored now, after that erasure: ask for it again. Nothing is
    settled — the state belonged to the ID and is gone with it.
    """
    outcome = f"sent while the ID was given up: {detail}"
    _note(config.paths, transparency.Entry(now, "outcome", endpoint, pending.period, outcome))
    attempts = erasure.erase_again(config.paths, telemetry_id, endpoint, now, config.environ)
    return RunResult(
        Outcome.WITHDRAWN,
        f"the anonymous ID was given up while its report was on its way ({detail}); "
        + erasure.summarize(attempts),
    )


def _note(paths: Paths, entry: transparency.Entry) -> None:
    """Log what already happened; a full disk must not turn a delivered report into an error."""
    try:
        transparency.append(paths, entry)
    except OSError as error:
        _log.warning("voicemode-otel: could not write the transparency log: %s", error)


def _run_local(config: RunConfig, now: datetime) -> RunResult:
    """Local mode: build each due period's report and log it; nothing is ever sent."""
    from voicemode_otel import otlp_json, report
    from voicemode_otel.identity import PLACEHOLDER_ID
    from voicemode_otel.resource_detector import installation_attributes
    from voicemode_otel.sessions import SessionReader

    paths = config.paths
    reader = SessionReader(paths.conversations_dir)  # one pass for every period of this run
    cadence = exporter_config.resolve(config.environ).cadence
    done: list[str] = []
    with delivery_lock.hold(paths) as acquired:
        if not acquired:
            return RunResult(Outcome.BUSY, "another VoiceMode process is working; skipped")
        transparency.prune(paths, now)
        local = state.load_local(paths)
        if local.opted_in_at is None:
            local = state.DeliveryState(opted_in_at=now)
            state.save_local(paths, local)
        for _ in range(MAX_PERIODS_PER_RUN):
            assert local.opted_in_at is not None
            period = next_period(local, local.opted_in_at, now, cadence, force=config.force)
            if period is None:
                break
            sessions = [s for s in reader.completed_in(period) if s.first >= local.opted_in_at]
            if sessions:
                attributes = installation_attributes(
                    PLACEHOLDER_ID,
                    exec_source=config.exec_source,
                    environ=config.environ,
                    version=config.host_version,
                )
                built = report.build(sessions, period, attributes)
                kept = f"{built.session_count} sessions{_left_out(built)}"
                outcome = f"kept locally (local mode, never uploaded), {kept}"
                transparency.append(
                    paths,
                    transparency.Entry(now, "local", "", period, outcome, otlp_json.to_dict(built.request)),
                )
                done.append(f"{period.label()}: {outcome}")
            else:
                done.append(f"{period.label()}: nothing to log")
            local = replace(local, acked_until=period.end, last_attempt_at=now)
            state.save_local(paths, local)
    assert local.opted_in_at is not None
    due = next_due(local, local.opted_in_at, cadence)
    if not done:
        return RunResult(Outcome.NOT_DUE, f"local mode: no report is due until {shown(due)}", (), due)
    return RunResult(Outcome.LOCAL, "local mode: reports logged here, nothing sent", tuple(done), due)


def _left_out(built: report.Report) -> str:
    """The log's note on sessions over the contract's cap (empty when none were)."""
    if not built.left_out:
        return ""
    cap = contract.load().counts.max_sessions_per_hour
    return f"; {built.left_out} sessions over the contract's cap ({cap} an hour) left out"


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
        server_retry_after=None,
        last_attempt_at=now,
        last_outcome=f"{kind}: {detail}",
        last_delivered_at=now if delivered else current.last_delivered_at,
        delivered_until=pending.period.end if delivered else current.delivered_until,
        delivered_to=tuple(sorted({*current.delivered_to, endpoint})) if delivered else current.delivered_to,
    )
    state.save_state(paths, updated)
    state.clear_pending(paths)
    _note(paths, transparency.Entry(now, "outcome", endpoint, pending.period, f"{kind}: {detail}"))
    if kind == "dropped":
        _log.warning("voicemode-otel: report for %s dropped: %s", pending.period.label(), detail)
