"""The installation itself: its telemetry ID, its enrollment with the server, its resource attributes.

:mod:`~voicemode_otel.installation.identity` keeps the random ID,
:mod:`~voicemode_otel.installation.enrollment` the opt-in time and the server's clock,
:mod:`~voicemode_otel.installation.environment` and :mod:`~voicemode_otel.installation.resource`
the coarse attributes a report and the ``voicemode`` resource detector entry point carry.

May import: :mod:`voicemode_otel.contract`, :mod:`voicemode_otel.store`, :mod:`voicemode_otel.consent`.
Must not import: logs, report, export, delivery, operations, testing, the root.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.installation import enrollment, environment, identity
    from voicemode_otel.installation.identity import PLACEHOLDER_ID
    from voicemode_otel.installation.resource import VoiceModeResourceDetector, installation_attributes

__all__ = [
    "PLACEHOLDER_ID",
    "VoiceModeResourceDetector",
    "enrollment",
    "environment",
    "identity",
    "installation_attributes",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "PLACEHOLDER_ID": "identity",
    "VoiceModeResourceDetector": "resource",
    "enrollment": "enrollment",
    "environment": "environment",
    "identity": "identity",
    "installation_attributes": "resource",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
