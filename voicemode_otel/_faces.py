"""What every layer's face shares: its names are imported from the modules below it on first use.

A face that imported its modules at once would make ``import voicemode_otel.store.paths`` load
the whole layer; on first use, a module loads only what it names.
"""

import importlib
import sys
from collections.abc import Mapping


def load(face: str, homes: Mapping[str, str], name: str) -> object:
    """``name`` from its module (``homes[name]``, below the package ``face``), kept on the face."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {face!r} has no attribute {name!r}")
    module = importlib.import_module(f"{face}.{home}")
    value = module if home == name else getattr(module, name)
    setattr(sys.modules[face], name, value)
    return value
