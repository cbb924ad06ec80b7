"""SVD tracking features: angles to the theory's subspaces, the end-to-end map, batched runs.

Every tracked number is checked against an independent computation: scipy's gesvd of the weights
of the same run stopped at each recorded step (runs are bitwise reproducible for a given
``n_threads``), and the theory's subspaces built here with NumPy from SCIENCE.md section 2.
Subspaces are compared by the sine of the largest principal angle, never by sign-ambiguous vectors.
Bounds are the issue's (as in test_tracker.py): values within 1e-12 sigma_1 (x (1 + steps / 1e4)),
subspace angles of the bulk below 1e-10 (SCIENCE.md 7.2).
"""

import numpy as np
import pytest
from conftest import gesvd, haar, sine

import dln

SV_TOL = 1e-12
ANGLE_TOL = 1e-10
CERT_TOL = 1e-12


def rank_r_target(d, r, rng):
    u, s, vt = np.linalg.svd(rng.standard_normal((d, d)))
    return (u[:, :r] * s[:r]) @ vt[:r]


def make_problem(kind, d, r, rng):
    phi = rank_r_target(d, r, rng)
    if kind == "factorization":
        return phi, dln.Factorization(phi)
    X = haar(d, rng)  # whitened: X X^T = I, so the problem is factorisation of Y X^T = phi
    return phi, dln.Regression(X, phi @ X)


def theory_numpy(weights0, phi, r):
    """V_{l,1}, U_{l,1} of SCIENCE.md section 2, built independently of dln."""
    u, _, vt = np.linalg.svd(phi)
    e2e0 = np.linalg.multi_dot(weights0[::-1]) if len(weights0) > 1 else weights0[0]
    V = np.linalg.qr(np.hstack([vt[:r].T, e2e0.T @ u[:, :r]]))[0]
    right, left = [], []
    for w in weights0:
        eps = np.linalg.norm(w) / np.sqrt(w.shape[0])
        U = w @ V / eps
        right.append(V)
        left.append(U)
        V = U
    return right, left


def moving_block(w, rho, r):
    """Right and left singular vectors of w that are not at |rho| (the 2r moving ones), by gesvd."""
    u, s, vt = gesvd(w)
    idx = np.argsort(-np.abs(s - abs(rho)))[:2 * r]
    return vt[idx].T, u[:, idx], np.sort(np.abs(s - abs(rho)))[::-1]


def weights_at(net, problem, lr, k, **kw):
    return dln.train(net, problem, lr=lr, steps=int(k), n_threads=1, **kw).network.weights


# --- angles against the theoretical subspaces ------------------------------------------------------

@pytest.mark.parametrize("kind,depth,d,steps,every", [("factorization", 3, 80, 600, 150),
                                                      ("regression", 2, 50, 400, 100),
                                                      ("factorization", 5, 30, 400, 200)])
def test_theory_angles_match_gesvd(kind, depth, d, steps, every):
    rng = np.random.default_rng(21)
    r = 3
    phi, problem = make_problem(kind, d, r, rng)
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1.0, seed=4)
    lr = 0.2 * d
    spec = dln.TrackSpec(every=every, block_r=r, update_rank=2 * r, reference="theory")
    res = dln.train(net, problem, lr=lr, steps=steps, track_svd=spec, n_threads=1)
    tr = res.svd
    assert tr.events == [] and tr.modes == ["structured"] * depth
    assert tr.angles_theory_right.shape == (len(tr.steps), depth, 2)
    # the block angles against step 1 are not what was asked for
    assert np.isnan(tr.angles_right).all() and tr.reference_step == -1
    # SCIENCE 7.2: the bulk does not leave the theory's V_{l,2} (right) / U_{l,2} (left)
    assert np.nanmax(tr.angles_theory_right) <= ANGLE_TOL and np.nanmax(tr.angles_theory_left) <= ANGLE_TOL
    right, left = theory_numpy([np.asarray(w) for w in net.weights], phi, r)
    for i, k in enumerate(tr.steps):
        if k == 0:
            continue
        for l, w in enumerate(weights_at(net, problem, lr, k)):
            v, u, gaps = moving_block(w, tr.rho[i, l], r)
            # the 2r moving values are well separated from rho here, so gesvd's block is defined
            assert gaps[2 * r - 1] > 1e3 * ANGLE_TOL * gaps[0]
            expected_r, expected_l = sine(v, right[l]), sine(u, left[l])
            assert expected_r <= ANGLE_TOL and expected_l <= ANGLE_TOL
            assert np.abs(tr.angles_theory_right[i, l] - expected_r).max() <= ANGLE_TOL
            assert np.abs(tr.angles_theory_left[i, l] - expected_l).max() <= ANGLE_TOL


def test_theory_angles_see_a_wrong_subspace():
    """The angle is a measurement, not a constant: a network whose init is not the one the theory's
    bases were built from shows angles of order one."""
    rng = np.random.default_rng(22)
    d, r, depth = 40, 2, 3
    phi, problem = make_problem("factorization", d, r, rng)
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1.0, seed=1)
    other = dln.Network.orthogonal([d] * (depth + 1), scale=1.0, seed=2)
    spec = dln.TrackSpec(every=50, block_r=r, update_rank=2 * r, reference="theory")
    right, left = dln.tracking.theory_bases(other, problem, r)
    prepared = dln.training.prepare(net, problem, dict(lr=0.2 * d, steps=100))
    out = dln._core.train(prepared.core_problem, prepared.weights, prepared.optimizer,
                          prepared.settings.train_options(1), track=spec._to_core(), theory_right=right,
                          theory_left=left)
    wrong = dln.tracking.SvdTrace._from_core(out.svd)
    assert np.nanmin(wrong.angles_theory_right[1:, :, 0]) > 0.1
    good = dln.train(net, problem, lr=0.2 * d, steps=100, track_svd=spec, n_threads=1).svd
    assert np.nanmax(good.angles_theory_right) <= ANGLE_TOL


def test_theory_angles_nan_for_generic_layers():
    rng = np.random.default_rng(23)
    d, r = 30, 2
    _, problem = make_problem("factorization", d, r, rng)
    net = dln.Network.orthogonal([d] * 4, scale=1.0, seed=1)
    res = dln.train(net, problem, lr=1e-2, steps=10, optimizer="adam", n_threads=1,
                    track_svd=dln.TrackSpec(every=5, block_r=r, update_rank=4, max_rank=20, reference="theory"))
    tr = res.svd
    generic = [l for l, m in enumerate(tr.modes) if m == "generic"]
    assert generic and np.isnan(tr.angles_theory_right[-1, generic]).all()


# --- the end-to-end map ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,depth,d,steps,every", [("factorization", 3, 80, 600, 200),
                                                      ("regression", 2, 60, 300, 100),
                                                      ("factorization", 4, 40, 400, 100)])
def test_end_to_end_from_layer_trackers(kind, depth, d, steps, every):
    rng = np.random.default_rng(31)
    r = 3
    _, problem = make_problem(kind, d, r, rng)
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1.0, seed=6)
    lr = 0.2 * d
    spec = dln.TrackSpec(every=every, update_rank=2 * r, end_to_end=True)
    tr = dln.train(net, problem, lr=lr, steps=steps, track_svd=spec, n_threads=1).svd
    assert tr.mode_end_to_end == "chained" and tr.events == []
    # the bases chain (V_{l+1} = Q_l V_l): the moving part of W_{L:1} has the 2r directions of V_{1,1}
    assert tr.rank_end_to_end[0] == 0 and (tr.rank_end_to_end[1:] == 2 * r).all()
    assert tr.certificate_end_to_end.max() <= CERT_TOL
    for i, k in enumerate(tr.steps):
        ws = weights_at(net, problem, lr, k)
        s = gesvd(np.linalg.multi_dot(ws[::-1]) if depth > 1 else ws[0])[1]
        err = np.abs(tr.spectra_end_to_end[i] - s).max()
        assert err <= SV_TOL * s[0] * (1 + k / 1e4), (k, err / s[0])


def test_end_to_end_long_run_and_bulk():
    """10^4 steps at small d, tracked every step, the end-to-end spectrum checked at the end."""
    rng = np.random.default_rng(32)
    d, r, depth, steps = 40, 2, 3, 10_000
    _, problem = make_problem("factorization", d, r, rng)
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1.0, seed=7)
    spec = dln.TrackSpec(every=2500, block_r=r, update_rank=2 * r, end_to_end=True, reference="theory")
    res = dln.train(net, problem, lr=0.2 * d, steps=steps, track_svd=spec, n_threads=1)
    tr = res.svd
    assert res.steps == steps and tr.events == [] and tr.steps[-1] == steps
    assert np.nanmax(tr.angles_theory_right) <= ANGLE_TOL and np.nanmax(tr.angles_theory_left) <= ANGLE_TOL
    assert tr.certificate_end_to_end.max() <= CERT_TOL
    s = gesvd(res.network.end_to_end())[1]
    assert np.abs(tr.spectra_end_to_end[-1] - s).max() <= SV_TOL * s[0] * (1 + steps / 1e4)


@pytest.mark.parametrize("update_rank", [4, 30])
def test_end_to_end_own_tracker_when_structure_is_lost(update_rank):
    rng = np.random.default_rng(33)
    d = 30
    _, problem = make_problem("factorization", d, 3, rng)
    net = dln.Network.orthogonal([d] * 4, scale=1.0, seed=1)
    res = dln.train(net, problem, lr=1e-2, steps=20, optimizer="adam", n_threads=1,
                    track_svd=dln.TrackSpec(every=5, update_rank=update_rank, max_rank=30, end_to_end=True))
    tr = res.svd
    assert tr.mode_end_to_end == "own" and any("end-to-end" in e for e in tr.events)
    W = res.network.end_to_end()
    s = gesvd(W)[1]
    # Weyl: |sigma_i(W) - sigma_i(rep)| <= ||W - rep||_2 <= certificate * ||W||_F
    bound = tr.certificate_end_to_end[-1] * np.linalg.norm(W) * (1 + 1e-12) + 1e-15
    assert np.abs(tr.spectra_end_to_end[-1] - s).max() <= bound
    if update_rank == d:  # the range finder sees all of each step's change and the rank cap is d: exact
        assert tr.certificate_end_to_end.max() <= 1e-12
    else:  # Adam's steps are full rank: a rank-4 split drops most of them, and says so
        assert tr.certificate_end_to_end[-1] > 1e-3


def test_end_to_end_rectangular_uses_own_tracker():
    rng = np.random.default_rng(34)
    phi = rng.standard_normal((12, 3)) @ rng.standard_normal((3, 20))
    net = dln.Network.orthogonal([20, 16, 12], scale=1.0, seed=2)
    res = dln.train(net, dln.Factorization(phi), lr=1.0, steps=30, n_threads=1,
                    track_svd=dln.TrackSpec(every=10, update_rank=12, max_rank=12, end_to_end=True))
    tr = res.svd
    # The residual R is full rank here, so a step changes W_{L:1} in all 12 directions: with
    # update_rank and max_rank 12 the generic tracker holds everything and is exact.
    assert tr.mode_end_to_end == "own" and tr.spectra_end_to_end.shape == (4, 12)
    assert tr.certificate_end_to_end.max() <= 1e-12
    s = gesvd(res.network.end_to_end())[1]
    assert np.abs(tr.spectra_end_to_end[-1] - s).max() <= 1e-10 * s[0]


def test_float32_theory_and_end_to_end():
    rng = np.random.default_rng(35)
    d, r = 40, 2
    _, problem = make_problem("factorization", d, r, rng)
    net = dln.Network.orthogonal([d] * 4, scale=1.0, seed=3, dtype=np.float32)
    spec = dln.TrackSpec(every=50, block_r=r, update_rank=2 * r, end_to_end=True, reference="theory")
    res = dln.train(net, problem, lr=0.2 * d, steps=100, track_svd=spec, n_threads=1)
    tr = res.svd
    assert tr.modes == ["structured"] * 3 and tr.mode_end_to_end == "chained"
    s = gesvd(res.network.end_to_end())[1]
    assert np.abs(tr.spectra_end_to_end[-1] - s).max() <= 1e-5 * s[0]
    assert np.nanmax(tr.angles_theory_right) <= 1e-4


# --- batched runs ----------------------------------------------------------------------------------

def _same_trace(a, b):
    import dataclasses

    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "top":
            assert (x is None) == (y is None)
            for rx, ry in zip(x or [], y or []):
                for tx, ty in zip(rx, ry):
                    assert all(np.array_equal(p, q) for p, q in zip(tx, ty))
        elif f.name == "spectra":
            assert all(np.array_equal(p, q) for p, q in zip(x, y))
        elif isinstance(x, np.ndarray):
            assert np.array_equal(x, y, equal_nan=True), f.name
        else:
            assert x == y, f.name


def test_batch_tracking_matches_sequential():
    rng = np.random.default_rng(41)
    d, r = 36, 2
    phi, fact = make_problem("factorization", d, r, rng)
    _, regr = make_problem("regression", d, r, rng)
    specs = [dln.TrackSpec(every=20, top_p=3, block_r=r, update_rank=2 * r),
             dln.TrackSpec(every=25, block_r=r, update_rank=2 * r, reference="theory", end_to_end=True),
             None,
             dln.TrackSpec(every=10, update_rank=4, max_rank=20, end_to_end=True)]
    jobs = [(dln.Network.orthogonal([d] * 4, scale=1.0, seed=1), fact, dict(lr=0.2 * d, steps=100, track_svd=specs[0])),
            (dln.Network.orthogonal([d] * 3, scale=1.0, seed=2), regr, dict(lr=0.2 * d, steps=100, track_svd=specs[1])),
            (dln.Network.orthogonal([d] * 3, scale=1.0, seed=3), fact, dict(lr=0.2 * d, steps=50)),
            (dln.Network.orthogonal([d] * 3, scale=1.0, seed=4), fact,
             dict(lr=1e-2, steps=30, optimizer="adam", track_svd=specs[3]))]
    batch = dln.train_batch(jobs, n_threads=2)
    for (net, problem, kw), got in zip(jobs, batch):
        want = dln.train(net, problem, n_threads=1, **kw)
        assert np.array_equal(got.loss, want.loss)
        if kw.get("track_svd") is None:
            assert got.svd is None
        else:
            _same_trace(got.svd, want.svd)
    assert batch[1].svd.mode_end_to_end == "chained" and batch[3].svd.mode_end_to_end == "own"


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,exc", [("every", 0, ValueError), ("top_p", -1, ValueError),
                                             ("block_r", -1, ValueError), ("update_rank", 0, ValueError),
                                             ("max_rank", 0, ValueError), ("mode", "fast", ValueError),
                                             ("certificate_tol", 0.0, ValueError), ("direction_tol", 2.0, ValueError),
                                             ("ortho_ulp", 0.5, ValueError), ("seed", -1, ValueError),
                                             ("reference", "step2", ValueError), ("end_to_end", "yes", TypeError),
                                             ("every", 1.5, TypeError)])
def test_bad_trackspec_fields_are_named(field, value, exc):
    net = dln.Network.orthogonal([10, 10, 10])
    problem = dln.Factorization(np.eye(10))
    spec = dln.TrackSpec(**{field: value})
    with pytest.raises(exc, match=f"^{field}"):
        dln.train(net, problem, lr=0.1, steps=1, track_svd=spec)
    with pytest.raises(exc, match=f"^jobs\\[0\\]: {field}"):
        dln.train_batch([(net, problem, dict(lr=0.1, steps=1, track_svd=spec))])


def test_bad_theory_requests():
    net = dln.Network.orthogonal([10, 10, 10])
    problem = dln.Factorization(np.eye(10)[:, :3] @ np.eye(10)[:3])
    with pytest.raises(ValueError, match="^block_r"):
        dln.train(net, problem, lr=0.1, steps=1, track_svd=dln.TrackSpec(reference="theory"))
    with pytest.raises(ValueError, match="^track_svd: reference 'theory' needs square"):
        dln.train(dln.Network.orthogonal([10, 8, 10]), problem, lr=0.1, steps=1,
                  track_svd=dln.TrackSpec(reference="theory", block_r=1))
    completion = dln.Completion(np.eye(10), np.ones((10, 10), dtype=bool))
    with pytest.raises(ValueError, match="^track_svd: reference 'theory'"):
        dln.train(net, completion, lr=0.1, steps=1, track_svd=dln.TrackSpec(reference="theory", block_r=1))
    with pytest.raises(ValueError, match="^track_svd: reference 'theory': rank"):
        dln.train(net, problem, lr=0.1, steps=1, track_svd=dln.TrackSpec(reference="theory", block_r=6))
