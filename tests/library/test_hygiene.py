"""The source tree stays clean: ruff (configured in pyproject.toml) finds nothing in python/, tests/ and bench/,
and mypy (its [tool.mypy] there) finds no type error in python/dln; the package names the extension's
functions as written, never by a name built at run time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dln

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree (run from a checkout)")
def test_ruff_is_clean():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "python", "tests", "bench"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "All checks passed" in run.stdout


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree (run from a checkout)")
def test_mypy_is_clean():
    # files, strictness and the per-module ignores come from pyproject.toml; no cache is written to the tree
    run = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--cache-dir", os.devnull],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Success: no issues found" in run.stdout


def test_core_names_are_written_out_not_built_at_run_time():
    # Every use of the extension can be found by grep and checked by mypy against _core.pyi: no
    # getattr(_core, f"name_{suffix}"); functions of both dtypes are one overloaded name.
    package = Path(dln.__file__).parent
    built = [f"{p.relative_to(package)}:{i}" for p in sorted(package.rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if "getattr(_core" in line]
    assert built == []
