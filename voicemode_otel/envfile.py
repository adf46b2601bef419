"""Rewriting one key of VoiceMode's ``voicemode.env``, keeping everything else.

The file belongs to VoiceMode and to the user: it is read the way a shell
would source it (:mod:`voicemode_otel.consent_core` holds that one parser)
and when the preference changes only that key's line is replaced.
"""

from __future__ import annotations

from pathlib import Path

from voicemode_otel import consent_core
from voicemode_otel.atomic import write_private


class EnvFileError(Exception):
    """``voicemode.env`` exists but cannot be read or written; nothing was changed."""


def set_value(path: Path, key: str, value: str, *, comment: str) -> str | None:
    """Set ``key=value`` in the file, atomically, mode 0600; return the previous value.

    Every active assignment of ``key`` is rewritten in place (keeping its
    ``export`` prefix), so the file cannot hold two disagreeing lines; if there
    is none the line is appended after ``comment``. A file that exists but
    cannot be read raises :class:`EnvFileError` rather than being replaced by a
    file that lost the user's other settings.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:  # keep CRLF endings as they are
            text = handle.read()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as error:
        raise EnvFileError(f"cannot read {path} ({error}); it was left unchanged") from error
    previous = consent_core.parse(text).get(key)
    lines = text.splitlines(keepends=True)
    replaced = False
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        found = consent_core.assignment(body)
        if found is not None and found[2] == key:
            indent, export = found[0], found[1]
            lines[index] = f"{indent}{export}{key}={value}{line[len(body) :] or chr(10)}"
            replaced = True
    if not replaced:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"# {comment}\n{key}={value}\n")
    try:
        write_private(path, "".join(lines))
    except OSError as error:
        raise EnvFileError(f"cannot write {path} ({error.strerror}); it was left unchanged") from error
    consent_core.forget_cached(str(path))
    return previous
