"""The source tree stays clean: ruff (configured in pyproject.toml) finds nothing in python/, tests/ and bench/,
and mypy (its [tool.mypy] there) finds no type error in python/dln."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
