"""Typed view of ``contract.json``, the single source of the data contract.

The Worker reads the same JSON file, so nothing in this module may restate a
boundary, a label or a value set: it only gives the file's contents types and
the one lookup everybody needs (which bin a value falls in).
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

CONTRACT_FILE = "contract.json"  # at the package root, where the Worker and the docs read it too

Instrument = Literal["histogram", "counter"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric as the contract defines it."""

    name: str
    instrument: Instrument
    unit: str
    description: str
    attributes: tuple[str, ...]
    boundaries: tuple[float, ...] = ()
    bins: tuple[str, ...] = ()

    def bin_index(self, value: float) -> int:
        """Index of the bucket ``value`` falls in, with OTel's ``(lo, hi]`` buckets.

        ``bisect_left`` gives exactly the upper-inclusive rule: a value equal to
        a boundary belongs to the bucket that boundary closes.
        """
        return bisect.bisect_left(self.boundaries, value)

    def bin_label(self, value: float) -> str:
        """The human label of the bucket ``value`` falls in."""
        return self.bins[self.bin_index(value)]


@dataclass(frozen=True)
class AttributeSpec:
    """An attribute key with either a closed value set or a pattern."""

    key: str
    description: str
    values: tuple[str, ...] = ()
    pattern: str | None = None

    def allows(self, value: str) -> bool:
        """Whether ``value`` may leave the machine under this key."""
        if self.values:
            return value in self.values
        return self.pattern is not None and re.fullmatch(self.pattern, value) is not None


@dataclass(frozen=True)
class PeriodRules:
    """Bounds on a report's period shared by the sender and the Worker."""

    granularity_seconds: int
    client_max_seconds: int
    server_max_seconds: int
    max_age_seconds: int
    future_skew_seconds: int


@dataclass(frozen=True)
class CountRules:
    """Plausibility caps on a report's counts, shared by the sender and the Worker.

    Why the numbers are what they are is in ``contract.json`` (``counts.$comment``)
    and docs/capacity.md; here they only get types and the two derived limits.
    """

    max_sessions_per_hour: int
    server_max_seconds: int

    def max_sessions(self, period_seconds: int) -> int:
        """The most sessions one report of a period this long may hold."""
        return self.max_sessions_per_hour * (period_seconds // 3600)

    @property
    def max_count(self) -> int:
        """The most any single count of any report may be (the cap of the longest period)."""
        return self.max_sessions(self.server_max_seconds)


@dataclass(frozen=True)
class Contract:
    """The whole contract, loaded once per process."""

    version: int
    scope_name: str
    temporality: str
    metrics: dict[str, MetricSpec]
    point_attributes: dict[str, AttributeSpec]
    resource_attributes: dict[str, AttributeSpec]
    resource_required: tuple[str, ...]
    resource_ignored_prefixes: tuple[str, ...]
    max_value_length: int
    period: PeriodRules
    counts: CountRules

    def metric(self, name: str) -> MetricSpec:
        """The metric called ``name``; a ``KeyError`` names a contract bug."""
        return self.metrics[name]

    def closed_values(self, key: str) -> tuple[str, ...]:
        """The closed value set of a point or resource attribute."""
        spec = self.point_attributes.get(key) or self.resource_attributes[key]
        return spec.values


def _attribute(key: str, raw: dict[str, Any]) -> AttributeSpec:
    return AttributeSpec(
        key=key,
        description=str(raw["description"]),
        values=tuple(raw.get("values", ())),
        pattern=raw.get("pattern"),
    )


def _metric(name: str, raw: dict[str, Any]) -> MetricSpec:
    return MetricSpec(
        name=name,
        instrument=raw["instrument"],
        unit=str(raw["unit"]),
        description=str(raw["description"]),
        attributes=tuple(raw["attributes"]),
        boundaries=tuple(float(b) for b in raw.get("boundaries", ())),
        bins=tuple(raw.get("bins", ())),
    )


def parse_contract(raw: dict[str, Any]) -> Contract:
    """Build a :class:`Contract` from the decoded JSON document."""
    resource = raw["resource"]
    return Contract(
        version=int(raw["version"]),
        scope_name=str(raw["scope"]["name"]),
        temporality=str(raw["temporality"]),
        metrics={name: _metric(name, spec) for name, spec in raw["metrics"].items()},
        point_attributes={k: _attribute(k, v) for k, v in raw["point_attributes"].items()},
        resource_attributes={k: _attribute(k, v) for k, v in resource["attributes"].items()},
        resource_required=tuple(resource["required"]),
        resource_ignored_prefixes=tuple(resource["ignored_prefixes"]),
        max_value_length=int(resource["max_value_length"]),
        period=PeriodRules(**{k: int(v) for k, v in raw["period"].items()}),
        counts=CountRules(
            max_sessions_per_hour=int(raw["counts"]["max_sessions_per_hour"]),
            server_max_seconds=int(raw["period"]["server_max_seconds"]),
        ),
    )


def contract_text() -> str:
    """The raw JSON text, for tools that compare or publish the contract."""
    return resources.files("voicemode_otel").joinpath(CONTRACT_FILE).read_text(encoding="utf-8")


@cache
def load() -> Contract:
    """The contract shipped with this package (parsed once; it never changes at run time)."""
    return parse_contract(json.loads(contract_text()))


DURATION = "voicemode.session.duration"
EXCHANGES = "voicemode.session.exchanges"
PROVIDERS = "voicemode.session.providers"
TRANSPORT = "voicemode.transport"
PROVIDER_ROLE = "voicemode.provider.role"
PROVIDER_NAME = "voicemode.provider.name"
