"""dln.torch.SpectrumRecorder against torch.linalg.svdvals at every record."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import dln.torch as dt
from dln import reference as ref

# Rounding of the certificate and of the tracked spectrum itself, relative to sigma_1, on top of the
# recorder's own (measured) error bound.
ROUNDING_RTOL = 1e-12


def _check_against_svdvals(rec, model, history):
    """Every record: |svdvals - recorded| <= error_bound + rounding, for every tracked weight."""
    for name in rec.names:
        spectra, bound = rec.spectra[name], rec.error_bound[name]
        assert spectra.shape == (len(rec.steps), rec.top_p)
        assert np.all(np.diff(spectra, axis=1) <= 0), "spectra not descending"
        for t, true in enumerate(history[name]):
            err = np.max(np.abs(true[: rec.top_p] - spectra[t]))
            allowed = bound[t] + ROUNDING_RTOL * max(true[0], 1e-300)
            assert err <= allowed, f"{name} record {t}: error {err:.3e} > bound {allowed:.3e}"


def _svdvals(model, names, W0=None):
    params = dict(model.named_parameters())
    out = {}
    for n in names:
        W = params[n].detach().double()
        if W0 is not None:
            W = W - W0[n]
        out[n] = torch.linalg.svdvals(W).numpy()
    return out


def _run(model, rec, steps, opt, X, Y, relative=False):
    names = rec.names
    W0 = {n: p.detach().double().clone() for n, p in model.named_parameters()} if relative else None
    history = {n: [v] for n, v in _svdvals(model, names, W0).items()}
    for _ in range(steps):
        opt.zero_grad()
        ((model(X) - Y) ** 2).mean().backward()
        opt.step()
        if rec.step():
            for n, v in _svdvals(model, names, W0).items():
                history[n].append(v)
    return history


@pytest.mark.parametrize("relative", [False, True])
def test_mlp_sgd_matches_svdvals_every_record(relative):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 9), nn.ReLU(), nn.Linear(9, 5)).double()
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randn(4, 7, dtype=torch.float64, generator=g), torch.randn(4, 5, dtype=torch.float64, generator=g)
    rec = dt.SpectrumRecorder(model, every=3, top_p=4, relative_to_init=relative, rank=2)
    assert rec.names == ["0.weight", "2.weight"]
    history = _run(model, rec, 30, torch.optim.SGD(model.parameters(), lr=0.1), X, Y, relative)
    assert rec.steps.tolist() == list(range(0, 31, 3))
    _check_against_svdvals(rec, model, history)
    for name in rec.names:
        # these trackers hold every weight whole: the bound is at rounding level, not just "some bound"
        scale = np.max(history[name][-1])
        assert np.max(rec.error_bound[name]) <= 1e-13 * scale
        a = rec.angles[name]
        assert a.shape == (len(rec.steps), 2)
    if relative:
        assert np.all(rec.spectra["0.weight"][0] == 0) and np.all(np.isnan(rec.angles["0.weight"][0]))
        # a batch of 4 and SGD: the update stays of rank <= 4 per step; the angle to the reference is defined
        assert rec.reference_step["0.weight"] >= 3


def test_structured_tracker_on_deep_linear_factors():
    d, r = 10, 2
    rng = np.random.default_rng(3)
    Phi = rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
    Phi /= np.linalg.norm(Phi, 2)
    X = torch.from_numpy(np.linalg.qr(rng.standard_normal((d, d)))[0])
    Y = X @ torch.from_numpy(Phi).T
    block = dt.DeepLinear(d, d, depth=3, scale=0.5, seed=1)
    rec = dt.SpectrumRecorder(block, every=5, top_p=d, rank=r)
    assert set(rec.modes.values()) == {"structured"}
    history = _run(block, rec, 60, torch.optim.SGD(block.parameters(), lr=0.5), X, Y)
    _check_against_svdvals(rec, block, history)
    for name in rec.names:
        assert np.max(rec.error_bound[name]) <= 1e-13
        # law of parsimony: the 2r moving singular subspaces settle, the rest stays at rho
        assert np.all(rec.rank[name] <= 2 * r)
        # _run's loss is mean((.)^2) over d * d entries: eta = 2 lr / d^2 in sum units
        rho = ref.rho_recursion(0.5, 2 * 0.5 / d**2, d, 3, 60, reduction="sum")[rec.steps]
        at_rho = np.sum(np.abs(rec.spectra[name] - rho[:, None]) <= 1e-12 * rho[:, None], axis=1)
        assert np.all(at_rho >= d - 2 * r), at_rho
        assert rho[-1] < 0.5 * (1 - 1e-3)  # the bulk did shrink: the check above is not vacuous


def test_truncated_tracker_bound_holds_under_adam():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(30, 12, dtype=torch.float64, generator=g), torch.randn(30, 3, dtype=torch.float64, generator=g)
    rec = dt.SpectrumRecorder(model, every=2, top_p=3, layers=["0.weight"], max_rank=4)
    history = _run(model, rec, 20, torch.optim.Adam(model.parameters(), lr=1e-2), X, Y)
    bound = rec.error_bound["0.weight"]
    assert bound[0] > 0  # truncation at rank 4 of a full-rank 12 x 12 weight is visible in the bound
    _check_against_svdvals(rec, model, history)


@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 6)), seed=st.integers(0, 1000),
       dtype=st.sampled_from([torch.float64, torch.float32]))
def test_any_shape_and_dtype(shape, seed, dtype):
    m, n = shape
    torch.manual_seed(seed)
    model = nn.Linear(n, m, bias=False).to(dtype)
    rec = dt.SpectrumRecorder(model, top_p=min(m, n), relative_to_init=bool(seed % 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(3, n, dtype=dtype, generator=g)
    Y = torch.randn(3, m, dtype=dtype, generator=g)
    history = _run(model, rec, 4, opt, X, Y, relative=bool(seed % 2))
    _check_against_svdvals(rec, model, history)


def test_plots_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    block = dt.DeepLinear(6, 6, depth=2, scale=0.5, seed=0)
    rec = dt.SpectrumRecorder(block, top_p=2, relative_to_init=True, rank=1)
    X = torch.eye(6, dtype=torch.float64)
    target = torch.outer(torch.arange(1.0, 7.0, dtype=torch.float64), torch.ones(6, dtype=torch.float64)) / 6
    _run(block, rec, 5, torch.optim.SGD(block.parameters(), lr=0.5), X, X @ target.T, relative=True)
    ax = dt.plot_spectra(rec, "factors.0")
    assert len(ax.lines) == 2
    assert np.isfinite(rec.angles["factors.0"][1:]).all()  # a rank-1 update: its top-1 subspace is defined
    ax = dt.plot_angles(rec, "factors.0")
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    with pytest.raises(ValueError, match="name"):
        dt.plot_spectra(rec, "nope")


def test_bad_input_names_the_parameter():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).double()
    with pytest.raises(TypeError, match="model"):
        dt.SpectrumRecorder([model])
    with pytest.raises(ValueError, match="every"):
        dt.SpectrumRecorder(model, every=0)
    with pytest.raises(ValueError, match="top_p"):
        dt.SpectrumRecorder(model, top_p=3)  # the second weight is 2 x 3
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        dt.SpectrumRecorder(model, layers=["0.bias"])
    with pytest.raises(ValueError, match=r"layers\[1\]"):
        dt.SpectrumRecorder(model, layers=["0.weight", "missing"])
    with pytest.raises(TypeError, match="layers"):
        dt.SpectrumRecorder(model, layers="0.weight")
    with pytest.raises(ValueError, match="rank"):
        dt.SpectrumRecorder(model, top_p=2, rank=3)
    with pytest.raises(TypeError, match="relative_to_init"):
        dt.SpectrumRecorder(model, relative_to_init=1)
    with pytest.raises(TypeError, match=r"layers\[0\]"):
        dt.SpectrumRecorder(nn.Linear(3, 3).half(), layers=["weight"])


def test_dln_plotting_draws_the_record_like_an_svd_trace():
    """The recorder's arrays are in dln.plotting's layout: (records, top_p) spectra, (records, k) sines."""
    import matplotlib

    matplotlib.use("Agg")
    import dln.plotting

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 6, dtype=torch.float64), nn.ReLU(), nn.Linear(6, 3, dtype=torch.float64))
    rec = dt.SpectrumRecorder(m, every=1, top_p=3)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    X = torch.randn(20, 8, dtype=torch.float64)
    for _ in range(5):
        opt.zero_grad()
        m(X).pow(2).mean().backward()
        opt.step()
        rec.step()
    ax = dln.plotting.singular_values(rec.spectra["0.weight"], steps=rec.steps)
    assert len(ax.get_lines()) >= 3  # one line per recorded singular value
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), rec.steps)
    ax = dln.plotting.angles(rec.angles["0.weight"], steps=rec.steps, labels=("right", "left"))
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["right", "left"]
