"""Structural tests of collector-config/, and `validate` by the project's own Collector.

The Collector itself says whether a config loads (`otelcol-voicemode validate`, at the end; the
live runs are tests/collector/test_collector_*.py). What it cannot say is whether the config does what
the project promises, so these tests read the YAML and check that: endpoints come from the
environment with loopback defaults; the allow-lists and closed value sets in the processors are
exactly those of voicemode_otel/contract.json; only privacy-reviewed processors run; delivery
settings are the documented ones. The parsing here is independent of
scripts/make_collector_config.py (which writes the YAML), and every check is also run on a
deliberately broken copy to show it can fail.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from localcollector import MAIN_BINARY, PROMETHEUS_BINARY, LocalCollector, run_command, unavailable_reason

from voicemode_otel.contract import Contract, parse_contract

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "collector-config"
CONTRACT_PATH = ROOT / "voicemode_otel" / "contract.json"
GENERATOR_PATH = ROOT / "scripts" / "make_collector_config.py"
FAN_OUT = "voicemode.yaml"
ALTERNATIVE_SINK = "voicemode-alternative-sink.yaml"
PROMETHEUS = "voicemode-prometheus.yaml"
FILES = (FAN_OUT, ALTERNATIVE_SINK, PROMETHEUS)

# Component types of the otelcol-contrib distribution, v0.159.0 (the current release when this was
# written; `otelcol-voicemode components` at v0.161.0 names the same types). Which modules the
# distribution contains is its manifest,
#   https://github.com/open-telemetry/opentelemetry-collector-releases/blob/main/distributions/otelcol-contrib/manifest.yaml
# and each module's type name is the `type:` field of its metadata.yaml (older names are that
# file's `deprecated_type:`), read at:
#   https://github.com/open-telemetry/opentelemetry-collector/tree/main/ +
#     receiver/otlpreceiver (otlp), receiver/nopreceiver (nop), processor/batchprocessor (batch),
#     processor/memorylimiterprocessor (memory_limiter), exporter/otlpexporter (otlp_grpc, was
#     otlp), exporter/otlphttpexporter (otlp_http, was otlphttp; renamed in v0.144.0),
#     exporter/debugexporter (debug), exporter/nopexporter (nop), extension/zpagesextension (zpages)
#   https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/ +
#     processor/filterprocessor (filter), processor/transformprocessor (transform) and
#     processor/cumulativetodeltaprocessor (cumulative_to_delta, renamed from cumulativetodelta in
#     PR #49487, 2026), as named by each one's generated documentation.md
# The settings the YAML uses are documented at:
#   https://github.com/open-telemetry/opentelemetry-collector/blob/main/receiver/otlpreceiver/README.md
#   https://github.com/open-telemetry/opentelemetry-collector/blob/main/exporter/otlphttpexporter/README.md
#   https://github.com/open-telemetry/opentelemetry-collector/blob/main/exporter/exporterhelper/README.md
#   https://github.com/open-telemetry/opentelemetry-collector/blob/main/processor/memorylimiterprocessor/README.md
#   https://github.com/open-telemetry/opentelemetry-collector/blob/main/confmap/provider/envprovider/README.md
#   https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/main/processor/filterprocessor/README.md
#     metric_conditions exists since v0.146.0:
#     https://opentelemetry.io/blog/2026/ottl-context-inference-come-to-filterprocessor
#   https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/main/processor/transformprocessor/README.md
#   https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/main/processor/cumulativetodeltaprocessor/README.md
#   https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/main/pkg/ottl/ottlfuncs/README.md
#   https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/pkg/ottl/contexts
#   plus extension/storage/filestorage (file_storage), processor/deltatocumulativeprocessor
#   (delta_to_cumulative, was deltatocumulative) and exporter/prometheusremotewriteexporter
#   (prometheus_remote_write, was prometheusremotewrite), as their metadata.yaml at v0.161.0 say
KNOWN_CONTRIB_TYPES: dict[str, frozenset[str]] = {
    "receivers": frozenset({"otlp", "nop"}),
    "processors": frozenset(
        {"batch", "memory_limiter", "filter", "transform", "cumulative_to_delta", "delta_to_cumulative"}
    ),
    "exporters": frozenset({"otlp_grpc", "otlp_http", "debug", "nop", "prometheus_remote_write"}),
    "extensions": frozenset({"zpages", "file_storage"}),
}
# Deprecated aliases still accepted by v0.159.0 but due for removal: the configs must not use them.
DEPRECATED_TYPES: dict[str, dict[str, str]] = {
    "processors": {"cumulativetodelta": "cumulative_to_delta", "deltatocumulative": "delta_to_cumulative"},
    "exporters": {
        "otlp": "otlp_grpc",
        "otlphttp": "otlp_http",
        "prometheusremotewrite": "prometheus_remote_write",
    },
}
COMPONENT_KINDS = ("extensions", "receivers", "processors", "exporters")
CANONICAL_ORDER = ("extensions", "receivers", "processors", "exporters", "service")  # style.md item 7

# Processors reviewed for privacy: none of them can add a resource attribute (unlike e.g.
# resourcedetection, resource, k8sattributes, attributes), and the transform statements are
# checked separately. A new processor type needs a review before it joins this set.
REVIEWED_PROCESSORS = frozenset(
    {"memory_limiter", "filter", "cumulative_to_delta", "transform", "delta_to_cumulative"}
)
EXPECTED_PROCESSORS = [
    "memory_limiter",
    "filter/contract",
    "cumulative_to_delta",
    "filter/delta_only",
    "transform/contract",
]
# Prometheus stores running totals: the clean deltas are summed last, and only there.
EXPECTED_PROCESSORS_BY_FILE = {PROMETHEUS: [*EXPECTED_PROCESSORS, "delta_to_cumulative"]}

WORKER_ENV = "VOICEMODE_WORKER_ENDPOINT"
USER_ENDPOINT_ENV = "USER_OTLP_ENDPOINT"
PROMETHEUS_ENV = "PROMETHEUS_REMOTE_WRITE_ENDPOINT"
# The user's own sinks have no default: the Collector must not guess where their data goes.
USER_SINK_ENVS = frozenset({USER_ENDPOINT_ENV, PROMETHEUS_ENV})
HOST_ENV = "VOICEMODE_COLLECTOR_HOST"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
OTTL_STRING = r'"(?:[^"\\]|\\.)*"'
KEEP_KEYS = re.compile(
    r"^keep_keys\((resource|scope|datapoint)\.attributes, \[(.*)\]\)"
    rf"(?: where metric\.name == ({OTTL_STRING}))?$"
)
IS_MATCH = re.compile(rf"IsMatch\((resource|datapoint)\.attributes\[({OTTL_STRING})\], ({OTTL_STRING})\)")
SET_VALUE = re.compile(rf"^set\((resource|datapoint)\.attributes\[({OTTL_STRING})\], ({OTTL_STRING})\)")
CLOSED_SET = re.compile(r"^\^\(\?:(.*)\)\$$")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
DURATION_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


# --- loading ----------------------------------------------------------------------------------


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_collector_config", GENERATOR_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()


def load_contract() -> Contract:
    return parse_contract(json.loads(CONTRACT_PATH.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Subject:
    """One config file: its text and what YAML makes of it."""

    filename: str
    text: str
    config: dict[str, Any]


def subject(filename: str) -> Subject:
    text = (CONFIG_DIR / filename).read_text(encoding="utf-8")
    return Subject(filename, text, yaml.safe_load(text))


# --- reading OTTL and environment references --------------------------------------------------


def ottl_unquote(literal: str) -> str:
    """The text of an OTTL string literal (Go and JSON escape quotes and backslashes alike)."""
    return json.loads(literal)


def ottl_strings(text: str) -> list[str]:
    return [ottl_unquote(m) for m in re.findall(OTTL_STRING, text)]


def re2_unescape(pattern: str) -> str:
    return re.sub(r"\\(.)", r"\1", pattern)


def closed_set(rule: str) -> frozenset[str] | None:
    """The values an anchored alternation ``^(?:a|b)$`` accepts, or None for another pattern."""
    match = CLOSED_SET.match(rule)
    if match is None:
        return None
    return frozenset(re2_unescape(v) for v in re.split(r"(?<!\\)\|", match.group(1)))


def ottl_items(config: dict[str, Any], processor: str) -> list[str]:
    """The OTTL conditions or statements of a filter or transform processor, in order."""
    body = config.get("processors", {}).get(processor) or {}
    items: list[str] = list(body.get("metric_conditions", []))
    for group in body.get("metric_statements", []):
        items += [group] if isinstance(group, str) else list(group.get("statements", []))
    return items


def resolve(value: str, environ: dict[str, str]) -> str | None:
    """``value`` as the Collector's env provider expands it; None if a required variable is unset."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is None:
            missing = True
            return ""
        return default

    result = ENV_REF.sub(substitute, value)
    return None if missing else result


def host_port(address: str) -> tuple[str, str]:
    """(host, port) of ``host:port`` or of a URL."""
    hostport = re.sub(r"^[a-z]+://", "", address).split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return host, port


def same_host(address: str) -> tuple[str, str]:
    """(host, port) with every loopback name folded into one, to spot a Collector sending to itself."""
    host, port = host_port(address)
    return ("loopback" if host in LOOPBACK else host, port)


def seconds(duration: str) -> float:
    parts = DURATION.findall(duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * DURATION_SECONDS[u] for n, u in parts)


def pipelines(config: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    return (config.get("service") or {}).get("pipelines") or {}


def endpoints(config: dict[str, Any]) -> dict[str, str]:
    """Every endpoint-like setting, by a readable location."""
    found: dict[str, str] = {}
    for receiver, body in (config.get("receivers") or {}).items():
        for protocol, settings in ((body or {}).get("protocols") or {}).items():
            found[f"receivers.{receiver}.{protocol}.endpoint"] = (settings or {}).get("endpoint", "")
    for exporter, body in (config.get("exporters") or {}).items():
        for key in ("endpoint", "metrics_endpoint"):
            if key in (body or {}):
                found[f"exporters.{exporter}.{key}"] = body[key]
        if "endpoint" in ((body or {}).get("http") or {}):
            found[f"exporters.{exporter}.http.endpoint"] = body["http"]["endpoint"]
    return found


# --- the checks (each returns a list of problems; empty means fine) ---------------------------

Check = Callable[[Subject, Contract], list[str]]


def layout_problems(s: Subject, _: Contract) -> list[str]:
    """Canonical top-level key order, 2-space indentation, no tabs."""
    problems = []
    keys = list(s.config)
    if [k for k in CANONICAL_ORDER if k in keys] != keys:
        problems.append(f"top-level keys {keys} are not in the order {list(CANONICAL_ORDER)}")
    for number, line in enumerate(s.text.splitlines(), 1):
        indent = len(line) - len(line.lstrip(" "))
        if "\t" in line or indent % 2:
            problems.append(f"line {number} is not indented by a multiple of 2 spaces")
    return problems


def reference_problems(s: Subject, _: Contract) -> list[str]:
    """Every pipeline names defined components, and every defined component is in a pipeline."""
    problems = []
    used: dict[str, set[str]] = {kind: set() for kind in COMPONENT_KINDS}
    if not pipelines(s.config):
        problems.append("no pipelines")
    for name, pipeline in pipelines(s.config).items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                used[kind].add(component)
                if component not in (s.config.get(kind) or {}):
                    problems.append(f"pipeline {name} uses undefined {kind[:-1]} {component}")
    used["extensions"] = set((s.config.get("service") or {}).get("extensions", []))
    for extension in used["extensions"] - set(s.config.get("extensions") or {}):
        problems.append(f"service uses undefined extension {extension}")
    for kind in COMPONENT_KINDS:
        for component in s.config.get(kind) or {}:
            if component not in used[kind]:
                problems.append(f"{kind[:-1]} {component} is defined but unused")
    return problems


def type_problems(s: Subject, _: Contract) -> list[str]:
    """Every component type is a real, current otelcol-contrib type."""
    problems = []
    for kind in COMPONENT_KINDS:
        for component in s.config.get(kind) or {}:
            kind_of = component.split("/", 1)[0]
            if kind_of in DEPRECATED_TYPES.get(kind, {}):
                problems.append(
                    f"{component} uses deprecated type {kind_of}; use {DEPRECATED_TYPES[kind][kind_of]}"
                )
            elif kind_of not in KNOWN_CONTRIB_TYPES[kind]:
                problems.append(f"{component} is not a known otelcol-contrib {kind[:-1]} type")
    return problems


def endpoint_problems(s: Subject, _: Contract) -> list[str]:
    """Endpoints come from the environment; defaults are loopback; nothing sends to itself."""
    problems = []
    found = endpoints(s.config)
    for where, value in found.items():
        refs = ENV_REF.findall(value)
        if not refs:
            problems.append(f"{where} is a literal ({value!r}), not read from the environment")
        for name, default in refs:
            if not default and name not in USER_SINK_ENVS:
                problems.append(f"{where}: {name} has no default")
        resolved = resolve(value, {})
        if resolved is not None and host_port(resolved)[0] not in LOOPBACK:
            problems.append(f"{where} defaults to {resolved!r}, which is not loopback")
    defaults = {where: resolve(value, {}) for where, value in found.items()}
    listening = {same_host(d) for w, d in defaults.items() if w.startswith("receivers.") and d}
    for where, resolved in defaults.items():
        if where.startswith("exporters.") and resolved is not None and same_host(resolved) in listening:
            problems.append(f"{where} defaults to the Collector's own receiver {resolved!r}")
    for where, value in found.items():
        if where.startswith("receivers.") and HOST_ENV not in value:
            problems.append(f"{where} does not take its host from {HOST_ENV}")
    return problems


def processor_problems(s: Subject, _: Contract) -> list[str]:
    """The pipeline runs the reviewed processors, in order, failing closed on OTTL errors."""
    problems = []
    expected = EXPECTED_PROCESSORS_BY_FILE.get(s.filename, EXPECTED_PROCESSORS)
    for name, pipeline in pipelines(s.config).items():
        if pipeline.get("processors") != expected:
            problems.append(f"pipeline {name} runs {pipeline.get('processors')}, not {expected}")
        for component in pipeline.get("processors", []):
            if component.split("/", 1)[0] not in REVIEWED_PROCESSORS:
                problems.append(f"pipeline {name} runs {component}, which is not privacy-reviewed")
    for component, body in (s.config.get("processors") or {}).items():
        if (
            component.split("/", 1)[0] in {"filter", "transform"}
            and (body or {}).get("error_mode") != "propagate"
        ):
            problems.append(f"{component} must fail closed (error_mode: propagate)")
    return problems


def why_comment_problems(s: Subject, _: Contract) -> list[str]:
    """Each processor is preceded by a comment that starts with 'Why:'."""
    problems = []
    lines = s.text.splitlines()
    for component in s.config.get("processors") or {}:
        at = lines.index(f"  {component}:") if f"  {component}:" in lines else None
        if at is None:
            problems.append(f"processor {component} not found in the text")
            continue
        start = at
        while start > 0 and lines[start - 1].startswith("  #"):
            start -= 1
        if start == at or not lines[start].startswith("  # Why:"):
            problems.append(f"processor {component} has no 'Why:' comment")
    return problems


def allow_list_problems(s: Subject, contract: Contract) -> list[str]:
    """Metric names and attribute keys kept by the processors equal the contract's."""
    problems = []
    statements = ottl_items(s.config, "transform/contract")
    kept: dict[str, list[frozenset[str]]] = {"resource": [], "scope": []}
    per_metric: dict[str, frozenset[str]] = {}
    for statement in statements:
        match = KEEP_KEYS.match(statement)
        if match is None:
            continue
        level, keys, metric = match.group(1), frozenset(ottl_strings(match.group(2))), match.group(3)
        if level == "datapoint":
            per_metric[ottl_unquote(metric) if metric else "*"] = keys
        else:
            kept[level].append(keys)
    if kept["resource"] != [frozenset(contract.resource_attributes)]:
        problems.append(f"resource allow-list {kept['resource']} != {sorted(contract.resource_attributes)}")
    if kept["scope"] != [frozenset()]:
        problems.append(f"scope attributes kept: {kept['scope']}")
    expected = {name: frozenset(m.attributes) for name, m in contract.metrics.items()}
    if per_metric != expected:
        problems.append(f"point allow-lists {per_metric} != {expected}")
    if frozenset().union(*per_metric.values()) != frozenset(contract.point_attributes):
        problems.append("point allow-lists do not cover exactly the contract's point attributes")

    name_filters = [
        c
        for c in ottl_items(s.config, "filter/contract")
        if re.fullmatch(rf"metric\.name != {OTTL_STRING}( and .*)?", c)
    ]
    names = [frozenset(ottl_strings(c)) for c in name_filters]
    if names != [frozenset(contract.metrics)]:
        problems.append(f"metric names let through {names} != {sorted(contract.metrics)}")
    include = ((s.config.get("processors") or {}).get("cumulative_to_delta") or {}).get("include") or {}
    if (
        frozenset(include.get("metrics", [])) != frozenset(contract.metrics)
        or include.get("match_type") != "strict"
    ):
        problems.append("cumulative_to_delta does not convert exactly the contract's metrics (strict match)")
    if f"scope.name != {json.dumps(contract.scope_name)}" not in ottl_items(s.config, "filter/contract"):
        problems.append("the contract's scope name is not enforced")
    return problems


def value_rule_problems(s: Subject, contract: Contract) -> list[str]:
    """Every attribute value is checked against exactly the contract's closed set or pattern."""
    problems = []
    items = ottl_items(s.config, "filter/contract") + ottl_items(s.config, "transform/contract")
    checked: dict[tuple[str, str], set[str]] = {}
    for item in items:
        for level, key, rule in IS_MATCH.findall(item):
            checked.setdefault((level, ottl_unquote(key)), set()).add(ottl_unquote(rule))
    specs = {("resource", k): v for k, v in contract.resource_attributes.items()}
    specs |= {("datapoint", k): v for k, v in contract.point_attributes.items()}
    for where, spec in specs.items():
        rules = checked.pop(where, set())
        if not rules:
            problems.append(f"{where[0]} attribute {spec.key} values are never checked")
        for rule in rules:
            values = closed_set(rule)
            if spec.values and values != frozenset(spec.values):
                problems.append(
                    f"{spec.key}: checked against {rule!r}, not its closed set {list(spec.values)}"
                )
            if not spec.values and rule != spec.pattern:
                problems.append(f"{spec.key}: checked against {rule!r}, not its pattern {spec.pattern!r}")
    problems += [f"{level} attribute {key} is checked but not in the contract" for level, key in checked]
    for item in items:
        match = SET_VALUE.match(item)
        if match is None:
            continue
        key, value = ottl_unquote(match.group(2)), ottl_unquote(match.group(3))
        spec = contract.point_attributes.get(key) or contract.resource_attributes.get(key)
        if spec is None or value not in spec.values:
            problems.append(f"set {key} to {value!r}, which the contract does not allow")
    return problems


def leak_problems(s: Subject, _: Contract) -> list[str]:
    """Histogram sums, exemplars and non-delta data are dropped; transform only removes or coarsens."""
    problems = []
    conditions = ottl_items(s.config, "filter/contract")
    if not any("METRIC_DATA_TYPE_HISTOGRAM" in c and "datapoint.sum != 0.0" in c for c in conditions):
        problems.append("histogram points carrying a sum are not dropped")
    if not any("Len(datapoint.exemplars) > 0" in c for c in conditions):
        problems.append("points carrying exemplars are not dropped")
    delta = ottl_items(s.config, "filter/delta_only")
    if delta != ["metric.aggregation_temporality != AGGREGATION_TEMPORALITY_DELTA"]:
        problems.append(f"non-delta metrics are not dropped after conversion: {delta}")
    for statement in ottl_items(s.config, "transform/contract"):
        if not re.match(r"^(keep_keys|delete_key|set)\(", statement):
            problems.append(f"transform statement {statement!r} may add data")
    return problems


def exporter_problems(s: Subject, _: Contract) -> list[str]:
    """Delivery is the documented one: the user's sinks answer the client, the Worker's copy is queued.

    Every OTLP exporter gzips. The exporters to the user's own sinks hold no queue and retry a
    bounded time, so the client's request waits for them and a failure reaches the client (which
    resends). The fan-out's Worker exporter queues on disk (a file_storage extension of this
    config) and retries without end, so no Worker fault makes the client resend (and the user's
    backend receive a report twice). The Worker URL ends in /v1/metrics.
    """
    problems = []
    for name, body in (s.config.get("exporters") or {}).items():
        body = body or {}
        kind = name.split("/", 1)[0]
        if kind == "otlp_http" and body.get("compression") != "gzip":
            problems.append(f"{name} does not gzip")
        retry = body.get("retry_on_failure") or {}
        limit = seconds(str(retry.get("max_elapsed_time", "300s")))
        queue = body.get("sending_queue") or {}
        to_worker = WORKER_ENV in json.dumps(body)
        if retry.get("enabled") is not True:
            problems.append(f"{name} does not retry")
        if to_worker and s.filename == FAN_OUT:
            storage = queue.get("storage")
            if queue.get("enabled") is not True or storage not in (s.config.get("extensions") or {}):
                problems.append(f"{name} does not queue the Worker's copy on disk: {queue}")
            elif not str(storage).startswith("file_storage"):
                problems.append(f"{name} queues in {storage}, not a file_storage extension")
            if limit != 0:
                problems.append(f"{name} gives up on the Worker after {limit} s (queued reports are lost)")
        else:
            if not 0 < limit <= 300:
                problems.append(f"{name} retries are not bounded to (0, 5m]: {retry}")
            if queue.get("enabled") is not False and kind == "otlp_http":
                problems.append(f"{name} queues data instead of answering the client")
            if kind == "prometheus_remote_write" and (body.get("remote_write_queue") or {}).get("enabled"):
                problems.append(f"{name} queues data instead of answering the client")
        if to_worker and not str(body.get("metrics_endpoint", "")).endswith("/v1/metrics"):
            problems.append(f"{name} does not post to the Worker's /v1/metrics")
    return problems


def sink_problems(s: Subject, _: Contract) -> list[str]:
    """The fan-out sends to the Worker and the user's backend; the others only to the user's sink."""
    problems = []
    exporters = s.config.get("exporters") or {}
    user_sink = PROMETHEUS_ENV if s.filename == PROMETHEUS else USER_ENDPOINT_ENV
    for name, pipeline in pipelines(s.config).items():
        targets = [set(ENV_REF.findall(json.dumps(exporters.get(e)))) for e in pipeline.get("exporters", [])]
        names = [{ref for ref, _ in t} for t in targets]
        to_worker = sum(WORKER_ENV in n for n in names)
        to_user = sum(user_sink in n for n in names)
        want_worker = 1 if s.filename == FAN_OUT else 0
        if (to_worker, to_user, len(names)) != (want_worker, 1, want_worker + 1):
            problems.append(
                f"pipeline {name} of {s.filename} exports to {pipeline.get('exporters')}: "
                f"{to_worker} to the Worker, {to_user} to the user's sink"
            )
    if s.filename != FAN_OUT and WORKER_ENV in s.text:
        problems.append(f"{s.filename} mentions the Worker endpoint")
    return problems


CHECKS: dict[str, Check] = {
    "layout": layout_problems,
    "references": reference_problems,
    "types": type_problems,
    "endpoints": endpoint_problems,
    "processors": processor_problems,
    "why_comments": why_comment_problems,
    "allow_lists": allow_list_problems,
    "value_rules": value_rule_problems,
    "leaks": leak_problems,
    "exporters": exporter_problems,
    "sinks": sink_problems,
}


# --- mutations that each check must catch ------------------------------------------------------


def edit_config(s: Subject, change: Callable[[dict[str, Any]], None]) -> Subject:
    config = copy.deepcopy(s.config)
    change(config)
    return replace(s, config=config)


def edit_text(s: Subject, old: str, new: str) -> Subject:
    assert old in s.text, old
    text = s.text.replace(old, new, 1)
    return Subject(s.filename, text, yaml.safe_load(text))


def edit_ottl(s: Subject, processor: str, old: str, new: str) -> Subject:
    """Replace ``old`` by ``new`` in the first OTTL item of ``processor`` containing it."""

    def change(config: dict[str, Any]) -> None:
        body = config["processors"][processor]
        lists = [body.get("metric_conditions", [])] + [
            g["statements"] for g in body.get("metric_statements", [])
        ]
        for items in lists:
            for i, item in enumerate(items):
                if old in item:
                    items[i] = item.replace(old, new)
                    return
        raise AssertionError(f"{old!r} not in {processor}")

    return edit_config(s, change)


def rename(kind: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        config[kind][new] = config[kind].pop(old)
        for pipeline in pipelines(config).values():
            pipeline[kind] = [new if c == old else c for c in pipeline[kind]]

    return change


Mutation = Callable[[Subject], Subject]


def text(old: str, new: str) -> Mutation:
    return lambda s: edit_text(s, old, new)


def ottl(processor: str, old: str, new: str) -> Mutation:
    return lambda s: edit_ottl(s, processor, old, new)


def set_at(*path: str, value: Any) -> Mutation:
    """Set the setting at ``path`` (keys from the top of the config) to ``value``."""

    def change(config: dict[str, Any]) -> None:
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value

    return lambda s: edit_config(s, change)


def edit_pipeline(kind: str, *, add: str | None = None, drop: str | None = None) -> Mutation:
    """Add or remove a component of ``kind`` in the first pipeline."""

    def change(config: dict[str, Any]) -> None:
        components = next(iter(pipelines(config).values()))[kind]
        if add is not None:
            components.append(add)
        if drop is not None:
            components.remove(drop)

    return lambda s: edit_config(s, change)


def renamed(kind: str, old: str, new: str) -> Mutation:
    return lambda s: edit_config(s, rename(kind, old, new))


def services_first(s: Subject) -> Subject:
    def change(config: dict[str, Any]) -> None:
        items = list(config.items())
        config.clear()
        config.update([items[-1], *items[:-1]])

    return edit_config(s, change)


WORKER = "otlp_http/voicemode_worker"
USER = "otlp_http/own_backend"
PROMETHEUS_EXPORTER = "prometheus_remote_write/own_prometheus"
PROMETHEUS_REF = "${env:PROMETHEUS_REMOTE_WRITE_ENDPOINT}"
HOST_REF = "${env:VOICEMODE_COLLECTOR_HOST:-127.0.0.1}"
USER_REF = "${env:USER_OTLP_ENDPOINT}"
TRANSPORT = 'datapoint.attributes["voicemode.transport"]'
PROVIDERS = ' and metric.name != "voicemode.session.providers"'

# (check, file, mutation, text expected in a reported problem)
MUTATIONS: list[tuple[str, str, Mutation, str]] = [
    ("layout", FAN_OUT, text("  # Why: refuse data", "   # Why: refuse data"), "multiple of 2"),
    ("layout", FAN_OUT, services_first, "not in the order"),
    ("references", FAN_OUT, edit_pipeline("processors", add="batch"), "undefined processor batch"),
    ("references", FAN_OUT, set_at("processors", "batch", value={}), "defined but unused"),
    ("types", FAN_OUT, renamed("exporters", USER, "otlphttpx/own_backend"), "not a known"),
    ("types", FAN_OUT, renamed("processors", "cumulative_to_delta", "cumulativetodelta"), "deprecated"),
    (
        "endpoints",
        FAN_OUT,
        set_at("receivers", "otlp", "protocols", "grpc", "endpoint", value=":4317"),
        "literal",
    ),
    ("endpoints", FAN_OUT, text(HOST_REF, HOST_REF.replace("127.0.0.1", "192.0.2.1")), "not loopback"),
    ("endpoints", FAN_OUT, text("http://127.0.0.1:8787", "https://telemetry.example.com"), "not loopback"),
    ("endpoints", ALTERNATIVE_SINK, text(USER_REF, USER_REF[:-1] + ":-localhost:4318}"), "own receiver"),
    ("processors", FAN_OUT, edit_pipeline("processors", drop="cumulative_to_delta"), "not ["),
    ("processors", FAN_OUT, edit_pipeline("processors", add="resourcedetection"), "privacy-reviewed"),
    (
        "processors",
        ALTERNATIVE_SINK,
        set_at("processors", "filter/contract", "error_mode", value="ignore"),
        "closed",
    ),
    (
        "why_comments",
        FAN_OUT,
        text("  # Why: the Worker accepts", "  # The Worker accepts"),
        "cumulative_to_delta",
    ),
    (
        "allow_lists",
        FAN_OUT,
        ottl("transform/contract", '"os.type", ', '"os.type", "host.name", '),
        "resource",
    ),
    ("allow_lists", FAN_OUT, ottl("transform/contract", '"os.type", ', ""), "resource allow-list"),
    (
        "allow_lists",
        FAN_OUT,
        ottl("transform/contract", '["voicemode.provider.role", ', "["),
        "point allow-lists",
    ),
    ("allow_lists", ALTERNATIVE_SINK, ottl("filter/contract", PROVIDERS, ""), "metric names"),
    (
        "allow_lists",
        FAN_OUT,
        set_at("processors", "cumulative_to_delta", "include", "metrics", value=[]),
        "convert",
    ),
    (
        "value_rules",
        FAN_OUT,
        ottl("transform/contract", "local|livekit|unknown", "local|unknown"),
        "closed set",
    ),
    (
        "value_rules",
        FAN_OUT,
        ottl("transform/contract", f'{TRANSPORT}, "unknown"', f'{TRANSPORT}, "x"'),
        "not allow",
    ),
    ("value_rules", FAN_OUT, ottl("filter/contract", "{12}$", "{12}"), "pattern"),
    ("leaks", FAN_OUT, ottl("filter/contract", "datapoint.sum != 0.0", "false"), "sum"),
    ("leaks", FAN_OUT, ottl("transform/contract", "keep_keys(scope", "merge_maps(scope"), "may add data"),
    ("exporters", FAN_OUT, set_at("exporters", WORKER, "compression", value="none"), "gzip"),
    (
        "exporters",
        FAN_OUT,
        set_at("exporters", WORKER, "retry_on_failure", "max_elapsed_time", value="30s"),
        "gives up",
    ),
    ("exporters", FAN_OUT, set_at("exporters", WORKER, "sending_queue", "enabled", value=False), "on disk"),
    (
        "exporters",
        FAN_OUT,
        set_at("exporters", USER, "retry_on_failure", "max_elapsed_time", value="0s"),
        "bounded",
    ),
    (
        "exporters",
        PROMETHEUS,
        set_at("exporters", PROMETHEUS_EXPORTER, "remote_write_queue", "enabled", value=True),
        "queues",
    ),
    ("processors", PROMETHEUS, edit_pipeline("processors", drop="delta_to_cumulative"), "not ["),
    ("types", PROMETHEUS, renamed("processors", "delta_to_cumulative", "deltatocumulative"), "deprecated"),
    ("sinks", PROMETHEUS, text(PROMETHEUS_REF, USER_REF), "0 to the user's sink"),
    (
        "exporters",
        ALTERNATIVE_SINK,
        set_at("exporters", USER, "sending_queue", "enabled", value=True),
        "queues",
    ),
    (
        "sinks",
        ALTERNATIVE_SINK,
        text(USER_REF, "${env:VOICEMODE_WORKER_ENDPOINT:-http://127.0.0.1:8787}"),
        "Worker",
    ),
    ("sinks", FAN_OUT, edit_pipeline("exporters", drop=WORKER), "0 to the Worker"),
]


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", FILES)
def test_config_is_valid_yaml_mapping(filename):
    """Each config file parses as a YAML mapping."""
    assert isinstance(subject(filename).config, dict)


@pytest.mark.parametrize("filename", FILES)
@pytest.mark.parametrize("check", CHECKS)
def test_committed_config_passes_check(filename, check):
    """Each committed config passes every structural check."""
    assert CHECKS[check](subject(filename), load_contract()) == []


@pytest.mark.parametrize(
    ("check", "filename", "mutate", "expected"),
    MUTATIONS,
    ids=[f"{c}-{i}" for i, (c, *_) in enumerate(MUTATIONS)],
)
def test_check_catches_broken_copy(check, filename, mutate, expected):
    """Each check reports a deliberately broken copy of a config."""
    problems = CHECKS[check](mutate(subject(filename)), load_contract())
    assert any(expected in p for p in problems), problems


def test_every_check_has_a_breaking_mutation():
    """No check goes without a mutation proving it can fail."""
    assert {c for c, *_ in MUTATIONS} == set(CHECKS)


@pytest.mark.parametrize("filename", FILES)
def test_committed_config_is_what_the_generator_writes(filename):
    """The committed YAML is exactly what scripts/make_collector_config.py renders from the contract."""
    rendered = GENERATOR.render_all(GENERATOR.load_contract(CONTRACT_PATH))
    assert (CONFIG_DIR / filename).read_text(encoding="utf-8") == rendered[filename], (
        "collector-config is out of date: run .venv/bin/python scripts/make_collector_config.py"
    )


def test_generator_check_mode_reports_current_files(capsys):
    """`make_collector_config.py --check` exits 0 and names no file when nothing is stale."""
    assert GENERATOR.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def changed_contract() -> Contract:
    raw = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    raw["resource"]["attributes"]["voicemode.locale.region"] = {"description": "x", "values": ["eu", "other"]}
    raw["point_attributes"]["voicemode.transport"]["values"].append("webrtc")
    raw["metrics"]["voicemode.session.errors"] = {
        "instrument": "counter",
        "unit": "{error}",
        "description": "x",
        "attributes": ["voicemode.transport"],
    }
    return parse_contract(raw)


@pytest.mark.parametrize("filename", FILES)
@pytest.mark.parametrize("check", ["allow_lists", "value_rules", "leaks", "references"])
def test_generator_follows_a_changed_contract(filename, check):
    """A config rendered from a changed contract passes the checks against that contract."""
    contract = changed_contract()
    text = GENERATOR.render_all(contract)[filename]
    assert CHECKS[check](Subject(filename, text, yaml.safe_load(text)), contract) == []


@pytest.mark.parametrize("check", ["allow_lists", "value_rules"])
def test_committed_config_does_not_match_a_changed_contract(check):
    """The committed config fails the allow-list checks against a changed contract (no stale copy passes)."""
    assert CHECKS[check](subject(FAN_OUT), changed_contract()) != []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("openai", "other", "unknown"), "other"),
        (("local", "livekit", "unknown"), "unknown"),
        (("tts", "stt"), None),
    ],
)
def test_fallback_prefers_other_then_unknown(values, expected):
    """An out-of-set value becomes 'other' if the set has it, else 'unknown', else nothing."""
    spec = GENERATOR.AttributeSpec(key="k", description="", values=values)
    assert GENERATOR.fallback(spec) == expected


@pytest.mark.parametrize("text", ["a${env:X}b", "price $$5"])
def test_generator_refuses_text_the_collector_would_expand(text):
    """An OTTL string containing ${ or $$ is refused, since the Collector would rewrite it."""
    with pytest.raises(ValueError, match="expansion"):
        GENERATOR.ottl_string(text)


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${env:H:-127.0.0.1}:${env:P:-4318}", {}, "127.0.0.1:4318"),
        ("${env:H:-127.0.0.1}:${env:P:-4318}", {"H": "10.0.0.2", "P": "9"}, "10.0.0.2:9"),
        ("${env:W:-http://127.0.0.1:8787}/v1/metrics", {}, "http://127.0.0.1:8787/v1/metrics"),
        ("${env:U}", {}, None),
        ("${env:U}", {"U": "https://otlp.example:4318"}, "https://otlp.example:4318"),
    ],
)
def test_resolve_expands_env_references_like_the_collector(value, environ, expected):
    """The test's env expansion follows ${env:NAME:-default}: set value, else default, else missing."""
    assert resolve(value, environ) == expected


# --- the Collector's own verdict (build/otelcol-voicemode*, `make collector`) ---------------------

BINARY_FOR = {FAN_OUT: MAIN_BINARY, ALTERNATIVE_SINK: MAIN_BINARY, PROMETHEUS: PROMETHEUS_BINARY}
# The Prometheus binary is the main one plus two components: it runs every config.
RUNS = {MAIN_BINARY: (FAN_OUT, ALTERNATIVE_SINK), PROMETHEUS_BINARY: FILES}
SINK_ENV = {FAN_OUT: USER_ENDPOINT_ENV, ALTERNATIVE_SINK: USER_ENDPOINT_ENV, PROMETHEUS: PROMETHEUS_ENV}


def collector_binary(filename: str) -> Path:
    """The binary that runs ``filename``; the test is skipped (saying why) where it is not built."""
    binary = BINARY_FOR[filename]
    reason = unavailable_reason(binary)
    if reason is not None:
        pytest.skip(f"the project's Collector is not available: {reason}")
    return binary


def validate(filename: str, tmp_path: Path, config: Path | None = None, **environ: str) -> str:
    """`validate` on ``filename`` (or ``config``) with only ``environ``; its output, or "" on success."""
    result = run_command(
        collector_binary(filename),
        "validate",
        f"--config={config or CONFIG_DIR / filename}",
        environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **environ},
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr or f"exit {result.returncode}"


@pytest.mark.collector
@pytest.mark.parametrize("filename", FILES)
def test_collector_validate_accepts_config(filename, tmp_path):
    """`otelcol-voicemode validate` accepts each shipped config once the user's sink is set."""
    assert validate(filename, tmp_path, **{SINK_ENV[filename]: "http://127.0.0.1:9"}) == ""


@pytest.mark.collector
@pytest.mark.parametrize("filename", FILES)
def test_collector_validate_refuses_config_without_user_sink(filename, tmp_path):
    """Without the user's endpoint the Collector refuses the config rather than guess a destination."""
    assert "endpoint" in validate(filename, tmp_path)


@pytest.mark.collector
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("keep_keys(scope.attributes, [])", "keep_keys(scope.attributes, [)", "invalid syntax"),
        ("Len(datapoint.exemplars)", "Length(datapoint.exemplars)", "Length"),
        ("error_mode: propagate", "error_mode: fail-open", "error_mode"),
        ("check_interval: 1s", "check_intervl: 1s", "check_intervl"),
    ],
)
def test_collector_validate_checks_ottl_and_settings(old, new, expected, tmp_path):
    """`validate` parses every OTTL statement and setting: a broken copy of the fan-out is refused."""
    broken = tmp_path / FAN_OUT
    text = (CONFIG_DIR / FAN_OUT).read_text(encoding="utf-8")
    assert old in text
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert expected in validate(FAN_OUT, tmp_path, broken, **{USER_ENDPOINT_ENV: "http://127.0.0.1:9"})


@pytest.mark.collector
def test_collector_validate_misses_a_misspelt_exporter_setting_the_structural_check_catches(tmp_path):
    """otlp_http ignores unknown keys (v0.161.0): validate passes a misspelt retry limit; ours fails it."""
    text = (
        (CONFIG_DIR / FAN_OUT)
        .read_text(encoding="utf-8")
        .replace("max_elapsed_time: 0s", "max_elapsed_tim: 0s", 1)
    )
    broken = tmp_path / FAN_OUT
    broken.write_text(text, encoding="utf-8")
    assert validate(FAN_OUT, tmp_path, broken, **{USER_ENDPOINT_ENV: "http://127.0.0.1:9"}) == ""
    problems = exporter_problems(Subject(FAN_OUT, text, yaml.safe_load(text)), load_contract())
    assert any("gives up on the Worker" in p for p in problems), problems


def component_types(output: str) -> dict[str, set[str]]:
    """``kind -> types`` from the `components` command's YAML."""
    listed = yaml.safe_load(output)
    return {kind: {c["name"] for c in listed.get(kind) or []} for kind in COMPONENT_KINDS}


@pytest.mark.collector
@pytest.mark.parametrize("binary_file", [FAN_OUT, PROMETHEUS])
def test_collector_has_exactly_the_components_the_configs_use(binary_file):
    """Each binary holds exactly the component types (current names) its configs use, plus debug."""
    binary = collector_binary(binary_file)
    used: dict[str, set[str]] = {kind: set() for kind in COMPONENT_KINDS}
    for filename in RUNS[binary]:
        for kind in COMPONENT_KINDS:
            used[kind] |= {c.split("/", 1)[0] for c in subject(filename).config.get(kind) or {}}
    used["exporters"].add("debug")
    result = run_command(binary, "components", environ={"PATH": os.environ["PATH"]})
    assert result.returncode == 0, result.stderr
    assert component_types(result.stdout) == used


@pytest.mark.collector
def test_collector_components_are_all_of_the_release_go_mod_names():
    """Every component module compiled in is at the one Collector release collector/go.mod names."""
    release = GENERATOR.collector_release()
    for binary_file in (FAN_OUT, PROMETHEUS):
        result = run_command(
            collector_binary(binary_file), "components", environ={"PATH": os.environ["PATH"]}
        )
        listed = yaml.safe_load(result.stdout)
        assert listed["buildinfo"]["version"] == release
        modules = [c["module"] for kind in COMPONENT_KINDS for c in listed.get(kind) or []]
        assert modules
        assert {m.rsplit(" ", 1)[1] for m in modules} == {release}, modules


GO_REQUIRE = re.compile(
    r"^\s*(go\.opentelemetry\.io/collector\S*|\S+/opentelemetry-collector-contrib/\S+) (v\S+)", re.M
)


def test_go_mod_pins_one_collector_release():
    """collector/go.mod holds every Collector module at one release: v0.N and the stable v1.(N-94)."""
    release = GENERATOR.collector_release()
    minor = int(release.split(".")[1])
    stable = f"v1.{minor - 94}.0"
    versions = dict(GO_REQUIRE.findall((ROOT / "collector" / "go.mod").read_text(encoding="utf-8")))
    assert len(versions) > 20
    assert {v for v in versions.values() if v.startswith("v0.")} == {release}
    assert {v for v in versions.values() if v.startswith("v1.")} == {stable}
    assert GENERATOR.collector_release(ROOT / "collector" / "go.mod") in (CONFIG_DIR / FAN_OUT).read_text()


MODULE = (
    r"(?:go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)"
    r"/(?:receiver|processor|exporter|extension)/[a-z/]+"
)
DEBUG_MODULE = "go.opentelemetry.io/collector/exporter/debugexporter"


def test_readme_lists_every_component_module_the_binaries_hold():
    """collector-config/README.md's module table names exactly the component modules collector/ holds."""
    sources = [
        ROOT / "collector" / "internal" / "components" / "components.go",
        ROOT / "collector" / "cmd" / "otelcol-voicemode-prometheus" / "main.go",
    ]
    compiled = {
        m for source in sources for m in re.findall(rf'"({MODULE})"', source.read_text(encoding="utf-8"))
    }
    listed = set(re.findall(rf"`({MODULE})`", (CONFIG_DIR / "README.md").read_text(encoding="utf-8")))
    assert len(compiled) == 10
    assert listed == compiled - {DEBUG_MODULE}


@pytest.mark.collector
@pytest.mark.parametrize("filename", FILES)
def test_collector_starts_each_config_without_a_warning(filename, tmp_path):
    """Each config starts (ready) with no warning or error: no deprecated name, no unused setting."""
    binary = collector_binary(filename)
    environ = {
        SINK_ENV[filename]: "http://127.0.0.1:9",
        "USER_OTLP_HEADERS": "{}",
        "VOICEMODE_COLLECTOR_QUEUE_DIR": str(tmp_path / "queue"),
        "HOME": str(tmp_path),
    }
    with LocalCollector([CONFIG_DIR / filename], environ, binary=binary) as collector:
        log = collector.log()
    assert [line for line in log.splitlines() if "\twarn\t" in line or "\terror\t" in line] == []
