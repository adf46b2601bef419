"""Bucket boundaries are the privacy bins: every boundary ±1 (and ±0.001 s) lands where the contract says."""

from __future__ import annotations

import pytest
from helpers import DAY, RESOURCE, session

from voicemode_otel.contract import spec as contract
from voicemode_otel.report import build as report


def _bucket_of(metric_name: str, value: float) -> int:
    """Record one session with ``value`` through the real SDK pipeline; return the non-empty bucket."""
    if metric_name == contract.DURATION:
        sessions = [session(duration=value)]
    else:
        sessions = [session(exchanges=int(value)) if value == int(value) else session(exchanges=0)]
    request = report.build_request(sessions, DAY, RESOURCE)
    [metric] = [m for m in request.resource_metrics[0].scope_metrics[0].metrics if m.name == metric_name]
    [point] = metric.histogram.data_points
    assert sum(point.bucket_counts) == 1
    assert list(point.explicit_bounds) == list(contract.load().metric(metric_name).boundaries)
    return list(point.bucket_counts).index(1)


def _expected_index(boundaries: tuple[float, ...], value: float) -> int:
    """(lo, hi]: the index of the first boundary the value does not exceed."""
    return next((i for i, b in enumerate(boundaries) if value <= b), len(boundaries))


DURATION_CASES = [
    (value, delta)
    for b in contract.load().metric(contract.DURATION).boundaries
    for delta in (-1.0, -0.001, 0.0, 0.001, 1.0)
    for value in [b + delta]
]


@pytest.mark.parametrize(("value", "delta"), DURATION_CASES)
def test_duration_boundaries(value: float, delta: float) -> None:
    """A duration at, just below and just above each boundary falls in the contract's bucket."""
    boundaries = contract.load().metric(contract.DURATION).boundaries
    assert _bucket_of(contract.DURATION, value) == _expected_index(boundaries, value)


EXCHANGE_CASES = [
    int(b) + d
    for b in contract.load().metric(contract.EXCHANGES).boundaries
    for d in (-1, 0, 1)
    if b + d >= 0
]


@pytest.mark.parametrize("value", EXCHANGE_CASES)
def test_exchange_boundaries(value: int) -> None:
    """An exchange count at and around each boundary falls in the contract's bucket."""
    boundaries = contract.load().metric(contract.EXCHANGES).boundaries
    assert _bucket_of(contract.EXCHANGES, value) == _expected_index(boundaries, value)


@pytest.mark.parametrize(
    ("metric", "value", "label"),
    [
        (contract.DURATION, 0, "<1min"),
        (contract.DURATION, 60, "<1min"),
        (contract.DURATION, 60.001, "1-5min"),
        (contract.DURATION, 300, "1-5min"),
        (contract.DURATION, 3600, "20-60min"),
        (contract.DURATION, 3600.001, ">60min"),
        (contract.EXCHANGES, 0, "0"),
        (contract.EXCHANGES, 1, "1-5"),
        (contract.EXCHANGES, 5, "1-5"),
        (contract.EXCHANGES, 6, "6-10"),
        (contract.EXCHANGES, 20, "11-20"),
        (contract.EXCHANGES, 21, ">20"),
    ],
)
def test_labels_name_the_right_buckets(metric: str, value: float, label: str) -> None:
    """The human labels match bucket indices: exactly 60 s is "<1min", as the design says."""
    spec = contract.load().metric(metric)
    assert spec.bin_label(value) == label
    assert spec.bins[_bucket_of(metric, value)] == label
