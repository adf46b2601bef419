"""Test support shipped with the package: sample VoiceMode logs and capture servers.

:mod:`~voicemode_otel.testing.logs` writes conversation logs the way VoiceMode does
(``sample_week``), :mod:`~voicemode_otel.testing.settings` the ``voicemode.env`` template it
writes (``voicemode_env``), :mod:`~voicemode_otel.testing.capture` and
:mod:`~voicemode_otel.testing.grpc_capture` are real OTLP servers on 127.0.0.1 that record what
arrives. For tests, scripts and benchmarks.

May import: :mod:`voicemode_otel.contract`, :mod:`voicemode_otel.logs`, :mod:`voicemode_otel.report`.
Must not import: anything above them; and no production layer imports this one.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.testing import logs
    from voicemode_otel.testing.capture import OK, Behaviour, Captured, CaptureServer
    from voicemode_otel.testing.grpc_capture import GrpcBehaviour, GrpcCaptureServer
    from voicemode_otel.testing.logs import (
        CUSTOM_STT,
        KOKORO,
        OPENAI_STT,
        OPENAI_TTS,
        PACIFIC,
        WHISPER_LOCAL,
        ConversationLogWriter,
        conversation_id_for,
        sample_week,
        voicemode_line,
    )
    from voicemode_otel.testing.settings import voicemode_env

__all__ = [
    "CUSTOM_STT",
    "KOKORO",
    "OK",
    "OPENAI_STT",
    "OPENAI_TTS",
    "PACIFIC",
    "WHISPER_LOCAL",
    "Behaviour",
    "CaptureServer",
    "Captured",
    "ConversationLogWriter",
    "GrpcBehaviour",
    "GrpcCaptureServer",
    "conversation_id_for",
    "logs",
    "sample_week",
    "voicemode_env",
    "voicemode_line",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "voicemode_line": "logs",
    "conversation_id_for": "logs",
    "WHISPER_LOCAL": "logs",
    "OPENAI_TTS": "logs",
    "OPENAI_STT": "logs",
    "KOKORO": "logs",
    "CUSTOM_STT": "logs",
    "Behaviour": "capture",
    "CaptureServer": "capture",
    "Captured": "capture",
    "ConversationLogWriter": "logs",
    "GrpcBehaviour": "grpc_capture",
    "GrpcCaptureServer": "grpc_capture",
    "OK": "capture",
    "PACIFIC": "logs",
    "logs": "logs",
    "sample_week": "logs",
    "voicemode_env": "settings",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
