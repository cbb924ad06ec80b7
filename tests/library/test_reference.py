"""The NumPy reference against independent facts (no engine involved).

Everything the engine is later compared with is first checked here: gradients against central
differences, the init distributions, the mean/sum step-size convention, the optimiser update
rules in closed form, the stopping semantics and the law-of-parsimony recursion.
"""

import numpy as np
import pytest
from conftest import central_differences, reference_problem_from
from hypothesis import given
from hypothesis import strategies as st

from dln import reference as ref

KINDS = ("factorization", "regression", "completion")
INITS = {"orthogonal": ref.orthogonal, "gaussian": ref.gaussian, "uniform": ref.uniform}

# [d_in, ..., d_out] with 1..4 layers; shrinks towards 1-wide layers and L = 1.
widths_st = st.lists(st.integers(1, 8), min_size=2, max_size=5)
seed_st = st.integers(0, 2**32 - 1)


def build(kind, widths, seed, make_problem_data, reduction="mean", init="orthogonal", scale=1.0):
    """Reference weights and problem from one seed."""
    rng = np.random.default_rng(seed)
    weights = INITS[init](widths, scale, rng)
    data = make_problem_data(kind, widths[0], widths[-1], rng)
    return weights, reference_problem_from(kind, data, reduction)


# --------------------------------------------------------------------------------------------
# Losses and gradients
# --------------------------------------------------------------------------------------------


@given(
    widths=widths_st,
    seed=seed_st,
    kind=st.sampled_from(KINDS),
    reduction=st.sampled_from(["mean", "sum"]),
    init=st.sampled_from(sorted(INITS)),
)
def test_gradients_match_central_differences(
    widths, seed, kind, reduction, init, make_problem_data, assert_layers_close, fd_step
):
    weights, problem = build(kind, widths, seed, make_problem_data, reduction, init)
    loss, grads = ref.loss_and_grads(weights, problem)
    assert loss == pytest.approx(problem.loss(weights), rel=0, abs=0)
    fd = central_differences(weights, problem.loss, fd_step)
    scales = ref.gradient_scale(weights, problem)
    assert all(np.linalg.norm(g) <= s * (1 + 1e-12) for g, s in zip(grads, scales))
    assert_layers_close(grads, fd, "fd", scales=scales, what="gradient")


def test_loss_values_by_hand():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4))
    phi = rng.standard_normal((3, 4))
    mask = rng.random((3, 4)) < 0.5
    X = rng.standard_normal((4, 5))
    Y = rng.standard_normal((3, 5))
    w = [W]
    assert ref.Factorization(phi, "sum").loss(w) == pytest.approx(0.5 * np.sum((W - phi) ** 2), rel=1e-14)
    assert ref.Factorization(phi).loss(w) == pytest.approx(0.5 * np.mean((W - phi) ** 2), rel=1e-14)
    # "mean" divides by every entry, observed or not.
    masked = 0.5 * np.sum(mask * (W - phi) ** 2)
    assert ref.Completion(phi, mask, "sum").loss(w) == pytest.approx(masked, rel=1e-14)
    assert ref.Completion(phi, mask).loss(w) == pytest.approx(masked / 12, rel=1e-14)
    assert ref.Regression(X, Y).loss(w) == pytest.approx(0.5 * np.mean((W @ X - Y) ** 2), rel=1e-14)
    # L = 1: the gradient is c R'.
    np.testing.assert_allclose(ref.Completion(phi, mask, "sum").gradients(w)[0], mask * (W - phi), rtol=1e-15)


@given(widths=widths_st, seed=seed_st, reduction=st.sampled_from(["mean", "sum"]))
def test_special_cases_coincide(widths, seed, reduction, make_problem_data, assert_layers_close):
    """Factorisation = regression with X = I = completion with a full mask."""
    weights, fact = build("factorization", widths, seed, make_problem_data, reduction)
    phi = fact.target
    others = [
        ref.Regression(np.eye(phi.shape[1]), phi, reduction),
        ref.Completion(phi, np.ones(phi.shape, bool), reduction),
    ]
    loss, grads = ref.loss_and_grads(weights, fact)
    for other in others:
        other_loss, other_grads = ref.loss_and_grads(weights, other)
        assert other_loss == pytest.approx(loss, rel=1e-14, abs=0)
        assert_layers_close(other_grads, grads, np.float64, what="gradient")


def test_end_to_end_order():
    rng = np.random.default_rng(1)
    w = [rng.standard_normal((3, 2)), rng.standard_normal((4, 3)), rng.standard_normal((1, 4))]
    np.testing.assert_array_equal(ref.end_to_end(w), w[2] @ (w[1] @ w[0]))
    with pytest.raises(ValueError, match="inputs"):
        ref.end_to_end([w[0], w[0]])


# --------------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------------


@given(widths=widths_st, seed=seed_st, scale=st.sampled_from([1e-3, 0.5, 1.0, 3.0]))
def test_orthogonal_gram_is_scaled_identity(widths, seed, scale, assert_layers_close):
    weights = ref.orthogonal(widths, scale, np.random.default_rng(seed))
    assert [w.shape for w in weights] == [(widths[l + 1], widths[l]) for l in range(len(widths) - 1)]
    grams = [w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w for w in weights]
    eyes = [scale**2 * np.eye(g.shape[0]) for g in grams]
    assert_layers_close(grams, eyes, np.float64, what="Gram matrix")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("init", sorted(INITS))
def test_init_dtype_and_seed(init, dtype):
    a = INITS[init]([3, 5, 2], 0.7, np.random.default_rng(5), dtype=dtype)
    b = INITS[init]([3, 5, 2], 0.7, 5, dtype=dtype)
    assert all(x.dtype == dtype for x in a)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (1, 5000), (5000, 1)])
@pytest.mark.parametrize("init", ["gaussian", "uniform"])
def test_random_inits_match_orthogonal_frobenius_norm(init, shape):
    """E ||W||_F^2 = scale^2 min(m, n); 60000 entries give ~0.6% relative spread for gaussian."""
    m, n = shape
    scale = 0.3
    (w,) = INITS[init]([n, m], scale, np.random.default_rng(11))
    ratio = np.sum(w**2) / (scale**2 * min(m, n))
    assert abs(ratio - 1) < 0.05
    if init == "uniform":
        assert np.max(np.abs(w)) <= scale * np.sqrt(3 * min(m, n) / (m * n))


def test_haar_sign_fix():
    """With the sign fix the diagonal of a Haar Q has mean 0 (without it QR biases it positive)."""
    rng = np.random.default_rng(3)
    diag = np.array([ref.orthogonal([4, 4], 1.0, rng)[0][0, 0] for _ in range(4000)])
    assert abs(diag.mean()) < 5 * 0.5 / np.sqrt(4000)


# --------------------------------------------------------------------------------------------
# Optimisers and training
# --------------------------------------------------------------------------------------------


@given(
    widths=widths_st, seed=seed_st, kind=st.sampled_from(KINDS), optimizer=st.sampled_from(["gd", "momentum"])
)
def test_mean_step_equals_sum_step_over_count(
    widths, seed, kind, optimizer, make_problem_data, assert_layers_close, assert_history_close
):
    """SCIENCE.md 1: a step lr under "mean" is lr * c under "sum" (GD and heavy ball are linear in g)."""
    weights, mean = build(kind, widths, seed, make_problem_data, "mean")
    _, total = build(kind, widths, seed, make_problem_data, "sum")
    c = mean.factor
    lr = 0.05 / len(weights) / c
    a = ref.train(weights, mean, lr, 10, optimizer)
    b = ref.train(weights, total, lr * c, 10, optimizer)
    assert_layers_close(a["weights"], b["weights"], np.float64)
    assert_history_close(a["loss"], c * b["loss"], np.float64)


def test_first_updates_in_closed_form():
    rng = np.random.default_rng(2)
    weights = ref.gaussian([3, 4, 2], 1.0, rng)
    problem = ref.Factorization(rng.standard_normal((2, 3)), "sum")
    g0 = problem.gradients(weights)
    lr, scales = 1e-2, [0.5, 2.0]

    def after(optimizer, steps=1, **kw):
        return ref.trajectory(weights, problem, lr, steps, optimizer, lr_scale=scales, **kw)[-1]

    for l in range(2):
        s = lr * scales[l]
        np.testing.assert_allclose(after("gd")[l], weights[l] - s * g0[l], rtol=1e-15)
        np.testing.assert_allclose(after("momentum")[l], weights[l] - s * g0[l], rtol=1e-15)
        # Adam, t = 1: mhat = g, vhat = g^2.
        np.testing.assert_allclose(
            after("adam")[l], weights[l] - s * g0[l] / (np.abs(g0[l]) + 1e-8), rtol=1e-14
        )
        # RMSprop, t = 1: v = (1 - decay) g^2.
        np.testing.assert_allclose(
            after("rmsprop", decay=0.8)[l],
            weights[l] - s * g0[l] / (np.sqrt(0.2) * np.abs(g0[l]) + 1e-8),
            rtol=1e-14,
        )
    # Heavy ball, second step: buf = beta g0 + g1.
    w1 = after("gd")
    g1 = problem.gradients(w1)
    w2 = after("momentum", steps=2, momentum=0.7)
    for l in range(2):
        np.testing.assert_allclose(w2[l], w1[l] - lr * scales[l] * (0.7 * g0[l] + g1[l]), rtol=1e-14)
    # Adam, second step with bias correction.
    w2 = after("adam", steps=2, betas=(0.8, 0.9), eps=1e-3)
    a1 = [w - lr * s * g / (np.abs(g) + 1e-3) for w, s, g in zip(weights, scales, g0)]
    g1 = problem.gradients(a1)
    for l in range(2):
        m = (0.2 * 0.8 * g0[l] + 0.2 * g1[l]) / (1 - 0.8**2)
        v = (0.1 * 0.9 * g0[l] ** 2 + 0.1 * g1[l] ** 2) / (1 - 0.9**2)
        np.testing.assert_allclose(w2[l], a1[l] - lr * scales[l] * m / (np.sqrt(v) + 1e-3), rtol=1e-14)


@pytest.mark.parametrize("record_every", [1, 3, 5, 7])
def test_record_every_history(record_every, make_problem_data):
    weights, problem = build("regression", [3, 4, 2], 0, make_problem_data)
    steps = 20
    res = ref.train(weights, problem, 0.5, steps, record_every=record_every)
    assert res["status"] == "max_steps" and res["steps"] == steps
    assert len(res["loss"]) == steps // record_every + 1
    path = ref.trajectory(weights, problem, 0.5, steps)
    expected = [problem.loss(path[k]) for k in range(0, steps + 1, record_every)]
    np.testing.assert_array_equal(res["loss"], expected)
    for a, b in zip(res["weights"], path[-1]):
        np.testing.assert_array_equal(a, b)


def test_tol_converges(make_problem_data):
    weights, problem = build("factorization", [3, 3], 0, make_problem_data, "sum")
    full = ref.train(weights, problem, 0.5, 40)["loss"]
    tol = full[17] * (1 + 1e-9)  # first k with loss <= tol is 17 (the loss decreases)
    assert np.all(np.diff(full) < 0)
    res = ref.train(weights, problem, 0.5, 40, tol=tol)
    assert res["status"] == "converged" and res["steps"] == 17
    assert len(res["loss"]) == 18 and res["loss"][-1] <= tol
    res = ref.train(weights, problem, 0.5, 40, tol=10 * full[0])
    assert res["status"] == "converged" and res["steps"] == 0


def test_divergence_returns_last_finite_state():
    """L = 1, sum: W_k - Phi = (1 - lr)^k (W_0 - Phi); with 1 - lr = -50 the loss ratio is 2500^k."""
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal((2, 3))]
    problem = ref.Factorization(rng.standard_normal((2, 3)), "sum")
    res = ref.train(weights, problem, 51.0, 10)
    # 2500^2 = 6.25e6 <= 1e8 < 2500^3: the loss after 3 updates trips the test.
    assert res["status"] == "diverged" and res["steps"] == 2
    assert len(res["loss"]) == 3  # the tripping loss (step 3) is not recorded
    np.testing.assert_allclose(
        res["weights"][0], problem.target + 2500 * (weights[0] - problem.target), rtol=1e-13
    )
    overflow = ref.train([1e200 * w for w in weights], problem, 1e-3, 10, optimizer="adam")
    assert overflow["status"] == "diverged" and overflow["steps"] == 0


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("L", [2, 3, 4])
def test_bulk_singular_values_follow_rho_recursion(L, reduction):
    """SCIENCE.md 2: with d > 2r, d - 2r singular values of every layer equal rho(t)."""
    d, r, eps, steps = 10, 2, 0.9, 30
    rng = np.random.default_rng(L)
    phi = rng.standard_normal((d, r)) @ rng.standard_normal((r, d)) / d
    problem = ref.Factorization(phi, reduction)
    lr = 1.0 if reduction == "mean" else 1.0 / d**2
    weights = ref.orthogonal([d] * (L + 1), eps, rng)
    path = ref.trajectory(weights, problem, lr, steps)
    rho = ref.rho_recursion(eps, lr, d, L, steps, reduction)
    assert rho[-1] < 0.95 * eps  # the bulk actually moved
    for t in (1, 10, steps):
        for w in path[t]:
            sigma = np.linalg.svd(w, compute_uv=False)
            assert np.sum(np.abs(sigma - rho[t]) <= 1e-13 * sigma[0]) >= d - 2 * r


def test_rho_recursion_units():
    a = ref.rho_recursion(0.5, 3.0, 7, 3, 20, "mean")
    b = ref.rho_recursion(0.5, 3.0 / 49, 7, 3, 20, "sum")
    np.testing.assert_allclose(a, b, rtol=1e-15)
    assert a[0] == 0.5 and len(a) == 21
    assert a[1] == pytest.approx(0.5 * (1 - 3.0 / 49 * 0.5**4), rel=1e-15)


# --------------------------------------------------------------------------------------------
# Subspace angles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("theta", [1e-12, 1e-8, 0.3, np.pi / 2])
def test_principal_angle_sine_tiny_angles(theta):
    rng = np.random.default_rng(6)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = q[:, :2]
    B = np.column_stack([q[:, 0], np.cos(theta) * q[:, 1] + np.sin(theta) * q[:, 2]])
    # Absolute accuracy ~ machine epsilon; arccos of the cosine would return 0 for theta < 1e-8.
    assert ref.principal_angle_sine(A, B) == pytest.approx(np.sin(theta), rel=1e-12, abs=1e-14)
    # Basis-independent: the same column space spanned differently.
    mix = rng.standard_normal((2, 2)) + 3 * np.eye(2)
    assert ref.principal_angle_sine(A, A @ mix) < 1e-14
    assert ref.principal_angle_sine(A, np.column_stack([A, q[:, 3]])) == pytest.approx(1.0)
