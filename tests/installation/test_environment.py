"""Environment facts map into the contract's closed sets; nothing raw leaves."""

from __future__ import annotations

import pytest

from voicemode_otel.contract import spec as contract
from voicemode_otel.installation import environment, installation_attributes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8.12.0", "8.12.0"),
        ("2.17.2-dev.abc123", "2.17.2.dev0"),
        ("2.17.2.dev3+g1a2b3c", "2.17.2.dev3"),
        ("8.12.0+local.build", "8.12.0"),
        ("1.0.0rc2", "1.0.0rc2"),
        ("1.0.0-beta.4", "1.0.0b4"),
        ("3.1.post2", "3.1.post2"),
        ("v4.0", "4.0"),
        ("1.2.3abc", "1.2.3"),
        ("not-a-version", None),
        ("", None),
        (None, None),
    ],
)
def test_release_version_keeps_only_the_release(raw: str | None, expected: str | None) -> None:
    """Local and commit parts are dropped; the earlier code's `2-dev` bug is gone."""
    assert environment.release_version(raw) == expected
    if expected:
        assert contract.load().resource_attributes["service.version"].allows(expected)


@pytest.mark.parametrize(
    ("system", "expected"),
    [("Linux", "linux"), ("Darwin", "darwin"), ("Windows", "windows"), ("SunOS", "solaris"), ("Plan9", None)],
)
def test_os_type_uses_semconv_values(system: str, expected: str | None) -> None:
    """platform.system() names become OpenTelemetry os.type values; unknown systems are left out."""
    assert environment.os_type(system) == expected


@pytest.mark.parametrize(
    ("environ", "parent", "expected"),
    [
        ({"CLAUDECODE": "1", "TERM_PROGRAM": "vscode"}, "node", "claude-code"),
        ({"CURSOR_TRACE_ID": "x"}, None, "cursor"),
        ({"TERM_PROGRAM": "vscode"}, None, "vscode"),
        ({}, "code", "vscode"),  # VS Code is not Claude Code
        ({}, "Code Helper", "vscode"),
        ({}, "claude", "claude-code"),
        ({}, "Claude Helper", "claude-desktop"),
        ({}, "Windsurf", "windsurf"),
        ({}, "zed", "zed"),
        ({}, "my-custom-client", "other"),
        ({}, "", "unknown"),
        ({"VOICEMODE_MCP_HOST": "Cline"}, None, "cline"),
        ({"VOICEMODE_MCP_HOST": "Alice's private tool"}, None, "other"),
    ],
)
def test_mcp_host_is_closed(environ: dict[str, str], parent: str | None, expected: str) -> None:
    """Hosts are recognised by markers and exact process names; the raw value never passes through."""
    assert environment.mcp_host(environ, parent_name=parent if parent is not None else "") == expected
    assert expected in contract.load().closed_values("voicemode.mcp.host")


@pytest.mark.parametrize(
    ("prefix", "environ", "expected"),
    [
        ("/home/u/.local/share/uv/tools/voice-mode", {}, "uv-tool"),
        ("/srv/tools/voice-mode", {"UV_TOOL_DIR": "/srv/tools"}, "uv-tool"),
        ("/home/u/.cache/uv/archive-v0/abc123", {}, "uvx"),
        ("/home/u/.local/share/pipx/venvs/voice-mode", {}, "pipx"),
        ("/opt/homebrew/Cellar/voice-mode/8.12.0/libexec", {}, "homebrew"),
        ("/home/u/project/.venv", {}, "unknown"),  # voice-mode is not installed in this test environment
    ],
)
def test_install_method_from_the_environment_path(
    prefix: str, environ: dict[str, str], expected: str
) -> None:
    """The prefix VoiceMode runs from tells how it was installed, without a subprocess."""
    assert environment.install_method(prefix, environ) == expected


def test_install_method_pip_and_dev_from_package_metadata() -> None:
    """An installed distribution is pip; an editable one is dev (this package itself is editable here)."""
    assert environment.install_method("/usr", {}, distribution="pytest") == "pip"
    assert environment.install_method("/usr", {}, distribution="voicemode-otel") == "dev"


def test_installation_attributes_only_contract_values() -> None:
    """The resource leaves out what is unknown and holds only contract keys with allowed values."""
    attributes = installation_attributes(
        "6f2b0c7e-3d4a-4e5f-9a1b-2c3d4e5f6a7b",
        exec_source="cli",
        environ={"VOICEMODE_MCP_HOST": "zed"},
        version="9.0",
    )
    spec = contract.load()
    assert set(attributes) <= set(spec.resource_attributes)
    assert all(spec.resource_attributes[k].allows(v) for k, v in attributes.items())
    assert attributes["voicemode.mcp.host"] == "zed" and attributes["service.version"] == "9.0"
