"""The anonymous installation ID: a random UUIDv4 in ``<base>/telemetry_id``.

It exists only while the user is opted in. It is random (never derived from
the machine or the user), so a later opt-in gets a new, unlinkable ID.
"""

from __future__ import annotations

import logging
import uuid

from voicemode_otel.store import Paths, UnsafePath, read_private, remove, write_private

_log = logging.getLogger(__name__)

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
"""Stands in for the ID where none may exist: previews without consent, local mode."""


def is_valid(candidate: str) -> bool:
    """True for a canonical lowercase UUID of version 4, the only form we send."""
    try:
        parsed = uuid.UUID(candidate)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == candidate


def read(paths: Paths) -> str | None:
    """The stored ID, or None when it is missing, not a valid UUIDv4, or behind a link (never raises)."""
    try:
        data = read_private(paths.telemetry_id, limit=4096)
    except (OSError, ValueError):
        return None
    text = data.decode("utf-8", "replace").strip() if data else ""
    return text if is_valid(text) else None


def problem(paths: Paths) -> str | None:
    """Why an ID file that exists is not used (a link, a FIFO, not a UUIDv4), for ``status``."""
    try:
        data = read_private(paths.telemetry_id, limit=4096)
    except UnsafePath as error:
        return f"{error} (treated as absent)"
    except (OSError, ValueError) as error:
        return f"{paths.telemetry_id} cannot be read ({error}); treated as absent"
    if data is not None and read(paths) is None:
        return f"{paths.telemetry_id} does not hold a valid UUIDv4; it is replaced at the next report"
    return None


def ensure(paths: Paths) -> str:
    """The stored ID, creating it (0600) if missing and replacing it if corrupt.

    Call only under consent: this is the one place an ID comes into being.
    Raises :class:`~voicemode_otel.store.atomic.UnsafePath` when a link or a
    non-regular file sits at the ID's path: it is never written through.
    """
    existing = read(paths)
    if existing:
        return existing
    if paths.telemetry_id.exists():
        _log.warning("voicemode-otel: %s was not a valid UUIDv4; replaced it", paths.telemetry_id)
    new_id = str(uuid.uuid4())
    write_private(paths.telemetry_id, new_id + "\n", root=paths.base)
    return new_id


def delete(paths: Paths) -> bool:
    """Remove the ID; True when there was one."""
    return remove(paths.telemetry_id)
