"""`dln reproduce width`: time and memory of exact training against the width d, three ways.

Deep matrix factorisation, L = 3, rank r = 10, eps = 1e-3, plain GD, ``sum`` units with a width-free
problem (``Phi = U diag(s) V^T``, ``U, V`` Haar-random orthonormal frames, ``s`` linearly from 1 to 0.5,
``lr = 0.3``, stop at loss ``tol = 1e-10``), so the trajectory - and the number of steps - is the
same at every width (up to the ``O(sqrt(r/d))`` overlap of the init with the target), and the three
ways reach the same loss:

- ``dense``: the wide network trained densely (``dln.train``), the way the authors' code trains it;
  per step ``6 L`` ... ``O(L d^3)``. Where the whole run would exceed ``dense_budget_s`` its time is
  the measured per-step time times the step count of the (exactly equivalent) implicit run, and the
  entry says ``estimated``.
- ``compressed``: dense orthogonal init and dense target, then ``dln.train(..., compress="auto")``
  (the O(d^3) init and O(d^2) arrays remain).
- ``implicit``: :mod:`dln.implicit` (``Network.orthogonal(..., implicit=True)`` and
  ``Factorization.from_factors``): no ``d x d`` array anywhere.

Each measurement runs in a fresh subprocess so that its peak resident set (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

import dln

from .._tall import orthonormal
from ..training.implicit import train_implicit

SETTING: dict[str, Any] = dict(L=3, r=10, eps=1e-3, lr=0.3, tol=1e-10, steps=200000)
METHODS = ("dense", "compressed", "implicit")
# largest width each way is tried at by default (memory: dense layers are 8 d^2 bytes each)
LIMITS = {"dense": 4000, "compressed": 8000, "implicit": 10**6}


class WidthResult(dict):
    """The experiment's JSON-ready record (a dict); ``summary()`` returns it (for ``dln reproduce``)."""

    def summary(self) -> dict:
        return dict(self)


def _problem(d: int, r: int, seed: int, dense: bool) -> Any:
    rng = np.random.default_rng(seed)
    U = orthonormal(rng.standard_normal((d, r)))[0]
    V = orthonormal(rng.standard_normal((d, r)))[0]
    s = np.linspace(1.0, 0.5, r)
    if dense:
        return dln.Factorization((U * s) @ V.T, reduction="sum")
    return dln.Factorization.from_factors(U, s, V, reduction="sum")


def run_one(method: str, d: int, seed: int = 0, dense_budget_s: float = 60.0, steps: Optional[int] = None) -> dict:
    """One measurement in this process: wall time to the tolerance (setup included), steps, final loss,
    and this process's peak RSS in bytes. ``steps`` (for ``dense``): the step count to the tolerance
    when known (from the implicit run), used to estimate a run that exceeds ``dense_budget_s``."""
    import resource  # POSIX only

    L, r, eps, lr, tol = (SETTING[k] for k in ("L", "r", "eps", "lr", "tol"))
    t0 = time.perf_counter()
    out: dict = {"method": method, "d": d}
    if method == "implicit":
        prob = _problem(d, r, seed, dense=False)
        net = dln.Network.orthogonal([d] * (L + 1), eps, seed=seed, implicit=True)
        res = train_implicit(net, prob, lr, SETTING["steps"], tol=tol, n_threads=1)
        res.network  # noqa: B018 - the lift is part of the work
        out.update(steps=res.steps, loss=res.final_loss, status=res.status)
    elif method == "compressed":
        prob = _problem(d, r, seed, dense=True)
        net = dln.Network.orthogonal([d] * (L + 1), eps, seed=seed)
        res = dln.train(net, prob, lr, SETTING["steps"], tol=tol, compress="auto", n_threads=1)
        res.network  # noqa: B018
        out.update(steps=res.steps, loss=res.final_loss, status=res.status)
    elif method == "dense":
        prob = _problem(d, r, seed, dense=True)
        net = dln.Network.orthogonal([d] * (L + 1), eps, seed=seed)
        setup = time.perf_counter() - t0
        probe = dln.train(net, prob, lr, 3, n_threads=1)  # per-step time
        per_step = probe.seconds / 3
        total = steps if steps is not None else SETTING["steps"]
        if per_step * total <= dense_budget_s:
            res = dln.train(net, prob, lr, SETTING["steps"], tol=tol, n_threads=1)
            out.update(steps=res.steps, loss=res.final_loss, status=res.status, estimated=False)
        else:
            out.update(steps=total, loss=None, status="estimated", estimated=True,
                       seconds=setup + per_step * total)
        out["per_step_s"] = per_step
    else:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    out.setdefault("seconds", time.perf_counter() - t0)
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["loss_is_finite"] = out["loss"] is None or bool(np.isfinite(out["loss"]))
    return out


def _subprocess(method: str, d: int, seed: int, dense_budget_s: float, steps: Optional[int], timeout: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    args = [sys.executable, "-m", "dln.science.width", method, str(d), str(seed), str(dense_budget_s),
            str(steps if steps is not None else -1)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "d": d, "status": f"timeout after {timeout:g} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"method": method, "d": d, "status": f"failed: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def width(quick: bool = False, full: bool = False, seed: int = 0, widths: Optional[Sequence[int]] = None,
          dense_budget_s: float = 60.0, timeout: float = 900.0, progress: Any = None) -> WidthResult:
    """Time and peak memory to the same loss against d, for dense, dense-init compressed and implicit.

    The equivalence the compressed and implicit paths rely on is SCIENCE.md section 3.

    Parameters
    ----------
    quick : bool
        d = 1e2 .. 1e4 (about a minute). Default d = 1e2 .. 1e5; ``full`` up to 1e6.
    widths : sequence of int, optional
        Overrides the grid. Each method runs up to its limit (dense 4000, compressed 8000, implicit 1e6).
    dense_budget_s : float
        A dense run longer than this is estimated from its measured per-step time (and said so).
    timeout : float
        Per measurement (a subprocess).
    """
    if widths is None:
        top = 4 if quick else (6 if full else 5)
        widths = sorted({int(round(10 ** (e / 2))) for e in range(4, 2 * top + 1)})
    rows = []
    for d in widths:
        implicit_row = _subprocess("implicit", d, seed, dense_budget_s, None, timeout)
        rows.append(implicit_row)
        steps = implicit_row.get("steps")
        for method in ("compressed", "dense"):
            if d <= LIMITS[method]:
                rows.append(_subprocess(method, d, seed, dense_budget_s, steps, timeout))
        if progress:
            print(f"width: d = {d} done", file=sys.stderr)
    return WidthResult(setting=dict(SETTING, reduction="sum", problem="Phi = U diag(linspace(1, 0.5, r)) V^T"),
                       widths=list(widths), runs=rows, limits=dict(LIMITS), dense_budget_s=dense_budget_s)


def checks(summary: dict) -> dict:
    """The claims the record shows: every implicit run converged, and at the largest width it ran
    used under 1 GB per 2e5 of width (the issue's memory scale)."""
    imp = [r for r in summary["runs"] if r["method"] == "implicit"]
    done = [r for r in imp if r.get("status") == "converged"]
    top = max(done, key=lambda r: r["d"]) if done else None
    return {"implicit runs converged": len(done) == len(imp) and bool(imp),
            "implicit peak RSS <= 1 GB per 2e5 width (and >= 1 GB allowed)":
                top is not None and top["peak_rss_bytes"] <= max(1.0, top["d"] / 2e5) * 2**30}


def plot(result: Any, folder: Any) -> list:
    """``time_vs_width.png`` and ``memory_vs_width.png`` (log-log) in ``folder``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = result.summary() if hasattr(result, "summary") else dict(result)
    folder = Path(folder)
    files = []
    style = {"dense": ("C3", "o", "wide dense (dln.train)"), "compressed": ("C1", "s", "dense init + compress"),
             "implicit": ("C0", "^", "implicit (dln.implicit)")}
    for key, ylabel, name in (("seconds", "time to loss 1e-10 [s]", "time_vs_width.png"),
                              ("peak_rss_bytes", "peak RSS [GiB]", "memory_vs_width.png")):
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for method in METHODS:
            pts = sorted((r["d"], r[key]) for r in data["runs"] if r["method"] == method and key in r)
            if not pts:
                continue
            color, marker, label = style[method]
            ys = [y / 2**30 if key == "peak_rss_bytes" else y for _, y in pts]
            ax.loglog([p[0] for p in pts], ys, marker=marker, color=color, label=label)
            est = [(p[0], y) for p, y, r in zip(pts, ys, sorted((r for r in data["runs"] if r["method"] == method
                                                               and key in r), key=lambda r: r["d"]))
                   if r.get("estimated")]
            if est and key == "seconds":
                ax.loglog(*zip(*est), linestyle="none", marker=marker, mfc="white", color=color,
                          label=f"{label}: estimated (per-step x steps)")
        dense = sorted((r["d"], r["per_step_s"] * r["steps"]) for r in data["runs"]
                       if r["method"] == "dense" and "per_step_s" in r)
        if key == "seconds" and dense:
            d0, t0 = dense[0]
            ds = [d for d in data["widths"] if d >= d0]
            ax.loglog(ds, [t0 * (d / d0) ** 3 for d in ds], "k:", label="authors' code per step: ~d^3 (wide, dense)")
        ax.set_xlabel("width d")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        path = folder / name
        fig.savefig(path, dpi=120)
        plt.close(fig)
        files.append(path)
    return files


if __name__ == "__main__":  # one measurement, for width(): python -m dln.science.width METHOD D SEED BUDGET STEPS
    _m, _d, _s, _b, _n = sys.argv[1:6]
    print(json.dumps(run_one(_m, int(_d), int(_s), float(_b), None if int(_n) < 0 else int(_n))))
