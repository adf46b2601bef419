"""Voice sessions from VoiceMode's conversation logs, counted exactly once.

A session is a run of log lines with one ``conversation_id`` and no gap of
five minutes or more (VoiceMode starts a new ID after such a gap, so for its
logs a session is exactly a conversation; splitting at gaps ourselves keeps
the count right even for logs that break that rule). A session is complete
five minutes after its last line and is counted in the one period that
contains that completion time, however many files or midnights it spans.

Lines are placed by their own timestamps (local time with offset → UTC), not
by file names; only the files that can hold a period's sessions are read,
each once, one line at a time, so memory does not grow with the size of the
logs. A :class:`SessionReader` serves consecutive periods (a catch-up after
days away) from one streaming pass: what a period's last files held beyond
its end is kept for the next, never read again. Decoding is
:mod:`voicemode_otel.logs.records` (msgspec), file access
:mod:`voicemode_otel.logs.files`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from voicemode_otel.contract import Period
from voicemode_otel.logs import files as log_files
from voicemode_otel.logs import normalize

if TYPE_CHECKING:
    from voicemode_otel.logs import records as log_records

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
# The files read for a period hold lines up to ~50 h past its end (a day's file,
# UTC+14 to UTC-12): those are kept for the next period. A line later than this
# breaks the file-date rule; it is ignored rather than held in memory.
_LOOKAHEAD = timedelta(days=3).total_seconds()
_KINDS = ("tts", "stt")
_MAX_VERSION_KEYS = 32  # distinct schema versions counted by name; the rest count as "other"
_OTHER = "other"  # log_records.OTHER_VERSION, without importing msgspec here


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
    """Lines that are not a JSON object, or longer than ``log_files.MAX_LINE_BYTES``."""
    unknown_type: int = 0
    missing_fields: int = 0
    skipped_files: int = 0
    """Entries named like a log that are no regular file (a FIFO, a socket, a directory…) or unreadable."""
    schema_versions: dict[str, int] = field(default_factory=dict)
    """Log records (JSON object lines) by their ``version``: ``"3"``, ``"4"``…, ``"missing"``, ``"other"``."""

    def skipped(self) -> int:
        """Lines that could not be used."""
        return self.corrupt + self.unknown_type + self.missing_fields

    def add(self, other: ReadStats) -> None:
        """Add ``other``'s counts to these."""
        self.files += other.files
        self.lines += other.lines
        self.corrupt += other.corrupt
        self.unknown_type += other.unknown_type
        self.missing_fields += other.missing_fields
        self.skipped_files += other.skipped_files
        for key, count in other.schema_versions.items():
            self.schema_versions[key] = self.schema_versions.get(key, 0) + count


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


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


class SessionReader:
    """One streaming pass over the logs that serves consecutive periods, oldest first.

    Each :meth:`completed_in` reads only the files it has not read yet, up to
    the last one that can hold a line of that period; sessions still open at
    a period's end, and lines beyond it, carry over to the next. A period
    that does not follow the previous one starts a fresh pass. A session
    that may have begun before the first file read (longer than about half a
    day) makes the pass start again one file earlier, as a single-period
    read always did; that is the only time a file is read twice.
    """

    def __init__(self, conversations_dir: Path, stats: ReadStats | None = None) -> None:
        self.conversations_dir = conversations_dir
        self.stats = stats if stats is not None else ReadStats()
        """Every line read for the periods served (added to after each period)."""
        self.files_opened = 0
        """Files opened, a re-read included: equal to the files read when nothing was read twice."""
        self._files: list[tuple[date, Path]] | None = None
        self._served_until: float | None = None
        self._start_pass(0)

    def _start_pass(self, first: int) -> None:
        self._first = first
        self._next = first
        self._runs: dict[str, _Run] = {}
        self._closed: list[_Run] = []  # ended by a gap, not yet served
        self._pass = ReadStats()
        self._versions: dict[object, int] = {}

    def completed_in(self, period: Period) -> list[Session]:
        """The sessions whose completion time falls in ``period``, each exactly once."""
        start, end = period.start.timestamp(), period.end.timestamp()
        if self._files is None or self._served_until is None or start < self._served_until:
            self._files = log_files.log_files(self.conversations_dir)
            low = (period.start - SESSION_GAP - _BEFORE_MARGIN).date()
            self._start_pass(bisect.bisect_left(self._files, (low,)))
        files = self._files
        high = (period.end + _AFTER_MARGIN).date()
        last = bisect.bisect_left(files, (high + timedelta(days=1),))  # files[: last] are the ones needed
        for _ in range(_MAX_EXTRA_FILES):
            while self._next < last:
                self._read(files[self._next][1], end + _LOOKAHEAD)
                self._next += 1
            done = self._serve(start, end)
            if not (0 < self._first < last and self._may_have_begun_earlier(done)):
                break
            self._start_pass(self._first - 1)  # the earliest session may have begun in an earlier file
        self._served_until = end
        self._flush_stats()
        sessions = [run.session() for run in done]
        sessions.sort(key=lambda s: (s.completed_at, s.conversation_id))
        return sessions

    def _may_have_begun_earlier(self, done: list[_Run]) -> bool:
        """Whether a run may have had lines in the file before the first one read."""
        assert self._files is not None
        covered = _midnight(self._files[self._first][0]) + _WIDEST_OFFSET_WEST.total_seconds()
        return any(run.first < covered + _GAP for run in done)

    def _serve(self, start: float, end: float) -> list[_Run]:
        """Take out the runs complete in ``[start, end)``; drop those complete before it."""
        done: list[_Run] = []
        keep: list[_Run] = []
        for run in self._closed:
            completed = run.last + _GAP
            if completed >= end:
                keep.append(run)
            elif completed >= start:
                done.append(run)
        self._closed = keep
        # Every file that can hold a line before ``end`` has been read, so a run
        # whose completion is before ``end`` can get no further line.
        for conversation_id, run in list(self._runs.items()):
            completed = run.last + _GAP
            if completed < end:
                del self._runs[conversation_id]
                if completed >= start:
                    done.append(run)
        return done

    def _flush_stats(self) -> None:
        from voicemode_otel.logs import records as log_records

        versions = self._pass.schema_versions
        for value, count in self._versions.items():
            key = value if isinstance(value, str) else log_records.version_key(value)
            versions[key] = versions.get(key, 0) + count
        self.stats.add(self._pass)
        self._pass = ReadStats()
        self._versions = {}

    def _read(self, path: Path, horizon: float) -> None:
        """Add one file's lines (those before ``horizon``) to the open runs.

        The hottest code in the package: it runs once per log line. A block of
        lines is decoded by msgspec in one call; a block it refuses (or one with
        a blank line, a CR, or two records on one line) is decoded line by line.
        """
        from voicemode_otel.logs import records as log_records

        stats = self._pass
        log = log_files.open_log(path)
        if log is None:
            stats.skipped_files += 1
            return
        self.files_opened += 1
        stats.files += 1
        runs, closed, versions = self._runs, self._closed, self._versions
        decode_lines, refused, record_type = log_records.decode_lines, log_records.REFUSED, log_records.Record
        lines = unknown = missing = 0
        same, same_version = 0, object()  # lines after the first of a run of one version (already counted)
        gap = _GAP
        provider: object
        url: object
        transport: object
        with log:
            for block in log.blocks():
                items: list[log_records.Record] | list[log_records.Record | log_records.Line] | None = None
                if b"\r" not in block:
                    count = block.count(b"\n") + (block[-1] != 0x0A)
                    try:
                        items = decode_lines(block)
                    except refused:
                        items = None
                    if items is not None and len(items) != count:
                        items = None  # a blank line, or two records on one line: line by line
                if items is None:
                    items, count = self._decode_each(block, stats)
                lines += count
                for item in items:
                    if isinstance(item, record_type):
                        record = item
                        if record.version is same_version:  # as the line before: count it later
                            same += 1
                        else:
                            if same:
                                key = same_version if same_version in versions else _OTHER  # kept bounded
                                versions[key] += same
                            same_version, same = record.version, 0
                            self._count_version(same_version)
                        conversation_id, kind = record.conversation_id, record.type
                        try:
                            at = record.timestamp.timestamp()  # naive: local time, as VoiceMode meant
                        except (ValueError, OverflowError, OSError):
                            missing += 1
                            continue
                        if not conversation_id:
                            missing += 1
                            continue
                        meta = record.metadata
                        if meta is None:
                            provider = url = transport = None
                        else:
                            provider, url, transport = meta.provider, meta.provider_url, meta.transport
                    else:
                        at, conversation_id, kind, provider, url, transport = item
                    if kind != "tts" and kind != "stt":
                        unknown += 1
                        continue
                    if at >= horizon:
                        continue
                    run = runs.get(conversation_id)
                    if run is None or at - run.last >= gap:
                        if run is not None:
                            closed.append(run)
                        run = runs[conversation_id] = _Run(conversation_id, at, at)
                    # _Run.add, inlined: this loop runs once per line.
                    if at < run.first:
                        run.first = at
                    elif at > run.last:
                        run.last = at
                    if not (kind == "stt" and run.last_kind == "tts"):  # a tts and the stt answering it: one
                        run.exchanges += 1
                    run.last_kind = kind
                    if transport:
                        run.transport = transport
                    (run.tts if kind == "tts" else run.stt).add((provider, url))
        if same:
            key = same_version if same_version in versions else _OTHER  # kept bounded
            versions[key] += same
        stats.lines += lines + log.overlong
        stats.unknown_type += unknown
        stats.missing_fields += missing
        stats.corrupt += log.overlong

    def _decode_each(
        self, block: bytes, stats: ReadStats
    ) -> tuple[list[log_records.Record | log_records.Line], int]:
        """A block's lines one by one: msgspec where it can, else the full decode (counting what it skips)."""
        from voicemode_otel.logs import records as log_records

        decode, refused, full_decode = log_records.decode, log_records.REFUSED, log_records.full_decode
        items: list[log_records.Record | log_records.Line] = []
        lines = log_files.split_lines(block)
        for raw in lines:
            try:
                items.append(decode(raw))
                continue
            except refused:
                pass
            found = log_records.LineCounts()
            line = full_decode(raw, found)
            if found.version is not None:
                self._count_version(found.version)
            if line is not None:
                items.append(line)
            else:
                stats.corrupt += found.corrupt
                stats.missing_fields += found.missing_fields
        return items, len(lines)

    def _count_version(self, version: object) -> None:
        """A version not counted yet in this pass (bounded: hostile logs cannot grow the table)."""
        versions = self._versions
        if version in versions:
            versions[version] += 1
        elif len(versions) < _MAX_VERSION_KEYS:
            versions[version] = 1
        else:
            versions[_OTHER] = versions.get(_OTHER, 0) + 1


def completed_sessions(
    conversations_dir: Path, period: Period, stats: ReadStats | None = None
) -> list[Session]:
    """The sessions whose completion time falls in ``period``, each exactly once.

    Reads the files whose local dates can hold those sessions' lines. A file
    named for local date D holds only lines at or after D 00:00 UTC-12, so
    every line from ``D 12:00 UTC`` on is guaranteed to be in the files read
    from D onwards; a session that may have begun before that (one spanning
    more than about half a day) makes the pass repeat with the previous file.
    For several consecutive periods, one :class:`SessionReader` reads less.
    """
    return SessionReader(conversations_dir, stats).completed_in(period)
