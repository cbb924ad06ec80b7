"""Non-linear networks: an elementwise activation between layers, trained exactly by the engine.

``H_0 = X, H_l = f(W_l H_{l-1}) (l < L), H_L = W_L H_{L-1}``; factorisation and completion take
``X = I``. Engine features, losses and gradients are checked against the NumPy reference
(:mod:`dln.reference`, plain backpropagation written separately) and against central differences of
the engine's own loss; training trajectories against the reference's loop; ``train_batch``,
checkpoints and ``RunConfig`` keep the activation; bad input and the linear-only features
(compression, SVD tracking) are refused naming the parameter and the activation.

Error scales: for every activation here ``|f(z)| <= |z|`` and ``|f'(z)| <= 1`` (negative slopes are
drawn from [0, 1]), so :func:`dln.reference.gradient_scale` and :func:`dln.reference.loss_scale`,
the product-of-norms bounds of the linear network, bound the non-linear network's gradients and loss
too and stay the natural scale of their rounding errors.

ReLU kinks: the gradient jumps where a pre-activation crosses 0, so two computations can only be
compared where no pre-activation is within rounding of a kink. Cases whose smallest pre-activation
is below ``KINK_MARGIN`` times its scale are rejected (``assume``: a probability ~1e-6 per entry).
Finite differences use a step that provably crosses no kink (:func:`kink_free_step`).
"""

import json
import pickle

import numpy as np
import pytest
from conftest import reference_problem
from hypothesis import assume, given
from hypothesis import strategies as st

import dln
from dln import reference as ref

KINDS = ("factorization", "regression", "completion")
ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh")
NONLINEAR = ("relu", "leaky_relu", "tanh")
OPTIMIZERS = ("gd", "momentum", "adam", "rmsprop")
INITS = {"orthogonal": ref.orthogonal, "gaussian": ref.gaussian, "uniform": ref.uniform}
# Relative distance from 0 that every pre-activation needs for a comparison with the reference: far
# above the rounding of one evaluation (gradients, features) or of a whole run (training: float32
# accumulates ~1e-6 relative error over 25 steps, so a unit that close to its kink may flip).
KINK_MARGIN = {np.float64: 1e-10, np.float32: 1e-5}
RUN_KINK_MARGIN = {np.float64: 1e-10, np.float32: 1e-4}

# 1-wide layers and L = 1 included, so 1 x n and n x 1 layers occur
widths_st = st.lists(st.integers(1, 6), min_size=2, max_size=5)
seed_st = st.integers(0, 2**32 - 1)
slope_st = st.sampled_from([0.0, 0.01, 0.2, 1.0])


def engine_problem(kind, data, reduction):
    if kind == "factorization":
        return dln.Factorization(data["target"], reduction=reduction)
    if kind == "regression":
        return dln.Regression(data["X"], data["Y"], reduction=reduction)
    return dln.Completion(data["target"], data["mask"], reduction=reduction)


def inputs_of(rp, d_in):
    return rp.X if isinstance(rp, ref.Regression) else np.eye(d_in)


def pre_activations(weights, X, activation, slope):
    """Hidden pre-activations ``Z_1 .. Z_{L-1}`` (reference forward pass)."""
    H = ref.features(weights, X, activation, slope)
    return [w @ h for w, h in zip(weights[:-1], H[:-2])]


def kink_margin(weights, X, activation, slope):
    """Smallest |pre-activation| relative to its product-of-norms scale (inf without kinks).

    A sample whose features are all zero (every unit below switched off) has exactly zero
    pre-activations in any arithmetic; both sides then agree on ``f'(0)``, so it does not count."""
    if activation in ("linear", "tanh"):
        return np.inf
    margin = np.inf
    H = ref.features(weights, X, activation, slope)
    for l, Z in enumerate(pre_activations(weights, X, activation, slope)):
        scale = np.linalg.norm(X) * np.prod([np.linalg.norm(w) for w in weights[: l + 1]])
        live = np.any(H[l] != 0, axis=0)
        if Z[:, live].size and scale > 0:
            margin = min(margin, float(np.min(np.abs(Z[:, live]))) / scale)
    return margin


def pattern(weights, X, activation, slope):
    return [Z > 0 for Z in pre_activations(weights, X, activation, slope)]


def kink_free_step(weights, X, activation, slope, l, idx, h):
    """A step ``<= h`` over which moving ``weights[l][idx]`` crosses no kink.

    Moving one entry makes ``Z_l`` affine in the step; while the pattern below is fixed, every
    ``Z_k`` above is then affine too. So if the sign pattern at ``-s`` and ``+s`` equals the one at
    0, no pre-activation changes sign on ``[-s, s]`` and the loss there is a quadratic in the step
    (exactly differentiated by central differences).
    """
    base = pattern(weights, X, activation, slope)
    while h > 1e-7:
        same = True
        for sign in (1.0, -1.0):
            moved = [w.copy() for w in weights]
            moved[l][idx] += sign * h
            same = same and all(np.array_equal(a, b) for a, b in zip(pattern(moved, X, activation, slope), base))
        if same:
            return h
        h /= 4
    return None


def setup(kind, activation, slope, reduction, dtype, widths, seed, init, scale, make_problem_data):
    rng = np.random.default_rng(seed)
    weights = INITS[init](widths, scale, rng, dtype=dtype)
    data = make_problem_data(kind, widths[0], widths[-1], rng)
    net = dln.Network(weights, activation=activation, negative_slope=slope)
    problem = engine_problem(kind, data, reduction)
    rp = reference_problem(kind, data, reduction, dtype)
    return net, problem, [w.astype(np.float64) for w in weights], rp


# --- losses, gradients, features -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
@given(widths=widths_st, seed=seed_st, init=st.sampled_from(sorted(INITS)), scale=st.sampled_from([0.5, 1.0, 2.0]),
       reduction=st.sampled_from(["mean", "sum"]), slope=slope_st)
def test_gradients_match_reference(kind, activation, dtype, widths, seed, init, scale, reduction, slope,
                                   make_problem_data, assert_layers_close, assert_history_close):
    net, problem, w64, rp = setup(kind, activation, slope, reduction, dtype, widths, seed, init, scale,
                                  make_problem_data)
    assume(kink_margin(w64, inputs_of(rp, widths[0]), activation, slope) > KINK_MARGIN[dtype])
    grads = problem.gradients(net)
    assert all(g.dtype == dtype and g.shape == w.shape for g, w in zip(grads, w64))
    loss, expected = ref.loss_and_grads(w64, rp, activation, slope)
    assert_layers_close(grads, expected, dtype, scales=ref.gradient_scale(w64, rp), what="gradient")
    assert_history_close([problem.loss(net)], [loss], dtype, scale=ref.loss_scale(w64, rp))


@pytest.mark.parametrize("activation", NONLINEAR)
@pytest.mark.parametrize("kind", KINDS)
@given(widths=widths_st, seed=seed_st, init=st.sampled_from(sorted(INITS)), scale=st.sampled_from([0.5, 1.0]),
       reduction=st.sampled_from(["mean", "sum"]), slope=slope_st)
def test_gradients_match_central_differences(kind, activation, widths, seed, init, scale, reduction, slope,
                                             make_problem_data, assert_layers_close, fd_step):
    """Engine gradients against differences of the engine's own loss (float64).

    ReLU-type: a kink-free step per entry (the loss is then quadratic in it, so the central
    difference is exact up to rounding, as for linear nets). tanh is smooth but not quadratic: one
    Richardson step, ``(4 D(h/2) - D(h)) / 3``, leaves an O(h^4) truncation error (~1e-8 * f^(5)
    at h = FD_STEP), below the rounding the table budgets for.
    """
    net, problem, w64, rp = setup(kind, activation, slope, reduction, np.float64, widths, seed, init, scale,
                                  make_problem_data)
    X = inputs_of(rp, widths[0])

    def loss(ws):
        return problem.loss(dln.Network(ws, activation=activation, negative_slope=slope))

    def central(l, idx, h):
        plus, minus = [w.copy() for w in w64], [w.copy() for w in w64]
        plus[l][idx] += h
        minus[l][idx] -= h
        return (loss(plus) - loss(minus)) / (2 * h)

    fd = []
    for l, w in enumerate(w64):
        g = np.empty_like(w)
        for idx in np.ndindex(w.shape):
            if activation == "tanh":
                g[idx] = (4 * central(l, idx, fd_step / 2) - central(l, idx, fd_step)) / 3
            else:
                h = kink_free_step(w64, X, activation, slope, l, idx, fd_step)
                assume(h is not None)
                g[idx] = central(l, idx, h)
        fd.append(g)
    assert_layers_close(problem.gradients(net), fd, "fd", scales=ref.gradient_scale(w64, rp), what="gradient")


def test_tanh_richardson_step_is_resolved(make_problem_data, fd_step):
    """The Richardson difference used above is not vacuous: plain central differences at the same
    step miss a tanh gradient by far more than the "fd" tolerance, the extrapolated one does not."""
    rng = np.random.default_rng(4)
    w = ref.gaussian([3, 4, 2], 1.0, rng)
    data = make_problem_data("regression", 3, 2, rng, n_samples=5)
    rp = ref.Regression(data["X"], data["Y"], "sum")
    g = ref.loss_and_grads(w, rp, "tanh")[1][0][0, 0]

    def central(h):
        plus, minus = [x.copy() for x in w], [x.copy() for x in w]
        plus[0][0, 0] += h
        minus[0][0, 0] -= h
        return (ref.loss_and_grads(plus, rp, "tanh")[0] - ref.loss_and_grads(minus, rp, "tanh")[0]) / (2 * h)

    scale = ref.gradient_scale(w, rp)[0]
    assert abs(central(fd_step) - g) > 1e-7 * scale
    assert abs((4 * central(fd_step / 2) - central(fd_step)) / 3 - g) < 1e-9 * scale


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(widths=widths_st, seed=seed_st, n=st.integers(1, 7), slope=slope_st)
def test_features_match_reference(activation, dtype, widths, seed, n, slope, assert_layers_close):
    rng = np.random.default_rng(seed)
    weights = ref.gaussian(widths, 1.0, rng, dtype=dtype)
    X = rng.standard_normal((widths[0], n)).astype(dtype)
    net = dln.Network(weights, activation=activation, negative_slope=slope)
    H = net.features(X)
    assert len(H) == len(widths) and [h.shape for h in H] == [(w, n) for w in widths]
    assert all(h.dtype == dtype for h in H)
    w64 = [w.astype(np.float64) for w in weights]
    expected = ref.features(w64, X.astype(np.float64), activation, slope)
    # H_l is accurate relative to the product of the norms that made it (|f(z)| <= |z|)
    scales = [np.linalg.norm(X) * np.prod([np.linalg.norm(w) for w in w64[:l]]) for l in range(len(widths))]
    assert_layers_close(H, expected, dtype, scales=scales, what="feature")
    np.testing.assert_array_equal(H[0], X)
    for a, b in zip(net.layer_outputs(X), H):  # the older name: one implementation
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.forward(X), H[-1])
    if activation in ("relu", "tanh"):
        assert all((h >= 0).all() if activation == "relu" else (np.abs(h) <= 1).all() for h in H[1:-1])


def test_activation_values_and_kink_convention():
    """f and f' on chosen points, the kink included: relu'(0) = 0, leaky_relu'(0) = slope."""
    X = np.array([[-2.0, -0.0, 0.0, 3.0]])
    W1, W2 = np.array([[1.0]]), np.array([[1.0]])
    expected = {"linear": [-2, 0, 0, 3], "relu": [0, 0, 0, 3], "leaky_relu": [-0.5, 0, 0, 3],
                "tanh": np.tanh([-2.0, 0, 0, 3])}
    for act, values in expected.items():
        H = dln.Network([W1, W2], activation=act, negative_slope=0.25).features(X)
        np.testing.assert_array_equal(H[1], np.array([values], dtype=np.float64))
        np.testing.assert_array_equal(H[2], H[1])  # the output layer is linear
    # derivative at the kink: a 1-1-1 regression with one sample at z = 0 and target 1 (sum):
    # loss = 1/2 (w2 f(w1 x) - 1)^2 with w1 x = 0, so grad_1 = (f(0) w2 - 1) w2 f'(0) x
    x = np.array([[1.0]])
    net = dln.Network([np.array([[0.0]]), np.array([[1.0]])], activation="relu")
    problem = dln.Regression(x, np.array([[1.0]]), reduction="sum")
    assert problem.gradients(net)[0][0, 0] == 0.0
    leaky = dln.Network([np.array([[0.0]]), np.array([[1.0]])], activation="leaky_relu", negative_slope=0.25)
    assert problem.gradients(leaky)[0][0, 0] == -0.25
    assert ref.activation_derivative(np.array([0.0]), "relu")[0] == 0.0
    assert ref.activation_derivative(np.array([0.0]), "leaky_relu", 0.25)[0] == 0.25


def test_leaky_relu_with_slope_one_is_the_linear_network(assert_layers_close, assert_history_close):
    """Slope 1 makes leaky ReLU the identity: the backpropagation path must then reproduce the linear
    path's prefix/suffix results (to rounding: different product orders)."""
    rng = np.random.default_rng(3)
    weights = ref.gaussian([4, 5, 5, 3], 1.0, rng)
    X, Y = rng.standard_normal((4, 9)), rng.standard_normal((3, 9))
    for problem in (dln.Regression(X, Y), dln.Factorization(Y[:, :4]),
                    dln.Completion(Y[:, :4], rng.random((3, 4)) < 0.5)):
        lin = dln.Network(weights)
        same = dln.Network(weights, activation="leaky_relu", negative_slope=1.0)
        assert_layers_close(problem.gradients(same), problem.gradients(lin), np.float64)
        assert_history_close([problem.loss(same)], [problem.loss(lin)], np.float64)


# --- training -----------------------------------------------------------------------------------------


def step_size(optimizer, depth, rp):
    """Stable steps in the reduction's units (data and inits have norm <= 1; |f'| <= 1)."""
    if optimizer == "gd":
        return 0.1 / depth / rp.factor
    if optimizer == "momentum":
        return 0.02 / depth / rp.factor
    return 1e-3


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("activation", NONLINEAR)
@pytest.mark.parametrize("kind", KINDS)
def test_training_matches_reference(kind, activation, optimizer, dtype, make_problem_data, assert_layers_close,
                                    assert_history_close):
    """25 steps of every optimiser, float64 and float32, against the reference loop in float64.

    Layers are compared against ``max(||W(T)||, ||W(0)||, path length)`` (rounding is committed at
    the size of the weights and of the updates along the run), losses against ``loss_scale`` with
    those sizes. Adam and RMSprop use ``eps = 4 L lr c`` so that an entry whose gradient vanishes
    contracts instead of wandering chaotically (as in test_train_vs_reference.py).
    """
    widths, steps = [4, 6, 5, 3], 25
    act = dict(activation=activation, negative_slope=0.1)
    # Training moves units through their kinks; the first seed whose reference run never passes
    # within RUN_KINK_MARGIN of one is used (a choice of data, made before the engine runs).
    first = sum(map(ord, kind + activation + optimizer))
    for seed in range(first, first + 50):
        rng = np.random.default_rng(seed)
        weights = ref.orthogonal(widths, 0.8, rng)
        data = make_problem_data(kind, widths[0], widths[-1], rng, n_samples=7)
        reduction = "mean" if optimizer in ("gd", "adam") else "sum"
        rp = reference_problem(kind, data, reduction, dtype)
        lr = step_size(optimizer, len(widths) - 1, rp)
        options = dict(optimizer=optimizer, lr_scale=[1.0, 0.5, 2.0][: len(widths) - 1])
        if optimizer in ("adam", "rmsprop"):
            options["eps"] = 4.0 * (len(widths) - 1) * lr * rp.factor
        start = [w.astype(dtype).astype(np.float64) for w in weights]
        path = ref.trajectory(start, rp, lr, steps, **options, **act)
        if all(kink_margin(ws, inputs_of(rp, widths[0]), activation, 0.1) > RUN_KINK_MARGIN[dtype] for ws in path):
            break
    else:
        pytest.fail("no seed in 50 keeps the run away from the kinks")
    net = dln.Network([w.astype(dtype) for w in weights], activation=activation, negative_slope=0.1)
    res = dln.train(net, engine_problem(kind, data, reduction), lr, steps, **options)
    assert res.status == "max_steps" and res.steps == steps
    assert res.network.activation == activation and res.network.negative_slope == 0.1
    expected = ref.train(start, rp, lr, steps, **options, **act)
    assert expected["status"] == "max_steps"
    assert expected["loss"][-1] < expected["loss"][0]  # the run learns something
    sizes = [max(np.linalg.norm(a), np.linalg.norm(b), sum(np.linalg.norm(q[l] - p[l]) for p, q in zip(path, path[1:])))
             for l, (a, b) in enumerate(zip(expected["weights"], start))]
    assert_layers_close(res.network.weights, expected["weights"], dtype, scales=sizes)
    assert_history_close(res.loss, expected["loss"], dtype, scale=ref.loss_scale(start, rp, layer_norms=sizes))
    assert res.form == ("data" if kind == "regression" else "auto")


def test_relu_regression_learns(make_problem_data):
    """A ReLU net fits a small regression far below its start (the gradients point downhill)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 40))
    Y = np.maximum(rng.standard_normal((3, 5)) @ X, 0)
    net = dln.Network.gaussian([5, 32, 32, 3], scale=1.0, seed=1, activation="relu")
    res = dln.train(net, dln.Regression(X, Y), lr=0.5, steps=400)
    assert res.status == "max_steps"
    assert res.final_loss < 1e-2 * res.loss[0]


@pytest.mark.parametrize("activation", NONLINEAR)
def test_stopping_rules_divergence_and_progress(activation):
    """tol, record_every, the divergence guard and progress callbacks work as for linear nets."""
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((3, 10)), rng.standard_normal((2, 10))
    problem = dln.Regression(X, Y, reduction="sum")
    net = dln.Network.gaussian([3, 5, 2], seed=1, activation=activation, negative_slope=0.2)
    full = dln.train(net, problem, lr=0.01, steps=60)
    tol = float(full.loss[30])
    stopped = dln.train(net, problem, lr=0.01, steps=60, tol=tol, record_every=3)
    first = int(np.argmax(full.loss <= tol))
    assert stopped.status == "converged" and stopped.steps == first
    np.testing.assert_array_equal(stopped.loss, full.loss[: first + 1 : 3])
    seen = []
    dln.train(net, problem, lr=0.01, steps=60, progress=seen.append)
    assert seen and seen[-1] == 60
    # a step far too large: the run diverges and keeps its last finite weights and its activation
    wild = dln.train(net, problem, lr=1e3, steps=200)
    assert wild.status == "diverged" and wild.network.activation == activation
    assert all(np.isfinite(w).all() for w in wild.network.weights)
    assert np.isfinite(problem.loss(wild.network))


def test_train_batch_equals_sequential(make_problem_data):
    """Non-linear jobs in a batch give the bits of one-thread sequential runs (any activation, both
    dtypes, mixed with linear jobs)."""
    rng = np.random.default_rng(5)
    data = make_problem_data("regression", 4, 3, rng, n_samples=9)
    reg = dln.Regression(data["X"], data["Y"])
    fac = dln.Factorization(rng.standard_normal((3, 4)))
    jobs = []
    for i, act in enumerate(ACTIVATIONS * 2):
        dtype = np.float32 if i % 3 == 0 else np.float64
        net = dln.Network.orthogonal([4, 6, 6, 3], scale=0.9, seed=i, dtype=dtype, activation=act,
                                     negative_slope=0.05)
        opt = OPTIMIZERS[i % 4]
        jobs.append((net, reg if i % 2 else fac, dict(lr=1e-2 if opt in ("adam", "rmsprop") else 0.5,
                                                        steps=30, optimizer=opt)))
    batch = dln.train_batch(jobs, n_threads=2)
    for (net, problem, kw), b in zip(jobs, batch):
        s = dln.train(net, problem, **kw, n_threads=1)
        assert b.network.activation == net.activation == s.network.activation
        np.testing.assert_array_equal(b.loss, s.loss)
        for x, y in zip(b.network.weights, s.network.weights):
            np.testing.assert_array_equal(x, y)


# --- checkpoints and configs --------------------------------------------------------------------------


@pytest.mark.parametrize("activation", NONLINEAR)
def test_checkpoint_round_trip_and_resume(tmp_path, activation):
    rng = np.random.default_rng(1)
    problem = dln.Regression(rng.standard_normal((4, 12)), rng.standard_normal((2, 12)))
    net = dln.Network.gaussian([4, 8, 8, 2], seed=3, activation=activation, negative_slope=0.3)
    kw = dict(lr=0.2, optimizer="momentum")
    plain = dln.train(net, problem, steps=40, **kw)
    path = tmp_path / "run.ckpt"
    short = dln.train(net, problem, steps=20, checkpoint=path, checkpoint_every=7, **kw)
    ck = dln.load_checkpoint(path)
    assert ck.network.activation == activation and ck.network.negative_slope == 0.3
    assert ck.config["activation"] == activation and ck.config["negative_slope"] == 0.3
    assert short.network.activation == activation
    resumed = dln.resume(path, problem, steps=40)
    assert resumed.network.activation == activation
    np.testing.assert_array_equal(resumed.loss, plain.loss)
    for a, b in zip(resumed.network.weights, plain.network.weights):
        np.testing.assert_array_equal(a, b)


def test_run_config_keeps_activation():
    c = dln.RunConfig(problem="regression", n_samples=20, d_in=6, d_out=3, rank=2, depth=3, width=8,
                      activation="leaky_relu", negative_slope=0.2, steps=5)
    for back in (dln.RunConfig.from_json(c.to_json()), dln.RunConfig.from_toml(c.to_toml())):
        assert back == c
    assert json.loads(c.to_json())["activation"] == "leaky_relu"
    net, problem, kw = c.build()
    assert net.activation == "leaky_relu" and net.negative_slope == 0.2
    assert dln.train(net, problem, **kw).network.activation == "leaky_relu"
    assert dln.RunConfig().activation == "linear"
    with pytest.raises(ValueError, match="^activation"):
        dln.RunConfig(activation="sigmoid")
    with pytest.raises(ValueError, match="^negative_slope"):
        dln.RunConfig(negative_slope=-1.0)


# --- the network object and bad input -----------------------------------------------------------------


def test_network_properties_repr_astype():
    net = dln.Network.uniform([3, 4, 2], seed=2, activation="tanh")
    assert net.activation == "tanh" and net.negative_slope == 0.01
    assert "activation='tanh'" in repr(net)
    assert "activation" not in repr(dln.Network.uniform([3, 4, 2], seed=2))
    assert "negative_slope=0.5" in repr(dln.Network([np.eye(2)], activation="leaky_relu", negative_slope=0.5))
    f32 = net.astype(np.float32)
    assert f32.activation == "tanh" and f32.dtype == np.float32
    # the init does not depend on the activation
    for a, b in zip(net.weights, dln.Network.uniform([3, 4, 2], seed=2).weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [
    lambda **k: dln.Network([np.eye(2)], **k),
    lambda **k: dln.Network.orthogonal([2, 2], **k),
    lambda **k: dln.Network.gaussian([2, 2], **k),
    lambda **k: dln.Network.uniform([2, 2], **k),
], ids=["init", "orthogonal", "gaussian", "uniform"])
@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(activation="sigmoid"), ValueError, "activation"),
    (dict(activation="ReLU"), ValueError, "activation"),
    (dict(activation=None), ValueError, "activation"),
    (dict(activation="leaky_relu", negative_slope=-0.1), ValueError, "negative_slope"),
    (dict(negative_slope=float("nan")), ValueError, "negative_slope"),
    (dict(negative_slope=float("inf")), ValueError, "negative_slope"),
    (dict(negative_slope="0.1"), TypeError, "negative_slope"),
])
def test_bad_activation_arguments(make, kwargs, exc, name):
    with pytest.raises(exc, match=f"^{name}"):
        make(**kwargs)


def test_linear_only_features_refuse_nonlinear_nets(tmp_path):
    rng = np.random.default_rng(0)
    phi = rng.standard_normal((6, 6))
    net = dln.Network.orthogonal([6, 6, 6], scale=0.1, activation="relu")
    problem = dln.Factorization(phi)
    for call, name in [
        (lambda: dln.compress(net, problem, rank=2), "net"),
        (lambda: dln.invariant_subspace(net, problem, rank=2), "net"),
        (lambda: dln.compress_trained(net, rank=2), "net"),
        (lambda: dln.train(net, problem, lr=1.0, steps=3, compress=2), "compress"),
        (lambda: dln.train(net, problem, lr=1.0, steps=3, track_svd=dln.TrackSpec(every=1, block_r=2)), "track_svd"),
        (lambda: dln.train(net, dln.SparseCompletion((6, 6), [0, 1], [1, 2], [1.0, 2.0]), lr=1.0, steps=3), "net"),
    ]:
        with pytest.raises(ValueError, match=f"^{name}: .*'relu'"):
            call()
    # a regression built for the covariance form cannot train a non-linear net; named before any work
    cov = dln.Regression(rng.standard_normal((6, 20)), rng.standard_normal((6, 20)), form="covariance")
    with pytest.raises(ValueError, match="^net: activation 'relu'.*covariance"):
        dln.train(net, cov, lr=1.0, steps=3, checkpoint=tmp_path / "never.ckpt")
    assert not (tmp_path / "never.ckpt").exists()
    with pytest.raises(ValueError, match="^jobs\\[0\\]: net: activation 'relu'"):
        dln.train_batch([(net, cov, dict(lr=1.0, steps=3))])
    with pytest.raises(ValueError, match="^net: activation 'relu'"):
        cov.gradients(net)
    # "auto" picks the data form for a non-linear net
    auto = dln.Regression(rng.standard_normal((6, 20)), rng.standard_normal((6, 20)))
    assert auto.form_for(net) == "data" and auto.form_for(dln.Network.orthogonal([6, 6, 6])) == "covariance"


def test_linear_network_takes_the_linear_path(assert_layers_close):
    """activation='linear' (explicit or default) is the deep linear network of before: the same
    bits, and the prefix/suffix scheme with its covariance form (a non-linear net cannot use it)."""
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((5, 30)), rng.standard_normal((4, 30))
    problem = dln.Regression(X, Y)
    default = dln.Network.orthogonal([5, 8, 8, 4], scale=0.7, seed=1)
    explicit = dln.Network(default.weights, activation="linear", negative_slope=0.3)
    a = dln.train(default, problem, lr=0.1, steps=20)
    b = dln.train(explicit, problem, lr=0.1, steps=20)
    assert a.form == b.form == "covariance"
    np.testing.assert_array_equal(a.loss, b.loss)
    for x, y in zip(a.network.weights, b.network.weights):
        np.testing.assert_array_equal(x, y)
    # features of a linear net are the end-to-end map applied to X (to rounding: other product order)
    scale = np.linalg.norm(X) * np.prod([np.linalg.norm(w) for w in default.weights])
    assert_layers_close([default.features(X)[-1]], [default.end_to_end() @ X], np.float64, scales=[scale])


def test_activation_is_a_bound_class_with_a_real_enum():
    """The boundary carries the activation as dln.Activation (an ActivationKind and a slope, checked
    when built), not as a name and a float; names keep working at the public API."""
    a = dln.Activation(dln.ActivationKind.leaky_relu, 0.2)
    assert a.kind == dln.ActivationKind.leaky_relu and a.negative_slope == 0.2 and a.name == "leaky_relu"
    assert not a.linear and dln.Activation().linear
    assert a == dln.Activation.parse("leaky_relu", 0.2) and a != dln.Activation(dln.ActivationKind.leaky_relu, 0.3)
    assert hash(a) == hash(dln.Activation.parse("leaky_relu", 0.2))
    assert pickle.loads(pickle.dumps(a)) == a
    assert repr(a) == "Activation('leaky_relu', negative_slope=0.2)"
    with pytest.raises(ValueError, match="^negative_slope"):
        dln.Activation(dln.ActivationKind.relu, -1.0)
    with pytest.raises(ValueError, match="^negative_slope"):
        dln.Activation(dln.ActivationKind.relu, float("nan"))
    with pytest.raises(ValueError, match="^activation"):
        dln.Activation.parse("sigmoid")
    with pytest.raises(AttributeError):
        a.negative_slope = 0.5  # immutable: what reached the core was checked

    rng = np.random.default_rng(3)
    phi = rng.standard_normal((5, 5))
    by_name = dln.Network.orthogonal([5, 6, 5], scale=0.5, seed=4, activation="tanh")
    by_enum = dln.Network.orthogonal([5, 6, 5], scale=0.5, seed=4, activation=dln.ActivationKind.tanh)
    assert by_enum.activation == "tanh" and by_enum.activation_spec == by_name.activation_spec
    r1 = dln.train(by_name, dln.Factorization(phi), lr=0.05, steps=20)
    r2 = dln.train(by_enum, dln.Factorization(phi), lr=0.05, steps=20)
    for w1, w2 in zip(r1.network.weights, r2.network.weights):
        assert np.array_equal(w1, w2)
    assert r1.network.activation_spec == dln.Activation(dln.ActivationKind.tanh, 0.01)
