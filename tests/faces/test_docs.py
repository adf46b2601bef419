"""Documentation generated from the code is current (privacy.md, the collector configs)."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    platform.system() != "Linux", reason="the committed example was captured on Linux (os.type)"
)
def test_privacy_doc_is_current() -> None:
    """docs/privacy.md equals what scripts/make_docs.py generates from the contract and a captured report."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_privacy_doc_lists_every_contract_key() -> None:
    """Every metric and attribute of the contract is explained in the privacy document."""
    from voicemode_otel.contract import spec as contract

    text = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    spec = contract.load()
    for key in [*spec.metrics, *spec.point_attributes, *spec.resource_attributes]:
        assert f"`{key}`" in text


DOCUMENTS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *ROOT.glob("*/README.md")],
)
_COMMAND = __import__("re").compile(r"`((?:voicemode-otel|make)(?: [^`]*)?)`")


def _documented(prefix: str) -> list[str]:
    """Every `prefix …` command written in backticks in the docs, options expanded one at a time."""
    import re

    found: set[str] = set()
    for document in DOCUMENTS:
        for raw in _COMMAND.findall(document.read_text(encoding="utf-8")):
            if not raw.startswith(prefix):
                continue
            text = raw.replace("\\|", "|").replace("COMMAND", "status").replace(" N]", " 1]")
            groups = re.findall(r"\[([^\]]+)\]", text)
            base = re.sub(r"\s*\[[^\]]+\]", "", text).strip()
            found.add(base)
            for group in groups:
                for option in group.split("|"):
                    found.add(f"{base} {option.strip()}")
    return sorted(found)


@pytest.mark.parametrize("command", _documented("voicemode-otel"))
def test_every_documented_cli_command_runs(command: str, tmp_path: Path) -> None:
    """Each `voicemode-otel …` line in README.md and docs/ runs as written (no usage error, no traceback)."""
    import os
    import shlex

    script = str(Path(sys.executable).parent / "voicemode-otel")
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VOICEMODE_BASE_DIR": str(tmp_path / "voicemode"),
        "VOICEMODE_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/v1/metrics",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2000",
    }
    result = subprocess.run(
        [script, *shlex.split(command)[1:]],
        env=environ,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )
    assert "usage:" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 3), result
    if "--json" in command and "log" not in command:
        json.loads(result.stdout)


@pytest.mark.parametrize("command", _documented("make"))
def test_every_documented_make_target_exists(command: str) -> None:
    """Each `make …` in the docs names a real Makefile target (checked with `make -n`, nothing run)."""
    import shlex

    result = subprocess.run(
        ["make", "-n", *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def _json_block(section: str) -> dict[str, object]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    after = text.split(f"## `{section}`", 1)[1]
    block = after.split("```json\n", 1)[1].split("```", 1)[0]
    parsed: dict[str, object] = json.loads(block)
    return parsed


@pytest.mark.parametrize(
    ("section", "command"),
    [
        ("status --json", "status"),
        ("send --json", "send"),
        ("enable --json", "disable"),
        ("forget --json", "forget"),
    ],
)
def test_cli_doc_shows_the_real_json_keys(section: str, command: str, tmp_path: Path) -> None:
    """docs/cli.md's examples have exactly the keys the commands print."""
    import os

    script = str(Path(sys.executable).parent / "voicemode-otel")
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VOICEMODE_BASE_DIR": str(tmp_path / "v")}
    printed = json.loads(
        subprocess.run(
            [script, command, "--json"], env=environ, capture_output=True, text=True, check=False
        ).stdout
    )
    assert set(_json_block(section)) == set(printed)


CONFIGURATION = ROOT / "docs" / "configuration.md"


def _console_examples() -> list[tuple[str, list[str]]]:
    """``(command line, the output lines shown after it)`` of every console block in configuration.md."""
    import re

    examples: list[tuple[str, list[str]]] = []
    text = CONFIGURATION.read_text(encoding="utf-8")
    for block in re.findall(r"```console\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            else:
                examples[-1][1].append(line)
    return examples


@pytest.mark.parametrize(
    ("command", "shown"), _console_examples(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_configuration_examples_print_what_the_doc_shows(
    command: str, shown: list[str], tmp_path: Path
) -> None:
    """Each example in docs/configuration.md runs as written, and prints the lines it shows, in that order."""
    import os
    import shlex

    words = shlex.split(command)
    assignments = [word for word in words if "=" in word.split(" ")[0] and word[0].isupper()]
    arguments = words[len(assignments) :]
    assert arguments[0] == "voicemode-otel"
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VOICEMODE_BASE_DIR": str(tmp_path / "voicemode"),
        **dict(word.split("=", 1) for word in assignments),
    }
    script = str(Path(sys.executable).parent / "voicemode-otel")
    result = subprocess.run(
        [script, *arguments[1:]], env=environ, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    positions = []
    for line in shown:
        assert line in printed, f"{line!r} not in:\n{result.stdout}"
        positions.append(printed.index(line))
    assert positions == sorted(positions)


def _variables_read_by_the_package() -> set[str]:
    """Every environment variable the package's source names, the OTLP setting families spelled out."""
    import ast
    import re

    from voicemode_otel.export import config as exporter_config

    prefixes = (
        "VOICEMODE_",
        "OTEL_",
        "DO_NOT_TRACK",
        "UV_",
        "CLAUDE",
        "CURSOR_",
        "WINDSURF_",
        "ZED_",
        "TERM_",
    )
    names: set[str] = set()
    for source in (ROOT / "voicemode_otel").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[A-Z][A-Z0-9_]*", node.value)
                and (node.value.startswith(prefixes) or node.value.endswith("_PROXY"))
            ):
                names.add(node.value)
    for setting in (*exporter_config.USER_TRANSPORT_SETTINGS, "TIMEOUT", "ENDPOINT"):
        names |= {f"OTEL_EXPORTER_OTLP_{setting}", f"OTEL_EXPORTER_OTLP_METRICS_{setting}"}
    # Read for us by requests on every request it makes (proxies, CA bundles).
    names |= {"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
    return names


def test_configuration_lists_every_variable_the_package_reads() -> None:
    """docs/configuration.md names every environment variable voicemode-otel's code reads."""
    import re

    text = CONFIGURATION.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)", text))
    for family in re.findall(r"`OTEL_EXPORTER_OTLP_\[METRICS_\]([A-Z_]+)`", text):
        documented |= {f"OTEL_EXPORTER_OTLP_{family}", f"OTEL_EXPORTER_OTLP_METRICS_{family}"}
    for family in re.findall(r"`…_([A-Z_]+)`", text):  # `…_CLIENT_KEY` after a bracketed family
        documented |= {f"OTEL_EXPORTER_OTLP_{family}", f"OTEL_EXPORTER_OTLP_METRICS_{family}"}
    missing = _variables_read_by_the_package() - documented
    assert not missing, f"read but not in docs/configuration.md: {sorted(missing)}"


def test_readme_points_at_the_configuration_page() -> None:
    """The README's short configuration section links the full page rather than repeating it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/configuration.md)" in readme


_DESIGN_MENTION = re.compile(r"(?:docs/)?design(?:\.md\b|\s*§)[^\n]{0,80}")
_NAMED_HEADING = re.compile(r"docs/design\.md, '([^'\n]+)'")


def _design_mentions() -> list[tuple[str, str]]:
    """Every mention of the design document in the package's code, docstrings and contract comments."""
    found = []
    for path in sorted((ROOT / "voicemode_otel").rglob("*")):
        if path.suffix in (".py", ".json"):
            text = path.read_text(encoding="utf-8")
            where = str(path.relative_to(ROOT))
            found += [(where, match.group(0)) for match in _DESIGN_MENTION.finditer(text)]
    return found


def test_design_mentions_in_the_package_name_existing_headings() -> None:
    """Every mention of the design doc in the package reads "docs/design.md, '<heading>'", a real heading."""
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    headings = {line.lstrip("#").strip() for line in design.splitlines() if line.startswith("#")}
    mentions = _design_mentions()
    assert mentions, "the package points at docs/design.md; a pattern that finds nothing checks nothing"
    wrong = []
    for where, mention in mentions:
        named = _NAMED_HEADING.match(mention)
        if named is None or named.group(1) not in headings:
            wrong.append(f"{where}: {mention}")
    assert wrong == []
