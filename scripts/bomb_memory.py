"""What gzip bombs cost workerd in memory, as its peak resident size (VmHWM).

The peak resident size of the local Worker's workerd process is read before and
after N bombs posted at once. A bomb is the largest body the Worker reads (64 KiB on
the wire) holding 64 MiB of zeros after gzip: the Worker answers 413 whatever it
does, so the question is only how much it inflated on the way. workerd's peak RSS
is read from ``/proc`` (Linux). Used by ``benchmarks/bench_worker.py`` (a ``make
bench`` row) and ``tests/system/test_gzip_bomb.py``.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
INFLATED = 64 * MIB


def bomb() -> bytes:
    """64 MiB of zeros, gzip'd to just under the Worker's 64 KiB wire cap."""
    body = gzip.compress(bytes(INFLATED), compresslevel=9, mtime=0)
    assert len(body) <= 64 * 1024, len(body)
    return body


def workerd_pid(group: int) -> int:
    """The workerd process that runs the Worker, in wrangler's process group (``LocalWorker.pid``).

    ``wrangler dev`` starts two: one serving the port (its proxy, which passes the
    64 KiB body through) and one running the Worker itself, the one with an inspector.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        if arguments[0].endswith(b"workerd") and any(a.startswith(b"--inspector-addr") for a in arguments):
            found.append(int(entry.name))
    if len(found) != 1:
        raise RuntimeError(f"expected one Worker workerd in process group {group}, found {found}")
    return found[0]


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise RuntimeError("no VmHWM in /proc status")
    return int(match.group(1)) * 1024


def post(port: int, body: bytes, address: str, path: str = "/v1/metrics") -> int:
    """One gzip'd protobuf POST; the status code."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request(
            "POST",
            path,
            body,
            {
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "gzip",
                "CF-Connecting-IP": address,
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@dataclass(frozen=True)
class BombCost:
    """Peak RSS growth of workerd for ``bombs`` bombs posted at once."""

    bombs: int
    before: int
    after: int
    statuses: tuple[int, ...]

    @property
    def per_bomb(self) -> float:
        """Bytes of peak RSS growth per bomb."""
        return (self.after - self.before) / self.bombs


def measure(port: int, group: int, bombs: int, path: str = "/v1/metrics") -> BombCost:
    """Warm up with two bombs, then post ``bombs`` at once to ``path``; workerd's peak RSS growth."""
    body = bomb()
    pid = workerd_pid(group)
    for index in range(2):  # isolate, JIT and the decompressor's own buffers exist before measuring
        assert post(port, body, f"198.51.100.{index}", path) == 413
    before = peak_rss(pid)
    statuses: list[int] = [0] * bombs
    start = threading.Barrier(bombs)

    def one(index: int) -> None:
        start.wait()
        statuses[index] = post(port, body, f"198.51.100.{10 + index}", path)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(bombs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return BombCost(bombs, before, peak_rss(pid), tuple(statuses))
