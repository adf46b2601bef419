"""The files voicemode-otel keeps under VoiceMode's folder, and how they are written.

:mod:`~voicemode_otel.store.paths` names them, :mod:`~voicemode_otel.store.atomic` writes
them privately and atomically, :mod:`~voicemode_otel.store.envfile` rewrites one key of
``voicemode.env``, :mod:`~voicemode_otel.store.state` is the delivery bookkeeping and
:mod:`~voicemode_otel.store.transparency` the local log of every report.

May import: :mod:`voicemode_otel.contract`, and the consent rules at the package root: ``paths`` and
``envfile`` import them from there (with :mod:`voicemode_otel.consent.decision`, the only imports
that run up to the root, so that the host's start-up path stays the root module alone).
Must not import: logs, report, export, consent, installation, delivery, operations, testing.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.store import envfile, state, transparency
    from voicemode_otel.store.atomic import (
        UnsafePath,
        ensure_private_dir,
        open_regular,
        read_private,
        remove,
        write_private,
    )
    from voicemode_otel.store.envfile import EnvFileError
    from voicemode_otel.store.paths import Paths
    from voicemode_otel.store.state import (
        DeliveryState,
        load_state,
        opted_in_from_enrollment,
        repair,
        save_enrollment,
        save_state,
    )

__all__ = [
    "DeliveryState",
    "EnvFileError",
    "Paths",
    "UnsafePath",
    "ensure_private_dir",
    "envfile",
    "load_state",
    "open_regular",
    "opted_in_from_enrollment",
    "read_private",
    "remove",
    "repair",
    "save_enrollment",
    "save_state",
    "state",
    "transparency",
    "write_private",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "DeliveryState": "state",
    "EnvFileError": "envfile",
    "Paths": "paths",
    "UnsafePath": "atomic",
    "ensure_private_dir": "atomic",
    "envfile": "envfile",
    "load_state": "state",
    "open_regular": "atomic",
    "opted_in_from_enrollment": "state",
    "read_private": "atomic",
    "remove": "atomic",
    "repair": "state",
    "save_enrollment": "state",
    "save_state": "state",
    "state": "state",
    "transparency": "transparency",
    "write_private": "atomic",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
