"""dln.implicit: implicit orthogonal networks, factored targets and their exact compressed training.

Every comparison is against ``dense()`` of the same implicit network (the same operators as explicit
matrices), so equalities are of one trajectory computed two ways, to rounding.
"""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dln
from dln import implicit as im
from dln.compression import SparseCompletion, subspace_sine
from dln.problems import LowRankFactorization
from dln.training import implicit as ti


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


def _frames(d, r, seed):
    rng = np.random.default_rng(seed)
    return (np.linalg.qr(rng.standard_normal((d, r)))[0], np.linalg.qr(rng.standard_normal((d, r)))[0])


# ---------------------------------------------------------------------------------------------------
# The operator and the network

@pytest.mark.parametrize("d", [1, 2, 3, 8, 200, 201])
def test_operator_is_orthogonal(d):
    Q = dln.Network.orthogonal([d, d], 1.0, seed=4, implicit=True).dense().weights[0]
    assert np.abs(Q.T @ Q - np.eye(d)).max() <= 1e-14
    assert np.abs(Q @ Q.T - np.eye(d)).max() <= 1e-14


def test_rectangular_layers_are_partial_isometries():
    net = im.ImplicitNetwork.orthogonal([30, 50, 20], 1.0, seed=1)
    W1, W2 = net.dense().weights
    assert np.abs(W1.T @ W1 - np.eye(30)).max() <= 1e-14  # 50 x 30: orthonormal columns
    assert np.abs(W2 @ W2.T - np.eye(20)).max() <= 1e-14  # 20 x 50: orthonormal rows


def test_orthogonal_implicit_keyword_and_seeding():
    net = dln.Network.orthogonal([6, 6, 6], 0.3, seed=7, implicit=True)
    assert isinstance(net, im.ImplicitNetwork) and im.is_implicit(net)
    assert (net.widths, net.depth, net.dtype, net.scales) == ([6, 6, 6], 2, np.float64, [0.3, 0.3])
    again = im.ImplicitNetwork.orthogonal([6, 6, 6], 0.3, seed=7)
    other = im.ImplicitNetwork.orthogonal([6, 6, 6], 0.3, seed=8)
    w, w2, w3 = (n.dense().weights[0] for n in (net, again, other))
    assert np.array_equal(w, w2) and not np.array_equal(w, w3)
    assert not isinstance(dln.Network.orthogonal([6, 6], implicit=False), im.ImplicitNetwork)


@given(widths=st.lists(st.integers(1, 9), min_size=2, max_size=4), seed=st.integers(0, 2**32),
       k=st.integers(1, 3), vector=st.booleans())
def test_products_match_dense(widths, seed, k, vector):
    net = im.ImplicitNetwork.orthogonal(widths, 0.7, seed=seed)
    dense = net.dense()
    W = dense.weights
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(widths[0]) if vector else rng.standard_normal((widths[0], k))
    e2e = dense.end_to_end()
    assert np.abs(net.end_to_end_apply(X) - e2e @ X).max() <= 1e-13 * max(1.0, np.abs(X).max())
    for l, w in enumerate(W):
        x = rng.standard_normal((w.shape[1], k))
        y = rng.standard_normal((w.shape[0], k))
        assert np.abs(net.apply(l, x) - w @ x).max() <= 1e-13
        assert np.abs(net.apply_transpose(l, y) - w.T @ y).max() <= 1e-13
        assert np.abs(net.singular_values(l) - np.linalg.svd(w, compute_uv=False)).max() <= 1e-13


def test_float32_network():
    net = im.ImplicitNetwork.orthogonal([16, 16], 1.0, dtype=np.float32)
    assert net.dense().dtype == np.float32 and net.apply(0, np.ones(16)).dtype == np.float32
    assert np.abs(net.apply(0, np.ones(16)) - net.dense().weights[0] @ np.ones(16, np.float32)).max() < 1e-5


def test_dense_refused_when_too_big():
    net = im.ImplicitNetwork.orthogonal([10**6, 10**6], 1.0)
    with pytest.raises(MemoryError, match="GiB"):
        net.dense()
    assert net.nbytes <= 20 * 10**6  # O(d): two sign vectors


# ---------------------------------------------------------------------------------------------------
# Factored targets

def test_from_factors_matches_dense_factorization():
    U, V = _frames(20, 3, 0)
    s = np.array([3.0, 2.0, 0.5])
    fac = dln.Factorization.from_factors(U * 2.0, s, V * 0.5, reduction="mean")  # any factors
    ref = dln.Factorization((U * s) @ V.T, reduction="mean")
    net = dln.Network.orthogonal([20, 20, 20], 0.5, seed=1)
    assert isinstance(fac, LowRankFactorization) and isinstance(fac, dln.Factorization)
    assert np.isclose(fac.loss(net), ref.loss(net), rtol=1e-13)
    for g, h in zip(fac.gradients(net), ref.gradients(net)):
        assert _rel(g, h) <= 1e-13
    Uh, sh, Vh = fac.svd()
    assert np.allclose(sh, s, rtol=1e-13) and subspace_sine(Uh, U) <= 1e-13 and subspace_sine(Vh, V) <= 1e-13
    # the closed form on an implicit network equals the dense loss of its dense form
    inet = im.ImplicitNetwork.orthogonal([20, 20, 20], 0.5, seed=1)
    assert np.isclose(fac.loss(inet), fac.loss(inet.dense()), rtol=1e-12)
    again = pickle.loads(pickle.dumps(fac))
    assert again.shape == (20, 20) and np.isclose(again.loss(net), fac.loss(net), rtol=1e-15)


def test_from_factors_bad_input():
    U, V = _frames(10, 2, 1)
    with pytest.raises(ValueError, match="^s:"):
        dln.Factorization.from_factors(U, np.ones(3), V)
    with pytest.raises(ValueError, match="^U:"):
        dln.Factorization.from_factors(U * np.nan, np.ones(2), V)
    with pytest.raises(TypeError, match="^V:"):
        dln.Factorization.from_factors(U, np.ones(2), V.astype(int))
    with pytest.raises(ValueError, match="^reduction:"):
        dln.Factorization.from_factors(U, np.ones(2), V, reduction="avg")
    fac = dln.Factorization.from_factors(U, np.ones(2), V)
    with pytest.raises(TypeError, match="^net:"):
        fac.gradients(im.ImplicitNetwork.orthogonal([10, 10], 1.0))


# ---------------------------------------------------------------------------------------------------
# Compressed training: the lift equals dense wide training

D, L, R = 200, 3, 3


@pytest.fixture(scope="module")
def dmf_runs():
    U, V = _frames(D, R, 1)
    prob = dln.Factorization.from_factors(U, np.array([1.0, 0.8, 0.6]), V, reduction="sum")
    net = dln.Network.orthogonal([D] * (L + 1), 1e-2, seed=5, implicit=True)
    res = ti.train_implicit(net, prob, 0.3, 5000, tol=1e-9)
    wide = dln.train(net.dense(), prob, 0.3, res.steps, n_threads=1)
    return prob, net, res, wide


def test_dmf_lift_equals_dense_training(dmf_runs):
    prob, net, res, wide = dmf_runs
    assert res.converged and res.exact and res.path == "projected" and res.final_loss <= 1e-9
    lifted = res.network
    assert isinstance(lifted, im.ImplicitNetwork) and lifted.ranks == [2 * R] * L
    for a, b in zip(lifted.dense().weights, wide.network.weights):
        assert _rel(a, b) <= 1e-11
    # wide loss history and closed-form loss of the lifted network
    assert np.abs(res.loss - wide.loss).max() <= 1e-11 * wide.loss[0] + 1e-3 * wide.loss[-1]
    assert np.isclose(prob.loss(lifted), wide.final_loss, rtol=1e-8)
    assert np.isclose(res.certificate, res.rho ** L * np.sqrt(D - 2 * R), rtol=1e-15)


def test_lifted_products_match_dense(dmf_runs):
    _, _, res, _ = dmf_runs
    lifted = res.network
    dense = lifted.dense()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((D, 3))
    assert _rel(lifted.end_to_end_apply(X), dense.end_to_end() @ X) <= 1e-13
    assert _rel(lifted.end_to_end_apply_transpose(X), dense.end_to_end().T @ X) <= 1e-13
    for l, w in enumerate(dense.weights):
        assert _rel(lifted.apply(l, X), w @ X) <= 1e-13
        sv = np.linalg.svd(w, compute_uv=False)
        assert np.abs(lifted.singular_values(l) - sv).max() <= 1e-13 * sv[0]


def test_completion_matches_dense_compressed_path():
    # eps^L = 1e-12: the init term that the observations' subspace leaves out is below the tolerance
    U, V = _frames(D, R, 2)
    rng = np.random.default_rng(2)
    phi = (U * np.array([1.0, 0.8, 0.6])) @ V.T
    prob = dln.Completion(phi, rng.random((D, D)) < 0.3, reduction="sum")
    net = dln.Network.orthogonal([D] * (L + 1), 1e-4, seed=5, implicit=True)
    res = ti.train_implicit(net, prob, 2.0, 60000, tol=1e-9, compress=R, n_threads=1)
    ref = dln.train(net.dense(), prob, 2.0, res.steps, compress=R, n_threads=1)
    assert res.path == ref.path == "sparse" and res.converged and not res.exact
    assert subspace_sine(res.compression.basis[0], ref.compression.basis[0]) <= 1e-11
    info = res.compression.subspace  # ARPACK's start leaves the block iteration one confirming step
    assert info["warm_start"] == "arpack" and info["iterations"] <= 3 and info["residual"] <= 1e-14
    for a, b in zip(res.network.dense().weights, ref.network.weights):
        assert _rel(a, b) <= 1e-11
    # the same problem given by its entries only
    rows, cols = np.nonzero(prob.mask)
    sp = SparseCompletion((D, D), rows, cols, phi[rows, cols], "sum")
    res2 = ti.train_implicit(net, sp, 2.0, 50, compress=R, n_threads=1)
    short = ti.train_implicit(net, prob, 2.0, 50, compress=R, n_threads=1)
    assert np.array_equal(res2.loss, short.loss)


def test_rank_guess_above_rank_is_exact():
    U, V = _frames(40, 2, 3)
    prob = dln.Factorization.from_factors(U, np.array([1.0, 0.7]), V, reduction="sum")
    net = im.ImplicitNetwork.orthogonal([40] * 4, 3e-2, seed=2)
    res = ti.train_implicit(net, prob, 0.3, 300, compress=4)
    wide = dln.train(net.dense(), prob, 0.3, 300, n_threads=1)
    for a, b in zip(res.network.dense().weights, wide.network.weights):
        assert _rel(a, b) <= 1e-11


def test_dense_factorization_and_momentum():
    U, V = _frames(30, 2, 4)
    prob = dln.Factorization((U * np.array([1.0, 0.5])) @ V.T, reduction="sum")
    net = im.ImplicitNetwork.orthogonal([30] * 3, 5e-2, seed=3)
    res = ti.train_implicit(net, prob, 0.05, 200, optimizer="momentum")
    wide = dln.train(net.dense(), prob, 0.05, 200, optimizer="momentum", n_threads=1)
    for a, b in zip(res.network.dense().weights, wide.network.weights):
        assert _rel(a, b) <= 1e-11


# ---------------------------------------------------------------------------------------------------
# Bad input: named, before any work

def test_bad_network_arguments():
    with pytest.raises(TypeError, match="^implicit:"):
        dln.Network.orthogonal([4, 4], implicit="yes")
    with pytest.raises(ValueError, match="^activation:"):
        dln.Network.orthogonal([4, 4], implicit=True, activation="relu")
    with pytest.raises(ValueError, match=r"^widths\[1\]:"):
        im.ImplicitNetwork.orthogonal([4, 0])
    with pytest.raises(ValueError, match="^widths:"):
        im.ImplicitNetwork.orthogonal([4])
    with pytest.raises(ValueError, match="^scale:"):
        im.ImplicitNetwork.orthogonal([4, 4], scale=-1.0)
    with pytest.raises(ValueError, match="^seed:"):
        im.ImplicitNetwork.orthogonal([4, 4], seed=-1)
    with pytest.raises(TypeError, match="^dtype:"):
        im.ImplicitNetwork.orthogonal([4, 4], dtype=np.int32)
    net = im.ImplicitNetwork.orthogonal([4, 5], 1.0)
    with pytest.raises(ValueError, match="^l:"):
        net.apply(1, np.ones(4))
    with pytest.raises(ValueError, match="^X:"):
        net.apply(0, np.ones(5))
    with pytest.raises(ValueError, match="^X:"):
        net.end_to_end_apply(np.full(4, np.nan))
    with pytest.raises(TypeError, match="^X:"):
        net.apply(0, np.ones(4, dtype=int))


def test_bad_training_arguments():
    U, V = _frames(20, 2, 5)
    prob = dln.Factorization.from_factors(U, np.ones(2), V)
    net = im.ImplicitNetwork.orthogonal([20] * 3, 1e-2)
    cases = [
        (dict(net=net.dense()), TypeError, "net"),
        (dict(net=im.ImplicitNetwork.orthogonal([20, 30, 20], 1e-2)), ValueError, "net"),
        (dict(problem=dln.Regression(np.eye(20), np.eye(20))), ValueError, "problem"),
        (dict(problem=dln.Factorization.from_factors(U[:10], np.ones(2), V[:10])), ValueError, "problem"),
        (dict(problem=dln.Completion(np.eye(20), np.eye(20))), ValueError, "compress"),  # needs a rank guess
        (dict(compress=11), ValueError, "compress"),
        (dict(compress="all"), ValueError, "compress"),
        (dict(optimizer="adam"), ValueError, "optimizer"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(steps=-1), ValueError, "steps"),
        (dict(lr_scale=[1.0] * 4), ValueError, "lr_scale"),
        (dict(outer_lr_scale=0.01), ValueError, "outer_lr_scale"),
    ]
    for change, exc, name in cases:
        kw = dict(net=net, problem=prob, lr=0.1, steps=10, compress="auto")
        kw.update(change)
        with pytest.raises(exc, match=f"^{name}:"):
            ti.train_implicit(**kw)


# ---------------------------------------------------------------------------------------------------
# Memory: width 2e5 in well under 1 GB

_MEMORY_RUN = r"""
import json, resource, sys
import numpy as np
import dln
from dln import implicit as im
from dln.training import implicit as ti
d, r = 200000, 5
rng = np.random.default_rng(0)
U, V = rng.standard_normal((d, r)), rng.standard_normal((d, r))
prob = dln.Factorization.from_factors(U, np.linspace(1.0, 0.5, r) / d, V, reduction="sum")
net = dln.Network.orthogonal([d] * 4, 1e-3, seed=1, implicit=True)
res = ti.train_implicit(net, prob, 0.3, 30000, tol=1e-9, n_threads=1)
x = res.network.end_to_end_apply(rng.standard_normal(d))
sv = res.network.singular_values(1)
print(json.dumps(dict(rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, status=res.status,
                      loss=res.final_loss, closed=prob.loss(res.network), n_sv=len(sv),
                      finite=bool(np.isfinite(x).all()))))
"""


def test_width_2e5_memory():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _MEMORY_RUN], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["rss"] < 1 << 30, info  # peak resident set of that run (Linux reports KiB)
    assert info["status"] == "converged" and info["finite"] and info["n_sv"] == 200000
    assert np.isclose(info["closed"], info["loss"], rtol=1e-6, atol=1e-14)
