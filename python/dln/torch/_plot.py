"""Drawing a :class:`SpectrumRecorder`'s records, in the style of ``dln.plotting`` for a linear run.
matplotlib is optional and imported only here, when a figure is drawn."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._recorder import SpectrumRecorder


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("dln.torch.plot_*: needs matplotlib (pip install matplotlib)") from exc
    return plt.figure(figsize=(6.0, 4.2)).add_subplot()


def _layer(recorder: Any, name: str) -> str:
    if not isinstance(recorder, SpectrumRecorder):
        raise TypeError(f"recorder: expected a dln.torch.SpectrumRecorder, got {type(recorder).__name__}")
    if name not in recorder.names:
        raise ValueError(f"name: {name!r} is not tracked (tracked: {recorder.names})")
    return name


def plot_spectra(recorder: Any, name: str, ax: Any = None, title: Optional[str] = None) -> Any:
    """The recorded top singular values of one weight over the steps, one line per index.

    The band ``sigma +- error_bound`` is shaded where it is visible. Returns the axes."""
    _layer(recorder, name)
    s = recorder.spectra[name]
    x = recorder.steps.astype(np.float64)
    b = recorder.error_bound[name]
    ax = _axes(ax)
    ax.plot(x, s, color="C0", lw=1.0)
    if np.any(b > 0):
        for i in range(s.shape[1]):
            ax.fill_between(x, s[:, i] - b, s[:, i] + b, color="C0", alpha=0.15, lw=0)
    ax.set_xlabel("step")
    ax.set_ylabel("singular value" + (" of W - W(0)" if recorder.relative_to_init else ""))
    ax.set_title(title if title is not None else name)
    return ax


def plot_angles(recorder: Any, name: str, ax: Any = None, title: Optional[str] = None) -> Any:
    """Sine of the largest principal angle of the top-r right and left singular subspaces of one weight
    against the reference record (log axis; NaN records skipped, exact zeros at the smallest double)."""
    _layer(recorder, name)
    a = recorder.angles[name]
    x = recorder.steps.astype(np.float64)
    ax = _axes(ax)
    r = recorder.rank_angles
    for col, label in enumerate((f"right top-{r}", f"left top-{r}")):
        ok = np.isfinite(a[:, col])
        if ok.any():
            ax.semilogy(x[ok], np.where(a[ok, col] > 0, a[ok, col], np.finfo(np.float64).tiny), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("sin(largest principal angle)")
    if ax.lines:
        ax.legend()
    ax.set_title(title if title is not None else name)
    return ax
