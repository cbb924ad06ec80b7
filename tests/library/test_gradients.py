"""Engine losses and gradients against central differences and the NumPy reference.

Shapes are random and include 1-wide layers and L = 1; inputs come in C order, Fortran order and
as strided views; all three problems, both reductions, float64 and float32 networks, and every
regression form. Gradient errors are measured against :func:`dln.reference.gradient_scale`
(a bound on the gradient norm that is the natural scale of rounding in the products).
"""

import numpy as np
import pytest
from conftest import central_differences, reference_problem
from hypothesis import given
from hypothesis import strategies as st

import dln
from dln import reference as ref

KINDS = ("factorization", "regression", "completion")
INITS = {"orthogonal": ref.orthogonal, "gaussian": ref.gaussian, "uniform": ref.uniform}

widths_st = st.lists(st.integers(1, 8), min_size=2, max_size=5)
seed_st = st.integers(0, 2**32 - 1)
layout_st = st.sampled_from(["C", "F", "strided"])


def with_layout(a, layout):
    """Same values as ``a`` in the requested memory layout."""
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    big = np.zeros((2 * a.shape[0], 3 * a.shape[1]), dtype=a.dtype)
    view = big[::2, ::3]
    view[...] = a
    return view


def engine_problem(kind, data, reduction, form="auto", layout="C"):
    if kind == "factorization":
        return dln.Factorization(with_layout(data["target"], layout), reduction=reduction)
    if kind == "regression":
        X, Y = (with_layout(data[k], layout) for k in ("X", "Y"))
        return dln.Regression(X, Y, reduction=reduction, form=form)
    return dln.Completion(
        with_layout(data["target"], layout), with_layout(data["mask"], layout), reduction=reduction
    )


@st.composite
def cases(draw):
    """Everything but the problem kind, reduction and dtype, which the tests parametrize."""
    return dict(
        widths=draw(widths_st),
        seed=draw(seed_st),
        init=draw(st.sampled_from(sorted(INITS))),
        scale=draw(st.sampled_from([0.5, 1.0, 2.0])),
        form=draw(st.sampled_from(["auto", "covariance", "data"])),
        layout=draw(layout_st),
        data_dtype=draw(st.sampled_from([np.float64, np.float32])),
        mask_bool=draw(st.booleans()),
    )


def setup(case, kind, reduction, dtype, make_problem_data):
    rng = np.random.default_rng(case["seed"])
    weights = INITS[case["init"]](case["widths"], case["scale"], rng, dtype=dtype)
    data = make_problem_data(kind, case["widths"][0], case["widths"][-1], rng)
    data = {k: (v if k == "mask" else v.astype(case["data_dtype"])) for k, v in data.items()}
    if "mask" in data and not case["mask_bool"]:
        data["mask"] = data["mask"].astype(case["data_dtype"])
    net = dln.Network([with_layout(w, case["layout"]) for w in weights])
    problem = engine_problem(kind, data, reduction, case["form"], case["layout"])
    weights64 = [w.astype(np.float64) for w in weights]
    return net, problem, weights64, reference_problem(kind, data, reduction, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("kind", KINDS)
@given(case=cases())
def test_gradients_match_reference(
    kind, reduction, dtype, case, make_problem_data, assert_layers_close, assert_history_close
):
    net, problem, weights64, rp = setup(case, kind, reduction, dtype, make_problem_data)
    dtype = np.dtype(dtype)
    assert net.dtype == dtype
    for w, w_in in zip(net.weights, weights64):
        np.testing.assert_array_equal(w, w_in)
    grads = problem.gradients(net)
    assert [g.shape for g in grads] == [w.shape for w in weights64]
    assert all(g.dtype == dtype for g in grads)
    loss, expected = ref.loss_and_grads(weights64, rp)
    assert_layers_close(grads, expected, dtype, scales=ref.gradient_scale(weights64, rp), what="gradient")
    assert_history_close([problem.loss(net)], [loss], dtype, scale=ref.loss_scale(weights64, rp))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("kind", KINDS)
@given(case=cases())
def test_gradients_match_central_differences(
    kind, reduction, case, make_problem_data, assert_layers_close, fd_step
):
    """Engine gradients against differences of the engine's own loss (float64)."""
    net, problem, weights64, rp = setup(case, kind, reduction, np.float64, make_problem_data)
    fd = central_differences(weights64, lambda w: problem.loss(dln.Network(w)), fd_step)
    assert_layers_close(
        problem.gradients(net), fd, "fd", scales=ref.gradient_scale(weights64, rp), what="gradient"
    )


def test_completion_unobserved_entries_have_zero_gradient():
    """L = 1 completion: the gradient is c M * (W - Phi), exactly zero off the mask."""
    rng = np.random.default_rng(0)
    phi = rng.standard_normal((4, 5))
    mask = rng.random((4, 5)) < 0.5
    net = dln.Network([rng.standard_normal((4, 5))])
    for reduction in ("mean", "sum"):
        (g,) = dln.Completion(phi, mask, reduction=reduction).gradients(net)
        assert np.all(g[~mask] == 0)
