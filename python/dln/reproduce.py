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


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


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
    from .experiments import EXPERIMENTS

    if name == "list":
        for n, fn in EXPERIMENTS.items():
            doc = (inspect.getdoc(fn) or "").splitlines()
            say(f"{n:<24} {doc[0] if doc else ''}")
        return 0
    if name != "all" and name not in EXPERIMENTS:
        raise ValueError(f"name: unknown experiment {name!r} (choose from {', '.join(EXPERIMENTS)}, all, list)")
    names = list(EXPERIMENTS) if name == "all" else [name]
    failed = []
    for n in names:
        t0 = time.perf_counter()
        say(f"== {n}{' (quick)' if quick else ''}")
        result = _call(EXPERIMENTS[n], quick=quick, full=full, seed=seed, progress=progress)
        summary = dict(result.summary())
        summary["wall_seconds"] = time.perf_counter() - t0
        folder = Path(out) / n
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
        files = _figures(n, result, folder)
        for key, value in summary.items():
            text = json.dumps(value, default=_json_default) if isinstance(value, (list, dict)) else str(value)
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

    from . import plotting

    fig = plt.figure(figsize=(11, 4.2))
    plotting.singular_values(r.singular_values[:, 0, :], rho=r.rho, ax=fig.add_subplot(1, 2, 1),
                             title="W_1: all singular values")
    plotting.waterfall(r.singular_values[1:, 0, :], steps=np.arange(1, r.rho.size),
                       ax=fig.add_subplot(1, 2, 2, projection="3d"), title="W_1, steps 1..")
    return [plotting.save(fig, folder / "singular_values.png")]


def _equivalence(r: Any, folder: Path) -> list[Path]:
    from . import plotting

    ax = plotting.compressed_vs_wide(r.loss_wide, r.loss_compressed,
                                     seconds=(r.wide_seconds_estimate, r.compressed_seconds))
    note = " (wide time extrapolated)" if r.extrapolated else ""
    ax.set_title(f"{r.problem}, d = {r.d}, r = {r.rank}, L = {r.depth}{note}")
    return [plotting.save(ax, folder / "loss.png")]


def _rank_sweep(r: Any, folder: Path) -> list[Path]:
    from . import plotting

    ax = plotting.rank_sweep(r.ranks, r.compressed_steps, others={"narrow (width 2 r_hat)": r.narrow_steps})
    ax.set_title(f"completion d = {r.d}, r = {r.rank}: iterations to {r.tol:g}")
    return [plotting.save(ax, folder / "iterations.png")]


def _depth_width(r: Any, folder: Path) -> list[Path]:
    from . import plotting

    ax = plotting.curves(r.widths, {f"L = {int(L)}": r.recovery[i] for i, L in enumerate(r.depths)},
                         xlabel="hidden width", ylabel="recovery error (mean)")
    return [plotting.save(ax, folder / "recovery.png")]


def _separation(r: Any, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from . import plotting

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
    from . import plotting

    steps = np.arange(r.loss.size)
    ax = plotting.curves(steps, {"Gaussian X: off-block": r.off_block, "whitened X: off-block": r.off_block_whitened,
                                 "Gaussian X: bulk spread": r.bulk_spread,
                                 "whitened X: bulk spread": r.bulk_spread_whitened},
                         ylabel="max over layers", title="regression: structure with and without whitening")
    return [plotting.save(ax, folder / "structure.png")]


def _optimizers(r: Any, folder: Path) -> list[Path]:
    from . import plotting

    steps = np.arange(r.loss.shape[1])
    ax = plotting.curves(steps, {f"{o} (lr {lr:g})": r.off_block[i] for i, (o, lr) in enumerate(zip(r.optimizers, r.lrs))},
                         ylabel="off-block residual (max over layers)", title="which optimisers keep the structure")
    return [plotting.save(ax, folder / "off_block.png")]


# name -> function(result, folder) -> [paths written]
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
}
