"""One conversation log line → the few values a session needs, decoded by msgspec.

A VoiceMode line is about 1 KB, nearly all of it text that is never needed.
msgspec decodes the bytes straight into the typed Structs below and skips
every other key without building it (about five times as fast as
``json.loads`` on VoiceMode's lines). A line the Structs refuse — another
type in a field that is read, a ``NaN``, invalid UTF-8 in a field that is
read — takes the full decode: the line as text (invalid UTF-8 replaced)
through ``json.loads``, exactly as before msgspec, so what a line means does
not depend on the path that read it.

msgspec is imported here and nowhere else: only code that reads logs (with
consent, on the reporter thread, or ``preview``) pays for it, never the
host's start-up.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

Line = tuple[float, str, str, object, object, object]
"""(UTC seconds, conversation id, kind, raw provider, raw provider URL, raw transport)."""

MISSING_VERSION = "missing"
OTHER_VERSION = "other"
"""Schema-version keys for a line without ``version`` and for one whose version is not an integer."""


class Metadata(msgspec.Struct):
    """The three ``metadata`` values a session keeps, raw; every other key is skipped."""

    provider: str | None = None
    provider_url: str | None = None
    transport: str | None = None


class Record(msgspec.Struct):
    """A log line's fields that matter, as VoiceMode writes them (schema 3 and 4, and later ones).

    Unknown keys — a newer schema's additions, like version 4's
    ``voice_requested`` — are skipped, so a future version keeps being read.
    """

    timestamp: str
    """Parsed by :func:`seconds`, not by msgspec: its minute cache is faster than a datetime's
    ``timestamp()``, and it reads exactly what ``datetime.fromisoformat`` reads."""
    conversation_id: str
    type: str
    version: int | msgspec.UnsetType = msgspec.UNSET
    metadata: Metadata | None = None


_decoder = msgspec.json.Decoder(Record)
decode = _decoder.decode
"""bytes → :class:`Record`; raises one of :data:`REFUSED` for anything else."""
decode_lines = _decoder.decode_lines
"""Newline-delimited bytes → a list of :class:`Record` (blank lines skipped; see sessions for the checks)."""

REFUSED = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)
"""What :func:`decode` raises for a line that must take :func:`full_decode`."""


class LineCounts:
    """What the full decode found wrong, counted by the caller's statistics."""

    __slots__ = ("corrupt", "missing_fields", "version")

    def __init__(self) -> None:
        self.corrupt = False
        self.missing_fields = False
        self.version: str | None = None


def version_key(value: object) -> str:
    """The schema-version key of a decoded ``version`` value (``UNSET``: the key was absent)."""
    if value is msgspec.UNSET:
        return MISSING_VERSION
    if type(value) is int:  # not bool, which is an int to Python but not to JSON
        return str(value)
    return OTHER_VERSION


def _hashable(value: object) -> object:
    return value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)


def _parse_seconds(text: str) -> float:
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        moment = moment.astimezone()  # VoiceMode always writes an offset; assume local time if not.
    return moment.timestamp()


_minute_starts: dict[str, float] = {}


def seconds(text: str) -> float:
    """UTC seconds of an ISO 8601 timestamp (exact to the microsecond); no offset means local time.

    Runs once per log line: ``isoformat()`` output (``…THH:MM:SS[.ffffff]±HH:MM``)
    is split into its minute, parsed once and cached, and the seconds added;
    the sum is a float exact to well under a microsecond at today's epoch.
    Anything else takes the full parse. Raises ValueError (or OverflowError,
    OSError for a local time out of the platform's range).
    """
    size = len(text)
    fraction_ok = (size == 32 and text[19] == "." and text[20:26].isdigit()) or size == 25
    shape_ok = text[16] == ":" and text[-3] == ":" and text[-6] in "+-" if size >= 25 else False
    if fraction_ok and shape_ok and text[17:19].isdigit() and text[17] < "6":
        key = text[:16] + text[-6:]
        start = _minute_starts.get(key)
        if start is None:
            if len(_minute_starts) > 10_000:
                _minute_starts.clear()
            start = _minute_starts[key] = _parse_seconds(text[:16] + ":00" + text[-6:])
        return start + float(text[17:-6])
    return _parse_seconds(text)


def full_decode(raw: bytes, found: LineCounts) -> Line | None:
    """The line through ``json.loads``; None (with what was wrong in ``found``) if unusable.

    A blank line is neither usable nor counted. The kind is returned as is
    (``str()`` of whatever ``type`` holds); the caller checks it.
    """
    text = raw.decode("utf-8", "replace")
    if not text.strip():
        return None
    try:
        record: Any = json.loads(text)
    except (ValueError, RecursionError):
        found.corrupt = True
        return None
    if not isinstance(record, dict):
        found.corrupt = True
        return None
    found.version = version_key(record["version"]) if "version" in record else MISSING_VERSION
    conversation_id, stamp = record.get("conversation_id"), record.get("timestamp")
    if not isinstance(conversation_id, str) or not conversation_id or not isinstance(stamp, str):
        found.missing_fields = True
        return None
    try:
        at = seconds(stamp)
    except (ValueError, OverflowError, OSError):
        found.missing_fields = True
        return None
    meta = record.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (
        at,
        conversation_id,
        str(record.get("type")),
        _hashable(meta.get("provider")),
        _hashable(meta.get("provider_url")),
        _hashable(meta.get("transport")),
    )
