"""VoiceMode's conversation logs, read into sessions.

Finding the JSONL files (:mod:`~voicemode_otel.logs.files`), decoding only the fields a session
needs (:mod:`~voicemode_otel.logs.records`, msgspec), normalising provider names and
grouping exchanges into sessions (:mod:`~voicemode_otel.logs.sessions`). Nothing here writes.

May import: :mod:`voicemode_otel.contract` (the session cap, periods).
Must not import: report, export, store, consent, installation, delivery, operations, testing, the root.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.logs import files, normalize, records
    from voicemode_otel.logs.sessions import (
        SESSION_GAP,
        ReadStats,
        Session,
        SessionReader,
        completed_sessions,
    )

__all__ = [
    "SESSION_GAP",
    "ReadStats",
    "Session",
    "SessionReader",
    "completed_sessions",
    "files",
    "normalize",
    "records",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "ReadStats": "sessions",
    "SESSION_GAP": "sessions",
    "Session": "sessions",
    "SessionReader": "sessions",
    "completed_sessions": "sessions",
    "files": "files",
    "normalize": "normalize",
    "records": "records",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
