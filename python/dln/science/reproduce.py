"""`dln reproduce NAME|all|list`: run published experiments, write their numbers and figures.

Each experiment of :mod:`dln.experiments` returns a result with ``summary()`` (a JSON-ready dict);
this module writes ``<out>/<name>/summary.json`` and the experiment's figures, and prints the summary.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .._checks import folder as make_folder
from . import plotting
from . import width as _width
from .experiments import EXPERIMENTS, _json


def _figures(name: str, result: Any, folder: Path) -> list[Path]:
    """Draw what the experiment's result holds; returns the files written."""
    fn = FIGURES.get(name)
    return [] if fn is None else fn(result, folder)


def _call(fn: Callable, **kwargs: Any) -> Any:
    accepted = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in kwargs.items() if k in accepted})


def main(name: str, out: str = "dln-results", quick: bool = False, full: bool = False, seed: int = 0,
         progress: Optional[bool] = None, say: Callable[[str], None] = print) -> int:
    """Run one experiment, ``all``, or print the ``list``; return the process exit status."""
    import matplotlib

    matplotlib.use("Agg")

    if name == "list":
        for n, fn in EXPERIMENTS.items():
            doc = (inspect.getdoc(fn) or "").splitlines()
            say(f"{n:<24} {doc[0] if doc else ''}")
        return 0
    if name != "all" and name not in EXPERIMENTS:
        raise ValueError(f"name: unknown experiment {name!r} (choose from {', '.join(EXPERIMENTS)}, all, list)")
    names = list(EXPERIMENTS) if name == "all" else [name]
    make_folder(out, "out")  # a bad --out fails now, not after a long run
    failed = []
    for n in names:
        t0 = time.perf_counter()
        say(f"== {n}{' (quick)' if quick else ''}")
        result = _call(EXPERIMENTS[n], quick=quick, full=full, seed=seed, progress=progress)
        summary = dict(result.summary())
        summary["wall_seconds"] = time.perf_counter() - t0
        if n in CHECKS:
            summary["checks"] = {claim: bool(ok) for claim, ok in CHECKS[n](summary).items()}
        summary = _json(summary)
        folder = Path(out) / n
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        files = _figures(n, result, folder)
        for key, value in summary.items():
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
            say(f"   {key}: {text if len(text) <= 400 else text[:400] + ' ... (see summary.json)'}")
        checks = summary.get("checks", {})
        bad = [k for k, ok in checks.items() if not ok] if isinstance(checks, dict) else []
        failed += [f"{n}: {k}" for k in bad]
        say(f"   wrote {folder.resolve()}/summary.json" + (f" and {len(files)} figure(s)" if files else ""))
    if failed:
        say("FAILED checks: " + "; ".join(failed))
        return 1
    return 0


def _theorem(r: Any, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 4.2))
    plotting.singular_values(r.singular_values[:, 0, :], rho=r.rho, ax=fig.add_subplot(1, 2, 1),
                             title="W_1: all singular values")
    plotting.waterfall(r.singular_values[1:, 0, :], steps=np.arange(1, r.rho.size),
                       ax=fig.add_subplot(1, 2, 2, projection="3d"), title="W_1, steps 1..")
    return [plotting.save(fig, folder / "singular_values.png")]


def _equivalence(r: Any, folder: Path) -> list[Path]:
    ax = plotting.compressed_vs_wide(r.loss_wide, r.loss_compressed,
                                     seconds=(r.wide_seconds_estimate, r.compressed_seconds))
    note = " (wide time extrapolated)" if r.extrapolated else ""
    ax.set_title(f"{r.problem}, d = {r.d}, r = {r.rank}, L = {r.depth}{note}")
    return [plotting.save(ax, folder / "loss.png")]


def _rank_sweep(r: Any, folder: Path) -> list[Path]:
    ax = plotting.rank_sweep(r.ranks, r.compressed_steps, others={"narrow (width 2 r_hat)": r.narrow_steps})
    ax.set_title(f"completion d = {r.d}, r = {r.rank}: iterations to {r.tol:g}")
    return [plotting.save(ax, folder / "iterations.png")]


def _depth_width(r: Any, folder: Path) -> list[Path]:
    ax = plotting.curves(r.widths, {f"L = {int(L)}": r.recovery[i] for i, L in enumerate(r.depths)},
                         xlabel="hidden width", ylabel="recovery error (mean)")
    return [plotting.save(ax, folder / "recovery.png")]


def _separation(r: Any, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r.activation))
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for i, a in enumerate(r.activation):
            if a == kind:
                plotting.separation(r.D[i], ax=ax, ratio=r.ratio[i], D0=r.D0_fit[i],
                                    predicted_ratio=r.predicted_ratio[i] if kind == "linear" else None,
                                    label=f"L = {int(r.depth[i])}")
        ax.set_title(f"{r.data}: {kind}")
    return [plotting.save(fig, folder / "separation.png")]


def _non_whitened(r: Any, folder: Path) -> list[Path]:
    steps = np.arange(r.loss.size)
    ax = plotting.curves(steps, {"Gaussian X: bulk subspace sine (W_1)": r.bulk_sine,
                                 "whitened X: bulk subspace sine (W_1)": r.bulk_sine_whitened,
                                 "Gaussian X: bulk spread": r.bulk_spread,
                                 "whitened X: bulk spread": r.bulk_spread_whitened},
                         ylabel="max over square layers", title="regression: structure with and without whitening")
    return [plotting.save(ax, folder / "structure.png")]


def _optimizers(r: Any, folder: Path) -> list[Path]:
    steps = np.arange(r.loss.shape[1])
    off_block = {f"{o} (lr {lr:g})": r.off_block[i] for i, (o, lr) in enumerate(zip(r.optimizers, r.lrs))}
    ax = plotting.curves(steps, off_block,
                         ylabel="off-block residual (max over layers)", title="which optimisers keep the structure")
    return [plotting.save(ax, folder / "off_block.png")]


# name -> function(result, folder) -> [paths written]
def _mlp_compressed(r: Any, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    kinds = list(r["results"])
    fig = plt.figure(figsize=(10, 4))
    for i, (key, label) in enumerate((("test_accuracy", "test accuracy"), ("seconds_per_epoch", "s / epoch"))):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.bar(kinds, [r["results"][k][key] for k in kinds])
        ax.set_ylabel(label)
    fig.tight_layout()
    return [plotting.save(fig, folder / "accuracy_and_time.png")]


def _deep_lora(r: Any, folder: Path) -> list[Path]:
    series: dict = {}
    samples = sorted({c["samples"] for c in r["cases"]})
    for c in r["cases"]:
        series.setdefault(f"{c['kind']} rank {c['rank']}", {})[c["samples"]] = c["shifted_test_accuracy"]
    ax = plotting.curves(samples, {k: [v.get(n, np.nan) for n in samples] for k, v in series.items()},
                         xlabel="samples", ylabel="test accuracy (shifted task)", logy=False)
    return [plotting.save(ax, folder / "accuracy.png")]


def _nonlinear_subspace(r: Any, folder: Path) -> list[Path]:
    depths = sorted({c["depth"] for c in r["cases"]})
    by_scale: dict = {}
    for c in r["cases"]:
        by_scale.setdefault(f"scale {c['scale']:g}", {})[c["depth"]] = c["final_fraction_mean"]
    ax = plotting.curves(depths, {k: [v.get(d, np.nan) for d in depths] for k, v in by_scale.items()},
                         xlabel="depth", ylabel="update fraction in the top-2r subspace", logy=False)
    return [plotting.save(ax, folder / "fraction.png")]


FIGURES: dict[str, Callable[[Any, Path], list[Path]]] = {
    "theorem": _theorem,
    "equivalence_dmf": _equivalence,
    "equivalence_completion": _equivalence,
    "rank_guess_sweep": _rank_sweep,
    "depth_vs_width": _depth_width,
    "separation": _separation,
    "digits_separation": _separation,
    "non_whitened": _non_whitened,
    "optimizers": _optimizers,
    "mlp_compressed": _mlp_compressed,
    "deep_lora": _deep_lora,
    "nonlinear_subspace": _nonlinear_subspace,
    "width": _width.plot,
}


def _separation_checks(s: dict) -> dict:
    out = {}
    for c in s["cases"]:
        if c["activation"] == "linear" and s["data"] == "orthonormal":
            out[f"linear L = {c['depth']}: D_0 = (1 - 1/n)/(1/n - 1/N)"] = \
                abs(c["D0"] - s["D0_predicted"]) <= 1e-9 * s["D0_predicted"]
            if c["depth"] == 8:  # SCIENCE.md 7.6 states the published L = 8 case
                out["linear L = 8: fitted ratio within 5% of eps^2/n^(1/L), R^2 > 0.99"] = (
                    abs(c["ratio_error_relative"]) <= 0.05 and c["r2"] > 0.99)
    return out


def _rank_sweep_checks(s: dict) -> dict:
    return {"every compressed run reached tol": all(k == s["trials"] for k in s["compressed_converged"]),
            "compressed iterations flat in r_hat (max/min <= 1.25)": (s["compressed_spread"] or float("inf")) <= 1.25}


def _deep_lora_checks(s: dict) -> dict:
    def mean_rank(kind: str) -> float:
        return float(np.mean([k for c in s["cases"] if c["kind"] == kind for k in c["update_ranks"]]))

    return {"merged adapters give the adapted accuracy exactly":
                all(c["merged_accuracy"] == c["shifted_test_accuracy"] for c in s["cases"]),
            "Deep LoRA's updates of lower numerical rank than LoRA's (mean)": mean_rank("deep") < mean_rank("lora")}


def _depth_width_checks(s: dict) -> dict:
    deep, shallow = s["median_recovery"]["L=3"], s["median_recovery"]["L=2"]
    return {"depth 3 recovers at every width (<= 1e-6)": max(deep) <= 1e-6,
            "depth 2 error grows with width": shallow[-1] > shallow[0] and shallow[-1] > 10 * max(deep)}


# name -> function(summary) -> {claim: holds}: the SCIENCE.md 7 claims each experiment shows
CHECKS: dict[str, Callable[[dict], dict]] = {
    "theorem": lambda s: {"bulk singular values == rho(t) (1e-12)": s["max_bulk_error"] <= 1e-12,
                          "block structure to 1e-13": s["max_block_residual"] <= 1e-13,
                          "bulk subspace == theory's (sine <= 1e-10)": s["max_bulk_sine"] <= 1e-10},
    "equivalence_dmf": lambda s: {"compressed reached tol": s["compressed_status"] == "converged",
                                  "lifted compressed == wide end-to-end (1e-10 relative)":
                                      s["end_to_end_gap_relative"] <= 1e-10},
    "equivalence_completion": lambda s: {"compressed reached tol": s["compressed_status"] == "converged",
                                         "gamma = 0 stalls (recovery >= 1e3 x gamma > 0)":
                                             s["recovery_frozen"] >= 1e3 * s["recovery_compressed"]},
    "rank_guess_sweep": _rank_sweep_checks,
    "depth_vs_width": _depth_width_checks,
    "separation": _separation_checks,
    "non_whitened": lambda s: {"whitened: bulk subspace fixed (sine <= 1e-10)": s["final_bulk_sine_whitened"] <= 1e-10,
                               "Gaussian X: only approximately (sine > 1e-6)": s["final_bulk_sine"] > 1e-6},
    "optimizers": lambda s: {"GD and momentum keep the block structure (1e-13)":
                                 max(s["cases"][o]["max_off_block"] for o in ("gd", "momentum")) <= 1e-13,
                             "Adam and RMSprop do not (> 0.1)":
                                 min(s["cases"][o]["final_off_block"] for o in ("adam", "rmsprop")) > 0.1},
    # mlp_compressed reports accuracy and time per epoch (Kwon et al.'s table) without a check: at the
    # quick sizes the compressed block trails the wide one, and times are for the benchmark, not a test.
    "deep_lora": _deep_lora_checks,
    "width": _width.checks,
    "nonlinear_subspace": lambda s: {"recorded singular values within 1e-12 (relative) of the exact ones":
                                         max(c["max_relative_error_bound"] for c in s["cases"]) <= 1e-12},
}
