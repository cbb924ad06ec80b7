"""Compressed training of an :class:`dln.ImplicitNetwork` (issue 17): only the frames the chain needs are
drawn through the layers' operators, the chain trains as in :mod:`.compressed`, and the result lifts back
to an implicit network (applied, never stored densely). See :mod:`dln.implicit` for the network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from .._checks import choice, finite, integer, real
from .._tall import orthonormal
from ..implicit import ImplicitNetwork, is_implicit
from ..network import Network
from ..problems import Completion, Factorization, LowRankFactorization, Problem, Regression
from ..result import Result
from ..theory import numerical_rank, top_singular_vectors
from .compressed import CompressedNetwork, CompressedResult, SparseCompletion, compressed_result, train_projected
from .prepared import train_plain

__all__ = ["train_implicit", "ImplicitCompression", "is_implicit"]


# ---------------------------------------------------------------------------------------------------
# Observed entries: a sparse operator and its top singular subspace

def _entries(problem: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    if isinstance(problem, Completion):
        rows, cols = np.nonzero(problem.mask)
        return rows, cols, np.asarray(problem.target, dtype=np.float64)[rows, cols], problem.target.shape
    kept_rows, kept_cols, vals = (getattr(problem, k, None) for k in ("rows", "cols", "values"))
    if kept_rows is None or kept_cols is None or vals is None:
        raise ValueError("problem: this dln.SparseCompletion does not keep its observed entries (rows, cols, values), "
                         "which the implicit path needs for its subspace")
    return kept_rows, kept_cols, np.asarray(vals, dtype=np.float64), problem.shape


class _Observed:
    """``P_Omega(Phi)`` as a sparse ``m x n`` operator (SciPy CSR when available, else NumPy bincount)."""

    def __init__(self, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        self.shape = shape
        try:
            import scipy.sparse as sp
        except ImportError:  # pragma: no cover - scipy is a test dependency, not a runtime one
            sp = None
        if sp is not None:
            self._A = sp.csr_matrix((vals, (rows, cols)), shape=shape)
            self._At = self._A.T.tocsr()
        else:  # pragma: no cover
            self._A = None
            self._rows, self._cols, self._vals = rows, cols, vals

    def matmat(self, X: np.ndarray) -> np.ndarray:
        if self._A is not None:
            return np.asarray(self._A @ X)
        return np.stack([np.bincount(self._rows, self._vals * X[self._cols, j], self.shape[0])  # pragma: no cover
                         for j in range(X.shape[1])], axis=1)

    def rmatmat(self, Y: np.ndarray) -> np.ndarray:
        if self._A is not None:
            return np.asarray(self._At @ Y)
        return np.stack([np.bincount(self._cols, self._vals * Y[self._rows, j], self.shape[1])  # pragma: no cover
                         for j in range(Y.shape[1])], axis=1)


def _top_singular(op: _Observed, r: int, seed: int = 0, tol: float = 1e-14,
                  maxiter: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Top-``r`` singular triplets of a sparse operator by block subspace iteration (block ``r + max(r, 10)``)
    with a Rayleigh-Ritz step per iteration; stops when the largest Ritz residual
    ``||A^T u_i - sigma_i v_i||`` is below ``tol * sigma_1`` or has not improved for 30 iterations.

    With SciPy the block starts from ARPACK's top ``r`` right singular vectors (``svds`` from a seeded
    start vector; a Krylov method needs far fewer products than the plain iteration, ~150 iterations of
    the 15-column block at d = 1e5), completed by seeded Gaussian columns; the iteration then only
    confirms them, usually in one step, so the result meets the same residual test either way."""
    m, n = op.shape
    k = min(r + max(r, 10), m, n)
    rng = np.random.default_rng(seed)
    start = rng.standard_normal((n, k))
    info: dict = {"warm_start": None}
    if op._A is not None and r < min(m, n) - 1:
        from scipy.sparse.linalg import ArpackNoConvergence, svds
        try:
            _, _, vt = svds(op._A, k=r, tol=0, v0=rng.standard_normal(min(m, n)), solver="arpack")
            start[:, :r] = vt.T
            info["warm_start"] = "arpack"
        except ArpackNoConvergence:  # the plain iteration from the Gaussian block then
            pass
    V = orthonormal(start)[0]
    best, since = np.inf, 0
    for it in range(1, maxiter + 1):  # noqa: B007 - `it` is reported after the loop
        Qy, Ry = orthonormal(op.matmat(V))
        Ur, S, Wt = np.linalg.svd(Ry)  # Rayleigh-Ritz: A V = Qy Ry = (Qy Ur) S Wt
        Ub = Qy @ Ur
        Vr = V @ Wt.T
        Z = op.rmatmat(Ub)
        scale = S[0] if S[0] > 0 else 1.0
        res = float(np.max(np.linalg.norm(Z[:, :r] - Vr[:, :r] * S[:r], axis=0))) / scale
        if res <= tol:
            break
        if res < 0.9 * best:
            best, since = res, 0
        else:
            since += 1
            if since >= 30:
                break
        V = orthonormal(Z)[0]
    return Ub[:, :r], S[:r], Vr[:, :r], dict(info, iterations=it, residual=res)


# ---------------------------------------------------------------------------------------------------
# Compressed training of implicit networks

@dataclasses.dataclass(frozen=True)
class ImplicitCompression(CompressedNetwork):
    """:class:`dln.compression.CompressedNetwork` of an :class:`ImplicitNetwork`: same chain, basis and
    ``rho``; :meth:`lift` returns an :class:`ImplicitNetwork` (applied, never stored densely).
    ``subspace`` records how ``V_{1,1}`` was found."""

    subspace: dict = dataclasses.field(default_factory=dict)

    def lift(self, trained: Any, rho: float) -> ImplicitNetwork:
        """``W_l = U_{l,1} C_l V_{l,1}^T + rho Q_l (I - V_{l,1} V_{l,1}^T)`` as ``rho Q_l + F K G^T``.

        With frozen outer factors ``Q_l V_{l,1} = V_{l+1,1}`` gives ``F = V_{l+1,1}, K = C_l - rho I,
        G = V_{l,1}`` (the basis arrays, shared); moving outer factors ``A`` (first) and ``B`` (last)
        give ``W_1 = rho Q_1 + V_{2,1} [C_1, -rho I] [A^T, V_{1,1}]^T`` and
        ``W_L = rho Q_L + [B, V_{L+1,1}] [C_L; -rho I] V_{L,1}^T``.
        """
        chain = trained.network if isinstance(trained, Result) else trained
        if not isinstance(chain, Network) or chain.widths != self.network.widths:
            raise ValueError(f"trained: expected a chain of widths {self.network.widths}")
        rho = finite(rho, "rho")
        wide = self.wide
        if not isinstance(wide, ImplicitNetwork):  # built by train_implicit from an ImplicitNetwork
            raise TypeError(f"wide: expected a dln.ImplicitNetwork, got {type(wide).__name__}")
        C = [np.asarray(w, dtype=np.float64) for w in chain._weights]
        V = self.basis
        L = wide.depth
        k = 2 * self.rank
        I = np.eye(k)
        moving = self.outer_lr_scale != 0
        low = []
        for l in range(L):
            core = C[l + 1]
            first, last = l == 0 and moving, l == L - 1 and moving
            F = np.hstack([C[-1], V[l + 1]]) if last else V[l + 1]
            G = np.hstack([C[0].T, V[l]]) if first else V[l]
            if first and last:
                K = np.block([[core, np.zeros((k, k))], [np.zeros((k, k)), -rho * I]])
            elif first:
                K = np.hstack([core, -rho * I])
            elif last:
                K = np.vstack([core, -rho * I])
            else:
                K = core - rho * I
            low.append((F, K, G))
        return ImplicitNetwork._from_parts(wide._ops, wide._shapes, [rho] * L, low, wide.dtype)

    def leakage(self, wide: Any) -> float:
        raise ValueError("wide: leakage needs the dense wide gradient; use the dense path (dln.compress) for it")


def _pad_orthonormal(Q: np.ndarray, r: int, seed: int) -> np.ndarray:
    """``Q`` (orthonormal columns) extended to ``r`` columns by seeded random directions orthogonal to it
    (the 'arbitrary null directions' of a rank guess above the target's rank)."""
    if Q.shape[1] >= r:
        return Q[:, :r]
    X = np.random.default_rng(seed).standard_normal((Q.shape[0], r - Q.shape[1]))
    for _ in range(2):
        X -= Q @ (Q.T @ X)
    return np.hstack([Q, np.linalg.qr(X)[0]])


def _fro2(X: np.ndarray, Y: np.ndarray) -> float:
    """``||X Y^T||_F^2 = <X^T X, Y^T Y>`` (a sum of the loss outside the compressed block: its rounding,
    ~eps ||X||^2 ||Y||^2, is far below the loss)."""
    return float(np.sum((X.T @ X) * (Y.T @ Y)))


def _orth_tall(*blocks: np.ndarray) -> np.ndarray:
    """:func:`dln.compression._orth` (columns normalised, then an orthonormal basis of their span) in
    GEMM time for well-conditioned blocks (:mod:`dln._tall`); dependent columns fall back to Householder
    QR as ``_orth`` does (the basis then contains their span; the extra directions are arbitrary)."""
    M = np.hstack(blocks)
    norms = np.linalg.norm(M, axis=0)
    norms[norms == 0] = 1.0
    return orthonormal(M / norms)[0]


def train_implicit(net: ImplicitNetwork, problem: Any, lr: float, steps: int, optimizer: str = "gd",
                   tol: Optional[float] = None, record_every: int = 1, momentum: float = 0.9,
                   betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, decay: float = 0.9,
                   lr_scale: Optional[Sequence[float]] = None, n_threads: Optional[int] = None,
                   progress: Any = None, checkpoint: Any = None, checkpoint_every: int = 1000,
                   compress: Any = "auto", track_svd: Any = None, outer_lr_scale: Optional[float] = None,
                   seed: int = 0) -> CompressedResult:
    """Train an implicit wide network exactly through its compressed chain (``dln.train`` on an
    :class:`ImplicitNetwork` calls this; same arguments).

    Only the frames the chain needs are drawn through the operators: ``V_{1,1}`` (from the target's
    factors, or from the observations for completion), then ``U_{l,1} = Q_l V_{l,1}``. The chain trains
    in the C++ engine exactly as ``dln.train(..., compress=...)`` does for a dense network (the
    ``projected`` path for a known target: an L-layer ``2r x 2r`` problem, independent of ``d``; the
    ``sparse`` path for completion: the residual at the observed entries only).

    Parameters
    ----------
    net : ImplicitNetwork
        At its orthogonal init, square layers (all widths equal), one scale ``eps > 0``.
    problem : Factorization.from_factors(...), Factorization, Completion or SparseCompletion
        A factored target is never formed; a dense :class:`Factorization` or :class:`Completion`
        is used as given (it already holds ``d x d``). :class:`Regression` is refused: its data
        ``X`` is ``d x N``; for whitened data pass ``Factorization.from_factors(Y, ones, X)``.
    lr, steps, optimizer, tol, record_every, momentum, n_threads, progress
        As :func:`dln.train` (``lr`` in the problem's reduction units; ``optimizer`` ``gd`` or
        ``momentum``, the two that keep the compressed structure exact).
    compress : "auto", int or None
        ``r_hat``; ``"auto"`` (and ``None``: implicit networks train compressed only) takes the
        target's numerical rank; completion needs an int.
    outer_lr_scale : float, optional
        ``gamma``: 0 for known targets (exact), default 0.01 for completion (SCIENCE.md 3).
    seed : int
        Seeds the subspace iteration of completion and the padding directions of a rank guess above
        the target's rank (neither changes the lifted network beyond rounding).
    betas, eps, decay, checkpoint_every
        Accepted for ``dln.train``'s signature and unused (Adam/RMSprop settings; no checkpoints).
    lr_scale, checkpoint, track_svd
        Accepted for ``dln.train``'s signature; anything but ``None`` is refused.

    Returns
    -------
    dln.compression.CompressedResult
        ``loss`` is the wide loss history, ``certificate`` ``rho^L sqrt(d - 2 r_hat)``, ``network``
        the lifted :class:`ImplicitNetwork` (computed on first access), ``compression`` an
        :class:`ImplicitCompression` (``.subspace`` says how ``V_{1,1}`` was found).

    Raises
    ------
    TypeError, ValueError
        A bad or unsupported argument, named, before any work.
    """
    # ---- checks, all before any work
    if not isinstance(net, ImplicitNetwork):
        raise TypeError(f"net: expected a dln.ImplicitNetwork, got {type(net).__name__}")
    for name, value, default in (("lr_scale", lr_scale, None), ("checkpoint", checkpoint, None),
                                 ("track_svd", track_svd, None)):
        if value is not default:
            raise ValueError(f"{name}: not supported for implicit networks (the compressed chain sets its own "
                             f"learning rates and is not checkpointed or SVD-tracked)")
    if any(p is not None for p in net._low):
        raise ValueError("net: must be at its orthogonal init (ImplicitNetwork.orthogonal); a trained implicit "
                         "network cannot be trained further")
    ws = net.widths
    if len(set(ws)) != 1:
        raise ValueError(f"net: compressed training of implicit networks needs square layers (all widths equal), "
                         f"got widths {ws}")
    d, L = ws[0], net.depth
    eps0 = net._a[0]
    if any(a != eps0 for a in net._a) or not eps0 > 0:
        raise ValueError(f"net: every layer must be eps * Q_l with one eps > 0, got scales {net._a}")
    if isinstance(problem, Regression):
        raise ValueError("problem: Regression cannot be trained implicitly: its data X is d_in x N, as large as the "
                         "network it would spare; for whitened data (X X^T = I) pass "
                         "Factorization.from_factors(Y, np.ones(N), X) (the loss then differs by the constant "
                         "||Y||^2 - ||Y X^T||^2 and the mean reduction by N / d_in)")
    if not isinstance(problem, (Problem, SparseCompletion)):
        raise TypeError(f"problem: expected a dln problem, got {type(problem).__name__}")
    completion = isinstance(problem, (Completion, SparseCompletion))
    if isinstance(problem, (LowRankFactorization, SparseCompletion)):
        shape = problem.shape
    elif isinstance(problem, (Factorization, Completion)):
        shape = tuple(problem.target.shape)
    else:
        raise TypeError(f"problem: expected a dln problem, got {type(problem).__name__}")
    if tuple(shape) != (d, d):
        raise ValueError(f"problem: target shape {tuple(shape)} does not match the network's widths {ws}")
    if isinstance(problem, SparseCompletion) and problem.dtype != net.dtype:
        raise TypeError(f"problem: dtype {problem.dtype} differs from the network's {net.dtype}")
    if completion:
        _entries(problem)  # refuses a SparseCompletion without its entries, now
    optimizer = choice(optimizer, "optimizer", ("gd", "momentum"))
    lr = finite(lr, "lr")
    if not lr > 0:
        raise ValueError(f"lr: must be > 0, got {lr}")
    steps = integer(steps, "steps", minimum=0)
    record_every = integer(record_every, "record_every", minimum=1)
    if tol is not None:
        tol = finite(tol, "tol")
    momentum = finite(momentum, "momentum")
    if n_threads is not None:
        integer(n_threads, "n_threads", minimum=1, maximum=4096)
    seed = integer(seed, "seed", minimum=0, maximum=2**64 - 1)
    if compress is None or (isinstance(compress, str) and compress == "auto"):
        if completion:
            raise ValueError("compress: 'auto' needs a known target; give a rank guess (int) for completion")
        rank = None
    elif isinstance(compress, str):
        raise ValueError(f"compress: expected 'auto' or a rank guess (int), got {compress!r}")
    else:
        rank = integer(compress, "compress", minimum=1, maximum=max(d // 2, 1))
        if 2 * rank > d:
            raise ValueError(f"compress: the compressed width 2 * {rank} exceeds the width {d}")
    known = not completion
    gamma = real(outer_lr_scale, "outer_lr_scale") if outer_lr_scale is not None else (0.0 if known else 0.01)
    if not (np.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"outer_lr_scale: must be finite and >= 0, got {gamma}")
    if isinstance(problem, LowRankFactorization) and gamma != 0:
        raise ValueError("outer_lr_scale: must be 0 for a factored target (the exact theory; moving outer factors "
                         "would need the dense d x d residual)")

    # ---- the subspace V_{1,1}: from the target's frames, or from the observations
    prob: Any = problem  # (isinstance above narrows it; the branches below know its kind)
    dt = net.dtype
    c = float(problem.scale)
    phi = None
    if known:
        if isinstance(problem, LowRankFactorization):
            U_phi, _, V_phi = problem.svd()
        else:
            assert isinstance(problem, Factorization)  # known: not a completion, and Regression is refused above
            phi = np.asarray(problem.target, dtype=np.float64)
            k = numerical_rank(phi) if rank is None else rank
            U_phi, Vt = top_singular_vectors(phi, max(k, 1))
            V_phi = Vt.T
        if rank is None:
            rank = max(1, U_phi.shape[1])
            if 2 * rank > d:
                raise ValueError(f"compress: 'auto' found rank {rank}, whose compressed width exceeds the width {d}")
        U_phi = _pad_orthonormal(U_phi, rank, seed)
        V_phi = _pad_orthonormal(V_phi, rank, seed + 1)
        info = {"method": "closed", "rank": rank}
        left = U_phi
    else:
        assert rank is not None  # a completion needs a rank guess (refused above otherwise)
        rows, cols, vals, _ = _entries(problem)
        U_o, s_o, V_phi, info = _top_singular(_Observed((d, d), rows, cols, vals), rank, seed)
        info = dict(info, method="observations", rank=rank, singular_values=s_o)
        left = U_o
    for l in reversed(range(L)):  # Q_{L:1}^T U, as L operator products
        left = net._qt(l, left)
    V1 = _orth_tall(V_phi, left)
    basis = [V1]
    for l in range(L):
        basis.append(net._q(l, basis[-1]))
    for arr in basis:
        arr.flags.writeable = False
    r = rank
    chain = [V1.T] + [eps0 * np.eye(2 * r)] * L + [basis[-1]]
    chain_net = Network._from_trusted([np.ascontiguousarray(x, dtype=dt) for x in chain], dt)
    exact = known and gamma == 0.0
    comp = ImplicitCompression(chain_net, r, basis, gamma, net, prob, eps0, exact, subspace=info)

    # ---- train the chain
    kw = dict(optimizer=optimizer, record_every=record_every, momentum=momentum, n_threads=n_threads,
              progress=progress)
    m = comp.complement_dim
    if exact:
        U, V = basis[-1], basis[0]
        if phi is None:
            Uf, sf, Vf = prob._factors
            A = Uf * sf
            UA, BV = U.T @ A, Vf.T @ V
            phi_c = UA @ BV
            # outside the compressed block: ||(I - P_U) Phi||^2 + ||P_U Phi (I - P_V)||^2
            const = _fro2(A - U @ UA, Vf) + _fro2(UA, Vf - V @ BV.T)
        else:
            phi_c = U.T @ phi @ V
            const = float(np.sum((phi - U @ phi_c @ V.T) ** 2))
        const *= 0.5 * c
        compressed = train_projected(chain_net, phi_c, const, c, lr, steps, tol, problem.reduction, **kw)
        path = "projected"
    elif completion:
        sp = prob if isinstance(prob, SparseCompletion) else SparseCompletion.from_completion(prob, dt)
        compressed = sp._train(chain_net, lr, steps, tol=tol, lr_scale=comp.lr_scale, **kw)
        path = "sparse"
    else:  # a dense Factorization with moving outer factors: the chain on the dense problem
        compressed = train_plain(chain_net, prob, lr, steps, tol=tol, lr_scale=comp.lr_scale, **kw)
        path = "dense"

    rhos = comp.rho(lr, compressed.steps, optimizer, momentum)
    return compressed_result(compressed, comp, rhos, c, L, m, record_every, exact, path)
