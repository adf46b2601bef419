"""voicemode-otel: opt-in, privacy-preserving usage metrics for VoiceMode.

This one file is all that VoiceMode's start-up pays for: ``import voicemode_otel;
voicemode_otel.start()`` loads it and nothing the interpreter has not already
loaded (no ``typing``, ``re``, ``pathlib``, ``dataclasses``, not even
``__future__``). It holds the consent rules and :func:`start`, so an opted-out
start costs a few environment lookups, three ``lstat`` calls and at most one small
file read. The rest of the API is loaded on first use (:mod:`voicemode_otel.api`),
the OpenTelemetry SDK, ``requests`` and protobuf only once consent exists and a
report is due (tests hold that line, in a regular install).

* :func:`start`: VoiceMode's one call at server start; returns at once.
* :func:`ask_once`: for VoiceMode's own CLI, the first-run question, on a terminal only.
* :func:`status`, :func:`set_preference`, :func:`preview`, :func:`forget`, :func:`stop`:
  the operations the ``voicemode-otel`` CLI and the MCP tools offer.

Every function and every global name here is paid at each host start, used or not
(callgrind, regular install: 10,000 to 50,000 instructions a function, a few thousand a
name; a second module 0.49M, 1.3 % of a bare interpreter). So what only some starts
need lives elsewhere: the ``OTEL_METRICS_EXPORTER`` rule (only an opt-in with that
variable set loads :mod:`voicemode_otel._metrics_exporter`), parsing all of
``voicemode.env`` (:mod:`voicemode_otel.store.envfile`, which rewrites it) and the words
for a misplaced file. The modules that need the rules import them from here:
:mod:`~voicemode_otel.store.paths`, :mod:`~voicemode_otel.store.envfile` and
:mod:`~voicemode_otel.consent.decision`, which gives them types (nothing else restates
them); those three imports are the only ones in the package that run up to its root.

Precedence, first match wins (docs/design.md, 'Consent'):

1. ``DO_NOT_TRACK`` set to anything but ``0``/``false``/``no``/``off``: paused.
2. ``OTEL_SDK_DISABLED`` set to ``true``, ``1``, ``yes`` or ``on`` (any case): paused. The
   specification counts only ``true``; for a privacy switch the safe reading is "off".
3. ``VOICEMODE_TELEMETRY`` from the environment.
4. An opt-out that voicemode-otel had to record in its own folder
   (``telemetry/opted-out``) because ``voicemode.env`` could not be changed: off.
   An opt-out always takes effect, whatever state that file is in.
5. ``VOICEMODE_TELEMETRY`` from ``voicemode.env``.
   For 3 and 5: ``true|1|yes|on`` on; ``false|0|no|off`` off; ``local`` local
   (reports built and logged here, never sent); ``ask``, empty or anything else
   not asked (an unrecognised value is named in the reason).
6. Otherwise: not asked.
7. An opt-in (3 or 5 giving "on") is then narrowed by ``OTEL_METRICS_EXPORTER``, the
   OpenTelemetry way of choosing where metrics go: ``otlp`` or unset, on; ``none``
   (anywhere in the list), paused, nothing deleted; ``console``, local (reports kept
   in the local log, never printed: stdout is VoiceMode's MCP channel) without giving
   the ID up; anything else, paused, named as not supported. It never turns telemetry
   on and never overrides an opt-out.
"""

# No ``from __future__ import annotations``: in a regular install nothing else loads
# ``__future__`` at start-up, and importing it alone cost 0.14 ms of every host start.
# Annotations that name a type are strings instead.
import _thread
import os
import stat  # loaded by the interpreter at start-up already: free

TYPE_CHECKING = False  # ``typing`` is not free to import; mypy honours this name
if TYPE_CHECKING:
    from collections.abc import Mapping

    from voicemode_otel.api import ask_once as ask_once
    from voicemode_otel.api import forget as forget
    from voicemode_otel.api import preview as preview
    from voicemode_otel.api import set_preference as set_preference
    from voicemode_otel.api import status as status
    from voicemode_otel.api import stop as stop

PREFERENCE_VARIABLE = "VOICEMODE_TELEMETRY"
DO_NOT_TRACK = "DO_NOT_TRACK"
SDK_DISABLED = "OTEL_SDK_DISABLED"
METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
BASE_DIR_VARIABLE = "VOICEMODE_BASE_DIR"
ENV_FILE_NAME = "voicemode.env"
STATE_DIR_NAME = "telemetry"
OPT_OUT_MARKER_NAME = "opted-out"

ON, LOCAL, PAUSED, OFF, NOT_ASKED = "on", "local", "paused", "off", "not-asked"
YES = frozenset({"true", "1", "yes", "on"})
NO = frozenset({"false", "0", "no", "off"})
ASK = "ask"  # VoiceMode's own default: a recognised way to say "not asked yet"

if TYPE_CHECKING:
    Decision = tuple[str, str, str | None, str]
    """(state, human-readable reason, raw preference value, source)."""


def base_dir(environ: "Mapping[str, str]") -> str:
    """``$VOICEMODE_BASE_DIR``, else ``~/.voicemode``: VoiceMode's own rule.

    ``~`` is ``$HOME`` of ``environ`` where set (on POSIX, as ``os.path.expanduser``
    reads it, at a tenth of its cost on every host start), else what ``expanduser`` finds.
    """
    configured = environ.get(BASE_DIR_VARIABLE, "").strip()
    if configured:
        return os.path.expanduser(configured)
    home = environ.get("HOME") if os.name == "posix" else None
    return home.rstrip("/") + "/.voicemode" if home else os.path.expanduser("~/.voicemode")


_base_dir = base_dir  # for start(), whose parameter has the same name


def assignment(line: str) -> "tuple[str, str, str, str] | None":
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
    if "#" not in value:  # the usual value: nothing to cut
        return value
    for index, char in enumerate(value):
        if char == "#" and index > 0 and value[index - 1] in " \t":
            return value[:index].strip()
    return value


def value_in(data: bytes, name: str) -> "str | None":
    """The value a shell gives ``name`` after sourcing ``data`` (a later line wins), or None.

    Found by searching the bytes for the name, not by walking every line: VoiceMode's
    settings file has 400 of them and names the variable only in a comment, so at a
    host's start this is one search and nothing decoded. A line whose first character
    after blanks is ``#`` is a comment and never assigns; any other line naming the
    variable is decoded alone (lines end at a newline, so each decodes as it would
    inside the whole file) and read as :func:`assignment` reads it.
    """
    value = None
    wanted = name.encode("ascii")
    at = data.find(wanted)
    while at != -1:
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        end = len(data) if end == -1 else end
        if data[start:at].lstrip()[:1] != b"#":
            line = data[start:end].decode("utf-8", "surrogateescape")
            found = assignment(line[:-1] if line.endswith("\r") else line)
            if found is not None and found[2] == name:
                value = unquote(found[3])
        at = data.find(wanted, end)
    return value


env_file_cache: "dict[str, tuple[tuple[int, int, int], str | None]]" = {}
"""``voicemode.env`` path: (its inode, mtime and size; its ``VOICEMODE_TELEMETRY``): a running
server decides on every call, and an unchanged file then costs one ``stat``. Whoever rewrites
the file drops its entry (:mod:`voicemode_otel.store.envfile` does)."""
MAX_ENV_FILE_BYTES = 1 << 20
"""VoiceMode's settings are a few kilobytes; a bigger "voicemode.env" is not one to parse."""
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_env_file(path: str) -> "tuple[str | None, bool, str | None]":
    """``(VOICEMODE_TELEMETRY's value or None, exists, error)``; re-read only when the file changes.

    Never blocks and never fails: a FIFO, a directory or a device in the
    file's place is reported, not opened for reading (``O_NONBLOCK`` and an
    ``fstat`` check), and bytes that are not UTF-8 are kept as they are
    (``surrogateescape``), so one odd byte in a comment cannot hide the
    setting on another line. A link is followed, as VoiceMode itself does.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None, False, None
    except OSError as error:
        return None, True, f"cannot read {path}: {error.strerror}"
    if not stat.S_ISREG(info.st_mode):
        from voicemode_otel.store.atomic import kind_of  # its words, loaded only for a misplaced file

        return None, True, f"cannot read {path}: it is {kind_of(info.st_mode)}"
    if info.st_size > MAX_ENV_FILE_BYTES:
        return None, True, f"cannot read {path}: larger than {MAX_ENV_FILE_BYTES} bytes"
    signature = (info.st_ino, info.st_mtime_ns, info.st_size)
    cached = env_file_cache.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1], True, None
    try:
        fd = os.open(path, _READ_FLAGS)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO since the stat
                return None, True, f"cannot read {path}: it is not a regular file"
            data = os.read(fd, MAX_ENV_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as error:
        return None, True, f"cannot read {path}: {error.strerror}"
    value = value_in(data, PREFERENCE_VARIABLE)
    env_file_cache[path] = (signature, value)
    return value, True, None


def _lexists(path: str) -> bool:
    """``os.path.lexists``, without raising and catching an exception for the usual answer (no)."""
    return os.access(path, os.F_OK, follow_symlinks=False)


if os.access not in os.supports_follow_symlinks:  # Windows
    _lexists = os.path.lexists


def opt_out_marker(base: str) -> str:
    """Where an opt-out is recorded when ``voicemode.env`` could not be changed."""
    return os.sep.join((base, STATE_DIR_NAME, OPT_OUT_MARKER_NAME))


def decide(base: "str | None", environ: "Mapping[str, str]", metrics: bool = True) -> "Decision":
    """The decision for ``base`` (VoiceMode's base directory; None: from ``environ``) under ``environ``.

    ``metrics``: the decision for voicemode-otel's metrics reports, which
    ``OTEL_METRICS_EXPORTER`` narrows (:mod:`voicemode_otel._metrics_exporter`, loaded
    only for an opt-in with that variable set). The consent trace sampler and resource
    detector, which serve the host's own OpenTelemetry setup, pass False: a
    metrics exporter choice says nothing about the host's traces.
    """
    dnt = environ.get(DO_NOT_TRACK)
    if dnt is not None and dnt.strip().lower() not in NO:
        return PAUSED, f"DO_NOT_TRACK={dnt} is set (universal opt-out)", None, DO_NOT_TRACK
    disabled = environ.get(SDK_DISABLED, "").strip()
    if disabled.lower() in YES:
        # The spec counts only "true"; for a privacy switch the safe reading of 1/yes/on is "off" too.
        reading = "" if disabled.lower() == "true" else " (read as true: 1, yes and on turn it off too)"
        return PAUSED, f"{SDK_DISABLED}={disabled} is set{reading}", None, SDK_DISABLED
    raw = environ.get(PREFERENCE_VARIABLE)
    if raw is not None:
        source, where = "environment", "in the environment"
    else:
        if base is None:  # only now: a universal opt-out needs no base directory at all
            base = base_dir(environ)
        marker = opt_out_marker(base)
        if _lexists(marker):
            return (
                OFF,
                f"opted out with voicemode-otel (recorded in {marker}, because {ENV_FILE_NAME} "
                "could not be changed); `voicemode-otel enable` opts in again",
                "false",
                OPT_OUT_MARKER_NAME,
            )
        env_file = os.sep.join((base, ENV_FILE_NAME))
        raw, _, error = read_env_file(env_file)
        if raw is None:
            why = error or f"{PREFERENCE_VARIABLE} is not set"
            return NOT_ASKED, f"not asked yet ({why})", None, "default"
        source, where = ENV_FILE_NAME, f"in {env_file}"
    value = raw.strip().lower()
    if value in YES:
        decision = ON, f"{PREFERENCE_VARIABLE}={raw} {where} (opted in)", raw, source
        exporters = environ.get(METRICS_EXPORTER) if metrics else None
        if exporters:  # an opt-in only, so the host's start pays nothing for the rule below
            from voicemode_otel._metrics_exporter import narrowed

            return narrowed(decision, exporters)
        return decision
    if value in NO:
        return OFF, f"{PREFERENCE_VARIABLE}={raw} {where} (opted out)", raw, source
    if value == LOCAL:
        return (
            LOCAL,
            f"{PREFERENCE_VARIABLE}={raw} {where} (local only: reports are kept here, never sent)",
            raw,
            source,
        )
    if value == ASK:
        return NOT_ASKED, f"not asked yet ({PREFERENCE_VARIABLE}={raw} {where})", raw, source
    if not value:
        return NOT_ASKED, f"not asked yet ({PREFERENCE_VARIABLE} is empty {where})", raw, source
    return (
        NOT_ASKED,
        f"unrecognised value {raw.strip()!r} for {PREFERENCE_VARIABLE} {where} "
        "(treated as not asked; use true, false or local)",
        raw,
        source,
    )


# --- The host's start hook ----------------------------------------------------------------


def start(
    *,
    base_dir: "str | os.PathLike[str] | None" = None,
    exec_source: str = "mcp",
    version: "str | None" = None,
    environ: "Mapping[str, str] | None" = None,
) -> bool:
    """VoiceMode's one call at server start: returns at once, never raises.

    With consent, a daemon thread sends a report when one is due (and keeps
    doing so daily in a long-running server); returns True. In local mode the
    thread builds and logs reports but sends nothing; returns False. Without
    consent nothing at all happens (unless an opt-out left work behind: an ID
    or unsent report to delete, a server erasure still owed, which a
    background thread then does) and returns False.
    """
    try:
        env = os.environ if environ is None else environ
        base = os.fspath(base_dir) if base_dir is not None else _base_dir(env)
        state = decide(base, env)[0]
        if state == PAUSED:
            return False
        if state not in (ON, LOCAL) and not _owes_work(base):
            return False
    except Exception:
        return False
    # Everything else (the reporter's modules, even ``threading``) is imported on a
    # new thread: the host's thread pays for one consent check and one thread start.
    _bootstraps.append(None)
    _thread.start_new_thread(_start_reporter, (base, exec_source, version, env))
    return state == ON


def _owes_work(base: str) -> bool:
    """An ID, delivery state or an owed erasure left by an opt-out (two ``lstat`` calls, usually)."""
    if _lexists(os.sep.join((base, "telemetry_id"))):
        return True
    state_dir = os.sep.join((base, STATE_DIR_NAME))
    if _lexists(state_dir):
        for name in ("state.json", "pending.json", "enrollment.json", "local.json", "erasure.json"):
            if _lexists(os.sep.join((state_dir, name))):
                return True
    return False


_bootstraps: "list[None]" = []  # one entry per bootstrap thread still starting (list ops are atomic)


def _start_reporter(base: str, exec_source: str, version: "str | None", environ: "Mapping[str, str]") -> None:
    try:
        from voicemode_otel.delivery import runner

        runner.start(base_dir=base, exec_source=exec_source, version=version, environ=environ)
    except Exception:  # a bootstrap thread must never print a traceback into the host's stderr
        return
    finally:
        _bootstraps.pop()


__all__ = ["ask_once", "forget", "preview", "set_preference", "start", "status", "stop"]
_API = frozenset(__all__) - {"start"}


def __getattr__(name: str) -> object:
    """The rest of the API, imported when first asked for (never on the host's start-up path)."""
    if name in _API:
        from voicemode_otel import api

        return getattr(api, name)
    raise AttributeError(f"module 'voicemode_otel' has no attribute {name!r}")
