"""The delivery state machine: due periods into reports, sent once, settled, erased on opt-out.

:mod:`~voicemode_otel.delivery.run` does one pass of due work under
:mod:`~voicemode_otel.delivery.lock` (docs/design.md, 'The delivery state machine');
:mod:`~voicemode_otel.delivery.schedule` says when a period is due,
:mod:`~voicemode_otel.delivery.erasure` deletes what an opt-out must, and
:mod:`~voicemode_otel.delivery.runner` is the background thread the host's ``start()`` wakes.

May import: every layer below it: contract, logs, report, export, store, consent, installation.
Must not import: operations, testing and the root (the root imports ``runner``, on a bootstrap thread, never
the other way round).

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.delivery import erasure, run, runner, schedule
    from voicemode_otel.delivery.erasure import ForgetResult, forget
    from voicemode_otel.delivery.run import Outcome
    from voicemode_otel.delivery.runner import REPORTER

__all__ = [
    "REPORTER",
    "ForgetResult",
    "Outcome",
    "erasure",
    "forget",
    "run",
    "runner",
    "schedule",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "ForgetResult": "erasure",
    "Outcome": "run",
    "REPORTER": "runner",
    "erasure": "erasure",
    "forget": "erasure",
    "run": "run",
    "runner": "runner",
    "schedule": "schedule",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
