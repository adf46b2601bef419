"""The anonymous ID: UUIDv4, 0600, created only on opt-in, validated on read, deleted on opt-out."""

from __future__ import annotations

import stat
import uuid

import pytest

from voicemode_otel.installation import identity
from voicemode_otel.store import Paths


def test_created_private_and_stable(paths: Paths) -> None:
    """ensure() makes one UUIDv4 (0600) and returns the same one afterwards."""
    first = identity.ensure(paths)
    assert uuid.UUID(first).version == 4
    assert stat.S_IMODE(paths.telemetry_id.stat().st_mode) == 0o600
    assert identity.ensure(paths) == first
    assert identity.read(paths) == first


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not-a-uuid\n",
        str(uuid.uuid1()),
        str(uuid.uuid4()).upper(),
        "\x00\xff",
        "{" + str(uuid.uuid4()) + "}",
    ],
)
def test_corrupt_file_is_replaced_not_fatal(paths: Paths, content: str) -> None:
    """A corrupt or foreign ID reads as None and ensure() replaces it with a fresh UUIDv4."""
    paths.base.mkdir(parents=True)
    paths.telemetry_id.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert identity.read(paths) is None
    new = identity.ensure(paths)
    assert identity.is_valid(new)
    assert paths.telemetry_id.read_text().strip() == new


def test_delete_and_new_id_is_unlinkable(paths: Paths) -> None:
    """Deleting removes the file; the next opt-in gets a different ID."""
    first = identity.ensure(paths)
    assert identity.delete(paths)
    assert not paths.telemetry_id.exists()
    assert not identity.delete(paths)
    assert identity.ensure(paths) != first


def test_read_never_creates(paths: Paths) -> None:
    """Reading the ID creates nothing."""
    assert identity.read(paths) is None
    assert not paths.base.exists()
