"""``voicemode-otel``: see, choose, preview, send and forget — the same code paths as the MCP tools.

Exit codes: 0 success (or nothing to do), 1 a failure (``send``: the report
stays pending), 2 a configuration problem or a refused request.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from voicemode_otel import consent, texts
from voicemode_otel.paths import Paths

PROMPT = "Share anonymous usage statistics with the VoiceMode team? [y/N] "
_PROMPT_EXEMPT = frozenset({"enable", "disable", "mcp"})


def _interactive(stdin: TextIO, stdout: TextIO) -> bool:
    try:
        return stdin.isatty() and stdout.isatty()
    except (AttributeError, ValueError):
        return False


def maybe_ask(paths: Paths, environ: Mapping[str, str], stdin: TextIO, stdout: TextIO) -> None:
    """Ask once, on first interactive use, when no preference exists anywhere; store the answer.

    Default No; EOF and Ctrl-C mean No. Never asks without a terminal on both
    ends, or while ``DO_NOT_TRACK``/``OTEL_SDK_DISABLED`` is set.
    """
    decision = consent.decide(paths, environ)
    if decision.state is not consent.State.NOT_ASKED or decision.preference is not None:
        return
    if not _interactive(stdin, stdout):
        return
    from voicemode_otel.preference import set_preference

    stdout.write(texts.opt_in_prompt().replace(" Would you like to share these statistics?", "") + "\n")
    stdout.write("`voicemode-otel preview` shows exactly what would be sent.\n")
    try:
        answer = _ask(stdin, stdout)
    except KeyboardInterrupt:  # Ctrl-C means No, whenever it comes
        stdout.write("\n")
        answer = False
    change = set_preference(paths, answer, environ)
    stdout.write(
        ("Thank you — telemetry is on.\n" if answer else "Telemetry stays off.\n")
        + change.describe()
        + "\n\n"
    )


def _ask(stdin: TextIO, stdout: TextIO) -> bool:
    for _ in range(3):
        stdout.write(PROMPT)
        stdout.flush()
        reply = stdin.readline()
        if not reply:  # EOF
            stdout.write("\n")
            return False
        choice = reply.strip().lower()
        if choice in ("y", "yes"):
            return True
        if choice in ("", "n", "no"):
            return False
        stdout.write("Please answer y or n.\n")
    return False


def _status(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel import overview

    current = overview.current(paths)
    if args.json:
        out.write(json.dumps(current.to_dict(), indent=2) + "\n")
    else:
        out.write(overview.render(current) + "\n\nWhat is collected:\n" + texts.what_is_collected() + "\n")
    return 0


def _set(enabled: bool) -> Callable[[Paths, argparse.Namespace, TextIO], int]:
    def command(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
        from voicemode_otel.envfile import EnvFileError
        from voicemode_otel.preference import PreferenceRefused, set_preference

        try:
            change = set_preference(paths, enabled)
        except (PreferenceRefused, EnvFileError) as error:
            out.write(f"Nothing changed: {error}\n")
            return 2
        out.write(change.describe() + "\n")
        return 0

    return command


def _preview(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel import next_report

    built = next_report.build(paths, exec_source="cli")
    if args.json:
        out.write(built.to_json() + "\n")
    else:
        out.write(next_report.render_summary(built) + "\n\nOTLP/JSON body:\n" + built.to_json() + "\n")
    return 0


def _send(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel import delivery

    result = delivery.run(delivery.RunConfig(paths, exec_source="cli", force=True))
    if result.periods:
        out.write(f"{result.outcome.value}:\n")
        out.writelines(f"  report {line}\n" for line in result.periods)
        if result.outcome is not delivery.Outcome.RETRY:
            out.write(f"  ({result.message})\n")
    else:
        out.write(f"{result.outcome.value}: {result.message}\n")
    ok = (
        delivery.Outcome.DELIVERED,
        delivery.Outcome.NOTHING_TO_SEND,
        delivery.Outcome.NOT_DUE,
        delivery.Outcome.OFF,
    )
    if result.outcome in ok:
        return 0
    return 2 if result.outcome is delivery.Outcome.NO_ENDPOINT else 1


def _forget(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel.erasure import forget

    result = forget(paths)
    out.write(result.describe() + "\n")
    if result.ok and consent.decide(paths).enabled:
        out.write(
            "Telemetry is still on: a new, unlinkable ID is made at the next report. `disable` stops it.\n"
        )
    return 0 if result.ok else 1


def _log(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel import transparency

    entries = list(transparency.read(paths))[-args.limit :] if args.limit else list(transparency.read(paths))
    if args.json:
        out.writelines(json.dumps(entry) + "\n" for entry in entries)
        return 0
    if not entries:
        out.write(f"Nothing has been sent (log folder: {paths.transparency_dir}).\n")
        return 0
    for entry in entries:
        period = f"{entry.get('period_start')} → {entry.get('period_end')}"
        out.write(f"{entry.get('time')}  {period}  {entry.get('outcome')}  {entry.get('endpoint')}\n")
        if args.body and "body" in entry:
            out.write(json.dumps(entry["body"], indent=2) + "\n")
    out.write(
        f"({len(entries)} entries; full bodies with --body or --json; folder {paths.transparency_dir})\n"
    )
    return 0


def _mcp(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    try:
        from voicemode_otel.mcp_tools import serve_stdio
    except ImportError as error:
        out.write(f"The MCP server needs the 'mcp' extra: pip install 'voicemode-otel[mcp]' ({error})\n")
        return 2
    serve_stdio()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicemode-otel",
        description="Opt-in, anonymous usage statistics for VoiceMode. Off unless you enable it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="on/off and why, endpoint, last send, next due, pending")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("enable", help="opt in (creates a random anonymous ID)")
    sub.add_parser("disable", help="opt out (deletes the ID and any unsent report)")
    preview = sub.add_parser("preview", help="print the report that would be sent now; sends nothing")
    preview.add_argument("--json", action="store_true", help="print only the OTLP/JSON body")
    sub.add_parser("send", help="send the due report now (ignores the 24 h wait)")
    sub.add_parser("forget", help="delete this installation's data on the server, then the local ID")
    log = sub.add_parser("log", help="show what was sent (the local transparency log)")
    log.add_argument("--json", action="store_true", help="raw JSON lines, bodies included")
    log.add_argument("--body", action="store_true", help="include each report's OTLP/JSON body")
    log.add_argument("--limit", type=int, default=0, help="only the last N entries")
    sub.add_parser("mcp", help="serve the telemetry MCP tools and resources over stdio")
    return parser


_COMMANDS: dict[str, Callable[[Paths, argparse.Namespace, TextIO], int]] = {
    "status": _status,
    "enable": _set(True),
    "disable": _set(False),
    "preview": _preview,
    "send": _send,
    "forget": _forget,
    "log": _log,
    "mcp": _mcp,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voicemode-otel`` console script."""
    args = _parser().parse_args(argv)
    paths = Paths.from_environ()
    if args.command not in _PROMPT_EXEMPT:
        maybe_ask(paths, os.environ, sys.stdin, sys.stdout)
    code = _COMMANDS[args.command](paths, args, sys.stdout)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
