"""The local Worker the tests start: it comes up even when the free port it chose is taken first."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import localworker
import pytest
from localworker import LocalWorker

pytestmark = pytest.mark.e2e


def test_a_port_taken_before_wrangler_binds_it_is_chosen_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port LocalWorker chose, bound by another process before wrangler: it chooses again, and serves."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        real = localworker.free_port

        def chosen() -> Iterator[int]:
            yield port
            while True:
                yield real()

        ports = chosen()
        monkeypatch.setattr(localworker, "free_port", lambda: next(ports))
        with LocalWorker() as worker:
            assert worker.port != port
            with urllib.request.urlopen(f"{worker.base_url}/healthz", timeout=10) as answer:
                assert answer.status == 200
