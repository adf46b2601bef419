"""The log reader as it was before the msgspec rewrite (commit 08ad631), kept verbatim for tests.

tests/logs/test_sessions_differential.py checks that the package's reader finds exactly the
sessions this one found, on every existing test scenario and on the benchmarks' 100 MB of
logs. Not part of the package; do not fix bugs here (its known ones: a FIFO named like a log
hangs it, a line of 2 GB is read whole, and deeply nested JSON raises RecursionError).

Original docstring:

Voice sessions from VoiceMode's conversation logs, counted exactly once.

A session is a run of log lines with one ``conversation_id`` and no gap of
five minutes or more (VoiceMode starts a new ID after such a gap, so for its
logs a session is exactly a conversation; splitting at gaps ourselves keeps
the count right even for logs that break that rule). A session is complete
five minutes after its last line and is counted in the one period that
contains that completion time, however many files or midnights it spans.

Lines are placed by their own timestamps (local time with offset → UTC), not
by file names; only the files that can hold a period's sessions are read, one
line at a time, so memory does not grow with the size of the logs. The inner
loop keeps times as integer microseconds and lines as plain tuples: it runs
once per log line, and a daily report should cost the host next to nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from voicemode_otel.contract import Period
from voicemode_otel.logs import normalize

SESSION_GAP = timedelta(minutes=5)
"""VoiceMode's ``CONVERSATION_GAP_MINUTES``: a silence this long ends a session."""
_GAP = SESSION_GAP.total_seconds()

# Local file dates differ from UTC by at most UTC-12..UTC+14, so these margins
# are the least that holds every line of the period; a session that began before
# the first file read (one longer than about half a day) triggers one more pass.
_BEFORE_MARGIN = timedelta(hours=12)
_AFTER_MARGIN = timedelta(hours=14)
_WIDEST_OFFSET_WEST = timedelta(hours=12)  # UTC-12: a file's first lines are at most this late in UTC
_MAX_EXTRA_FILES = 31

_FILE_NAME = re.compile(r"^exchanges_(\d{4}-\d{2}-\d{2})\.jsonl$")
# VoiceMode writes ``json.dumps(entry)``: default separators, fixed key order,
# ``metadata`` last. Lines in exactly that shape skip the full JSON parse of
# the (long, never needed) text fields; anything else takes the slow path.
_METADATA_KEY = ', "metadata": '
_KINDS = ("tts", "stt")

Line = tuple[float, str, str, object, object, object]
"""(UTC seconds, conversation id, kind, raw provider, raw provider URL, raw transport)."""


@dataclass(frozen=True)
class Session:
    """One voice session, already reduced to what the contract may use."""

    conversation_id: str
    first: datetime
    last: datetime
    exchanges: int
    transport: str
    tts_providers: frozenset[str]
    stt_providers: frozenset[str]

    @property
    def duration_seconds(self) -> float:
        """Time from the first to the last line."""
        return (self.last - self.first).total_seconds()

    @property
    def completed_at(self) -> datetime:
        """When no further line can belong to this session."""
        return self.last + SESSION_GAP


@dataclass
class ReadStats:
    """What was read and skipped: a local diagnostic, never sent."""

    files: int = 0
    lines: int = 0
    corrupt: int = 0
    unknown_type: int = 0
    missing_fields: int = 0

    def skipped(self) -> int:
        """Lines that could not be used."""
        return self.corrupt + self.unknown_type + self.missing_fields


@dataclass(slots=True)
class _Run:
    """A session being assembled from its lines (times in UTC seconds)."""

    conversation_id: str
    first: float
    last: float
    exchanges: int = 0
    last_kind: str = ""
    transport: object = None
    tts: set[tuple[object, object]] = field(default_factory=set)
    stt: set[tuple[object, object]] = field(default_factory=set)

    def add(self, at: float, kind: str, provider: object, url: object, transport: object) -> None:
        if at < self.first:
            self.first = at
        elif at > self.last:
            self.last = at
        # A tts line and the stt line that answers it are one exchange.
        if not (kind == "stt" and self.last_kind == "tts"):
            self.exchanges += 1
        self.last_kind = kind
        if transport:
            self.transport = transport
        # Raw values are collected here and mapped into the closed sets once, in session().
        (self.tts if kind == "tts" else self.stt).add((provider, url))

    def session(self) -> Session:
        return Session(
            self.conversation_id,
            datetime.fromtimestamp(self.first, timezone.utc),  # rounds to the exact microsecond
            datetime.fromtimestamp(self.last, timezone.utc),
            self.exchanges,
            normalize.transport(self.transport),
            frozenset(normalize.provider_name(name, url) for name, url in self.tts),
            frozenset(normalize.provider_name(name, url) for name, url in self.stt),
        )


def _hashable(value: object) -> object:
    return value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)


def _parse_seconds(text: str) -> float:
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        moment = moment.astimezone()  # VoiceMode always writes an offset; assume local time if not.
    return moment.timestamp()


_minute_starts: dict[str, float] = {}


def _seconds(text: str) -> float:
    """UTC seconds of an ISO 8601 timestamp (exact to the microsecond); no offset means local time.

    Runs once per log line: ``isoformat()`` output (``…THH:MM:SS[.ffffff]±HH:MM``)
    is split into its minute, parsed once and cached, and the seconds added;
    the sum is a float exact to well under a microsecond at today's epoch.
    Anything else takes the full parse.
    """
    size = len(text)
    fraction_ok = (size == 32 and text[19] == "." and text[20:26].isdigit()) or size == 25
    shape_ok = text[16] == ":" and text[-3] == ":" and text[-6] in "+-" if size >= 25 else False
    if fraction_ok and shape_ok and text[17:19].isdigit() and text[17] < "6":
        key = text[:16] + text[-6:]
        start = _minute_starts.get(key)
        if start is None:
            if len(_minute_starts) > 10_000:
                _minute_starts.clear()
            start = _minute_starts[key] = _parse_seconds(text[:16] + ":00" + text[-6:])
        return start + float(text[17:-6])
    return _parse_seconds(text)


_LATE: Line = (0.0, "", "late", None, None, None)
"""What :func:`_fast_parse` returns for a line at or after ``until`` (compared with ``is``)."""


def _fast_parse(raw: str, until: float | None = None) -> Line | None:
    """Read a VoiceMode-shaped line without any JSON parsing.

    Returns the line, ``_LATE`` when it is at or after ``until`` (its
    metadata is then not even looked at), or None to use the full parse.
    It relies on one fact of JSON: a string cannot contain an unescaped
    quote, so ``", "`` only ever separates fields and ``"provider": "`` only
    ever starts that key's value; values with escapes go to the full parse.
    """
    if raw[:12] != '{"version": ' or not raw.endswith(("}}\n", "}}")):
        return None
    head = raw[:256].split('", "', 3)  # version+timestamp, conversation_id, type, rest
    if len(head) != 4:
        return None
    stamp_at = head[0].find(', "timestamp": "')
    if stamp_at == -1 or head[1][:19] != 'conversation_id": "' or head[2][:8] != 'type": "':
        return None
    try:
        at = _seconds(head[0][stamp_at + 16 :])
    except ValueError:
        return None
    if until is not None and at >= until:
        return _LATE
    meta_at = raw.rfind(_METADATA_KEY)
    if meta_at == -1 or raw.find('{"version": ', 1) != -1:
        return None  # no metadata, or two records run together
    # The three values, unrolled: this is the hottest code in the package.
    found = raw.find('"provider": "', meta_at)
    provider = raw[found + 13 : raw.find('"', found + 13)] if found != -1 else None
    found = raw.find('"provider_url": "', meta_at)
    url = raw[found + 17 : raw.find('"', found + 17)] if found != -1 else None
    found = raw.find('"transport": "', meta_at)
    transport = raw[found + 14 : raw.find('"', found + 14)] if found != -1 else None
    if "\\" in (provider or "") + (url or "") + (transport or ""):
        return None  # an escaped character: let json decode it
    return (at, head[1][19:], head[2][8:], provider, url, transport)


def _slow_parse(raw: str, stats: ReadStats) -> Line | None:
    if not raw.strip():
        return None  # a blank line is not worth a diagnostic
    try:
        record = json.loads(raw)
    except ValueError:
        stats.corrupt += 1
        return None
    if not isinstance(record, dict):
        stats.corrupt += 1
        return None
    conversation_id, stamp = record.get("conversation_id"), record.get("timestamp")
    if not isinstance(conversation_id, str) or not conversation_id or not isinstance(stamp, str):
        stats.missing_fields += 1
        return None
    try:
        at = _seconds(stamp)
    except ValueError:
        stats.missing_fields += 1
        return None
    meta = record.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (
        at,
        conversation_id,
        str(record.get("type")),
        _hashable(meta.get("provider")),
        _hashable(meta.get("provider_url")),
        _hashable(meta.get("transport")),
    )


def parse_line(raw: str, stats: ReadStats, until: float | None = None) -> Line | None:
    """One usable log line before ``until`` (UTC seconds), or None; unusable lines are counted."""
    line = _fast_parse(raw, until)
    if line is _LATE:
        return None
    if line is None:
        line = _slow_parse(raw, stats)
        if line is None or (until is not None and line[0] >= until):
            return None
    if line[2] not in _KINDS:
        stats.unknown_type += 1
        return None
    return line


def log_files(conversations_dir: Path) -> list[tuple[date, Path]]:
    """VoiceMode's daily log files, oldest first; other files are ignored."""
    try:
        entries = list(conversations_dir.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _FILE_NAME.match(entry.name)
        if match:
            try:
                found.append((date.fromisoformat(match[1]), entry))
            except ValueError:
                continue
    return sorted(found)


def _lines(path: Path, stats: ReadStats) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            stats.files += 1
            yield from handle
    except OSError:
        return


def completed_sessions(
    conversations_dir: Path, period: Period, stats: ReadStats | None = None
) -> list[Session]:
    """The sessions whose completion time falls in ``period``, each exactly once.

    Reads the files whose local dates can hold those sessions' lines. A file
    named for local date D holds only lines at or after D 00:00 UTC-12, so
    every line from ``D 12:00 UTC`` on is guaranteed to be in the files read
    from D onwards; a session that may have begun before that (one spanning
    more than about half a day) makes the pass repeat with the previous file.
    """
    stats = stats if stats is not None else ReadStats()
    files = log_files(conversations_dir)
    low = (period.start - SESSION_GAP - _BEFORE_MARGIN).date()
    high = (period.end + _AFTER_MARGIN).date()
    first = next((i for i, (day, _) in enumerate(files) if day >= low), len(files))
    last = max((i for i, (day, _) in enumerate(files) if day <= high), default=-1)
    for _ in range(_MAX_EXTRA_FILES):
        pass_stats = ReadStats()
        covered_from = None
        if 0 < first <= last:
            day = files[first][0]
            covered = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + _WIDEST_OFFSET_WEST
            covered_from = covered.timestamp()
        sessions, needs_earlier = _one_pass(files[first : last + 1], period, pass_stats, covered_from)
        if not needs_earlier:
            break
        first -= 1
    for name in ("files", "lines", "corrupt", "unknown_type", "missing_fields"):
        setattr(stats, name, getattr(stats, name) + getattr(pass_stats, name))
    return sessions


def _one_pass(
    files: list[tuple[date, Path]], period: Period, stats: ReadStats, covered_from: float | None
) -> tuple[list[Session], bool]:
    """Sessions complete in ``period``; and whether one may have begun before ``covered_from``."""
    open_runs: dict[str, _Run] = {}
    sessions: list[Session] = []
    needs_earlier = False
    start, end = period.start.timestamp(), period.end.timestamp()

    def close(run: _Run) -> None:
        nonlocal needs_earlier
        if start <= run.last + _GAP < end:
            sessions.append(run.session())
            if covered_from is not None and run.first < covered_from + _GAP:
                needs_earlier = True

    lines = 0
    fast, late = _fast_parse, _LATE  # the loop runs once per log line: locals, no wrapper calls
    for _, path in files:
        for raw in _lines(path, stats):
            lines += 1
            line = fast(raw, end)
            if line is late:
                continue  # at/after the period's end: its session is not complete yet
            if line is None or (line[2] != "tts" and line[2] != "stt"):
                line = parse_line(raw, stats, end)  # the full parse, which also counts what it skips
                if line is None:
                    continue
            at, conversation_id, kind, provider, url, transport = line
            run = open_runs.get(conversation_id)
            if run is not None and at - run.last >= _GAP:
                close(run)
                run = None
            if run is None:
                run = open_runs[conversation_id] = _Run(conversation_id, at, at)
            run.add(at, kind, provider, url, transport)
    stats.lines += lines
    for run in open_runs.values():
        close(run)
    sessions.sort(key=lambda s: (s.completed_at, s.conversation_id))
    return sessions, needs_earlier
