"""The server's structure is checked, not hoped for (docs/architecture.md).

- import-linter holds the layers contract in pyproject.toml: every module of server/ imports
  only from the layers below it, and no import circle.
- ruff holds the style, including PLC0415: no import hidden inside a function.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_layers_contract_is_kept():
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_ruff_passes_with_no_import_inside_a_function():
    result = run(sys.executable, "-m", "ruff", "check", "server", "run.py", "tests", "bench",
                 "scripts")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_layers_contract_names_every_server_module():
    """A new module must be given its layer: an unlisted one would escape the contract."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    layers = text.split("layers = [", 1)[1].split("]", 1)[0]
    listed = {name.strip(' "') for line in layers.splitlines() if not line.strip().startswith("#")
              for name in line.strip().rstrip(",").strip('"').split("|")}
    modules = {p.stem for p in (ROOT / "server").glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in (ROOT / "server").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    assert modules - listed == set()
