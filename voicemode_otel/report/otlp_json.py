"""The OTLP/JSON form of a request: what people read in ``preview`` and the log.

The OTLP JSON mapping is protobuf's canonical JSON with lowerCamelCase keys,
enums as integers and 64-bit integers as strings (trace and span IDs would be
hex, but metrics without exemplars have none).
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest


def to_dict(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    """The request as OTLP/JSON-ready Python objects."""
    return json_format.MessageToDict(request, use_integers_for_enums=True)


def to_json(request: ExportMetricsServiceRequest, *, indent: int | None = None) -> str:
    """The request as an OTLP/JSON document."""
    return json.dumps(to_dict(request), indent=indent, separators=None if indent else (",", ":"))


def from_json(text: str | bytes) -> ExportMetricsServiceRequest:
    """Parse OTLP/JSON (unknown fields ignored, as the spec requires of receivers)."""
    request = ExportMetricsServiceRequest()
    json_format.Parse(text, request, ignore_unknown_fields=True)
    return request
