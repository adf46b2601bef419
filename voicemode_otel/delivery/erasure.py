"""Opting out erases everywhere: the ID's rows on the server, then everything here.

Like Glean's deletion-request ping: whenever this installation's ID is given
up — ``disable``, the MCP tool, an opt-out noticed by a running reporter,
local mode, ``forget`` — and a report of it was ever delivered, the server is
asked to delete every row of it (``DELETE /v1/installations/{id}``, on each
endpoint that acknowledged a report). Until the server confirms, the ID lives
on in one small record, ``telemetry/erasure.json``, and nowhere else: no
report, log body or new data is ever sent for it, only that request, retried
with backoff by the next ``start()`` or CLI run for up to 30 days, then
dropped. ``DO_NOT_TRACK`` holds the retries (nothing leaves the machine while
it is set) and deletes nothing. Every step is written to the transparency log
("erasure requested / confirmed / gave up").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from voicemode_otel.consent import decision as consent
from voicemode_otel.contract import iso, parse_iso, shown
from voicemode_otel.delivery import lock as delivery_lock
from voicemode_otel.export import config as exporter_config
from voicemode_otel.installation import enrollment, identity
from voicemode_otel.store import Paths, load_state, read_private, remove, transparency, write_private

_log = logging.getLogger(__name__)

WINDOW = timedelta(days=30)
BACKOFF_BASE = timedelta(hours=1)
BACKOFF_CAP = timedelta(hours=24)
_GIVE_UP_STATUSES = frozenset({400, 404, 405, 410, 501})
"""Answers that will not change on a retry: the endpoint cannot delete this ID."""


@dataclass(frozen=True)
class Request:
    """One ID whose rows are still to be deleted, and where."""

    telemetry_id: str
    urls: tuple[str, ...]
    requested_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_result: str | None = None
    purge_log: bool = False
    """``forget``: delete the local transparency log too once the server confirmed."""

    def to_dict(self) -> dict[str, object]:
        """The stored and ``status --json`` shape."""
        return {
            "telemetry_id": self.telemetry_id,
            "urls": list(self.urls),
            "requested_at": iso(self.requested_at),
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at) if self.next_attempt_at else None,
            "last_result": self.last_result,
            "purge_log": self.purge_log,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Request:
        """Inverse of :meth:`to_dict`; raises on anything malformed."""
        telemetry_id, urls = raw["telemetry_id"], raw["urls"]
        if not isinstance(telemetry_id, str) or not identity.is_valid(telemetry_id):
            raise ValueError("not a telemetry ID")
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ValueError("urls is not a list of strings")
        attempts, next_at, last = raw.get("attempts", 0), raw.get("next_attempt_at"), raw.get("last_result")
        if not isinstance(attempts, int) or isinstance(attempts, bool):
            raise ValueError("attempts is not an integer")
        return cls(
            telemetry_id,
            tuple(urls),
            parse_iso(str(raw["requested_at"])),
            attempts,
            parse_iso(next_at) if isinstance(next_at, str) else None,
            last if isinstance(last, str) else None,
            bool(raw.get("purge_log", False)),
        )


def load(paths: Paths) -> list[Request]:
    """The erasures still owed; an unreadable record is reported and treated as none."""
    try:
        data = read_private(paths.erasure_file)
        if data is None:
            return []
        raw = json.loads(data)
        return [Request.from_dict(item) for item in raw["requests"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
        _log.warning(
            "voicemode-otel: %s is unusable (%s); no erasure can be retried", paths.erasure_file, error
        )
        return []


def _save(paths: Paths, requests: list[Request]) -> None:
    if not requests:
        remove(paths.erasure_file)
        with contextlib.suppress(OSError):
            paths.state_dir.rmdir()  # gone unless something else still lives there
        return
    document = {"requests": [r.to_dict() for r in requests]}
    write_private(paths.erasure_file, json.dumps(document, indent=2) + "\n", root=paths.base)


def _log_event(paths: Paths, now: datetime, endpoint: str, text: str) -> None:
    try:
        transparency.append(paths, transparency.Entry(now, "erasure", endpoint, None, text))
    except OSError as error:  # the record of the event must not stop the event
        _log.warning("voicemode-otel: could not log %r: %s", text, error)


@dataclass(frozen=True)
class OptOut:
    """What giving up the ID did locally, and what it asked of the server."""

    removed: tuple[str, ...]
    request: Request | None
    """The erasure now owed (None: nothing was ever delivered, or ``keep_server_data``)."""
    unsupported: tuple[str, ...] = ()
    """Endpoints that received reports but cannot erase (not a VoiceMode Worker)."""
    telemetry_id: str | None = None
    undeletable: tuple[str, ...] = ()
    """Files that could not be deleted (a read-only folder); never used again while off."""


SEND_GRACE_SECONDS = 2.0
"""Beyond the send's own timeout: the sender's bookkeeping after its answer."""


def give_up_id(
    paths: Paths,
    now: datetime,
    environ: Mapping[str, str] | None = None,
    *,
    keep_server_data: bool = False,
    purge_log: bool = False,
    keep_local: bool = False,
) -> OptOut:
    """Record the erasure the ID is owed (if a report may have reached a server); delete the ID and state.

    Waits first for a send in progress (the delivery lock, at most one send's
    timeout), so that a report on the wire reaches the server before the erasure
    is asked for, and is deleted by it. Never contacts the network: :func:`attempt`
    does, after.
    """
    env = os.environ if environ is None else environ
    with contextlib.ExitStack() as stack:
        if paths.state_dir.is_dir():  # without it nothing can be sending
            wait = exporter_config.resolve(env).timeout_seconds + SEND_GRACE_SECONDS
            # Cannot lock (a read-only folder): the opt-out goes ahead, it never fails.
            with contextlib.suppress(OSError):
                stack.enter_context(delivery_lock.hold(paths, wait=wait))
        return _give_up_id(paths, now, env, keep_server_data, purge_log, keep_local)


def _give_up_id(
    paths: Paths,
    now: datetime,
    env: Mapping[str, str],
    keep_server_data: bool,
    purge_log: bool,
    keep_local: bool,
) -> OptOut:
    telemetry_id = identity.read(paths)
    state = load_state(paths, now)
    request = None
    unsupported: list[str] = []
    # Not only delivered reports: one that was sent but never answered (a dropped
    # connection after the server stored it), or is on the wire right now, may be stored.
    maybe_stored = (
        state.last_delivered_at is not None
        or state.last_attempt_at is not None
        or os.path.lexists(paths.pending_file)
    )
    if telemetry_id and maybe_stored and not keep_server_data:
        settings = exporter_config.resolve(env)
        targets = state.delivered_to or ((settings.endpoint,) if settings.endpoint else ())
        if not targets:  # a state from before endpoints were recorded, and no valid endpoint now
            unsupported.append(f"the endpoint ({settings.problem or 'none configured'})")
        urls = []
        for endpoint in targets:
            url = exporter_config.installation_url(endpoint, telemetry_id)
            (urls.append(url) if url else unsupported.append(endpoint))
        for endpoint in unsupported:
            _log_event(
                paths,
                now,
                endpoint,
                f"erasure not possible: not a VoiceMode Worker (ask its operator; ID {telemetry_id})",
            )
        if urls:
            request = Request(telemetry_id, tuple(urls), now, purge_log=purge_log)
            owed = [r for r in load(paths) if r.telemetry_id != telemetry_id]
            _save(paths, [*owed, request])
            for url in urls:
                _log_event(paths, now, url, "erasure requested")
    elif telemetry_id and keep_server_data and maybe_stored:
        _log_event(paths, now, "", "erasure not requested (--keep-server-data): the server keeps what it has")
    removed, failed = enrollment.withdraw(paths, keep_local=keep_local)
    return OptOut(tuple(removed), request, tuple(unsupported), telemetry_id, tuple(failed))


def erase_again(
    paths: Paths, telemetry_id: str, endpoint: str, now: datetime, environ: Mapping[str, str] | None = None
) -> list[Attempt]:
    """A report of a given-up ID was on its way to ``endpoint``: ask it to erase the ID (again), now.

    The erasure given up with the ID may have reached the server before that
    report did; this one comes after it. Owed like any erasure until confirmed.
    """
    url = exporter_config.installation_url(endpoint, telemetry_id)
    if url is None:
        text = f"erasure not possible: not a VoiceMode Worker (ask its operator; ID {telemetry_id})"
        _log_event(paths, now, endpoint, text)
        return []
    owed = load(paths)
    earlier = next((r for r in owed if r.telemetry_id == telemetry_id), None)
    request = (
        replace(earlier, urls=tuple(dict.fromkeys((*earlier.urls, url))), next_attempt_at=None)
        if earlier
        else Request(telemetry_id, (url,), now)
    )
    _save(paths, [*(r for r in owed if r.telemetry_id != telemetry_id), request])
    _log_event(paths, now, url, "erasure requested again: a report was on its way when the ID was given up")
    return attempt(paths, environ, now, force=True)


@dataclass(frozen=True)
class Attempt:
    """What one request's attempt came to."""

    request: Request
    outcome: str
    """``confirmed``, ``retry``, ``gave-up`` or ``waiting`` (not due, or paused)."""
    detail: str


def _backoff(attempts: int) -> timedelta:
    return min(BACKOFF_CAP, BACKOFF_BASE * (1 << min(max(0, attempts - 1), 16)))


def _delete_on_server(
    url: str, settings: exporter_config.ExportSettings
) -> tuple[int | None, str, float | None]:
    """One bounded DELETE, with the same headers, TLS files and causes as a report; never raises.

    ``(status or None, a one-line cause, Retry-After seconds)``.
    """
    from voicemode_otel.export import attempt as http_attempt
    from voicemode_otel.export import printable, retry_after_seconds

    answer = http_attempt.request("DELETE", url, settings)
    if answer.response is None:
        return None, answer.cause, None
    status = answer.response.status_code
    reason = printable(answer.response.reason or "", 80)
    return (
        status,
        f"{status} {reason}".strip(),
        retry_after_seconds(answer.response.headers.get("retry-after")),
    )


def attempt(
    paths: Paths,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    *,
    force: bool = False,
) -> list[Attempt]:
    """Try every erasure that is due (``force``: every one, now); update the record; never raises.

    Nothing is attempted while ``DO_NOT_TRACK``/``OTEL_SDK_DISABLED`` pauses
    everything: those switches mean nothing leaves the machine.
    """
    env = os.environ if environ is None else environ
    moment = now or datetime.now(timezone.utc)
    owed = load(paths)
    if not owed:
        return []
    if consent.decide(paths, env).state is consent.State.PAUSED:
        return [Attempt(r, "waiting", "paused: DO_NOT_TRACK or OTEL_SDK_DISABLED is set") for r in owed]
    settings = exporter_config.resolve(env)
    results: list[Attempt] = []
    kept: list[Request] = []
    for request in owed:
        if moment - request.requested_at > WINDOW:
            _log_event(
                paths,
                moment,
                ", ".join(request.urls),
                f"erasure gave up after 30 days: {request.last_result}",
            )
            results.append(Attempt(request, "gave-up", f"gave up after 30 days ({request.last_result})"))
            continue
        if not force and request.next_attempt_at and moment < request.next_attempt_at:
            kept.append(request)
            results.append(
                Attempt(request, "waiting", f"next attempt after {shown(request.next_attempt_at)}")
            )
            continue
        remaining: list[str] = []
        details: list[str] = []
        retry_after = 0.0
        gave_up = False
        for url in request.urls:
            # The user's own credentials authenticate an erasure at the user's own endpoint only.
            status, cause, wait = _delete_on_server(url, settings.for_url(url, request.telemetry_id))
            if status is not None and 200 <= status < 300:
                _log_event(paths, moment, url, f"erasure confirmed ({status})")
                details.append(f"confirmed by {url} ({status})")
            elif status in _GIVE_UP_STATUSES:
                _log_event(paths, moment, url, f"erasure gave up: {cause}")
                details.append(f"{url} cannot delete it: {cause}")
                gave_up = True
            else:
                remaining.append(url)
                details.append(f"{url}: {cause}")
                retry_after = max(retry_after, wait or 0.0)
        detail = "; ".join(details)
        if remaining:
            attempts = request.attempts + 1
            wait_for = max(
                _backoff(attempts), timedelta(seconds=min(retry_after, BACKOFF_CAP.total_seconds()))
            )
            updated = replace(
                request,
                urls=tuple(remaining),
                attempts=attempts,
                next_attempt_at=moment + wait_for,
                last_result=detail,
            )
            kept.append(updated)
            _log_event(
                paths,
                moment,
                ", ".join(remaining),
                f"erasure will retry after {shown(moment + wait_for)}: {detail}",
            )
            results.append(Attempt(updated, "retry", detail))
        else:
            results.append(Attempt(request, "gave-up" if gave_up else "confirmed", detail))
            if request.purge_log and not gave_up:
                shutil.rmtree(paths.transparency_dir, ignore_errors=True)
    _save(paths, kept)
    return results


def describe_owed(requests: list[Request]) -> list[str]:
    """One line per erasure still owed, for ``status``."""
    return [
        f"erasure requested {shown(r.requested_at)} at {', '.join(r.urls)}; "
        + (
            f"{r.attempts} attempt{'s' if r.attempts != 1 else ''} so far ({r.last_result}); "
            if r.attempts
            else ""
        )
        + (f"next attempt after {shown(r.next_attempt_at)}" if r.next_attempt_at else "next attempt: now")
        + f"; given up after {shown(r.requested_at + WINDOW)}"
        for r in requests
    ]


@dataclass(frozen=True)
class ForgetResult:
    """What ``forget`` did, server side and locally."""

    ok: bool
    server: str
    removed: tuple[str, ...] = ()
    remaining: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """Sentences for the CLI and MCP replies."""
        lines = [f"Server: {self.server}"]
        lines.extend(f"Deleted {path}." for path in self.removed)
        if self.remaining:
            lines.append(
                "Still owed (retried automatically for 30 days; `voicemode-otel forget` retries now): "
                + "; ".join(self.remaining)
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """The stable ``forget --json`` shape."""
        return {
            "ok": self.ok,
            "server": self.server,
            "removed": list(self.removed),
            "remaining": list(self.remaining),
        }


def summarize(attempts: list[Attempt]) -> str:
    """One sentence for what the attempts came to."""
    if not attempts:
        return "nothing was ever delivered from this installation, so nothing is stored on a server"
    parts = []
    for item in attempts:
        if item.outcome == "confirmed":
            parts.append(
                f"deleted every row of this installation ({item.detail}); its share of the daily and "
                "weekly totals, which carry no ID, remains"
            )
        elif item.outcome == "retry":
            parts.append(
                f"erasure requested but not yet confirmed ({item.detail}); it is retried automatically"
            )
        elif item.outcome == "waiting":
            parts.append(f"erasure pending ({item.detail})")
        else:
            parts.append(f"erasure gave up ({item.detail})")
    return "; ".join(parts)


def forget(
    paths: Paths, environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> ForgetResult:
    """Delete this installation's data on the server, then the ID, state and local log.

    Also completes any erasure an earlier opt-out still owes, at once. The
    preference is unchanged: while telemetry stays on, the next report gets a
    new, unlinkable ID.
    """
    env = os.environ if environ is None else environ
    moment = now or datetime.now(timezone.utc)
    decision = consent.decide(paths, env)
    had_log = paths.transparency_dir.exists()
    gave_up = give_up_id(paths, moment, env, purge_log=True, keep_local=decision.local)
    attempts = attempt(paths, env, moment, force=True)  # a confirmed erasure purges the log itself
    remaining = tuple(
        f"{a.request.telemetry_id} at {', '.join(a.request.urls)}"
        for a in attempts
        if a.outcome in ("retry", "waiting")
    )
    removed = list(gave_up.removed)
    if not remaining and paths.transparency_dir.exists():
        shutil.rmtree(paths.transparency_dir, ignore_errors=True)
    if had_log and not paths.transparency_dir.exists():  # however it went: say so
        removed.append(str(paths.transparency_dir))
    server = summarize(attempts)
    if gave_up.unsupported:
        server += (
            f"; {', '.join(gave_up.unsupported)} is not a VoiceMode Worker and cannot erase: "
            "ask its operator to "
            f"delete the data of ID {gave_up.telemetry_id}"
        )
    if gave_up.telemetry_id is None and not attempts:
        server = "no anonymous ID exists here and no erasure is owed, so there is nothing to delete"
    ok = not remaining and not gave_up.unsupported and all(a.outcome == "confirmed" for a in attempts)
    return ForgetResult(ok, server, tuple(removed), remaining)
