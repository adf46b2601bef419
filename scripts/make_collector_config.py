"""Write the OpenTelemetry Collector configs in ``collector-config/`` from the data contract.

The Collector must let through exactly what ``voicemode_otel/contract.json`` allows: its metric
names, its attribute keys and its closed value sets. Writing those lists into YAML by hand would
make a second copy of the contract that drifts, so this script renders the YAML from the contract
and ``tests/collector/test_collector_config.py`` fails when the committed files differ from what it renders.

Usage::

    .venv/bin/python scripts/make_collector_config.py          # rewrite collector-config/*.yaml
    .venv/bin/python scripts/make_collector_config.py --check  # exit 1 if they are out of date

The YAML is written for, and tested with, the project's own Collector (``collector/``, built by
``make collector``) at the Collector release its ``go.mod`` pins: :func:`collector_release` reads
it there, so the files name the release that was actually built and tested. The official
``otelcol-contrib`` of that release runs them too; see ``collector-config/README.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voicemode_otel.contract import AttributeSpec, Contract, MetricSpec, parse_contract

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_PATH = ROOT / "voicemode_otel" / "contract.json"
OUT_DIR = ROOT / "collector-config"
GO_MOD = ROOT / "collector" / "go.mod"
# The core module whose version is the Collector release (collector/go.mod pins every other
# Collector module to the same release).
RELEASE_MODULE = "go.opentelemetry.io/collector/otelcol"

# Environment variables the configs read (documented in collector-config/README.md).
HOST_ENV = "VOICEMODE_COLLECTOR_HOST"
GRPC_PORT_ENV = "VOICEMODE_COLLECTOR_GRPC_PORT"
HTTP_PORT_ENV = "VOICEMODE_COLLECTOR_HTTP_PORT"
WORKER_ENV = "VOICEMODE_WORKER_ENDPOINT"
USER_ENDPOINT_ENV = "USER_OTLP_ENDPOINT"
USER_HEADERS_ENV = "USER_OTLP_HEADERS"
QUEUE_DIR_ENV = "VOICEMODE_COLLECTOR_QUEUE_DIR"
PROMETHEUS_ENV = "PROMETHEUS_REMOTE_WRITE_ENDPOINT"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT = "4317"
DEFAULT_HTTP_PORT = "4318"
# The local Worker of `make worker-dev`. There is no production Worker yet: its URL must come
# from the environment, never from an invented public domain.
DEFAULT_WORKER = "http://127.0.0.1:8787"
# Where the Worker exporter's queue lives when VOICEMODE_COLLECTOR_QUEUE_DIR is unset: beside
# voicemode-otel's own state in the user's home.
DEFAULT_QUEUE_DIR = "${env:HOME}/.voicemode/collector-queue"

WORKER_EXPORTER = "otlp_http/voicemode_worker"
USER_EXPORTER = "otlp_http/own_backend"
PROMETHEUS_EXPORTER = "prometheus_remote_write/own_prometheus"
QUEUE_STORAGE = "file_storage/worker_queue"
PROCESSORS = (
    "memory_limiter",
    "filter/contract",
    "cumulative_to_delta",
    "filter/delta_only",
    "transform/contract",
)
# Prometheus stores cumulative series: the contract-clean deltas are summed per stream last.
PROMETHEUS_PROCESSORS = (*PROCESSORS, "delta_to_cumulative")

# Characters with a meaning in RE2 (the Collector's regex engine) outside a character class.
_RE2_META = frozenset("\\.+*?()|[]{}^$")

# Instrument kind in the contract -> the pdata metric type an OTTL condition compares against.
_METRIC_TYPE = {"histogram": "METRIC_DATA_TYPE_HISTOGRAM", "counter": "METRIC_DATA_TYPE_SUM"}

Item = tuple[str, str]  # (why, OTTL condition or statement)

RETRY_NOTE = (
    "Attempts and retries are bounded (5 s each, 5 s of retrying in all) so the Collector answers "
    "within voicemode-otel's 10 s timeout: voicemode-otel hears a 503 (and retries later) rather "
    "than timing out. A 429 or 503 Retry-After longer than what is left ends the attempt at once."
)
SYNC_NOTE = (
    "no sending queue and no batch processor, so voicemode-otel's request waits until {sink} has "
    "answered; if it failed, voicemode-otel keeps its persisted report and resends it later. "
)


@dataclass(frozen=True)
class Variant:
    """One config file: where it sends the data, the binary that runs it, how its header reads."""

    filename: str
    summary: tuple[str, ...]
    exporters: tuple[str, ...]
    delivery: str
    binary: str = "otelcol-voicemode"
    processors: tuple[str, ...] = PROCESSORS

    @property
    def queued(self) -> bool:
        """Whether an exporter keeps a persistent queue (the fan-out's Worker exporter)."""
        return WORKER_EXPORTER in self.exporters and len(self.exporters) > 1


VARIANTS = (
    Variant(
        filename="voicemode.yaml",
        summary=(
            "Receives OTLP from voicemode-otel, keeps only what the data contract allows, and sends",
            "the result to the VoiceMode Worker and to your own OTLP backend.",
        ),
        exporters=(WORKER_EXPORTER, USER_EXPORTER),
        delivery=(
            "Delivery: voicemode-otel's request is answered once your backend has the report and the "
            "Worker's copy is on disk in the Worker exporter's queue; it fails (and voicemode-otel "
            "keeps its persisted report and resends it later) only when your backend failed or the "
            "queue is full. The queue delivers to the Worker whatever the Worker says (429 and 503 "
            "with their Retry-After, downtime, a Collector restart), so a Worker fault never makes "
            "voicemode-otel resend, and your backend never receives a copy twice because of one. "
            "A resend caused by your backend reaches the Worker again, which ignores a report it "
            "already has."
        ),
    ),
    Variant(
        filename="voicemode-alternative-sink.yaml",
        summary=(
            "The alternative sink: receives OTLP from voicemode-otel, keeps only what the data contract",
            "allows, and sends the result to your own OTLP backend only (never to the VoiceMode Worker).",
        ),
        exporters=(USER_EXPORTER,),
        delivery="Delivery: " + SYNC_NOTE.format(sink="your backend") + RETRY_NOTE,
    ),
    Variant(
        filename="voicemode-prometheus.yaml",
        summary=(
            "Your own VoiceMode usage in Prometheus: receives OTLP from voicemode-otel, keeps only what",
            "the data contract allows, turns the daily deltas into running totals and writes them to",
            "your Prometheus with remote write (never to the VoiceMode Worker).",
        ),
        exporters=(PROMETHEUS_EXPORTER,),
        delivery="Delivery: " + SYNC_NOTE.format(sink="Prometheus") + RETRY_NOTE,
        binary="otelcol-voicemode-prometheus",
        processors=PROMETHEUS_PROCESSORS,
    ),
)


def collector_release(go_mod: Path = GO_MOD) -> str:
    """The Collector release ``collector/go.mod`` builds (the version it requires of otelcol)."""
    found = re.search(rf"^\s*{re.escape(RELEASE_MODULE)} (v[0-9][^\s]*)", go_mod.read_text(), re.M)
    if found is None:
        raise ValueError(f"{go_mod} does not require {RELEASE_MODULE}")
    return found.group(1)


# --- small text helpers ---------------------------------------------------------------------


def env(name: str, default: str | None = None) -> str:
    """A Collector environment reference; ``default`` applies when the variable is unset."""
    return f"${{env:{name}}}" if default is None else f"${{env:{name}:-{default}}}"


def re2_escape(value: str) -> str:
    """``value`` as an RE2 pattern that matches exactly that text."""
    return "".join("\\" + ch if ch in _RE2_META else ch for ch in value)


def closed_set_pattern(values: Sequence[str]) -> str:
    """An anchored RE2 pattern matching exactly one of ``values``."""
    return "^(?:" + "|".join(re2_escape(v) for v in values) + ")$"


def value_rule(spec: AttributeSpec) -> str:
    """The RE2 pattern a value of ``spec`` must match: its closed set, else its contract pattern."""
    if spec.values:
        return closed_set_pattern(spec.values)
    if spec.pattern is None:
        raise ValueError(f"contract attribute {spec.key!r} has neither values nor a pattern")
    return spec.pattern


def fallback(spec: AttributeSpec) -> str | None:
    """The coarser in-set value an out-of-set value becomes, if the closed set has one.

    ``other`` wins over ``unknown``: it is what the Python client itself sends for a name it does
    not know (the contract: "a URL or unknown name becomes other").
    """
    for candidate in ("other", "unknown"):
        if candidate in spec.values:
            return candidate
    return None


def ottl_string(text: str) -> str:
    """``text`` as an OTTL string literal (Go escapes for backslash and double quote).

    The Collector expands ``${...}`` and rewrites ``$$`` in every string of its config before
    OTTL sees it, so neither may appear in a generated statement.
    """
    if "${" in text or "$$" in text:
        raise ValueError(f"{text!r} would be changed by the Collector's ${{...}} expansion")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ottl_list(items: Sequence[str]) -> str:
    """An OTTL list literal of strings."""
    return "[" + ", ".join(ottl_string(i) for i in items) + "]"


def attr(level: str, key: str) -> str:
    """The OTTL path of attribute ``key`` at ``level`` (``resource`` or ``datapoint``)."""
    return f"{level}.attributes[{ottl_string(key)}]"


def breaks_rule(level: str, spec: AttributeSpec) -> str:
    """OTTL condition: the attribute is present and its value breaks the contract's rule."""
    path = attr(level, spec.key)
    return f"{path} != nil and not IsMatch({path}, {ottl_string(value_rule(spec))})"


def when_broken(statement: str, level: str, spec: AttributeSpec) -> str:
    """``statement`` guarded to run only where the attribute of ``spec`` breaks its rule."""
    return f"{statement} where {breaks_rule(level, spec)}"


def metric_is(names: Sequence[str]) -> str:
    """OTTL condition: the metric is one of ``names``."""
    terms = [f"metric.name == {ottl_string(n)}" for n in names]
    return terms[0] if len(terms) == 1 else "(" + " or ".join(terms) + ")"


def wrong_shape(metric: MetricSpec) -> str:
    """OTTL condition: ``metric`` arrived as another kind of metric than the contract's instrument."""
    name = f"metric.name == {ottl_string(metric.name)}"
    if metric.instrument == "counter":
        return f"{name} and (metric.type != {_METRIC_TYPE['counter']} or metric.is_monotonic != true)"
    return f"{name} and metric.type != {_METRIC_TYPE[metric.instrument]}"


def yaml_quote(text: str) -> str:
    """A YAML single-quoted scalar (backslashes stay literal, ``'`` is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def metric_users(contract: Contract, key: str) -> list[str]:
    """The metrics whose data points may carry point attribute ``key``."""
    return [m.name for m in contract.metrics.values() if key in m.attributes]


# --- what the processors do -----------------------------------------------------------------


def contract_conditions(contract: Contract) -> list[Item]:
    """Conditions of ``filter/contract``: telemetry matching any of them is dropped."""
    items: list[Item] = []
    for key in contract.resource_required:
        spec = contract.resource_attributes[key]
        path = attr("resource", key)
        items.append(
            (
                f"A resource without a valid {key} is no VoiceMode report; drop all of it.",
                f"{path} == nil or not IsMatch({path}, {ottl_string(value_rule(spec))})",
            )
        )
    items.append(
        (
            "Only the contract's instrumentation scope.",
            f"scope.name != {ottl_string(contract.scope_name)}",
        )
    )
    items.append(
        (
            "Only the contract's metrics (every one is named voicemode.*).",
            " and ".join(f"metric.name != {ottl_string(n)}" for n in contract.metrics),
        )
    )
    for metric in contract.metrics.values():
        items.append((f"{metric.name} only as the contract's {metric.instrument}.", wrong_shape(metric)))
    items.append(
        (
            "A histogram point carrying a sum: with one session the sum is its exact value "
            "(SDKs send min/max along with it).",
            "metric.type == METRIC_DATA_TYPE_HISTOGRAM and datapoint.sum != 0.0",
        )
    )
    items.append(
        (
            "A point carrying exemplars (raw values, trace IDs).",
            "(metric.type == METRIC_DATA_TYPE_HISTOGRAM or metric.type == METRIC_DATA_TYPE_SUM)"
            " and Len(datapoint.exemplars) > 0",
        )
    )
    for key, spec in contract.point_attributes.items():
        if fallback(spec) is None:
            items.append(
                (
                    f"A point whose {key} is outside its closed set (no coarser value to use).",
                    f"{metric_is(metric_users(contract, key))} and {breaks_rule('datapoint', spec)}",
                )
            )
    return items


def resource_statements(contract: Contract) -> list[Item]:
    """Transform statements on each resource: allow-listed keys, in-contract values."""
    keys = list(contract.resource_attributes)
    items: list[Item] = [
        ("Keep only the contract's resource keys.", f"keep_keys(resource.attributes, {ottl_list(keys)})")
    ]
    for key, spec in contract.resource_attributes.items():
        if key in contract.resource_required:
            continue  # filter/contract already dropped resources with a bad required key
        coarse = fallback(spec)
        if coarse is not None:
            items.append(
                (
                    f"An unknown {key} becomes {coarse!r}.",
                    when_broken(f"set({attr('resource', key)}, {ottl_string(coarse)})", "resource", spec),
                )
            )
        else:
            items.append(
                (
                    f"A malformed {key} is removed (it is optional).",
                    when_broken(f"delete_key(resource.attributes, {ottl_string(key)})", "resource", spec),
                )
            )
    return items


def point_statements(contract: Contract) -> list[Item]:
    """Transform statements on each data point: allow-listed keys, in-contract values."""
    items: list[Item] = [
        (
            f"Keep only the point keys the contract lists for {m.name}.",
            f"keep_keys(datapoint.attributes, {ottl_list(m.attributes)})"
            f" where metric.name == {ottl_string(m.name)}",
        )
        for m in contract.metrics.values()
    ]
    for key, spec in contract.point_attributes.items():
        coarse = fallback(spec)
        if coarse is not None:
            items.append(
                (
                    f"An unknown {key} becomes {coarse!r}.",
                    when_broken(f"set({attr('datapoint', key)}, {ottl_string(coarse)})", "datapoint", spec),
                )
            )
    return items


# --- YAML rendering -------------------------------------------------------------------------


def comment_block(indent: int, text: str, width: int = 100) -> list[str]:
    """``text`` as YAML comment lines at ``indent`` spaces, wrapped at ``width`` characters."""
    pad = " " * indent
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(pad) + 2 + len(current) + 1 + len(word) > width:
            lines.append(f"{pad}# {current}")
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(f"{pad}# {current}")
    return lines


def item_list(indent: int, items: Sequence[Item]) -> list[str]:
    """A YAML list of quoted OTTL strings, each preceded by its reason as a comment."""
    pad = " " * indent
    out: list[str] = []
    for why, code in items:
        out += comment_block(indent, why)
        out.append(f"{pad}- {yaml_quote(code)}")
    return out


def header(variant: Variant, release: str) -> list[str]:
    """The file's opening comment, naming the Collector release it was built and tested with."""
    target = "make collector-prometheus" if variant.binary.endswith("prometheus") else "make collector"
    lines = [
        f"# collector-config/{variant.filename}",
        "#",
        *(f"# {line}" for line in variant.summary),
        "#",
        "# GENERATED from voicemode_otel/contract.json by scripts/make_collector_config.py; do not edit.",
        "# After changing the contract run: .venv/bin/python scripts/make_collector_config.py",
        f"# Run with: build/{variant.binary} --config collector-config/{variant.filename}",
        f"# ({target} builds it). Tested with that binary, built from Collector {release} modules",
        f"# (collector/go.mod); otelcol-contrib {release} runs it too. collector-config/README.md",
        "# explains every setting.",
    ]
    return [*lines, ""]


def extensions(variant: Variant) -> list[str]:
    """The file storage the fan-out's Worker queue lives in (no other variant has extensions)."""
    if not variant.queued:
        return []
    return [
        "extensions:",
        *comment_block(
            2,
            "Why: the Worker exporter's queue lives on disk, so a report the Collector has accepted "
            "survives a Collector restart until the Worker has it. "
            f"{QUEUE_DIR_ENV} moves it; the default is beside voicemode-otel's own state. It holds "
            "the same anonymous reports voicemode-otel keeps, and nothing else.",
        ),
        f"  {QUEUE_STORAGE}:",
        f'    directory: "{env(QUEUE_DIR_ENV, DEFAULT_QUEUE_DIR)}"',
        "    create_directory: true",
        '    directory_permissions: "0700"',
        "",
    ]


def receivers() -> list[str]:
    """The OTLP receiver, loopback-only unless the environment says otherwise."""
    host = env(HOST_ENV, DEFAULT_HOST)
    return [
        "receivers:",
        *comment_block(
            2,
            "OTLP over gRPC and HTTP from voicemode-otel. Bound to 127.0.0.1 unless "
            f"{HOST_ENV} says otherwise: other machines cannot reach it. A day's report is a few "
            "KB, so requests are capped at 1 MiB.",
        ),
        "  otlp:",
        "    protocols:",
        "      grpc:",
        f'        endpoint: "{host}:{env(GRPC_PORT_ENV, DEFAULT_GRPC_PORT)}"',
        "        max_recv_msg_size_mib: 1",
        "      http:",
        f'        endpoint: "{host}:{env(HTTP_PORT_ENV, DEFAULT_HTTP_PORT)}"',
        "        max_request_body_size: 1048576",
        "",
    ]


def processors(variant: Variant, contract: Contract) -> list[str]:
    """Every processor, each with the reason it exists."""
    max_staleness_h = contract.period.server_max_seconds // 3600
    lines = ["processors:"]
    lines += comment_block(
        2,
        "Why: refuse data (with a retryable error, so voicemode-otel keeps its report and resends "
        "it later) before the Collector runs out of memory. First, so nothing else allocates "
        "before it can say no.",
    )
    lines += [
        "  memory_limiter:",
        "    check_interval: 1s",
        "    limit_mib: 512",
        "    spike_limit_mib: 128",
        "",
    ]
    lines += comment_block(
        2,
        "Why: drop everything the contract does not allow before any other step sees it: other "
        "metrics, other scopes, wrong metric kinds, resources without a valid service.name or "
        "installation ID, and points that would leak more than their bucket (histogram sum, "
        "exemplars). error_mode propagate: a condition that cannot be evaluated fails the request "
        "(voicemode-otel resends later) instead of letting the data through unchecked.",
    )
    lines += ["  filter/contract:", "    error_mode: propagate", "    metric_conditions:"]
    lines += item_list(6, contract_conditions(contract))
    lines.append("")
    lines += comment_block(
        2,
        "Why: the Worker accepts only delta temporality. voicemode-otel already sends delta, which "
        "passes unchanged; a client sending cumulative sums or histograms of the contract's "
        "metrics gets them converted here. Runs before attribute values are rewritten so each "
        "original stream keeps its own running total. State older than the longest period the "
        f"Worker accepts ({max_staleness_h}h) is forgotten.",
    )
    lines += ["  cumulative_to_delta:", "    include:", "      match_type: strict", "      metrics:"]
    lines += [f"        - {name}" for name in contract.metrics]
    lines += [f"    max_staleness: {max_staleness_h}h", ""]
    lines += comment_block(
        2,
        "Why: whatever is still not delta after the conversion (a non-monotonic or unspecified "
        "temporality) cannot be made delta; drop it rather than forward it.",
    )
    lines += [
        "  filter/delta_only:",
        "    error_mode: propagate",
        "    metric_conditions:",
        "      - 'metric.aggregation_temporality != AGGREGATION_TEMPORALITY_DELTA'",
        "",
    ]
    lines += comment_block(
        2,
        "Why: delete every resource, scope and point attribute the contract does not list, and "
        "replace a value outside a closed set by the set's own coarse value ('other', else "
        "'unknown'), or delete it when the set has none and the key is optional. The Worker "
        "rejects a whole report for one out-of-set value, so a coarse value keeps the report; and "
        "a raw value never leaves. Nothing is ever added.",
    )
    lines += ["  transform/contract:", "    error_mode: propagate", "    metric_statements:"]
    groups: list[tuple[str, list[Item]]] = [
        ("Resource attributes (one resource is one installation's report).", resource_statements(contract)),
        (
            "Scope attributes: the contract defines none.",
            [("Remove them all.", "keep_keys(scope.attributes, [])")],
        ),
        ("Data point attributes.", point_statements(contract)),
    ]
    for why, items in groups:
        lines += comment_block(6, why)
        lines.append("      - statements:")
        lines += item_list(10, items)
    lines.append("")
    if "delta_to_cumulative" in variant.processors:
        max_age_h = contract.period.max_age_seconds // 3600
        lines += comment_block(
            2,
            "Why: Prometheus stores running totals, voicemode-otel sends each period's counts. Last, "
            "so only contract-clean streams are summed. A stream is kept as long as the oldest report "
            f"voicemode-otel may still send ({max_age_h}h): a pause shorter than that continues the "
            "totals instead of restarting them. A resent report (same period) is ignored, not "
            "counted twice.",
        )
        lines += ["  delta_to_cumulative:", f"    max_stale: {max_age_h}h", ""]
    return lines


RETRY_BOUNDED = [
    "    timeout: 5s",
    "    retry_on_failure:",
    "      enabled: true",
    "      initial_interval: 1s",
    "      multiplier: 2",
    "      max_interval: 2s",
    "      max_elapsed_time: 5s",
]


def exporter(name: str, variant: Variant) -> list[str]:
    """One exporter block: where it sends, and how it delivers (see the variant's delivery note)."""
    if name == PROMETHEUS_EXPORTER:
        return [
            *comment_block(
                2,
                f"Your Prometheus's remote-write receiver. {PROMETHEUS_ENV} is its full URL (for "
                "example http://127.0.0.1:9090/api/v1/write; Prometheus needs "
                "--web.enable-remote-write-receiver) and has no default. Metric names get "
                "Prometheus's unit and type suffixes (voicemode_session_duration_seconds_bucket); "
                "resource attributes go to target_info only. remote_write_queue off: the request "
                "waits for Prometheus.",
            ),
            f"  {name}:",
            "    http:",
            f'      endpoint: "{env(PROMETHEUS_ENV)}"',
            *RETRY_BOUNDED,
            "    remote_write_queue:",
            "      enabled: false",
            "",
        ]
    if name == WORKER_EXPORTER:
        why = (
            f"The VoiceMode Worker. {WORKER_ENV} is its base URL (no trailing slash); the default "
            "is the local Worker of `make worker-dev`."
        )
        target = [f'    metrics_endpoint: "{env(WORKER_ENV, DEFAULT_WORKER)}/v1/metrics"']
    else:
        why = (
            f"Your own OTLP/HTTP backend. {USER_ENDPOINT_ENV} is its base URL (/v1/metrics is "
            "appended) and has no default: the Collector refuses to start without it rather than "
            f"guess. {USER_HEADERS_ENV} is an optional YAML/JSON map of request headers, for "
            'example {"authorization": "Bearer ..."}; unset means no headers.'
        )
        target = [
            f'    endpoint: "{env(USER_ENDPOINT_ENV)}"',
            f'    headers: "{env(USER_HEADERS_ENV)}"',
        ]
    if name == WORKER_EXPORTER and variant.queued:
        delivery = [
            *comment_block(
                4,
                "Retried until the Worker takes it, however long that is: only the Worker's "
                "refusals (400, 413, 415) end a report, as they would without a Collector. The "
                "queue holds 1000 reports (years of one installation's daily reports); when it "
                "is full, voicemode-otel is told to resend later. One report per request, as sent.",
            ),
            "    timeout: 10s",
            "    retry_on_failure:",
            "      enabled: true",
            "      initial_interval: 5s",
            "      multiplier: 2",
            "      max_interval: 5m",
            "      max_elapsed_time: 0s",
            "    sending_queue:",
            "      enabled: true",
            f"      storage: {QUEUE_STORAGE}",
            "      sizer: requests",
            "      queue_size: 1000",
        ]
    else:
        delivery = [*RETRY_BOUNDED, "    sending_queue:", "      enabled: false"]
    return [
        *comment_block(2, why),
        f"  {name}:",
        *target,
        "    compression: gzip",
        "    encoding: proto",
        *delivery,
        "",
    ]


def exporters(variant: Variant) -> list[str]:
    """The variant's exporters, after a note on how they deliver."""
    lines = ["exporters:", *comment_block(2, variant.delivery), ""]
    for name in variant.exporters:
        lines += exporter(name, variant)
    return lines


def service(variant: Variant) -> list[str]:
    """One explicit metrics pipeline; no extensions, no own-metrics endpoint."""
    return [
        "service:",
        *([f"  extensions: [{QUEUE_STORAGE}]"] if variant.queued else []),
        *comment_block(
            2,
            "The Collector's own metrics are off: it opens no port besides the receiver's.",
        ),
        "  telemetry:",
        "    metrics:",
        "      level: none",
        "  pipelines:",
        "    metrics/voicemode:",
        "      receivers: [otlp]",
        f"      processors: [{', '.join(variant.processors)}]",
        f"      exporters: [{', '.join(variant.exporters)}]",
    ]


def render(variant: Variant, contract: Contract, release: str) -> str:
    """The whole YAML text of ``variant`` for ``contract``, keys in canonical order."""
    lines = [
        *header(variant, release),
        *extensions(variant),
        *receivers(),
        *processors(variant, contract),
        *exporters(variant),
        *service(variant),
    ]
    return "\n".join(lines) + "\n"


def render_all(contract: Contract, release: str | None = None) -> dict[str, str]:
    """File name -> YAML text, for every variant (``release`` defaults to collector/go.mod's)."""
    release = release or collector_release()
    return {v.filename: render(v, contract, release) for v in VARIANTS}


def load_contract(path: Path = CONTRACT_PATH) -> Contract:
    """The contract at ``path``."""
    return parse_contract(json.loads(path.read_text(encoding="utf-8")))


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the generated configs; 1 means out of date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    stale = []
    for filename, text in render_all(load_contract()).items():
        path = OUT_DIR / filename
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(filename)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    for filename in stale:
        print(f"collector-config/{filename}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
