"""A tiny forwarding HTTP proxy on 127.0.0.1, for tests that check a report really goes through one.

It does what ``HTTP_PROXY``/``HTTPS_PROXY`` ask of a proxy: an absolute-form
request (``POST http://host:port/path``) is forwarded to its target and the
answer relayed; ``CONNECT host:port`` opens a tunnel (HTTPS, gRPC). Every
request it handled is recorded (method and target), so a test can tell a
report that went through the proxy from one that went around it.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}


@dataclass
class ForwardProxy:
    """Start with :meth:`start` or as a context manager; ``url`` is what HTTP_PROXY names."""

    handled: list[tuple[str, str]] = field(default_factory=list)
    """``(method, target)`` of each request: ``POST http://…`` or ``CONNECT host:port``."""
    proxy_authorization: list[str] = field(default_factory=list)
    """The ``Proxy-Authorization`` header of each request that had one."""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "proxy not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ForwardProxy:
        """Bind a free port on 127.0.0.1 and serve on daemon threads."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _record(self) -> None:
                with proxy._lock:
                    proxy.handled.append((self.command, self.path))
                    if "Proxy-Authorization" in self.headers:
                        proxy.proxy_authorization.append(self.headers["Proxy-Authorization"])

            def _forward(self) -> None:
                self._record()
                target = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=30)
                try:
                    upstream.request(self.command, path or "/", body=body, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                except OSError:
                    self.send_error(502, "Bad Gateway")
                    return
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP | {"content-length", "transfer-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _forward
            do_DELETE = _forward
            do_GET = _forward

            def do_CONNECT(self) -> None:
                self._record()
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
                except OSError:
                    self.send_error(502, "Bad Gateway")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                _relay(self.connection, upstream)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="forward-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    with contextlib.closing(upstream):
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for source in readable:
                try:
                    data = source.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
