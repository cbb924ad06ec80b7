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
            if not isinstance(value, (list, dict)) or key == "checks":
                say(f"   {key}: {value}")
        checks = summary.get("checks", {})
        bad = [k for k, ok in checks.items() if not ok] if isinstance(checks, dict) else []
        failed += [f"{n}: {k}" for k in bad]
        say(f"   wrote {folder.resolve()}/summary.json" + (f" and {len(files)} figure(s)" if files else ""))
    if failed:
        say("FAILED checks: " + "; ".join(failed))
        return 1
    return 0


# name -> function(result, folder) -> [paths]; filled in per experiment below.
FIGURES: dict[str, Callable[[Any, Path], list[Path]]] = {}
