"""Voice sessions from VoiceMode's conversation logs, counted exactly once.

A session is a run of log lines with one ``conversation_id`` and no gap of
five minutes or more (VoiceMode starts a new ID after such a gap, so for its
logs a session is exactly a conversation; splitting at gaps ourselves keeps
the count right even for logs that break that rule). A session is complete
five minutes after its last line and is counted in the one period that
contains that completion time, however many files or midnights it spans.

Lines are placed by their own timestamps (local time with offset → UTC), not
by file names; only the files that can hold a period's sessions are read, one
line at a time, so memory does not grow with the size of the logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from voicemode_otel import normalize
from voicemode_otel.periods import Period

SESSION_GAP = timedelta(minutes=5)
"""VoiceMode's ``CONVERSATION_GAP_MINUTES``: a silence this long ends a session."""

# Local file dates differ from UTC by at most UTC-12..UTC+14; one more day of
# margin means only sessions longer than a day ever need an extra pass.
_BEFORE_MARGIN = timedelta(hours=12, days=1)
_AFTER_MARGIN = timedelta(hours=14)
_MAX_EXTRA_FILES = 31

_FILE_NAME = re.compile(r"^exchanges_(\d{4}-\d{2}-\d{2})\.jsonl$")
# VoiceMode writes ``json.dumps(entry)``: default separators, fixed key order,
# ``metadata`` last. Lines in exactly that shape skip the full JSON parse of
# the (long, never needed) text fields; anything else takes the slow path.
_FAST_PREFIX = re.compile(
    r'\{"version": \d+, "timestamp": "([^"\\]+)", "conversation_id": "([^"\\]+)", "type": "([^"\\]+)", '
)
_METADATA_KEY = ', "metadata": '
_KINDS = ("tts", "stt")


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


@dataclass(frozen=True)
class _Line:
    timestamp: datetime
    conversation_id: str
    kind: str
    metadata: dict[str, object]


@dataclass
class _Run:
    """A session being assembled from its lines."""

    conversation_id: str
    first: datetime
    last: datetime
    file_index: int
    exchanges: int = 0
    last_kind: str = ""
    transport: str = "unknown"
    tts: set[str] = field(default_factory=set)
    stt: set[str] = field(default_factory=set)

    def add(self, line: _Line) -> None:
        self.first = min(self.first, line.timestamp)
        self.last = max(self.last, line.timestamp)
        # A tts line and the stt line that answers it are one exchange.
        if not (line.kind == "stt" and self.last_kind == "tts"):
            self.exchanges += 1
        self.last_kind = line.kind
        meta = line.metadata
        if meta.get("transport"):
            self.transport = normalize.transport(meta["transport"])
        if line.kind == "tts":
            self.tts.add(normalize.provider_name(meta.get("provider"), meta.get("provider_url")))
        else:
            # VoiceMode records the STT endpoint's URL, the more telling field.
            self.stt.add(normalize.provider_name(meta.get("provider"), meta.get("provider_url")))

    def session(self) -> Session:
        return Session(
            self.conversation_id,
            self.first,
            self.last,
            self.exchanges,
            self.transport,
            frozenset(self.tts),
            frozenset(self.stt),
        )


def _parse_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.astimezone()  # VoiceMode always writes an offset; assume local time if not.
    return moment.astimezone(timezone.utc)


def _fast_parse(raw: str) -> _Line | None:
    """The VoiceMode-shaped line without parsing its text fields, or None to use json."""
    match = _FAST_PREFIX.match(raw)
    if match is None or raw.find('{"version": ', 1) != -1:
        return None  # not VoiceMode's shape, or two records run together
    meta_at = raw.rfind(_METADATA_KEY)
    body = raw.rstrip()
    if meta_at == -1 or not body.endswith("}}"):
        return None
    try:
        metadata = json.loads(body[meta_at + len(_METADATA_KEY) : -1])
        timestamp = _parse_timestamp(match[1])
    except ValueError:
        return None
    if not isinstance(metadata, dict):
        return None
    return _Line(timestamp, match[2], match[3], metadata)


def parse_line(raw: str, stats: ReadStats) -> _Line | None:
    """One usable log line, or None after counting why it was skipped."""
    line = _fast_parse(raw)
    if line is None:
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
        conversation_id, stamp, kind = (
            record.get("conversation_id"),
            record.get("timestamp"),
            record.get("type"),
        )
        if not isinstance(conversation_id, str) or not conversation_id or not isinstance(stamp, str):
            stats.missing_fields += 1
            return None
        try:
            timestamp = _parse_timestamp(stamp)
        except ValueError:
            stats.missing_fields += 1
            return None
        metadata = record.get("metadata")
        line = _Line(timestamp, conversation_id, str(kind), metadata if isinstance(metadata, dict) else {})
    if line.kind not in _KINDS:
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

    Reads the files whose local dates can hold lines of those sessions; if a
    session may continue from before the first file read (a session longer
    than a day), one more earlier file is read and the pass repeated.
    """
    stats = stats if stats is not None else ReadStats()
    files = log_files(conversations_dir)
    low = (period.start - SESSION_GAP - _BEFORE_MARGIN).date()
    high = (period.end + _AFTER_MARGIN).date()
    first = next((i for i, (day, _) in enumerate(files) if day >= low), len(files))
    last = max((i for i, (day, _) in enumerate(files) if day <= high), default=-1)
    for _ in range(_MAX_EXTRA_FILES):
        pass_stats = ReadStats()
        sessions, needs_earlier = _one_pass(files[first : last + 1], period, pass_stats)
        if not needs_earlier or first == 0:
            break
        first -= 1
    for name in ("files", "lines", "corrupt", "unknown_type", "missing_fields"):
        setattr(stats, name, getattr(stats, name) + getattr(pass_stats, name))
    return sessions


def _one_pass(files: list[tuple[date, Path]], period: Period, stats: ReadStats) -> tuple[list[Session], bool]:
    open_runs: dict[str, _Run] = {}
    sessions: list[Session] = []
    first_file_start: datetime | None = None
    needs_earlier = False

    def close(run: _Run) -> None:
        nonlocal needs_earlier
        if period.contains(run.last + SESSION_GAP):
            sessions.append(run.session())
            # Could this session have begun in a file we did not read?
            if (
                run.file_index == 0
                and first_file_start is not None
                and run.first < first_file_start + SESSION_GAP
            ):
                needs_earlier = True

    for index, (_, path) in enumerate(files):
        for raw in _lines(path, stats):
            stats.lines += 1
            line = parse_line(raw, stats)
            if line is None or line.timestamp >= period.end:
                continue  # later lines belong to sessions not complete in this period
            if index == 0 and (first_file_start is None or line.timestamp < first_file_start):
                first_file_start = line.timestamp
            run = open_runs.get(line.conversation_id)
            if run is not None and line.timestamp - run.last >= SESSION_GAP:
                close(run)
                run = None
            if run is None:
                run = _Run(line.conversation_id, line.timestamp, line.timestamp, index)
                open_runs[line.conversation_id] = run
            run.add(line)
    for run in open_runs.values():
        close(run)
    sessions.sort(key=lambda s: (s.completed_at, s.conversation_id))
    return sessions, needs_earlier
