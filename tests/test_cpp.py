"""Builds the C++ core on its own (plain CMake, no Python) and runs its ctest suite.

Part of the README's test command, so C++ users' invariants are checked on every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str | None:
    local = Path(sys.prefix) / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


@pytest.mark.skipif(not (ROOT / "CMakeLists.txt").exists(), reason="needs the source tree")
def test_ctest(tmp_path_factory):
    cmake, ctest = _tool("cmake"), _tool("ctest")
    assert cmake and ctest, "cmake is part of the test dependencies (pip install '.[test]')"
    build = tmp_path_factory.mktemp("cpp-build")
    site = sysconfig.get_paths()["purelib"]  # cmeel-eigen and scipy-openblas32 live here
    gen = ["-G", "Ninja"] if _tool("ninja") else []
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2))
    subprocess.run([cmake, "-S", str(ROOT), "-B", str(build), *gen, f"-DCMAKE_PREFIX_PATH={site}",
                    "-DDLN_TESTS=ON", "-DCMAKE_BUILD_TYPE=Release"], check=True, env=env,
                   capture_output=True, text=True)
    out = subprocess.run([cmake, "--build", str(build)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    run = subprocess.run([ctest, "--output-on-failure"], cwd=build, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "100% tests passed" in run.stdout
