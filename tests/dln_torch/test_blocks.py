"""dln.torch.DeepLinear and dln.torch.compress: init, forward/backward against dln.reference, and the
compressed block's trajectory against the wide block's (SCIENCE.md sections 2-3)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import dln
import dln.torch as dt
from dln import reference as ref

# The bound for a whole trained trajectory (many steps of rounding): lifted compressed layers
# against directly trained wide layers, relative to the layer norm.
TRAJECTORY_RTOL = 1e-10

shapes = st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.integers(1, 8))


def _np(t):
    return t.detach().cpu().double().numpy()


@given(shapes, st.sampled_from([torch.float64, torch.float32]), st.integers(0, 2**32))
def test_init_bits_equal_dln_network_orthogonal(shape, dtype, seed):
    d_in, d_out, depth, width = shape
    block = dt.DeepLinear(d_in, d_out, depth=depth, width=width, scale=0.3, seed=seed, dtype=dtype)
    npdt = np.float64 if dtype == torch.float64 else np.float32
    expected = dln.Network.orthogonal([d_in] + [width] * (depth - 1) + [d_out], 0.3, seed, dtype=npdt).weights
    assert len(block.factors) == depth
    for f, w in zip(block.factors, expected):
        assert f.dtype == dtype and tuple(f.shape) == w.shape
        assert np.array_equal(f.detach().numpy(), w)  # same bits


def test_default_width_and_shapes():
    block = dt.DeepLinear(5, 3)
    assert block.widths == [5, 5, 5, 3]
    assert [tuple(f.shape) for f in block.factors] == [(5, 5), (5, 5), (3, 5)]
    assert block.factors[0].dtype == torch.float64


@given(shape=shapes, n=st.integers(1, 6), dtype=st.sampled_from([torch.float64, torch.float32]),
       seed=st.integers(0, 1000))
def test_forward_backward_match_reference(shape, n, dtype, seed, tol, assert_layers_close):
    d_in, d_out, depth, width = shape
    npdt = np.float64 if dtype == torch.float64 else np.float32
    block = dt.DeepLinear(d_in, d_out, depth=depth, width=width, scale=0.8, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d_in)).astype(block.factors[0].detach().numpy().dtype)
    Y = rng.standard_normal((n, d_out)).astype(X.dtype)
    out = block(torch.from_numpy(X))
    loss = 0.5 * ((out - torch.from_numpy(Y)) ** 2).sum()
    loss.backward()
    weights = [_np(f) for f in block.factors]
    problem = ref.Regression(X.T.astype(np.float64), Y.T.astype(np.float64), reduction="sum")
    ref_loss, ref_grads = ref.loss_and_grads(weights, problem)
    # forward: the block's output against W_{L:1} X computed from scratch
    assert_layers_close([_np(out)], [(ref.end_to_end(weights) @ X.T.astype(np.float64)).T], npdt, what="output")
    scales = ref.gradient_scale(weights, problem)
    assert_layers_close([_np(f.grad) for f in block.factors], ref_grads, npdt, scales=scales, what="gradient")
    t = tol(npdt)
    assert abs(loss.item() - ref_loss) <= t["rtol"] * ref.loss_scale(weights, problem) + t["atol"]


def test_forward_batched_leading_dims(tol):
    block = dt.DeepLinear(4, 3, depth=2, width=6, scale=1.0, seed=3)
    x = torch.randn(2, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = block(x)
    assert out.shape == (2, 5, 3)
    flat = block(x.reshape(10, 4)).reshape(2, 5, 3)
    assert torch.equal(out, flat)
    e2e = _np(block.end_to_end())
    np.testing.assert_allclose(_np(out), _np(x) @ e2e.T, **tol(np.float64))


def _dmf_data(d, r, seed):
    """Whitened regression (square orthogonal X) with a rank-r target: the law of parsimony is exact."""
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
    Phi /= np.linalg.norm(Phi, 2)
    X = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return torch.from_numpy(X), torch.from_numpy(X @ Phi.T), Phi


@pytest.mark.parametrize("source", ["batch", "gradient", "target"])
def test_compressed_trajectory_equals_wide(source):
    d, r, L, eps, lr, steps = 10, 2, 3, 0.5, 0.5, 150
    X, Y, Phi = _dmf_data(d, r, seed=4)
    wide = dt.DeepLinear(d, d, depth=L, scale=eps, seed=7)
    if source == "batch":
        comp = dt.compress(wide, r, batch=(X, Y), outer_lr_scale=0.0)
        assert comp.method == "closed"
    elif source == "target":
        comp = dt.compress(wide, r, target=torch.from_numpy(Phi), outer_lr_scale=0.0)
    else:
        (0.5 * ((wide(X) - Y) ** 2).sum()).backward()
        comp = dt.compress(wide, r, gradient=wide.factors[0].grad, outer_lr_scale=0.0)
        assert comp.method == "gradient"
        wide.zero_grad()
    assert [tuple(f.shape) for f in comp.factors] == [(2 * r, d)] + [(2 * r, 2 * r)] * L + [(d, 2 * r)]
    opt_w = torch.optim.SGD(wide.parameters(), lr=lr)
    opt_c = torch.optim.SGD(comp.parameter_groups(lr), lr=lr)
    rho = ref.rho_recursion(eps, lr, d, L, steps, reduction="sum")
    outer0 = [comp.factors[0].detach().clone(), comp.factors[-1].detach().clone()]
    worst = 0.0
    for t in range(steps + 1):
        lifted = comp.lift(rho[t])
        for w, l in zip(wide.factors, lifted):
            err = np.linalg.norm(_np(w) - l.numpy()) / np.linalg.norm(_np(w))
            worst = max(worst, err)
        if t == steps:
            break
        for model, opt in ((wide, opt_w), (comp, opt_c)):
            opt.zero_grad()
            (0.5 * ((model(X) - Y) ** 2).sum()).backward()
            opt.step()
    assert worst <= TRAJECTORY_RTOL, f"lifted compressed vs wide: max relative error {worst:.3e}"
    # the run learned something and the frozen outer factors stayed put
    assert np.linalg.norm(_np(comp.end_to_end()) - Phi) < 0.5 * np.linalg.norm(Phi)
    assert torch.equal(comp.factors[0], outer0[0]) and torch.equal(comp.factors[-1], outer0[1])


def test_gradient_subspace_equals_closed_form():
    X, Y, _ = _dmf_data(12, 3, seed=1)
    wide = dt.DeepLinear(12, 12, depth=3, scale=1e-2, seed=2)
    closed = dt.compress(wide, 3, batch=(X, Y))
    (0.5 * ((wide(X) - Y) ** 2).sum()).backward()
    grad = dt.compress(wide, 3, gradient=wide.factors[0].grad)
    assert ref.principal_angle_sine(closed.basis[0], grad.basis[0]) <= 1e-12  # SCIENCE.md 7.2


def test_parameter_groups_two_timescales():
    block = dt.DeepLinear(8, 8, depth=3, scale=0.1, seed=0)
    X, Y, _ = _dmf_data(8, 1, seed=0)
    comp = dt.compress(block, 2, batch=(X, Y), outer_lr_scale=0.01)
    groups = comp.parameter_groups(0.5)
    assert [g["name"] for g in groups] == ["outer", "inner"]
    assert groups[0]["lr"] == 0.5 * 0.01 and groups[1]["lr"] == 0.5
    f = list(comp.factors)
    assert groups[0]["params"][0] is f[0] and groups[0]["params"][1] is f[-1]
    assert all(a is b for a, b in zip(groups[1]["params"], f[1:-1]))
    assert comp.parameter_groups(1.0, outer_lr_scale=0.0)[0]["lr"] == 0.0
    # init: inner factors eps I, end-to-end the wide init projected on the subspace
    eps = comp.scale
    for c in f[1:-1]:
        assert torch.equal(c, eps * torch.eye(4, dtype=torch.float64))
    V = comp.basis[0]
    np.testing.assert_allclose(_np(comp.end_to_end()), _np(block.end_to_end()) @ V @ V.T, rtol=0,
                               atol=1e-12 * np.linalg.norm(_np(block.end_to_end())))


def test_float32_block_and_compress(tol):
    block = dt.DeepLinear(6, 6, depth=3, scale=0.5, seed=1, dtype=torch.float32)
    X, Y, _ = _dmf_data(6, 1, seed=2)
    X, Y = X.float(), Y.float()
    comp = dt.compress(block, 1, batch=(X, Y))
    assert all(p.dtype == torch.float32 for p in comp.parameters())
    out = comp(X)
    assert out.dtype == torch.float32 and out.shape == (6, 6)
    with pytest.raises(TypeError, match="x"):
        block(X.double())


def test_bad_input_names_the_parameter():
    with pytest.raises(TypeError, match="dtype"):
        dt.DeepLinear(3, 3, dtype=torch.float16)
    with pytest.raises(TypeError, match="in_features"):
        dt.DeepLinear(3.0, 3)
    with pytest.raises(ValueError, match="depth"):
        dt.DeepLinear(3, 3, depth=0)
    with pytest.raises(ValueError, match="scale"):
        dt.DeepLinear(3, 3, scale=float("nan"))
    with pytest.raises(ValueError, match="device"):
        dt.DeepLinear(3, 3, device="meta")
    with pytest.raises(TypeError, match="device"):
        dt.DeepLinear(3, 3, device=3.5)
    block = dt.DeepLinear(6, 6, depth=2, scale=0.1)
    X, Y, _ = _dmf_data(6, 1, seed=0)
    with pytest.raises(ValueError, match="x"):
        block(torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="rank"):
        dt.compress(block, 4, batch=(X, Y))  # 2 * 4 > 6
    with pytest.raises(ValueError, match="rank"):
        dt.compress(block, 0, batch=(X, Y))
    with pytest.raises(TypeError, match="block"):
        dt.compress(torch.nn.Linear(6, 6), 1, batch=(X, Y))
    with pytest.raises(ValueError, match="batch"):
        dt.compress(block, 1)
    with pytest.raises(ValueError, match="batch"):
        dt.compress(block, 1, batch=(X, Y), gradient=torch.zeros(6, 6, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"batch\[0\]"):
        dt.compress(block, 1, batch=(X.float(), Y))
    with pytest.raises(ValueError, match="batch"):
        dt.compress(block, 1, batch=(X[:, :5], Y))
    with pytest.raises(ValueError, match="gradient"):
        dt.compress(block, 1, gradient=torch.zeros(6, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="gradient"):
        dt.compress(block, 1, gradient=torch.full((6, 6), float("inf"), dtype=torch.float64))
    with pytest.raises(ValueError, match="gradient"):
        dt.compress(block, 1, gradient=torch.zeros(6, 6, dtype=torch.float64, device="meta"))
    with pytest.raises(ValueError, match="outer_lr_scale"):
        dt.compress(block, 1, batch=(X, Y), outer_lr_scale=-1.0)
