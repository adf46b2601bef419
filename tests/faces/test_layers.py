"""The package's layers: imports run only down the floors, and each face says and exports what it should."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "voicemode_otel"

# Each layer and the layers it may import (its face docstring says the same in words).
FLOORS: dict[str, set[str]] = {
    "contract": set(),
    "logs": {"contract"},
    "report": {"contract", "logs"},
    "export": {"contract", "report"},
    "store": {"contract"},
    "consent": {"contract", "store"},
    "installation": {"contract", "store", "consent"},
    "delivery": {"contract", "logs", "report", "export", "store", "consent", "installation"},
    "operations": {"contract", "logs", "report", "export", "store", "consent", "installation", "delivery"},
    "testing": {"contract", "logs", "report"},
}
# The only imports that run up to the package root: the consent rules live there, so that the
# host's start-up path is the root module alone (voicemode_otel/__init__.py says why).
UP_TO_THE_ROOT = {
    "voicemode_otel/store/paths.py",
    "voicemode_otel/store/envfile.py",
    "voicemode_otel/consent/decision.py",
}


def _imports(path: Path) -> list[str]:
    """Every voicemode_otel module or name ``path`` imports, as dotted names (functions' imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in found if name.split(".")[0] == "voicemode_otel"]


def _layer_modules() -> list[tuple[str, Path]]:
    return [
        (path.parent.name, path)
        for path in sorted(PACKAGE.glob("*/*.py"))
        if path.parent.name in FLOORS and path.name != "__init__.py"
    ]


def test_every_subpackage_is_a_known_layer() -> None:
    """Each folder of the package is a layer with floors in this test (a new one needs a place)."""
    folders = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert folders == set(FLOORS)


@pytest.mark.parametrize(("layer", "path"), _layer_modules(), ids=lambda value: str(value).split("/")[-1])
def test_imports_run_only_down_the_floors(layer: str, path: Path) -> None:
    """A layer's module imports only its own layer and the layers below it; up to the root only the three."""
    where = str(path.relative_to(ROOT))
    wrong = []
    for name in _imports(path):
        parts = name.split(".")
        target = parts[1] if len(parts) > 1 else ""
        if target in FLOORS:
            if target != layer and target not in FLOORS[layer]:
                wrong.append(name)
        elif where not in UP_TO_THE_ROOT:
            wrong.append(name)  # the root, or a root module (api, cli, mcp_tools, texts)
    assert wrong == []


def test_exactly_three_imports_run_up_to_the_root() -> None:
    """The modules importing the root's consent rules are exactly the three the root docstring names."""
    up = {
        str(path.relative_to(ROOT))
        for _, path in _layer_modules()
        if any([*name.split("."), ""][1] not in FLOORS for name in _imports(path))
    }
    assert up == UP_TO_THE_ROOT


@pytest.mark.parametrize("layer", sorted(FLOORS))
def test_each_face_says_what_the_layer_may_import_and_resolves_its_names(layer: str) -> None:
    """The face's docstring states its floors; every name in ``__all__`` loads from below the face."""
    face = importlib.import_module(f"voicemode_otel.{layer}")
    assert face.__doc__ is not None
    assert "May import:" in face.__doc__
    assert "Must not import:" in face.__doc__
    for name in face.__all__:
        value = getattr(face, name)
        assert getattr(value, "__name__", "").startswith(f"voicemode_otel.{layer}.") or not hasattr(
            value, "__path__"
        )


def test_importing_a_face_imports_nothing_below_it() -> None:
    """Faces load their names on first use: importing every face alone loads no module below any face."""
    code = (
        "import sys\n"
        f"for layer in {sorted(FLOORS)!r}:\n"
        "    __import__('voicemode_otel.' + layer)\n"
        "print(sorted(m for m in sys.modules if m.startswith('voicemode_otel.') and m.count('.') > 1))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
