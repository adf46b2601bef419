"""Whether telemetry may run: the root's consent rules with types, and the OpenTelemetry sampler.

:mod:`~voicemode_otel.consent.decision` wraps the rules in the package root (written against
``os`` alone for the host's start-up path; docs/design.md, 'Consent') in types;
:mod:`~voicemode_otel.consent.sampler` is the ``voicemode_consent`` traces sampler entry point.

May import: :mod:`voicemode_otel.store` (paths), :mod:`voicemode_otel.contract`, and the rules at the
package root (``decision`` only: one of the three imports that run up to the root).
Must not import: logs, report, export, installation, delivery, operations, testing, the root's other modules.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.consent import decision
    from voicemode_otel.consent.sampler import ConsentSampler, consent_sampler_factory

__all__ = [
    "ConsentSampler",
    "consent_sampler_factory",
    "decision",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "ConsentSampler": "sampler",
    "consent_sampler_factory": "sampler",
    "decision": "decision",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
