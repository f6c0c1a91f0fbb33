"""The package layout stays as docs/architecture.md draws it: one-way imports (the import-linter
contracts in pyproject.toml) and small modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

MAX_LINES = 400


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 kept, 0 broken" in result.stdout


def test_no_module_is_over_400_lines():
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines())
             for p in (REPO / "evalharness").rglob("*.py")}
    assert len(sizes) > 50
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_pyflakes_finds_no_unused_or_undefined_names():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--no-cache", "evalharness", "tests", "bench"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
