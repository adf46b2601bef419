"""Rewriting one key of VoiceMode's ``voicemode.env``, keeping every other byte.

The file belongs to VoiceMode and to the user: it is read the way a shell
would source it (a line is read by the package root's :func:`~voicemode_otel.assignment`
and :func:`~voicemode_otel.unquote`, the same two the host's start-up uses to find
``VOICEMODE_TELEMETRY`` alone) and when the preference changes only that key's line is replaced. The file
is handled as bytes (``surrogateescape``), so a Latin-1 comment or a stray
byte survives exactly, and CRLF endings stay CRLF.

What may be rewritten: a regular file, or — if ``voicemode.env`` is a link,
as dotfile managers make them — the link's target, but only when that is a
regular file owned by this user (the change says so). A read-only file is
respected. Anything else raises :class:`EnvFileError` and changes nothing;
:mod:`voicemode_otel.operations.preference` then makes sure an opt-out still holds.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import voicemode_otel as rules  # the consent rules, in the one module the host's start-up loads
from voicemode_otel.store.atomic import PRIVATE_DIR_MODE, UnsafePath, kind_of, open_regular, replace_file

_CANNOT_REPLACE = (errno.EACCES, errno.EPERM, errno.EROFS)


class EnvFileError(Exception):
    """``voicemode.env`` cannot be read or rewritten as it is; nothing was changed."""


@dataclass(frozen=True)
class EnvChange:
    """What :func:`set_value` did."""

    previous: str | None
    written: Path
    """The file that now holds the line (the link's target when ``voicemode.env`` is a link)."""
    note: str | None = None
    """A sentence for the user when the write was not the plain atomic one."""


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at newlines only, as a shell reads them.

    (``str.splitlines`` also splits at vertical tabs, form feeds and other
    separators a shell keeps inside a line, so it could find an assignment
    no shell would see.)
    """
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse(text: str) -> dict[str, str]:
    """Every assignment in ``text``; a later line wins, as in a shell."""
    values: dict[str, str] = {}
    for raw in split_lines(text):
        line = raw[:-1] if raw.endswith("\n") else raw
        found = rules.assignment(line[:-1] if line.endswith("\r") else line)
        if found is not None:
            values[found[2]] = rules.unquote(found[3])
    return values


def _target(path: Path) -> tuple[Path, str | None]:
    """The file to read and rewrite, and a note when it is a link's target."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return path, None
    if stat.S_ISREG(info.st_mode):
        return path, None
    if not stat.S_ISLNK(info.st_mode):
        raise EnvFileError(f"{path} is {kind_of(info.st_mode)}, not a settings file; it was left unchanged")
    target = Path(os.path.realpath(path))
    try:
        real = target.lstat()
    except FileNotFoundError:
        raise EnvFileError(
            f"{path} is a link to {target}, which does not exist; it was left unchanged"
        ) from None
    if not stat.S_ISREG(real.st_mode) or real.st_uid != os.geteuid():
        raise EnvFileError(
            f"{path} is a link to {target}, which is not a regular file you own; it was left unchanged"
        )
    return target, f"{path} is a link: rewrote its target {target}"


def _read(target: Path) -> bytes:
    try:
        fd = open_regular(target)
    except FileNotFoundError:
        return b""
    except OSError as error:
        raise EnvFileError(f"cannot read {target} ({error.strerror}); it was left unchanged") from error
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(rules.MAX_ENV_FILE_BYTES + 1)
    if len(data) > rules.MAX_ENV_FILE_BYTES:
        raise EnvFileError(f"{target} is larger than {rules.MAX_ENV_FILE_BYTES} bytes; left unchanged")
    return data


def rewrite(data: bytes, key: str, value: str, comment: str) -> bytes:
    """``data`` with every active assignment of ``key`` set to ``value`` (or one appended).

    Every other byte is kept; an ``export`` prefix and the line ending of a
    rewritten line (CRLF, LF or none at the end of the file) are kept too.
    """
    text = data.decode("utf-8", "surrogateescape")
    lines = split_lines(text)
    replaced = False
    for index, line in enumerate(lines):
        body = line[:-1] if line.endswith("\n") else line
        body = body[:-1] if body.endswith("\r") else body
        found = rules.assignment(body)
        if found is not None and found[2] == key:
            indent, export = found[0], found[1]
            lines[index] = f"{indent}{export}{key}={value}{line[len(body) :]}"
            replaced = True
    if not replaced:
        newline = "\r\n" if lines and lines[-1].endswith("\r\n") else "\n"
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        lines.append(f"# {comment}{newline}{key}={value}{newline}")
    return "".join(lines).encode("utf-8", "surrogateescape")


def _write_in_place(target: Path, data: bytes) -> None:
    """Overwrite ``target`` itself: for a file that is writable in a directory that is not."""
    fd = open_regular(target, os.O_WRONLY)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def set_value(path: Path, key: str, value: str, *, comment: str) -> EnvChange:
    """Set ``key=value`` in the file, atomically and 0600 where possible; return what happened.

    Raises :class:`EnvFileError` (the file unchanged) when the file is not a
    regular file, is a link to something that is not a regular file of this
    user, cannot be read, is read-only, or cannot be written at all.
    """
    target, note = _target(path)
    data = _read(target)
    previous = parse(data.decode("utf-8", "surrogateescape")).get(key)
    new = rewrite(data, key, value, comment)
    exists = bool(data) or target.exists()
    if exists and not os.access(target, os.W_OK):
        raise EnvFileError(f"{target} is read-only; it was left unchanged")
    try:
        if not target.parent.exists():
            target.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        replace_file(target, new)
    except UnsafePath as error:
        raise EnvFileError(f"{error}; it was left unchanged") from error
    except OSError as error:
        if not exists or error.errno not in _CANNOT_REPLACE:
            raise EnvFileError(f"cannot write {target} ({error.strerror}); it was left unchanged") from error
        # The folder refuses a new file but the file itself may be writable: change it in place.
        try:
            _write_in_place(target, new)
        except OSError as second:
            raise EnvFileError(
                f"cannot write {target} ({second.strerror}); it was left unchanged"
            ) from second
        note = (
            note + "; " if note else ""
        ) + f"{target.parent} is read-only, so {target.name} was rewritten in place"
    rules.env_file_cache.pop(str(path), None)  # consent reads the file anew
    rules.env_file_cache.pop(str(target), None)
    return EnvChange(previous, target, note)
