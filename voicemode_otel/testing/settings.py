"""A ``voicemode.env`` shaped like the one VoiceMode writes on first run.

VoiceMode 9 writes a ~400-line, 14 kB template of commented-out settings
(``voice_mode/config.py``, ``load_voicemode_env``): the file every host start reads
to learn whether the user chose. Tests and benchmarks of that start use this one.
"""

VOICEMODE_ENV_LINES = 400


def voicemode_env(telemetry: str | None = None) -> str:
    """The template: comments and commented-out settings, ending with the telemetry choice.

    Without ``telemetry`` the choice is a comment that names ``VOICEMODE_TELEMETRY``
    (the harder case for the reader than a file that never names it); with it, the
    line assigns that value.
    """
    lines = []
    for index in range(VOICEMODE_ENV_LINES // 4):
        lines += [
            f"# Setting {index}: what it does, its default and where it applies.",
            "# More explanation of the setting, as the template has for every one.",
            f"# VOICEMODE_SETTING_{index}=default",
            "",
        ]
    lines[-4:] = [
        "# Anonymous usage statistics (voicemode-otel): true, false, local or ask",
        "# VOICEMODE_TELEMETRY=" if telemetry is None else f"VOICEMODE_TELEMETRY={telemetry}",
    ]
    return "\n".join(lines) + "\n"
