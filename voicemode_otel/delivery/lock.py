"""The delivery lock: one file lock that a send holds for its whole attempt, and an erasure waits for.

``delivery.run`` holds ``telemetry/delivery.lock`` while it builds and sends; a
second VoiceMode process finds it taken and skips its run rather than racing. Giving
the ID up (``disable``, the MCP tool, an opt-out the reporter notices, ``forget``)
*waits* for it, at most the time one send may take: a report on the wire when the
user opts out then reaches the server before the ``DELETE`` does, so the erasure
deletes it too — instead of the report landing after "deleted every row" and staying
there for 90 days. (Should the wait run out, the sender notices the ID was given up
during its send and asks for the erasure again: ``delivery``.)

A ``flock`` on Linux and macOS (``msvcrt.locking`` on Windows) is held per open file,
so two threads of one process exclude each other like two processes do; the thread
that holds the lock may take it again (an opt-out noticed in the middle of a send).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator

from voicemode_otel.store import Paths, ensure_private_dir, open_regular

POLL_SECONDS = 0.05
_held = threading.local()


def _try_lock(handle: int) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def hold(paths: Paths, wait: float = 0.0) -> Iterator[bool]:
    """Take the lock, waiting up to ``wait`` seconds; yields whether it is held.

    Released when the block ends (closing the file releases it, a crash too).
    Re-entrant for the thread that holds it. Raises OSError only when the lock
    file cannot be opened (a link or a FIFO in its place, a read-only folder).
    """
    held: set[str] = getattr(_held, "paths", set())
    key = str(paths.lock_file)
    if key in held:
        yield True
        return
    ensure_private_dir(paths.state_dir, root=paths.base)
    handle = open_regular(paths.lock_file, os.O_RDWR | os.O_CREAT)
    try:
        deadline = time.monotonic() + wait
        acquired = _try_lock(handle)
        while not acquired and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            acquired = _try_lock(handle)
        if acquired:
            _held.paths = held | {key}
        try:
            yield acquired
        finally:
            if acquired:
                _held.paths = getattr(_held, "paths", set()) - {key}
    finally:
        os.close(handle)
