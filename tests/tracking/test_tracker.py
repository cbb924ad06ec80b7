"""SVD tracking (SCIENCE.md section 4) against scipy.linalg.svd(lapack_driver="gesvd").

Invariants only: singular values, residuals ``||W v - sigma u|| / ||W||``, orthogonality, and
subspaces compared by the sine of the largest principal angle (never arccos of cosines), so sign and
rotation ambiguities inside repeated singular values cannot make a test pass or fail.
Bounds are the issue's: values within 1e-12 sigma_1 (x (1 + steps / 1e4)), residuals 1e-12,
orthogonality 1e-13 (re-orthonormalisation at 100 ulp = 2.2e-14).
"""


import numpy as np
import pytest
from conftest import gesvd, haar, sine
from hypothesis import given
from hypothesis import strategies as st

import dln

SV_TOL = 1e-12
RES_TOL = 1e-12
ORTH_TOL = 1e-13


def check_against(tr, W, steps=0, p=None):
    """Spectrum, top-p triplet residuals and orthogonality of a tracker against gesvd of W."""
    u, s, vt = gesvd(W)
    bound = SV_TOL * s[0] * (1 + steps / 1e4)
    err = np.abs(tr.spectrum() - s).max()
    assert err <= bound, f"singular values off by {err:.3e} > {bound:.3e}"
    p = min(W.shape[0], 10) if p is None else p
    U, S, V = tr.triplets(p)
    res = np.linalg.norm(W @ V - U * S, axis=0).max() / np.linalg.norm(W, 2)
    assert res <= RES_TOL, f"triplet residual {res:.3e}"
    assert np.abs(V.T @ V - np.eye(p)).max() <= ORTH_TOL and np.abs(U.T @ U - np.eye(p)).max() <= ORTH_TOL
    assert tr.orthogonality <= ORTH_TOL
    return u, s, vt


def structured(d, rho, rng):
    Q = haar(d, rng)
    return Q, rho * Q


def test_random_low_rank_updates_exact():
    rng = np.random.default_rng(1)
    d = 150
    Q, W = structured(d, 0.7, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=0.7)
    assert tr.rank == 0
    for t in range(15):
        k = 1 + t % 3
        A, B = rng.standard_normal((d, k)) * 0.1, rng.standard_normal((d, k))
        alpha = 1.0 - 1e-3 * t
        info = tr.update(A, B, alpha)
        W = alpha * W + A @ B.T
        assert info["projection_residual"] <= 1e-13
    # rank grows by 2k per update at most, and s equals the rank of Q^T W - rho I (exactly known here)
    L = Q.T @ W - tr.rho * np.eye(d)
    assert tr.rank == np.linalg.matrix_rank(np.hstack([L, L.T]), tol=1e-10)
    check_against(tr, W, p=d)  # every triplet, including the bulk ones
    assert tr.certificate(W) <= RES_TOL and tr.error(W) <= RES_TOL
    assert tr.rho == pytest.approx(0.7 * np.prod(1.0 - 1e-3 * np.arange(15)), rel=1e-15)


def test_polar_structure_found_without_q():
    rng = np.random.default_rng(2)
    d, rho = 80, 0.3
    Q, W = structured(d, rho, rng)
    V0 = np.linalg.qr(rng.standard_normal((d, 4)))[0]
    W = W + Q @ V0 @ np.diag([2.0, 1.0, 0.5, 0.1]) @ V0.T
    tr = dln.SvdTracker(W)  # Q from the polar factor, rho from the repeated value
    assert tr.rank == 4 and tr.rho == pytest.approx(rho, rel=1e-13)
    check_against(tr, W)
    # told Q only: rho from randomised probes
    tr2 = dln.SvdTracker(W, Q=Q)
    assert tr2.rank == 4 and abs(tr2.rho - rho) <= 1e-13
    check_against(tr2, W)


def test_deflation_returns_to_bulk():
    rng = np.random.default_rng(3)
    d = 60
    Q, W = structured(d, 1.0, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=1.0)
    a, b = rng.standard_normal((d, 2)), rng.standard_normal((d, 2))
    tr.update(a, b)
    assert tr.rank == 4
    info = tr.update(-a, b)
    assert tr.rank == 0 and info["deflated"] == 4
    check_against(tr, W)


def test_repeated_singular_values_compared_as_subspaces():
    rng = np.random.default_rng(4)
    d = 100
    Q, W = structured(d, 0.5, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=0.5)
    V0 = np.linalg.qr(rng.standard_normal((d, 3)))[0]
    tr.update(Q @ V0 * 2.0, V0)  # Q^T W = rho I + 2 V0 V0^T: sigma = 2.5 three times
    W = W + 2.0 * Q @ V0 @ V0.T
    u, s, vt = check_against(tr, W, p=3)
    U, S, V = tr.triplets(3)
    assert np.allclose(S, 2.5, rtol=0, atol=1e-14)
    assert sine(V, V0) <= 1e-13 and sine(V, vt[:3].T) <= 1e-12 and sine(U, u[:, :3]) <= 1e-12


def test_nan_update_leaves_tracker_unchanged():
    rng = np.random.default_rng(5)
    d = 40
    Q, W = structured(d, 1.0, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=1.0)
    tr.update(rng.standard_normal((d, 2)), rng.standard_normal((d, 2)))
    before, rank = tr.spectrum().copy(), tr.rank
    A = rng.standard_normal((d, 1))
    A[3] = np.nan
    with pytest.raises(ValueError, match="^A: contains NaN"):
        tr.update(A, np.ones((d, 1)))
    with pytest.raises(ValueError, match="^alpha"):
        tr.update(np.ones((d, 1)), np.ones((d, 1)), alpha=np.inf)
    assert tr.rank == rank and np.array_equal(tr.spectrum(), before)


def test_bad_input_names_parameter():
    rng = np.random.default_rng(6)
    Q, W = structured(10, 1.0, rng)
    with pytest.raises(TypeError, match="^W"):
        dln.SvdTracker(np.eye(10, dtype=int))
    with pytest.raises(ValueError, match="^W: the structured tracker needs a square"):
        dln.SvdTracker(np.ones((3, 4)))
    with pytest.raises(ValueError, match="^Q: not orthogonal"):
        dln.SvdTracker(W, Q=np.ones((10, 10)))
    with pytest.raises(ValueError, match="^max_rank"):
        dln.SvdTracker(W, Q=Q, max_rank=0)
    tr = dln.SvdTracker(W, Q=Q, rho=1.0)
    with pytest.raises(ValueError, match="^A: expected 10 rows"):
        tr.update(np.ones((9, 1)), np.ones((10, 1)))
    with pytest.raises(ValueError, match="^B: expected 2 columns"):
        tr.update(np.ones((10, 2)), np.ones((10, 1)))
    with pytest.raises(TypeError, match="^B"):
        tr.update(np.ones((10, 1)), np.ones((10, 1), dtype=bool))
    with pytest.raises(TypeError, match="^alpha"):
        tr.update(np.ones((10, 1)), np.ones((10, 1)), alpha="1")
    with pytest.raises(ValueError, match="^p"):
        tr.triplets(11)
    with pytest.raises(TypeError, match="^track_svd"):
        dln.train(dln.Network.orthogonal([10, 10]), dln.Factorization(np.eye(10)), lr=0.1, steps=1, track_svd={})
    with pytest.raises(ValueError, match="^mode"):
        dln.train(dln.Network.orthogonal([10, 10]), dln.Factorization(np.eye(10)), lr=0.1, steps=1,
                  track_svd=dln.TrackSpec(mode="fast"))


def test_rank_growth_past_cap_is_reported():
    rng = np.random.default_rng(7)
    d = 50
    Q, W = structured(d, 1.0, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=1.0, max_rank=4)
    A, B = rng.standard_normal((d, 3)), rng.standard_normal((d, 3))
    with pytest.warns(RuntimeWarning, match="exceeds max_rank"):
        info = tr.update(A, B)
    W = W + A @ B.T
    assert info["over_cap"] and tr.rank == 6 and any("exceeds max_rank" in e for e in tr.events)
    check_against(tr, W)  # still exact
    with pytest.raises(ValueError, match="^W: not rho Q"):
        tr.restart(W)  # the live matrix really has rank 6 > 4 beyond rho Q


def test_dense_update_split_and_leaving_structure():
    rng = np.random.default_rng(8)
    d = 120
    Q, W = structured(d, 0.9, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=0.9)
    for _ in range(5):
        A, B = rng.standard_normal((d, 2)), rng.standard_normal((d, 2))
        W = 0.97 * W + Q @ A @ B.T  # alpha W + rank 2, unknown alpha
        info = tr.update_dense(W, max_update_rank=4)
        assert not info["split_failed"] and abs(info["alpha"] - 0.97) <= 1e-13
        assert info["range_residual"] <= 1e-13
    check_against(tr, W)
    assert tr.certificate(W) <= 1e-13
    before = tr.spectrum().copy()
    noisy = W + 1e-3 * rng.standard_normal((d, d))  # leaves the structure: must fail and say why
    info = tr.update_dense(noisy, max_update_rank=4)
    assert info["split_failed"] and "not alpha W + rank" in info["reason"]
    assert np.array_equal(tr.spectrum(), before) and any("split failed" in e for e in tr.events)


def test_float32():
    rng = np.random.default_rng(9)
    d = 64
    Q, W = structured(d, 1.0, rng)
    tr = dln.SvdTracker(W.astype(np.float32), Q=Q.astype(np.float32), rho=1.0)
    A, B = rng.standard_normal((d, 2)), rng.standard_normal((d, 2))
    tr.update(A, B)
    s = gesvd(W + A @ B.T)[1]
    assert np.abs(tr.spectrum() - s).max() <= 1e-5 * s[0]


def test_brand_tracker_reports_discarded_energy():
    rng = np.random.default_rng(10)
    m, n = 70, 50
    W = rng.standard_normal((m, 5)) @ rng.standard_normal((5, n))
    tr = dln.BrandTracker(W, max_rank=8)
    assert tr.discarded <= 1e-12 * np.linalg.norm(W)
    A, B = rng.standard_normal((m, 2)), rng.standard_normal((n, 2))
    tr.update(A, B, 0.5)
    W = 0.5 * W + A @ B.T
    s = gesvd(W)[1]
    assert np.abs(tr.spectrum()[:7] - s[:7]).max() <= SV_TOL * s[0]
    # past the cap: truncation, and the reported bound covers the true error
    A, B = rng.standard_normal((m, 4)), rng.standard_normal((n, 4))
    tr.update(A, B)
    W = W + A @ B.T
    true = np.linalg.norm(W) * tr.certificate(W)
    assert tr.rank == 8 and true > 0
    assert true <= tr.discarded * (1 + 1e-12), (true, tr.discarded)
    assert true == pytest.approx(np.sqrt(np.sum(gesvd(W)[1][8:] ** 2)), rel=1e-10)


# --- training integration --------------------------------------------------------------------------

def rank_r_target(d, r, rng):
    u, s, vt = np.linalg.svd(rng.standard_normal((d, d)))
    return (u[:, :r] * s[:r]) @ vt[:r]


def blocks(w, r):
    u, s, vt = gesvd(w)
    v = vt.T
    right = (v[:, :r], np.hstack([v[:, :r], v[:, -r:]]), v[:, -r:])
    return right, (u[:, :r], np.hstack([u[:, :r], u[:, -r:]]), u[:, -r:])


@pytest.mark.parametrize("kind,depth,d,steps,every", [("factorization", 3, 120, 600, 150),
                                                      ("regression", 2, 60, 400, 100),
                                                      ("factorization", 5, 40, 400, 200),
                                                      # the largest size, L = 2..4
                                                      ("factorization", 4, 400, 40, 20),
                                                      ("regression", 2, 400, 60, 20),
                                                      ("regression", 3, 400, 40, 20)])
def test_training_matches_gesvd_at_checkpoints(kind, depth, d, steps, every):
    rng = np.random.default_rng(11)
    r = 3
    phi = rank_r_target(d, r, rng)
    if kind == "factorization":
        problem = dln.Factorization(phi)
    else:  # whitened regression: X X^T = I, Y = Phi X
        X = haar(d, rng)
        problem = dln.Regression(X, phi @ X)
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1.0, seed=3)
    lr = 0.2 * d  # mean units; loss decreases steadily at these sizes
    spec = dln.TrackSpec(every=every, top_p=4, block_r=r, update_rank=2 * r)
    res = dln.train(net, problem, lr=lr, steps=steps, track_svd=spec, n_threads=1)
    tr = res.svd
    assert res.status == "max_steps" and tr.events == [] and tr.modes == ["structured"] * depth
    assert list(tr.steps) == list(range(0, steps + 1, every))
    assert (tr.rank[1:] == 2 * r).all() and (tr.rank[0] == 0).all()
    assert tr.certificate.max() <= 1e-12 and tr.orthogonality.max() <= ORTH_TOL
    assert tr.range_residual.max() <= 1e-12
    # independent reference: the same run stopped at each checkpoint (bitwise reproducible), gesvd
    ref1 = dln.train(net, problem, lr=lr, steps=tr.reference_step, n_threads=1).network.weights
    for i, k in enumerate(tr.steps):
        ws = dln.train(net, problem, lr=lr, steps=int(k), n_threads=1).network.weights
        for l, w in enumerate(ws):
            u, s, vt = gesvd(w)
            assert np.abs(tr.spectra[l][i] - s).max() <= SV_TOL * s[0] * (1 + k / 1e4)
            U, S, V = tr.top[i][l]
            assert np.linalg.norm(w @ V - U * S, axis=0).max() <= RES_TOL * s[0]
            if k >= tr.reference_step and k > 0:
                (rt, rm, rb), (lt, lm, lb) = blocks(ref1[l], r)
                (ct, cm, cb), (ut, um, ub) = blocks(w, r)
                expected = [sine(ct, rt), sine(cm, rm), sine(cb, rb)]
                got = tr.angles_right[i, l]
                # the bulk (middle) block does not move: law of parsimony (SCIENCE 7.2)
                assert got[1] <= 1e-10 and expected[1] <= 1e-10
                assert np.abs(got - expected).max() <= 1e-10, (k, l, got, expected)
                assert np.abs(tr.angles_left[i, l] - [sine(ut, lt), sine(um, lm), sine(ub, lb)]).max() <= 1e-10
    assert np.isnan(tr.angles_right[0]).all()  # step 0: all singular values equal, blocks undefined


def test_adam_leaves_structure_and_says_so():
    rng = np.random.default_rng(12)
    d = 30
    problem = dln.Factorization(rank_r_target(d, 3, rng))
    net = dln.Network.orthogonal([d] * 4, scale=1.0, seed=1)
    res = dln.train(net, problem, lr=1e-2, steps=20, optimizer="adam",
                    track_svd=dln.TrackSpec(every=5, update_rank=4, max_rank=20), n_threads=1)
    tr = res.svd
    assert "generic" in tr.modes and any("structure lost" in e for e in tr.events)
    for l, w in enumerate(res.network.weights):
        s = gesvd(w)[1]
        if tr.modes[l] == "generic":
            # Weyl: |sigma_i(W) - sigma_i(rep)| <= ||W - rep||_2 <= certificate * ||W||_F
            bound = tr.certificate[-1, l] * np.linalg.norm(w) * (1 + 1e-12) + 1e-15
            assert np.abs(tr.spectra[l][-1] - s).max() <= bound
            assert tr.discarded[-1, l] > 0


def test_long_run_stays_exact():
    """10^4 GD steps of the law-of-parsimony setting, tracked every step, checked at the end."""
    rng = np.random.default_rng(13)
    d, r, depth, steps = 60, 3, 3, 10_000
    problem = dln.Factorization(rank_r_target(d, r, rng))
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1.0, seed=5)
    spec = dln.TrackSpec(every=2000, top_p=2 * r + 1, block_r=r, update_rank=2 * r)
    res = dln.train(net, problem, lr=0.2 * d, steps=steps, track_svd=spec, n_threads=1)
    tr = res.svd
    assert res.steps == steps and tr.events == [] and tr.steps[-1] == steps
    assert tr.certificate.max() <= 1e-12 and tr.orthogonality.max() <= ORTH_TOL
    assert np.nanmax(tr.angles_right[1:, :, 1]) <= 1e-10  # the bulk never moves
    for l, w in enumerate(res.network.weights):
        s = gesvd(w)[1]
        assert np.abs(tr.spectra[l][-1] - s).max() <= SV_TOL * s[0] * (1 + steps / 1e4)
        U, S, V = tr.top[-1][l]
        assert np.linalg.norm(w @ V - U * S, axis=0).max() <= RES_TOL * s[0]


# --- property tests and the rank decisions of the fast update ----------------------------------------

@given(d=st.integers(1, 24), steps=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_property_random_updates_match_gesvd(d, steps, seed):
    """Random rank-1..3 updates of all sizes (down to 1e-6 of W), alpha != 1, degenerate d = 1, 2."""
    rng = np.random.default_rng(seed)
    rho = float(rng.uniform(0.2, 2.0))
    Q, W = structured(d, rho, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=rho)
    for _ in range(steps):
        k = int(rng.integers(1, 4))
        A = rng.standard_normal((d, k)) * 10.0 ** rng.uniform(-6, 0)
        B = rng.standard_normal((d, k))
        alpha = float(rng.uniform(0.5, 1.5))
        tr.update(A, B, alpha)
        W = alpha * W + A @ B.T
    assert tr.rank <= d
    check_against(tr, W, p=min(d, 10))
    assert tr.error(W) <= RES_TOL


def test_small_genuine_directions_are_kept():
    """Directions far below W but above rounding (1e-9, 1e-11 of ||W||) are tracked, not dropped as
    noise; a rounding-level one (1e-17) adds nothing. The spectrum check would see a dropped 1e-11."""
    rng = np.random.default_rng(14)
    d = 50
    Q, W = structured(d, 1.0, rng)
    tr = dln.SvdTracker(W, Q=Q, rho=1.0)
    for size, rank in [(1e-9, 2), (1e-11, 4)]:
        a, b = rng.standard_normal((d, 1)), rng.standard_normal((d, 1))
        a *= size / np.linalg.norm(a)
        b /= np.linalg.norm(b)
        tr.update(a, b)
        W = W + a @ b.T
        assert tr.rank == rank
    check_against(tr, W, p=d)
    a, b = rng.standard_normal((d, 1)), rng.standard_normal((d, 1))
    tr.update(a * 1e-17 / np.linalg.norm(a), b / np.linalg.norm(b))
    assert tr.rank == 4


def test_steady_state_update_keeps_basis():
    """An update inside span(V) adds and deflates nothing: V stays as it is (no rotation, no
    re-orthonormalisation) and the core absorbs the step exactly."""
    rng = np.random.default_rng(15)
    d, s = 80, 6
    Q, W = structured(d, 0.8, rng)
    V0 = np.linalg.qr(rng.standard_normal((d, s)))[0]
    W = W + Q @ V0 @ np.diag(np.linspace(1.0, 2.0, s)) @ V0.T
    tr = dln.SvdTracker(W, Q=Q, rho=0.8)
    V = tr._core.V.copy()
    for _ in range(20):
        A, B = Q @ V0 @ rng.standard_normal((s, 2)) * 1e-2, V0 @ rng.standard_normal((s, 2))
        info = tr.update(A, B, 0.99)
        W = 0.99 * W + A @ B.T
        assert info["added"] == 0 and info["deflated"] == 0 and not info["reorthonormalised"]
    assert np.array_equal(tr._core.V, V)
    check_against(tr, W, p=d)


def test_non_finite_step_keeps_run_and_record():
    """A step to Inf/NaN weights ends the run at the last finite state; the tracker records it, no error."""
    rng = np.random.default_rng(21)
    d, r = 20, 2
    target = 1e3 * rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
    net = dln.Network.orthogonal([d] * 4, scale=3.0, seed=1)
    res = dln.train(net, dln.Factorization(target), lr=1e308, steps=5, track_svd=dln.TrackSpec(every=1, block_r=r))
    assert res.status == "diverged" and res.steps == 0
    assert all(np.array_equal(a, b) for a, b in zip(res.network.weights, net.weights))
    tr = res.svd
    assert list(tr.steps) == [0] and tr.modes == ["structured"] * 3
    assert len(tr.events) == 3 and all("non-finite weights" in e for e in tr.events)


@pytest.mark.parametrize("init", ["orthogonal", "gaussian"])
@pytest.mark.parametrize("threads", [1, 2])
def test_tracking_observes_only(init, threads):
    """A tracked gradient-descent run has the bits of the plain one (both take the fused step: the
    tracker reads the weights alone), with structured layers (orthogonal init) and generic ones
    (a Gaussian init is no rho Q + low rank), whose updates need the weights before each step."""
    rng = np.random.default_rng(31)
    d = 24
    problem = dln.Factorization(rank_r_target(d, 3, rng))
    if init == "orthogonal":
        net = dln.Network.orthogonal([d] * 4, scale=1.0, seed=2)
    else:
        net = dln.Network([rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(3)])
    spec = dln.TrackSpec(every=3, update_rank=6, max_rank=d)
    plain = dln.train(net, problem, lr=0.5, steps=30, n_threads=threads)
    tracked = dln.train(net, problem, lr=0.5, steps=30, track_svd=spec, n_threads=threads)
    assert np.array_equal(plain.loss, tracked.loss)
    for a, b in zip(plain.network.weights, tracked.network.weights):
        assert np.array_equal(a, b)
    tr = tracked.svd
    assert (init == "gaussian") == ("generic" in tr.modes), tr.modes
    for l, w in enumerate(tracked.network.weights):
        s = gesvd(w)[1]
        # Weyl: |sigma_i(W) - sigma_i(rep)| <= ||W - rep||_2 <= certificate * ||W||_F
        bound = tr.certificate[-1, l] * np.linalg.norm(w) * (1 + 1e-12) + 1e-13 * s[0]
        assert np.abs(tr.spectra[l][-1] - s).max() <= bound, (l, tr.modes[l])
