"""The contract file: one source, well-formed, and the names the code relies on exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from voicemode_otel.contract import spec as contract

ROOT = Path(__file__).resolve().parents[2]


def test_code_constants_name_contract_entries() -> None:
    """Every metric and attribute key the code refers to by name is defined in the contract."""
    spec = contract.load()
    for name in (contract.DURATION, contract.EXCHANGES, contract.PROVIDERS):
        assert name in spec.metrics
    for key in (contract.TRANSPORT, contract.PROVIDER_ROLE, contract.PROVIDER_NAME):
        assert key in spec.point_attributes


@pytest.mark.parametrize("name", [contract.DURATION, contract.EXCHANGES])
def test_histograms_have_one_label_per_bucket(name: str) -> None:
    """A histogram with k boundaries has k+1 buckets, each with a distinct label, boundaries ascending."""
    metric = contract.load().metric(name)
    assert len(metric.bins) == len(metric.boundaries) + 1
    assert len(set(metric.bins)) == len(metric.bins)
    assert list(metric.boundaries) == sorted(set(metric.boundaries))


def test_every_key_is_documented_and_closed_or_patterned() -> None:
    """Each attribute has a description and either a closed value set or a pattern, never both or neither."""
    spec = contract.load()
    for attribute in [*spec.point_attributes.values(), *spec.resource_attributes.values()]:
        assert attribute.description
        assert bool(attribute.values) != bool(attribute.pattern), attribute.key
    for metric in spec.metrics.values():
        assert set(metric.attributes) <= set(spec.point_attributes)


def test_os_types_are_semantic_convention_values() -> None:
    """os.type values are OpenTelemetry's own (checked against the semconv package)."""
    from opentelemetry.semconv._incubating.attributes.os_attributes import OsTypeValues

    assert set(contract.load().closed_values("os.type")) <= {v.value for v in OsTypeValues}


def test_telemetry_id_pattern_is_uuid4() -> None:
    """The ID pattern accepts canonical UUIDv4 and rejects other versions and upper case."""
    import uuid

    spec = contract.load().resource_attributes["voicemode.telemetry.id"]
    assert spec.allows(str(uuid.uuid4()))
    assert not spec.allows(str(uuid.uuid1()))
    assert not spec.allows(str(uuid.uuid4()).upper())


def test_no_second_copy_of_any_boundary_list() -> None:
    """No Python or TypeScript source restates a boundary list from the contract (it must be read)."""
    spec = contract.load()
    lists = [
        re.compile(
            r"\[\s*" + r"\s*,\s*".join(re.escape(str(int(b))) + r"(?:\.0)?" for b in m.boundaries) + r"\s*\]"
        )
        for m in spec.metrics.values()
        if m.boundaries
    ]
    sources = [
        p
        for pattern in ("voicemode_otel/**/*.py", "worker-otlp-ingest/src/**/*.ts", "scripts/**/*.py")
        for p in ROOT.glob(pattern)
        if "/gen/" not in str(p)
    ]
    assert sources
    offenders = [str(p.relative_to(ROOT)) for p in sources for rx in lists if rx.search(p.read_text("utf-8"))]
    assert offenders == []


def test_contract_file_is_plain_json_shipped_with_the_package() -> None:
    """The contract is valid JSON inside the package, so an installed wheel carries it."""
    raw = json.loads(contract.contract_text())
    assert raw["version"] == contract.load().version
    assert (ROOT / "voicemode_otel" / "contract.json").exists()


def test_count_caps_say_why_and_bound_every_count() -> None:
    """The plausibility caps carry their reason, and no count may exceed the longest period's cap."""
    raw = json.loads(contract.contract_text())
    assert "12 sessions an hour" in raw["counts"]["$comment"]
    counts, period = contract.load().counts, contract.load().period
    assert counts.max_sessions(24 * 3600) == 24 * counts.max_sessions_per_hour
    assert counts.max_count == counts.max_sessions(period.server_max_seconds)
    # docs/capacity.md: the largest sum (a 90-day window) at a billion installations stays below 2^53.
    window_hours = (period.max_age_seconds + period.server_max_seconds) // 3600 + 1
    assert 10**9 * counts.max_sessions_per_hour * window_hours < 2**53
