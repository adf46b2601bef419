"""Crash-safe, link-safe reads and writes of small private files under the base directory.

State, the ID and ``voicemode.env`` are replaced with write-to-temp, fsync and
rename so a crash or a second process never sees half a file, and are created
0600 because they belong to the user alone.

The base directory is the user's own, and so are its hostile corners: a link
named ``telemetry_id`` that points at another file, a FIFO where a file should
be, a directory where a link target should be. Nothing here ever writes
*through* a symbolic link below ``root`` (the base directory, which may itself
be a link, e.g. to a dotfiles folder): files are opened with ``O_NOFOLLOW``
and ``O_NONBLOCK``, checked with ``fstat`` to be regular files, and every
directory we create or write into is checked with ``lstat`` to be a real one.
Anything else raises :class:`UnsafePath` with a sentence naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
MAX_PRIVATE_FILE_BYTES = 1 << 20
"""Our own files are a few hundred bytes; anything past 1 MiB is not ours to load."""


class UnsafePath(OSError):
    """A path we would read or write is a link, a FIFO, a device or a directory; left untouched."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(errno.ELOOP, f"{path} is {what}; voicemode-otel never reads or writes through it")
        self.path = path
        self.what = what

    def __str__(self) -> str:
        return str(self.strerror)


def kind_of(mode: int) -> str:
    """A few words for a file type, for messages."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def ensure_private_dir(path: Path, *, root: Path) -> None:
    """Create ``path`` (0700) and its parents below ``root``; each must be a real directory.

    ``root`` itself is created if missing but may be a link; a link (or a
    file) anywhere between ``root`` and ``path`` raises :class:`UnsafePath`.
    """
    if not root.exists():
        root.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise UnsafePath(path, f"outside {root}") from None
    current = root
    for part in relative.parts:
        current = current / part
        try:
            info = current.lstat()
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                current.mkdir(mode=PRIVATE_DIR_MODE)
            info = current.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafePath(current, kind_of(info.st_mode))


def _check_replaceable(path: Path) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(path, kind_of(info.st_mode))


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible everywhere (and not needed for correctness).
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_file(target: Path, data: bytes, mode: int = PRIVATE_FILE_MODE) -> None:
    """Atomically replace the regular file ``target`` (or create it) in its own, existing directory."""
    _check_replaceable(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)  # noqa: PTH101 - the temp file is named by mkstemp, not a Path
        _check_replaceable(target)  # a link could have appeared meanwhile: still never write through it
        os.replace(tmp_name, target)  # noqa: PTH105 - a str from mkstemp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)  # noqa: PTH108
        raise
    _fsync_dir(target.parent)


def write_private(path: Path, data: bytes | str, *, root: Path) -> None:
    """Atomically replace ``path`` below ``root`` with ``data``, mode 0600; never through a link."""
    ensure_private_dir(path.parent, root=root)
    replace_file(path, data.encode("utf-8") if isinstance(data, str) else data)


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = PRIVATE_FILE_MODE) -> int:
    """A file descriptor for the regular file ``path``, opened without following a link or blocking.

    ``O_NONBLOCK`` keeps a FIFO from hanging the open; ``fstat`` then refuses
    anything that is not a regular file. Raises FileNotFoundError or
    :class:`UnsafePath`.
    """
    try:
        fd = os.open(path, flags | NOFOLLOW | _NONBLOCK | _CLOEXEC, mode)
    except OSError as error:
        # ELOOP: a link (EMLINK on FreeBSD); ENXIO: a FIFO opened for writing with no reader.
        if error.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR):
            try:
                what = kind_of(path.lstat().st_mode)
            except OSError:
                what = "not a regular file"
            raise UnsafePath(path, what) from error
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafePath(path, kind_of(info.st_mode))
    if _NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def read_private(path: Path, limit: int = MAX_PRIVATE_FILE_BYTES) -> bytes | None:
    """The bytes of our own small file, None if it does not exist.

    Raises :class:`UnsafePath` for a link or a non-regular file and
    ValueError for a file larger than ``limit`` (it is not ours).
    """
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    return data


def append_private(path: Path, data: bytes, *, root: Path) -> None:
    """Append ``data`` to ``path`` below ``root`` (created 0600); never through a link."""
    ensure_private_dir(path.parent, root=root)
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()


def remove(path: Path) -> bool:
    """Delete the file or link at ``path`` (never what a link points to); True when one went."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        return False
    except PermissionError:
        if path.is_dir() and not path.is_symlink():
            return False  # a directory where a file should be: not ours to delete
        raise
    return True
