"""The committed type stub of the C++ module (python/dln/_core.pyi) is the one pybind11-stubgen
generates from the built module: regenerate it into a temporary folder and diff."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dln

ROOT = Path(__file__).resolve().parents[2]
STUB = ROOT / "python" / "dln" / "_core.pyi"
# Regenerate with: python -m pybind11_stubgen <STUBGEN_ARGS> -o python (from the repository root, with the
# built module importable). The enums are named where they are default values or argument types.
STUBGEN_ARGS = ["dln._core", "--numpy-array-use-type-var", "--enum-class-locations", "OptimizerKind:dln._core",
                "--enum-class-locations", "ActivationKind:dln._core",
                "--enum-class-locations", "InitKind:dln._core",
                "--exit-code"]


@pytest.mark.skipif(not STUB.is_file(), reason="needs the source tree (run from a checkout)")
def test_core_stub_is_current(tmp_path):
    pytest.importorskip("pybind11_stubgen")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(dln.__file__).parent.parent),
                                                        os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "pybind11_stubgen", *STUBGEN_ARGS, "-o", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    fresh = (tmp_path / "dln" / "_core.pyi").read_text()
    committed = STUB.read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), fresh.splitlines(True),
                                        "python/dln/_core.pyi (committed)", "generated from the built module"))
    assert not diff, "the C++ module's stub is out of date; regenerate it (see STUBGEN_ARGS):\n" + diff[-8000:]
