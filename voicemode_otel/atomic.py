"""Crash-safe writes of small private files.

State, the ID and ``voicemode.env`` are replaced with write-to-temp, fsync and
rename so a crash or a second process never sees half a file, and are created
0600 because they belong to the user alone.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if missing; new directories are 0700."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)


def write_private(path: Path, data: bytes | str) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600.

    A symlink at ``path`` is followed, so a dotfile manager's link keeps
    pointing at the updated file instead of being replaced by a copy.
    """
    target = path.resolve() if path.is_symlink() else path
    ensure_private_dir(target.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(payload)
            tmp.flush()
            os.fsync(tmp.fileno())
        Path(tmp_name).chmod(PRIVATE_FILE_MODE)
        Path(tmp_name).replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp_name).unlink()
        raise


def remove(path: Path) -> bool:
    """Delete ``path`` if it exists; True when something was deleted."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
