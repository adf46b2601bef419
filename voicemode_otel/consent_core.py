"""The consent rules, by the name the rest of the package uses for them.

They live in the package's ``__init__`` (read them there): VoiceMode's
start-up loads that one module, and a second one would cost every host
start more than the rules themselves. Everything here is the same object.
"""

from voicemode_otel import (
    ASK,
    BASE_DIR_VARIABLE,
    DO_NOT_TRACK,
    ENV_FILE_NAME,
    LOCAL,
    LOCAL_VALUES,
    MAX_ENV_FILE_BYTES,
    NO,
    NOT_ASKED,
    OFF,
    ON,
    OPT_OUT_MARKER_NAME,
    PAUSED,
    PREFERENCE_VARIABLE,
    SDK_DISABLED,
    STATE_DIR_NAME,
    YES,
    assignment,
    base_dir,
    decide,
    forget_cached,
    opt_out_marker,
    parse,
    read_env_file,
    split_lines,
    unquote,
)

__all__ = [
    "ASK",
    "BASE_DIR_VARIABLE",
    "DO_NOT_TRACK",
    "ENV_FILE_NAME",
    "LOCAL",
    "LOCAL_VALUES",
    "MAX_ENV_FILE_BYTES",
    "NO",
    "NOT_ASKED",
    "OFF",
    "ON",
    "OPT_OUT_MARKER_NAME",
    "PAUSED",
    "PREFERENCE_VARIABLE",
    "SDK_DISABLED",
    "STATE_DIR_NAME",
    "YES",
    "assignment",
    "base_dir",
    "decide",
    "forget_cached",
    "opt_out_marker",
    "parse",
    "read_env_file",
    "split_lines",
    "unquote",
]
