"""`dln.analysis`: theory predictions and measurements against brute-force NumPy and SCIENCE.md 7.

Items 1, 2, 5 and 6 of SCIENCE.md section 7 at test sizes (the theorem setting: d = 30, r = 3, L = 3,
eps = 1, GD lr = 1 on the mean loss, 50 steps; separation: K = 5, n = 10, N = 50, L = 8, eps = 0.5).
The bounds below are the claims of that section, not tolerances of a comparison, so they are named
here where each claim is stated; engine-vs-NumPy comparisons use the table in conftest.py.
"""


import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import dln
from dln import analysis
from dln import reference as ref
from dln.experiments import low_rank_target

# SCIENCE.md 7: the claims.
BLOCK_BOUND = 1e-13        # 7.1: off-block and |bulk - rho|, relative to max(1, ||W||)
CLOSED_FORM_RAD = 1e-12    # 7.2: gradient-based V_{1,1} against the closed form
BULK_ANGLE_RAD = 1e-10     # 7.2: bulk singular subspace against step 1 / the theory's V_{l,2}
ADAM_BROKEN = 0.1          # 7.5/7.8: Adam's off-block is O(0.1) (measured 0.14 here), momentum's 1e-16
RATIO_RTOL = 0.05          # 7.6: fitted ratio within 5% of eps^2 / n^(1/L)
R2_MIN = 0.99              # 7.6

D, R, L, EPS, LR, STEPS = 30, 3, 3, 1.0, 1.0, 50


def _theorem_start(seed=0):
    problem = dln.Factorization(low_rank_target(D, D, R, seed))
    net = dln.Network.orthogonal([D] * (L + 1), scale=EPS, seed=seed)
    return net, problem


def _steps(net, problem, steps=STEPS, **kw):
    """Networks after 0, 1, ..., steps GD steps (GD keeps no state, so one step per call is exact)."""
    nets = [net]
    for _ in range(steps):
        nets.append(dln.train(nets[-1], problem, lr=LR, steps=1, n_threads=1, **kw).network)
    return nets


@pytest.fixture(scope="module")
def theorem_run():
    net, problem = _theorem_start()
    return net, problem, analysis.theory(net, problem), _steps(net, problem)


# ---------------------------------------------------------------------------------------------------
# rho recursion

def test_rho_recursion_gd_matches_reference(tol):
    mine = analysis.rho_recursion(0.7, 3.0, 4, 40, scale=1.0 / 11**2)
    theirs = ref.rho_recursion(0.7, 3.0, 11, 4, 40, "mean")
    np.testing.assert_allclose(mine, theirs, **tol(np.float64))
    # dln.experiments re-exports the same function (dln demo and older scripts use it there).
    assert dln.experiments.rho_recursion is analysis.rho_recursion


def test_rho_recursion_momentum_written_out():
    beta, c = 0.9, 1.0 / D**2
    rho, buf, expected = EPS, 0.0, [EPS]
    for _ in range(STEPS):
        buf = beta * buf + c * rho ** (2 * L - 1)
        rho = rho - LR * buf
        expected.append(rho)
    got = analysis.rho_recursion(EPS, LR, L, STEPS, scale=c, optimizer="momentum", momentum=beta)
    np.testing.assert_array_equal(got, np.array(expected))
    # Not the GD recursion: the check above is specific to heavy ball.
    assert abs(got[-1] - analysis.rho_recursion(EPS, LR, L, STEPS, scale=c)[-1]) > 1e-2


# ---------------------------------------------------------------------------------------------------
# Theory: subspace and bases

def test_theory_bases_are_orthogonal_and_chain(theorem_run):
    net, problem, th, _ = theorem_run
    assert th.rank == R and th.block == 2 * R and th.depth == L and th.eps == pytest.approx(EPS, rel=1e-14)
    assert th.scale == problem.scale
    for l in range(L):
        for B in (th.U[l], th.V[l]):
            assert np.abs(B.T @ B - np.eye(D)).max() <= 1e-13
        if l + 1 < L:
            np.testing.assert_array_equal(th.V[l + 1], th.U[l])
        # U_l = W_l(0) V_l / eps by construction: W_l(0) is eps * identity in these bases.
        core = th.U[l].T @ net.weights[l] @ th.V[l]
        assert np.abs(core - EPS * np.eye(D)).max() <= 1e-13


def test_theory_subspace_is_S_brute_force(theorem_run):
    """``S = row(Phi) + W_{L:1}(0)^T col(Phi)``, built here from a full SVD and an explicit product."""
    net, problem, th, _ = theorem_run
    phi = problem.target
    u, _, vt = np.linalg.svd(phi)
    e2e = np.linalg.multi_dot(net.weights[::-1])
    S = np.hstack([vt[:R].T, e2e.T @ u[:, :R]])
    assert np.linalg.matrix_rank(S) == 2 * R
    assert dln.compression.subspace_sine(S, th.subspace) <= 1e-13
    # V_{1,2} is its orthogonal complement.
    assert np.abs(th.V[0][:, 2 * R:].T @ S).max() <= 1e-13 * np.linalg.norm(S)


@settings(max_examples=15)
@given(d=st.integers(4, 12), r=st.integers(1, 2), depth=st.integers(1, 4), seed=st.integers(0, 2**16),
       eps=st.sampled_from([0.1, 1.0, 2.0]))
def test_block_residual_brute_force(d, r, depth, seed, eps):
    """A network built as ``U blockdiag(A, rho I) V^T + U E V^T`` with off-block E: the residual is
    exactly max |E| (and the bulk part max |F| for a bulk perturbation F), relative to max(1, ||W||_2)."""
    if 2 * r > d:
        r = d // 2
    problem = dln.Factorization(low_rank_target(d, d, r, seed))
    net0 = dln.Network.orthogonal([d] * (depth + 1), scale=eps, seed=seed)
    th = analysis.theory(net0, problem, r)
    rng = np.random.default_rng(seed)
    b, rho = 2 * r, 0.8 * eps
    # Each off-diagonal block on its own, so that neither can hide behind the other.
    for side in ("upper", "lower"):
        weights, offs, bulks = [], [], []
        for l in range(depth):
            core = np.zeros((d, d))
            core[:b, :b] = rng.standard_normal((b, b))
            core[b:, b:] = rho * np.eye(d - b)
            E = np.zeros((d, d))
            if side == "upper":
                E[:b, b:] = 1e-3 * rng.standard_normal((b, d - b))
            else:
                E[b:, :b] = 1e-3 * rng.standard_normal((d - b, b))
            F = np.zeros((d, d))
            F[b:, b:] = 1e-4 * rng.standard_normal((d - b, d - b))
            W = th.U[l] @ (core + E + F) @ th.V[l].T
            weights.append(W)
            scale = max(1.0, np.linalg.norm(W, 2))
            offs.append(np.abs(E).max() / scale)
            bulks.append(np.abs(F).max() / scale)
        res = analysis.block_residual(dln.Network(weights), th, rho)
        np.testing.assert_allclose(res.off_block, offs, rtol=1e-8, atol=1e-15)
        np.testing.assert_allclose(res.bulk, bulks, rtol=1e-6, atol=1e-15)
        np.testing.assert_allclose(res.norm, [np.linalg.norm(w, 2) for w in weights], rtol=1e-13)
    # Without rho only the off-block part is measured.
    assert np.isnan(analysis.block_residual(dln.Network(weights), th).bulk).all()


# ---------------------------------------------------------------------------------------------------
# SCIENCE.md 7.1: block invariance under GD

def test_block_invariance_every_step(theorem_run):
    _, _, th, nets = theorem_run
    rho = th.rho(LR, STEPS)
    worst = 0.0
    for t, n in enumerate(nets):
        res = analysis.block_residual(n, th, rho[t])
        worst = max(worst, res.max)
        assert res.max <= BLOCK_BOUND, f"step {t}: off-block {res.off_block}, bulk {res.bulk}"
    # The block really moves (the residual is not trivially zero because nothing happened).
    moving = th.U[0][:, :2 * R].T @ nets[-1].weights[0] @ th.V[0][:, :2 * R]
    assert np.abs(moving - EPS * np.eye(2 * R)).max() > 1e-2
    # Bulk singular values equal the recursion: d - 2r of them within the bound of rho(50).
    s = np.linalg.svd(nets[-1].weights[1], compute_uv=False)
    assert np.sum(np.abs(s - rho[-1]) <= BLOCK_BOUND * max(1.0, s[0])) == D - 2 * R
    assert EPS - rho[-1] > 1e-2


def test_block_residual_float32_network(theorem_run):
    """A float32 run keeps the structure to float32 rounding (the residual is measured in float64)."""
    net, problem, th, _ = theorem_run
    out = dln.train(net.astype(np.float32), problem, lr=LR, steps=10, n_threads=1)
    res = analysis.block_residual(out.network.astype(np.float64), th, th.rho(LR, 10)[-1])
    assert res.max <= 1e-5
    assert res.max > BLOCK_BOUND  # float32 rounding is visible: the measure is not blind


# ---------------------------------------------------------------------------------------------------
# SCIENCE.md 7.2: subspaces

@pytest.mark.parametrize("seed", [0, 3, 11])
def test_gradient_subspace_matches_closed_form(seed):
    net, problem = _theorem_start(seed)
    closed = analysis.theory(net, problem, method="closed").subspace
    grad = analysis.theory(net, problem, rank=R, method="gradient").subspace
    angle = analysis.subspace_angle(closed, grad)
    assert angle <= CLOSED_FORM_RAD, f"seed {seed}: {angle:.3e} rad"


def test_bulk_angles_to_step_one_and_theory(theorem_run):
    _, _, th, nets = theorem_run
    traj = analysis.trajectory(nets, block_r=R)
    assert traj.reference == 1 and traj.sin_right.shape == (STEPS + 1, L, 3)
    later = slice(1, None)
    assert np.nanmax(traj.angles_right[later, :, 1]) <= BULK_ANGLE_RAD
    assert np.nanmax(traj.angles_left[later, :, 1]) <= BULK_ANGLE_RAD
    # The top block does move against step 1 (the bound is not vacuous).
    assert traj.angles_right[-1, :, 0].min() > 1e-3
    rho = th.rho(LR, STEPS)
    for t in (1, 10, STEPS):
        sines = analysis.theory_angles(nets[t], th, rho[t])
        assert np.arcsin(sines).max() <= BULK_ANGLE_RAD, f"step {t}: {sines}"


def test_trajectory_from_tracker_matches_networks(theorem_run):
    net, problem, _, nets = theorem_run
    res = dln.train(net, problem, lr=LR, steps=STEPS, n_threads=1,
                    track_svd=dln.TrackSpec(every=5, block_r=R, update_rank=2 * R))
    tracked = analysis.trajectory(res.svd)
    direct = analysis.trajectory(nets[::5], block_r=R, steps=np.arange(0, STEPS + 1, 5))
    np.testing.assert_array_equal(tracked.steps, direct.steps)
    for a, b in zip(tracked.spectra, direct.spectra):
        assert np.abs(a - b).max() <= 1e-12
    # Both reference the first record at step >= 1 (step 5 here); bulk angles agree at rounding level.
    assert tracked.steps[tracked.reference] == direct.steps[direct.reference] == 5
    assert np.nanmax(tracked.sin_right[:, :, 1]) <= BULK_ANGLE_RAD
    assert np.nanmax(np.abs(tracked.sin_right[1:, :, 0] - direct.sin_right[1:, :, 0])) <= 1e-8


@settings(max_examples=25)
@given(n=st.integers(3, 9), k=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_subspace_angle_against_scipy(n, k, seed):
    """For angles well away from 0 the sine formula agrees with SciPy's principal angles."""
    k = min(k, n)
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    expected = scipy.linalg.subspace_angles(A, B).max()
    assert analysis.subspace_angle(A, B) == pytest.approx(expected, rel=1e-8, abs=1e-8)


def test_subspace_angle_tiny():
    """A rotation by 1e-13 rad is measured as such (arccos of cosines would give ~1e-8 or 0)."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((20, 20)))[0]
    theta = 1e-13
    A = Q[:, :3]
    B = A.copy()
    B[:, 0] = np.cos(theta) * Q[:, 0] + np.sin(theta) * Q[:, 5]
    assert analysis.subspace_angle(A, B) == pytest.approx(theta, rel=1e-2)


def test_trajectory_angles_brute_force():
    """Angles of each block between two random networks, computed directly with full SVDs."""
    rng = np.random.default_rng(5)
    nets = [dln.Network([rng.standard_normal((8, 6)), rng.standard_normal((5, 8))]) for _ in range(3)]
    traj = analysis.trajectory(nets, block_r=2, steps=[0, 2, 4])
    assert traj.reference == 1
    for i in range(3):
        for l in range(2):
            w0, w = nets[1].weights[l], nets[i].weights[l]
            U0, _, V0t = np.linalg.svd(w0, full_matrices=False)
            U, s, Vt = np.linalg.svd(w, full_matrices=False)
            k = s.size
            for j, sl in enumerate([slice(0, 2), slice(2, k - 2), slice(k - 2, k)]):
                exp = np.sin(scipy.linalg.subspace_angles(V0t[sl].T, Vt[sl].T).max())
                assert traj.sin_right[i, l, j] == pytest.approx(exp, abs=1e-10)
                exp = np.sin(scipy.linalg.subspace_angles(U0[:, sl], U[:, sl]).max())
                assert traj.sin_left[i, l, j] == pytest.approx(exp, abs=1e-10)
            np.testing.assert_allclose(traj.spectra[l][i], s, rtol=1e-13)


# ---------------------------------------------------------------------------------------------------
# SCIENCE.md 7.5: momentum exact, Adam not

def test_momentum_keeps_blocks_adam_does_not(theorem_run):
    net, problem, th, _ = theorem_run
    mom = dln.train(net, problem, lr=LR, steps=STEPS, optimizer="momentum", momentum=0.9, n_threads=1)
    res = analysis.block_residual(mom.network, th, th.rho(LR, STEPS, "momentum", 0.9)[-1])
    assert res.max <= BLOCK_BOUND, res
    adam = dln.train(net, problem, lr=1e-2, steps=STEPS, optimizer="adam", n_threads=1)
    res = analysis.block_residual(adam.network, th)
    assert res.off_block.max() > ADAM_BROKEN, res


# ---------------------------------------------------------------------------------------------------
# Separation and discrimination

def _brute_separation(h, y):
    classes = np.unique(y)
    mus = {k: h[:, y == k].mean(axis=1) for k in classes}
    mu = h.mean(axis=1)
    Sw = sum(np.outer(h[:, i] - mus[y[i]], h[:, i] - mus[y[i]]) for i in range(h.shape[1])) / h.shape[1]
    Sb = sum(np.outer(mus[k] - mu, mus[k] - mu) for k in classes) / len(classes)
    return np.trace(Sw) / np.trace(Sb)


@settings(max_examples=25)
@given(dim=st.integers(1, 6), K=st.integers(2, 4), extra=st.integers(0, 6), seed=st.integers(0, 2**16))
def test_separation_brute_force(dim, K, extra, seed):
    """Unbalanced classes, any dimension (1-row features included), labels not 0..K-1."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(K), rng.integers(0, K, extra)]) * 3 + 7
    H = [rng.standard_normal((dim, y.size)), rng.standard_normal((dim + 1, y.size))]
    got = analysis.separation(H, y)
    np.testing.assert_allclose(got, [_brute_separation(h, y) for h in H], rtol=1e-12)
    # Fortran-ordered and strided inputs give the same numbers.
    np.testing.assert_allclose(analysis.separation(np.asfortranarray(H[0]), y), got[:1], rtol=1e-14)


@settings(max_examples=25)
@given(dim=st.integers(2, 6), K=st.integers(2, 4), seed=st.integers(0, 2**16), center=st.booleans())
def test_discrimination_brute_force(dim, K, seed, center):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), 3)
    h = rng.standard_normal((dim, y.size))
    mus = [h[:, y == k].mean(axis=1) - (h.mean(axis=1) if center else 0) for k in range(K)]
    worst = max(mus[a] @ mus[b] / (np.linalg.norm(mus[a]) * np.linalg.norm(mus[b]))
                for a in range(K) for b in range(K) if a != b)
    assert analysis.discrimination([h], y, center=center)[0] == pytest.approx(1 - worst, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("K,n", [(2, 3), (5, 10), (4, 7)])
def test_D0_of_orthonormal_inputs(K, n):
    N = K * n
    X = np.linalg.qr(np.random.default_rng(K * n).standard_normal((N, N)))[0]
    y = np.repeat(np.arange(K), n)
    D0, _ = analysis.predicted_separation(n, N, 0.5, 8)
    assert analysis.separation(X, y)[0] == pytest.approx(D0, rel=1e-12)
    # Orthonormal samples: the raw class means are orthogonal, discrimination 1.
    assert analysis.discrimination(X, y)[0] == pytest.approx(1.0, abs=1e-12)


def test_predicted_separation_reference_setting():
    D0, ratio = analysis.predicted_separation(10, 50, 0.5, 8)
    assert D0 == pytest.approx(11.25, rel=1e-14)
    assert ratio == pytest.approx(0.25 / 10 ** (1 / 8), rel=1e-14) and ratio == pytest.approx(0.1875, abs=1e-4)


def test_fit_separation_exact_and_against_polyfit():
    D = 11.25 * 0.2 ** np.arange(9)
    D[-1] = 1e-30  # the output layer of a converged net: excluded by default
    fit = analysis.fit_separation(D)
    assert fit.ratio == pytest.approx(0.2, rel=1e-12) and fit.D0 == pytest.approx(11.25, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(fit.layers, np.arange(8))
    noisy = D[:8] * np.exp(np.random.default_rng(1).normal(0, 0.1, 8))
    slope, icpt = np.polyfit(np.arange(8), np.log(noisy), 1)
    fit = analysis.fit_separation(noisy, exclude_output=False)
    assert fit.ratio == pytest.approx(np.exp(slope), rel=1e-10) and fit.D0 == pytest.approx(np.exp(icpt), rel=1e-10)
    r2 = np.corrcoef(np.arange(8), np.log(noisy))[0, 1] ** 2
    assert fit.r2 == pytest.approx(r2, rel=1e-10) and fit.r2 < 1.0


def test_separation_law_linear_net():
    """SCIENCE.md 7.6: K = 5, n = 10, N = 50, width 50, eps = 0.5, L = 8, GD lr 1 to loss 1e-6."""
    K, n, Ldep, eps = 5, 10, 8, 0.5
    N = K * n
    X = np.linalg.qr(np.random.default_rng(0).standard_normal((N, N)))[0]
    y = np.repeat(np.arange(K), n)
    Y = np.eye(K)[:, y]
    net = dln.Network.orthogonal([N] * Ldep + [K], scale=eps, seed=0)
    res = dln.train(net, dln.Regression(X, Y), lr=1.0, steps=20_000, tol=1e-6)
    assert res.status == "converged"
    H = analysis.features(res.network, X)
    assert len(H) == Ldep + 1
    D = analysis.separation(H, y)
    _, ratio = analysis.predicted_separation(n, N, eps, Ldep)
    assert D[0] == pytest.approx(11.25, rel=1e-12)
    fit = analysis.fit_separation(D)
    assert abs(fit.ratio - ratio) <= RATIO_RTOL * ratio, (fit, ratio)
    assert fit.r2 > R2_MIN
    # Features separate progressively: every hidden layer is more separated than the one before.
    assert np.all(np.diff(D[:Ldep]) < 0)


def test_features_of_linear_net_are_layer_outputs():
    net = dln.Network.orthogonal([4, 6, 3], scale=1.0, seed=2)
    X = np.random.default_rng(2).standard_normal((4, 5))
    H = analysis.features(net, X)
    W = net.weights
    np.testing.assert_allclose(H[1], W[0] @ X, rtol=1e-14)
    np.testing.assert_allclose(H[2], W[1] @ W[0] @ X, rtol=1e-13)


def test_features_of_relu_net_brute_force():
    net = dln.Network.orthogonal([4, 6, 6, 3], scale=1.0, seed=2, activation="relu")
    X = np.random.default_rng(2).standard_normal((4, 5))
    H = analysis.features(net, X)
    W = net.weights
    h1 = np.maximum(W[0] @ X, 0)
    h2 = np.maximum(W[1] @ h1, 0)
    for got, exp in zip(H, [X, h1, h2, W[2] @ h2]):
        np.testing.assert_allclose(got, exp, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------------------------------------
# Bad input names the parameter

def test_bad_input(theorem_run):
    net, problem, th, _ = theorem_run
    with pytest.raises(ValueError, match="^net:"):
        analysis.theory(dln.Network.orthogonal([30, 20, 30]), problem, 3)
    with pytest.raises(TypeError, match="^problem:"):
        analysis.theory(net, "phi", 3)
    with pytest.raises(ValueError, match="^rank:"):
        analysis.theory(net, problem, rank="big")
    with pytest.raises(ValueError, match="^rank:"):
        analysis.theory(net, problem, rank=16)
    with pytest.raises(ValueError, match="^rank:"):
        analysis.theory(net, dln.Completion(problem.target, np.ones((D, D), bool)), rank="auto")
    with pytest.raises(ValueError, match="^net:"):
        analysis.theory(dln.Network.gaussian([D] * 4, seed=1), problem, 3)
    with pytest.raises(TypeError, match="^th:"):
        analysis.block_residual(net, object())
    with pytest.raises(ValueError, match="^net:"):
        analysis.block_residual(dln.Network.orthogonal([D] * 3), th)
    with pytest.raises(TypeError, match="^rho:"):
        analysis.block_residual(net, th, rho="0.5")
    with pytest.raises(ValueError, match="^optimizer:"):
        analysis.rho_recursion(1.0, 1.0, 3, 5, optimizer="adam")
    with pytest.raises(ValueError, match="^steps:"):
        analysis.rho_recursion(1.0, 1.0, 3, -1)
    with pytest.raises(TypeError, match="^source:"):
        analysis.trajectory([])
    with pytest.raises(ValueError, match="^block_r:"):
        analysis.trajectory([net], block_r=16)
    with pytest.raises(ValueError, match="^steps:"):
        analysis.trajectory([net, net], steps=[0])
    with pytest.raises(ValueError, match="^source:"):
        analysis.trajectory([net, dln.Network.orthogonal([D] * 3)])
    X = np.eye(4)
    with pytest.raises(ValueError, match="^labels:"):
        analysis.separation(X, np.arange(3))
    with pytest.raises(ValueError, match="^labels:"):
        analysis.separation(X, np.zeros(4, int))
    with pytest.raises(TypeError, match="^labels:"):
        analysis.separation(X, np.array([0.5, 1, 0, 1]))
    with pytest.raises(TypeError, match=r"^features\[0\]:"):
        analysis.separation([np.eye(4, dtype=int)], np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"^features\[1\]:"):
        analysis.separation([X, np.eye(3)], np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="^D:"):
        analysis.fit_separation([1.0, 0.5])
    with pytest.raises(ValueError, match="^D:"):
        analysis.fit_separation([1.0, -0.5, 0.1, 0.0])
    with pytest.raises(ValueError, match="^N:"):
        analysis.predicted_separation(10, 10, 0.5, 8)
    with pytest.raises(TypeError, match="^depth:"):
        analysis.predicted_separation(10, 50, 0.5, 8.0)
