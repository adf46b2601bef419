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

import io
import os
import re
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import TracebackType

MAX_LINE_BYTES = 1 << 20
"""The longest line read, newline excluded (1 MiB); VoiceMode's lines are about 1 KB."""

_BUFFER_BYTES = 1 << 16
_SKIP_BYTES = 1 << 20
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
    """A regular file opened for reading, whose lines come out bounded in length."""

    def __init__(self, descriptor: int, max_line_bytes: int) -> None:
        self._handle = io.BufferedReader(io.FileIO(descriptor, "rb"), buffer_size=_BUFFER_BYTES)
        self._max = max_line_bytes
        self.overlong = 0
        """Lines skipped for being longer than the limit."""

    def lines(self) -> Iterator[bytes]:
        """Each line, newline included, split as Python's text mode splits lines (LF, CR LF, CR).

        A physical line (up to LF) longer than the limit is read past in
        limit-sized pieces and counted in :attr:`overlong`, never held whole.
        Whatever the file does meanwhile — shrinks, is replaced, grows — reading
        ends at the end the descriptor sees.
        """
        read, limit = self._handle.readline, self._max + 1
        while line := read(limit):
            if len(line) == limit and line[-1] != 0x0A:
                self._skip_rest()
                continue
            if b"\r" in line:
                yield from _universal_lines(line)
            else:
                yield line

    def _skip_rest(self) -> None:
        """Read past the rest of an over-long line, in big blocks, then step back to just after its LF."""
        self.overlong += 1
        block = bytearray(_SKIP_BYTES)
        while size := self._handle.readinto(block):
            end = block.find(b"\n", 0, size)
            if end != -1:
                self._handle.seek(end + 1 - size, os.SEEK_CUR)  # a regular file, so seekable
                return

    def close(self) -> None:
        """Close the descriptor."""
        self._handle.close()

    def __enter__(self) -> LogFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _universal_lines(line: bytes) -> list[bytes]:
    """One LF-terminated line holding a CR, split as text mode would (VoiceMode never writes a CR)."""
    parts = line.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    tail = parts.pop()
    out = [part + b"\n" for part in parts]
    if tail:
        out.append(tail)
    return out


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
