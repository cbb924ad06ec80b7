"""Run semantics of ``dln.train`` (DESIGN.md "Fixed decisions"): history, stopping rules, divergence,
immutability of inputs, reproducibility, Ctrl-C, the CLI demo and ``build_info``.

``problem.loss`` and the trainer evaluate the loss with the same code, so histories are compared to
``problem.loss`` of separately trained networks bit for bit; GD keeps no state, so ``k`` one-step
runs and one ``k``-step run are the same computation.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import dln
from dln.experiments import low_rank_target

KINDS = ("factorization", "regression", "completion")
OPTIMIZERS = ("gd", "momentum", "adam", "rmsprop")


def make_problem(kind, make_problem_data, d_in=5, d_out=4, seed=0, reduction="mean"):
    data = make_problem_data(kind, d_in, d_out, np.random.default_rng(seed), n_samples=7)
    if kind == "factorization":
        return dln.Factorization(data["target"], reduction=reduction)
    if kind == "regression":
        return dln.Regression(data["X"], data["Y"], reduction=reduction)
    return dln.Completion(data["target"], data["mask"], reduction=reduction)


def lr_for(problem, optimizer):
    # Data have spectral norm 1, inits scale 0.9: sum-units GD step 0.2 is stable; convert to the
    # problem's units. Adaptive methods move each entry by ~lr, so they take a small absolute lr.
    return 0.2 / problem.scale if optimizer in ("gd", "momentum") else 1e-2


def theorem_problem(d=30, r=3, L=3):
    return dln.Factorization(low_rank_target(d, d, r, seed=0)), dln.Network.orthogonal([d] * (L + 1), scale=1.0, seed=0)


def same_network(a, b):
    return len(a.weights) == len(b.weights) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a.weights, b.weights))


# --- history -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", KINDS)
def test_initial_loss_and_history_length(make_problem_data, kind, optimizer, dtype):
    problem = make_problem(kind, make_problem_data)
    net = dln.Network.orthogonal([5, 6, 3, 4], scale=0.9, seed=2, dtype=dtype)
    for steps, every in [(10, 1), (10, 3), (9, 3), (7, 10), (1, 1), (12, 12)]:
        out = dln.train(net, problem, lr=lr_for(problem, optimizer), steps=steps, record_every=every,
                        optimizer=optimizer, n_threads=1)
        assert out.status == "max_steps" and out.steps == steps
        assert out.loss.shape == (steps // every + 1,), (steps, every)
        assert out.loss.dtype == np.float64
        assert out.loss[0] == problem.loss(net)
        assert out.final_loss == problem.loss(out.network)
        assert out.network.dtype == dtype and out.network.widths == net.widths
        assert out.record_every == every and out.optimizer == optimizer
        # The run did something (a history of equal numbers would pass the checks above).
        assert out.final_loss != out.loss[0]


@pytest.mark.parametrize("kind", KINDS)
def test_history_entries_are_losses_after_k_record_every_updates(make_problem_data, kind):
    problem = make_problem(kind, make_problem_data)
    net = dln.Network.orthogonal([5, 6, 4], scale=0.9, seed=3)
    lr = lr_for(problem, "gd")
    out = dln.train(net, problem, lr=lr, steps=11, record_every=4, n_threads=1)
    expected = [problem.loss(dln.train(net, problem, lr=lr, steps=4 * k, n_threads=1).network) for k in range(3)]
    np.testing.assert_array_equal(out.loss, expected)
    assert out.final_loss == problem.loss(dln.train(net, problem, lr=lr, steps=11, n_threads=1).network)


def test_steps_zero(make_problem_data):
    problem = make_problem("completion", make_problem_data)
    net = dln.Network.orthogonal([5, 6, 4], scale=0.9, seed=4)
    out = dln.train(net, problem, lr=1.0, steps=0)
    assert out.status == "max_steps" and out.steps == 0
    assert out.loss.shape == (1,) and out.loss[0] == problem.loss(net) == out.final_loss
    assert same_network(out.network, net) and out.network is not net
    # tol already met at the start: converged with no update.
    out = dln.train(net, problem, lr=1.0, steps=5, tol=2 * problem.loss(net))
    assert out.status == "converged" and out.steps == 0 and out.loss.shape == (1,)
    assert same_network(out.network, net)


# --- tol -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("record_every", [1, 3])
def test_tol(make_problem_data, kind, dtype, record_every):
    """Stops at the first k with loss(k) <= tol (checked before each update), whatever the stride."""
    problem = make_problem(kind, make_problem_data, seed=5)
    net = dln.Network.orthogonal([5, 5, 4], scale=0.9, seed=5, dtype=dtype)
    lr = lr_for(problem, "gd")
    full = dln.train(net, problem, lr=lr, steps=60, n_threads=1)
    assert full.loss[-1] < full.loss[0]
    tol = float(np.sqrt(full.loss[0] * full.loss[-1]))  # reached somewhere in the middle
    k = int(np.argmax(full.loss <= tol))
    assert 0 < k < 60
    out = dln.train(net, problem, lr=lr, steps=1000, tol=tol, record_every=record_every, n_threads=1)
    assert out.status == "converged" and out.converged
    assert out.steps == k
    assert out.final_loss <= tol and out.final_loss == full.loss[k]
    assert out.final_loss == problem.loss(out.network)
    # History: the recorded entries of the full run up to k (the converged step itself is recorded
    # only when it falls on the stride).
    np.testing.assert_array_equal(out.loss, full.loss[: k + 1 : record_every])
    assert same_network(out.network, dln.train(net, problem, lr=lr, steps=k, n_threads=1).network)


def test_tol_not_reached_is_max_steps(make_problem_data):
    problem = make_problem("factorization", make_problem_data)
    net = dln.Network.orthogonal([5, 5, 4], scale=0.9, seed=6)
    out = dln.train(net, problem, lr=lr_for(problem, "gd"), steps=5, tol=0.0, n_threads=1)
    assert out.status == "max_steps" and out.steps == 5 and not out.converged and out.final_loss > 0.0


# --- divergence ------------------------------------------------------------------------------------


@pytest.mark.parametrize("record_every", [1, 4])
def test_divergence(record_every):
    """Theorem setting with lr = 1000: the run stops as diverged and keeps its last finite state."""
    problem, net = theorem_problem()
    out = dln.train(net, problem, lr=1000.0, steps=10_000, record_every=record_every, n_threads=1)
    assert out.status == "diverged" and not out.converged
    assert out.steps < 10_000
    assert out.message
    assert all(np.isfinite(w).all() for w in out.network.weights)
    assert np.isfinite(out.loss).all() and out.loss.size >= 1
    assert out.loss.shape == (out.steps // record_every + 1,)
    assert np.isfinite(out.final_loss)
    assert out.final_loss == problem.loss(out.network)
    assert out.final_loss <= 1e8 * out.loss[0]
    # `steps` counts the updates that produced the returned network...
    again = dln.train(net, problem, lr=1000.0, steps=out.steps, n_threads=1)
    assert again.status == "max_steps" and same_network(again.network, out.network)
    # ...and one more update is the one that blew up (non-finite or > 1e8 x the initial loss).
    one_more = dln.train(out.network, problem, lr=1000.0, steps=1, n_threads=1)
    if one_more.status == "max_steps":
        assert one_more.final_loss > 1e8 * out.loss[0]
    else:
        assert one_more.status == "diverged" and one_more.steps == 0


# --- inputs are not modified -----------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", KINDS)
def test_inputs_not_modified(make_problem_data, kind, optimizer):
    data = make_problem_data(kind, 5, 4, np.random.default_rng(8), n_samples=6)
    snapshot = {k: v.copy() for k, v in data.items()}
    if kind == "factorization":
        problem = dln.Factorization(data["target"])
    elif kind == "regression":
        problem = dln.Regression(data["X"], data["Y"])
    else:
        problem = dln.Completion(data["target"], data["mask"])
    held = {k: v.copy() for k, v in problem._arrays.items()}
    net = dln.Network.orthogonal([5, 6, 4], scale=0.9, seed=8)
    before = net.weights
    out = dln.train(net, problem, lr=lr_for(problem, optimizer), steps=5, optimizer=optimizer)
    assert not same_network(out.network, net)  # training moved *something*
    for a, b in zip(net.weights, before):
        assert np.array_equal(a, b)
    for k, v in data.items():
        assert np.array_equal(v, snapshot[k]), k
    for k, v in problem._arrays.items():
        assert np.array_equal(v, held[k]), k
    # Weights handed out are copies: writing to them changes neither network.
    w = out.network.weights[0]
    w[...] = 0.0
    assert not np.array_equal(out.network.weights[0], w)


# --- reproducibility and threads -------------------------------------------------------------------


@pytest.mark.parametrize("d, steps", [(12, 40), (200, 5)])
@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_bitwise_reproducible(d, steps, optimizer):
    rng = np.random.default_rng(9)
    target = rng.standard_normal((d, d)) / np.sqrt(d)
    problem = dln.Factorization(target)
    net = dln.Network.orthogonal([d] * 4, scale=0.9, seed=9)
    lr = 0.5 * d * d if optimizer == "gd" else 1e-3
    runs = [dln.train(net, problem, lr=lr, steps=steps, optimizer=optimizer, n_threads=1) for _ in range(3)]
    assert runs[0].n_threads == 1
    for r in runs[1:]:
        assert r.status == runs[0].status and r.steps == runs[0].steps
        assert np.array_equal(r.loss, runs[0].loss)
        assert same_network(r.network, runs[0].network)


def test_two_threads_close_to_one(tol, assert_layers_close):
    d, steps = 300, 2  # large enough (> 256^3 per product) that two threads are really used
    target = np.random.default_rng(10).standard_normal((d, d)) / np.sqrt(d)
    problem = dln.Factorization(target)
    net = dln.Network.orthogonal([d] * 4, scale=0.9, seed=10)
    one = dln.train(net, problem, lr=0.5 * d * d, steps=steps, n_threads=1)
    two = dln.train(net, problem, lr=0.5 * d * d, steps=steps, n_threads=2)
    assert two.n_threads == 2 and one.n_threads == 1
    assert one.status == two.status == "max_steps"
    assert_layers_close(two.network.weights, one.network.weights, np.float64)
    t = tol(np.float64)
    assert np.all(np.abs(two.loss - one.loss) <= t["rtol"] * np.abs(one.loss) + t["atol"])
    # Two threads are repeatable too.
    again = dln.train(net, problem, lr=0.5 * d * d, steps=steps, n_threads=2)
    assert same_network(again.network, two.network)


def test_default_threads_reported():
    problem, net = theorem_problem(d=300, r=1, L=2)
    out = dln.train(net, problem, lr=1.0, steps=1)
    assert out.n_threads == int(dln.build_info()["default_n_threads"]) >= 1


def test_small_products_stay_on_one_thread():
    problem, net = theorem_problem(d=8, r=1, L=2)
    assert dln.train(net, problem, lr=1.0, steps=1, n_threads=2).n_threads == 1


# --- Ctrl-C ----------------------------------------------------------------------------------------

_LONG_RUN = """
import numpy as np, dln
d = 300
target = np.random.default_rng(0).standard_normal((d, d)) / d
problem = dln.Factorization(target)
net = dln.Network.orthogonal([d] * 4, scale=1.0, seed=0)
print("started", flush=True)
out = dln.train(net, problem, lr=1e-3, steps=10**6, n_threads=1)
print(out.status, out.steps, repr(out.final_loss), bool(np.isfinite(out.network.weights[0]).all()), flush=True)
"""


def test_ctrl_c_interrupts_training():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", _LONG_RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "started", (line, proc.stderr.read() if proc.poll() is not None else "")
        time.sleep(0.5)  # well inside dln.train (setup after "started" is microseconds)
        assert proc.poll() is None, "training finished before the signal"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop after SIGINT"
    status, steps, loss, finite = out.split()
    assert status == "interrupted", out
    assert 0 < int(steps) < 10**6
    assert np.isfinite(float(loss)) and finite == "True"


# --- CLI and build info ----------------------------------------------------------------------------


def test_cli_demo(tmp_path):
    # The README's first command at its real size (d = 1000); tests/science/test_cli.py covers the rest of the CLI.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "dln", "demo", "--no-progress", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all 6 checks passed" in proc.stdout and "FAIL" not in proc.stdout
    assert "24 of 30 singular values" in proc.stdout and "d = 1000" in proc.stdout


def test_build_info():
    info = dln.build_info()
    for key in ("compiler", "cxx_flags", "simd", "eigen", "gemm_backend", "default_n_threads"):
        assert key in info, key
        assert isinstance(info[key], str) and info[key], (key, info[key])
    assert int(info["default_n_threads"]) >= 1
    assert info["eigen"].count(".") == 2 and all(p.isdigit() for p in info["eigen"].split("."))
