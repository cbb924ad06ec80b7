"""Builds the C++ core on its own (plain CMake, no Python) and runs its ctest suite.

Part of the README's test command, so C++ users' invariants are checked on every run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str | None:
    local = Path(sys.prefix) / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


def _cmakedir() -> str:
    out = subprocess.run([sys.executable, "-m", "dln", "--cmakedir"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _werror() -> list[str]:
    return ["-DDLN_WERROR=ON"] if os.environ.get("DLN_WERROR") == "1" else []


@pytest.mark.skipif(not (ROOT / "cpp" / "tests" / "CMakeLists.txt").exists(), reason="needs the source tree")
def test_ctest(tmp_path_factory):
    """The C++ tests, built on their own against the installed core (the library pip built, not a
    second compile of it), and run by ctest."""
    cmake, ctest = _tool("cmake"), _tool("ctest")
    assert cmake and ctest, "cmake is part of the test dependencies (pip install '.[test]')"
    build = tmp_path_factory.mktemp("cpp-tests")
    gen = ["-G", "Ninja"] if _tool("ninja") else []
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2))
    conf = subprocess.run([cmake, "-S", str(ROOT / "cpp" / "tests"), "-B", str(build), *gen,
                           f"-Ddln_DIR={_cmakedir()}", "-DCMAKE_BUILD_TYPE=Release", *_werror()],
                          env=env, capture_output=True, text=True)
    assert conf.returncode == 0, conf.stdout[-4000:] + conf.stderr[-4000:]
    out = subprocess.run([cmake, "--build", str(build)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    run = subprocess.run([ctest, "--output-on-failure"], cwd=build, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # One ctest per test program named in cpp/tests/CMakeLists.txt, every one of them run and passed:
    # "100% tests passed, 0 tests failed out of N" (CMake 3) or "100% tests passed out of N" (CMake 4)
    names = re.search(r"set\(_dln_test_names ([^)]*)\)", (ROOT / "cpp" / "tests" / "CMakeLists.txt").read_text())
    assert names, "cpp/tests/CMakeLists.txt lists its test programs in _dln_test_names"
    count = len(names.group(1).split())
    assert count >= 6
    assert re.search(rf"100% tests passed(, 0 tests failed)? out of {count}\b", run.stdout), run.stdout[-2000:]


def _python_example() -> list[str]:
    """The Python calls equivalent to cpp/examples/train_factorization.cpp, printed the same way."""
    import numpy as np

    import dln

    d, r = 40, 3
    i, k = np.arange(d)[:, None], np.arange(r)[None, :]
    a = ((7 * i + 3 * k) % 11 - 5).astype(float)
    b = ((5 * i + 2 * k) % 13 - 6).astype(float).T
    target = (a @ b) / d
    net = dln.Network.orthogonal([d] * 4, scale=0.05, seed=1)
    res = dln.train(net, dln.Factorization(target), lr=20.0, steps=2000, tol=1e-9, record_every=50, n_threads=1)
    lines = [f"status {res.status}", f"steps {res.steps}", f"final_loss {res.final_loss:.17g}"]
    lines += [f"loss[{j}] {v:.17g}" for j, v in enumerate(res.loss)]
    return lines


def test_example_against_installed_package(tmp_path):
    """cpp/examples builds against the pip-installed package and prints what Python computes."""
    cmake = _tool("cmake")
    assert cmake
    cmakedir = _cmakedir()
    assert (Path(cmakedir) / "dlnConfig.cmake").exists(), cmakedir
    gen = ["-G", "Ninja"] if _tool("ninja") else []
    conf = subprocess.run([cmake, "-S", str(ROOT / "cpp" / "examples"), "-B", str(tmp_path), *gen,
                           f"-Ddln_DIR={cmakedir}"], capture_output=True, text=True)
    assert conf.returncode == 0, conf.stdout[-3000:] + conf.stderr[-3000:]
    build = subprocess.run([cmake, "--build", str(tmp_path)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    run = subprocess.run([str(tmp_path / "train_factorization")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    expected = _python_example()
    assert lines[:len(expected)] == expected
    assert lines[-1].startswith("W_1: 34 of 40 singular values equal rho")


_ISA_PROBE_CMAKE = """
cmake_minimum_required(VERSION 3.21...3.31)
project(dln_isa_probe LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(dln CONFIG REQUIRED)
add_executable(same probe.cpp)
target_link_libraries(same PRIVATE dln::core)
target_compile_options(same PRIVATE ${dln_ARCH_FLAGS})
add_executable(other probe.cpp)
target_link_libraries(other PRIVATE dln::core)
target_compile_options(other PRIVATE ${OTHER_FLAGS})
"""

_ISA_PROBE_CPP = """
#include "dln/types.hpp"
#include <cstdio>
int main() { std::puts(dln::to_string(dln::Status::Converged)); }
"""


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "AMD64"), reason="the probe's flags are x86 flags")
def test_consumer_of_another_instruction_set_fails_to_link(tmp_path):
    """dln::core exports no machine flags; a consumer compiled for another instruction set than the
    core fails to link, naming its own (dln/isa.hpp), and one compiled with ${dln_ARCH_FLAGS} links."""
    import dln

    cmake = _tool("cmake")
    assert cmake
    core = dln.build_info()["isa_symbol"]
    # The baseline x86-64 target (no flags) is SSE2 without FMA; for a core built that way, ask for AVX2.
    other, other_symbol = ("", "dln_core_not_built_for_sse2_nofma") if core != "dln_core_not_built_for_sse2_nofma" \
        else ("-mavx2;-mfma", "dln_core_not_built_for_avx2_fma")
    (tmp_path / "CMakeLists.txt").write_text(_ISA_PROBE_CMAKE)
    (tmp_path / "probe.cpp").write_text(_ISA_PROBE_CPP)
    build = tmp_path / "build"
    gen = ["-G", "Ninja"] if _tool("ninja") else []
    conf = subprocess.run([cmake, "-S", str(tmp_path), "-B", str(build), *gen, f"-Ddln_DIR={_cmakedir()}",
                           "-DCMAKE_BUILD_TYPE=Release", f"-DOTHER_FLAGS={other}"], capture_output=True, text=True)
    assert conf.returncode == 0, conf.stdout[-3000:] + conf.stderr[-3000:]
    same = subprocess.run([cmake, "--build", str(build), "--target", "same"], capture_output=True, text=True)
    assert same.returncode == 0, same.stdout[-3000:] + same.stderr[-3000:]
    run = subprocess.run([str(build / "same")], capture_output=True, text=True)
    assert run.stdout.strip() == "converged", run.stdout + run.stderr
    mixed = subprocess.run([cmake, "--build", str(build), "--target", "other"], capture_output=True, text=True)
    assert mixed.returncode != 0, "a consumer built for another instruction set linked against the core"
    assert other_symbol in mixed.stdout + mixed.stderr, mixed.stdout[-3000:] + mixed.stderr[-3000:]
