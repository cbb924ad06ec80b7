"""Theory predictions and measurements for trained networks (SCIENCE.md sections 2 and 5).

* The law of parsimony: :func:`theory` (the subspace ``S``, orthogonal bases ``U_l``, ``V_l`` with
  ``V_{l+1} = U_l`` whose first ``2r`` columns span the moving block) and :func:`rho_recursion`
  (the bulk singular value for GD and heavy-ball momentum); :func:`block_residual` measures how far a
  trained network is from ``U_l blockdiag(Wt_l, rho I) V_l^T``; :func:`theory_angles` compares its
  singular subspaces with the predicted ones.
* Trajectories: :func:`trajectory` gives singular values and principal-angle sines per layer from a
  tracked run (:class:`dln.SvdTrace`) or from a list of networks.
* Separation (Wang et al.; He & Su): :func:`features`, :func:`separation` (``D_l = tr(Sigma_W) /
  tr(Sigma_B)``), :func:`discrimination`, :func:`fit_separation` (log-linear over layers 0 .. L-1) and
  :func:`predicted_separation` (``D_0 = (1 - 1/n)/(1/n - 1/N)``, ratio ``eps^2 / n^(1/L)``).

Principal angles are always computed from the sine formula ``||(I - Q_A Q_A^T) Q_B||_2``
(:func:`dln.theory.subspace_sine`): arccos of cosines loses half the digits near zero.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from ._checks import integer, real
from .network import Network
from .problems import Problem, refuse_sparse
from .theory import init_scale, invariant_subspace, known_target, numerical_rank, rho_recursion, subspace_sine
from .tracking import SvdTrace

__all__ = ["rho_recursion", "Theory", "theory", "BlockResidual", "block_residual", "theory_angles",
           "Trajectory", "trajectory", "subspace_angle", "features", "separation", "discrimination",
           "SeparationFit", "fit_separation", "predicted_separation"]


# ---------------------------------------------------------------------------------------------------
# The law of parsimony

@dataclasses.dataclass(frozen=True)
class Theory:
    """The law of parsimony's prediction for one network at init and one problem (SCIENCE.md 2).

    Attributes
    ----------
    rank : int
        ``r`` (or the guess ``r_hat``); the moving block has ``block = 2 rank`` columns.
    block : int
        ``2 rank``.
    eps : float
        The init scale.
    depth : int
        ``L``.
    scale : float
        The problem's reduction factor ``c`` (``lr`` in problem units is ``lr * c`` in sum units).
    subspace : ndarray, (d, 2 rank)
        Orthonormal basis ``V_{1,1}`` of ``S = row(Phi) + W_{L:1}(0)^T col(Phi)``.
    V, U : list of L ndarrays, (d, d)
        Orthogonal bases with ``V_1 = [V_{1,1}, V_{1,2}]``, ``U_l = W_l(0) V_l / eps`` and
        ``V_{l+1} = U_l``: ``U_l^T W_l(t) V_l = blockdiag(Wt_l(t), rho(t) I)``.
    """

    rank: int
    block: int
    eps: float
    depth: int
    scale: float
    subspace: np.ndarray
    V: list
    U: list

    def rho(self, lr: float, steps: int, optimizer: str = "gd", momentum: float = 0.9) -> np.ndarray:
        """``rho(t)`` for ``t = 0 .. steps`` (:func:`rho_recursion` with this problem's scale)."""
        return rho_recursion(self.eps, lr, self.depth, steps, self.scale, optimizer, momentum)


def _check_net(net: Any, name: str = "net") -> Network:
    if not isinstance(net, Network):
        raise TypeError(f"{name}: expected a dln.Network, got {type(net).__name__}")
    return net


def theory(net: Network, problem: Problem, rank: Any = "auto", method: str = "auto") -> Theory:
    """Subspaces and bases predicted by the law of parsimony for ``net`` (at init) on ``problem``.

    Parameters
    ----------
    net : Network
        Square layers (``d x d``) at an orthogonal init ``W_l(0) = eps Q_l``.
    problem : Factorization, Regression or Completion
        Exact for factorisation and whitened regression; for the others the bases are those built from
        the first-layer gradient (a model whose accuracy :func:`block_residual` measures).
    rank : int or "auto"
        ``r``; ``auto`` takes the numerical rank of the known target. ``1 <= rank <= d // 2``.
    method : {"auto", "closed", "gradient"}
        How ``V_{1,1}`` is built (:func:`dln.invariant_subspace`).

    Returns
    -------
    Theory
    """
    _check_net(net)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem: expected a dln problem, got {type(problem).__name__}")
    refuse_sparse(problem, "the theory's bases")
    if len(set(net.widths)) != 1:
        raise ValueError(f"net: the theory's bases need square layers (all widths equal), got widths {net.widths}")
    if isinstance(rank, str):
        if rank != "auto":
            raise ValueError(f"rank: expected an integer or 'auto', got {rank!r}")
        phi = known_target(problem)
        if phi is None:
            raise ValueError("rank: 'auto' needs a known target (factorisation or whitened regression)")
        rank = max(1, numerical_rank(phi))
    V11 = invariant_subspace(net, problem, rank, method)
    r = V11.shape[1] // 2
    eps = init_scale(net)
    if eps == 0:
        raise ValueError("net: zero weights; the theory needs W_l(0) = eps * orthogonal with eps > 0")
    d = net.widths[0]
    # Complement of V_{1,1}: the trailing columns of a complete QR of V_{1,1}.
    Q = np.linalg.qr(V11, mode="complete")[0]
    V = [np.hstack([V11, Q[:, V11.shape[1]:]])]
    U = []
    for l, w in enumerate(net._weights):
        u = np.asarray(w, dtype=np.float64) @ V[-1] / eps
        err = float(np.max(np.abs(u.T @ u - np.eye(d))))
        if err > 1e-8:
            raise ValueError(f"net: layer {l} is not eps * orthogonal (max |U^T U - I| = {err:.2g}); "
                             "the theory needs an orthogonal init")
        U.append(u)
        V.append(u)
    return Theory(rank=r, block=2 * r, eps=eps, depth=net.depth, scale=float(problem.scale), subspace=V11,
                  V=V[:-1], U=U)


@dataclasses.dataclass(frozen=True)
class BlockResidual:
    """How far a network is from ``U_l blockdiag(Wt_l, rho I) V_l^T``, per layer (all shape (L,)).

    Attributes
    ----------
    off_block : ndarray
        ``max |entries of U_l^T W_l V_l outside the two diagonal blocks| / max(1, ||W_l||_2)``.
    bulk : ndarray
        ``max |(U_l^T W_l V_l)[2r:, 2r:] - rho I| / max(1, ||W_l||_2)`` (NaN when no ``rho`` was given).
    norm : ndarray
        ``||W_l||_2``, the spectral norm.
    """

    off_block: np.ndarray
    bulk: np.ndarray
    norm: np.ndarray

    @property
    def max(self) -> float:
        """The largest of both residuals over all layers (NaN entries ignored)."""
        return float(np.nanmax(np.concatenate([self.off_block, self.bulk])))


def block_residual(net: Network, th: Theory, rho: Optional[float] = None) -> BlockResidual:
    """Block-structure residual of ``net`` (e.g. trained) against the theory ``th``.

    Parameters
    ----------
    net : Network
        Same widths as the network ``th`` was built from.
    th : Theory
    rho : float, optional
        The predicted bulk value ``rho(t)`` (e.g. ``th.rho(lr, t)[-1]``); without it only the
        off-block part is measured.

    Returns
    -------
    BlockResidual
        Relative to ``max(1, ||W_l||_2)`` (SCIENCE.md 7.1: both <= 1e-13 for GD and momentum).
    """
    _check_net(net)
    if not isinstance(th, Theory):
        raise TypeError(f"th: expected a dln.analysis.Theory, got {type(th).__name__}")
    if net.depth != th.depth or any(w.shape != (u.shape[0], v.shape[0]) for w, u, v in zip(net._weights, th.U, th.V)):
        raise ValueError(f"net: widths {net.widths} differ from the theory's network")
    if rho is not None:
        rho = real(rho, "rho")
    b = th.block
    off, bulk, norms = [], [], []
    for w, u, v in zip(net._weights, th.U, th.V):
        w = np.asarray(w, dtype=np.float64)
        core = u.T @ w @ v
        n = float(np.linalg.norm(w, 2))
        ref = max(1.0, n)
        off.append(max(np.abs(core[:b, b:]).max(initial=0.0), np.abs(core[b:, :b]).max(initial=0.0)) / ref)
        if rho is None:
            bulk.append(np.nan)
        else:
            tail = core[b:, b:] - rho * np.eye(core.shape[0] - b)
            bulk.append(np.abs(tail).max(initial=0.0) / ref)
        norms.append(n)
    return BlockResidual(np.array(off), np.array(bulk), np.array(norms))


def subspace_angle(A: Any, B: Any) -> float:
    """Largest principal angle (radians) between the column spans of ``A`` and ``B`` (same shape),
    ``arcsin`` of the sine formula (accurate for tiny angles)."""
    return float(np.arcsin(min(1.0, subspace_sine(A, B))))


def _bulk_split(s: np.ndarray, m: int, rho: Optional[float]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``m`` singular values nearest ``rho`` (the median when None) and of the rest."""
    centre = float(np.median(s)) if rho is None else rho
    order = np.argsort(np.abs(s - centre), kind="stable")
    return np.sort(order[:m]), np.sort(order[m:])


def theory_angles(net: Network, th: Theory, rho: Optional[float] = None) -> np.ndarray:
    """Sines of the largest principal angles between ``net``'s singular subspaces and the theory's.

    For each layer the ``d - 2r`` singular values nearest ``rho`` (the median when not given) form
    the bulk; its right singular subspace is compared with ``V_{l,2}`` (the last ``d - 2r`` columns
    of ``V_l``), the other ``2r`` right singular vectors with ``V_{l,1}``; left likewise with ``U_l``.

    Returns
    -------
    ndarray, shape (L, 4)
        Columns: right moving, right bulk, left moving, left bulk (sines; arcsin gives radians).
    """
    _check_net(net)
    if not isinstance(th, Theory):
        raise TypeError(f"th: expected a dln.analysis.Theory, got {type(th).__name__}")
    if net.depth != th.depth:
        raise ValueError(f"net: depth {net.depth} differs from the theory's {th.depth}")
    if rho is not None:
        rho = real(rho, "rho")
    b = th.block
    out = np.empty((net.depth, 4))
    for l, (w, u, v) in enumerate(zip(net._weights, th.U, th.V)):
        P, s, Qt = np.linalg.svd(np.asarray(w, dtype=np.float64))
        bulk, moving = _bulk_split(s, s.size - b, rho)
        out[l] = [subspace_sine(v[:, :b], Qt[moving].T), subspace_sine(v[:, b:], Qt[bulk].T),
                  subspace_sine(u[:, :b], P[:, moving]), subspace_sine(u[:, b:], P[:, bulk])]
    return out


# ---------------------------------------------------------------------------------------------------
# Trajectories

@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Singular values and principal angles of every layer over a run; ``n`` records, ``L`` layers.

    Attributes
    ----------
    steps : (n,) int array
        The step of each record.
    spectra : list of L arrays (n, min(d_out, d_in))
        All singular values, descending.
    sin_right, sin_left : (n, L, 3) arrays
        Sine of the largest principal angle of the top-``r``, middle and bottom-``r`` right (left)
        singular subspaces against record ``reference`` (NaN where undefined, e.g. ``block_r = 0``).
    reference : int
        Index of the reference record (the first with step >= 1: at step 0 of an orthogonal init all
        singular values are equal and the subspaces undefined).
    """

    steps: np.ndarray
    spectra: list
    sin_right: np.ndarray
    sin_left: np.ndarray
    reference: int

    @property
    def angles_right(self) -> np.ndarray:
        """``arcsin(sin_right)`` in radians."""
        return np.arcsin(np.clip(self.sin_right, 0.0, 1.0))

    @property
    def angles_left(self) -> np.ndarray:
        """``arcsin(sin_left)`` in radians."""
        return np.arcsin(np.clip(self.sin_left, 0.0, 1.0))


def _block_slices(k: int, r: int) -> list[slice]:
    return [slice(0, r), slice(r, k - r), slice(k - r, k)]


def trajectory(source: Any, block_r: int = 0, steps: Optional[Sequence[int]] = None) -> Trajectory:
    """Singular values and principal-angle sines over a run.

    Parameters
    ----------
    source : dln.SvdTrace or sequence of Network
        A tracked run's ``result.svd`` (its spectra and angles are used as recorded, with the
        tracker's reference step), or networks at successive records (full SVDs here, O(d^3) each).
    block_r : int
        ``r`` of the top-``r`` / middle / bottom-``r`` split for networks (``2 r <= min(d_out, d_in)``);
        0 leaves the angles NaN. Ignored for an ``SvdTrace`` (set by its ``TrackSpec``).
    steps : sequence of int, optional
        Step of each network (default ``0, 1, ...``). Ignored for an ``SvdTrace``.

    Returns
    -------
    Trajectory
    """
    if isinstance(source, SvdTrace):
        at_ref = np.flatnonzero(source.steps == source.reference_step)
        return Trajectory(steps=np.asarray(source.steps), spectra=[np.asarray(s) for s in source.spectra],
                          sin_right=np.asarray(source.angles_right), sin_left=np.asarray(source.angles_left),
                          reference=int(at_ref[0]) if at_ref.size else -1)
    if isinstance(source, (str, bytes, Network)) or not hasattr(source, "__len__") or len(source) == 0:
        raise TypeError("source: expected a dln.SvdTrace or a non-empty sequence of dln.Network")
    nets = [_check_net(n, f"source[{i}]") for i, n in enumerate(source)]
    if any(n.widths != nets[0].widths for n in nets):
        raise ValueError("source: every network must have the widths of source[0]")
    n, L = len(nets), nets[0].depth
    st = np.arange(n) if steps is None else np.asarray(steps)
    if st.shape != (n,) or st.dtype.kind not in "iu":
        raise ValueError(f"steps: expected {n} integers, one per network")
    r = integer(block_r, "block_r", minimum=0)
    k_min = min(min(w.shape) for w in nets[0]._weights)
    if 2 * r > k_min:
        raise ValueError(f"block_r: 2 * block_r must be <= {k_min} (the smallest layer dimension), got {r}")
    svd = [[np.linalg.svd(np.asarray(w, dtype=np.float64), full_matrices=False) for w in net._weights] for net in nets]
    spectra = [np.array([svd[i][l][1] for i in range(n)]) for l in range(L)]
    later = np.flatnonzero(st >= 1)
    ref = int(later[0]) if later.size else 0
    sr = np.full((n, L, 3), np.nan)
    sl = np.full((n, L, 3), np.nan)
    if r > 0:
        for l in range(L):
            U0, _, Vt0 = svd[ref][l]
            blocks = _block_slices(Vt0.shape[0], r)
            for i in range(n):
                U, _, Vt = svd[i][l]
                for j, sl_ in enumerate(blocks):
                    if sl_.stop > sl_.start:
                        sr[i, l, j] = subspace_sine(Vt0[sl_].T, Vt[sl_].T)
                        sl[i, l, j] = subspace_sine(U0[:, sl_], U[:, sl_])
    return Trajectory(steps=st.astype(np.int64), spectra=spectra, sin_right=sr, sin_left=sl, reference=ref)


# ---------------------------------------------------------------------------------------------------
# Separation and discrimination

def features(net: Network, X: Any) -> list[np.ndarray]:
    """Layer-wise features ``[H_0 = X, H_1, ..., H_L]``, each ``(width, N)``, after the activation.

    The same as :meth:`Network.features` (the activation follows every layer but the last), after
    checking that ``net`` is a network.
    """
    return list(_check_net(net).features(X))


def _labels(labels: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"labels: expected shape ({n},) (one per sample column), got {y.shape}")
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise TypeError(f"labels: expected integer class labels, got dtype {y.dtype}")
    classes, inv = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"labels: need at least 2 classes, got {classes.size}")
    return classes, inv


def _layers(feats: Any) -> list[np.ndarray]:
    if isinstance(feats, np.ndarray):
        feats = [feats]
    if isinstance(feats, (str, bytes)) or not hasattr(feats, "__len__") or len(feats) == 0:
        raise TypeError("features: expected a (dim, N) array or a non-empty list of them")
    out = []
    for i, h in enumerate(feats):
        a = np.asarray(h)
        if a.dtype.kind != "f":
            raise TypeError(f"features[{i}]: expected a floating-point array, got dtype {a.dtype}")
        if a.ndim != 2 or a.shape[1] != np.asarray(feats[0]).shape[1]:
            raise ValueError(f"features[{i}]: expected a (dim, N) array with the N of features[0], got {a.shape}")
        out.append(a.astype(np.float64, copy=False))
    return out


def _class_means(h: np.ndarray, inv: np.ndarray, K: int) -> np.ndarray:
    counts = np.bincount(inv, minlength=K)
    sums = np.zeros((h.shape[0], K))
    np.add.at(sums.T, inv, h.T)
    return sums / counts


def separation(feats: Any, labels: Any) -> np.ndarray:
    """Separation measure ``D_l = tr(Sigma_W) / tr(Sigma_B)`` per layer (SCIENCE.md 5).

    Parameters
    ----------
    feats : (dim, N) array or list of them
        Features with samples as columns, e.g. :func:`features`.
    labels : (N,) int array
        Class of each sample.

    Returns
    -------
    ndarray, one per layer
        ``tr(Sigma_W) = (1/N) sum_i ||h_i - mu_{y_i}||^2`` (within-class, averaged over samples) over
        ``tr(Sigma_B) = (1/K) sum_k ||mu_k - mu||^2`` (class means about the global mean, averaged over
        classes). Smaller is more separated. ``inf`` when all class means coincide.
    """
    hs = _layers(feats)
    classes, inv = _labels(labels, hs[0].shape[1])
    K = classes.size
    out = np.empty(len(hs))
    for l, h in enumerate(hs):
        mu = _class_means(h, inv, K)
        within = np.sum((h - mu[:, inv]) ** 2) / h.shape[1]
        between = np.sum((mu - h.mean(axis=1, keepdims=True)) ** 2) / K
        out[l] = within / between if between > 0 else np.inf
    return out


def discrimination(feats: Any, labels: Any, center: bool = False) -> np.ndarray:
    """Discrimination ``1 - max_{k != k'} cos(mu_k, mu_k')`` of the class means, per layer.

    Parameters
    ----------
    feats, labels : as :func:`separation`
    center : bool
        Subtract the global mean from the class means first (default: raw means, as in Wang et al.).

    Returns
    -------
    ndarray, one per layer, in ``[0, 2]`` (NaN when a class mean is zero).
    """
    hs = _layers(feats)
    classes, inv = _labels(labels, hs[0].shape[1])
    K = classes.size
    out = np.empty(len(hs))
    for l, h in enumerate(hs):
        mu = _class_means(h, inv, K)
        if center:
            mu = mu - h.mean(axis=1, keepdims=True)
        n = np.linalg.norm(mu, axis=0)
        if np.any(n == 0):
            out[l] = np.nan
            continue
        c = (mu / n).T @ (mu / n)
        np.fill_diagonal(c, -np.inf)
        out[l] = 1.0 - c.max()
    return out


@dataclasses.dataclass(frozen=True)
class SeparationFit:
    """Least-squares fit ``log D_l = log D0 + l log ratio`` over ``layers``.

    Attributes
    ----------
    ratio : float
        Per-layer decay factor ``kappa``.
    D0 : float
        Fitted ``D_0`` (the intercept, not the measured value).
    r2 : float
        Coefficient of determination of the fit in log space.
    layers : (k,) int array
        The layers fitted.
    """

    ratio: float
    D0: float
    r2: float
    layers: np.ndarray


def fit_separation(D: Any, exclude_output: bool = True) -> SeparationFit:
    """Log-linear fit of the separation measures ``D_0 .. D_L`` of an ``L``-layer network.

    Parameters
    ----------
    D : (L + 1,) array
        ``D_l`` for ``l = 0 .. L`` (:func:`separation` of ``[H_0, ..., H_L]``), all positive and finite
        on the fitted layers.
    exclude_output : bool
        Fit over ``l = 0 .. L-1`` (default): the output of a converged net is near zero and would wreck
        the fit (SCIENCE.md 5).

    Returns
    -------
    SeparationFit
    """
    d = np.asarray(D, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"D: expected a 1-D array, got shape {d.shape}")
    k = d.size - 1 if exclude_output else d.size
    if k < 2:
        raise ValueError(f"D: need at least 2 layers to fit, got {d.size} values (exclude_output={exclude_output})")
    y = d[:k]
    if not (np.all(np.isfinite(y)) and np.all(y > 0)):
        raise ValueError(f"D: the fitted values must be positive and finite, got {y}")
    x = np.arange(k, dtype=np.float64)
    ly = np.log(y)
    A = np.column_stack([np.ones(k), x])
    coef = np.linalg.lstsq(A, ly, rcond=None)[0]
    res = ly - A @ coef
    tot = np.sum((ly - ly.mean()) ** 2)
    r2 = 1.0 - np.sum(res ** 2) / tot if tot > 0 else 1.0
    return SeparationFit(ratio=float(np.exp(coef[1])), D0=float(np.exp(coef[0])), r2=float(r2),
                         layers=np.arange(k))


def predicted_separation(n: int, N: int, eps: float, depth: int) -> tuple[float, float]:
    """``(D_0, ratio)`` predicted for orthonormal inputs (SCIENCE.md 5).

    Parameters
    ----------
    n : int
        Samples per class.
    N : int
        Samples in all (``N = K n``, ``N > n``).
    eps : float
        Orthogonal init scale.
    depth : int
        ``L``.

    Returns
    -------
    (float, float)
        ``D_0 = (1 - 1/n) / (1/n - 1/N)`` and ``ratio = eps^2 / n^(1/L)``.
    """
    n = integer(n, "n", minimum=1)
    N = integer(N, "N", minimum=1)
    if N <= n:
        raise ValueError(f"N: must exceed n = {n} (at least two classes), got {N}")
    eps = real(eps, "eps")
    depth = integer(depth, "depth", minimum=1)
    return (1.0 - 1.0 / n) / (1.0 / n - 1.0 / N), eps ** 2 / n ** (1.0 / depth)
