"""The anonymous installation ID: a random UUIDv4 in ``<base>/telemetry_id``.

It exists only while the user is opted in. It is random (never derived from
the machine or the user), so a later opt-in gets a new, unlinkable ID.
"""

from __future__ import annotations

import logging
import uuid

from voicemode_otel.atomic import remove, write_private
from voicemode_otel.paths import Paths

_log = logging.getLogger(__name__)


def is_valid(candidate: str) -> bool:
    """True for a canonical lowercase UUID of version 4, the only form we send."""
    try:
        parsed = uuid.UUID(candidate)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == candidate


def read(paths: Paths) -> str | None:
    """The stored ID, or None when it is missing or not a valid UUIDv4 (never raises)."""
    try:
        text = paths.telemetry_id.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if is_valid(text) else None


def ensure(paths: Paths) -> str:
    """The stored ID, creating it (0600) if missing and replacing it if corrupt.

    Call only under consent: this is the one place an ID comes into being.
    """
    existing = read(paths)
    if existing:
        return existing
    if paths.telemetry_id.exists():
        _log.warning("voicemode-otel: %s was not a valid UUIDv4; replaced it", paths.telemetry_id)
    new_id = str(uuid.uuid4())
    write_private(paths.telemetry_id, new_id + "\n")
    return new_id


def delete(paths: Paths) -> bool:
    """Remove the ID; True when there was one."""
    return remove(paths.telemetry_id)
