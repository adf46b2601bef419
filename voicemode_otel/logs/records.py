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


class Metadata(msgspec.Struct, gc=False):
    """The three ``metadata`` values a session keeps, raw; every other key is skipped.

    ``gc=False`` (here and on :class:`Record`): a block decodes into thousands
    of these at once, and tracking each one made the cyclic garbage collector
    run over and over during a read (~10 % of ``preview``). They hold only
    strings, ints, None and a Metadata, so they can never be part of a cycle,
    which is the condition msgspec documents for ``gc=False``.
    """

    provider: str | None = None
    provider_url: str | None = None
    transport: str | None = None


class Record(msgspec.Struct, gc=False):
    """A log line's fields that matter, as VoiceMode writes them (schema 3 and 4, and later ones).

    Unknown keys — a newer schema's additions, like version 4's
    ``voice_requested`` — are skipped, so a future version keeps being read.
    """

    timestamp: datetime
    """Parsed by msgspec (RFC 3339, in C). A line whose timestamp msgspec refuses takes
    :func:`full_decode`, which tries msgspec's reading first too (:func:`seconds`), so a
    timestamp means the same on both paths."""
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


def seconds(text: str) -> float:
    """UTC seconds of an ISO 8601 timestamp; no offset means local time.

    msgspec's RFC 3339 reading when it accepts the text (as the fast path,
    which decodes ``timestamp`` straight to a datetime), else
    ``datetime.fromisoformat``'s, which also takes ISO 8601's other shapes.
    Raises ValueError (or OverflowError, OSError for a local time out of the
    platform's range).
    """
    try:
        moment = msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        return _parse_seconds(text)
    return moment.timestamp()


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
