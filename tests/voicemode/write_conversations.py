"""One VoiceMode server run, as far as its conversation log goes: the real ConversationLogger.

Run by the tests under libfaketime (vmhost.FrozenClock): ``python write_conversations.py
EVENTS.json``. EVENTS is a list of ``{"at": <epoch microseconds>, "kind": "tts"|"stt",
"text": ..., "log": {<log_tts/log_stt keyword arguments>}}``; the clock is set to the
first event's time before the logger starts (VoiceMode makes its conversation ID
then) and to each event's time before it is logged, exactly as converse.py calls the
logger. The working directory is the project VoiceMode was started in.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def set_clock(at: int) -> None:
    Path(os.environ["FAKETIME_TIMESTAMP_FILE"]).write_text(
        f"{at // 1_000_000}.{at % 1_000_000:06d}500\n", encoding="ascii"
    )


def main() -> None:
    events = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    set_clock(events[0]["at"])
    from voice_mode.conversation_logger import ConversationLogger

    logger = ConversationLogger()
    for event in events:
        set_clock(event["at"])
        log = logger.log_tts if event["kind"] == "tts" else logger.log_stt
        log(event["text"], **event["log"])
    print(json.dumps({"schema_version": ConversationLogger.SCHEMA_VERSION}))


if __name__ == "__main__":
    main()
