"""Sending one built report to its endpoint: OTLP/HTTP or gRPC, proxies, and what the answer means.

:mod:`~voicemode_otel.export.config` resolves the endpoint, protocol, headers and certificates
from ``OTEL_EXPORTER_OTLP_*`` (:mod:`~voicemode_otel.export.variables`); a user's own headers and
certificates go only to the user's own endpoint. :mod:`~voicemode_otel.export.sender` makes the
attempt and :mod:`~voicemode_otel.export.outcome` classifies the answer (kept, dropped, retried).

May import: :mod:`voicemode_otel.contract`, :mod:`voicemode_otel.report` (the bytes it sends).
Must not import: store, consent, installation, delivery, operations, testing, the root: it
sends what it is given and keeps no state.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.export import attempt, config, proxies, sender
    from voicemode_otel.export.errors import printable
    from voicemode_otel.export.sender import ReportSender, SendResult, retry_after_seconds

__all__ = [
    "ReportSender",
    "SendResult",
    "attempt",
    "config",
    "printable",
    "proxies",
    "retry_after_seconds",
    "sender",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "ReportSender": "sender",
    "SendResult": "sender",
    "attempt": "attempt",
    "config": "config",
    "printable": "errors",
    "proxies": "proxies",
    "retry_after_seconds": "sender",
    "sender": "sender",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
