"""Real TCP servers on 127.0.0.1 that misbehave the ways networks and endpoints do.

Each one accepts real connections on a free port and is stopped by closing its
listening socket and every connection it accepted (no process is left behind):

* ``never_answers`` — accepts, reads the request, then says nothing while the
  connection stays open;
* ``slow_drip`` — answers a valid HTTP response one byte a second, so no
  single socket read ever waits long enough to hit a per-read timeout;
* ``resets`` — reads the request, then aborts the connection with a TCP RST;
* ``closes_silently`` — reads the request, then closes without a byte of answer;
* ``endless_body`` — a 200 whose chunked body never ends, sent as fast as it goes;
* :func:`answers` — fixed raw bytes (a hostile status line, say), then close;
* :func:`unreachable_port` — a port nothing listens on (connection refused).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Behaviour = Callable[[socket.socket, threading.Event], None]
DRIP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n" * 50


def _read_request(conn: socket.socket, stop: threading.Event) -> bytes:
    """Read the whole request, body included (unread bytes would turn a close into a reset)."""
    conn.settimeout(0.2)
    data = b""
    while not stop.is_set():
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            if len(body) >= length:
                break
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def never_answers(conn: socket.socket, stop: threading.Event) -> None:
    """Read the request and hold the connection open, silent, until stopped."""
    _read_request(conn, stop)
    stop.wait()


def slow_drip(conn: socket.socket, stop: threading.Event) -> None:
    """Answer one byte a second: each read succeeds, the whole response never ends in time."""
    _read_request(conn, stop)
    for byte in DRIP_RESPONSE:
        if stop.wait(1.0):
            return
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return


def resets(conn: socket.socket, stop: threading.Event) -> None:
    """Read the request, then abort the connection (SO_LINGER 0 makes close send an RST)."""
    _read_request(conn, stop)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def closes_silently(conn: socket.socket, stop: threading.Event) -> None:
    """Read the request, then close the connection without answering."""
    _read_request(conn, stop)
    conn.close()


def endless_body(conn: socket.socket, stop: threading.Event) -> None:
    """Answer 200 with a chunked body that never ends."""
    _read_request(conn, stop)
    conn.settimeout(5)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (65536, b"\0" * 65536)
    while not stop.is_set():
        conn.sendall(chunk)


def answers(data: bytes) -> Behaviour:
    """Read the request, send ``data`` as it is, close."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        _read_request(conn, stop)
        conn.sendall(data)
        conn.close()

    return behaviour


@dataclass
class HostileServer:
    """A listening socket on 127.0.0.1 whose connections get ``behaviour``."""

    behaviour: Behaviour
    connections: int = 0
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _accepted: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._listener is not None, "server not started"
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/metrics"

    def start(self) -> HostileServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, name="hostile-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._accepted.append(conn)
            worker = threading.Thread(target=self._serve, args=(conn,), name="hostile-conn", daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.behaviour(conn, self._stop)

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for conn in self._accepted:
                with contextlib.suppress(OSError):
                    conn.close()
        deadline = time.monotonic() + 5
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def unreachable_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound once to pick it, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
