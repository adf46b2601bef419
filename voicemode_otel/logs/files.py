"""VoiceMode's daily conversation log files: which there are, and reading them safely.

The conversations directory is the user's own, but anything can end up in it:
a FIFO named like a log (a plain ``open()`` blocks until some writer appears,
which may be never, holding the send lock all the while), a socket, a
directory, a device (``/dev/zero`` never ends), a file truncated or replaced
while it is read, a line of gigabytes without a newline. So a log is opened
with ``os.open(O_RDONLY | O_NONBLOCK)``, which returns at once whatever the
path is, and read only if ``fstat`` on that descriptor says it is a regular
file; lines longer than :data:`MAX_LINE_BYTES` are skipped as they stream
past, so memory stays bounded whatever a file holds.

Symbolic links are followed on purpose (no ``O_NOFOLLOW``): a user may keep
the logs on another disk and link them in, and reading is harmless — what a
link points at is checked by the same ``fstat``, so a link to a FIFO or a
device is skipped like the thing itself. Nothing is ever written here.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import TracebackType

MAX_LINE_BYTES = 1 << 20
"""The longest line read, newline excluded (1 MiB); VoiceMode's lines are about 1 KB."""

_BLOCK_BYTES = 1 << 16
"""One read (64 KiB): small enough to stay in the allocator's reused heap and the CPU's cache
(reading 93 MB took 21 ms this way, 43 to 55 ms in 256 KiB reads)."""
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
_FILE_NAME = re.compile(r"^exchanges_(\d{4}-\d{2}-\d{2})\.jsonl$")


def log_files(conversations_dir: Path) -> list[tuple[date, Path]]:
    """VoiceMode's daily log files by their names, oldest first; other names are ignored.

    What each entry really is (a regular file or not) is decided when it is
    opened, on the descriptor, never by a ``stat`` of the path beforehand.
    """
    try:
        entries = list(conversations_dir.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _FILE_NAME.match(entry.name)
        if match:
            try:
                found.append((date.fromisoformat(match[1]), entry))
            except ValueError:
                continue
    return sorted(found)


class LogFile:
    """A regular file opened for reading, read in blocks of whole lines bounded in length."""

    def __init__(self, descriptor: int, max_line_bytes: int) -> None:
        self._descriptor = descriptor
        self._max = max_line_bytes
        self.overlong = 0
        """Lines skipped for being longer than the limit."""

    def blocks(self) -> Iterator[bytes]:
        """The file as runs of whole lines, each ending in LF (the file's last line may not).

        Reading whole blocks lets the decoder take many lines per call. A line
        longer than the limit is read past and counted in :attr:`overlong`,
        never held whole: memory is a block plus one line. Whatever the file
        does meanwhile — shrinks, is replaced, grows — reading ends at the end
        the descriptor sees.
        """
        size = min(_BLOCK_BYTES, self._max)  # so no line inside one block can exceed the limit
        pending, skipping = b"", False
        # Each read is copied once at most (the carried partial line joined to the
        # whole lines after it through a memoryview), not twice: every byte of the
        # logs passes through here.
        while chunk := os.read(self._descriptor, size):
            if skipping:  # inside an over-long line: drop everything up to its LF
                end = chunk.find(b"\n")
                if end == -1:
                    continue
                skipping, chunk = False, chunk[end + 1 :]
            end = chunk.rfind(b"\n")
            if end == -1:  # no line ends here: all of it belongs to the carried line
                pending += chunk
                if len(pending) > self._max:
                    self.overlong += 1
                    pending, skipping = b"", True
                continue
            if not pending:
                block = chunk if end + 1 == len(chunk) else chunk[: end + 1]
            elif len(pending) + chunk.find(b"\n") > self._max:  # the carried line grew too long
                self.overlong += 1
                block = chunk[chunk.find(b"\n") + 1 : end + 1]
            else:
                block = pending + memoryview(chunk)[: end + 1]
            pending = chunk[end + 1 :]  # shorter than one read, so never over the limit
            if block:
                yield block
        if pending:
            yield pending

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self._descriptor)

    def __enter__(self) -> LogFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def split_lines(block: bytes) -> list[bytes]:
    """A block's lines, split as Python's text mode splits them (LF, CR LF, CR; VoiceMode writes only LF)."""
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = block.split(b"\n")
    if not lines[-1]:
        lines.pop()  # the block ended with LF
    return lines


def open_log(path: Path, max_line_bytes: int | None = None) -> LogFile | None:
    """``path`` opened for reading if it is (or links to) a regular file; None for anything else.

    Lines are limited to ``max_line_bytes``, by default :data:`MAX_LINE_BYTES`
    (read when called, so a test can lower it).

    Never blocks: ``O_NONBLOCK`` makes opening a FIFO return at once, and the
    type is checked on the open descriptor, so nothing can be swapped in
    between a check and the open.
    """
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError:  # gone since listed, a socket (ENXIO), no permission, a link loop
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            return None
        return LogFile(descriptor, MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes)
    except BaseException:
        os.close(descriptor)
        raise
