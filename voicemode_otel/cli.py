"""``voicemode-otel``: see, choose, preview, send and forget — the same code paths as the MCP tools.

Every command that prints state takes ``--json`` (one JSON document, shapes in
docs/cli.md); no output carries colour or terminal codes. Exit codes: 0
success (or nothing to do), 1 a failure that is kept and retried (``send``:
the report stays pending; ``forget``: the erasure stays owed), 2 a usage
error (argparse's own code), 3 refused: nothing was done as asked (a
universal opt-out forbids it, the environment overrides the choice, a
setting keeps anything from being sent). A closed stdout (``| head``) ends
the command as it ends any Unix tool: quietly, by SIGPIPE.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from voicemode_otel import texts
from voicemode_otel.consent import decision as consent
from voicemode_otel.store import Paths

EXIT_OK, EXIT_KEPT, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
PROMPT = "Share anonymous usage statistics with the VoiceMode team? [y/N] "
_ASKS = frozenset({None})
"""Where a choice makes sense: a bare ``voicemode-otel`` only. ``status`` "changes nothing"
(its help says so, and scripts rely on it); ``preview`` is what the prompt recommends for
looking before deciding."""

_ENV_CONSENT = (
    "VOICEMODE_TELEMETRY (true/false/local/ask), DO_NOT_TRACK, OTEL_SDK_DISABLED, OTEL_METRICS_EXPORTER, "
    "VOICEMODE_BASE_DIR"
)
_ENV_EXPORT = (
    "VOICEMODE_TELEMETRY_ENDPOINT, OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT/HEADERS/TIMEOUT/"
    "COMPRESSION/CERTIFICATE/CLIENT_KEY/CLIENT_CERTIFICATE/PROTOCOL/INSECURE, OTEL_METRIC_EXPORT_INTERVAL, "
    "HTTPS_PROXY/HTTP_PROXY/NO_PROXY (all of them: docs/configuration.md)"
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("voicemode-otel")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked (importlib.metadata costs every run ~20 ms)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        sys.stdout.write(f"voicemode-otel {_version()}\n")
        parser.exit()


def _interactive(stdin: TextIO, stdout: TextIO) -> bool:
    try:
        return stdin.isatty() and stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _wrap(text: str) -> str:
    """Fit the terminal, breaking only at spaces: a path (hyphens and all) is never cut in two."""
    width = max(40, min(100, shutil.get_terminal_size(fallback=(80, 24)).columns - 1))
    return "\n".join(
        textwrap.fill(paragraph, width, break_long_words=False, break_on_hyphens=False)
        for paragraph in text.split("\n")
    )


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
    from voicemode_otel.operations import set_preference

    prompt = texts.opt_in_prompt(str(paths.env_file)).replace(
        " Would you like to share these statistics?", ""
    )
    stdout.write(_wrap(prompt) + "\n")
    stdout.write(
        _wrap(
            "`voicemode-otel preview` shows exactly what would be sent; `voicemode-otel local` "
            "keeps reports here for you to read, sending nothing."
        )
        + "\n"
    )
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


def _emit(out: TextIO, args: argparse.Namespace, document: Mapping[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        out.write(text + "\n")


def _status(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel.operations import status as overview

    current = overview.current(paths)
    if args.json:
        _emit(out, args, current.to_dict(), "")
    elif args.short:
        out.write(overview.render_short(current) + "\n")
    elif args.verbose:
        out.write(overview.render(current) + "\n\nWhat is collected:\n" + texts.what_is_collected() + "\n")
    else:
        out.write(overview.render(current) + "\n(What is collected: `voicemode-otel status --verbose`.)\n")
    return 0


def _set(mode: str) -> Callable[[Paths, argparse.Namespace, TextIO], int]:
    def command(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
        from voicemode_otel.operations import PreferenceRefused, set_mode
        from voicemode_otel.store import EnvFileError

        try:
            change = set_mode(paths, mode, keep_server_data=getattr(args, "keep_server_data", False))  # type: ignore[arg-type]
        except (PreferenceRefused, EnvFileError) as error:
            _emit(out, args, {"ok": False, "error": str(error)}, f"Nothing changed: {error}")
            return EXIT_REFUSED
        code = EXIT_REFUSED if change.overridden or change.problem else EXIT_OK
        _emit(out, args, {"ok": code == 0, **change.to_dict()}, change.describe())
        return code

    return command


def _preview(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel.operations import preview as next_report
    from voicemode_otel.operations import preview_text

    built = next_report.build(paths, exec_source="cli")
    if args.json:
        out.write(built.to_json() + "\n")
        return EXIT_OK
    width = max(40, min(100, shutil.get_terminal_size(fallback=(80, 24)).columns))
    out.write(preview_text.render_summary(built, width) + "\n")  # one screen: the summary first
    if args.body:
        out.write("\nOTLP/JSON body:\n" + built.to_json() + "\n")
    return EXIT_OK


def send_exit_codes() -> dict[Any, int]:
    """``send``'s exit code for each outcome (docs/cli.md has the same table; a test compares them).

    0: done, or nothing to do. 1: the report is kept and sent again later (an outage, a
    server's Retry-After, a URL or credentials to fix, a clock to set, the disk, another
    process). 3: refused, nothing was done as asked: no usable endpoint or setting, or the
    endpoint refused the report itself (dropped or refused: the same bytes would be refused
    again). 2 is for usage errors only, never an outcome.
    """
    from voicemode_otel.delivery import Outcome

    codes = dict.fromkeys(Outcome, EXIT_KEPT)
    codes.update(dict.fromkeys((Outcome.DELIVERED, Outcome.NOTHING_TO_SEND, Outcome.NOT_DUE), EXIT_OK))
    codes.update(dict.fromkeys((Outcome.OFF, Outcome.LOCAL), EXIT_OK))
    refused = (Outcome.NO_ENDPOINT, Outcome.SETTINGS, Outcome.DROPPED, Outcome.REFUSED)
    codes.update(dict.fromkeys(refused, EXIT_REFUSED))
    return codes


def _send(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel.delivery import run as delivery
    from voicemode_otel.operations import when

    result = delivery.run(
        delivery.RunConfig(
            paths, exec_source="cli", force=True, ignore_backoff=True, ignore_retry_after=args.force
        )
    )
    code = send_exit_codes()[result.outcome]
    if result.periods:
        lines = [f"{result.outcome.value}:", *(f"  report {line}" for line in result.periods)]
        if result.outcome is not delivery.Outcome.RETRY:
            lines.append(f"  ({result.message})")
    else:
        lines = [f"{result.outcome.value}: {result.message}"]
    lines.extend(f"erasure: {attempt.detail}" for attempt in result.erasure)  # an opt-out's, done by this run
    document = {
        "ok": code == EXIT_OK,
        "outcome": result.outcome.value,
        "message": result.message,
        "periods": list(result.periods),
        "next_attempt": when(result.next_attempt),
        "erasure": [{"outcome": a.outcome, "detail": a.detail} for a in result.erasure],
    }
    text = "\n".join(lines)
    _emit(out, args, document, text)
    return code


def _forget(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel.delivery import forget

    result = forget(paths)
    text = result.describe()
    still_on = result.ok and consent.decide(paths).enabled
    if still_on:
        text += (
            "\nTelemetry is still on: a new, unlinkable ID is made at the next report. `disable` stops it."
        )
    _emit(out, args, {**result.to_dict(), "still_on": still_on}, text)
    return 0 if result.ok else 1


def _log(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    from voicemode_otel.store import transparency

    lines = transparency.lines(paths)
    if args.limit is not None:
        lines = lines[-args.limit :]
    if args.json:
        out.writelines(json.dumps(line.to_dict()) + "\n" for line in lines)
        return 0
    if not lines:
        out.write(f"Nothing has been sent (log folder: {paths.transparency_dir}).\n")
        return 0
    for line in lines:
        period = f"{line.period_start} → {line.period_end}  " if line.period_start else ""
        tries = f" (after {line.attempts} attempts)" if line.attempts > 1 else ""
        where = f"  {line.endpoint}" if line.endpoint else ""
        label = (
            "report" if line.kind == "report" else f"{line.kind}:" if line.kind != "local" else "local report"
        )
        out.write(f"{_seconds(line.time)}  {label}  {period}{line.outcome}{tries}{where}\n")
        if args.body and line.body is not None:
            out.write(json.dumps(line.body, indent=2) + "\n")
    count = len(lines)
    out.write(
        f"({count} {'entry' if count == 1 else 'entries'}; bodies with --body or --json; "
        f"the last N with --limit N; folder {paths.transparency_dir})\n"
    )
    return 0


def _seconds(stamp: str) -> str:
    """A logged time as people read it: to the second."""
    from voicemode_otel.contract import parse_iso
    from voicemode_otel.operations import when

    try:
        return when(parse_iso(stamp)) or stamp
    except ValueError:
        return stamp


def _mcp(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    try:
        from voicemode_otel.mcp_tools import serve_stdio
    except ImportError as error:
        out.write(f"The MCP server needs the 'mcp' extra: pip install 'voicemode-otel[mcp]' ({error})\n")
        return EXIT_REFUSED
    serve_stdio()
    return 0


_HELP: dict[str, tuple[str, str, str, str]] = {
    # name: (one-line help, description, exit codes, environment), in the order `--help` lists
    # them: look (status, preview, log), choose (enable, disable, local), act (send, forget).
    "status": (
        "on/off and why, endpoint, ID, last send, next due, pending report, owed erasure",
        "Show whether anonymous usage statistics are on and why, where they go, the anonymous ID, "
        "the last and next report, a pending report and any erasure the server still owes. "
        "Changes nothing (a bare `voicemode-otel`, with no choice made yet, asks once on a terminal).",
        "0 always; 2 usage error",
        f"{_ENV_CONSENT}; {_ENV_EXPORT}",
    ),
    "preview": (
        "the report that would be sent now, summarised; sends and writes nothing",
        "Summarise the exact report that would be sent next, on one screen: the period, the "
        "sessions and their bins, what goes with every report. --json prints only the exact "
        "OTLP/JSON body ({} when nothing would be sent), --body adds it after the summary. Works "
        "whether telemetry is on or off; sends nothing and writes nothing.",
        "0 always; 2 usage error",
        f"{_ENV_CONSENT}; VOICEMODE_MCP_HOST",
    ),
    "log": (
        "show what was sent: one line per report with its final outcome",
        "Show the local transparency log (kept 30 days): one line per report with its final outcome, "
        "and the events that change what is sent (opt-in, erasure, local reports).",
        "0 always; 2 usage error",
        "VOICEMODE_BASE_DIR",
    ),
    "enable": (
        "opt in (creates a random anonymous ID)",
        "Opt in: writes VOICEMODE_TELEMETRY=true to voicemode.env (only that line) and creates a "
        "random anonymous ID. Refused while DO_NOT_TRACK or OTEL_SDK_DISABLED is set. `on` is the "
        "same command.",
        "0 opted in; 3 refused, voicemode.env could not be written, or the environment overrides it",
        _ENV_CONSENT,
    ),
    "disable": (
        "opt out: deletes the ID and unsent data, and asks the server to erase what it holds",
        "Opt out: writes VOICEMODE_TELEMETRY=false, deletes the anonymous ID, the delivery state and any "
        "unsent report, and — if a report was ever delivered — asks the server to delete every row of the "
        "ID (retried for 30 days if it cannot be reached); the installation's share of the daily totals, "
        "which carry no ID, remains. Always works: if voicemode.env cannot be changed, the opt-out is "
        "recorded in voicemode-otel's own folder. `off` is the same command.",
        "0 opted out; 3 the environment still turns it on (the variable is named), or nothing is writable",
        f"{_ENV_CONSENT}; {_ENV_EXPORT}",
    ),
    "local": (
        "local mode: build and log reports here, never send them",
        "Local mode, like `go telemetry local`: writes VOICEMODE_TELEMETRY=local; reports are built on "
        "schedule and written to the local log (`voicemode-otel log --body`), never uploaded, and no ID "
        "exists. Switch to `enable` or `disable` whenever you like.",
        "0 local mode on; 3 refused, voicemode.env could not be written, or the environment overrides it",
        _ENV_CONSENT,
    ),
    "send": (
        "send the due report now (ignores the 24 h wait and the client's backoff)",
        "Send every due report now: ignores the 24-hour cadence and the client's own retry backoff (for "
        "an erasure an opt-out still owes, too). A server's Retry-After still in the future is respected "
        "unless --force.",
        "0 delivered, nothing to send, off or local; 1 the report is kept and sent again later (an outage, "
        "a server's Retry-After, a URL or credentials to check, a clock to set, another process sending, "
        "the disk); 3 no usable endpoint or setting, or the endpoint refused the report itself "
        "(dropped or refused)",
        f"{_ENV_CONSENT}; {_ENV_EXPORT}",
    ),
    "forget": (
        "delete this installation's data on the server, then the local ID, state and log",
        "Ask the Worker to delete every row of this installation (DELETE /v1/installations/{id}), "
        "including an erasure an earlier opt-out still owes; then delete the ID, state and the local log. "
        "The preference is unchanged: while on, the next report gets a new, unlinkable ID.",
        "0 erased (or nothing to erase); 1 the server could not confirm (retried automatically for 30 days)",
        f"{_ENV_CONSENT}; {_ENV_EXPORT}",
    ),
    "mcp": (
        "serve the telemetry MCP tools and resources over stdio",
        "Serve telemetry_check_status, telemetry_set_preference, telemetry_preview and telemetry_forget "
        "over stdio for any MCP host. Ends when the client closes stdin.",
        "0 the client disconnected; 3 the 'mcp' extra is not installed",
        _ENV_CONSENT,
    ),
    "help": (
        "this overview, or one command's help (`help log` is `log --help`)",
        "Print the overview of every command, or with a COMMAND that command's own help.",
        "0 always; 2 an unknown command",
        "none",
    ),
}
_ALIASES = {"enable": ["on"], "disable": ["off"]}
"""As in `go telemetry on|off`."""


def _positive(text: str) -> int:
    """``--limit``'s value: a whole number of lines, at least one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each command's own (by canonical name and alias)."""
    parser = argparse.ArgumentParser(
        prog="voicemode-otel",
        description="Opt-in, anonymous usage statistics for VoiceMode. Off unless you enable it. "
        "Without a command: the status (and, on first use at a terminal, one question).",
        epilog="Exit codes: 0 success; 1 failed but kept for retry; 2 usage error; 3 refused "
        "(nothing done as asked). `voicemode-otel help COMMAND` for one command.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, argparse.ArgumentParser] = {}

    for name, (short, description, codes, env) in _HELP.items():
        aliases = _ALIASES.get(name, [])
        command = sub.add_parser(
            name,
            aliases=aliases,
            help=short,
            description=description,
            epilog=f"exit codes: {codes}\nenvironment: {env}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.set_defaults(command=name)  # an alias runs its command
        commands.update(dict.fromkeys([name, *aliases], command))

    json_help = "one JSON document (shape in docs/cli.md)"
    shape = commands["status"].add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help=json_help)
    shape.add_argument("--short", action="store_true", help="one line")
    shape.add_argument("--verbose", action="store_true", help="also list everything that is collected")
    for name in ("enable", "local", "forget", "disable", "send"):
        commands[name].add_argument("--json", action="store_true", help=json_help)
    commands["disable"].add_argument(
        "--keep-server-data", action="store_true", help="do not ask the server to erase this ID's rows"
    )
    preview = commands["preview"].add_mutually_exclusive_group()
    preview.add_argument(
        "--json", action="store_true", help="print only the OTLP/JSON body that would be sent"
    )
    preview.add_argument("--body", action="store_true", help="the summary, then the exact OTLP/JSON body")
    commands["send"].add_argument(
        "--force", action="store_true", help="send even before a server's Retry-After"
    )
    log = commands["log"]
    log.add_argument("--json", action="store_true", help="one JSON object per line, bodies included")
    log.add_argument("--body", action="store_true", help="include each report's OTLP/JSON body")
    log.add_argument("--limit", type=_positive, metavar="N", help="only the last N lines (N ≥ 1)")
    commands["help"].add_argument(
        "topic", nargs="?", metavar="COMMAND", choices=sorted(commands), help="the command to explain"
    )
    return parser, commands


def _help(paths: Paths, args: argparse.Namespace, out: TextIO) -> int:
    parser, commands = _parser()
    out.write((commands[args.topic] if args.topic else parser).format_help())
    return EXIT_OK


_COMMANDS: dict[str, Callable[[Paths, argparse.Namespace, TextIO], int]] = {
    "status": _status,
    "enable": _set("on"),
    "disable": _set("off"),
    "local": _set("local"),
    "preview": _preview,
    "send": _send,
    "forget": _forget,
    "log": _log,
    "mcp": _mcp,
    "help": _help,
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; a stray argument is reported with its own command's usage, not the top-level one."""
    parser, commands = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        (commands.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voicemode-otel`` console script."""
    try:
        try:
            args = _parse(argv)
        except SystemExit:  # --help, --version or a usage error: printed, now flushed while it can fail here
            sys.stdout.flush()
            raise
        return _run(args)
    except BrokenPipeError:
        return _closed_stdout()


def _run(args: argparse.Namespace) -> int:
    paths = Paths.from_environ()
    machine_readable = getattr(args, "json", False) or getattr(args, "short", False)
    if args.command in _ASKS and not machine_readable:
        maybe_ask(paths, os.environ, sys.stdin, sys.stdout)
    if args.command is None:
        args = _parse(["status"])
    code = _COMMANDS[args.command](paths, args, sys.stdout)
    if args.command == "mcp":
        with contextlib.suppress(ValueError, OSError):  # the stdio transport closes stdout when done
            sys.stdout.flush()
    else:
        sys.stdout.flush()  # here, not at exit, so a closed pipe is noticed while it can be handled
    return code


def _closed_stdout() -> int:
    """The reader went away (``| head``): stop quietly, as any Unix tool does — by SIGPIPE.

    Whatever was still buffered goes nowhere (stdout now points at /dev/null, so
    the interpreter's final flush cannot fail and print "Exception ignored"), and
    the process ends the way ``cat`` or ``grep`` would: killed by SIGPIPE, which
    shells do not report. Python ignores SIGPIPE for its own sockets' sake, so it
    is restored to the default only now, at the very end.
    """
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    return EXIT_KEPT  # no SIGPIPE (Windows): the conventional status of a write that failed


if __name__ == "__main__":
    raise SystemExit(main())
