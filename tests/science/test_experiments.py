"""`dln.experiments`: every published experiment's quick variant runs and shows its claim (SCIENCE.md 6, 7).

Each test checks the key numbers of one experiment against the claim it reproduces and that its
``summary()`` is strict JSON. The bounds are the claims of SCIENCE.md section 7 (named where used);
the quick variants are scaled down, so where a published number depends on the size (iterations,
seconds) the test checks the shape of the claim (flat, decreasing, faster) rather than the number.
"""

import dataclasses
import inspect
import json

import numpy as np
import pytest

import dln
from dln import experiments as E

BLOCK_BOUND = 1e-13        # SCIENCE.md 7.1 / 7.5
BULK_BOUND = 1e-12         # 7.1: bulk singular values equal rho(t) (test_parsimony's bound)
BULK_ANGLE = 1e-10         # 7.2
RATIO_RTOL = 0.05          # 7.6
R2_MIN = 0.99              # 7.6
NAMES = ["theorem", "equivalence_dmf", "equivalence_completion", "rank_guess_sweep", "depth_vs_width",
         "separation", "non_whitened", "optimizers", "digits_separation", "mlp_compressed", "deep_lora",
         "width", "nonlinear_subspace"]
TORCH = {"mlp_compressed", "deep_lora", "nonlinear_subspace"}  # dln.torch's experiments (tests/dln_torch)


def _summary(run):
    s = run.summary()
    text = json.dumps(s, allow_nan=False)  # strict JSON: no NaN/inf, only plain types
    assert json.loads(text) == s
    return s


def test_registry_and_signatures():
    assert list(E.EXPERIMENTS) == NAMES
    for name, fn in E.EXPERIMENTS.items():
        params = inspect.signature(fn).parameters
        assert params["quick"].default is False, name
        assert params["seed"].default == 0, name
        if name in TORCH:
            assert "dln[torch]" in fn.__doc__, name
        else:
            assert fn.__doc__ and "SCIENCE.md" in fn.__doc__ or name == "digits_separation", name
    for name in ("equivalence_dmf", "equivalence_completion"):
        assert inspect.signature(E.EXPERIMENTS[name]).parameters["full"].default is False


def test_published_defaults():
    """The defaults are the published configurations (SCIENCE.md 6)."""
    def p(fn):
        return {k: v.default for k, v in inspect.signature(fn).parameters.items()}

    assert {k: p(E.equivalence_dmf)[k] for k in ("d", "rank", "depth", "eps", "lr", "tol")} == \
        dict(d=1000, rank=10, depth=3, eps=1e-3, lr=1e3, tol=1e-10)
    assert {k: p(E.equivalence_completion)[k] for k in ("d", "rank", "observed", "eps", "lr", "outer_lr_scale")} == \
        dict(d=1000, rank=5, observed=0.2, eps=1e-3, lr=5e3, outer_lr_scale=0.01)
    assert tuple(p(E.rank_guess_sweep)["ranks"]) == (5, 8, 11, 14, 17, 20) and p(E.rank_guess_sweep)["trials"] == 5
    assert p(E.depth_vs_width)["depths"] == (2, 3) and p(E.depth_vs_width)["lrs"] == (1e2, 3e2)
    assert p(E.separation)["depths"] == (6, 8, 10) and p(E.separation)["eps"] == 0.5
    assert (p(E.non_whitened)["d"], p(E.non_whitened)["samples"], p(E.non_whitened)["steps"]) == (30, 300, 50)


def test_theorem():
    run = E.theorem(quick=True)
    s = _summary(run)
    assert (s["moving_per_layer"], s["bulk_per_layer"]) == (6, 24)
    assert s["max_bulk_error"] <= BULK_BOUND and s["max_block_residual"] <= BLOCK_BOUND
    assert s["max_bulk_sine"] <= BULK_ANGLE
    assert s["final_gap"] > 1e-6
    assert run.block_residual.shape == run.bulk_sine.shape == (51,)
    # Angles against step 1 (for the published figure): the middle (bulk) block never moves, the top does.
    assert run.sin_right.shape == run.sin_left.shape == (51, 3, 3)
    assert run.sin_right[1:, :, 1].max() <= BULK_ANGLE and run.sin_left[1:, :, 1].max() <= BULK_ANGLE
    assert run.sin_right[-1, :, 0].min() > 1e-3
    # One seed fixes the run.
    again = E.theorem(quick=True)
    np.testing.assert_array_equal(again.singular_values, run.singular_values)


def test_equivalence_dmf():
    run = E.equivalence_dmf(quick=True)
    s = _summary(run)
    assert s["compressed_status"] == "converged" and s["compressed_final_loss"] <= s["tol"]
    # The wide run over the same steps lands on the same trajectory (SCIENCE.md 7.3).
    assert s["wide_steps"] == s["compressed_steps"] and not s["wide_extrapolated"]
    assert s["loss_gap_relative"] <= 1e-12 and s["end_to_end_gap_relative"] <= 1e-11
    assert run.loss_wide[-1] <= s["tol"]
    assert s["speedup"] > 1


def test_equivalence_dmf_prefix_extrapolates():
    run = E.equivalence_dmf(quick=True, prefix_steps=50)
    s = _summary(run)
    assert s["wide_steps"] == 50 and s["wide_extrapolated"] and run.loss_wide.size == 51
    assert s["wide_seconds_estimate"] == pytest.approx(s["wide_seconds"] / 50 * s["compressed_steps"], rel=1e-12)
    assert s["loss_gap_relative"] <= 1e-12 and s["end_to_end_gap_relative"] <= 1e-11


def test_equivalence_dmf_full_runs_wide_to_tol():
    s = _summary(E.equivalence_dmf(quick=True, full=True))
    assert s["wide_status"] == "converged" and not s["wide_extrapolated"]
    # Same trajectory, so the wide run stops at the same step as the compressed one.
    assert s["wide_steps"] == s["compressed_steps"]
    assert s["wide_seconds_estimate"] == s["wide_seconds"]


def test_equivalence_completion():
    run = E.equivalence_completion(quick=True)
    s = _summary(run)
    assert s["compressed_status"] == "converged"
    # gamma = 0.01 recovers the unobserved entries; frozen outer factors (gamma = 0) stall (SCIENCE.md 3, 7.4).
    assert s["recovery_compressed"] <= 1e-7
    assert s["recovery_frozen"] >= 1e-3
    assert s["recovery_wide"] <= 1e-7
    # The compressed run tracks the wide one: same end-to-end map to 1e-3 after the same steps.
    assert s["end_to_end_gap_relative"] <= 1e-3


def test_rank_guess_sweep():
    run = E.rank_guess_sweep(quick=True)
    s = _summary(run)
    assert run.compressed_steps.shape == (3, 1)
    assert np.isfinite(run.compressed_steps).all() and np.isfinite(run.narrow_steps).all()
    # Compressed: flat in r_hat; narrow random: slower, and faster with a larger guess.
    assert s["compressed_spread"] <= 1.1
    assert np.all(run.narrow_steps > run.compressed_steps)
    assert np.all(np.diff(run.narrow_steps[:, 0]) < 0)
    assert run.compressed_recovery.max() <= 1e-7


def test_depth_vs_width():
    run = E.depth_vs_width(quick=True)
    s = _summary(run)
    rec = np.median(run.recovery, axis=2)
    assert list(run.depths) == [2, 3]
    # Depth 3 recovers at every width; depth 2's error grows with width to ~1e-3.
    assert rec[1].max() <= 1e-6
    assert np.all(np.diff(rec[0]) > 0) and rec[0, -1] >= 1e-3
    assert s["median_recovery"]["L=3"] == list(rec[1])


def test_separation():
    run = E.separation(quick=True)
    s = _summary(run)
    lin = [c for c in s["cases"] if c["activation"] == "linear"]
    assert [c["depth"] for c in lin] == [8]
    c = lin[0]
    assert c["status"] == "converged"
    assert c["D0"] == pytest.approx(11.25, rel=1e-12) and s["D0_predicted"] == pytest.approx(11.25, rel=1e-14)
    assert abs(c["ratio"] - 0.1875) <= RATIO_RTOL * 0.1875 and abs(c["ratio_error_relative"]) <= RATIO_RTOL
    assert c["r2"] > R2_MIN
    assert run.D[0].shape == (9,) and run.discrimination[0].shape == (9,)
    assert "relu" in run.activation


def test_separation_relu():
    run = E.separation(quick=True, activations=("relu",))
    (D,) = run.D
    assert run.activation == ["relu"] and run.status == ["converged"]
    # ReLU nets also separate: the last hidden layer is far more separated than the input.
    assert D[0] == pytest.approx(11.25, rel=1e-12)
    assert D[-2] < 1e-2 * D[0]


def test_non_whitened():
    run = E.non_whitened(quick=True)
    s = _summary(run)
    # Whitened: exact; Gaussian X: approximate (small but far above rounding), SCIENCE.md 2.
    assert np.nanmax(run.bulk_sine_whitened) <= BULK_ANGLE and run.bulk_spread_whitened.max() <= BULK_BOUND
    assert np.isnan(run.bulk_sine[0]) and np.isnan(run.bulk_sine_whitened[0])  # undefined at step 0
    assert 1e-3 < s["final_bulk_sine"] < 0.5
    assert 1e-8 < s["final_bulk_spread"] < 0.1
    assert run.loss[-1] < run.loss[0] and run.loss_whitened[-1] < run.loss_whitened[0]
    # the published loss unit: mean over the outputs x samples entries of the 3-output network
    net0 = dln.Network.orthogonal([30, 30, 30, 3], scale=1.0, seed=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 300)) / 15.0
    Y = rng.standard_normal((3, 300))
    assert run.loss[0] == dln.Regression(X, Y).loss(net0)


@pytest.mark.parametrize("kwargs, param", [(dict(samples=10), "samples"), (dict(d=2.5), "d"),
                                           (dict(outputs=20), "depth, outputs")])
def test_non_whitened_bad_input(kwargs, param):
    with pytest.raises((TypeError, ValueError), match=f"^{param}:"):
        E.non_whitened(**kwargs)


def test_optimizers():
    run = E.optimizers(quick=True)
    s = _summary(run)["cases"]
    for name in ("gd", "momentum"):
        assert s[name]["max_off_block"] <= BLOCK_BOUND and s[name]["final_bulk"] <= BLOCK_BOUND, name
    for name in ("adam", "rmsprop"):
        assert s[name]["final_off_block"] > 0.1 and s[name]["final_bulk"] is None, name
    # Heavy ball really is a different trajectory from GD (faster here).
    assert s["momentum"]["final_loss"] < s["gd"]["final_loss"]


def test_digits_separation():
    run = E.digits_separation(quick=True, activations=("linear",))
    s = _summary(run)
    (c,) = s["cases"]
    D = run.D[0]
    assert c["depth"] == 4 and D.shape == (5,)
    # Real data: the linear net separates the classes layer by layer, close to geometrically.
    assert np.all(np.diff(D[:4]) < 0) and c["ratio"] < 1 and c["r2"] > 0.9
    assert s["data"] == "digits" and s["classes"] == 10


def test_digits_separation_relu():
    run = E.digits_separation(quick=True, activations=("relu",))
    (D,) = run.D
    assert run.activation == ["relu"] and np.isfinite(D).all() and D[-2] < D[0]


def test_results_are_dataclasses_of_arrays():
    run = E.optimizers(quick=True)
    assert dataclasses.is_dataclass(run)
    for f in ("off_block", "bulk", "bulk_spread", "loss", "lrs"):
        assert isinstance(getattr(run, f), np.ndarray)


def test_bad_input():
    with pytest.raises(ValueError, match="^activations:"):
        E.separation(quick=True, activations=("sigmoid",))
    with pytest.raises(ValueError, match="^lrs:"):
        E.depth_vs_width(quick=True, depths=(2, 3, 4))
    with pytest.raises(ValueError, match="^rank:"):
        E.equivalence_dmf(d=10, rank=6, max_steps=5)
