"""Sessions into a report: histograms whose buckets are the privacy bins, encoded as OTLP.

:mod:`~voicemode_otel.report.pipeline` feeds sessions through the OpenTelemetry SDK,
:mod:`~voicemode_otel.report.privacy` decides what a report may hold,
:mod:`~voicemode_otel.report.build` makes the bytes, and ``otlp_json``/``otlp_decode`` turn them
into the readable form shown to the user and back. It knows nothing of files or consent.

May import: :mod:`voicemode_otel.contract`, :mod:`voicemode_otel.logs`.
Must not import: export, store, consent, installation, delivery, operations, testing, the root.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.report import build, otlp_decode, otlp_json, pipeline, privacy
    from voicemode_otel.report.otlp_decode import UnsupportedReport, restore
    from voicemode_otel.report.otlp_json import from_json

__all__ = [
    "UnsupportedReport",
    "build",
    "from_json",
    "otlp_decode",
    "otlp_json",
    "pipeline",
    "privacy",
    "restore",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "UnsupportedReport": "otlp_decode",
    "build": "build",
    "from_json": "otlp_json",
    "otlp_decode": "otlp_decode",
    "otlp_json": "otlp_json",
    "pipeline": "pipeline",
    "privacy": "privacy",
    "restore": "otlp_decode",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
