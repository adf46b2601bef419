"""voicemode-otel: opt-in, privacy-preserving usage metrics for VoiceMode.

This one file is all that VoiceMode's start-up pays for: ``import voicemode_otel;
voicemode_otel.start()`` loads it and nothing the interpreter has not already
loaded (no ``typing``, ``re``, ``pathlib``, ``dataclasses``, not even
``__future__``; a second module alone would cost a host more than this one
does). It holds the consent rules, so the opted-out path costs a few
environment lookups and at most one small file read, and :func:`start`. The
rest of the API is loaded on first use (:mod:`voicemode_otel.api`), the
OpenTelemetry SDK, ``requests`` and protobuf only once consent exists and a
report is due (tests hold that line, in a regular install).

* :func:`start` — VoiceMode's one call at server start; returns at once.
* :func:`ask_once` — for VoiceMode's own CLI: the first-run question, on a terminal only.
* :func:`status`, :func:`set_preference`, :func:`preview`, :func:`forget`, :func:`stop` —
  the operations the ``voicemode-otel`` CLI and the MCP tools offer.

The modules that need the rules import them from here: :mod:`~voicemode_otel.store.paths`,
:mod:`~voicemode_otel.store.envfile` and :mod:`~voicemode_otel.consent.decision`, which gives them types
(nothing else restates them). Those three imports are the only ones in the package that
run up to its root, on purpose: the rules in a module of their own would put a second
module on the host's start-up path, measured at 0.49M more instructions (callgrind, an
opted-out start in a regular install: 1.044x a bare interpreter instead of 1.031x).
Precedence, first match wins (docs/design.md, 'Consent'):

1. ``DO_NOT_TRACK`` set to anything but ``0``/``false``/``no``/``off`` → paused.
2. ``OTEL_SDK_DISABLED`` set to ``true``, ``1``, ``yes`` or ``on`` (any case) → paused. The
   specification counts only ``true``; for a privacy switch the safe reading is "off".
3. ``VOICEMODE_TELEMETRY`` from the environment.
4. An opt-out that voicemode-otel had to record in its own folder
   (``telemetry/opted-out``) because ``voicemode.env`` could not be changed → off:
   an opt-out always takes effect, whatever state that file is in.
5. ``VOICEMODE_TELEMETRY`` from ``voicemode.env``.
   For 3 and 5: ``true|1|yes|on`` → on; ``false|0|no|off`` → off; ``local`` →
   local (reports built and logged here, never sent); ``ask``, empty or
   anything else → not asked (an unrecognised value is named in the reason).
6. Otherwise: not asked.

An opt-in (3 or 5 giving "on") is then narrowed by ``OTEL_METRICS_EXPORTER``, the
OpenTelemetry way of choosing where metrics go: ``otlp`` or unset → on; ``none``
(anywhere in the list) → paused, nothing deleted; ``console`` → local (reports kept
in the local log, never printed: stdout is VoiceMode's MCP channel) without giving
the ID up; anything else → paused, named as not supported. It never turns telemetry
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
LOCAL_VALUES = frozenset({"local"})
ASK = "ask"  # VoiceMode's own default: a recognised way to say "not asked yet"

if TYPE_CHECKING:
    Decision = tuple[str, str, str | None, str]
    """(state, human-readable reason, raw preference value, source)."""


def base_dir(environ: "Mapping[str, str]") -> str:
    """``$VOICEMODE_BASE_DIR``, else ``~/.voicemode`` — VoiceMode's own rule."""
    configured = environ.get(BASE_DIR_VARIABLE, "").strip()
    return (
        os.path.expanduser(configured) if configured else os.path.join(os.path.expanduser("~"), ".voicemode")
    )


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
    for index, char in enumerate(value):
        if char == "#" and index > 0 and value[index - 1] in " \t":
            return value[:index].strip()
    return value


def split_lines(text: str) -> "list[str]":
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


def parse(text: str, only: "str | None" = None) -> "dict[str, str]":
    """Every assignment in ``text`` (of the variable ``only``, if given); a later line wins, as in a shell."""
    values: dict[str, str] = {}
    for raw in split_lines(text) if only is None else _lines_naming(text, only):
        line = raw[:-1] if raw.endswith("\n") else raw
        found = assignment(line[:-1] if line.endswith("\r") else line)
        if found is not None:
            values[found[2]] = unquote(found[3])
    return values


def _lines_naming(text: str, name: str) -> "list[str]":
    """The lines of ``text`` (as :func:`split_lines` cuts them) that contain ``name``, in order.

    Found by searching rather than by walking every line: VoiceMode's settings
    file has 400 of them, and this runs at every host start.
    """
    lines = []
    at = text.find(name)
    while at != -1:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = len(text) if end == -1 else end + 1
        lines.append(text[start:end])
        at = text.find(name, end)
    return lines


_cache: "dict[str, tuple[tuple[int, int, int], dict[str, str]]]" = {}
MAX_ENV_FILE_BYTES = 1 << 20
"""VoiceMode's settings are a few kilobytes; a bigger "voicemode.env" is not one to parse."""
_PREFERENCE_BYTES = PREFERENCE_VARIABLE.encode("ascii")
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    return "not a regular file"


def read_env_file(path: str) -> "tuple[dict[str, str], bool, str | None]":
    """``(values, exists, error)``; re-parsed only when the file changes (one ``stat`` otherwise).

    ``values`` holds the ``VOICEMODE_TELEMETRY`` assignment, if any: the only
    setting consent reads from the file.

    Never blocks and never fails: a FIFO, a directory or a device in the
    file's place is reported, not opened for reading (``O_NONBLOCK`` and an
    ``fstat`` check), and bytes that are not UTF-8 are kept as they are
    (``surrogateescape``), so one odd byte in a comment cannot hide the
    setting on another line. A link is followed, as VoiceMode itself does.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {}, False, None
    except OSError as error:
        return {}, True, f"cannot read {path}: {error.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return {}, True, f"cannot read {path}: it is {_kind(info.st_mode)}"
    if info.st_size > MAX_ENV_FILE_BYTES:
        return {}, True, f"cannot read {path}: larger than {MAX_ENV_FILE_BYTES} bytes"
    signature = (info.st_ino, info.st_mtime_ns, info.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1], True, None
    try:
        fd = os.open(path, _READ_FLAGS)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO since the stat
                return {}, True, f"cannot read {path}: it is not a regular file"
            data = os.read(fd, MAX_ENV_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as error:
        return {}, True, f"cannot read {path}: {error.strerror}"
    # Only the one variable is ever looked up: a file that never names it (VoiceMode's
    # default template: 400 lines, 14 kB) is not parsed at all on the host's start-up path.
    values = (
        parse(data.decode("utf-8", "surrogateescape"), only=PREFERENCE_VARIABLE)
        if _PREFERENCE_BYTES in data
        else {}
    )
    _cache[path] = (signature, values)
    return values, True, None


def _lexists(path: str) -> bool:
    """``os.path.lexists``, without raising and catching an exception for the usual answer (no)."""
    return os.access(path, os.F_OK, follow_symlinks=False)


if os.access not in os.supports_follow_symlinks:  # Windows
    _lexists = os.path.lexists


def opt_out_marker(base: str) -> str:
    """Where an opt-out is recorded when ``voicemode.env`` could not be changed."""
    return os.path.join(base, STATE_DIR_NAME, OPT_OUT_MARKER_NAME)


def forget_cached(path: str) -> None:
    """Drop the cached parse after we rewrite the file ourselves."""
    _cache.pop(path, None)


def decide(base: "str | None", environ: "Mapping[str, str]", metrics: bool = True) -> "Decision":
    """The decision for ``base`` (VoiceMode's base directory; None: from ``environ``) under ``environ``.

    ``metrics``: the decision for voicemode-otel's metrics reports, which
    ``OTEL_METRICS_EXPORTER`` narrows. The consent trace sampler and resource
    detector, which serve the host's own OpenTelemetry setup, pass False: a
    metrics exporter choice says nothing about the host's traces.
    """
    decision = _decide(base, environ)
    if metrics and decision[0] == ON:
        return _exporter(decision, environ.get(METRICS_EXPORTER, ""))
    return decision


def _exporter(decision: "Decision", raw: str) -> "Decision":
    """An opt-in as ``OTEL_METRICS_EXPORTER`` narrows it (a comma-separated list, as the spec allows)."""
    names = {name.strip().lower() for name in raw.split(",")} - {""}
    shown = raw.strip()
    if "none" in names:  # whatever else is listed: "none" means nothing leaves
        reason = f"{METRICS_EXPORTER}={shown} is set: no metrics are exported (paused; nothing is deleted)"
        return PAUSED, reason, decision[2], METRICS_EXPORTER
    if not names or "otlp" in names:
        return decision
    if "console" in names:
        return (
            LOCAL,
            f"{METRICS_EXPORTER}={shown} is set: reports are built and kept in the local log, never sent "
            "(`voicemode-otel log --body`; nothing is deleted)",
            decision[2],
            METRICS_EXPORTER,
        )
    return (
        PAUSED,
        f"{METRICS_EXPORTER}={shown!r} is not supported (voicemode-otel exports otlp, and understands "
        "none and console): nothing is sent",
        decision[2],
        METRICS_EXPORTER,
    )


def _decide(base: "str | None", environ: "Mapping[str, str]") -> "Decision":
    """The decision before ``OTEL_METRICS_EXPORTER`` (rules 1 to 6)."""
    dnt = environ.get(DO_NOT_TRACK)
    if dnt is not None and dnt.strip().lower() not in NO:
        return PAUSED, f"DO_NOT_TRACK={dnt} is set (universal opt-out)", None, DO_NOT_TRACK
    disabled = environ.get(SDK_DISABLED, "").strip()
    if disabled.lower() in YES:
        # The spec counts only "true"; for a privacy switch the safe reading of 1/yes/on is "off" too.
        reading = "" if disabled.lower() == "true" else " (read as true: 1, yes and on turn it off too)"
        return PAUSED, f"{SDK_DISABLED}={disabled} is set{reading}", None, SDK_DISABLED
    if PREFERENCE_VARIABLE in environ:
        return _preference(environ[PREFERENCE_VARIABLE], "environment", "in the environment")
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
    env_file = os.path.join(base, ENV_FILE_NAME)
    values, _, error = read_env_file(env_file)
    if PREFERENCE_VARIABLE in values:
        return _preference(values[PREFERENCE_VARIABLE], ENV_FILE_NAME, f"in {env_file}")
    if error:
        return NOT_ASKED, f"not asked yet ({error})", None, "default"
    return NOT_ASKED, f"not asked yet ({PREFERENCE_VARIABLE} is not set)", None, "default"


def _preference(raw: str, source: str, where: str) -> "Decision":
    value = raw.strip().lower()
    if value in YES:
        return ON, f"{PREFERENCE_VARIABLE}={raw} {where} (opted in)", raw, source
    if value in NO:
        return OFF, f"{PREFERENCE_VARIABLE}={raw} {where} (opted out)", raw, source
    if value in LOCAL_VALUES:
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
    consent nothing at all happens — unless an opt-out left work behind (an ID
    or unsent report to delete, a server erasure still owed), which a
    background thread then does — and returns False.
    """
    try:
        env = os.environ if environ is None else environ
        state = decide(os.fspath(base_dir) if base_dir is not None else None, env)[0]
        if state == PAUSED:
            return False
        base = os.fspath(base_dir) if base_dir is not None else _base_dir(env)
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
    state_dir = os.path.join(base, STATE_DIR_NAME)
    if _lexists(os.path.join(base, "telemetry_id")):
        return True
    return _lexists(state_dir) and any(
        _lexists(os.path.join(state_dir, name))
        for name in ("state.json", "pending.json", "enrollment.json", "local.json", "erasure.json")
    )


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
