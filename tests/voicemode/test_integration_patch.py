"""docs/voicemode-integration.patch: what a VoiceMode maintainer merges, applied to the real 9.0.1 files.

test_server_mcp.py runs the patched server end to end; here: the patch is the one
the docs show, it matches VoiceMode's source release as well as the installed
files, its dependency line resolves to this package, the first-run question works
in VoiceMode's own click CLI on a real terminal (and never without one), and the
config.py hunks do what their comments say.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import tarfile
import textwrap
import time
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from vmhost import (
    PATCH,
    ROOT,
    VOICEMODE_VERSION,
    console_script,
    host_environ,
    installed_package,
    patched_copy,
    sdist,
)

from voicemode_otel import cli
from voicemode_otel.consent import decision as consent
from voicemode_otel.store import Paths

PATCHED_FILES = re.findall(r"^\+\+\+ b/(\S+)", PATCH.read_text(encoding="utf-8"), flags=re.MULTILINE)


@pytest.fixture(scope="module")
def patched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return patched_copy(tmp_path_factory.mktemp("patched"))


def test_the_docs_show_exactly_the_tested_patch() -> None:
    """The diff in docs/voicemode-integration.md is the patch file, byte for byte."""
    doc = (ROOT / "docs" / "voicemode-integration.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```diff\n(.*?)^```$", doc, flags=re.MULTILINE | re.DOTALL)
    assert blocks == [PATCH.read_text(encoding="utf-8")]
    assert PATCHED_FILES == [
        "pyproject.toml",
        "voice_mode/cli.py",
        "voice_mode/config.py",
        "voice_mode/server.py",
    ]


def test_the_patch_fits_voicemodes_source_release_too() -> None:
    """The installed files the patch touches are those of the 9.0.1 sdist (the repository's layout)."""
    with tarfile.open(sdist()) as archive:
        for name in PATCHED_FILES:
            if name.startswith("voice_mode/"):
                member = archive.extractfile(f"voice_mode-{VOICEMODE_VERSION}/{name}")
                assert member is not None
                assert member.read() == (installed_package().parent / name).read_bytes(), name


def test_the_dependency_line_resolves_to_this_package_and_its_mcp_extra(patched: Path) -> None:
    """VoiceMode's new requirement is met by the installed voicemode-otel, with the [mcp] extra."""
    text = (patched / "pyproject.toml").read_text(encoding="utf-8")
    # The [project] dependencies array: one quoted requirement per line (Python 3.10 has no tomllib).
    block = re.search(r"^dependencies = \[\n(.*?)^\]", text, flags=re.MULTILINE | re.DOTALL)
    assert block is not None
    requirements = [Requirement(m) for m in re.findall(r'^\s*"([^"]+)",', block[1], flags=re.MULTILINE)]
    [ours] = [r for r in requirements if r.name == "voicemode-otel"]
    assert ours.extras == {"mcp"}
    assert metadata.version("voicemode-otel") in ours.specifier
    [fastmcp] = [r for r in requirements if r.name == "fastmcp"]
    assert metadata.version("fastmcp") in fastmcp.specifier
    assert len(requirements) == 20  # every dependency line parsed, none skipped


def _run_on_a_terminal(command: list[str], environ: dict[str, str], cwd: Path, keys: bytes | None) -> str:
    """Run ``command`` on a real pseudo-terminal; answer the first-run question with ``keys``."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(cwd)
        os.execve(command[0], command, {**environ, "TERM": "dumb"})
    output, sent = b"", False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not sent and keys is not None and cli.PROMPT.strip().encode() in output:
            sent = True
            os.write(fd, keys)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    return text


@pytest.mark.parametrize(("keys", "stored"), [(b"y\r", "true"), (b"\r", "false")], ids=["yes", "enter"])
def test_voicemodes_cli_asks_once_on_first_interactive_use(
    patched: Path, tmp_path: Path, keys: bytes, stored: str
) -> None:
    """`voicemode config list` on a terminal asks first (Enter = no), stores the answer, then never again."""
    home = tmp_path / "host"
    home.mkdir()
    environ = host_environ(home, PYTHONPATH=str(patched))
    paths = Paths(home / ".voicemode")
    command = [console_script("voicemode"), "config", "list"]
    first = _run_on_a_terminal(command, environ, home, keys)
    assert cli.PROMPT.strip() in first
    assert "Available Configuration Keys" in first  # and then VoiceMode's command ran as usual
    assert f"\nVOICEMODE_TELEMETRY={stored}\n" in paths.env_file.read_text()
    assert paths.telemetry_id.exists() == (stored == "true")
    again = _run_on_a_terminal(command, environ, home, b"y\r")
    assert cli.PROMPT.strip() not in again


def test_voicemodes_cli_never_asks_without_a_terminal_nor_in_server_mode(
    patched: Path, tmp_path: Path
) -> None:
    """Piped (as scripts and MCP hosts run it): no question, nothing written, the command runs as before."""
    home = tmp_path / "host"
    home.mkdir()
    environ = host_environ(home, PYTHONPATH=str(patched))
    done = subprocess.run(
        [console_script("voicemode"), "config", "list"],
        env=environ,
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert cli.PROMPT.strip() not in done.stdout + done.stderr
    assert "VOICEMODE_TELEMETRY=" not in (home / ".voicemode" / "voicemode.env").read_text().replace(
        "# VOICEMODE_TELEMETRY=", ""
    )


CONFIG_PROBE = textwrap.dedent(
    """
    import json, os
    import voice_mode.config
    print(json.dumps({k: os.environ.get(k) for k in ("VOICEMODE_TELEMETRY", "VOICEMODE_VOICES")}))
    """
)


def test_the_template_documents_the_setting_and_leaves_it_unset(patched: Path, tmp_path: Path) -> None:
    """A first start writes voicemode.env with a commented VOICEMODE_TELEMETRY line: still not asked."""
    home = tmp_path / "host"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CONFIG_PROBE],
        env=host_environ(home, PYTHONPATH=str(patched)),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    template = (home / ".voicemode" / "voicemode.env").read_text()
    assert "\n# VOICEMODE_TELEMETRY=\n" in template
    assert "voicemode-otel preview" in template and "DO_NOT_TRACK=1" in template
    decision = consent.decide(Paths(home / ".voicemode"), {})
    assert decision.state is consent.State.NOT_ASKED and decision.preference is None


def test_voicemodes_loader_leaves_the_preference_to_the_file(patched: Path, tmp_path: Path) -> None:
    """Patched, the loader exports other keys but never VOICEMODE_TELEMETRY: a project's cannot opt in."""
    home = tmp_path / "host"
    project = home / "code" / "app"
    project.mkdir(parents=True)
    (home / ".voicemode").mkdir()
    (home / ".voicemode" / "voicemode.env").write_text(
        "VOICEMODE_VOICES=af_sky\n"
    )  # the user was never asked
    (project / ".voicemode.env").write_text(
        "VOICEMODE_TELEMETRY=true\n"
    )  # a cloned repo must not opt anyone in
    results = {}
    for name, tree in (("installed", None), ("patched", patched)):
        extra = {"PYTHONPATH": str(tree)} if tree else {}
        done = subprocess.run(
            [sys.executable, "-c", CONFIG_PROBE],
            env=host_environ(home, **extra),
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        results[name] = done.stdout.strip().splitlines()[-1]
    assert results["installed"] == '{"VOICEMODE_TELEMETRY": "true", "VOICEMODE_VOICES": "af_sky"}'
    assert results["patched"] == '{"VOICEMODE_TELEMETRY": null, "VOICEMODE_VOICES": "af_sky"}'
    # Unpatched, that environment would be the user's "yes"; patched, the user's own file decides: not asked.
    assert consent.decide(Paths(home / ".voicemode"), {"VOICEMODE_TELEMETRY": "true"}).enabled
    assert consent.decide(Paths(home / ".voicemode"), {}).state is consent.State.NOT_ASKED
