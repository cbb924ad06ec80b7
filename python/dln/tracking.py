"""Incremental SVD tracking (SCIENCE.md section 4): the spectrum and singular subspaces of a layer at
every step for O(d^2 k + d s k + s^3) instead of an O(d^3) SVD.

* :class:`SvdTracker` - the exact structured tracker ``Q^T W = rho I + V D V^T`` for your own loops.
* :class:`BrandTracker` - the generic truncated thin-SVD tracker (any shape), reporting what it discards.
* :class:`TrackSpec` - what ``dln.train(..., track_svd=TrackSpec(...))`` records; the record comes back
  as :class:`SvdTrace` in ``result.svd``.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Optional

import numpy as np

from . import _core
from ._checks import as_dtype, choice, common_dtype, floating_array, integer, matrix, real
from .theory import theory_bases

MODES = ("auto", "structured", "generic")
REFERENCES = ("step1", "theory")


def _factor(a: Any, name: str, dtype: np.dtype, rows: int) -> np.ndarray:
    """A factor of a low-rank update: (rows, k), or a vector taken as (rows, 1)."""
    arr = floating_array(a, name)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    m = matrix(arr, name, dtype)
    if m.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows, got shape {m.shape}")
    return m


def _options(max_rank: Any, direction_tol: Any, ortho_ulp: Any, seed: Any) -> tuple:
    mr = integer(max_rank, "max_rank", minimum=1, maximum=2**31 - 1)
    dt = real(direction_tol, "direction_tol")
    if not (0.0 < dt < 1.0):
        raise ValueError(f"direction_tol: must be in (0, 1), got {dt}")
    ou = real(ortho_ulp, "ortho_ulp")
    if not ou >= 1.0:
        raise ValueError(f"ortho_ulp: must be >= 1, got {ou}")
    sd = integer(seed, "seed", minimum=0, maximum=2**64 - 1)
    return mr, dt, ou, sd


def _repeated_value(s: np.ndarray, rtol: float) -> float:
    """The singular value with the most copies (within rtol * s[0]); ties go to the larger value."""
    tol = rtol * max(float(s[0]), np.finfo(np.float64).tiny)
    counts = [(np.sum(np.abs(s - v) <= tol), i) for i, v in enumerate(s)]
    best = max(counts, key=lambda c: (c[0], -c[1]))[1]
    return float(np.mean(s[np.abs(s - s[best]) <= tol]))


class SvdTracker:
    """Exact SVD tracker of a square matrix ``W = Q (rho I + V D V^T)`` under low-rank updates.

    Parameters
    ----------
    W : (d, d) array
        The current matrix.
    Q : (d, d) orthogonal array, optional
        The orthogonal factor (e.g. ``W(0) / eps`` for an orthogonal init). When omitted it is the
        polar factor of ``W`` (one full SVD here, at construction only) and ``rho`` its most repeated
        singular value.
    rho : float, optional
        The repeated value, when known; otherwise found from randomised probes of ``Q^T W``.
    max_rank : int
        Cap on ``s`` (the rank of ``V``); an update past it keeps the representation exact and says
        so (``events`` and a RuntimeWarning): call :meth:`restart` with the live matrix.
    direction_tol : float
        New directions and deflated directions below this (relative) are dropped.
    ortho_ulp : float
        ``V`` is re-orthonormalised when ``max |V^T V - I|`` exceeds this many ulp.
    seed : int
        Seed of the random probes.
    dtype : float64 or float32, optional
        Default: float32 if ``W`` is float32, else float64.

    Notes
    -----
    The spectrum is ``sigma(rho I + D)`` plus ``|rho|`` with multiplicity ``d - s``. One update costs
    ``O(d^2 k)`` (rotating ``A`` into the Q-frame) plus ``O(d s k + s^3)``.
    """

    def __init__(self, W: Any, Q: Any = None, rho: Optional[float] = None, *, max_rank: int = 64,
                 direction_tol: float = 1e-13, ortho_ulp: float = 100.0, seed: int = 0, dtype: Any = None) -> None:
        w = floating_array(W, "W")
        dt = as_dtype(dtype) if dtype is not None else common_dtype(w)
        w = matrix(w, "W", dt)
        if w.shape[0] != w.shape[1]:
            raise ValueError(f"W: the structured tracker needs a square matrix, got shape {w.shape} "
                             "(use dln.BrandTracker)")
        if not np.isfinite(w).all():
            raise ValueError("W: contains NaN or Inf")
        opts = _options(max_rank, direction_tol, ortho_ulp, seed)
        if rho is not None:
            rho = real(rho, "rho")
            if not np.isfinite(rho):
                raise ValueError(f"rho: must be finite, got {rho}")
        if Q is None:
            u, s, vt = np.linalg.svd(w.astype(np.float64))
            q = matrix(u @ vt, "Q", dt)
            if rho is None:
                rho = _repeated_value(s, 1e3 * float(np.finfo(dt).eps))
        else:
            q = matrix(Q, "Q", dt)
            if q.shape != w.shape:
                raise ValueError(f"Q: expected shape {w.shape} like W, got {q.shape}")
            err = np.abs(q.T.astype(np.float64) @ q - np.eye(q.shape[0])).max()
            if err > 1e3 * np.finfo(dt).eps * np.sqrt(q.shape[0]):
                raise ValueError(f"Q: not orthogonal (max |Q^T Q - I| = {err:.3g})")
        self._dtype = dt
        core_type: Any = _core.StructuredTracker64 if dt == np.float64 else _core.StructuredTracker32
        self._core, self.initial_residual = core_type.from_matrix(w, q, rho, *opts)
        self.events: list[str] = []
        self._updates = 0

    def update(self, A: Any, B: Any, alpha: float = 1.0) -> dict:
        """``W <- alpha W + A B^T``; ``A``, ``B`` of shape ``(d, k)`` (or vectors for ``k = 1``).

        Returns what the update did: directions ``added`` and ``deflated``, the relative
        ``projection_residual`` (part of the update not represented), ``discarded`` (absolute
        Frobenius norm dropped), ``reorthonormalised``, ``over_cap``. Non-finite input raises
        ValueError and leaves the tracker unchanged.
        """
        d = self.dim
        a = _factor(A, "A", self._dtype, d)
        b = _factor(B, "B", self._dtype, d)
        if a.shape[1] != b.shape[1]:
            raise ValueError(f"B: expected {a.shape[1]} columns like A, got shape {b.shape}")
        alpha = real(alpha, "alpha")
        info = self._core.update(a, b, alpha)
        self._updates += 1
        self._note(info)
        return info

    def update_dense(self, W_after: Any, max_update_rank: int = 16) -> dict:
        """Move to ``W_after``, split as ``alpha W + (rank <= max_update_rank)`` by randomised probes.

        ``alpha`` is found (returned in the dict) and ``range_residual`` reports the relative tail the
        range finder left. If ``W_after`` is not of that form the tracker is unchanged and
        ``split_failed`` is True with the ``reason``.
        """
        w = matrix(W_after, "W_after", self._dtype)
        k = integer(max_update_rank, "max_update_rank", minimum=1, maximum=2**31 - 1)
        info = self._core.update_dense(w, k)
        self._updates += 1
        self._note(info)
        return info

    def _note(self, info: dict) -> None:
        if info["split_failed"]:
            self.events.append(f"update {self._updates}: dense split failed: {info['reason']}")
        if info["reorthonormalised"]:
            self.events.append(f"update {self._updates}: V re-orthonormalised")
        if info["over_cap"]:
            msg = (f"update {self._updates}: rank s = {self.rank} exceeds max_rank; the representation is "
                   "still exact - call restart(W) with the live matrix")
            self.events.append(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=3)

    def restart(self, W: Any) -> float:
        """Rebuild from the live matrix (same ``Q``); returns the range finder's relative residual."""
        w = matrix(W, "W", self._dtype)
        r = self._core.restart(w)
        if r < 0:
            raise ValueError("W: not rho Q + a matrix of rank <= max_rank for this tracker's Q")
        self.events.append(f"update {self._updates}: restarted from the live matrix (residual {r:.3g})")
        return r

    def triplets(self, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top ``p`` singular triplets ``(U (d, p), S (p,), V (d, p))``, ``W V = U diag(S)``.

        Inside a repeated singular value (the bulk ``|rho|``) the vectors are one valid choice.
        """
        p = integer(p, "p", minimum=0, maximum=self.dim)
        return self._core.triplets(0, p)

    def spectrum(self) -> np.ndarray:
        """All ``d`` singular values, descending."""
        return self._core.spectrum()

    def certificate(self, W: Any) -> float:
        """``||(W - rho Q)(I - V V^T)||_F / ||W||_F``: zero when ``W`` acts as ``rho Q`` off ``V``."""
        return self._core.certificate(matrix(W, "W", self._dtype))

    def error(self, W: Any) -> float:
        """``||W - Q (rho I + V D V^T)||_F / ||W||_F``: the whole representation against ``W``."""
        return self._core.representation_error(matrix(W, "W", self._dtype))

    def matrix(self) -> np.ndarray:
        """The represented matrix (O(d^2 s); for checks)."""
        return self._core.matrix()

    @property
    def dim(self) -> int:
        return int(self._core.dim)

    @property
    def rank(self) -> int:
        """``s``: the number of tracked (moving) directions."""
        return int(self._core.rank)

    @property
    def rho(self) -> float:
        return float(self._core.rho)

    @property
    def orthogonality(self) -> float:
        """``max |V^T V - I|``."""
        return float(self._core.orthogonality())

    def __repr__(self) -> str:
        return f"SvdTracker(d={self.dim}, s={self.rank}, rho={self.rho:.6g}, dtype={self._dtype.name})"


class BrandTracker:
    """Generic truncated thin-SVD tracker ``W ~ U diag(S) V^T`` (rank <= ``max_rank``, any shape).

    For runs where ``rho Q + low rank`` does not hold (Adam, masks, non-whitened data). Everything it
    cannot hold is counted: ``discarded`` is a running bound on ``||W - U S V^T||_F`` and
    :meth:`certificate` measures it exactly against a live matrix.
    """

    def __init__(self, W: Any, *, max_rank: int = 64, direction_tol: float = 1e-13, ortho_ulp: float = 100.0,
                 seed: int = 0, dtype: Any = None) -> None:
        w = floating_array(W, "W")
        dt = as_dtype(dtype) if dtype is not None else common_dtype(w)
        w = matrix(w, "W", dt)
        opts = _options(max_rank, direction_tol, ortho_ulp, seed)
        self._dtype = dt
        self._shape = w.shape
        self._core = (_core.BrandTracker64 if dt == np.float64 else _core.BrandTracker32)(w, *opts)

    def update(self, A: Any, B: Any, alpha: float = 1.0) -> dict:
        """``W <- alpha W + A B^T`` with ``A (m, k)``, ``B (n, k)``, truncated to ``max_rank``."""
        a = _factor(A, "A", self._dtype, self._shape[0])
        b = _factor(B, "B", self._dtype, self._shape[1])
        if a.shape[1] != b.shape[1]:
            raise ValueError(f"B: expected {a.shape[1]} columns like A, got shape {b.shape}")
        return self._core.update(a, b, real(alpha, "alpha"))

    def triplets(self, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = integer(p, "p", minimum=0, maximum=self.rank)
        return self._core.triplets(0, p)

    def spectrum(self) -> np.ndarray:
        """``min(m, n)`` values: the tracked ones, then zeros (see ``discarded``)."""
        return self._core.spectrum()

    def certificate(self, W: Any) -> float:
        return self._core.certificate(matrix(W, "W", self._dtype))

    @property
    def discarded(self) -> float:
        return float(self._core.discarded)

    @property
    def rank(self) -> int:
        return int(self._core.rank)


@dataclasses.dataclass(frozen=True)
class TrackSpec:
    """What ``dln.train(..., track_svd=TrackSpec(...))`` records, inside the C++ loop.

    Parameters
    ----------
    every : int
        Record at steps 0, every, 2 every, ...
    top_p : int
        Singular triplets recorded per layer and record (0: none).
    block_r : int
        ``r`` of the published figure's blocks: the largest principal angle (sine formula) of the top
        ``r``, middle ``d - 2r`` and bottom ``r`` singular subspaces against the first recorded step
        ``>= 1`` (0: no angles; ``2 r`` at most the smallest width, ValueError otherwise). With
        ``reference="theory"`` it is the target rank ``r`` (>= 1).
    reference : {"step1", "theory"}
        ``step1``: the block angles above (``angles_right``/``angles_left``). ``theory``: per layer
        the sine of the largest principal angle between the tracked moving subspace (the ``s``
        directions not at ``rho``) and the theory's ``V_{l,1}`` (left: ``U_{l,1}``), and between the
        tracked bulk and ``V_{l,2}`` (``angles_theory_right``/``angles_theory_left``), SCIENCE.md
        section 2: ``V_{1,1} = orth(row(Phi) + W_{L:1}(0)^T col(Phi))`` (2r directions),
        ``U_l = W_l(0) V_l / eps``, ``V_{l+1} = U_l``. Needs a known target (factorisation or
        whitened regression) and square layers; the block angles are then not recorded.
    end_to_end : bool
        Also record the spectrum of the end-to-end map ``W_{L:1}`` (``spectra_end_to_end``): from
        the layer trackers while every layer is tracked structurally and all are ``d x d`` (exact;
        ``O(L^2 d^2 s)`` per record), else from its own generic tracker fed with the product every
        step (``O(L d^3)`` per step).
    update_rank : int
        Bound on the rank of one step's low-rank part (``2r`` for the law of parsimony).
    max_rank : int
        Cap on ``s``; past it the tracker restarts from the live weights (an event says so).
    mode : {"auto", "structured", "generic"}
        ``auto``: structured for square layers that are ``rho Q`` at the start, generic otherwise.
    certificate_tol : float
        Restart from the live weights when the certificate exceeds it.
    """

    every: int = 1
    top_p: int = 0
    block_r: int = 0
    update_rank: int = 16
    max_rank: int = 64
    mode: str = "auto"
    certificate_tol: float = 1e-10
    direction_tol: float = 1e-13
    ortho_ulp: float = 100.0
    seed: int = 0
    reference: str = "step1"
    end_to_end: bool = False

    def _to_core(self) -> _core.TrackSpec:
        """The spec as the core's class, checked for type (the core checks the values when a run starts)."""
        mr, dt, ou, sd = _options(self.max_rank, self.direction_tol, self.ortho_ulp, self.seed)
        tol = real(self.certificate_tol, "certificate_tol")
        if not tol > 0:
            raise ValueError(f"certificate_tol: must be > 0, got {tol}")
        return _core.TrackSpec(every=integer(self.every, "every", minimum=1),
                               top_p=integer(self.top_p, "top_p", minimum=0),
                               block_r=integer(self.block_r, "block_r", minimum=0),
                               update_rank=integer(self.update_rank, "update_rank", minimum=1, maximum=2**31 - 1),
                               mode=choice(self.mode, "mode", MODES), certificate_tol=tol, max_rank=mr,
                               direction_tol=dt, ortho_ulp=ou, seed=sd, reference=self._reference(),
                               end_to_end=self._end_to_end())

    @staticmethod
    def _settings(core: _core.TrackSpec) -> dict:
        """The core spec's settings as plain data, in field order (a checkpoint's ``track_svd``)."""
        return {f.name: getattr(core, f.name) for f in dataclasses.fields(TrackSpec)}

    def _reference(self) -> str:
        ref = choice(self.reference, "reference", REFERENCES)
        if ref == "theory" and integer(self.block_r, "block_r", minimum=0) < 1:
            raise ValueError(f"block_r: reference 'theory' needs the target rank r >= 1, got {self.block_r}")
        return ref

    def _end_to_end(self) -> bool:
        if not isinstance(self.end_to_end, (bool, np.bool_)):
            raise TypeError(f"end_to_end: expected a bool, got {type(self.end_to_end).__name__}")
        return bool(self.end_to_end)

    def _for_run(self, net: Any, problem: Any) -> tuple[_core.TrackSpec, Optional[tuple[list, list]]]:
        """The core's spec for one run, and the theory's bases (right, left) when asked for (else None)."""
        core = self._to_core()
        theory = None
        if core.reference == "theory":
            theory = theory_bases(net, problem, core.block_r)
        elif 2 * core.block_r > min(net.widths):  # the top and bottom blocks would overlap
            raise ValueError(f"block_r: 2 * block_r must be <= {min(net.widths)} (the smallest layer dimension of "
                             f"widths {net.widths}), got {core.block_r}")
        return core, theory


@dataclasses.dataclass(frozen=True)
class SvdTrace:
    """The SVD record of a tracked run (``result.svd``); ``n`` records, ``L`` layers.

    Attributes
    ----------
    steps : (n,) int array
    spectra : list of L arrays (n, min(d_out, d_in)) - all singular values, descending
    rho, certificate, orthogonality, range_residual, discarded : (n, L) arrays
        ``rho`` is NaN for generically tracked layers; ``certificate`` is the structured certificate
        (or ``||W - U S V^T||_F / ||W||_F`` for generic layers); ``range_residual`` the largest relative
        range-finder tail since the previous record; ``discarded`` the running dropped Frobenius norm.
    rank : (n, L) int array - ``s``
    angles_right, angles_left : (n, L, 3) arrays - sine of the largest principal angle of the top-r,
        middle and bottom-r blocks against ``reference_step`` (NaN where undefined)
    top : list over records of lists over layers of ``(U, S, V)``, or None
    events : list of str - restarts, fallbacks, in words
    modes : list of str - per layer, ``structured`` or ``generic`` at the end
    angles_theory_right, angles_theory_left : (n, L, 2) arrays or None
        ``reference="theory"``: sine of the largest principal angle of [moving subspace vs
        ``V_{l,1}`` (left ``U_{l,1}``), bulk vs ``V_{l,2}`` (left ``U_{l,2}``)]; NaN for generically
        tracked layers. (The two agree in exact arithmetic: complements share their largest angle.)
    spectra_end_to_end : (n, min(d_out, d_in)) array or None - all singular values of ``W_{L:1}``
    certificate_end_to_end : (n,) array or None
        ``chained``: relative residual ``||(W_{L:1} - rep) X||_F / ||W_{L:1} X||_F`` of the
        representation on 8 seeded random probes ``X``; ``own``: ``||W_{L:1} - U S V^T||_F / ||W_{L:1}||_F``.
    rank_end_to_end : (n,) int array or None - dimension of the moving part (``2r`` when the bases chain)
    mode_end_to_end : str or None - ``chained`` (from the layer trackers) or ``own`` at the end
    """

    steps: np.ndarray
    spectra: list
    rho: np.ndarray
    certificate: np.ndarray
    orthogonality: np.ndarray
    range_residual: np.ndarray
    discarded: np.ndarray
    rank: np.ndarray
    angles_right: np.ndarray
    angles_left: np.ndarray
    reference_step: int
    top: Optional[list]
    events: list
    modes: list
    reorthonormalisations: int
    angles_theory_right: Optional[np.ndarray] = None
    angles_theory_left: Optional[np.ndarray] = None
    spectra_end_to_end: Optional[np.ndarray] = None
    certificate_end_to_end: Optional[np.ndarray] = None
    rank_end_to_end: Optional[np.ndarray] = None
    mode_end_to_end: Optional[str] = None

    @classmethod
    def _from_core(cls, d: Any) -> "SvdTrace":
        """From the core's record (``_core.TrackRecord64``/``TrackRecord32``) or its plain form (``to_dict``, as
        a checkpoint stores it)."""
        if not isinstance(d, dict):
            d = d.to_dict()
        n = len(d["steps"])
        L = len(d["modes"])
        spectra = [np.array([rec[l] for rec in d["spectra"]]).reshape(n, -1) for l in range(L)]
        arr = lambda key: np.array(d[key], dtype=np.float64).reshape(n, L)  # noqa: E731
        theory = lambda key: np.array(d[key], dtype=np.float64).reshape(n, L, 2) if d[key] else None  # noqa: E731
        e2e = bool(d["mode_e2e"])
        return cls(steps=np.array(d["steps"], dtype=np.int64), spectra=spectra, rho=arr("rho"),
                   certificate=arr("certificate"), orthogonality=arr("orthogonality"),
                   range_residual=arr("range_residual"), discarded=arr("discarded"),
                   rank=np.array(d["rank"], dtype=np.int64).reshape(n, L),
                   angles_right=np.array(d["angles_right"], dtype=np.float64).reshape(n, L, 3),
                   angles_left=np.array(d["angles_left"], dtype=np.float64).reshape(n, L, 3),
                   reference_step=int(d["reference_step"]), top=list(d["top"]) or None,
                   events=list(d["events"]), modes=list(d["modes"]),
                   reorthonormalisations=int(d["reorthonormalisations"]),
                   angles_theory_right=theory("theory_right"), angles_theory_left=theory("theory_left"),
                   spectra_end_to_end=np.array(d["spectra_e2e"], dtype=np.float64).reshape(n, -1) if e2e else None,
                   certificate_end_to_end=np.array(d["certificate_e2e"], dtype=np.float64) if e2e else None,
                   rank_end_to_end=np.array(d["rank_e2e"], dtype=np.int64) if e2e else None,
                   mode_end_to_end=d["mode_e2e"] if e2e else None)
