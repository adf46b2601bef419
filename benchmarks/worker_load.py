"""A bounded HTTP/1.1 load generator for 127.0.0.1: a fixed list of requests, a few keep-alive connections.

Closed loop: each of ``concurrency`` connections sends its next request as soon as the
previous answer is read, until the list is used up or ``deadline`` seconds pass — it
always stops by itself. Requests are pre-encoded bytes, so the generator spends its CPU
on sockets rather than on building requests (it shares the machine with workerd).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


def encode(path: str, port: int, body: bytes, headers: Mapping[str, str]) -> bytes:
    """One ``POST`` request as bytes on the wire."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class LoadResult:
    """What came back: status counts, per-request latencies (s) and the wall time of the run."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    ok_latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def rate(self, status: int | None = None) -> float:
        """Answers per second (all of them, or only those with ``status``)."""
        n = self.count if status is None else self.statuses[status]
        return n / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, q: float, only_ok: bool = True) -> float:
        samples = sorted(self.ok_latencies if only_ok else self.latencies)
        if not samples:
            return float("nan")
        return samples[min(len(samples) - 1, int(q * len(samples)))] * 1000

    def median_ms(self) -> float:
        return statistics.median(self.ok_latencies) * 1000 if self.ok_latencies else float("nan")


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Reads one response (Content-Length or chunked) and returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _connection(port: int, requests: list[bytes], result: LoadResult, stop_at: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests and time.perf_counter() < stop_at:
            request = requests.pop()
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latency = time.perf_counter() - started
            result.statuses[status] += 1
            result.latencies.append(latency)
            if status == 200:
                result.ok_latencies.append(latency)
    finally:
        writer.close()


async def _run(port: int, requests: Sequence[bytes], concurrency: int, deadline: float) -> LoadResult:
    queue = list(reversed(requests))  # pop() from the end keeps the given order
    result = LoadResult()
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, queue, result, started + deadline) for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


def run_load(port: int, requests: Sequence[bytes], *, concurrency: int, deadline: float = 60.0) -> LoadResult:
    """Sends ``requests`` to 127.0.0.1:``port`` over ``concurrency`` connections; stops by itself."""
    return asyncio.run(_run(port, requests, concurrency, deadline))
