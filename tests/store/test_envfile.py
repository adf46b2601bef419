"""Setting the preference rewrites only the VOICEMODE_TELEMETRY= line, atomically, mode 0600."""

from __future__ import annotations

import stat

import pytest

from voicemode_otel.store import Paths, envfile

ORIGINAL = (
    "# VoiceMode configuration\n"
    "VOICEMODE_TTS_VOICE=af_sky\r\n"
    "export OPENAI_API_KEY='sk-not-real'\n"
    "\n"
    "  export VOICEMODE_TELEMETRY=ask   # set by installer\n"
    "VOICEMODE_STT_BASE_URLS=http://127.0.0.1:2022/v1\n"
    "# VOICEMODE_TELEMETRY=true\n"
)


def _set(paths: Paths, value: str) -> str | None:
    return envfile.set_value(paths.env_file, "VOICEMODE_TELEMETRY", value, comment="telemetry").previous


def test_rewrites_only_the_assignment_keeping_every_other_byte(paths: Paths) -> None:
    """Other lines, CRLF endings, comments and the export prefix survive untouched."""
    paths.base.mkdir(parents=True)
    paths.env_file.write_bytes(ORIGINAL.encode())
    assert _set(paths, "true") == "ask"
    expected = ORIGINAL.replace(
        "  export VOICEMODE_TELEMETRY=ask   # set by installer\n", "  export VOICEMODE_TELEMETRY=true\n"
    )
    assert paths.env_file.read_bytes() == expected.encode()
    assert stat.S_IMODE(paths.env_file.stat().st_mode) == 0o600


def test_missing_file_is_created_private(paths: Paths) -> None:
    """No file (and no base directory) yet: both are created, the file 0600 with one setting."""
    assert _set(paths, "false") is None
    assert paths.env_file.read_text() == "# telemetry\nVOICEMODE_TELEMETRY=false\n"
    assert stat.S_IMODE(paths.env_file.stat().st_mode) == 0o600


def test_appends_when_absent_even_without_final_newline(paths: Paths) -> None:
    """A file without the key gains it at the end; a missing final newline is repaired."""
    paths.base.mkdir(parents=True)
    paths.env_file.write_text("VOICEMODE_TTS_VOICE=af_sky")
    _set(paths, "true")
    assert paths.env_file.read_text() == "VOICEMODE_TTS_VOICE=af_sky\n# telemetry\nVOICEMODE_TELEMETRY=true\n"


def test_duplicate_assignments_all_rewritten(paths: Paths) -> None:
    """Two active lines can never disagree after a change."""
    paths.base.mkdir(parents=True)
    paths.env_file.write_text("VOICEMODE_TELEMETRY=true\nX=1\nVOICEMODE_TELEMETRY=ask\n")
    _set(paths, "false")
    assert paths.env_file.read_text() == "VOICEMODE_TELEMETRY=false\nX=1\nVOICEMODE_TELEMETRY=false\n"


def test_unreadable_file_is_left_alone(paths: Paths) -> None:
    """If the file cannot be read, nothing is written (the user's other settings are not lost)."""
    paths.env_file.mkdir(parents=True)
    with pytest.raises(envfile.EnvFileError, match="left unchanged"):
        _set(paths, "true")
    assert paths.env_file.is_dir()


def test_symlinked_file_is_updated_through_the_link(paths: Paths) -> None:
    """A dotfile manager's symlink keeps pointing at the (updated) real file."""
    paths.base.mkdir(parents=True)
    real = paths.base / "dotfiles-voicemode.env"
    real.write_text("A=1\n")
    paths.env_file.symlink_to(real)
    _set(paths, "true")
    assert paths.env_file.is_symlink()
    assert real.read_text() == "A=1\n# telemetry\nVOICEMODE_TELEMETRY=true\n"


def test_no_temporary_files_left_behind(paths: Paths) -> None:
    """The atomic write cleans up after itself."""
    _set(paths, "true")
    _set(paths, "false")
    assert sorted(p.name for p in paths.base.iterdir()) == ["voicemode.env"]
