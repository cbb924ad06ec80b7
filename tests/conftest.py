"""Shared test configuration: thread limits, the tolerance table, hypothesis profiles, fixtures.

Tolerances live here and nowhere else. Every comparison uses both an ``rtol`` and an ``atol``;
comparisons of whole layers are norm-wise, ``||a - e||_F <= rtol * scale + atol`` with ``scale``
``||e||_F`` unless a test states a better-founded scale (e.g. :func:`dln.reference.gradient_scale`).
"""

import os

# Before numpy is imported: BLAS/OpenMP pools read these once at load time. Results must not
# depend on the machine's core count, and one thread keeps hypothesis runs cheap.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

try:  # numpy may already have been imported by a plugin, so also limit the live pools.
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl is optional
    threadpool_limits = None

if threadpool_limits is not None:
    _LIMITS = threadpool_limits(limits=1)


# One table. ``np.float64`` / ``np.float32``: engine vs reference, same inputs, differences due to
# rounding only (summation order, prefix/suffix products, covariance form), budgeted for runs of
# 20-30 steps. ``("step", dtype)``: a single optimiser update, O(1) roundings of the update and of
# the gradient that feeds it, so ~10 ulp. ``"fd"``: central finite differences in float64. The
# loss is quadratic in every single weight entry (the network is linear in each layer), so central
# differences have no truncation error and only rounding (~ eps * loss / h, h = FD_STEP) remains.
# Every comparison is relative to a stated scale, so atol is the smallest normal number: it only
# lets exact zeros (e.g. unobserved entries of a 1-layer completion gradient) compare equal.
_TINY64 = float(np.finfo(np.float64).tiny)
_TINY32 = float(np.finfo(np.float32).tiny)
TOL = {
    np.float64: dict(rtol=1e-12, atol=_TINY64),
    np.float32: dict(rtol=1e-5, atol=_TINY32),
    ("step", np.float64): dict(rtol=1e-14, atol=_TINY64),
    ("step", np.float32): dict(rtol=1e-6, atol=_TINY32),
    "fd": dict(rtol=1e-9, atol=_TINY64),
}
FD_STEP = 1e-2


def tol_for(dtype):
    """Row of :data:`TOL` for a dtype, ``("step", dtype)`` or ``"fd"``."""
    if isinstance(dtype, str):
        return TOL[dtype]
    if isinstance(dtype, tuple):
        return TOL[(dtype[0], np.dtype(dtype[1]).type)]
    return TOL[np.dtype(dtype).type]


# ``ci`` (default) is derandomised so that a run is reproducible and cheap; ``dev`` searches more.
# Select with HYPOTHESIS_PROFILE=dev.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=25,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=200, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _layers_close(actual, expected, dtype, scales=None, what="layer"):
    """Assert norm-wise closeness of two lists of arrays, layer by layer."""
    t = tol_for(dtype)
    assert len(actual) == len(expected), f"{len(actual)} {what}s vs {len(expected)}"
    for l, (a, e) in enumerate(zip(actual, expected)):
        a = np.asarray(a, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        assert a.shape == e.shape, f"{what} {l}: shape {a.shape} vs {e.shape}"
        scale = np.linalg.norm(e) if scales is None else scales[l]
        err = np.linalg.norm(a - e)
        bound = t["rtol"] * scale + t["atol"]
        assert err <= bound, (
            f"{what} {l}: ||actual - expected||_F = {err:.3e} > {bound:.3e} "
            f"(scale {scale:.3e}, rel {err / scale if scale else np.inf:.3e}, rtol {t['rtol']:g})"
        )


def _history_close(actual, expected, dtype, scale=None):
    """Assert two loss histories agree entry-wise: ``|a - e| <= rtol * max(|e|, scale) + atol``.

    ``scale`` (scalar or one per entry) is the size of the terms the loss is computed from, e.g.
    :func:`dln.reference.loss_scale`: the engine's covariance-form regression loss carries
    cancellation error ~ eps * that scale, not ~ eps * loss.
    """
    t = tol_for(dtype)
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"history length {actual.shape} vs {expected.shape}"
    scale = np.abs(expected) if scale is None else np.maximum(np.abs(expected), scale)
    err = np.abs(actual - expected)
    bad = ~(err <= t["rtol"] * scale + t["atol"])
    assert not bad.any(), (
        f"loss entries {np.flatnonzero(bad)[:10]} differ: actual {actual[bad][:5]}, "
        f"expected {expected[bad][:5]}, rel to scale {(err / scale)[bad][:5]} > rtol {t['rtol']:g}"
    )


@pytest.fixture(scope="session")
def tol():
    """``tol(dtype)`` -> ``dict(rtol=..., atol=...)`` from the single table."""
    return tol_for


@pytest.fixture(scope="session")
def fd_step():
    return FD_STEP


@pytest.fixture(scope="session")
def assert_layers_close():
    """``assert_layers_close(actual, expected, dtype, scales=None, what="layer")``."""
    return _layers_close


@pytest.fixture(scope="session")
def assert_history_close():
    """``assert_history_close(actual, expected, dtype, scale=None)``."""
    return _history_close


def _make_problem_data(kind, d_in, d_out, rng, n_samples=None):
    """Random data for one problem kind, sized so that unit-scale inits are well-conditioned.

    Returns a dict of the arrays the problem constructor takes (``target``; ``X``, ``Y``;
    ``target``, ``mask``). Targets have spectral norm 1 and ``X`` has spectral norm 1, so the
    sum-reduced GD Hessian at an init of scale <= 1 is bounded by about ``L``.
    """
    if kind == "factorization":
        target = rng.standard_normal((d_out, d_in))
        return dict(target=target / np.linalg.norm(target, 2))
    if kind == "completion":
        target = rng.standard_normal((d_out, d_in))
        mask = rng.random((d_out, d_in)) < 0.6
        mask.flat[rng.integers(mask.size)] = True  # at least one observed entry
        return dict(target=target / np.linalg.norm(target, 2), mask=mask)
    if kind == "regression":
        n = int(n_samples if n_samples is not None else rng.integers(1, 10))
        X = rng.standard_normal((d_in, n))
        Y = rng.standard_normal((d_out, n))
        return dict(X=X / np.linalg.norm(X, 2), Y=Y / np.linalg.norm(Y, 2))
    raise ValueError(kind)


@pytest.fixture(scope="session")
def make_problem_data():
    """``make_problem_data(kind, d_in, d_out, rng, n_samples=None)`` -> dict of arrays."""
    return _make_problem_data


# --- helpers shared by the tracker tests ---------------------------------------------------------


def gesvd(w):
    """The SVD the tracker tests compare against (LAPACK gesvd, float64)."""
    import scipy.linalg

    return scipy.linalg.svd(np.asarray(w, dtype=np.float64), lapack_driver="gesvd")


def haar(d, rng):
    """A Haar-distributed d x d orthogonal matrix."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def sine(a, b):
    """Largest principal angle (sine) of span(a) against span(b), orthonormal, a not wider than b."""
    assert a.shape[1] <= b.shape[1]
    if a.shape[1] == 0:
        return 0.0
    return float(np.linalg.norm(a - b @ (b.T @ a), 2))


def reference_problem(kind, data, reduction, dtype=np.float64):
    """The independent NumPy problem (dln.reference) on the data as the engine sees them: rounded to
    ``dtype``, held in float64."""
    data = {k: (v if k == "mask" else v.astype(dtype).astype(np.float64)) for k, v in data.items()}
    return reference_problem_from(kind, data, reduction)


def reference_problem_from(kind, data, reduction):
    """The independent NumPy problem (dln.reference) of one kind on generated data."""
    from dln import reference as ref

    if kind == "factorization":
        return ref.Factorization(data["target"], reduction)
    if kind == "regression":
        return ref.Regression(data["X"], data["Y"], reduction)
    return ref.Completion(data["target"], data["mask"], reduction)


def central_differences(weights, loss, h):
    """Central differences of ``loss(weights)`` entry by entry (exact for quadratics)."""
    grads = []
    for l, w in enumerate(weights):
        g = np.empty_like(w)
        for idx in np.ndindex(w.shape):
            plus = [x.copy() for x in weights]
            minus = [x.copy() for x in weights]
            plus[l][idx] += h
            minus[l][idx] -= h
            g[idx] = (loss(plus) - loss(minus)) / (2 * h)
        grads.append(g)
    return grads
