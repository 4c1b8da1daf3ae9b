"""Layering is a test, not a hope: no Qt (and no torch) below the UI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str | None:
    beside = Path(sys.executable).with_name("lint-imports")
    return str(beside) if beside.exists() else shutil.which("lint-imports")


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # strings and numbers: JSON spelling is valid TOML


def _config(tmp_path: Path) -> Path:
    """pyproject's [tool.importlinter] contracts, with include_external_packages set:
    import-linter insists on it for the "forbidden PySide6" contract and refuses to run
    without it."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml(v)}" for k, v in settings.items() if k != "contracts"]
    if "include_external_packages" not in settings:
        lines.append("include_external_packages = true")
    for contract in settings["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{k} = {_toml(v)}" for k, v in contract.items()]
    path = tmp_path / "importlinter.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter is not installed")
def test_import_linter_contracts(tmp_path):
    """pyproject's [tool.importlinter] contracts: layers point down, no PySide6 below ui."""
    done = subprocess.run([_lint_imports(), "--no-cache", "--config", str(_config(tmp_path))],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_headless_layers_load_without_qt_or_torch():
    """Importing core, io, ops (every op module) and the CLI pulls in neither Qt nor torch:
    the command line and batch work start fast and run where no display exists."""
    code = (
        "import sys\n"
        "import editor.core, editor.core.recipe, editor.io, editor.ops, editor.cli\n"
        "import editor.docsgen\n"
        "editor.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'torch'))\n"
        "print(' '.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"loaded by headless layers: {done.stdout.strip()}"
