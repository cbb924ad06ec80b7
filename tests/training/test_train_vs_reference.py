"""``dln.train`` against ``dln.reference.train``: same start, same trajectory.

Every problem x optimiser x dtype x reduction runs 20+ steps from reference-initialised weights on
random shapes (1-wide layers and L = 1 included) with random per-layer ``lr_scale`` and optimiser
hyperparameters. Final layers are compared norm-wise per layer, loss histories entry-wise; the
reference runs in float64 on exactly the values the engine starts from (float32 inputs included).

Conditioning, which decides what a fair comparison is:

- Step sizes are set in sum units from the data (targets and inputs have spectral norm 1, inits
  have scale <= 1) and converted to the reduction's units, so every run is stable but moves.
- A layer's error is measured against ``max(||W_l(T)||, ||W_l(0)||, sum_t ||W_l(t+1) - W_l(t)||)``:
  rounding is committed at the size of the weights and of the updates seen along the run. A layer
  that shrinks towards zero (a 1-wide bottleneck does), or an Adam entry that walks through zero,
  would otherwise turn an absolute error of 1e-7 into a relative 1e-5. Losses are measured
  against :func:`dln.reference.loss_scale` with those layer sizes: the end-to-end map is accurate
  relative to the product of its factors' norms, which can be far above its own norm. Single
  updates are checked separately to ~10 ulp (``test_single_update_accuracy``).
- Adam and RMSprop divide by ``sqrt(v) + eps``. With ``eps = 1e-8`` an entry that reaches its
  optimum keeps taking steps of size ~lr around it while ``v`` decays, a chaotic iteration in which
  float32 and float64 (or two summation orders) legitimately part ways, and an entry whose
  gradient is tiny turns its relative rounding error into an O(lr) step error. The randomised test
  therefore uses ``eps = 4 L lr c``, which makes every entry's update a contraction once its
  gradient falls below ``eps`` (the per-entry curvature is at most ~L c here) while entries with
  ordinary gradients stay in the adaptive regime. Measured against a long-double reference over
  400 random cases this keeps float32 errors below 4e-7 and float64 below 1e-15; with
  ``eps = 1e-8`` float32 reached 2e-4. The default ``eps`` is covered by a fixed, well-conditioned
  case.
"""

import numpy as np
import pytest
from conftest import reference_problem
from hypothesis import given
from hypothesis import strategies as st

import dln
from dln import reference as ref

KINDS = ("factorization", "regression", "completion")
OPTIMIZERS = ("gd", "momentum", "adam", "rmsprop")
DTYPES = (np.float64, np.float32)
INITS = {"orthogonal": ref.orthogonal, "gaussian": ref.gaussian, "uniform": ref.uniform}

widths_st = st.lists(st.integers(1, 8), min_size=2, max_size=5)
seed_st = st.integers(0, 2**32 - 1)


def engine_problem(kind, data, reduction, form="auto"):
    if kind == "factorization":
        return dln.Factorization(data["target"], reduction=reduction)
    if kind == "regression":
        return dln.Regression(data["X"], data["Y"], reduction=reduction, form=form)
    return dln.Completion(data["target"], data["mask"], reduction=reduction)


def step_size(optimizer, depth, problem):
    """A stable, non-trivial step in the units of ``problem.reduction``.

    GD and heavy ball scale with the gradient, so their step is set in sum units against the
    Hessian bound ~ L (unit-norm data, init scale <= 1, lr_scale <= 2) and divided by ``c``.
    Adam and RMSprop move each entry by ~lr whatever the gradient's scale.
    """
    if optimizer == "gd":
        return 0.1 / depth / problem.factor
    if optimizer == "momentum":
        return 0.02 / depth / problem.factor
    return 1e-3


def contracting_eps(lr, depth, problem):
    """Adam/RMSprop ``eps`` above which a small-gradient entry's update contracts (module doc)."""
    return 4.0 * depth * lr * problem.factor


def layer_scales(final, start, path=None):
    """Per-layer comparison scale ``max(||W_l(T)||, ||W_l(0)||, path length)`` (module doc)."""
    scales = [max(np.linalg.norm(a), np.linalg.norm(b)) for a, b in zip(final, start)]
    if path is not None:
        lengths = [
            sum(np.linalg.norm(b[l] - a[l]) for a, b in zip(path, path[1:])) for l in range(len(start))
        ]
        scales = [max(s, p) for s, p in zip(scales, lengths)]
    return scales


def run_both(net_weights, kind, data, reduction, dtype, optimizer, steps, form="auto", lr=None, **options):
    """Train the same start with the engine and the reference (float64 on the same values)."""
    rp = reference_problem(kind, data, reduction, dtype)
    if lr is None:
        lr = step_size(optimizer, len(net_weights), rp)
    net = dln.Network([w.astype(dtype) for w in net_weights])
    start = net.weights
    res = dln.train(
        net, engine_problem(kind, data, reduction, form), lr, steps, optimizer=optimizer, **options
    )
    for a, b in zip(net.weights, start):  # the input network is never modified
        np.testing.assert_array_equal(a, b)
    weights64 = [w.astype(np.float64) for w in start]
    expected = ref.train(weights64, rp, lr, steps, optimizer=optimizer, **options)
    return res, expected, weights64, rp, lr


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("kind", KINDS)
@given(
    widths=widths_st,
    seed=seed_st,
    steps=st.integers(20, 30),
    init=st.sampled_from(sorted(INITS)),
    scale=st.sampled_from([0.3, 1.0]),
    form=st.sampled_from(["auto", "covariance", "data"]),
    use_lr_scale=st.booleans(),
    variant=st.integers(0, 1),
)
def test_train_matches_reference(
    kind,
    optimizer,
    dtype,
    reduction,
    widths,
    seed,
    steps,
    init,
    scale,
    form,
    use_lr_scale,
    variant,
    make_problem_data,
    assert_layers_close,
    assert_history_close,
):
    rng = np.random.default_rng(seed)
    weights = INITS[init](widths, scale, rng)
    data = make_problem_data(kind, widths[0], widths[-1], rng)
    depth = len(weights)
    options = dict(lr_scale=[float(s) for s in rng.uniform(0.5, 2.0, depth)] if use_lr_scale else None)
    rp = reference_problem(kind, data, reduction, dtype)
    lr = step_size(optimizer, depth, rp)
    if optimizer == "momentum":
        options["momentum"] = (0.9, 0.5)[variant]
    elif optimizer == "adam":
        options.update(betas=((0.9, 0.999), (0.8, 0.99))[variant], eps=contracting_eps(lr, depth, rp))
    elif optimizer == "rmsprop":
        options.update(decay=(0.9, 0.99)[variant], eps=contracting_eps(lr, depth, rp))
    res, expected, weights64, rp, lr = run_both(
        weights, kind, data, reduction, dtype, optimizer, steps, form, lr=lr, **options
    )
    assert res.status == expected["status"] == "max_steps"
    assert res.steps == expected["steps"] == steps
    assert res.network.dtype == np.dtype(dtype)
    path = ref.trajectory(weights64, rp, lr, steps, optimizer, **options)
    scales = layer_scales(expected["weights"], weights64, path)
    assert_layers_close(res.network.weights, expected["weights"], dtype, scales=scales)
    loss_scales = [
        ref.loss_scale(w, rp, layer_scales(w, weights64, path[: k + 1])) for k, w in enumerate(path)
    ]
    assert_history_close(res.loss, expected["loss"], dtype, scale=loss_scales)
    assert_history_close([res.final_loss], expected["loss"][-1:], dtype, scale=loss_scales[-1])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_single_update_accuracy(optimizer, dtype, assert_layers_close):
    """One update is a handful of roundings, so it must agree with the reference to ~10 ulp.

    The update is made about as large as the weights, so the comparison measures the update
    itself, not only the rounding of ``W - update``.
    """
    rng = np.random.default_rng(8)
    weights = [w.astype(dtype) for w in ref.orthogonal([4, 5, 3], 1.0, rng)]
    data = dict(target=rng.standard_normal((3, 4)))
    rp = reference_problem("factorization", data, "sum", dtype)
    start = [w.astype(np.float64) for w in weights]
    lr = 0.5 if optimizer in ("adam", "rmsprop") else 0.5 / np.linalg.norm(rp.gradients(start)[0])
    problem = engine_problem("factorization", data, "sum")
    res = dln.train(dln.Network(weights), problem, lr, 1, optimizer=optimizer)
    expected = ref.train(start, rp, lr, 1, optimizer=optimizer)["weights"]
    sizes = layer_scales(expected, start)
    updates = [np.linalg.norm(e - w) for e, w in zip(expected, start)]
    assert min(u / n for u, n in zip(updates, sizes)) > 0.1
    assert_layers_close(res.network.weights, expected, ("step", dtype), scales=sizes)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_default_hyperparameters(
    optimizer, dtype, make_problem_data, assert_layers_close, assert_history_close
):
    """Default momentum, betas, eps = 1e-8 and decay on a case far from any entry's optimum."""
    rng = np.random.default_rng(7)
    weights = ref.orthogonal([5, 6, 4], 0.5, rng)
    data = make_problem_data("factorization", 5, 4, rng)
    data["target"] *= 4  # every entry of the residual stays large over the run
    res, expected, weights64, rp, lr = run_both(weights, "factorization", data, "mean", dtype, optimizer, 25)
    assert res.status == "max_steps" and res.steps == 25
    scales = layer_scales(expected["weights"], weights64)
    assert_layers_close(res.network.weights, expected["weights"], dtype, scales=scales)
    assert_history_close(res.loss, expected["loss"], dtype, scale=expected["loss"][0])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("record_every", [1, 2, 3, 7, 25, 40])
def test_record_every_history(
    record_every, dtype, make_problem_data, assert_layers_close, assert_history_close
):
    """``loss[j]`` is the loss after ``j * record_every`` updates; len == steps // record_every + 1."""
    rng = np.random.default_rng(1)
    weights = ref.orthogonal([4, 3, 5], 1.0, rng)
    data = make_problem_data("regression", 4, 5, rng, n_samples=6)
    steps = 25
    res, expected, weights64, rp, _ = run_both(
        weights, "regression", data, "mean", dtype, "gd", steps, record_every=record_every
    )
    assert res.status == "max_steps" and res.steps == steps
    assert len(res.loss) == len(expected["loss"]) == steps // record_every + 1
    assert_history_close(res.loss, expected["loss"], dtype, scale=expected["loss"][0])
    assert_layers_close(
        res.network.weights, expected["weights"], dtype, scales=layer_scales(expected["weights"], weights64)
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
def test_tol_stops_at_first_step_below(kind, dtype, make_problem_data, assert_layers_close):
    rng = np.random.default_rng(2)
    weights = ref.orthogonal([3, 4, 3], 0.5, rng)
    data = make_problem_data(kind, 3, 3, rng, n_samples=2)  # N < d_in: regression can reach 0
    rp = reference_problem(kind, data, "sum", dtype)
    lr = step_size("gd", 2, rp)
    history = ref.train([w.astype(dtype).astype(np.float64) for w in weights], rp, lr, 40)["loss"]
    k = 15
    assert history[k] < 0.995 * history[k - 1]  # a clear gap, so rounding cannot move the stop
    tol = float(np.sqrt(history[k - 1] * history[k]))
    res, expected, _, _, _ = run_both(weights, kind, data, "sum", dtype, "gd", 40, tol=tol)
    assert expected["status"] == res.status == "converged"
    assert expected["steps"] == res.steps == k
    assert len(res.loss) == k + 1
    assert res.loss[-1] <= tol and res.final_loss <= tol
    assert_layers_close(res.network.weights, expected["weights"], dtype)
    # Already below tol at the start: no update at all.
    res = dln.train(dln.Network(weights), engine_problem(kind, data, "sum"), lr, 40, tol=2 * history[0])
    assert res.status == "converged" and res.steps == 0 and len(res.loss) == 1
    for a, b in zip(res.network.weights, weights):
        np.testing.assert_array_equal(a, b)


def diverging_case(dtype):
    """L = 1, sum: W_k - Phi = (-50)^k (W_0 - Phi), so the loss ratio 2500^k passes 1e8 at k = 3."""
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal((2, 3)).astype(dtype)]
    data = dict(target=rng.standard_normal((2, 3)))
    return weights, data, reference_problem("factorization", data, "sum", dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_divergence_returns_last_finite_state(dtype, assert_layers_close):
    weights, data, rp = diverging_case(dtype)
    expected = ref.train([w.astype(np.float64) for w in weights], rp, 51.0, 10)
    res = dln.train(dln.Network(weights), engine_problem("factorization", data, "sum"), 51.0, 10)
    assert expected["status"] == res.status == "diverged"
    assert expected["steps"] == res.steps == 2
    assert_layers_close(res.network.weights, expected["weights"], dtype)
    assert np.all(np.isfinite(res.network.weights[0]))
    # End-to-end map overflows from the start: nothing to go back to, the initial weights come back.
    big = 2 * np.sqrt(np.finfo(dtype).max)  # the product of two layers overflows to inf
    huge = [big * np.eye(2, 3, dtype=dtype), big * np.eye(2, dtype=dtype)]
    res = dln.train(dln.Network(huge), engine_problem("factorization", data, "sum"), 1e-3, 10)
    assert res.status == "diverged" and res.steps == 0
    for a, b in zip(res.network.weights, huge):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("record_every", [1, 3])
def test_diverged_history_excludes_tripping_loss(record_every, dtype, assert_history_close):
    """The loop tests the loss before recording it, so the loss that trips the divergence test
    (step 3 here) is never in the history: it ends at the last accepted multiple of record_every."""
    weights, data, rp = diverging_case(dtype)
    expected = ref.train([w.astype(np.float64) for w in weights], rp, 51.0, 10, record_every=record_every)
    res = dln.train(
        dln.Network(weights),
        engine_problem("factorization", data, "sum"),
        51.0,
        10,
        record_every=record_every,
    )
    assert len(expected["loss"]) == 2 // record_every + 1
    assert_history_close(res.loss, expected["loss"], dtype)


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
@pytest.mark.parametrize("kind", KINDS)
def test_mean_step_equals_sum_step_over_count(
    kind, optimizer, make_problem_data, assert_layers_close, assert_history_close
):
    """SCIENCE.md 1: a step lr under "mean" is lr * c under "sum" (engine on both sides)."""
    rng = np.random.default_rng(3)
    weights = ref.orthogonal([5, 4, 4, 3], 1.0, rng)
    data = make_problem_data(kind, 5, 3, rng)
    mean = engine_problem(kind, data, "mean")
    total = engine_problem(kind, data, "sum")
    c = reference_problem(kind, data, "mean").factor
    lr = step_size(optimizer, 3, reference_problem(kind, data, "mean"))
    net = dln.Network(weights)
    a = dln.train(net, mean, lr, 25, optimizer=optimizer)
    b = dln.train(net, total, lr * c, 25, optimizer=optimizer)
    assert_layers_close(a.network.weights, b.network.weights, np.float64)
    assert_history_close(a.loss, c * b.loss, np.float64, scale=a.loss[0])
