"""A week of VoiceMode use, as a scenario: what each server run logs, and when.

Each conversation is a list of utterances with their exact times (integer epoch
microseconds) and the keyword arguments VoiceMode's converse passes to
``log_tts`` / ``log_stt``. What the report must say about it — exchanges,
duration, transport, provider kinds — is worked out here from the scenario alone
(the contract's documented rules), never by asking voicemode_otel.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from vmhost import SYDNEY, at_micros, micros

SECOND = 1_000_000
MINUTE = 60 * SECOND
GAP = 5 * MINUTE  # VoiceMode's CONVERSATION_GAP_MINUTES


@dataclass(frozen=True)
class Provider:
    """One speech service as VoiceMode logs it, and the kind the report must name it as."""

    reported: str
    log: dict[str, Any]


SILENCE = {"enabled": True, "vad_aggressiveness": 2, "silence_threshold_ms": 1000}
KOKORO = Provider(
    "kokoro",
    {
        "model": "tts-1",
        "voice": "af_sky",
        "voice_requested": "af_sky",
        "voice_resolved": "af_sky",
        "voice_via": "leaf",
        "provider": "kokoro",
        "provider_url": "http://127.0.0.1:8880/v1",
        "provider_type": "kokoro",
        "is_fallback": False,
        "audio_format": "pcm",
    },
)
OPENAI_TTS = Provider(
    "openai",
    {
        "model": "gpt-4o-mini-tts",
        "voice": "nova",
        "voice_requested": "nova",
        "voice_resolved": "nova",
        "voice_via": "cast-default:nova",
        "provider": "openai",
        "provider_url": "https://api.openai.com/v1",
        "provider_type": "openai",
        "is_fallback": False,
        "audio_format": "pcm",
    },
)
# Kokoro down: VoiceMode falls back to OpenAI and maps the voice (voice != voice_resolved).
OPENAI_FALLBACK = Provider(
    "openai",
    {
        **OPENAI_TTS.log,
        "voice_requested": "af_sky",
        "voice_resolved": "af_sky",
        "voice_via": "leaf",
        "is_fallback": True,
        "fallback_reason": "http://127.0.0.1:8880/v1: connection refused",
    },
)
LOCAL_TTS = Provider(  # some other OpenAI-compatible server on this machine: VoiceMode's "local" type
    "local",
    {"model": "tts-1", "voice": "alloy", "provider": "local", "provider_url": "http://127.0.0.1:8000/v1"},
)
WHISPER = Provider(
    "whisper-local",
    {
        "model": "whisper-1",
        "provider": "whisper",
        "provider_url": "http://127.0.0.1:2022/v1",
        "provider_type": "whisper",
        "audio_format": "mp3",
        "silence_detection": SILENCE,
    },
)
OPENAI_STT = Provider(
    "openai",
    {
        "model": "whisper-1",
        "provider": "openai",
        "provider_url": "https://api.openai.com/v1",
        "provider_type": "openai",
        "audio_format": "mp3",
        "silence_detection": SILENCE,
    },
)
SURVEY_STT = Provider("whisper-local", {"provider": "whisper"})  # converse's survey path logs only this

SAYINGS = (
    "Read me the failing test names.",
    "Let's rename that module and rerun the suite.",
    "What did the last deploy change?",
    "Yes, commit it.",
)


@dataclass(frozen=True)
class Utterance:
    at: int
    kind: str
    provider: Provider
    transport: str | None
    text: str

    def event(self) -> dict[str, Any]:
        """What write_conversations.py passes to the logger."""
        log = dict(self.provider.log)
        if self.transport is not None:
            log["transport"] = self.transport
        if self.kind == "tts":
            log["timing"] = "ttfa 0.6s, gen 1.1s, play 3.2s"
            log["time_to_first_audio"] = 0.6
        else:
            log["timing"] = "record 4.1s, stt 0.8s"
            log["transcription_time"] = 0.8
        return {"at": self.at, "kind": self.kind, "text": self.text, "log": log}


@dataclass
class Conversation:
    """What VoiceMode will log as one conversation (one ID), and the report's view of it."""

    name: str
    utterances: list[Utterance] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.utterances[0].at

    @property
    def last(self) -> int:
        return self.utterances[-1].at

    @property
    def exchanges(self) -> int:
        """Spoken exchanges: every line, but a tts answered by the next line's stt is one with it."""
        count, previous = 0, ""
        for utterance in self.utterances:
            if not (utterance.kind == "stt" and previous == "tts"):
                count += 1
            previous = utterance.kind
        return count

    @property
    def duration_seconds(self) -> float:
        return (self.last - self.first) / SECOND

    @property
    def transport(self) -> str:
        """The last transport logged (survey turns log it on the answer only), else unknown."""
        logged = [u.transport for u in self.utterances if u.transport]
        return logged[-1] if logged else "unknown"

    def providers(self, role: str) -> set[str]:
        return {u.provider.reported for u in self.utterances if u.kind == role}

    @property
    def completed(self) -> int:
        return self.last + GAP


@dataclass
class Run:
    """One VoiceMode server process: started in ``project``, logging these conversations."""

    project: str
    conversations: list[Conversation]

    @property
    def start(self) -> int:
        return self.conversations[0].first

    def events(self) -> list[dict[str, Any]]:
        return [u.event() for c in self.conversations for u in c.utterances]


class Builder:
    """Writes conversations forward in time, never overlapping (one voice at a time)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible sample times, never secrets

    def _jitter(self) -> int:
        return self.rng.randrange(0, SECOND)  # real timestamps carry microseconds

    def talk(
        self,
        name: str,
        start: int,
        rounds: int,
        every: float,
        *,
        tts: Provider = KOKORO,
        stt: Provider = WHISPER,
        transport: str | None = "local",
        tts_logs_transport: bool = True,
        answered: bool = True,
        unheard: frozenset[int] = frozenset(),
        fallback_round: int | None = None,
        closing_tts: bool = False,
    ) -> Conversation:
        """``rounds`` speak(-and-listen) rounds ``every`` seconds from ``start``."""
        conversation = Conversation(name)
        said_transport = transport if tts_logs_transport else None
        for index in range(rounds):
            at = start + int(index * every * SECOND) + self._jitter()
            provider = OPENAI_FALLBACK if index == fallback_round else tts
            text = SAYINGS[index % len(SAYINGS)]
            conversation.utterances.append(Utterance(at, "tts", provider, said_transport, text))
            if answered:
                heard = "[no speech detected]" if index in unheard else text
                answer_at = at + 7 * SECOND + self._jitter()
                conversation.utterances.append(Utterance(answer_at, "stt", stt, transport, heard))
        if closing_tts:
            at = conversation.last + 20 * SECOND + self._jitter()
            conversation.utterances.append(Utterance(at, "tts", tts, said_transport, "Talk to you later."))
        return conversation


def local(day: datetime, hour: int, minute: int, second: int = 0) -> int:
    """Sydney wall-clock time on ``day``'s local date, as epoch microseconds."""
    return micros(datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SYDNEY))


@dataclass
class Week:
    """The whole scenario: the opt-in, the period the first report covers, and every run."""

    opted_in: int
    period_start: int
    period_end: int
    runs: list[Run]

    @property
    def conversations(self) -> list[Conversation]:
        return [c for run in self.runs for c in run.conversations]

    def reported(self) -> list[Conversation]:
        """Those the first report counts: begun after the opt-in, complete within the period."""
        return [
            c
            for c in self.conversations
            if c.first >= self.opted_in and self.period_start <= c.completed < self.period_end
        ]


def week(now: datetime) -> Week:
    """A week ending at the last whole UTC hour before ``now``, lived in Sydney.

    The opt-in is 7 days before that hour's end (plus 20 minutes), so the first
    report covers the 7 days the client allows, minus the opt-in's partial hour.
    """
    end = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    opted_in = end - timedelta(days=7) + timedelta(minutes=20)
    period_start = opted_in.replace(minute=0) + timedelta(hours=1)
    build = Builder(seed=14)
    runs: list[Run] = []
    t_in, t_end = micros(opted_in), micros(end)

    # Just before the opt-in: one conversation long done, one still going when the user opts in.
    runs.append(
        Run(
            "code/website",
            [
                build.talk("done before opt-in", t_in - 150 * MINUTE, 4, 45),
                build.talk("straddles opt-in", t_in - 10 * MINUTE, 30, 100, tts=OPENAI_TTS, stt=OPENAI_STT),
            ],
        )
    )

    # Each Sydney day after the opt-in's: four sessions at realistic local times, each
    # day a fresh VoiceMode process (a new Claude Code session) in one of two projects.
    first_day = at_micros(t_in).astimezone(SYDNEY) + timedelta(days=1)
    days = [first_day + timedelta(days=n) for n in range(6)]
    daily = [
        # (name, rounds, seconds per round, options)
        ("kokoro+whisper, short", 3, 40, {}),
        ("openai both ways", 8, 70, {"tts": OPENAI_TTS, "stt": OPENAI_STT}),
        ("tts only (no reply wanted)", 2, 20, {"answered": False}),
        ("nobody heard", 4, 35, {"unheard": frozenset({1, 2, 3}), "closing_tts": True}),
        ("livekit", 14, 80, {"transport": "livekit"}),
        ("survey", 5, 30, {"stt": SURVEY_STT, "transport": "survey", "tts_logs_transport": False}),
        ("over an hour", 26, 150, {}),
        ("kokoro falls back to openai", 6, 50, {"fallback_round": 4}),
        ("half an hour", 12, 170, {"tts": LOCAL_TTS}),
        ("one line", 1, 0, {"answered": False}),
        ("twenty-one", 21, 45, {"stt": OPENAI_STT}),
        ("livekit chat", 5, 60, {"transport": "livekit", "tts": OPENAI_TTS}),
    ]
    slots = [(8, 40), (12, 15), (17, 30), (21, 5)]
    for number, day in enumerate(days):
        conversations = []
        for slot, (hour, minute) in enumerate(slots):
            name, rounds, every, options = daily[(number * len(slots) + slot) % len(daily)]
            start = local(day, hour, minute, build.rng.randrange(60))
            conversations.append(
                build.talk(f"{day:%a} {hour:02d}:{minute:02d} {name}", start, rounds, every, **options)
            )
        project = "code/website" if number % 2 else "code/api"
        if number == 2:
            # Late that night: a conversation across local midnight, in the same process
            # (VoiceMode keeps its ID when the date and the log file change).
            late = local(day, 23, 53, 10)
            conversations.append(build.talk("across midnight", late, 12, 75, closing_tts=True))
        if number == 3:
            # A pause of six minutes: VoiceMode starts a new conversation after five.
            resume = conversations[-1].last + 6 * MINUTE
            conversations.append(build.talk("after a six-minute pause", resume, 3, 40))
        runs.append(Run(project, conversations))
        if number == 4:
            # Straight after the evening session, VoiceMode started in another project
            # (within a minute): a new conversation, because the project changed.
            other = "code/website" if project == "code/api" else "code/api"
            runs.append(
                Run(other, [build.talk("other project", conversations[-1].last + 50 * SECOND, 2, 30)])
            )

    # Still talking when the period ends: complete only after it, so not in this report.
    runs.append(Run("code/api", [build.talk("ends after the period", t_end - 7 * MINUTE, 4, 70)]))
    return Week(t_in, micros(period_start), t_end, runs)
