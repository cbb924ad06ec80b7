"""The law of parsimony's predictions from a network at init and a problem (SCIENCE.md sections 2 and 3).

Everything here is mathematics on arrays: the moving subspace (:func:`invariant_subspace`), the bases of
every layer (:func:`theory_bases`), the bulk singular value (:func:`rho_recursion`), the target when the
dynamics has one in closed form (:func:`known_target`), the init scale (:func:`init_scale`), numerical
ranks and the sine of principal angles (:func:`subspace_sine`). It trains nothing; the trackers, the
compressed training and the analysis build on it.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _memory
from ._checks import choice, finite, integer, matrix
from .network import Network
from .problems import Factorization, Problem, Regression, refuse_sparse

__all__ = ["subspace_sine", "invariant_subspace", "theory_bases", "rho_recursion", "known_target", "init_scale",
           "numerical_rank", "check_rank", "top_singular_vectors"]

# X X^T = I is checked to this absolute tolerance before regression is treated as whitened (exact).
_WHITENED_ATOL = 1e-10


def subspace_sine(A: Any, B: Any) -> float:
    """Sine of the largest principal angle between the column spans of ``A`` and ``B`` (same width).

    ``A`` and ``B`` are finite 2-D floating arrays (TypeError/ValueError naming them otherwise).
    Computed as ``||(I - Q_A Q_A^T) Q_B||_2`` (accurate for tiny angles, unlike arccos of cosines).
    """
    bases = []
    for name, M in (("A", A), ("B", B)):
        m = matrix(M, name, np.dtype(np.float64))
        if not np.isfinite(m).all():
            raise ValueError(f"{name}: contains NaN or Inf")
        bases.append(m)
    qa, qb = (np.linalg.qr(m)[0] for m in bases)
    if qa.shape != qb.shape:
        raise ValueError(f"B: expected the shape of A {qa.shape}, got {qb.shape}")
    return float(np.linalg.norm(qb - qa @ (qa.T @ qb), 2))


# ---------------------------------------------------------------------------------------------------
# The invariant subspace

def _orth(*blocks: np.ndarray) -> np.ndarray:
    """Orthonormal basis (Householder QR) of the blocks side by side, columns normalised first so
    that blocks of very different scale (eps^L) weigh the same. When the columns are dependent the
    basis still contains their span (the extra directions are arbitrary, as the theory allows)."""
    M = np.hstack(blocks)
    norms = np.linalg.norm(M, axis=0)
    norms[norms == 0] = 1.0
    return np.linalg.qr(M / norms)[0]


def check_rank(net: Network, rank: Any) -> int:
    r = integer(rank, "rank")
    limit = min(net.widths) // 2
    if r < 1 or r > limit:
        raise ValueError(f"rank: must be in [1, min(widths) // 2 = {limit}] (the compressed width 2*rank must "
                         f"fit every layer of widths {net.widths}), got {r}")
    return r


def _whitened(problem: Regression) -> bool:
    X = np.asarray(problem.X, dtype=np.float64)
    if X.shape[0] > X.shape[1]:
        return False
    return bool(np.max(np.abs(X @ X.T - np.eye(X.shape[0]))) <= _WHITENED_ATOL)


def known_target(problem: Problem) -> Optional[np.ndarray]:
    """Phi when the wide dynamics is exactly that of factorisation with a known target."""
    if isinstance(problem, Factorization):
        return np.asarray(problem.target, dtype=np.float64)
    if isinstance(problem, Regression) and _whitened(problem):
        return np.asarray(problem.Y, dtype=np.float64) @ np.asarray(problem.X, dtype=np.float64).T
    return None


def top_singular_vectors(A: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``r`` left singular vectors and right ones (as rows) of ``A``.

    A randomised range finder with ``k = r + 10`` columns costs O(m n k) instead of a full SVD's
    O(m n min(m, n)); when ``rank(A) <= k`` (low-rank targets, the case compression is for) it spans
    the range of ``A`` exactly, which its residual ``||A - Q Q^T A||`` certifies to rounding. When the
    certificate fails, the full SVD is used.
    """
    m, n = A.shape
    k = r + 10
    if 2 * k < min(m, n):
        omega = np.random.default_rng(0).standard_normal((n, k))
        Q, _ = np.linalg.qr(A @ omega)
        B = Q.T @ A
        if np.linalg.norm(A - Q @ B) <= 1e-13 * np.linalg.norm(A):
            Ub, _, Vt = np.linalg.svd(B, full_matrices=False)
            return Q @ Ub[:, :r], Vt[:r]
    U, _, Vt = np.linalg.svd(A, full_matrices=False)
    return U[:, :r], Vt[:r]


def invariant_subspace(net: Network, problem: Problem, rank: int, method: str = "auto") -> np.ndarray:
    """Orthonormal basis ``V_{1,1}`` (``d_in x 2 rank``) of the right subspace that moves.

    Parameters
    ----------
    net : Network
        The wide network at its initialisation (orthogonal init for the exact theory).
    problem : Factorization, Regression or Completion
    rank : int
        Rank guess ``r_hat``; ``r_hat >= rank(Phi)`` keeps the compression exact, ``r_hat < rank(Phi)``
        drops directions (training then plateaus). ``1 <= rank <= min(net.widths) // 2``.
    method : {"auto", "closed", "gradient"}
        ``closed``: ``orth([V_Phi[:, :r], W_{L:1}(0)^T U_Phi[:, :r]])`` from the SVD of the target
        (factorisation, whitened regression). ``gradient``: from the first-layer gradient ``G`` at
        ``t = 0``: ``orth([V_G[:, :r], W_1(0)^T U_G[:, :r]])`` with the top-``r`` singular pairs of ``G``
        (its bottom pairs satisfy ``v = Q_1^T u`` on the complement; SCIENCE.md 3). ``auto``: closed
        when the target is known, gradient otherwise.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net: expected a dln.Network, got {type(net).__name__}")
    net._require_linear("net", "the invariant subspace")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem: expected a dln problem, got {type(problem).__name__}")
    refuse_sparse(problem, "the invariant subspace of a dense network")
    problem._net_core(net)
    r = check_rank(net, rank)
    method = choice(method, "method", ("auto", "closed", "gradient"))
    phi = known_target(problem) if method != "gradient" else None
    if method == "closed" and phi is None:
        raise ValueError("method: 'closed' needs a known target (factorisation or whitened regression); "
                         "use 'gradient'")
    W = [np.asarray(w, dtype=np.float64) for w in net._weights]
    if phi is not None:
        if min(phi.shape) < r:
            raise ValueError(f"rank: exceeds the target's dimensions {phi.shape}")
        U, Vt = top_singular_vectors(phi, r)
        X = U  # W_{L:1}(0)^T U as L thin products, O(L d^2 r), never the d x d end-to-end map
        for w in reversed(W):
            X = w.T @ X
        return _orth(Vt.T, X)
    G = np.asarray(problem.gradients(net)[0], dtype=np.float64)
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    return _orth(Vt[:r].T, W[0].T @ U[:, :r])


# ---------------------------------------------------------------------------------------------------
# Scalars of the init and of the target

def init_scale(net: Network) -> float:
    """eps of an orthogonal init: W_1 W_1^T = eps^2 I (or W_1^T W_1) gives ||W_1||_F^2 = eps^2 min(m, n)."""
    W1 = np.asarray(net._weights[0], dtype=np.float64)
    return float(np.linalg.norm(W1) / np.sqrt(min(W1.shape)))


def numerical_rank(phi: np.ndarray) -> int:
    """Singular values above ``10 max(shape) eps_64`` times the largest (0 for a zero matrix)."""
    s = np.linalg.svd(phi, compute_uv=False)
    return int(np.sum(s > s[0] * max(phi.shape) * np.finfo(np.float64).eps * 10)) if s[0] > 0 else 0


# ---------------------------------------------------------------------------------------------------
# The bulk singular value and the bases of every layer

def rho_recursion(eps: float, lr: float, depth: int, steps: int, scale: float = 1.0, optimizer: str = "gd",
                  momentum: float = 0.9) -> np.ndarray:
    """Bulk singular value ``rho(t)``, ``t = 0 .. steps``, of square layers from orthogonal init.

    Parameters
    ----------
    eps : float
        Init scale, ``rho(0)``.
    lr : float
        Step size in the problem's units; ``eta = lr * scale`` is the sum-units step.
    depth : int
        ``L``.
    steps : int
    scale : float
        The reduction factor ``c`` of the problem (``1 / d^2`` for the mean loss of a ``d x d``
        factorisation, ``problem.scale``); 1 for sum units.
    optimizer : {"gd", "momentum"}
        ``gd``: ``rho <- rho (1 - eta rho^(2(L-1)))``. ``momentum`` (heavy ball, the engine's
        convention): ``buf <- momentum buf + c rho^(2L-1); rho <- rho - lr buf``.
    momentum : float
        Heavy-ball coefficient (only for ``momentum``).

    Returns
    -------
    ndarray, shape (steps + 1,)
    """
    eps = finite(eps, "eps")
    lr = finite(lr, "lr")
    depth = integer(depth, "depth", minimum=1)
    steps = integer(steps, "steps", minimum=0)
    scale = finite(scale, "scale")
    optimizer = choice(optimizer, "optimizer", ("gd", "momentum"))
    beta = finite(momentum, "momentum")
    _memory.require(8.0 * (steps + 1.0), "steps", f"a history of {steps} steps")
    rho = np.empty(steps + 1)
    rho[0] = eps
    if optimizer == "gd":
        for t in range(steps):
            rho[t + 1] = rho[t] * (1.0 - lr * scale * rho[t] ** (2 * (depth - 1)))
        return rho
    buf = 0.0
    for t in range(steps):
        buf = beta * buf + scale * rho[t] ** (2 * depth - 1)
        rho[t + 1] = rho[t] - lr * buf
    return rho


def theory_bases(net: Any, problem: Any, r: int) -> tuple[list, list]:
    """The moving subspaces of the law of parsimony (SCIENCE.md section 2), per layer.

    ``V_{1,1} = orth(row(Phi) + W_{L:1}(0)^T col(Phi))`` from :func:`invariant_subspace`
    (closed form), then ``U_{l,1} = W_l(0) V_{l,1} / eps_l`` and ``V_{l+1,1} = U_{l,1}``, with ``eps_l``
    the scale of layer ``l`` (``||W_l(0)||_F / sqrt(d)``).

    Parameters
    ----------
    net : Network
        The network at its (orthogonal) initialisation; square layers.
    problem : Factorization or Regression
        With a known target ``Phi`` (factorisation, whitened regression).
    r : int
        Rank of the target; the subspaces have ``2 r`` columns.

    Returns
    -------
    right, left : lists of L arrays ``(d, 2r)`` in ``net.dtype``: ``V_{l,1}`` and ``U_{l,1}``.
    """
    shapes = [w.shape for w in net._weights]
    if any(m != n or m != shapes[0][0] for m, n in shapes):
        raise ValueError(f"track_svd: reference 'theory' needs square layers of one size (SCIENCE.md section 2), "
                         f"got widths {list(net.widths)}")
    try:
        V = invariant_subspace(net, problem, r, method="closed")
    except ValueError as exc:
        raise ValueError(f"track_svd: reference 'theory': {exc}") from None
    right, left = [], []
    for w in net._weights:
        w64 = np.asarray(w, dtype=np.float64)
        scale = float(np.linalg.norm(w64)) / np.sqrt(w64.shape[0])
        U = (w64 @ V) / scale
        right.append(np.ascontiguousarray(V, dtype=net.dtype))
        left.append(np.ascontiguousarray(U, dtype=net.dtype))
        V = U
    return right, left
