"""dln.torch adapters: DeepLoRA, LoRA, add_adapters, compress_adapters, merge."""

import numpy as np
import pytest
import torch
from torch import nn

import dln
import dln.torch as dt
from dln import reference as ref


def _mlp(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)


def _data(n=20, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, dtype=dtype, generator=g), torch.randn(n, 3, dtype=dtype, generator=g)


def _train(model, params, steps=25, lr=0.05):
    X, Y = _data(dtype=next(model.parameters()).dtype)
    opt = torch.optim.SGD(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        ((model(X) - Y) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("kind, options", [("deep", {"scale": 0.3}), ("deep", {"compress": True, "scale": 0.3}),
                                           ("lora", {"alpha": 16.0})])
def test_adapters_freeze_base_train_and_merge_exactly(kind, options, tol):
    model = _mlp()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()}
    found = dt.add_adapters(model, ["0", "2"], kind=kind, rank=3, **options)
    assert list(found) == ["0", "2"]
    assert isinstance(model[0], dt.DeepLoRA if kind == "deep" else dt.LoRA)
    # everything outside the adapters is frozen
    for n, p in model.named_parameters():
        assert p.requires_grad == (".base." not in f".{n}" and not n.startswith("4."))
    X, Y = _data()
    if options.get("compress"):
        assert all(a.pending for a in found.values())
        out0 = model(X)
        assert torch.equal(out0, nn.Sequential(*[m.base if hasattr(m, "base") else m for m in model])(X))
        dt.compress_adapters(model, ((out0 - Y) ** 2).mean())
        assert not any(a.pending for a in found.values())
    groups = [g for a in found.values() for g in a.parameter_groups(0.05)]
    _train(model, groups)
    # frozen weights are bitwise unchanged, and the adapters moved
    params = dict(model.named_parameters())
    for n, before in frozen.items():
        now = params[n] if n in params else params[f"{n.split('.')[0]}.base.{n.split('.')[1]}"]
        assert torch.equal(now, before), n
    for a in found.values():
        assert a.delta().abs().max() > 1e-3  # learned, not just the init
    out = model(X).detach()
    deltas = {n: a.delta().detach().clone() for n, a in found.items()}
    bases = {n: a.base.weight.detach().clone() for n, a in found.items()}
    merged = dt.merge(model)
    assert all(isinstance(merged[i], nn.Linear) for i in (0, 2)) and not dt.adapters(merged)
    for n in found:
        # the merged weight is base + delta, computed once: exactly
        assert torch.equal(merged.get_submodule(n).weight, bases[n] + deltas[n])
    t = tol(np.float64)
    err = (merged(X) - out).norm() / out.norm()
    assert err <= 10 * t["rtol"], f"merged forward differs by {err:.3e} relative"


def test_deep_lora_init_matches_dln_orthogonal():
    base = nn.Linear(7, 5).double()
    a = dt.DeepLoRA(base, rank=3, depth=3, scale=1e-2, seed=11)
    expected = dln.Network.orthogonal([7, 3, 3, 5], 1e-2, 11).weights
    for f, w in zip(a.factors, expected):
        assert np.array_equal(f.detach().numpy(), w)
    assert a.parameter_groups(0.1)[0]["lr"] == 0.1


def test_compressed_deep_lora_subspace_from_gradient():
    base = nn.Linear(6, 4).double()
    a = dt.DeepLoRA(base, rank=2, depth=3, scale=1e-3, compress=True, outer_lr_scale=0.1)
    X, _ = _data(dtype=torch.float64)
    T = X[:, :4] * 3
    loss = ((a(X) - T) ** 2).sum()
    G = torch.autograd.grad(loss, [a._probe])[0]
    # dLoss/dprobe is dLoss/dW: the gradient the base weight would get
    W = base.weight.detach().clone().requires_grad_(True)
    G_w = torch.autograd.grad((((X @ W.T + base.bias) - T) ** 2).sum(), [W])[0]
    assert torch.allclose(G, G_w, rtol=1e-14, atol=0)
    a.compress_from(G)
    U, s, Vh = torch.linalg.svd(G)
    f = list(a.factors)
    assert len(f) == 5
    # the outer factors span the gradient's top singular subspaces; inner factors are eps I
    assert ref.principal_angle_sine(f[0].detach().T.numpy(), Vh[:2].T.numpy()) <= 1e-12
    assert ref.principal_angle_sine(f[-1].detach().numpy(), U[:, :2].numpy()) <= 1e-12
    assert all(torch.equal(c, 1e-3 * torch.eye(2, dtype=torch.float64)) for c in f[1:-1])
    g = a.parameter_groups(1.0)
    assert g[0]["lr"] == pytest.approx(0.1) and g[1]["lr"] == 1.0
    with pytest.raises(RuntimeError, match="gradient"):
        a.compress_from(G)


def test_lora_float32_and_seed():
    base = nn.Linear(5, 4)
    a = dt.LoRA(base, rank=2, seed=3)
    b = dt.LoRA(nn.Linear(5, 4), rank=2, seed=3)
    assert torch.equal(a.A, b.A) and a.A.dtype == torch.float32
    assert torch.equal(a.delta(), torch.zeros(4, 5))
    x = torch.randn(3, 5)
    assert torch.equal(a(x), base(x))  # B = 0: the adapter starts as the base layer


def test_bad_input_names_the_parameter():
    model = _mlp()
    snapshot = {n: (p.requires_grad, p.detach().clone()) for n, p in model.named_parameters()}
    with pytest.raises(TypeError, match=r"targets\[0\]"):
        dt.add_adapters(model, ["1"])  # a ReLU
    with pytest.raises(ValueError, match=r"targets\[1\]"):
        dt.add_adapters(model, ["0", "nope"])
    with pytest.raises(ValueError, match="rank"):
        dt.add_adapters(model, ["0", "4"], rank=4)  # layer 4 is 8 -> 3
    with pytest.raises(ValueError, match="kind"):
        dt.add_adapters(model, ["0"], kind="dora")
    with pytest.raises(ValueError, match="scale"):
        dt.add_adapters(model, ["0"], rank=2, scale=0.0)
    with pytest.raises(TypeError, match="model"):
        dt.add_adapters([nn.Linear(2, 2)], ["0"])
    with pytest.raises(ValueError, match="targets"):
        dt.add_adapters(model, lambda n, m: False)
    # nothing was frozen or replaced by the failed calls
    assert not dt.adapters(model)
    for n, p in model.named_parameters():
        assert p.requires_grad == snapshot[n][0] and torch.equal(p, snapshot[n][1])
    with pytest.raises(TypeError, match="base"):
        dt.DeepLoRA(nn.Conv1d(2, 2, 1))
    with pytest.raises(TypeError, match="base"):
        dt.LoRA(nn.Linear(4, 4).half())
    with pytest.raises(ValueError, match="depth"):
        dt.DeepLoRA(nn.Linear(4, 4).double(), rank=2, depth=1)
    with pytest.raises(TypeError, match="compress"):
        dt.DeepLoRA(nn.Linear(4, 4).double(), rank=2, compress="yes")
    a = dt.DeepLoRA(nn.Linear(4, 4).double(), rank=2)
    with pytest.raises(TypeError, match="x"):
        a(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="x"):
        a(torch.zeros(1, 3, dtype=torch.float64))
    pending = dt.DeepLoRA(nn.Linear(4, 4).double(), rank=2, compress=True)
    with pytest.raises(RuntimeError, match="compress_adapters"):
        pending.parameter_groups(0.1)
    with pytest.raises(ValueError, match="gradient"):
        pending.compress_from(torch.zeros(4, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="gradient"):
        pending.compress_from(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="obj"):
        dt.merge(_mlp())


def test_add_adapters_by_predicate_and_nested_names():
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), nn.Linear(4, 2)).double()
    found = dt.add_adapters(model, lambda n, m: isinstance(m, nn.Linear), kind="lora", rank=1, seed=5)
    assert list(found) == ["0.0", "1"]
    assert isinstance(model[0][0], dt.LoRA)
    # one seed, independent streams per adapter; the same seed repeats them
    again = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Tanh()), nn.Linear(4, 2)).double()
    repeat = dt.add_adapters(again, ["0.0", "1"], kind="lora", rank=1, seed=5)
    assert not torch.equal(found["0.0"].A[:, :2], found["1"].A[:, :2])
    assert torch.equal(repeat["0.0"].A, found["0.0"].A) and torch.equal(repeat["1"].A, found["1"].A)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["0.0.A", "0.0.B", "1.A", "1.B"]
