"""The published experiments as functions that return their numbers (SCIENCE.md sections 2 and 6)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .network import Network
from .problems import Factorization
from .training import train


def low_rank_target(d_out: int, d_in: int, rank: int, seed: int = 0) -> np.ndarray:
    """Rank-``rank`` truncated SVD of a ``d_out x d_in`` standard Gaussian matrix (the published targets)."""
    g = np.random.default_rng(seed).standard_normal((d_out, d_in))
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


def rho_recursion(eps: float, lr: float, depth: int, steps: int, scale: float = 1.0) -> np.ndarray:
    """``rho(t)`` for t = 0..steps: ``rho(t+1) = rho(t) (1 - eta rho(t)^(2(L-1)))`` with ``eta = lr * scale``
    (``scale`` = the reduction factor, ``1/d^2`` for the mean loss of a d x d problem)."""
    rho = np.empty(steps + 1)
    rho[0] = eps
    for t in range(steps):
        rho[t + 1] = rho[t] * (1.0 - lr * scale * rho[t] ** (2 * (depth - 1)))
    return rho


@dataclasses.dataclass
class TheoremRun:
    """Singular values of every layer after every step of the theorem setting."""

    d: int
    rank: int
    depth: int
    rho: np.ndarray            # (steps + 1,)
    singular_values: np.ndarray  # (steps + 1, depth, d), descending
    bulk_error: np.ndarray      # (steps + 1,): max over layers of max |bulk sigma - rho(t)|
    moving: np.ndarray          # (steps + 1, depth, 2 r): the singular values that are not at rho(t)
    gap: np.ndarray             # (steps + 1,): min over layers of min |moving sigma - rho(t)|


def theorem(d: int = 30, rank: int = 3, depth: int = 3, eps: float = 1.0, lr: float = 1.0, steps: int = 50,
            seed: int = 0, dtype=np.float64) -> TheoremRun:
    """The law of parsimony, checked step by step (SCIENCE.md section 2, "theorem").

    Orthogonal init at scale ``eps``, GD with the mean loss, rank-``rank`` target: after every step
    ``d - 2 rank`` singular values of every layer equal ``rho(t)`` and only ``2 rank`` move.
    """
    target = low_rank_target(d, d, rank, seed)
    problem = Factorization(target)
    net = Network.orthogonal([d] * (depth + 1), scale=eps, seed=seed, dtype=dtype)
    rho = rho_recursion(eps, lr, depth, steps, scale=problem.scale)
    m = d - 2 * rank
    svals = np.empty((steps + 1, depth, d))
    for t in range(steps + 1):
        if t > 0:
            net = train(net, problem, lr=lr, steps=1, n_threads=1).network
        for l, w in enumerate(net._weights):
            svals[t, l] = np.linalg.svd(w.astype(np.float64), compute_uv=False)
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
    return TheoremRun(d, rank, depth, rho, svals, bulk_error, moving, gap)
