"""Initialisation (``dln.Network.orthogonal`` / ``gaussian`` / ``uniform``, SCIENCE.md section 1).

Orthogonal layers are ``scale`` times the top-left block of a Haar matrix, so the smaller Gram
matrix of every layer is ``scale^2 I`` up to the QR's rounding. Gaussian and uniform layers are
rescaled to the orthogonal layer's Frobenius norm ``scale * sqrt(min(m, n))``; their statistics are
checked with z-scores over thousands of entries against a 5-sigma (or p = 1e-6) bound, so a wrong
factor (e.g. a missing ``sqrt(3)``) fails while a correct generator passes with overwhelming
probability. Seeds are fixed, so every statistical check is deterministic.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import dln

INITS = {
    "orthogonal": dln.Network.orthogonal,
    "gaussian": dln.Network.gaussian,
    "uniform": dln.Network.uniform,
}
F32_EPS = float(np.finfo(np.float32).eps)

# The smaller Gram matrix of an orthogonal layer, relative to scale^2. float64: Householder QR of
# an n x n Gaussian is orthogonal to ~n * eps64 (~1e-14 at n = 48); the brief's bound is 1e-13.
# float32 weights are the float64 ones rounded (|delta| <= u |w|, u = eps32 / 2), so by
# Cauchy-Schwarz every Gram entry moves by at most (2u + u^2) scale^2 on top of the float64 error.
GRAM_BOUND = {
    np.float64: 1e-13,
    np.float32: F32_EPS + F32_EPS**2 / 4 + 2e-13,
}

widths_st = st.lists(st.integers(1, 48), min_size=2, max_size=4)
scale_st = st.floats(1e-3, 1e3)
seed_st = st.integers(0, 2**64 - 1)


def small_gram(w):
    """``W^T W`` or ``W W^T``, whichever is smaller, in float64."""
    w = np.asarray(w, dtype=np.float64)
    m, n = w.shape
    return w.T @ w if n <= m else w @ w.T


def assert_gram_is_scaled_identity(weights, scale, dtype):
    for l, w in enumerate(weights):
        g = small_gram(w)
        err = np.abs(g - scale**2 * np.eye(g.shape[0])).max() / scale**2
        assert err <= GRAM_BOUND[dtype], (
            f"layer {l} of shape {w.shape}: max |Gram - scale^2 I| / scale^2 = {err:.3e} > {GRAM_BOUND[dtype]:.1e}")


# --- orthogonal ------------------------------------------------------------------------------------


@given(widths=widths_st, scale=scale_st, seed=seed_st)
def test_orthogonal_gram_float64(widths, scale, seed):
    net = dln.Network.orthogonal(widths, scale=scale, seed=seed)
    assert net.dtype == np.float64
    assert net.widths == widths
    assert [w.shape for w in net.weights] == [(widths[l + 1], widths[l]) for l in range(len(widths) - 1)]
    assert_gram_is_scaled_identity(net.weights, scale, np.float64)


@given(widths=widths_st, scale=scale_st, seed=seed_st)
def test_orthogonal_gram_float32(widths, scale, seed):
    net = dln.Network.orthogonal(widths, scale=scale, seed=seed, dtype=np.float32)
    assert net.dtype == np.float32
    assert all(w.dtype == np.float32 for w in net.weights)
    assert_gram_is_scaled_identity(net.weights, scale, np.float32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (1, 64), (64, 1), (5, 5), (3, 11), (11, 3)])
def test_orthogonal_degenerate_shapes(shape, dtype):
    """1 x n and n x 1 layers: a unit row / column times scale (the Gram is 1 x 1)."""
    m, n = shape
    scale = 0.37
    (w,) = dln.Network.orthogonal([n, m], scale=scale, seed=11, dtype=dtype).weights
    assert w.shape == (m, n)
    assert_gram_is_scaled_identity([w], scale, dtype)
    if min(m, n) == 1:
        norm = np.linalg.norm(w.astype(np.float64))
        assert abs(norm - scale) <= GRAM_BOUND[dtype] * scale


def test_orthogonal_is_haar():
    """Sign-fixed QR: diagonal entries of Haar Q have mean 0 (variance 1/n) and det = +-1 equally.

    Plain Householder QR without the sign fix gives e.g. Q[0, 0] < 0 always (mean ~ -0.4 at n = 4).
    """
    n, trials = 4, 600
    qs = np.array([dln.Network.orthogonal([n, n], seed=s).weights[0] for s in range(trials)])
    diag_mean = np.einsum("tii->ti", qs).mean(axis=0)  # per diagonal position
    z = diag_mean / np.sqrt(1.0 / n / trials)
    assert np.all(np.abs(z) < 5), f"diagonal means {diag_mean} (z = {z}) are not centred"
    dets = np.linalg.det(qs)
    assert np.allclose(np.abs(dets), 1.0, rtol=0, atol=1e-13)
    frac = np.mean(dets > 0)
    assert abs(frac - 0.5) < 5 * 0.5 / np.sqrt(trials), f"fraction with det = +1 is {frac}"


# --- seeds and dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(INITS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_seed_same_bits(kind, dtype):
    widths = [7, 1, 9, 9, 4]
    a = INITS[kind](widths, scale=0.8, seed=12345, dtype=dtype).weights
    b = INITS[kind](widths, scale=0.8, seed=12345, dtype=dtype).weights
    for wa, wb in zip(a, b):
        assert wa.dtype == wb.dtype == dtype
        assert wa.tobytes() == wb.tobytes()


@pytest.mark.parametrize("kind", sorted(INITS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seeds", [(0, 1), (1, 2), (2**63, 2**63 + 1), (2**64 - 1, 0)])
def test_different_seeds_differ(kind, dtype, seeds):
    widths = [5, 6, 3]
    a = INITS[kind](widths, seed=seeds[0], dtype=dtype).weights
    b = INITS[kind](widths, seed=seeds[1], dtype=dtype).weights
    for l, (wa, wb) in enumerate(zip(a, b)):
        assert not np.array_equal(wa, wb), f"layer {l} equal for seeds {seeds}"


@pytest.mark.parametrize("kind", sorted(INITS))
def test_layers_come_from_one_stream(kind):
    """Square layers of one network are different draws, not the same draw repeated."""
    ws = INITS[kind]([6, 6, 6, 6], seed=3).weights
    for i in range(len(ws)):
        for j in range(i):
            assert not np.array_equal(ws[i], ws[j])


@pytest.mark.parametrize("kind", sorted(INITS))
@given(widths=widths_st, scale=scale_st, seed=seed_st)
def test_float32_is_rounded_float64(kind, widths, scale, seed):
    w64 = INITS[kind](widths, scale=scale, seed=seed, dtype=np.float64).weights
    w32 = INITS[kind](widths, scale=scale, seed=seed, dtype=np.float32).weights
    for a, b in zip(w64, w32):
        assert b.dtype == np.float32
        assert np.array_equal(a.astype(np.float32), b)


# --- gaussian and uniform --------------------------------------------------------------------------

STAT_SHAPES = [(120, 80), (80, 120), (70, 70), (1, 4000), (4000, 1)]


def factor(kind, m, n, scale):
    k = min(m, n)
    return scale * np.sqrt((3.0 if kind == "uniform" else 1.0) * k / (m * n))


@pytest.mark.parametrize("kind", ["gaussian", "uniform"])
def test_shapes(kind):
    widths = [3, 1, 8, 8, 2, 5]
    net = INITS[kind](widths, seed=2)
    assert net.widths == widths and net.depth == 5
    assert [w.shape for w in net.weights] == [(widths[l + 1], widths[l]) for l in range(5)]
    assert all(np.isfinite(w).all() for w in net.weights)


@pytest.mark.parametrize("shape", STAT_SHAPES)
@pytest.mark.parametrize("kind", ["gaussian", "uniform"])
def test_frobenius_norm(kind, shape):
    """``||W||_F^2 / (scale^2 min(m, n))`` is a mean of m n iid terms with mean 1: 5-sigma bound.

    Per entry, (W / (scale sqrt(min/(m n))))^2 has variance 2 (Gaussian) or 4/5 (sqrt(3) U[-1, 1]).
    """
    m, n = shape
    scale = 0.6
    (w,) = INITS[kind]([n, m], scale=scale, seed=101).weights
    N = m * n
    ratio = np.sum(w**2) / (scale**2 * min(m, n))
    sd = np.sqrt((2.0 if kind == "gaussian" else 0.8) / N)
    assert abs(ratio - 1.0) < 5 * sd, (
        f"||W||_F = {np.linalg.norm(w):.5g} vs scale sqrt(min) = {scale * np.sqrt(min(m, n)):.5g}: "
        f"ratio of squares {ratio:.5f}, {abs(ratio - 1) / sd:.1f} sigma")
    # The mean is 0: sum of entries / (f sqrt(N)) is standard-ish (unit variance per entry for the
    # Gaussian, 1/3 for U[-1, 1]).
    f = factor(kind, m, n, scale)
    z = np.sum(w / f) / np.sqrt(N * (1.0 if kind == "gaussian" else 1.0 / 3.0))
    assert abs(z) < 5, f"mean of entries is {np.mean(w):.3e} ({z:.1f} sigma)"


@pytest.mark.parametrize("shape", STAT_SHAPES)
@pytest.mark.parametrize("kind", ["gaussian", "uniform"])
def test_distribution_shape(kind, shape):
    """Kolmogorov-Smirnov against N(0, 1) / U[-1, 1] after dividing by the documented factor."""
    m, n = shape
    (w,) = INITS[kind]([n, m], scale=2.5, seed=202).weights
    x = (w / factor(kind, m, n, 2.5)).ravel()
    ref = stats.norm() if kind == "gaussian" else stats.uniform(loc=-1, scale=2)
    p = stats.kstest(x, ref.cdf).pvalue
    assert p > 1e-6, f"KS p-value {p:.2e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", STAT_SHAPES + [(1, 1), (2, 3)])
def test_uniform_bound(shape, dtype):
    """``|W_ij| <= scale sqrt(3 min / (m n))`` (a few ulp for the product), and the bound is reached.

    With N entries, ``P(max |W| < (1 - 20/N) bound) ~ exp(-20)``: a bound that is too loose fails.
    """
    m, n = shape
    scale = 1.3
    bound = factor("uniform", m, n, scale)
    (w,) = INITS["uniform"]([n, m], scale=scale, seed=303, dtype=dtype).weights
    tiny_slack = 4 * np.finfo(dtype).eps
    assert np.abs(w).max() <= bound * (1 + tiny_slack)
    N = m * n
    if N >= 1000:
        assert np.abs(w).max() >= bound * (1 - 20.0 / N)


# --- bad arguments ---------------------------------------------------------------------------------

BAD_WIDTHS = [
    ([], ValueError), ([4], ValueError), ([3, 0, 2], ValueError), ([3, -1], ValueError),
    ([3.0, 2], TypeError), ([3, True], TypeError), ([3, "2"], TypeError), ([3, None], TypeError),
    ("32", TypeError), (3, TypeError), (None, TypeError),
    ([2**70, 1], (ValueError, TypeError, OverflowError)),
]


def _match(name):
    """Messages start with the parameter's name (see ``dln._checks``)."""
    return "^" + re.escape(name)


@pytest.mark.parametrize("kind", sorted(INITS))
@pytest.mark.parametrize("widths, exc", BAD_WIDTHS, ids=[repr(w) for w, _ in BAD_WIDTHS])
def test_bad_widths(kind, widths, exc):
    with pytest.raises(exc, match=_match("widths")):
        INITS[kind](widths)


@pytest.mark.parametrize("kind", sorted(INITS))
@pytest.mark.parametrize("scale, exc", [
    (float("nan"), ValueError), (float("inf"), ValueError), (-float("inf"), ValueError),
    ("1", TypeError), (None, TypeError), (True, TypeError), (1j, TypeError), (np.array([1.0, 2.0]), TypeError),
])
def test_bad_scale(kind, scale, exc):
    with pytest.raises(exc, match=_match("scale")):
        INITS[kind]([3, 4], scale=scale)


@pytest.mark.parametrize("kind", sorted(INITS))
@pytest.mark.parametrize("seed, exc", [
    (-1, ValueError), (2**64, ValueError), (1.5, TypeError), (1.0, TypeError), ("7", TypeError),
    (None, TypeError), (True, TypeError),
])
def test_bad_seed(kind, seed, exc):
    with pytest.raises(exc, match=_match("seed")):
        INITS[kind]([3, 4], seed=seed)


@pytest.mark.parametrize("kind", sorted(INITS))
@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.complex128, np.longdouble, "bogus"])
def test_bad_dtype(kind, dtype):
    with pytest.raises(TypeError, match=_match("dtype")):
        INITS[kind]([3, 4], dtype=dtype)


@pytest.mark.parametrize("kind", sorted(INITS))
def test_seed_bounds_are_valid(kind):
    """The extreme valid seeds (0 and 2**64 - 1, also as numpy integers) are accepted and differ."""
    a = INITS[kind]([2, 3], seed=0).weights[0]
    b = INITS[kind]([2, 3], seed=2**64 - 1).weights[0]
    c = INITS[kind]([2, 3], seed=np.uint64(2**64 - 1)).weights[0]
    assert np.array_equal(b, c) and not np.array_equal(a, b)
