"""The data contract and the time arithmetic every report is cut by.

:mod:`~voicemode_otel.contract.spec` reads ``voicemode_otel/contract.json`` (the one copy, which
the Worker reads too; it stays at the package root so every reader finds it in one place) and
:mod:`~voicemode_otel.contract.periods` holds the UTC hours and periods a report covers.

May import: the standard library only: every other layer stands on this one.
Must not import: any other layer, or the package root.

``__all__`` is what code outside this layer uses; the rest lives below this face. Names load
on first use, so importing the face costs nothing (the host's start-up path never reaches it).
"""

from typing import TYPE_CHECKING

from voicemode_otel import _faces

if TYPE_CHECKING:
    from voicemode_otel.contract import spec
    from voicemode_otel.contract.periods import (
        HOUR,
        Period,
        ceil_hour,
        clock_difference,
        floor_hour,
        iso,
        parse_iso,
        shown,
        to_unix_nanos,
    )
    from voicemode_otel.contract.spec import AttributeSpec, Contract, MetricSpec, parse_contract

__all__ = [
    "HOUR",
    "AttributeSpec",
    "Contract",
    "MetricSpec",
    "Period",
    "ceil_hour",
    "clock_difference",
    "floor_hour",
    "iso",
    "parse_contract",
    "parse_iso",
    "shown",
    "spec",
    "to_unix_nanos",
]

# Where each name lives; a name that is a module maps to itself.
_HOMES = {
    "AttributeSpec": "spec",
    "Contract": "spec",
    "HOUR": "periods",
    "MetricSpec": "spec",
    "Period": "periods",
    "ceil_hour": "periods",
    "clock_difference": "periods",
    "floor_hour": "periods",
    "iso": "periods",
    "parse_contract": "spec",
    "parse_iso": "periods",
    "shown": "periods",
    "spec": "spec",
    "to_unix_nanos": "periods",
}


def __getattr__(name: str) -> object:
    return _faces.load(__name__, _HOMES, name)
