"""The consent rules themselves, written against ``os`` alone.

``import voicemode_otel; voicemode_otel.start()`` runs in every VoiceMode
start-up, and opted-out users must not pay for it: this module imports
nothing the interpreter has not already loaded (no ``re``, ``pathlib``,
``dataclasses``), so the opted-out path costs a few environment lookups and
at most one small file read. :mod:`voicemode_otel.consent` wraps these rules
in types; nothing else restates them.

Precedence, first match wins (design §2):

1. ``DO_NOT_TRACK`` set to anything but ``0``/``false``/``no``/``off`` → paused.
2. ``OTEL_SDK_DISABLED=true`` → paused.
3. ``VOICEMODE_TELEMETRY`` from the environment, else from ``voicemode.env``:
   ``true|1|yes|on`` → on; ``false|0|no|off`` → off; anything else → not asked.
4. Otherwise: not asked.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # ``typing`` is not free to import; mypy honours this name
if TYPE_CHECKING:
    from collections.abc import Mapping

PREFERENCE_VARIABLE = "VOICEMODE_TELEMETRY"
DO_NOT_TRACK = "DO_NOT_TRACK"
SDK_DISABLED = "OTEL_SDK_DISABLED"
BASE_DIR_VARIABLE = "VOICEMODE_BASE_DIR"
ENV_FILE_NAME = "voicemode.env"

ON, PAUSED, OFF, NOT_ASKED = "on", "paused", "off", "not-asked"
YES = frozenset({"true", "1", "yes", "on"})
NO = frozenset({"false", "0", "no", "off"})

if TYPE_CHECKING:
    Decision = tuple[str, str, str | None, str]
    """(state, human-readable reason, raw preference value, source)."""


def base_dir(environ: Mapping[str, str]) -> str:
    """``$VOICEMODE_BASE_DIR``, else ``~/.voicemode`` — VoiceMode's own rule."""
    configured = environ.get(BASE_DIR_VARIABLE, "").strip()
    return (
        os.path.expanduser(configured) if configured else os.path.join(os.path.expanduser("~"), ".voicemode")
    )


def assignment(line: str) -> tuple[str, str, str, str] | None:
    """``(indent, export prefix, key, raw value)`` if ``line`` assigns a variable, like a shell.

    Accepts ``KEY=value`` and ``export KEY=value`` with any leading blanks.
    """
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    export = ""
    if stripped.startswith("export") and stripped[6:7] in (" ", "\t"):
        rest = stripped[6:].lstrip()
        export = stripped[: len(stripped) - len(rest)]
        stripped = rest
    key, sep, value = stripped.partition("=")
    key = key.rstrip()
    if not sep or not key.isidentifier() or not key.isascii():
        return None
    return indent, export, key, value


def unquote(raw: str) -> str:
    """A value as a shell would read it: quotes removed, a trailing `` # comment`` dropped."""
    value = raw.strip()
    if value[:1] in ("'", '"'):
        closing = value.find(value[0], 1)
        return value[1:closing] if closing != -1 else value[1:]
    for index, char in enumerate(value):
        if char == "#" and index > 0 and value[index - 1] in " \t":
            return value[:index].strip()
    return value


def parse(text: str) -> dict[str, str]:
    """Every assignment in ``text``; a later line wins, as in a shell."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        found = assignment(line)
        if found is not None:
            values[found[2]] = unquote(found[3])
    return values


_cache: dict[str, tuple[tuple[int, int, int], dict[str, str]]] = {}


def read_env_file(path: str) -> tuple[dict[str, str], bool, str | None]:
    """``(values, exists, error)``; re-parsed only when the file changes (one ``stat`` otherwise)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {}, False, None
    except OSError as error:
        return {}, True, f"cannot read {path}: {error.strerror}"
    signature = (info.st_ino, info.st_mtime_ns, info.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1], True, None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            values = parse(handle.read())
    except OSError as error:
        return {}, True, f"cannot read {path}: {error.strerror}"
    _cache[path] = (signature, values)
    return values, True, None


def forget_cached(path: str) -> None:
    """Drop the cached parse after we rewrite the file ourselves."""
    _cache.pop(path, None)


def decide(base: str, environ: Mapping[str, str]) -> Decision:
    """The decision for ``base`` (VoiceMode's base directory) under ``environ``."""
    dnt = environ.get(DO_NOT_TRACK)
    if dnt is not None and dnt.strip().lower() not in NO:
        return PAUSED, f"DO_NOT_TRACK={dnt} is set (universal opt-out)", None, DO_NOT_TRACK
    if environ.get(SDK_DISABLED, "").strip().lower() == "true":
        return PAUSED, "OTEL_SDK_DISABLED=true is set", None, SDK_DISABLED
    if PREFERENCE_VARIABLE in environ:
        return _preference(environ[PREFERENCE_VARIABLE], "environment", "in the environment")
    env_file = os.path.join(base, ENV_FILE_NAME)
    values, _, error = read_env_file(env_file)
    if PREFERENCE_VARIABLE in values:
        return _preference(values[PREFERENCE_VARIABLE], ENV_FILE_NAME, f"in {env_file}")
    if error:
        return NOT_ASKED, f"not asked yet ({error})", None, "default"
    return NOT_ASKED, f"not asked yet ({PREFERENCE_VARIABLE} is not set)", None, "default"


def _preference(raw: str, source: str, where: str) -> Decision:
    value = raw.strip().lower()
    if value in YES:
        return ON, f"{PREFERENCE_VARIABLE}={raw} {where} (opted in)", raw, source
    if value in NO:
        return OFF, f"{PREFERENCE_VARIABLE}={raw} {where} (opted out)", raw, source
    return NOT_ASKED, f"not asked yet ({PREFERENCE_VARIABLE}={raw} {where})", raw, source
