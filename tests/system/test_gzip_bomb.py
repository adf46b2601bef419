"""gzip bombs in workerd: the Worker inflates no further than its cap, measured as workerd's peak memory."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import bomb_memory
import pytest
from localworker import WORKER, LocalWorker

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads workerd's peak memory from /proc"),
]

BOMBS = 60
ALLOWANCE = 3 * bomb_memory.MIB
"""What one bomb may add beyond the decoded cap: one step's output (~258 KiB), buffers, garbage."""


def decoded_cap() -> int:
    """``LIMITS.decodedBytes`` of ``src/ingest/body.ts``: the most the Worker may inflate."""
    source = (WORKER / "src" / "ingest" / "body.ts").read_text(encoding="utf-8")
    found = re.search(r"decodedBytes: (\d+) \* (\d+),", source)
    assert found is not None, "decodedBytes not found in src/ingest/body.ts"
    return int(found.group(1)) * int(found.group(2))


@pytest.fixture
def worker() -> Iterator[LocalWorker]:
    """A freshly started local Worker: its workerd's peak memory starts clean."""
    with LocalWorker() as started:
        yield started


def test_sixty_bombs_at_once_cost_at_most_the_cap_each_plus_a_constant(worker: LocalWorker) -> None:
    """60 simultaneous 64 KiB bodies of 64 MiB each are all 413 and grow workerd by ≤ cap + 3 MiB each."""
    assert worker.pid is not None
    cost = bomb_memory.measure(worker.port, worker.pid, BOMBS)
    assert set(cost.statuses) == {413}
    assert cost.per_bomb <= decoded_cap() + ALLOWANCE, f"{cost.per_bomb / bomb_memory.MIB:.1f} MiB per bomb"
