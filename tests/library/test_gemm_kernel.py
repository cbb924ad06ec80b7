"""The GEMM kernel choice (``DLN_GEMM`` in the environment, read once when ``dln`` is imported).

Each choice trains the same dense problem, with layers above the small-product bound so the large
products take the chosen kernel, to the NumPy reference's weights within float64 rounding; the choice
is reported by ``build_info``; a bad value fails the import naming the variable. dln's own kernel
gives the same bits on 1 and 2 threads.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import dln

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import dln
    from dln import reference as ref

    rng = np.random.default_rng(5)
    d = 150
    net = dln.Network.orthogonal([d, d, d, d], scale=0.6, seed=3)
    target = rng.standard_normal((d, d)) / np.sqrt(d)
    runs = [dln.train(net, dln.Factorization(target), lr=0.2, steps=12, n_threads=t) for t in (1, 2)]
    expected = ref.train([w.copy() for w in net.weights], ref.Factorization(target), lr=0.2, steps=12)
    error = max(float(np.abs(a - b).max() / np.abs(b).max())
                for a, b in zip(runs[0].network.weights, expected["weights"]))
    same_bits = all(np.array_equal(a, b) for a, b in zip(runs[0].network.weights, runs[1].network.weights))
    print(json.dumps({"backend": dln.build_info()["gemm_backend"], "error": error, "same_bits": same_bits}))
""")


def run_with(choice):
    env = dict(os.environ, DLN_GEMM=choice)
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)


def has_openblas():
    return "OpenBLAS" in dln.build_info()["gemm_backend_config"]


@pytest.mark.parametrize("choice", ["eigen", "openblas", "auto"])
def test_each_kernel_matches_the_reference(choice):
    if choice == "openblas" and not has_openblas():
        pytest.skip("this build has no OpenBLAS")
    proc = run_with(choice)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if choice != "auto":
        assert out["backend"] == choice
    assert out["error"] < 1e-12, out
    if out["backend"] == "eigen":
        assert out["same_bits"], "dln's kernel must give the same bits on 1 and 2 threads"


def test_bad_choice_fails_the_import_naming_the_variable():
    proc = run_with("mkl")
    assert proc.returncode != 0
    assert "DLN_GEMM must be 'auto', 'openblas' or 'eigen', got 'mkl'" in proc.stderr
