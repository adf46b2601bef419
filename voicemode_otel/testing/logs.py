"""Write VoiceMode conversation logs exactly the way VoiceMode does — for tests, demos, benchmarks.

Lines follow VoiceMode's ``ConversationLogger`` (schema v3): ``json.dumps``
with default separators, the same key order, ``None`` values dropped,
``datetime.now().astimezone().isoformat()`` timestamps, one file per *local*
date. Each helper also returns the :class:`~voicemode_otel.logs.sessions.Session`
it expects the reader to find, computed here independently of the reader.
Hosts can use this module to test their own integration.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from voicemode_otel.logs import Session, normalize

KOKORO = ("kokoro", "http://127.0.0.1:8880/v1")
OPENAI_TTS = ("openai", "https://api.openai.com/v1")
WHISPER_LOCAL = ("whisper", "http://127.0.0.1:2022/v1")
OPENAI_STT = ("openai", "https://api.openai.com/v1")
CUSTOM_STT = ("openai", "http://gpu-box.lan:9000/v1")  # an OpenAI-compatible server of the user's own
PACIFIC = timezone(timedelta(hours=-8), "PST")

_SAYINGS = (
    "Let's refactor the parser so it streams the file instead of loading it.",
    "Can you run the tests again and read me the failures?",
    "Sounds good, go ahead and commit that with a short message.",
    "What does the retry policy do when the server sends a 429?",
    "[no speech detected]",
)


def voicemode_line(
    conversation_id: str,
    kind: str,
    at: datetime,
    *,
    provider: tuple[str | None, str | None] = (None, None),
    transport: str | None = "local",
    text: str = "Hello there.",
    version: int = 3,
    project_path: str = "/home/user/code/project",
    extra_metadata: dict[str, Any] | None = None,
) -> str:
    """One log line as ``ConversationLogger.log_utterance`` writes it (without the newline)."""
    name, url = provider
    metadata: dict[str, Any] = {
        "voice_mode_version": "8.12.0",
        "model": "tts-1" if kind == "tts" else "whisper-1",
        "voice": "af_sky" if kind == "tts" else None,
        "provider": name,
        "provider_url": url,
        "provider_type": name,
        "audio_format": "pcm",
        "transport": transport,
        "timing": "ttfa 0.8s, gen 1.2s, play 3.1s" if kind == "tts" else "record 4.2s, stt 0.9s",
        "silence_detection": {"enabled": True, "vad_aggressiveness": 2, "silence_threshold_ms": 1000}
        if kind == "stt"
        else None,
        **(extra_metadata or {}),
    }
    entry: dict[str, Any] = {
        "version": version,
        "timestamp": at.isoformat(),
        "conversation_id": conversation_id,
        "type": kind,
        "text": text,
        "project_path": project_path,
        "audio_file": f"{at.strftime('%Y%m%d_%H%M%S')}_{kind}.wav",
        "duration_ms": 3450,
        "metadata": {k: v for k, v in metadata.items() if v is not None},
    }
    return json.dumps({k: v for k, v in entry.items() if v is not None})


def conversation_id_for(start: datetime, rng: random.Random) -> str:
    """VoiceMode's ``conv_YYYYmmdd_HHMMSS_xxxxxx`` (local start time + 6 random characters)."""
    suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    return f"conv_{start.strftime('%Y%m%d_%H%M%S')}_{suffix}"


@dataclass
class ConversationLogWriter:
    """Appends lines to ``<conversations_dir>/exchanges_<local date>.jsonl`` like VoiceMode."""

    conversations_dir: Path
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def write(self, line: str, at: datetime) -> None:
        """Append one line to the file of ``at``'s local date."""
        self.conversations_dir.mkdir(parents=True, exist_ok=True)
        target = self.conversations_dir / f"exchanges_{at.date().isoformat()}.jsonl"
        with target.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def session(
        self,
        start: datetime,
        rounds: int,
        *,
        round_seconds: float = 40.0,
        tts: tuple[str | None, str | None] = KOKORO,
        stt: tuple[str | None, str | None] = WHISPER_LOCAL,
        fallback_tts: tuple[str | None, str | None] | None = None,
        transport: str | None = "local",
        trailing_tts: bool = False,
        conversation_id: str | None = None,
    ) -> Session:
        """Write ``rounds`` speak-and-listen rounds starting at ``start`` (tz-aware, local time).

        Each round is a tts line and, 8 seconds later, the stt line answering it.
        ``fallback_tts`` switches the last round's tts provider (a fallback);
        ``trailing_tts`` adds a final lone tts (a goodbye). Returns the session
        the reader should report.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware, as VoiceMode's timestamps are")
        conversation = conversation_id or conversation_id_for(start, self.rng)
        moments: list[datetime] = []
        tts_used, stt_used = set(), set()
        at = start
        for index in range(rounds):
            provider = fallback_tts if fallback_tts and index == rounds - 1 else tts
            say = self.rng.choice(_SAYINGS)
            self.write(
                voicemode_line(conversation, "tts", at, provider=provider, transport=transport, text=say), at
            )
            tts_used.add(normalize.provider_name(*provider))
            heard = at + timedelta(seconds=8)
            self.write(
                voicemode_line(conversation, "stt", heard, provider=stt, transport=transport, text=say), heard
            )
            stt_used.add(normalize.provider_name(*stt))
            moments += [at, heard]
            at = at + timedelta(seconds=round_seconds)
        exchanges = rounds
        if trailing_tts:
            self.write(voicemode_line(conversation, "tts", at, provider=tts, transport=transport), at)
            tts_used.add(normalize.provider_name(*tts))
            moments.append(at)
            exchanges += 1
        return Session(
            conversation_id=conversation,
            first=min(moments).astimezone(timezone.utc),
            last=max(moments).astimezone(timezone.utc),
            exchanges=exchanges,
            transport=normalize.transport(transport),
            tts_providers=frozenset(tts_used),
            stt_providers=frozenset(stt_used),
        )


def sample_week(
    conversations_dir: Path, end: datetime, *, seed: int = 7, zone: tzinfo = PACIFIC, days: int = 7
) -> list[Session]:
    """A realistic week of use ending before ``end``: several sessions a day, mixed setups.

    Includes a session that spans local midnight (and so two files), a TTS
    fallback, LiveKit and survey-mode sessions and a custom STT server
    (reported as ``other``).
    """
    rng = random.Random(seed)
    writer = ConversationLogWriter(conversations_dir, rng)
    sessions: list[Session] = []
    first_day = (end.astimezone(zone) - timedelta(days=days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    setups = [  # (tts, stt, transport)
        (KOKORO, WHISPER_LOCAL, "local"),
        (OPENAI_TTS, OPENAI_STT, "local"),
        (KOKORO, WHISPER_LOCAL, "livekit"),
        (KOKORO, CUSTOM_STT, "local"),
    ]
    for day in range(days):
        base = first_day + timedelta(days=day)
        cursor = base + timedelta(hours=8)
        for _ in range(rng.randint(3, 6)):
            # Sessions never overlap (one VoiceMode at a time), so lines stay in time order.
            start = cursor + timedelta(
                minutes=rng.randint(6, 150), seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999_999)
            )
            tts, stt, transport = rng.choice(setups)
            if rng.random() < 0.08:  # now and then VoiceMode's survey mode (a series of spoken questions)
                transport = "survey"
            session = writer.session(
                start,
                rng.choice([1, 2, 3, 4, 6, 8, 12, 15, 24]),
                round_seconds=rng.choice([20.0, 45.0, 90.0, 150.0]),
                fallback_tts=OPENAI_TTS if rng.random() < 0.1 else None,
                trailing_tts=rng.random() < 0.3,
                tts=tts,
                stt=stt,
                transport=transport,
            )
            sessions.append(session)
            cursor = session.last.astimezone(zone)
        if day == days // 2:  # a late session across local midnight
            start = base + timedelta(hours=23, minutes=52)
            sessions.append(writer.session(start, 10, round_seconds=100.0))
    return [s for s in sessions if s.completed_at <= end]
