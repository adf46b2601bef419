"""The delivery state machine: due period → pending report → sent → settled.

One call of :func:`run` does all the work that is due, in order, and
returns what happened. The rules (docs/design.md, 'The delivery state machine'):

* Periods are continuous ``[acked_until, now floored to the hour)``; the first
  starts at the first whole hour after the opt-in; at most 7 days each, oldest
  first; periods that ended over 90 days ago are skipped.
* A report is persisted (pending file + transparency log) before it is sent.
* 2xx → acknowledged; a refusal that judges the data (400, 413, other 4xx)
  → dropped and logged; network error, 408, 429, 5xx → kept and resent
  unchanged later, not before ``Retry-After``; a refusal of the URL or the
  credentials (404, 405, 410, 415, 401, 403, 407, 3xx) → kept too, and the user
  is told what to check ("the endpoint answered 404: is the URL right?"). The
  next period starts only once the pending one is settled.
* A backoff (and a server's ``Retry-After``) holds the endpoint that earned
  it: once the report is pointed elsewhere, it is tried at once.
* Consent is checked at the start, again right before every request (in the
  HTTP adapter); a revoked consent gives the ID up (deleting the pending
  report and asking the server to erase what it holds, :mod:`erasure`).
* A 2xx whose ``partial_success`` rejects every point is a refusal, not a
  delivery: the contract judged the report and stored none of it. It is
  settled as "refused" with the server's reason (never resent as is) — unless
  its period lies outside the window the server's clock allows (its ``Date``),
  which is this machine's clock being wrong: then nothing is settled, the
  report is discarded to be rebuilt, and sending holds (below).
* The server's ``Date`` is compared with this machine's clock on every answer:
  while they differ by more than an hour nothing is built or sent (``status``
  says so, with the server's time). The server is asked again at the
  backoff's pace, at once when the clock is set back, or by ``send --force``;
  reporting then resumes from the last period a server really accepted.
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

from voicemode_otel.consent import decision as consent
from voicemode_otel.contract import HOUR, Period, ceil_hour, clock_difference, shown
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import erasure
from voicemode_otel.delivery import lock as delivery_lock
from voicemode_otel.delivery.schedule import next_due, next_period, period_start
from voicemode_otel.export import config as exporter_config
from voicemode_otel.installation import enrollment, identity
from voicemode_otel.store import Paths, remove, state, transparency

if TYPE_CHECKING:
    from voicemode_otel.export import SendResult
    from voicemode_otel.logs import SessionReader
    from voicemode_otel.report import build as report

_log = logging.getLogger(__name__)

MAX_PERIODS_PER_RUN = 20  # 90 days of 7-day periods fit comfortably
BACKOFF_BASE = timedelta(hours=1)
BACKOFF_CAP = timedelta(hours=24)
CLOCK_TOLERANCE = timedelta(hours=1)
"""How far this machine's clock may be from the server's ``Date`` before sending holds."""


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
    CHECK_ENDPOINT = "check-endpoint"
    """Kept: the endpoint refused the URL or the credentials, not the data."""
    WITHDRAWN = "withdrawn"
    LOCAL = "kept-locally"
    STORAGE = "cannot-write"
    SETTINGS = "invalid-settings"
    """An endpoint is set, but another setting (protocol, TLS files) keeps anything from being sent."""
    REFUSED = "refused"
    """The server judged the report and stored none of it (every point rejected); settled, not resent."""
    HELD = "held-for-clock"
    """This machine's clock and the server's differ by more than an hour: nothing is sent until they agree."""


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
    erasure: tuple[erasure.Attempt, ...] = ()
    """What this run did for an erasure an opt-out still owes (attempts that waited are left out)."""


def _backoff(failures: int) -> timedelta:
    return min(BACKOFF_CAP, BACKOFF_BASE * (1 << min(max(0, failures - 1), 16)))


def run(config: RunConfig) -> RunResult:
    """Do the delivery work that is due now; never raises for I/O or network trouble."""
    erased: list[erasure.Attempt] = []
    result = _run(config, config.clock(), erased)
    return replace(result, erasure=tuple(erased)) if erased else result


def _run(config: RunConfig, now: datetime, erased: list[erasure.Attempt]) -> RunResult:
    paths, env = config.paths, config.environ
    decision = consent.decide(paths, env)
    try:
        if decision.revoked and _has_id_or_state(paths, decision):
            erasure.give_up_id(paths, now, env, keep_local=decision.local)
        if decision.state is not consent.State.PAUSED:
            # `send` ignores the client's own backoff for an owed erasure as for a report.
            attempts = erasure.attempt(paths, env, now, force=config.ignore_backoff)
            erased.extend(a for a in attempts if a.outcome != "waiting")
        if not decision.collecting:
            return RunResult(Outcome.OFF, f"telemetry is off: {decision.reason}")
        if decision.local:
            return _run_local(config, now, console=decision.source == consent.METRICS_EXPORTER)
        enrolled = enrollment.enroll(paths, now)
    except OSError as error:
        return RunResult(Outcome.STORAGE, f"nothing sent: {error}")
    settings = exporter_config.resolve(env)
    if not settings.endpoint:
        return RunResult(Outcome.NO_ENDPOINT, f"nothing sent: {settings.problem}")
    if settings.problem:  # the endpoint is fine; another setting is not (the outcome names which)
        return RunResult(Outcome.SETTINGS, f"nothing sent: {settings.problem}")
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
    from voicemode_otel.logs import SessionReader

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
        held = _held(config, current, now)
        if held is not None:  # after a delivery in this same run, that stays the outcome
            return replace(
                held, outcome=_overall(outcomes) if outcomes else held.outcome, periods=tuple(done)
            )
        pending = state.load_pending(paths)
        if pending is None:
            period = next_period(current, enrolled.opted_in_at, now, settings.cadence, force=config.force)
            if period is None:
                due = next_due(current, enrolled.opted_in_at, settings.cadence)
                message = _not_due(config, current, enrolled, due, done=bool(outcomes))
                return RunResult(_overall(outcomes), message, tuple(done), due)
            pending = _prepare(config, enrolled, period, now, settings.endpoint or "", reader)
            if pending is None:
                done.append(f"{period.label()}: nothing to send")
                outcomes.append(Outcome.NOTHING_TO_SEND)
                last = RunResult(Outcome.NOTHING_TO_SEND, "no session completed in the period")
                continue
        else:
            waiting = _waiting(config, current, pending, now, settings.target)
            if waiting is not None:
                return replace(waiting, periods=tuple(done))
        last = _send(config, pending, settings, now, enrolled.telemetry_id)
        done.append(f"{pending.period.label()}: {last.message}")
        outcomes.append(last.outcome)
        if last.outcome in (Outcome.RETRY, Outcome.CHECK_ENDPOINT, Outcome.WITHDRAWN, Outcome.HELD):
            return replace(last, periods=tuple(done))
    return replace(last, periods=tuple(done))


def _not_due(
    config: RunConfig,
    current: state.DeliveryState,
    enrolled: enrollment.Enrollment,
    due: datetime,
    *,
    done: bool,
) -> str:
    """When the next report can really go: by `send` once its first hour has ended, by itself at ``due``."""
    if not config.force:
        return f"no report is due until {shown(due)}"
    start = period_start(current, enrolled.opted_in_at)
    sendable = start + HOUR  # with `force`, nothing is due only while the period's first hour runs
    return (
        f"{'' if done else 'nothing to send yet: '}the next report starts at {shown(start)}; "
        f"`voicemode-otel send` can send it from {shown(sendable)}, "
        f"and VoiceMode sends it by itself from {shown(due)}"
    )


def _waiting(
    config: RunConfig, current: state.DeliveryState, pending: state.PendingReport, now: datetime, target: str
) -> RunResult | None:
    """Why the pending report may not be sent yet, or None to send it now.

    Both waits belong to the endpoint that asked for them (``target``): a report
    the user has since pointed at another endpoint goes at once.
    """
    if not current.holds(target):
        return None
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


def _held(config: RunConfig, current: state.DeliveryState, now: datetime) -> RunResult | None:
    """Why nothing may be sent while the clocks disagree, or None to go ahead (and ask the server again)."""
    local = current.clock_local_time
    if local is None or current.clock_server_time is None:
        return None
    if now < local - enrollment.CLOCK_SKEW:
        return None  # the clock was set back since: it may be right now, and only the server can say
    recheck = current.retry_not_before
    if config.ignore_retry_after or (recheck is not None and now >= recheck):
        return None
    return RunResult(Outcome.HELD, _hold_text(current), next_attempt=recheck)


def _hold_text(current: state.DeliveryState) -> str:
    assert current.clock_local_time is not None and current.clock_server_time is not None
    resumes = period_start(current, current.opted_in_at) if current.opted_in_at else None
    return (
        f"{clock_difference(current.clock_local_time, current.clock_server_time)}; nothing is sent until "
        "they agree within an hour"
        + (f", then reporting resumes from {shown(resumes)}" if resumes else "")
        + " (`voicemode-otel send --force` asks the server again now)"
    )


def _overall(outcomes: list[Outcome]) -> Outcome:
    """One outcome for a run that settled several periods: the most telling one."""
    for candidate in (Outcome.DELIVERED, Outcome.DROPPED, Outcome.REFUSED, Outcome.NOTHING_TO_SEND):
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
    from voicemode_otel.installation import installation_attributes
    from voicemode_otel.report import build as report
    from voicemode_otel.report import otlp_json

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
        state.save_state(
            paths,
            replace(current, failures=0, retry_not_before=None, server_retry_after=None, retry_target=None),
        )
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
    from voicemode_otel.export import ReportSender
    from voicemode_otel.report import UnsupportedReport, restore

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
    if result.outcome != "withdrawn" and identity.read(paths) != telemetry_id:
        # Given up (forget, opt-out) while on its way: no state of the ID's may be written again.
        return _given_up_in_flight(config, pending, endpoint, now, telemetry_id, result)
    if result.outcome == "refused" and _outside_servers_window(pending.period, result.server_time):
        return _hold(config, pending, now, endpoint, result)
    try:
        return _answered(config, pending, now, settings, result)
    finally:
        _compare_clocks(paths, now, result.server_time)


def _answered(
    config: RunConfig,
    pending: state.PendingReport,
    now: datetime,
    settings: exporter_config.ExportSettings,
    result: SendResult,
) -> RunResult:
    paths = config.paths
    endpoint = settings.endpoint or ""
    if result.outcome == "withdrawn":
        decision = consent.decide(paths, config.environ)
        if decision.revoked:
            erasure.give_up_id(paths, now, config.environ, keep_local=decision.local)
        _note(paths, transparency.Entry(now, "outcome", endpoint, pending.period, "withdrawn: nothing sent"))
        reason = decision.reason if not decision.enabled else "the anonymous ID was given up"
        return RunResult(Outcome.WITHDRAWN, f"not sent: {reason}")
    if result.outcome == "delivered":
        _settle(config, pending, now, endpoint, "delivered", result.detail)
        return RunResult(Outcome.DELIVERED, f"delivered ({result.detail}), {pending.session_count} sessions")
    if result.outcome == "refused":
        _settle(config, pending, now, endpoint, "refused", result.detail)
        return RunResult(Outcome.REFUSED, f"refused: the server stored none of it ({result.detail})")
    if result.outcome == "dropped":
        _settle(config, pending, now, endpoint, "dropped", result.detail)
        return RunResult(Outcome.DROPPED, f"dropped: the endpoint refused it ({result.detail})")
    current = state.load_state(paths)
    same = current.retry_target == settings.target
    failures = current.failures + 1 if same else 1
    # A server's Retry-After is its instruction (OTLP: honour it), shorter or longer than ours.
    server_after = None
    retry_at = now + _backoff(failures)
    if result.retry_after_seconds:
        server_after = now + min(timedelta(seconds=result.retry_after_seconds), BACKOFF_CAP)
        retry_at = server_after
    misdirected = result.outcome == "misdirected"
    outcome = f"kept: {result.detail}" if misdirected else f"will retry: {result.detail}"
    state.save_state(
        paths,
        replace(
            current,
            failures=failures,
            retry_not_before=retry_at,
            server_retry_after=server_after,
            retry_target=settings.target,
            last_attempt_at=now,
            last_outcome=outcome,
            # No answer is not "not stored" (a connection dropped after the commit): erase there
            # too. A refused URL or credential is an answer that nothing was stored.
            delivered_to=(
                current.delivered_to if misdirected else tuple(sorted({*current.delivered_to, endpoint}))
            ),
        ),
    )
    _note(paths, transparency.Entry(now, "outcome", endpoint, pending.period, outcome))
    if misdirected:
        return RunResult(
            Outcome.CHECK_ENDPOINT,
            f"kept: {result.detail} ({endpoint}); next automatic attempt after {shown(retry_at)}, "
            "at once if the endpoint changes, or now with `voicemode-otel send`",
            (),
            retry_at,
        )
    return RunResult(Outcome.RETRY, f"kept for retry after {shown(retry_at)} ({result.detail})", (), retry_at)


def _outside_servers_window(period: Period, server: datetime | None) -> bool:
    """Whether the server's clock puts ``period`` where the contract refuses it (future, or too old)."""
    if server is None:
        return False
    rules = contract.load().period
    future = server + timedelta(seconds=rules.future_skew_seconds)
    return period.end > future or period.end < server - timedelta(seconds=rules.max_age_seconds)


def _hold(
    config: RunConfig, pending: state.PendingReport, now: datetime, endpoint: str, result: SendResult
) -> RunResult:
    """A report refused for this machine's clock: settle nothing, discard it to be rebuilt, hold sending."""
    assert result.server_time is not None
    paths = config.paths
    current = state.load_state(paths)
    failures = current.failures + 1
    recheck = now + _backoff(failures)
    difference = clock_difference(now, result.server_time)
    acked = current.acked_until
    if acked is not None and acked > result.server_time + enrollment.CLOCK_SKEW:
        # Periods "settled" in the server's future (empty ones, under this clock) are not to be
        # trusted: resume from the last period a server acknowledged, or the opt-in.
        opted = ceil_hour(current.opted_in_at) if current.opted_in_at else None
        floor = current.delivered_until
        acked = max(floor, opted) if floor and opted else floor or opted
    state.save_state(
        paths,
        replace(
            current,
            acked_until=acked,
            failures=failures,
            retry_not_before=recheck,
            server_retry_after=None,
            last_attempt_at=now,
            last_outcome=f"held: {difference}",
            clock_local_time=now,
            clock_server_time=result.server_time,
        ),
    )
    # Its period is wrong: the report is built again, from the same start, once the clock is right.
    state.clear_pending(paths)
    _note(
        paths, transparency.Entry(now, "outcome", endpoint, pending.period, f"refused: {result.detail}; held")
    )
    message = f"refused for this computer's clock: {_hold_text(state.load_state(paths))}"
    return RunResult(Outcome.HELD, message, next_attempt=recheck)


def _compare_clocks(paths: Paths, now: datetime, server: datetime | None) -> None:
    """Hold sending while the server's ``Date`` and this clock differ by more than an hour; else lift it."""
    if server is None:
        return
    current = state.load_state(paths)
    if abs(now - server) > CLOCK_TOLERANCE:
        failures = max(1, current.failures)
        state.save_state(
            paths,
            replace(
                current,
                failures=failures,
                retry_not_before=max(current.retry_not_before or now, now + _backoff(failures)),
                clock_local_time=now,
                clock_server_time=server,
            ),
        )
    elif current.clock_local_time is not None:
        state.save_state(paths, replace(current, clock_local_time=None, clock_server_time=None))


def _given_up_in_flight(
    config: RunConfig,
    pending: state.PendingReport,
    endpoint: str,
    now: datetime,
    telemetry_id: str,
    result: SendResult,
) -> RunResult:
    """The ID was given up while this report was on its way (an erasure that could not wait).

    The report may be stored now, after that erasure: ask for it again — unless the
    answer says nothing was stored (the data or every point refused, the URL wrong).
    Nothing is settled: the state belonged to the ID and is gone with it.
    """
    detail = result.detail
    outcome = f"sent while the ID was given up: {detail}"
    _note(config.paths, transparency.Entry(now, "outcome", endpoint, pending.period, outcome))
    if result.outcome in ("dropped", "refused", "misdirected"):
        message = f"the anonymous ID was given up meanwhile; nothing was stored ({detail})"
        return RunResult(Outcome.WITHDRAWN, message)
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


def _local_schedule(paths: Paths, now: datetime, console: bool) -> state.DeliveryState:
    """Local mode's bookkeeping; under ``OTEL_METRICS_EXPORTER=console`` it follows the opt-in's.

    Console mode holds an opt-in's sending, like a pause: its reports cover the
    periods the opt-in has not reported yet, and ``state.json`` is left as it is,
    so once the variable is unset those periods are sent as usual.
    """
    local = state.load_local(paths)
    if not console:
        return local if local.opted_in_at is not None else state.DeliveryState(opted_in_at=now)
    delivery = state.load_state(paths)
    if local.opted_in_at is None:
        local = state.DeliveryState(opted_in_at=delivery.opted_in_at or now)
    if delivery.acked_until and (local.acked_until is None or local.acked_until < delivery.acked_until):
        local = replace(local, acked_until=delivery.acked_until)
    return local


def _run_local(config: RunConfig, now: datetime, *, console: bool = False) -> RunResult:
    """Local mode: build each due period's report and log it; nothing is ever sent."""
    from voicemode_otel.installation import PLACEHOLDER_ID, installation_attributes
    from voicemode_otel.logs import SessionReader
    from voicemode_otel.report import build as report
    from voicemode_otel.report import otlp_json

    paths = config.paths
    reader = SessionReader(paths.conversations_dir)  # one pass for every period of this run
    cadence = exporter_config.resolve(config.environ).cadence
    done: list[str] = []
    with delivery_lock.hold(paths) as acquired:
        if not acquired:
            return RunResult(Outcome.BUSY, "another VoiceMode process is working; skipped")
        transparency.prune(paths, now)
        local = _local_schedule(paths, now, console)
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
        retry_target=None,
        last_attempt_at=now,
        last_outcome=f"{kind}: {detail}",
        last_delivered_at=now if delivered else current.last_delivered_at,
        delivered_until=pending.period.end if delivered else current.delivered_until,
        delivered_to=tuple(sorted({*current.delivered_to, endpoint})) if delivered else current.delivered_to,
    )
    state.save_state(paths, updated)
    state.clear_pending(paths)
    _note(paths, transparency.Entry(now, "outcome", endpoint, pending.period, f"{kind}: {detail}"))
    if kind in ("dropped", "refused"):
        _log.warning("voicemode-otel: report for %s %s: %s", pending.period.label(), kind, detail)
