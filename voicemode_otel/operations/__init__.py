"""What the CLI, the MCP tools and the API offer: status, preview, preference.

:mod:`~voicemode_otel.operations.status` is what ``status`` shows,
:mod:`~voicemode_otel.operations.preview` and :mod:`~voicemode_otel.operations.preview_text` the
next report exactly as it would be sent, :mod:`~voicemode_otel.operations.preference` the opt-in
and opt-out with everything they must do.

May import: every layer below it, delivery included.
Must not import: testing and the root's modules (``api``, ``cli``, ``mcp_tools``, which call these).

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.operations import preference, preview, preview_text, status
    from voicemode_otel.operations.preference import (
        PreferenceChange,
        PreferenceRefused,
        set_mode,
        set_preference,
    )
    from voicemode_otel.operations.preview import Preview, build
    from voicemode_otel.operations.status import Status, current, when

__all__ = [
    "PreferenceChange",
    "PreferenceRefused",
    "Preview",
    "Status",
    "build",
    "current",
    "preference",
    "preview",
    "preview_text",
    "set_mode",
    "set_preference",
    "status",
    "when",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "PreferenceChange": "preference",
    "PreferenceRefused": "preference",
    "Preview": "preview",
    "Status": "status",
    "build": "preview",
    "current": "status",
    "preference": "preference",
    "preview": "preview",
    "preview_text": "preview_text",
    "set_mode": "preference",
    "set_preference": "preference",
    "status": "status",
    "when": "status",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
