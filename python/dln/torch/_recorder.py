"""`SpectrumRecorder`: singular values and singular-subspace angles of a PyTorch model's weights while it
trains, through dln's incremental SVD trackers (SCIENCE.md section 4) instead of an SVD per record."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from torch import nn

import dln

from . import _checks

# A top-r subspace is defined (and becomes the reference) once sigma_r - sigma_{r+1} exceeds this times
# sigma_1 plus twice the record's error bound: then the tracked subspace is within
# error_bound / gap of the true one (Wedin's theorem).
_GAP_RTOL = 1e-6
# The low-rank split of one record's change stops when the range finder's tail is below this times
# ||change||_F (rounding level); otherwise it doubles its probes, up to the exact thin split.
_SPLIT_RTOL = 1e-14


def _sine(ref: np.ndarray, now: np.ndarray) -> float:
    """Sine of the largest principal angle between two orthonormal bases of one dimension."""
    return float(np.linalg.norm(ref - now @ (now.T @ ref), 2))


class _Layer:
    """One tracked weight: its tracker, the matrix last fed to it and its records."""

    def __init__(self, name: str, W0: np.ndarray, relative: bool, max_rank: int, update_rank: int, seed: int) -> None:
        self.name, self.relative, self.update_rank = name, relative, update_rank
        self.W0 = W0 if relative else None
        M = np.zeros_like(W0) if relative else W0
        self.fed = M.copy()
        m, n = W0.shape
        self.mode = "generic"
        self.events: list[str] = []
        self.rng = np.random.default_rng(seed)
        if not relative and m == n:
            s = np.linalg.svd(W0, compute_uv=False)  # once, at the start: is W0 = rho Q?
            if s[0] > 0 and s[0] - s[-1] <= 1e3 * np.finfo(np.float64).eps * s[0] * np.sqrt(n):
                self.tracker: Any = dln.SvdTracker(W0, max_rank=min(max_rank, n), seed=seed)
                self.mode = "structured"
        if self.mode == "generic":
            self.tracker = dln.BrandTracker(M, max_rank=min(max_rank, m, n), seed=seed)
        self.spectra: list[np.ndarray] = []
        self.bound: list[float] = []
        self.rank: list[int] = []
        self.angles: list[np.ndarray] = []
        self.angles_previous: list[np.ndarray] = []
        self.reference: Optional[tuple[np.ndarray, np.ndarray]] = None
        self.reference_record = -1
        self.previous: Optional[tuple[np.ndarray, np.ndarray]] = None

    def _split(self, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``D = A B^T`` to rounding, with as few columns as a seeded range finder needs."""
        m, n = D.shape
        full = min(m, n)
        norm = np.linalg.norm(D)
        k = min(self.update_rank, full)
        while k < full:
            Q = np.linalg.qr(D @ self.rng.standard_normal((n, k)))[0]
            B = D.T @ Q
            if np.linalg.norm(D - Q @ B.T) <= _SPLIT_RTOL * norm:
                return Q, B
            k = min(2 * k, full)
        if m <= n:
            return np.eye(m), D.T.copy()
        return D.copy(), np.eye(n)

    def feed(self, W: np.ndarray) -> None:
        M = W - self.W0 if self.relative else W
        D = M - self.fed
        if np.any(D):
            if self.mode == "structured":
                info = self.tracker.update_dense(W, max_update_rank=self.update_rank)
                if info["split_failed"]:  # not rho Q + low rank any more: continue generically
                    self.events.append(f"record {len(self.spectra)}: structured split failed "
                                       f"({info['reason']}); generic tracker from the live weight")
                    self.mode = "generic"
                    self.tracker = dln.BrandTracker(M, max_rank=self.tracker.dim, seed=0)
            else:
                A, B = self._split(D)
                self.tracker.update(A, B)
        self.fed = M.copy()
        self._record(M, W)

    def _record(self, M: np.ndarray, W: np.ndarray, top_p: Optional[int] = None) -> None:
        norm = float(np.linalg.norm(M))
        if norm == 0.0:
            bound = 0.0 if not np.any(self.tracker.spectrum()) else float(np.linalg.norm(self.tracker.spectrum()))
        elif self.mode == "structured":
            bound = self.tracker.error(W) * norm
        else:
            bound = self.tracker.certificate(M) * norm
        self.bound.append(bound)
        self.rank.append(int(self.tracker.rank))
        s = np.asarray(self.tracker.spectrum(), dtype=np.float64)
        self.spectra.append(s)

    def angles_now(self, r: int) -> None:
        """Angles of the top-r subspaces of the latest record against the reference and the previous one."""
        s, bound = self.spectra[-1], self.bound[-1]
        nan = np.full(2, np.nan)
        gap_ok = r < s.size and s[r - 1] - s[r] > _GAP_RTOL * s[0] + 2 * bound or r == s.size and s[-1] > 2 * bound
        held = r <= self.tracker.rank or self.mode == "structured"
        if not (gap_ok and held and s[0] > 0):
            self.angles.append(nan)
            self.angles_previous.append(nan)
            self.previous = None
            return
        U, _, V = self.tracker.triplets(r)
        now = (np.asarray(V, dtype=np.float64), np.asarray(U, dtype=np.float64))
        if self.reference is None:
            self.reference, self.reference_record = now, len(self.spectra) - 1
        self.angles.append(np.array([_sine(self.reference[0], now[0]), _sine(self.reference[1], now[1])]))
        if self.previous is None:
            self.angles_previous.append(nan)
        else:
            self.angles_previous.append(np.array([_sine(self.previous[0], now[0]), _sine(self.previous[1], now[1])]))
        self.previous = now


class SpectrumRecorder:
    """Record the spectra of a model's 2-D weights in your own training loop.

    Call :meth:`step` after each optimiser step; the weights are recorded at the start (step 0) and
    after every ``every``-th call. Each record feeds the change since the last one to a dln tracker:
    :class:`dln.SvdTracker` (the exact ``rho Q + low rank`` form) for square weights that start as a
    multiple of an orthogonal matrix (the orthogonal init), :class:`dln.BrandTracker` otherwise, with the
    change split into ``A B^T`` by a seeded range finder (as many probes as it needs, up to the exact thin
    split). No SVD of a weight is taken after the start.

    Parameters
    ----------
    model : nn.Module
    every : int
        Record after every ``every``-th :meth:`step` call (``>= 1``).
    top_p : int
        Singular values kept per record, ``1 <= top_p <= min(shape)`` of every tracked weight.
    layers : sequence of str, optional
        Names from ``model.named_parameters()``; default: every 2-D parameter.
    relative_to_init : bool
        Track ``W(t) - W(0)`` (the update) instead of ``W(t)``.
    rank : int, optional
        ``r`` of the angles (default ``min(top_p, ...)``, at most ``top_p``).
    max_rank : int
        Cap on the rank a tracker holds (BrandTracker truncates beyond it; the error bound says how much).
    update_rank : int
        First guess of the rank of one record's change (the range finder doubles it as needed).
    seed : int
        Seeds the trackers' probes; the records do not depend on it beyond rounding.

    Attributes (NumPy arrays, keyed by parameter name)
    --------------------------------------------------
    steps : (n,) int
        The :meth:`step` counts recorded (0 first).
    spectra[name] : (n, top_p)
        Top singular values, descending, of ``W`` (or ``W - W(0)``).
    error_bound[name] : (n,)
        ``||M - M_tracked||_F`` measured against the live weight at each record (the tracker's
        certificate times ``||M||_F``). By Weyl's inequality every recorded singular value is within this
        of the true one: ``|sigma_i(M) - spectra[name][t, i]| <= error_bound[name][t]``. It is at rounding
        level (~1e-15 ||M||) while the tracker holds the whole matrix (rank <= max_rank); it grows only
        when BrandTracker truncates.
    angles[name] : (n, 2)
        Sine of the largest principal angle between the top-``rank`` right (column 0) and left (column 1)
        singular subspaces at each record and at the reference record (the first one where that
        subspace is defined: ``sigma_r - sigma_{r+1}`` above ``1e-6 sigma_1 + 2 error_bound``); NaN where
        undefined. Their error is at most ``error_bound / gap`` (Wedin).
    angles_previous[name] : (n, 2)
        The same against the previous record.
    rank[name] : (n,) int
        Rank held by the tracker.
    modes[name] : str
        ``structured`` or ``generic``.
    """

    def __init__(self, model: nn.Module, every: int = 1, top_p: int = 4, layers: Optional[Sequence[str]] = None,
                 relative_to_init: bool = False, rank: Optional[int] = None, max_rank: int = 64,
                 update_rank: int = 8, seed: int = 0) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.every = _checks.integer(every, "every", minimum=1)
        top_p = _checks.integer(top_p, "top_p", minimum=1)
        if not isinstance(relative_to_init, (bool, np.bool_)):
            raise TypeError(f"relative_to_init: expected a bool, got {type(relative_to_init).__name__}")
        max_rank = _checks.integer(max_rank, "max_rank", minimum=1, maximum=2**31 - 1)
        update_rank = _checks.integer(update_rank, "update_rank", minimum=1, maximum=2**31 - 1)
        seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1)
        params = dict(model.named_parameters())
        if layers is None:
            names = [n for n, p in params.items() if p.ndim == 2]
            if not names:
                raise ValueError("layers: the model has no 2-D parameter to track")
        else:
            if isinstance(layers, str) or not isinstance(layers, Sequence):
                raise TypeError(f"layers: expected a sequence of parameter names, got {type(layers).__name__}")
            names = list(layers)
            if not names:
                raise ValueError("layers: empty")
            for i, n in enumerate(names):
                if n not in params:
                    raise ValueError(f"layers[{i}]: no parameter named {n!r} (model.named_parameters() has "
                                     f"{[k for k, p in params.items() if p.ndim == 2]})")
                if params[n].ndim != 2:
                    raise ValueError(f"layers[{i}]: {n!r} has shape {tuple(params[n].shape)}, not a 2-D weight")
                if params[n].dtype not in _checks.DTYPES:
                    raise TypeError(f"layers[{i}]: {n!r} has dtype {params[n].dtype} (float64 or float32 only)")
            if len(set(names)) != len(names):
                raise ValueError(f"layers: names repeat: {names}")
        smallest = min(min(params[n].shape) for n in names)
        if top_p > smallest:
            raise ValueError(f"top_p: must be <= {smallest}, the smallest dimension of the tracked weights, "
                             f"got {top_p}")
        r = min(top_p, smallest) if rank is None else _checks.integer(rank, "rank", minimum=1, maximum=top_p)
        for n in names:
            if params[n].dtype not in _checks.DTYPES:
                raise TypeError(f"layers: {n!r} has dtype {params[n].dtype} (float64 or float32 only)")
            if params[n].device.type == "meta":
                raise ValueError(f"layers: {n!r} is on the meta device (no values)")
        self.top_p, self.rank_angles, self.relative_to_init = top_p, r, bool(relative_to_init)
        self._params = {n: params[n] for n in names}
        self._layers = {n: _Layer(n, _checks.numpy64(params[n]), self.relative_to_init, max_rank, update_rank, s)
                        for n, s in zip(names, _checks.seeds(seed, len(names)))}
        self._calls = 0
        self._steps = [0]
        for layer in self._layers.values():
            W = _checks.numpy64(self._params[layer.name])
            layer._record(W - layer.W0 if layer.relative else W, W)
            layer.angles_now(r)

    def step(self) -> bool:
        """Count one optimiser step; record when the count is a multiple of ``every``. Returns whether it did."""
        self._calls += 1
        if self._calls % self.every:
            return False
        for name, layer in self._layers.items():
            layer.feed(_checks.numpy64(self._params[name]))
            layer.angles_now(self.rank_angles)
        self._steps.append(self._calls)
        return True

    @property
    def names(self) -> list[str]:
        return list(self._layers)

    @property
    def steps(self) -> np.ndarray:
        return np.array(self._steps, dtype=np.int64)

    def _table(self, key: str, width: Optional[int] = None) -> dict:
        out = {}
        for n, layer in self._layers.items():
            rows = getattr(layer, key)
            a = np.array([row[:width] for row in rows] if width else rows)
            out[n] = a
        return out

    @property
    def spectra(self) -> dict:
        return self._table("spectra", self.top_p)

    @property
    def error_bound(self) -> dict:
        return {n: np.asarray(v, dtype=np.float64) for n, v in self._table("bound").items()}

    @property
    def angles(self) -> dict:
        return self._table("angles")

    @property
    def angles_previous(self) -> dict:
        return self._table("angles_previous")

    @property
    def rank(self) -> dict:
        return {n: np.asarray(v, dtype=np.int64) for n, v in self._table("rank").items()}

    @property
    def modes(self) -> dict:
        return {n: layer.mode for n, layer in self._layers.items()}

    @property
    def reference_step(self) -> dict:
        """Step of each layer's angle reference (-1 while none is defined)."""
        return {n: int(self._steps[l.reference_record]) if l.reference_record >= 0 else -1
                for n, l in self._layers.items()}

    @property
    def events(self) -> dict:
        return {n: list(layer.events) for n, layer in self._layers.items()}

    def summary(self) -> dict:
        """A JSON-ready dict of everything recorded (lists of floats; NaN as None)."""
        def clean(a: np.ndarray) -> Any:
            if a.ndim == 1:
                return [None if not np.isfinite(v) else float(v) for v in a.ravel()]
            return [clean(r) for r in a]
        return {"steps": self.steps.tolist(), "top_p": self.top_p, "rank": self.rank_angles,
                "relative_to_init": self.relative_to_init, "modes": self.modes,
                "spectra": {n: clean(v) for n, v in self.spectra.items()},
                "error_bound": {n: clean(v) for n, v in self.error_bound.items()},
                "angles": {n: clean(v) for n, v in self.angles.items()}}

    def __repr__(self) -> str:
        return (f"SpectrumRecorder({len(self._layers)} weights, every={self.every}, top_p={self.top_p}, "
                f"records={len(self._steps)})")
