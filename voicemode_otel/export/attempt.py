"""One HTTP request per run, bounded as a whole by the configured timeout, with one cause.

The package's delivery state machine is the retry policy (the report is kept,
backed off and resent with the same bytes), so a run makes exactly one
request: the official exporter's own retries would only stack a second policy
on top — seconds of sleeping and a stderr line per try. Both the report
(``sender``) and the erasure request (``erasure``) go through here.

Why a worker thread: ``requests``' timeout bounds each socket operation, not
the request, so a server that answers one byte a second never trips it, and a
name lookup cannot be interrupted at all. The request therefore runs on a
daemon thread and the caller waits for it at most the timeout. At the deadline
every socket the attempt opened is shut down (the thread ends, the server sees
the close) and no new connection or request may start.

What the request carries is pinned here too: exactly the resolved headers and
TLS files (the exporter would otherwise merge in its own reading of the
``OTEL_*`` variables, invalid entries included).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from voicemode_otel.export.config import ExportSettings
from voicemode_otel.export.errors import describe, duration

_log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
"""An OTLP or erasure response is a few bytes; a server sending more is not read further."""
AFTER_DEADLINE_GRACE = 0.3
"""How long the caller lets the worker notice its sockets were shut (to return its cause)."""

# The libraries whose own messages about *our* attempt are kept off stderr (they are
# logged at debug level instead): the attempt's one cause says what happened.
_QUIET_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.common._exporter_metrics",
    "opentelemetry.exporter.http.transport._requests",
    "opentelemetry.util.re",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
)
_QUIET_THREADS: set[int] = set()


class AttemptRefused(requests.exceptions.RequestException):
    """A second request in one attempt, or one after its deadline: refused, nothing sent."""


class ConsentWithdrawn(AttemptRefused):
    """Consent was gone at the moment the request was to leave; nothing was sent."""


class _Quiet(logging.Filter):
    """Drops records emitted on an attempt's worker thread (after logging them at debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread in _QUIET_THREADS:
            _log.debug("%s: %s", record.name, record.getMessage())
            return False
        return True


_FILTER = _Quiet()
for _name in _QUIET_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


@dataclass(frozen=True)
class Answer:
    """What became of the one request: a response, or why there is none."""

    response: requests.Response | None
    cause: str
    """One line for a person when there is no response ("connection refused by ...")."""
    withdrawn: bool = False
    result: object = None
    """What a non-HTTP exchange came to (the gRPC sender's ``SendResult``)."""


class Attempt:
    """The state of one bounded request, shared by the caller and the worker thread."""

    def __init__(self, url: str, timeout: float, allowed: Callable[[], bool] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._allowed = allowed
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._answer: Answer | None = None
        self._requests = 0
        self._sockets: list[socket.socket] = []
        self._cleanups: list[Callable[[], None]] = []
        self._cleaned = False

    def admit(self) -> None:
        """Let the attempt's one request leave, or refuse it (spent, expired, no consent)."""
        with self._lock:
            if self._answer is not None or self._requests:
                raise AttemptRefused("this run's one attempt is spent; nothing sent")
            self._requests += 1
        if self._allowed is not None and not _consents(self._allowed):
            self._settle(Answer(None, "consent withdrawn before sending; nothing sent", withdrawn=True))
            raise ConsentWithdrawn("telemetry consent was withdrawn; nothing sent")

    def opened(self, sock: socket.socket) -> socket.socket:
        """Register a new connection's socket so the deadline can shut it; none after the deadline."""
        with self._lock:
            if self._answer is None:
                self._sockets.append(sock)
                return sock
        sock.close()
        raise AttemptRefused("the attempt is over; connection not used")

    def responded(self, response: requests.Response) -> None:
        """The whole response (status, headers, body) has arrived."""
        self._settle(Answer(response, f"{response.status_code}"))

    def concluded(self, result: object) -> None:
        """A non-HTTP exchange (gRPC) ended with ``result``."""
        self._settle(Answer(None, "", result=result))

    def failed(self, error: BaseException) -> None:
        """The request failed before a whole response arrived (through a proxy? it is named)."""
        from voicemode_otel.export import proxies

        self._settle(Answer(None, describe(error, self.url, self.timeout, proxies.for_url(self.url))))

    def finished(self) -> None:
        """The work is done; if it never made its request, say so."""
        self._settle(Answer(None, "nothing was sent (the exporter refused the report; see the debug log)"))

    def expire(self, cause: str) -> None:
        """End the attempt now: shut every socket it opened so nothing waits on them."""
        self._settle(Answer(None, cause))
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on another thread

    def add_cleanup(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` once the attempt is settled (at once if it already was cleaned up)."""
        with self._lock:
            if not self._cleaned:
                self._cleanups.append(cleanup)
                return
        _quietly(cleanup)

    def clean_up(self) -> None:
        """Run the registered clean-ups once, from whichever thread gets here first."""
        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
            cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            _quietly(cleanup)

    def wait(self) -> Answer:
        """Wait for the answer until the deadline; past it, expire the attempt."""
        if not self._settled.wait(max(0.0, self.deadline - time.monotonic())):
            self.expire(f"timed out after {duration(self.timeout)}")
        answer = self._answer
        assert answer is not None  # set before _settled
        return answer

    def _settle(self, answer: Answer) -> None:
        with self._lock:
            if self._answer is not None:
                return
            self._answer = answer
        self._settled.set()


def _consents(allowed: Callable[[], bool]) -> bool:
    try:
        return allowed()
    except Exception:  # an unreadable decision is no consent: nothing leaves
        _log.debug("voicemode-otel: consent check failed", exc_info=True)
        return False


def _quietly(cleanup: Callable[[], None]) -> None:
    try:
        cleanup()
    except Exception:
        _log.debug("voicemode-otel: clean-up failed", exc_info=True)


def _tracked_pools(attempt: Attempt) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose new sockets the attempt knows about (to shut them at its deadline)."""

    class Connection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return attempt.opened(super()._new_conn())

    class SecureConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return attempt.opened(super()._new_conn())

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}


class _AttemptAdapter(HTTPAdapter):
    """No ``urllib3`` retries; one request per attempt, let through only with consent."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The standard pool manager, with connections the attempt can shut."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _tracked_pools(self._attempt)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Admit, then send as usual; a failure is the attempt's answer."""
        self._attempt.admit()
        try:
            return super().send(request, *args, **kwargs)
        except Exception as error:
            self._attempt.failed(error)
            raise


class PinnedSession(requests.Session):
    """A session for one attempt: exactly these headers and TLS files, one request, a capped body.

    Whatever headers the caller's library passes are replaced by ``fixed`` (what
    the request format needs: the exporter's ``Content-Type``, ``Content-Encoding``
    and ``User-Agent``) plus the resolved ones. The exporter re-reads
    ``OTEL_EXPORTER_OTLP_HEADERS`` itself and would otherwise send what
    ``resolve`` dropped: a CR/LF entry that fails every request, a
    ``Content-Encoding`` that contradicts the gzip body.
    """

    def __init__(
        self, attempt: Attempt, settings: ExportSettings, fixed: Mapping[str, str] | None = None
    ) -> None:
        super().__init__()
        self._attempt = attempt
        self._headers = {**(fixed or {}), **settings.headers}
        self._verify: bool | str = settings.certificate_file or True
        self._cert: str | tuple[str, str] | None = settings.client_certificate_file
        if settings.client_certificate_file and settings.client_key_file:
            self._cert = (settings.client_certificate_file, settings.client_key_file)
        adapter = _AttemptAdapter(attempt)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.hooks["response"].append(self._read_capped)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """Send exactly the pinned headers, whatever the caller asked for."""
        request.headers = dict(self._headers)
        return super().prepare_request(request)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        """TLS from the resolved settings, whatever the caller set on the session.

        ``REQUESTS_CA_BUNDLE`` still applies when no CA file is configured, as it
        does for any ``requests`` user; a configured one always wins.
        """
        merged = super().merge_environment_settings(url, proxies, stream, self._verify, None)
        merged["cert"] = self._cert
        return merged

    def _read_capped(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Read the body here, under the deadline, and at most ``MAX_RESPONSE_BYTES`` of it."""
        body = bytearray()
        try:
            for chunk in response.iter_content(8192):
                body.extend(chunk)
                if len(body) > MAX_RESPONSE_BYTES:
                    body.clear()  # too long to be an OTLP response: keep the status, not the body
                    response.close()
                    break
        except Exception as error:
            self._attempt.failed(error)
            raise
        # requests reads ``content`` again after the hooks unless it is already set.
        response._content = bytes(body)
        self._attempt.responded(response)


def run(attempt: Attempt, work: Callable[[], None]) -> Answer:
    """Run ``work`` (which makes the attempt's request) on a daemon thread; answer by the deadline."""

    def worker() -> None:
        _QUIET_THREADS.add(threading.get_ident())
        try:
            work()
        except Exception as error:
            attempt.failed(error)
        finally:
            attempt.finished()
            attempt.clean_up()
            _QUIET_THREADS.discard(threading.get_ident())

    thread = threading.Thread(target=worker, name="voicemode-otel-http", daemon=True)
    thread.start()
    answer = attempt.wait()
    attempt.clean_up()
    if answer.response is None:
        thread.join(AFTER_DEADLINE_GRACE)  # let it release its sockets; never wait longer
    return answer


def request(method: str, url: str, settings: ExportSettings) -> Answer:
    """One bounded request with the resolved headers and TLS settings (``forget``'s DELETE)."""
    attempt = Attempt(url, settings.timeout_seconds)
    session = PinnedSession(attempt, settings)
    attempt.add_cleanup(session.close)

    def work() -> None:
        session.request(method, url, timeout=settings.timeout_seconds, allow_redirects=False)

    return run(attempt, work)
