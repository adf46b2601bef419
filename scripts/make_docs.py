"""Generate docs/privacy.md from the contract and a report captured off the wire.

The field tables come from ``contract.json``; the example payload is what the
real sender put on the wire to a local OTLP receiver for a fixed day of
sample logs, decoded to OTLP/JSON. Nothing in the generated part is typed by
hand, and ``tests/faces/test_docs.py`` fails when the committed file is stale.

Usage: ``python scripts/make_docs.py`` (write) or ``--check`` (exit 1 if stale).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from voicemode_otel import testing, texts
from voicemode_otel.contract import spec as contract
from voicemode_otel.delivery import run as delivery
from voicemode_otel.operations import preference
from voicemode_otel.report import otlp_json
from voicemode_otel.store import Paths
from voicemode_otel.testing import CaptureServer

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "privacy.md"
EXAMPLE_ID = "5b9f8a3c-1d2e-4f60-8a7b-9c0d1e2f3a4b"
OPT_IN = datetime(2026, 11, 23, 15, 40, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 24, 16, 5, tzinfo=timezone.utc)


def capture_example() -> tuple[dict[str, object], int, int, dict[str, str]]:
    """Run the real sender against a local receiver; return the decoded body, sizes and headers."""
    with tempfile.TemporaryDirectory() as tmp, CaptureServer() as server:
        paths = Paths(Path(tmp))
        environ = {
            "VOICEMODE_BASE_DIR": tmp,
            "VOICEMODE_TELEMETRY_ENDPOINT": server.url,
            "VOICEMODE_MCP_HOST": "claude-code",
        }
        paths.base.mkdir(exist_ok=True)
        paths.telemetry_id.write_text(EXAMPLE_ID + "\n")
        preference.set_preference(paths, True, environ, now=OPT_IN)
        writer = testing.ConversationLogWriter(paths.conversations_dir)
        local = testing.PACIFIC
        writer.session(datetime(2026, 11, 23, 9, 12, 5, 120000, tzinfo=local), 3)
        writer.session(datetime(2026, 11, 23, 11, 40, 30, 5000, tzinfo=local), 14, round_seconds=75.0)
        writer.session(
            datetime(2026, 11, 23, 16, 2, 0, 900000, tzinfo=local),
            6,
            tts=testing.OPENAI_TTS,
            stt=testing.OPENAI_STT,
        )
        writer.session(
            datetime(2026, 11, 23, 23, 51, 0, tzinfo=local), 9, round_seconds=120.0, transport="livekit"
        )
        writer.session(datetime(2026, 11, 24, 7, 30, 0, tzinfo=local), 1, trailing_tts=True)
        result = delivery.run(
            delivery.RunConfig(
                paths, environ=environ, clock=lambda: NOW, exec_source="mcp", host_version="8.12.0"
            )
        )
        if result.outcome is not delivery.Outcome.DELIVERED:
            raise SystemExit(f"could not capture an example: {result.message}")
        [request] = server.captured
        headers = {
            k: v
            for k, v in request.headers.items()
            if k in ("content-type", "content-encoding", "user-agent")
        }
        assert gzip.decompress(request.raw_body) == request.body
        return otlp_json.to_dict(request.request()), len(request.body), len(request.raw_body), headers


def _resource_table() -> str:
    spec = contract.load()
    rows = ["| attribute | meaning | values |", "|---|---|---|"]
    for key, attribute in spec.resource_attributes.items():
        pattern = (attribute.pattern or "").replace("|", "\\|")  # a bare | would split the table cell
        values = ", ".join(f"`{v}`" for v in attribute.values) if attribute.values else f"pattern `{pattern}`"
        rows.append(f"| `{key}` | {attribute.description} | {values} |")
    return "\n".join(rows)


def _metric_table() -> str:
    spec = contract.load()
    rows = [
        "| metric | kind, unit | what is counted | buckets (upper bound inclusive) | split by |",
        "|---|---|---|---|---|",
    ]
    for metric in spec.metrics.values():
        if metric.bins:
            pairs = [f"`{label}`" for label in metric.bins]
            buckets = ", ".join(pairs) + f" (boundaries {', '.join(f'{b:g}' for b in metric.boundaries)})"
        else:
            buckets = "—"
        split = "; ".join(
            f"`{key}` ∈ {{{', '.join(spec.point_attributes[key].values)}}}" for key in metric.attributes
        )
        kind = f"{metric.instrument}, `{metric.unit}`"
        rows.append(f"| `{metric.name}` | {kind} | {metric.description} | {buckets} | {split} |")
    return "\n".join(rows)


def _included(name: str) -> str:
    """A hand-written section of the document, kept in docs/privacy/ (edited there)."""
    return (ROOT / "docs" / "privacy" / name).read_text(encoding="utf-8")


def render() -> str:
    """The whole privacy document."""
    body, raw, wire, headers = capture_example()
    never = "\n".join(f"- {line}" for line in texts.NEVER_COLLECTED)
    header_lines = "\n".join(f"    {k}: {v}" for k, v in sorted(headers.items()))
    period = contract.load().period
    return f"""# What voicemode-otel sends, field by field

<!-- Generated by scripts/make_docs.py from voicemode_otel/contract.json and a report
captured from the real sender. Do not edit by hand: run `make docs`. -->

Nothing is sent unless you opt in (`voicemode-otel enable`, the
`telemetry_set_preference` MCP tool, or `VOICEMODE_TELEMETRY=true`), and nothing at all
while `DO_NOT_TRACK` or `OTEL_SDK_DISABLED=true` (or `1`, `yes`, `on`) is set. To see what
would be sent before deciding, `voicemode-otel local` (`VOICEMODE_TELEMETRY=local`) builds the daily reports
and keeps them in the local log, sending nothing. After opting in, at most one
report a day leaves your machine: an OpenTelemetry OTLP/HTTP request (gzip'd protobuf)
holding the fields below and nothing else. The same list is enforced twice — by the
client before sending and by the Worker, which refuses and never stores a report with
any other field or value — because both read
[`voicemode_otel/contract.json`](../voicemode_otel/contract.json).

## Sent with every report (the OpenTelemetry resource)

{_resource_table()}

A value that cannot be determined is left out (the server reads it as "unknown"). The
random ID is created when you opt in and is not derived from anything about you or your
machine. Opting out deletes it — and, if a report was ever delivered, first asks the
server to delete every row stored under it (`DELETE /v1/installations/{{id}}`, retried for
up to 30 days if the server cannot be reached; until then the ID is kept only in
`telemetry/erasure.json` and nothing else is ever sent for it). From then on the server
refuses every report of that ID, a report still on its way included.
`voicemode-otel disable --keep-server-data` skips the erasure; `voicemode-otel forget`
erases without opting out (the next report then gets a new, unlinkable ID).

## The counts (the metrics)

{_metric_table()}

Every data point covers the whole report period: its start and end timestamps are the
period's bounds in whole UTC hours (at most {period.client_max_seconds // 86400} days),
never the time of a session. A session is counted once, in the period in which it ended.
Histograms carry only bucket counts and their total: no `sum`, `min`, `max` or
exemplars, which with one session a day would reveal its exact length. A session that
used two speech providers (a fallback) counts for both.

## Never sent

{never}

## What the receiving server sees besides the body

    POST /v1/metrics
{header_lines}

Besides HTTP's own (`host`, `content-length`, `accept`, `accept-encoding`, `connection`),
those are all the headers. The headers, certificates, protocol and compression you may
have set for your own OpenTelemetry backend (`OTEL_EXPORTER_OTLP_HEADERS`, …) go only to
an endpoint you set with `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT`, never to VoiceMode's
([configuration.md](configuration.md)).

Like any web server, the Worker sees the connection's IP address. It uses it only to rate
limit (100 reports and 100 erasures an hour per address), keyed by an HMAC of the address
and the UTC day under a secret key; the address itself is never stored or logged. Stored reports are
deleted after 90 days; the day-by-day counts kept longer are described next.

{_included("history.md")}
## A real report

This is the report the sender put on the wire for a sample day of five sessions (one of
them across local midnight, one on LiveKit, one with OpenAI's voices), captured by a
local OTLP receiver and decoded: {raw} bytes of protobuf, {wire} bytes as sent
(gzip). `voicemode-otel preview --json` prints the same for your own logs, and
`voicemode-otel log --body` shows every report that was sent.

```json
{json.dumps(body, indent=2)}
```
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/privacy.md is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print("docs/privacy.md is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
