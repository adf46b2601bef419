"""The real VoiceMode, for the tests in this folder: where it is installed, how to run it.

These tests run in ``.venv-voicemode`` (voice-mode from PyPI, built by ``make test``);
``tests/conftest.py`` keeps the main venv from collecting them. Child processes get a
minimal environment of their own: a temporary ``HOME`` (VoiceMode's config writes
``~/.voicemode`` on import) and nothing of the developer's settings.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
VOICEMODE_VERSION = "9.0.1"
SYDNEY = ZoneInfo("Australia/Sydney")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
PATCH = ROOT / "docs" / "voicemode-integration.patch"
WRITER = Path(__file__).with_name("write_conversations.py")


def installed_package() -> Path:
    """The installed ``voice_mode`` package directory (in this venv's site-packages)."""
    spec = importlib.util.find_spec("voice_mode")
    assert spec is not None and spec.submodule_search_locations, "voice-mode is not installed in this venv"
    return Path(next(iter(spec.submodule_search_locations)))


def sdist() -> Path:
    """VoiceMode's source distribution, fetched by scripts/voicemode_venv.sh next to this venv."""
    path = Path(sys.prefix) / "sdist" / f"voice_mode-{VOICEMODE_VERSION}.tar.gz"
    assert path.exists(), f"{path} is missing: run `make voicemode-venv`"
    return path


def libfaketime() -> Path:
    """Debian's libfaketime, which the Makefile installs with the other packages."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    assert found, "libfaketime is not installed (scripts/voicemode_venv.sh installs it)"
    return found[0]


def host_environ(home: Path, **extra: str) -> dict[str, str]:
    """What a VoiceMode process sees here: PATH, a private HOME, UTF-8; no VOICEMODE_* or OTEL_*."""
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    environ.update(extra)
    return environ


def micros(moment: datetime) -> int:
    """``moment`` as integer microseconds since the epoch (exact, unlike float seconds)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def at_micros(value: int) -> datetime:
    """The UTC datetime of integer epoch microseconds."""
    return EPOCH + timedelta(microseconds=value)


class FrozenClock:
    """libfaketime with a clock stopped at a time we choose, for any child process.

    The time lives in a file re-read on every clock call (``FAKETIME_NO_CACHE``), as
    epoch seconds (``FAKETIME_FMT=%s``) with the microseconds after the point and
    half a microsecond more, so that libfaketime's float parse never lands one
    microsecond short. Only the wall clock is faked: ``time.monotonic`` stays real.
    """

    def __init__(self, directory: Path) -> None:
        self.file = directory / "faketime"

    def set(self, value: int) -> None:
        """Stop the clock at ``value`` epoch microseconds."""
        self.file.write_text(f"{value // 1_000_000}.{value % 1_000_000:06d}500\n", encoding="ascii")

    def environ(self, zone: str) -> dict[str, str]:
        """The variables that put a child under this clock, in local time zone ``zone``."""
        return {
            "LD_PRELOAD": str(libfaketime()),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_FMT": "%s",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "TZ": zone,
        }

    def run(
        self, command: list[str], environ: dict[str, str], at: int, zone: str, cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` with the clock stopped at ``at``."""
        self.set(at)
        return subprocess.run(
            command,
            env={**environ, **self.environ(zone)},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def console_script(name: str) -> str:
    """A console script of this venv (``voicemode``, ``voicemode-otel``)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is not installed in {sys.prefix}"
    return str(path)


def patched_copy(destination: Path) -> Path:
    """The installed ``voice_mode`` package and VoiceMode's pyproject.toml, the integration patch applied.

    Copies the files this venv actually runs (its site-packages) plus the
    pyproject.toml of the same release's sdist (a wheel installs none), then
    applies docs/voicemode-integration.patch with ``patch --fuzz=0``, so a hunk
    that no longer matches exactly fails here. Put the result first on
    ``PYTHONPATH`` to run the patched VoiceMode.
    """
    import shutil
    import tarfile

    shutil.copytree(
        installed_package(), destination / "voice_mode", ignore=shutil.ignore_patterns("__pycache__")
    )
    with tarfile.open(sdist()) as archive:
        member = archive.extractfile(f"voice_mode-{VOICEMODE_VERSION}/pyproject.toml")
        assert member is not None
        (destination / "pyproject.toml").write_bytes(member.read())
    applied = subprocess.run(
        ["patch", "-p1", "--fuzz=0", "--batch", "--forward", "--no-backup-if-mismatch", "-i", str(PATCH)],
        cwd=destination,
        capture_output=True,
        text=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return destination
