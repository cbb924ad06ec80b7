"""The C++ compression (dln/compress.hpp, bound as dln._core.compress, overloaded by dtype) against NumPy.

Independent checks: the subspace against the closed form written here in NumPy (SCIENCE.md 3) and
against the Python implementation (dln.compression), as spans (sine of the largest principal
angle), never as sign-ambiguous vectors; the chain's shape and blocks; and the law of parsimony
itself: the C++ lift of a trained chain equals the wide network trained directly.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dln
from dln import _core
from dln.compression import compress as py_compress

SUBSPACE_SINE = 1e-12
LIFT_RTOL = 1e-10


def low_rank(d, r, seed):
    U, s, Vt = np.linalg.svd(np.random.default_rng(seed).standard_normal((d, d)))
    return (U[:, :r] * s[:r]) @ Vt[:r] / np.sqrt(d)


def sine(A, B):
    """||A - B B^T A||_2 for orthonormal A and B of equal width."""
    return np.linalg.norm(A - B @ (B.T @ A), 2)


def closed_form(weights, phi, r):
    U, _, Vt = np.linalg.svd(phi)
    X = U[:, :r]
    for w in reversed(weights):
        X = w.T @ X
    return np.linalg.qr(np.hstack([Vt[:r].T, X / np.linalg.norm(X, axis=0)]))[0]


def cpp(net, problem, r, **kw):
    fn = _core.compress
    return fn(net.weights, problem._net_core(net), r, **kw)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(8, 40), depth=st.integers(1, 4), r=st.integers(1, 3), seed=st.integers(0, 10_000),
       scale=st.floats(0.05, 1.0))
def test_subspace_and_chain_match_numpy(d, depth, r, seed, scale):
    phi = low_rank(d, r, seed)
    net = dln.Network.orthogonal([d] * (depth + 1), scale=scale, seed=seed)
    problem = dln.Factorization(phi)
    c = cpp(net, problem, r)
    V = np.asarray(c.basis[0])
    assert V.shape == (d, 2 * r)
    assert np.max(np.abs(V.T @ V - np.eye(2 * r))) <= 1e-13
    assert sine(V, closed_form(net.weights, phi, r)) <= SUBSPACE_SINE
    py = py_compress(net, problem, r)
    for b_cpp, b_py in zip(c.basis, py.basis):
        assert sine(np.asarray(b_cpp), b_py) <= SUBSPACE_SINE
    assert c.exact is py.exact is True
    assert c.scale == pytest.approx(py.scale, rel=1e-15)
    chain = [np.asarray(w) for w in c.chain]
    assert [w.shape for w in chain] == [w.shape for w in py.network.weights]
    for w in chain[1:-1]:
        np.testing.assert_array_equal(w, c.scale * np.eye(2 * r))
    assert list(c.lr_scale) == list(py.lr_scale)
    # The gradient method finds the same span from the gradient at t = 0.
    fn = _core.invariant_subspace
    Vg = np.asarray(fn(net.weights, problem._net_core(net), r, "gradient"))
    assert sine(Vg, V) <= 1e-9


@settings(max_examples=10, deadline=None)
@given(d=st.integers(10, 30), depth=st.integers(2, 4), r=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_lift_equals_wide_training(d, depth, r, seed):
    phi = low_rank(d, r, seed)
    net = dln.Network.orthogonal([d] * (depth + 1), scale=0.5, seed=seed)
    problem = dln.Factorization(phi)
    lr, steps = 0.1 * d * d, 60  # eta = 0.1: stable (a larger step oscillates and amplifies rounding)
    c = cpp(net, problem, r)
    wide = dln.train(net, problem, lr=lr, steps=steps, n_threads=1)
    chain = dln.train(dln.Network([np.asarray(w) for w in c.chain]), problem, lr=lr, steps=steps,
                      lr_scale=list(c.lr_scale), n_threads=1)
    rho = dln.analysis.rho_recursion(c.scale, lr, depth, steps, scale=problem.scale)[-1]
    lifted = c.lift(net.weights, chain.network.weights, rho)
    for a, b in zip(lifted, wide.network.weights):
        assert np.linalg.norm(np.asarray(a) - b) <= LIFT_RTOL * np.linalg.norm(b)


def test_float32_networks_compress():
    d, r = 20, 2
    net = dln.Network.orthogonal([d] * 4, scale=0.5, seed=5, dtype="float32")
    c = cpp(net, dln.Factorization(low_rank(d, r, 1).astype(np.float32)), r)
    assert [np.asarray(w).dtype for w in c.chain] == [np.float32] * 5
    assert np.max(np.abs(np.asarray(c.basis[0]).T @ np.asarray(c.basis[0]) - np.eye(2 * r))) <= 1e-13
    py = py_compress(net, dln.Factorization(low_rank(d, r, 1).astype(np.float32)), r)  # the same in Python
    assert sine(np.asarray(c.basis[0]), py.basis[0]) <= 1e-6


@pytest.mark.parametrize("kw, name", [({"rank": 0}, "rank"), ({"rank": 11}, "rank"),
                                      ({"rank": 2, "outer_lr_scale": -1.0}, "outer_lr_scale"),
                                      ({"rank": 2, "method": "svd"}, "method")])
def test_bad_input_named(kw, name):
    d = 20
    net = dln.Network.orthogonal([d] * 3, scale=0.5, seed=1)
    problem = dln.Factorization(low_rank(d, 2, 1))
    r = kw.pop("rank")
    with pytest.raises(ValueError, match=f"^{name}:"):
        cpp(net, problem, r, **kw)
