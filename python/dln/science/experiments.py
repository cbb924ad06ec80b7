"""The published experiments as functions that return their numbers (SCIENCE.md sections 2, 5 and 6).

Every experiment takes ``quick`` (a scaled-down variant that runs in seconds on one core) and ``seed``
(one seed fixes the data and the inits), uses the engine for all training (:func:`dln.train`,
:func:`dln.train_batch`, :func:`dln.compression.train_compressed`) and NumPy only for analysis, and
returns a dataclass of NumPy arrays whose ``summary()`` is a JSON-serialisable dict of the key numbers
(keys name their units: ``*_steps``, ``*_seconds``; losses are in ``loss_unit``). Where the published
wide run is long, ``full=False`` (the default) runs the wide network over a prefix of steps only,
compares it with the compressed run over that prefix and extrapolates the wide time per step to the
compressed run's step count; the summary says so (``wide_extrapolated``).

:data:`EXPERIMENTS` maps each name to its function (``dln reproduce NAME``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Optional

import numpy as np

from .. import analysis
from ..network import Network
from ..problems import Completion, Factorization, Regression, low_rank_target
from ..theory import rho_recursion, subspace_sine
from ..training import CompressedResult, SparseCompletion, train, train_batch, train_compressed
from . import width as _width

__all__ = ["low_rank_target", "rho_recursion", "EXPERIMENTS", "theorem", "equivalence_dmf",
           "equivalence_completion", "rank_guess_sweep", "depth_vs_width", "separation", "non_whitened",
           "optimizers", "digits_separation"]

ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh")
# Every experiment uses the published mean-reduced loss; lr is in the same unit (eta = lr * c in sum units).
UNITS = dict(loss_unit="mean", lr_unit="mean")
# Wide steps run by default where the published wide run is long: ~25 s at d = 1000 on an idle 2-core
# machine (0.12-0.25 s per step), enough to compare trajectories and time a step.
PREFIX_STEPS = 100


def _json(x: Any) -> Any:
    """NumPy scalars and arrays to plain Python (non-finite floats become None: strict JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): _json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    return x


def _network(widths: list, eps: float, seed: int, activation: str = "linear") -> Network:
    return Network.orthogonal(widths, scale=eps, seed=seed, activation=activation)


def _seeds(seed: int, n: int) -> list[int]:
    """``n`` independent 32-bit seeds from one (numpy SeedSequence), so one number fixes a whole sweep."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def _cluster(s: np.ndarray, size: int) -> tuple[slice, float]:
    """The tightest group of ``size`` consecutive values of the descending ``s``: its slice and its
    width ``max - min`` (0 for an exact bulk)."""
    widths = s[:s.size - size + 1] - s[size - 1:]
    i = int(np.argmin(widths))
    return slice(i, i + size), float(widths[i])


def _tightest_cluster(s: np.ndarray, size: int) -> float:
    """Width of the tightest group of ``size`` values of ``s`` (any order)."""
    return _cluster(np.sort(s)[::-1], size)[1]


def _integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def _recovery(end_to_end: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """``1/2 mean over all entries of ((1 - M) * (W_{L:1} - Phi))^2`` (SCIENCE.md 3)."""
    return float(0.5 * np.mean(((~mask) * (end_to_end - target)) ** 2))


# ---------------------------------------------------------------------------------------------------
# theorem

@dataclasses.dataclass
class TheoremRun:
    """Singular values of every layer after every step of the theorem setting.

    Arrays: ``rho`` (steps + 1,); ``singular_values`` (steps + 1, depth, d) descending; ``bulk_error``
    (steps + 1,) max over layers of the ``d - 2r`` values nearest ``rho(t)`` minus ``rho(t)``; ``moving``
    (steps + 1, depth, 2r) the other singular values; ``gap`` (steps + 1,) their smallest distance to
    ``rho(t)``; ``block_residual`` (steps + 1,) max over layers of :func:`dln.analysis.block_residual`
    (off-block and bulk, relative to ``max(1, ||W||_2)``); ``bulk_sine`` (steps + 1,) max over layers of
    the sine of the angle between the bulk right singular subspace and the theory's ``V_{l,2}``;
    ``sin_right``, ``sin_left`` (steps + 1, depth, 3): sine of the largest principal angle of the top-r,
    middle and bottom-r right (left) singular subspaces of each layer against step 1
    (:func:`dln.analysis.trajectory`; at step 0 all singular values are equal, so its blocks are an
    arbitrary choice and its angles carry no information).
    """

    d: int
    rank: int
    depth: int
    rho: np.ndarray
    singular_values: np.ndarray
    bulk_error: np.ndarray
    moving: np.ndarray
    gap: np.ndarray
    block_residual: Optional[np.ndarray] = None
    bulk_sine: Optional[np.ndarray] = None
    lr: float = 1.0
    eps: float = 1.0
    seconds: float = 0.0
    sin_right: Optional[np.ndarray] = None
    sin_left: Optional[np.ndarray] = None

    def summary(self) -> dict:
        steps = self.rho.size - 1
        return _json(dict(
            experiment="theorem", **UNITS, d=self.d, rank=self.rank, depth=self.depth, eps=self.eps,
            lr=self.lr, steps=steps, moving_per_layer=2 * self.rank, bulk_per_layer=self.d - 2 * self.rank,
            rho_final=self.rho[-1], max_bulk_error=self.bulk_error[1:].max() if steps else 0.0,
            final_gap=self.gap[-1],
            max_block_residual=None if self.block_residual is None else self.block_residual.max(),
            max_bulk_sine=None if self.bulk_sine is None else self.bulk_sine[1:].max() if steps else 0.0,
            seconds=self.seconds))


def theorem(d: int = 30, rank: int = 3, depth: int = 3, eps: float = 1.0, lr: float = 1.0, steps: int = 50,
            seed: int = 0, dtype=np.float64, quick: bool = False) -> TheoremRun:
    """The law of parsimony, checked step by step (SCIENCE.md section 2, "theorem").

    Deep matrix factorisation of a rank-``rank`` ``d x d`` target, orthogonal init at scale ``eps``, GD
    with the mean loss (``lr`` in mean units, ``eta = lr / d^2``): after every step ``d - 2 rank``
    singular values of every layer equal ``rho(t)`` and only ``2 rank`` move. ``quick`` changes nothing
    (the published setting already takes well under a second).
    """
    t0 = time.perf_counter()
    target = low_rank_target(d, d, rank, seed)
    problem = Factorization(target)
    net = Network.orthogonal([d] * (depth + 1), scale=eps, seed=seed, dtype=dtype)
    th = analysis.theory(net.astype(np.float64), problem, rank)
    rho = rho_recursion(eps, lr, depth, steps, scale=problem.scale)
    m = d - 2 * rank
    svals = np.empty((steps + 1, depth, d))
    block = np.empty(steps + 1)
    bulk_sine = np.empty(steps + 1)
    nets = []
    for t in range(steps + 1):
        if t > 0:
            net = train(net, problem, lr=lr, steps=1, n_threads=1).network
        nets.append(net.astype(np.float64))
        for l, w in enumerate(net._weights):
            svals[t, l] = np.linalg.svd(w.astype(np.float64), compute_uv=False)
        net64 = net.astype(np.float64)
        block[t] = analysis.block_residual(net64, th, rho[t]).max
        # At t = 0 all singular values equal eps: the bulk subspace is not defined yet.
        bulk_sine[t] = analysis.theory_angles(net64, th, rho[t])[:, 1].max() if t > 0 else np.nan
    bulk_error = np.empty(steps + 1)
    gap = np.empty(steps + 1)
    moving = np.empty((steps + 1, depth, 2 * rank))
    for t in range(steps + 1):
        dev = np.abs(svals[t] - rho[t])            # (depth, d)
        order = np.argsort(dev, axis=1, kind="stable")
        bulk_error[t] = np.take_along_axis(dev, order[:, :m], axis=1).max()
        idx = np.sort(order[:, m:], axis=1)
        moving[t] = np.take_along_axis(svals[t], idx, axis=1)
        gap[t] = np.take_along_axis(dev, order[:, m:], axis=1).min()
    traj = analysis.trajectory(nets, block_r=rank)
    return TheoremRun(d, rank, depth, rho, svals, bulk_error, moving, gap, block, bulk_sine, float(lr), float(eps),
                      time.perf_counter() - t0, traj.sin_right, traj.sin_left)


# ---------------------------------------------------------------------------------------------------
# equivalence: compressed vs wide

@dataclasses.dataclass
class EquivalenceRun:
    """Wide vs compressed training of one problem (factorisation or completion).

    Attributes
    ----------
    loss_compressed : (k,) array
        Wide loss history computed through the compressed network (mean units), every step.
    loss_wide : (p + 1,) array
        Loss of the directly trained wide network over the steps it ran (the prefix unless ``full``).
    wide_steps, compressed_steps : int
        Updates run by each.
    wide_seconds : float
        Measured wall time of the wide C++ loop.
    compressed_seconds : float
        Measured wall time of all the compressed work (invariant subspace, chain, projection, loop);
        ``compressed_loop_seconds`` is the loop alone.
    wide_seconds_estimate : float
        With ``full``: the measured time of the wide run (to ``tol`` or ``max_steps``). Otherwise the
        wide time for ``compressed_steps`` updates: measured when the prefix went that far, else
        extrapolated from its time per step (``extrapolated`` says which).
    loss_gap : float
        ``max |loss_wide - loss_compressed| / loss_wide[0]`` over the steps both ran.
    end_to_end_gap : float
        ``||wide W_{L:1} - lifted compressed W_{L:1}||_F / ||wide W_{L:1}||_F`` after ``wide_steps``.
    recovery_wide, recovery_compressed, recovery_frozen : float
        Completion only (NaN otherwise): recovery error ``1/2 mean((1 - M) * (W_{L:1} - Phi))^2`` of the
        wide run at its end, of the compressed run at its end, and of the compressed run with frozen
        outer factors (``gamma = 0``) after as many steps (the stall).
    """

    problem: str
    d: int
    rank: int
    depth: int
    eps: float
    lr: float
    tol: float
    outer_lr_scale: float
    loss_compressed: np.ndarray
    loss_wide: np.ndarray
    compressed_status: str
    wide_status: str
    compressed_steps: int
    wide_steps: int
    compressed_seconds: float
    wide_seconds: float
    wide_seconds_estimate: float
    extrapolated: bool
    compressed_loop_seconds: float
    loss_gap: float
    end_to_end_gap: float
    observed: float = 1.0
    recovery_wide: float = float("nan")
    recovery_compressed: float = float("nan")
    recovery_frozen: float = float("nan")

    def summary(self) -> dict:
        return _json(dict(
            experiment="equivalence_" + ("dmf" if self.problem == "factorization" else "completion"),
            **UNITS, problem=self.problem, d=self.d, rank=self.rank, depth=self.depth, eps=self.eps,
            lr=self.lr, tol=self.tol, observed=self.observed, outer_lr_scale=self.outer_lr_scale,
            compressed_status=self.compressed_status, compressed_steps=self.compressed_steps,
            compressed_final_loss=self.loss_compressed[-1], compressed_seconds=self.compressed_seconds,
            compressed_loop_seconds=self.compressed_loop_seconds,
            wide_status=self.wide_status, wide_steps=self.wide_steps, wide_final_loss=self.loss_wide[-1],
            wide_seconds=self.wide_seconds, wide_seconds_estimate=self.wide_seconds_estimate,
            wide_extrapolated=self.extrapolated,
            speedup=self.wide_seconds_estimate / self.compressed_seconds if self.compressed_seconds > 0 else None,
            loss_gap_relative=self.loss_gap, end_to_end_gap_relative=self.end_to_end_gap,
            recovery_wide=self.recovery_wide, recovery_compressed=self.recovery_compressed,
            recovery_frozen=self.recovery_frozen))


def _lifted_end_to_end(result: CompressedResult) -> np.ndarray:
    """``W_{L:1}`` of a compressed run's lifted wide network (dense: these runs start from a dln.Network)."""
    net = result.network
    if not isinstance(net, Network):
        raise TypeError(f"expected a dense lifted network, got {type(net).__name__}")
    return net.end_to_end()


def _equivalence(problem_kind: str, problem: Any, target: np.ndarray, mask: Optional[np.ndarray], d: int,
                 rank: int, depth: int, eps: float, lr: float, tol: float, max_steps: int, gamma: float,
                 prefix_steps: Optional[int], full: bool, seed: int, observed: float, progress: Any) -> EquivalenceRun:
    net = Network.orthogonal([d] * (depth + 1), scale=eps, seed=seed)
    t0 = time.perf_counter()  # all the compressed work: subspace, chain, projection, loop, loss history
    comp = train_compressed(net, problem, lr, max_steps, rank=rank, outer_lr_scale=gamma, tol=tol, progress=progress)
    comp_total = time.perf_counter() - t0
    wide_budget = max_steps if full else min(PREFIX_STEPS if prefix_steps is None else prefix_steps, comp.steps)
    wide = train(net, problem, lr=lr, steps=wide_budget, tol=tol if full else None, progress=progress)
    # The compressed run again over exactly the wide run's steps, lifted, to compare end-to-end maps.
    same = train_compressed(net, problem, lr, wide.steps, rank=rank, outer_lr_scale=gamma, progress=False)
    W = wide.network.end_to_end()
    e2e_gap = float(np.linalg.norm(W - _lifted_end_to_end(same)) / np.linalg.norm(W))
    k = min(wide.loss.size, comp.loss.size)
    loss_gap = float(np.max(np.abs(wide.loss[:k] - comp.loss[:k])) / wide.loss[0])
    # A full wide run is timed as it ran (to tol or max_steps); a prefix is extrapolated unless it
    # already covered the compressed run's steps.
    reached = full or wide.steps >= comp.steps
    per_step = wide.seconds / max(wide.steps, 1)
    estimate = wide.seconds if reached else per_step * comp.steps
    rec = dict()
    if mask is not None:
        frozen = train_compressed(net, problem, lr, comp.steps, rank=rank, outer_lr_scale=0.0, progress=False)
        rec = dict(recovery_wide=_recovery(W, target, mask),
                   recovery_compressed=_recovery(_lifted_end_to_end(comp), target, mask),
                   recovery_frozen=_recovery(_lifted_end_to_end(frozen), target, mask))
    return EquivalenceRun(problem=problem_kind, d=d, rank=rank, depth=depth, eps=eps, lr=lr, tol=tol,
                          outer_lr_scale=gamma, loss_compressed=np.asarray(comp.loss), loss_wide=np.asarray(wide.loss),
                          compressed_status=comp.status, wide_status=wide.status, compressed_steps=comp.steps,
                          wide_steps=wide.steps, compressed_seconds=comp_total, compressed_loop_seconds=comp.seconds,
                          wide_seconds=wide.seconds,
                          wide_seconds_estimate=estimate, extrapolated=not reached, loss_gap=loss_gap,
                          end_to_end_gap=e2e_gap, observed=observed, **rec)


def equivalence_dmf(d: int = 1000, rank: int = 10, depth: int = 3, eps: float = 1e-3, lr: float = 1e3,
                    tol: float = 1e-10, max_steps: int = 100_000, prefix_steps: Optional[int] = None,
                    full: bool = False, quick: bool = False, seed: int = 0, progress: Any = None) -> EquivalenceRun:
    """Compressed = wide trajectory for deep matrix factorisation (SCIENCE.md 6, "equivalence (DMF)").

    Published: ``d = 1000``, ``r = 10``, ``L = 3``, ``eps = 1e-3``, GD ``lr = 1e3`` (mean units) to loss
    ``1e-10`` (~17,000 steps; the wide run takes ~40 minutes on this kind of machine). The compressed
    network (projected path: an L-layer ``2r x 2r`` problem) runs to ``tol``; the wide one runs
    ``prefix_steps`` steps (default 100) unless ``full``, and its time is extrapolated. ``quick``:
    ``d = 60``, ``r = 3``, ``eps = 1e-2``, ``lr = 30``, and the wide prefix is the whole compressed
    run unless ``prefix_steps`` is given.
    """
    if quick:
        d, rank, eps, lr = 60, 3, 1e-2, 30.0
        prefix_steps = max_steps if prefix_steps is None else prefix_steps
    target = low_rank_target(d, d, rank, seed)
    return _equivalence("factorization", Factorization(target), target, None, d, rank, depth, eps, lr, tol,
                        max_steps, 0.0, prefix_steps, full, seed, 1.0, progress)


def _mask(d: int, observed: float, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 1]).random((d, d)) < observed


def equivalence_completion(d: int = 1000, rank: int = 5, observed: float = 0.2, depth: int = 3, eps: float = 1e-3,
                           lr: float = 5e3, outer_lr_scale: float = 0.01, tol: float = 1e-12,
                           max_steps: int = 100_000, prefix_steps: Optional[int] = None, full: bool = False,
                           quick: bool = False, seed: int = 0, progress: Any = None) -> EquivalenceRun:
    """Compressed vs wide training for masked completion (SCIENCE.md 6, "equivalence (completion)").

    Published: ``d = 1000``, ``r = 5``, 20% observed, ``L = 3``, ``eps = 1e-3``, GD ``lr = 5e3`` (mean
    units, over all ``d^2`` entries), discrepant outer rate ``gamma = 0.01``, to loss ``1e-12``: 43 s wide
    vs 6 s compressed. The compressed run uses the observed entries only (sparse path); the same
    compressed run with ``gamma = 0`` stalls (``recovery_frozen``). ``quick``: ``d = 100``, ``r = 3``,
    30% observed, ``lr = 300``, ``eps = 1e-2``, ``tol = 1e-10``, and the wide prefix is the whole
    compressed run unless ``prefix_steps`` is given (default 100 otherwise).
    """
    if quick:
        d, rank, observed, lr, eps, tol = 100, 3, 0.3, 300.0, 1e-2, 1e-10
        prefix_steps = max_steps if prefix_steps is None else prefix_steps
    target = low_rank_target(d, d, rank, seed)
    mask = _mask(d, observed, seed)
    return _equivalence("completion", Completion(target, mask), target, mask, d, rank, depth, eps, lr, tol,
                        max_steps, outer_lr_scale, prefix_steps, full, seed, observed, progress)


# ---------------------------------------------------------------------------------------------------
# rank guess sweep

@dataclasses.dataclass
class RankSweepRun:
    """Iterations to ``tol`` against the rank guess, compressed vs a narrow network of width ``2 r_hat``.

    Arrays of shape (len(ranks), trials): ``compressed_steps``, ``narrow_steps`` (NaN when the run did
    not reach ``tol`` in ``max_steps``), ``compressed_recovery``, ``narrow_recovery`` (recovery error at
    the end), ``compressed_seconds``, ``narrow_seconds``.
    """

    d: int
    rank: int
    observed: float
    ranks: np.ndarray
    trials: int
    lr: float
    tol: float
    max_steps: int
    compressed_steps: np.ndarray
    narrow_steps: np.ndarray
    compressed_recovery: np.ndarray
    narrow_recovery: np.ndarray
    compressed_seconds: np.ndarray
    narrow_seconds: np.ndarray

    def summary(self) -> dict:
        with np.errstate(all="ignore"):
            c = np.nanmean(self.compressed_steps, axis=1)
            n = np.nanmean(self.narrow_steps, axis=1)
        return _json(dict(
            experiment="rank_guess_sweep", **UNITS, d=self.d, rank=self.rank, observed=self.observed,
            lr=self.lr, tol=self.tol, max_steps=self.max_steps, trials=self.trials, ranks=self.ranks,
            compressed_mean_steps=c, narrow_mean_steps=n,
            compressed_converged=np.isfinite(self.compressed_steps).sum(axis=1),
            narrow_converged=np.isfinite(self.narrow_steps).sum(axis=1),
            compressed_spread=(np.nanmax(c) / np.nanmin(c)) if np.isfinite(c).any() else None,
            compressed_mean_seconds=self.compressed_seconds.mean(axis=1),
            narrow_mean_seconds=self.narrow_seconds.mean(axis=1)))


def rank_guess_sweep(d: int = 1000, rank: int = 5, observed: float = 0.2, ranks: Any = tuple(range(5, 21, 3)),
                     trials: int = 5, depth: int = 3, eps: float = 1e-3, lr: float = 5e3,
                     outer_lr_scale: float = 0.01, tol: float = 1e-12, max_steps: int = 100_000,
                     quick: bool = False, seed: int = 0, progress: Any = None) -> RankSweepRun:
    """Rank guess ``r_hat`` against iterations to ``tol`` (SCIENCE.md 6, "rank guess sweep").

    Completion as in :func:`equivalence_completion`; for each ``r_hat`` and trial (own data, mask and
    init) the compressed network (``gamma = 0.01``, sparse path) and a narrow network of widths
    ``[d, 2 r_hat, ..., 2 r_hat, d]`` (orthogonal init at ``eps``, same lr, trained on the observed
    entries) run to ``tol``. Published: compressed ~19.5k iterations flat in ``r_hat``; narrow 62k -> 45k.
    ``quick``: ``d = 60``, ``r = 2``, 30% observed, ``r_hat`` in (2, 4, 6), 1 trial, ``lr = 100``,
    ``eps = 1e-3``, ``tol = 1e-10``, 40,000 steps at most.
    """
    if quick:
        d, rank, observed, ranks, trials, lr, eps, tol, max_steps = 60, 2, 0.3, (2, 4, 6), 1, 100.0, 1e-3, 1e-10, 40_000
    ranks = np.asarray(ranks, dtype=np.int64)
    shape = (ranks.size, trials)
    cs, ns, cr, nr, ct, nt = (np.full(shape, np.nan) for _ in range(6))
    for j, s in enumerate(_seeds(seed, trials)):
        target = low_rank_target(d, d, rank, s)
        mask = _mask(d, observed, s)
        problem = Completion(target, mask)
        sparse = SparseCompletion.from_completion(problem)
        wide = Network.orthogonal([d] * (depth + 1), scale=eps, seed=s)
        for i, rh in enumerate(ranks):
            c = train_compressed(wide, problem, lr, max_steps, rank=int(rh), outer_lr_scale=outer_lr_scale, tol=tol,
                                 progress=progress)
            narrow = Network.orthogonal([d] + [2 * int(rh)] * (depth - 1) + [d], scale=eps, seed=s)
            n = train(narrow, sparse, lr, max_steps, tol=tol, progress=progress)
            cs[i, j] = c.steps if c.converged else np.nan
            ns[i, j] = n.steps if n.converged else np.nan
            cr[i, j] = _recovery(_lifted_end_to_end(c), target, mask)
            nr[i, j] = _recovery(n.network.end_to_end(), target, mask)
            ct[i, j], nt[i, j] = c.seconds, n.seconds
    return RankSweepRun(d, rank, observed, ranks, trials, lr, tol, max_steps, cs, ns, cr, nr, ct, nt)


# ---------------------------------------------------------------------------------------------------
# depth vs width

@dataclasses.dataclass
class DepthWidthRun:
    """Recovery error of completion against hidden width, for each depth.

    ``recovery`` and ``final_loss``: (len(depths), len(widths), trials); ``steps`` likewise.
    """

    d: int
    rank: int
    observed: float
    depths: np.ndarray
    widths: np.ndarray
    lrs: np.ndarray
    trials: int
    recovery: np.ndarray
    final_loss: np.ndarray
    steps: np.ndarray
    seconds: float

    def summary(self) -> dict:
        return _json(dict(
            experiment="depth_vs_width", **UNITS, d=self.d, rank=self.rank, observed=self.observed,
            depths=self.depths, widths=self.widths, lr=self.lrs, trials=self.trials,
            median_recovery={f"L={L}": np.median(self.recovery[i], axis=1) for i, L in enumerate(self.depths)},
            max_steps=int(self.steps.max()), seconds=self.seconds))


def depth_vs_width(d: int = 100, rank: int = 10, observed: float = 0.3, depths: Any = (2, 3),
                   widths: Any = (10, 20, 40, 60, 80, 100), lrs: Any = (1e2, 3e2), trials: int = 5,
                   eps: float = 1e-3, steps: int = 50_000, tol: float = 1e-10, quick: bool = False, seed: int = 0,
                   progress: Any = None) -> DepthWidthRun:
    """Completion recovery error against width for depth 2 and 3 (SCIENCE.md 6, "depth vs width").

    Networks ``[d, w, ..., w, d]`` from orthogonal init at ``eps``, GD with ``lrs[i]`` for ``depths[i]``
    (mean units), all runs in one :func:`dln.train_batch`. Published: depth 3 recovers at all widths,
    depth 2's error grows to ~1e-3. Depth 3 at width ``r = 10`` needs ~36,000 steps (measured), hence
    the 50,000-step budget; one trial of the default grid took ~75 s per 20,000 steps here.
    ``quick``: ``d = 40``, ``r = 3``, widths (6, 20, 40), 1 trial,
    ``eps = 1e-2``, lrs (16, 48) (the published ``eta`` in sum units at ``d = 40``), 5,000 steps.
    """
    if quick:
        d, rank, widths, trials, steps, lrs, eps = 40, 3, (6, 20, 40), 1, 5_000, (16.0, 48.0), 1e-2
    depths = np.asarray(depths, dtype=np.int64)
    widths = np.asarray(widths, dtype=np.int64)
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.shape != depths.shape:
        raise ValueError(f"lrs: expected one learning rate per depth ({depths.size}), got {lrs.size}")
    jobs, where, data = [], [], []
    for j, s in enumerate(_seeds(seed, trials)):
        target = low_rank_target(d, d, rank, s)
        mask = _mask(d, observed, s)
        problem = Completion(target, mask)
        data.append((target, mask))
        for i, L in enumerate(depths):
            for k, w in enumerate(widths):
                net = Network.orthogonal([d] + [int(w)] * (int(L) - 1) + [d], scale=eps, seed=s)
                jobs.append((net, problem, dict(lr=float(lrs[i]), steps=steps, tol=tol, record_every=max(steps, 1))))
                where.append((i, k, j))
    t0 = time.perf_counter()
    results = train_batch(jobs, progress=progress)
    seconds = time.perf_counter() - t0
    shape = (depths.size, widths.size, trials)
    rec, fl, st = np.empty(shape), np.empty(shape), np.empty(shape, dtype=np.int64)
    for (i, k, j), res in zip(where, results):
        target, mask = data[j]
        rec[i, k, j] = _recovery(res.network.end_to_end(), target, mask)
        fl[i, k, j] = res.final_loss
        st[i, k, j] = res.steps
    return DepthWidthRun(d, rank, observed, depths, widths, lrs, trials, rec, fl, st, seconds)


# ---------------------------------------------------------------------------------------------------
# separation

@dataclasses.dataclass
class SeparationRun:
    """Separation ``D_l`` per layer for each (activation, depth) case; case ``i`` has ``depth[i] + 1`` values.

    Attributes
    ----------
    activation : list of str
    depth : (k,) int array
    D : list of k arrays (depth + 1,)
        ``D_0 .. D_L`` (:func:`dln.analysis.separation`).
    discrimination : list of k arrays (depth + 1,)
    ratio, D0_fit, r2 : (k,) arrays
        Log-linear fit over layers 0 .. L-1.
    predicted_ratio : (k,) array
        ``eps^2 / n^(1/L)`` (the linear theory).
    D0_predicted : float
        ``(1 - 1/n)/(1/n - 1/N)`` (orthonormal inputs; NaN for other data).
    steps, final_loss : (k,) arrays; status : list of str
    """

    data: str
    classes: int
    per_class: int
    width: int
    eps: float
    lr: float
    activation: list
    depth: np.ndarray
    D: list
    discrimination: list
    ratio: np.ndarray
    D0_fit: np.ndarray
    r2: np.ndarray
    predicted_ratio: np.ndarray
    D0_predicted: float
    steps: np.ndarray
    final_loss: np.ndarray
    status: list
    seconds: float

    def summary(self) -> dict:
        cases = [dict(activation=a, depth=int(L), D0=D[0], ratio=r, D0_fit=f, r2=q, predicted_ratio=p,
                      ratio_error_relative=(r - p) / p, steps=s, final_loss=fl, status=st)
                 for a, L, D, r, f, q, p, s, fl, st in zip(self.activation, self.depth, self.D, self.ratio, self.D0_fit,
                                                         self.r2, self.predicted_ratio, self.steps, self.final_loss,
                                                         self.status)]
        return _json(dict(experiment="separation" if self.data == "orthonormal" else "digits_separation",
                          **UNITS, data=self.data, classes=self.classes, per_class=self.per_class,
                          width=self.width, eps=self.eps, lr=self.lr, D0_predicted=self.D0_predicted, cases=cases,
                          seconds=self.seconds))


def _separation_cases(X: np.ndarray, Y: np.ndarray, labels: np.ndarray, width: int, depths: Any,
                      activations: Any, eps: float, lr: float, steps: int, tol: Optional[float], seed: int,
                      progress: Any) -> dict[str, Any]:
    if isinstance(activations, str) or any(a not in ACTIVATIONS for a in activations):
        raise ValueError(f"activations: expected a sequence of {ACTIVATIONS}, got {activations!r}")
    problem = Regression(X, Y)
    cases, jobs = [], []
    for a in activations:
        for L in depths:
            net = _network([X.shape[0]] + [width] * (int(L) - 1) + [Y.shape[0]], eps, seed, a)
            cases.append((a, int(L)))
            jobs.append((net, problem, dict(lr=lr, steps=steps, tol=tol, record_every=max(steps, 1))))
    results = train_batch(jobs, progress=progress) if jobs else []
    out: dict[str, Any] = dict(activation=[], depth=[], D=[], discrimination=[], ratio=[], D0_fit=[], r2=[], steps=[],
               final_loss=[], status=[])
    for (a, L), res in zip(cases, results):
        H = res.network.features(X)
        D = analysis.separation(H, labels)
        fit = analysis.fit_separation(D)
        disc = analysis.discrimination(H, labels)
        for key, val in (("activation", a), ("depth", L), ("D", D), ("discrimination", disc), ("ratio", fit.ratio),
                         ("D0_fit", fit.D0), ("r2", fit.r2), ("steps", res.steps), ("final_loss", res.final_loss),
                         ("status", res.status)):
            out[key].append(val)
    for key in ("depth", "ratio", "D0_fit", "r2", "steps", "final_loss"):
        out[key] = np.asarray(out[key])
    return out


def separation(classes: int = 5, per_class: int = 10, depths: Any = (6, 8, 10), activations: Any = ("linear", "relu"),
               eps: float = 0.5, lr: float = 1.0, tol: float = 1e-6, steps: int = 20_000, quick: bool = False,
               seed: int = 0, progress: Any = None) -> SeparationRun:
    """Progressive separation on orthonormal inputs (SCIENCE.md 5 and 6, "separation").

    ``K = classes`` classes of ``n = per_class`` samples, ``X`` a Haar orthogonal ``N x N`` matrix
    (``N = K n`` samples as columns, ``X X^T = I``), one-hot ``Y`` (``K x N``), networks of width ``N``
    and ``L`` layers from orthogonal init at ``eps``, GD ``lr`` (mean loss over the ``K x N`` outputs)
    until the loss is ``<= tol``. Linear nets: ``D_l ~ D_0 kappa^l`` with ``D_0 = 11.25`` and
    ``kappa ~ eps^2 / n^(1/L)`` (0.1875 at ``L = 8``); ReLU nets decay roughly geometrically. ``quick``: ``L = 8`` only.
    """
    if quick:
        depths = (8,)
    K, n = int(classes), int(per_class)
    N = K * n
    rng = np.random.default_rng(seed)
    X = np.linalg.qr(rng.standard_normal((N, N)))[0]
    labels = np.repeat(np.arange(K), n)
    Y = np.eye(K)[:, labels]
    t0 = time.perf_counter()
    out = _separation_cases(X, Y, labels, N, depths, activations, eps, lr, steps, tol, seed, progress)
    D0_pred = analysis.predicted_separation(n, N, eps, 1)[0]
    pred = np.array([analysis.predicted_separation(n, N, eps, L)[1] for L in out["depth"]])
    return SeparationRun(data="orthonormal", classes=K, per_class=n, width=N, eps=eps, lr=lr, predicted_ratio=pred,
                         D0_predicted=D0_pred, seconds=time.perf_counter() - t0, **out)


def digits_separation(depths: Any = (4, 6, 8), activations: Any = ("linear", "relu"), samples: Optional[int] = None,
                      width: int = 64, eps: float = 0.5, lr: float = 1.0, steps: int = 5_000, quick: bool = False,
                      seed: int = 0, progress: Any = None) -> SeparationRun:
    """Extension: separation on real data, scikit-learn's bundled handwritten digits (no download).

    ``X``: the 8 x 8 images (64 features), centred and scaled per feature, then divided by the square
    root of the largest eigenvalue of ``X X^T / N`` (so GD with ``lr = 1`` on the mean loss is stable);
    ``Y`` one-hot over 10 classes; ``samples`` images drawn with ``seed`` (default all 1,797). Networks of
    ``L`` layers of width ``width`` from orthogonal init at ``eps``, GD for ``steps`` steps (the loss
    cannot reach zero: ``N > 64``). ``predicted_ratio`` is the orthonormal-input theory's
    ``eps^2 / n^(1/L)`` with ``n = N / 10``, for comparison only. ``quick``: 300 samples, ``L = 4``,
    1,000 steps.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is in the test and science extras
        raise ImportError("digits_separation needs scikit-learn (pip install 'dln[science]')") from exc
    if quick:
        samples, depths, steps = 300, (4,), 1_000
    data = load_digits()
    rng = np.random.default_rng(seed)
    idx = np.arange(data.target.size) if samples is None else np.sort(rng.permutation(data.target.size)[:int(samples)])
    X = data.data[idx].T.astype(np.float64)
    labels = data.target[idx]
    mean, std = X.mean(axis=1, keepdims=True), X.std(axis=1, keepdims=True)
    X = (X - mean) / np.where(std > 0, std, 1.0)
    X = X / np.sqrt(np.linalg.eigvalsh(X @ X.T / X.shape[1])[-1])
    K = 10
    Y = np.eye(K)[:, labels]
    t0 = time.perf_counter()
    out = _separation_cases(X, Y, labels, width, depths, activations, eps, lr, steps, None, seed, progress)
    n = labels.size / K
    pred = np.array([eps ** 2 / n ** (1.0 / L) for L in out["depth"]])
    return SeparationRun(data="digits", classes=K, per_class=round(n), width=width, eps=eps, lr=lr,
                         predicted_ratio=pred, D0_predicted=float("nan"),
                         seconds=time.perf_counter() - t0, **out)


# ---------------------------------------------------------------------------------------------------
# non-whitened regression

@dataclasses.dataclass
class NonWhitenedRun:
    """Structure of regression with Gaussian (non-whitened) inputs, against the whitened control.

    Arrays of shape (steps + 1,): ``bulk_spread`` (max over the square layers of the width of the
    tightest cluster of ``d - 2r`` singular values; 0 for an exact bulk), ``bulk_sine`` (sine of the
    largest principal angle between that cluster's right singular subspace of ``W_1`` and its value at
    step 1; NaN at step 0, where all singular values are equal), ``loss`` (mean units, over the
    ``outputs x samples`` entries); the same with suffix ``_whitened`` for ``X`` replaced by its
    orthonormal-row version ``(X X^T)^(-1/2) X`` (the exact theory).
    """

    d: int
    rank: int
    samples: int
    depth: int
    eps: float
    lr: float
    bulk_spread: np.ndarray
    bulk_sine: np.ndarray
    loss: np.ndarray
    bulk_spread_whitened: np.ndarray
    bulk_sine_whitened: np.ndarray
    loss_whitened: np.ndarray

    def summary(self) -> dict:
        return _json(dict(experiment="non_whitened", **UNITS, d=self.d, rank=self.rank, samples=self.samples,
                          depth=self.depth, eps=self.eps, lr=self.lr, steps=self.loss.size - 1,
                          final_bulk_spread=self.bulk_spread[-1], final_bulk_sine=self.bulk_sine[-1],
                          final_bulk_spread_whitened=self.bulk_spread_whitened[-1],
                          final_bulk_sine_whitened=self.bulk_sine_whitened[-1],
                          final_loss=self.loss[-1], final_loss_whitened=self.loss_whitened[-1]))


def non_whitened(d: int = 30, outputs: int = 3, samples: int = 300, depth: int = 3, eps: float = 1.0,
                 lr: float = 1.0, steps: int = 50, quick: bool = False, seed: int = 0) -> NonWhitenedRun:
    """Approximate invariance for non-whitened regression (SCIENCE.md 6, "non-whitened").

    Parameters
    ----------
    d, outputs, samples : int
        ``X`` is a standard Gaussian ``d x samples`` matrix divided by 15, ``Y`` a standard Gaussian
        ``outputs x samples`` matrix (rank ``outputs``); ``samples >= d`` so that ``X X^T`` is invertible.
    depth, eps : int, float
        The published network: ``depth`` layers, widths ``[d, d, ..., d, outputs]``, orthogonal init at ``eps``.
    lr, steps : float, int
        GD on the mean loss (over the ``outputs x samples`` entries), ``lr`` in the same unit.
    quick : bool
        Changes nothing (the published setting takes about a second).

    The square layers of the whitened control keep ``d - 2 outputs`` singular values in an exact cluster
    whose singular subspace never moves; with Gaussian ``X`` both hold only approximately.
    """
    d, outputs, samples, depth = (_integer(v, n, 1) for v, n in ((d, "d"), (outputs, "outputs"),
                                                                  (samples, "samples"), (depth, "depth")))
    if samples < d:
        raise ValueError(f"samples: must be >= d = {d} so that X X^T is invertible, got {samples}")
    if depth < 2 or d <= 2 * outputs:
        raise ValueError(f"depth, outputs: need depth >= 2 and d > 2 outputs, got depth {depth}, d {d}, "
                         f"outputs {outputs}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((d, samples)) / 15.0
    Y = rng.standard_normal((outputs, samples))
    w, Q = np.linalg.eigh(X @ X.T)
    Xw = (Q / np.sqrt(w)) @ Q.T @ X
    net0 = Network.orthogonal([d] * depth + [outputs], scale=eps, seed=seed)
    m = d - 2 * outputs
    cols = {}
    for name, x in (("", X), ("_whitened", Xw)):
        problem = Regression(x, Y)
        net, spread, sine, loss, ref = net0, [], [], [], None
        for t in range(steps + 1):
            if t > 0:
                net = train(net, problem, lr=lr, steps=1, n_threads=1).network
            widths = []
            for l, w_ in enumerate(net._weights[:-1]):  # the square layers
                _, s, vt = np.linalg.svd(w_)
                bulk, width = _cluster(s, m)
                widths.append(width)
                if l == 0:
                    v_bulk = vt[bulk].T
            spread.append(max(widths))
            if t == 1:
                ref = v_bulk
            sine.append(np.nan if ref is None else subspace_sine(v_bulk, ref))
            loss.append(problem.loss(net))
        cols["bulk_spread" + name], cols["bulk_sine" + name], cols["loss" + name] = map(np.array, (spread, sine, loss))
    return NonWhitenedRun(d=d, rank=outputs, samples=samples, depth=depth, eps=eps, lr=lr, **cols)


# ---------------------------------------------------------------------------------------------------
# optimisers

@dataclasses.dataclass
class OptimizerRun:
    """Block structure under each optimiser in the theorem setting; arrays (len(optimizers), steps + 1).

    ``off_block``: max over layers of the off-block residual; ``bulk``: max over layers of ``|bulk - rho|``
    with ``rho`` from the GD or heavy-ball recursion (NaN for Adam and RMSprop, which have none);
    ``bulk_spread``: width of the tightest cluster of ``d - 2r`` singular values; ``loss``.
    """

    d: int
    rank: int
    depth: int
    eps: float
    optimizers: list
    lrs: np.ndarray
    off_block: np.ndarray
    bulk: np.ndarray
    bulk_spread: np.ndarray
    loss: np.ndarray

    def summary(self) -> dict:
        return _json(dict(experiment="optimizers", **UNITS, d=self.d, rank=self.rank, depth=self.depth,
                          eps=self.eps, steps=self.loss.shape[1] - 1,
                          cases={o: dict(lr=lr, final_off_block=ob[-1], max_off_block=ob.max(), final_bulk=b[-1],
                                         final_bulk_spread=s[-1], final_loss=ls[-1])
                                 for o, lr, ob, b, s, ls in zip(self.optimizers, self.lrs, self.off_block, self.bulk,
                                                                self.bulk_spread, self.loss)}))


def optimizers(d: int = 30, rank: int = 3, depth: int = 3, eps: float = 1.0, steps: int = 50,
               cases: Any = (("gd", 1.0), ("momentum", 1.0), ("adam", 1e-2), ("rmsprop", 1e-2)), momentum: float = 0.9,
               quick: bool = False, seed: int = 0) -> OptimizerRun:
    """Which optimisers keep the law of parsimony (SCIENCE.md 6, "optimisers"; 7.5, 7.8).

    The theorem setting trained by each ``(optimizer, lr)`` of ``cases``. Each record ``t`` is a run of
    ``t`` steps from the same start (all in one :func:`dln.train_batch`), so optimiser state is kept.
    Published: momentum keeps the off-block at ~1e-15 and its bulk follows the heavy-ball recursion;
    Adam and RMSprop do not (off-block O(0.1)). ``quick`` changes nothing (< 1 s).
    """
    target = low_rank_target(d, d, rank, seed)
    problem = Factorization(target)
    net = Network.orthogonal([d] * (depth + 1), scale=eps, seed=seed)
    th = analysis.theory(net, problem, rank)
    names = [c[0] for c in cases]
    lrs = np.array([float(c[1]) for c in cases])
    jobs = [(net, problem, dict(lr=float(lr), steps=t, optimizer=o, momentum=momentum))
            for o, lr in zip(names, lrs) for t in range(steps + 1)]
    results = train_batch(jobs)
    shape = (len(names), steps + 1)
    off, bulk, spread, loss = np.empty(shape), np.full(shape, np.nan), np.empty(shape), np.empty(shape)
    for i, (o, lr) in enumerate(zip(names, lrs)):
        rho = th.rho(lr, steps, o, momentum) if o in ("gd", "momentum") else None
        for t in range(steps + 1):
            res = results[i * (steps + 1) + t]
            br = analysis.block_residual(res.network, th, None if rho is None else rho[t])
            off[i, t] = br.off_block.max()
            if rho is not None:
                bulk[i, t] = br.bulk.max()
            spread[i, t] = max(_tightest_cluster(np.linalg.svd(w, compute_uv=False), d - 2 * rank)
                               for w in res.network._weights)
            loss[i, t] = res.final_loss
    return OptimizerRun(d, rank, depth, eps, names, lrs, off, bulk, spread, loss)


class TorchRun(dict):
    """The JSON-ready dict a :mod:`dln.torch` experiment returns, as ``dln reproduce`` reads a run."""

    def summary(self) -> dict:
        return dict(self)


def _torch_experiment(name: str, doc: str) -> Callable[..., TorchRun]:
    def run(quick: bool = False, seed: int = 0) -> TorchRun:
        from ..torch import experiments as torch_experiments  # the optional extra dln[torch]: needs PyTorch

        return TorchRun(torch_experiments.EXPERIMENTS[name](quick=quick, seed=seed))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc + "\n\nNeeds the optional extra ``dln[torch]``; see :mod:`dln.torch.experiments`."
    return run


EXPERIMENTS: dict[str, Callable[..., Any]] = {
    "theorem": theorem,
    "equivalence_dmf": equivalence_dmf,
    "equivalence_completion": equivalence_completion,
    "rank_guess_sweep": rank_guess_sweep,
    "depth_vs_width": depth_vs_width,
    "separation": separation,
    "non_whitened": non_whitened,
    "optimizers": optimizers,
    "digits_separation": digits_separation,
    "mlp_compressed": _torch_experiment(
        "mlp_compressed", "An MLP with a deep linear block vs its compressed equivalent vs the plain MLP "
        "(Kwon et al.): test accuracy and time per epoch."),
    "deep_lora": _torch_experiment(
        "deep_lora", "Deep LoRA vs LoRA adapting a pretrained MLP from few samples (Yaras et al.): accuracy "
        "and the numerical rank of the learned updates."),
    "width": _width.width,
    "nonlinear_subspace": _torch_experiment(
        "nonlinear_subspace", "The fraction of each layer's update inside its top-2r singular subspace while "
        "a ReLU MLP trains, against depth and init scale."),
}
