"""dln.plotting: every function draws what it is given into a PNG under the Agg backend, composes
into a caller's axes, and refuses malformed input by parameter name."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import dln  # noqa: E402
from dln import plotting  # noqa: E402

RNG = np.random.default_rng(0)
SPECTRA = np.sort(RNG.random((12, 8)), axis=1)[:, ::-1]


def _png(ax, path):
    written = plotting.save(ax, path)
    assert written == path
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000  # a real image, not an empty file
    assert not plt.get_fignums()  # save closes the figure
    return data


CASES = {
    "loss": lambda ax: plotting.loss(np.geomspace(1, 1e-12, 30), ax=ax, label="run"),
    "singular_values": lambda ax: plotting.singular_values(SPECTRA, rho=SPECTRA[:, 4], ax=ax, top=2),
    "angles": lambda ax: plotting.angles(np.c_[np.geomspace(1e-1, 1e-3, 12), np.zeros(12), np.full(12, np.nan)],
                                         ax=ax),
    "separation": lambda ax: plotting.separation(11.25 * 0.19 ** np.arange(9), ratio=0.19, D0=11.25,
                                                 predicted_ratio=0.1875, ax=ax),
    "compressed_vs_wide": lambda ax: plotting.compressed_vs_wide(np.geomspace(1, 1e-3, 20), np.geomspace(1, 1e-10, 200),
                                                                 seconds=(40.0, 0.5), ax=ax),
    "curves": lambda ax: plotting.curves(np.arange(10), {"a": np.geomspace(1, 1e-9, 10), "b": np.zeros(10)},
                                         ax=ax, ylabel="off-block"),
    "rank_sweep": lambda ax: plotting.rank_sweep([5, 8, 11], RNG.random((3, 5)), others={"narrow": RNG.random(3)},
                                                 ax=ax),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_plot_writes_a_png(name, tmp_path):
    ax = CASES[name](None)
    assert ax.has_data()
    _png(ax, tmp_path / f"{name}.png")


@pytest.mark.parametrize("name", sorted(CASES))
def test_plots_draw_into_the_given_axes(name):
    fig, ax = plt.subplots()
    assert CASES[name](ax) is ax
    assert ax.has_data()
    plt.close(fig)


def test_waterfall_needs_3d_axes_and_draws_one_curve_per_record(tmp_path):
    ax = plotting.waterfall(SPECTRA, steps=np.arange(1, 13))
    assert ax.name == "3d" and len(ax.lines) == SPECTRA.shape[0]
    _png(ax, tmp_path / "w.png")
    fig, flat = plt.subplots()
    with pytest.raises(ValueError, match="^ax:"):
        plotting.waterfall(SPECTRA, ax=flat)
    plt.close(fig)


def test_loss_takes_a_result_and_its_record_stride():
    net = dln.Network.orthogonal([6, 6, 6], scale=1.0, seed=1)
    res = dln.train(net, dln.Factorization(RNG.standard_normal((6, 6))), lr=0.5, steps=20, record_every=5)
    ax = plotting.loss(res)
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, np.arange(res.loss.size) * 5)
    np.testing.assert_array_equal(y, res.loss)
    plt.close(ax.figure)


def test_zeros_stay_visible_on_log_axes():
    ax = plotting.angles(np.array([[1e-3], [0.0]]), labels=["bulk"])
    assert ax.lines[0].get_ydata()[1] == np.finfo(np.float64).tiny
    plt.close(ax.figure)


@pytest.mark.parametrize("call, param", [
    (lambda: plotting.loss(np.ones((2, 2))), "losses"),
    (lambda: plotting.loss([1.0, 0.5], steps=[0, 1, 2]), "steps"),
    (lambda: plotting.singular_values(np.ones(4)), "spectra"),
    (lambda: plotting.singular_values(SPECTRA, top=0), "top"),
    (lambda: plotting.angles(np.ones((3, 3)), labels=["a"]), "labels"),
    (lambda: plotting.separation([]), "D"),
    (lambda: plotting.rank_sweep([5, 8], np.ones(3)), "values"),
    (lambda: plotting.curves([1, 2], {}), "series"),
    (lambda: plotting.curves([1, 2], {"a": np.ones(3)}), "series"),
])
def test_bad_input_names_the_parameter(call, param):
    with pytest.raises(ValueError, match=f"^{param}:"):
        call()
    plt.close("all")
