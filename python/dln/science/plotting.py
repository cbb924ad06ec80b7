"""Figures of the published experiments, from plain arrays (matplotlib).

Every function draws into ``ax`` (a new figure's axes when ``ax is None``) and returns the axes, so
figures compose: ``fig, (a, b) = plt.subplots(1, 2); dln.plotting.loss(r.loss, ax=a)``. Nothing here
trains or computes a result; the inputs are the arrays that :mod:`dln.experiments`, :mod:`dln.analysis`
and :func:`dln.train` return. matplotlib (a dependency of dln) is imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

__all__ = ["loss", "singular_values", "waterfall", "angles", "separation", "compressed_vs_wide", "curves",
           "rank_sweep", "save"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("dln.plotting needs matplotlib: pip install matplotlib") from e
    return plt


def _axes(ax: Any, projection: Optional[str] = None) -> Any:
    if ax is not None:
        if projection == "3d" and getattr(ax, "name", "") != "3d":
            raise ValueError("ax: the waterfall view needs 3-D axes (fig.add_subplot(projection='3d'))")
        return ax
    plt = _pyplot()
    fig = plt.figure(figsize=(6.0, 4.2))
    return fig.add_subplot(projection=projection) if projection else fig.add_subplot()


def _vector(a: Any, name: str) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {v.shape}")
    return v


def _steps(steps: Any, n: int, name: str = "steps") -> np.ndarray:
    if steps is None:
        return np.arange(n, dtype=np.float64)
    s = _vector(steps, name)
    if s.size != n:
        raise ValueError(f"{name}: expected {n} entries to match the data, got {s.size}")
    return s


def _positive(v: np.ndarray) -> np.ndarray:
    """Values for a log axis: exact zeros (a converged loss, an exactly fixed subspace) are drawn at the
    smallest positive double instead of vanishing from the plot."""
    return np.where(v > 0, v, np.finfo(np.float64).tiny)


def loss(losses: Any, steps: Any = None, ax: Any = None, label: Optional[str] = None, units: str = "mean",
         record_every: int = 1) -> Any:
    """Loss against step on a log axis.

    Parameters
    ----------
    losses : (n,) array or :class:`dln.Result`
        ``loss[k]`` after ``k * record_every`` updates (the engine's convention); a Result supplies its
        own ``loss`` and ``record_every``.
    steps : (n,) array, optional
        Explicit step numbers (overrides ``record_every``).
    units : str
        Loss reduction shown on the y label (``mean`` or ``sum``).
    """
    if hasattr(losses, "loss") and hasattr(losses, "record_every"):
        record_every = int(losses.record_every)
        losses = losses.loss
    v = _vector(losses, "losses")
    x = _steps(steps, v.size) if steps is not None else np.arange(v.size, dtype=np.float64) * record_every
    ax = _axes(ax)
    ax.semilogy(x, _positive(v), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({units})")
    if label is not None:
        ax.legend()
    return ax


def singular_values(spectra: Any, steps: Any = None, ax: Any = None, rho: Any = None, top: Optional[int] = None,
                    title: Optional[str] = None) -> Any:
    """Singular values of one layer over time, one line per index (the lines view).

    Parameters
    ----------
    spectra : (n, k) array
        ``spectra[t]`` the singular values (descending) at record ``t`` (e.g. ``SvdTrace.spectra[l]``).
    steps : (n,) array, optional
    rho : (n,) array, optional
        The predicted bulk value ``rho(t)``, drawn dashed.
    top : int, optional
        Draw only the ``top`` largest and ``top`` smallest indices plus one bulk line (large layers).
    """
    s = np.asarray(spectra, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"spectra: expected a non-empty (records, k) array, got shape {s.shape}")
    x = _steps(steps, s.shape[0])
    cols = np.arange(s.shape[1])
    if top is not None:
        if int(top) < 1:
            raise ValueError(f"top: must be >= 1, got {top}")
        t = int(top)
        cols = np.unique(np.r_[cols[:t], cols[s.shape[1] // 2], cols[-t:]])
    ax = _axes(ax)
    ax.plot(x, s[:, cols], color="C0", lw=1.0)
    if rho is not None:
        ax.plot(x, _vector(rho, "rho")[: x.size], "k--", lw=1.2, label="rho(t)")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("singular value")
    if title:
        ax.set_title(title)
    return ax


def waterfall(spectra: Any, steps: Any = None, ax: Any = None, title: Optional[str] = None) -> Any:
    """The published waterfall view: singular value index x step x value, one curve per recorded step."""
    s = np.asarray(spectra, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"spectra: expected a non-empty (records, k) array, got shape {s.shape}")
    x = _steps(steps, s.shape[0])
    ax = _axes(ax, projection="3d")
    idx = np.arange(1, s.shape[1] + 1)
    cmap = _pyplot().get_cmap("viridis")
    for t in range(s.shape[0]):
        ax.plot(idx, np.full(idx.size, x[t]), s[t], color=cmap(t / max(1, s.shape[0] - 1)), lw=0.9)
    ax.set_xlabel("index")
    ax.set_ylabel("step")
    ax.set_zlabel("singular value")
    if title:
        ax.set_title(title)
    return ax


def angles(sines: Any, steps: Any = None, ax: Any = None, labels: Sequence[str] = ("top r", "middle", "bottom r"),
           title: Optional[str] = None) -> Any:
    """Sine of the largest principal angle of each singular subspace block against its reference.

    Parameters
    ----------
    sines : (n, b) array
        One column per block (e.g. ``SvdTrace.angles_right[:, l, :]``); NaN entries (undefined blocks)
        are skipped, exact zeros drawn at the smallest positive double.
    """
    a = np.asarray(sines, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"sines: expected a non-empty (records, blocks) array, got shape {a.shape}")
    if len(labels) < a.shape[1]:
        raise ValueError(f"labels: need {a.shape[1]} labels, got {len(labels)}")
    x = _steps(steps, a.shape[0])
    ax = _axes(ax)
    for b in range(a.shape[1]):
        ok = np.isfinite(a[:, b])
        if ok.any():
            ax.semilogy(x[ok], _positive(a[ok, b]), label=labels[b])
    ax.set_xlabel("step")
    ax.set_ylabel("sin(largest principal angle)")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def separation(D: Any, ax: Any = None, ratio: Optional[float] = None, D0: Optional[float] = None,
               predicted_ratio: Optional[float] = None, label: Optional[str] = None,
               fit_layers: Optional[int] = None) -> Any:
    """Separation measure ``D_l`` per layer (log scale) with its geometric fit ``D0 * ratio^l``.

    Parameters
    ----------
    D : (L+1,) array
        ``D_0`` (input) ... ``D_L`` (output).
    ratio, D0 : float, optional
        The fitted per-layer ratio and intercept; drawn over the fitted layers.
    predicted_ratio : float, optional
        ``eps^2 / n^(1/L)``, drawn from ``D_0`` for comparison.
    fit_layers : int, optional
        Number of layers the fit used (default ``len(D) - 1``: the output layer is excluded).
    """
    d = _vector(D, "D")
    layers = np.arange(d.size)
    ax = _axes(ax)
    line = ax.semilogy(layers, _positive(d), "o-", label=label or "D_l")[0]
    n_fit = d.size - 1 if fit_layers is None else int(fit_layers)
    lf = np.arange(max(n_fit, 1))
    if ratio is not None:
        base = d[0] if D0 is None else float(D0)
        ax.semilogy(lf, base * float(ratio) ** lf, "--", color=line.get_color(), label=f"fit: ratio {ratio:.4g}")
    if predicted_ratio is not None:
        ax.semilogy(lf, d[0] * float(predicted_ratio) ** lf, ":", color="k",
                    label=f"predicted: {predicted_ratio:.4g}")
    ax.set_xlabel("layer l")
    ax.set_ylabel("D_l = tr(Sigma_W) / tr(Sigma_B)")
    ax.legend()
    return ax


def compressed_vs_wide(loss_wide: Any, loss_compressed: Any, steps_wide: Any = None, steps_compressed: Any = None,
                       ax: Any = None, seconds: Optional[tuple] = None, units: str = "mean") -> Any:
    """Loss of the wide and the compressed network on one axis; ``seconds=(wide, compressed)`` adds the
    wall times to the legend."""
    w = _vector(loss_wide, "loss_wide")
    c = _vector(loss_compressed, "loss_compressed")
    ax = _axes(ax)
    tw = f" ({seconds[0]:.3g} s)" if seconds is not None else ""
    tc = f" ({seconds[1]:.3g} s)" if seconds is not None else ""
    ax.semilogy(_steps(steps_compressed, c.size, "steps_compressed"), _positive(c), lw=2.0, label="compressed" + tc)
    ax.semilogy(_steps(steps_wide, w.size, "steps_wide"), _positive(w), "--", lw=1.5, label="wide" + tw)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({units})")
    ax.legend()
    return ax


def curves(x: Any, series: dict, ax: Any = None, xlabel: str = "step", ylabel: str = "", logy: bool = True,
           title: Optional[str] = None) -> Any:
    """One line per entry of ``series`` (label -> values) against ``x``; values of shape (k,) or
    (k, trials) are drawn as the mean with min-max bars. Exact zeros on a log axis are drawn at the
    smallest positive double; NaN points are skipped."""
    xs = _vector(x, "x")
    if not isinstance(series, dict) or not series:
        raise ValueError("series: expected a non-empty dict of label -> values")
    ax = _axes(ax)
    for name, vals in series.items():
        v = np.asarray(vals, dtype=np.float64)
        if v.ndim == 1:
            v = v[:, None]
        if v.ndim != 2 or v.shape[0] != xs.size:
            raise ValueError(f"series: expected ({xs.size},) or ({xs.size}, trials) values for {name!r}, "
                             f"got shape {np.shape(vals)}")
        ok = np.isfinite(v).any(axis=1)
        if not ok.any():
            continue
        v = v[ok]
        with np.errstate(all="ignore"):
            mean = np.nanmean(v, axis=1)
            err = np.vstack([mean - np.nanmin(v, axis=1), np.nanmax(v, axis=1) - mean])
        if logy:
            mean = _positive(mean)
        ax.errorbar(xs[ok], mean, yerr=err if v.shape[1] > 1 else None, marker="o" if xs.size <= 30 else None,
                    ms=4, capsize=3, label=str(name))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def rank_sweep(rank_guess: Any, values: Any, ax: Any = None, label: str = "compressed",
               others: Optional[dict] = None, ylabel: str = "iterations to tolerance") -> Any:
    """A quantity (iterations, time, error) against the rank guess ``r_hat``; ``values`` may be
    (k,) or (k, trials) (mean with min-max bars). ``others`` maps labels to more such arrays."""
    r = _vector(rank_guess, "rank_guess")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim not in (1, 2) or v.shape[0] != r.size:
        raise ValueError(f"values: expected ({r.size},) or ({r.size}, trials), got shape {v.shape}")
    return curves(r, {label: v, **(others or {})}, ax=ax, xlabel="rank guess r_hat", ylabel=ylabel, logy=False)


def save(ax_or_fig: Any, path: Union[str, Path], dpi: int = 120) -> Path:
    """Write the figure holding ``ax_or_fig`` to ``path`` (format from the suffix), close it, return the path."""
    from matplotlib.figure import Figure

    fig = ax_or_fig if isinstance(ax_or_fig, Figure) else ax_or_fig.get_figure()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p, dpi=dpi)
    _pyplot().close(fig)
    return p
