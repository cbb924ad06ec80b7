"""Compressed training: train the equivalent narrow network, get the wide network's trajectory (SCIENCE.md 3).

For a wide ``d x d`` deep linear network from orthogonal init ``W_l(0) = eps Q_l`` trained by gradient
descent on a factorisation or whitened regression problem with a rank-``r`` target, only a
``2r``-dimensional right subspace ``V_{1,1}`` of the first layer (and its images ``U_l = W_l(0) V_l / eps``,
``V_{l+1} = U_l``) ever moves (Yaras et al., "The Law of Parsimony ..."; "Compressible Dynamics ...").
The wide trajectory then equals that of the ``(L+2)``-matrix chain

    [V_{1,1}^T (2r x d_in), eps I_{2r} (L copies), U_{L,1} (d_out x 2r)]

plus the complement term ``rho(t)^L U_{L,2} V_{1,2}^T``, with the scalar recursion
``rho(t+1) = rho(t) (1 - eta rho(t)^(2(L-1)))`` (``eta`` in sum units). Every step size here is in the
problem's reduction units (``lr`` under ``mean`` is ``lr * c`` under ``sum``), like :func:`dln.train`.

Public API: :func:`invariant_subspace`, :func:`compress`, :class:`CompressedNetwork`,
:func:`train_compressed` (also reached as ``dln.train(..., compress=...)``), :class:`CompressedResult`,
:func:`compress_trained` (post-hoc), :class:`SparseCompletion` (completion from observed entries only),
:func:`subspace_sine`.
"""


from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np

from .. import _core, _memory
from .._checks import array, as_dtype, choice, finite, floating_array, integer, real, sequence
from .._progress import Progress
from ..network import Network
from ..problems import Completion, Factorization, Problem, Regression, core_reduction, refuse_sparse
from ..result import Result
from ..theory import check_rank, init_scale, invariant_subspace, known_target, numerical_rank, rho_recursion
from .prepared import OPTIMIZERS, settings, threads_of, train_plain

if TYPE_CHECKING:
    from ..implicit import ImplicitNetwork

__all__ = ["compress", "CompressedNetwork", "train_compressed", "CompressedResult", "compress_trained",
           "PostHocCompression", "SparseCompletion"]


@dataclasses.dataclass(frozen=True)
class CompressedNetwork:
    """The ``(L+2)``-matrix chain equivalent to a wide network, and everything needed to lift back.

    Attributes
    ----------
    network : Network
        ``[V_{1,1}^T, eps I, ..., eps I, U_{L,1}]``, trainable by :func:`dln.train` with
        ``lr_scale=compressed.lr_scale``.
    rank : int
        ``r_hat``; the compressed width is ``2 r_hat``.
    basis : list of ndarray
        ``V_{l,1}`` for ``l = 1 .. L+1`` (``V_{L+1,1} = U_{L,1}``), each with ``2 r_hat`` orthonormal columns.
    outer_lr_scale : float
        ``gamma``: the outer factors train at ``gamma * lr`` (0 = frozen, the exact theory).
    wide : Network
        The wide network at initialisation (an :class:`dln.ImplicitNetwork` in the subclass
        :class:`dln.training.implicit.ImplicitCompression`).
    scale : float
        ``eps``.
    exact : bool
        True when the theory makes the lift exact: known target (factorisation or whitened regression),
        square layers, frozen outer factors.
    """

    network: Network
    rank: int
    basis: list
    outer_lr_scale: float
    wide: Union[Network, ImplicitNetwork]
    problem: Problem
    scale: float
    exact: bool

    @property
    def lr_scale(self) -> list[float]:
        L = self.wide.depth
        return [self.outer_lr_scale] + [1.0] * L + [self.outer_lr_scale]

    @property
    def complement_dim(self) -> int:
        """``d - 2 r_hat``: directions of each layer that stay at ``rho(t)`` times their init."""
        return self.wide.widths[0] - 2 * self.rank

    def rho(self, lr: float, steps: int, optimizer: str = "gd", momentum: float = 0.9) -> np.ndarray:
        """``rho(t)`` for ``t = 0 .. steps``: the complement's singular value (SCIENCE.md 2).

        GD: ``rho <- rho - eta rho^(2L-1)``; momentum: ``buf <- momentum buf + eta rho^(2L-1),
        rho <- rho - buf`` (``eta = lr * c``, the problem's reduction factor). Exact on the complement of
        factorisation/whitened regression (zero target there); for completion it is the model used.
        """
        return rho_recursion(self.scale, lr, self.wide.depth, steps, scale=self.problem.scale, optimizer=optimizer,
                             momentum=momentum)

    def lift(self, trained: Any, rho: float) -> Union[Network, ImplicitNetwork]:
        """The wide network whose compressed part is ``trained`` (a chain Network or Result).

        ``W_l = U_{l,1} Wt_l V_{l,1}^T + (rho / eps) W_l(0) (I - V_{l,1} V_{l,1}^T)``; with moving outer
        factors ``A`` (first) and ``B`` (last) of the chain, ``W_1 = U_{1,1} Wt_1 A`` and ``W_L = B Wt_L
        V_{L,1}^T`` plus the same complement. Exact (to rounding) when :attr:`exact` and ``rho`` comes
        from :meth:`rho`; otherwise the trajectory of the lift differs from wide training by how much
        the wide gradient leaves the subspaces (see :meth:`leakage`).
        """
        chain = trained.network if isinstance(trained, (Result, CompressedResult)) else trained
        if isinstance(trained, CompressedResult):
            chain = trained.compressed.network
        if not isinstance(chain, Network) or chain.widths != self.network.widths:
            raise ValueError(f"trained: expected a chain of widths {self.network.widths}")
        rho = finite(rho, "rho")
        wide = self.wide
        if not isinstance(wide, Network):  # an implicit wide network lifts through ImplicitCompression.lift
            raise TypeError(f"wide: expected a dln.Network, got {type(wide).__name__}")
        C = [np.asarray(w, dtype=np.float64) for w in chain._weights]
        W0 = [np.asarray(w, dtype=np.float64) for w in wide._weights]
        L = len(W0)
        V = self.basis
        out = []
        for l in range(L):
            left = V[l + 1] if l < L - 1 else C[-1]
            right = V[l].T if l > 0 else C[0]
            core = C[l + 1]
            if L == 1:
                left, right = C[-1], C[0]
            W = left @ core @ right + (rho / self.scale) * (W0[l] - (W0[l] @ V[l]) @ V[l].T)
            out.append(W.astype(wide.dtype))
        return Network._from_trusted(out, wide.dtype)

    def leakage(self, wide: Network) -> float:
        """How far training of ``wide`` leaves the compressed structure, right now: the part of the
        wide gradient outside the blocks ``U_{l,1} (.) V_{l,1}^T`` and ``U_{l,2} (.) V_{l,2}^T``, relative
        to the whole gradient (0 when the theory is exact; needs the dense wide gradient)."""
        if not isinstance(wide, Network):
            raise TypeError(f"wide: expected a dln.Network, got {type(wide).__name__}")
        if wide.widths != self.wide.widths:
            raise ValueError(f"wide: expected widths {self.wide.widths} (the compressed network's), got {wide.widths}")
        G = self.problem.gradients(wide)
        V = self.basis
        num = den = 0.0
        for l, g in enumerate(G):
            g = np.asarray(g, dtype=np.float64)
            Pu, Pv = V[l + 1] @ V[l + 1].T, V[l] @ V[l].T
            inner = Pu @ g @ Pv
            outer = g - Pu @ g - g @ Pv + inner
            num += float(np.linalg.norm(g - inner - outer)) ** 2
            den += float(np.linalg.norm(g)) ** 2
        return float(np.sqrt(num / den)) if den > 0 else 0.0


def compress(net: Network, problem: Problem, rank: int, outer_lr_scale: float = 0.0,
             method: str = "auto") -> CompressedNetwork:
    """The compressed chain of ``net`` (at init) for ``problem`` with rank guess ``rank``.

    Parameters
    ----------
    net : Network
        Wide network at its (orthogonal) initialisation; each layer must act as ``eps`` times an
        isometry on the subspaces (checked, ValueError naming ``net`` otherwise).
    problem : Factorization, Regression or Completion
    rank : int
        ``r_hat`` in ``[1, min(widths) // 2]``.
    outer_lr_scale : float
        ``gamma >= 0``; 0 freezes the outer factors (exact theory), ``0.01`` lets them rotate
        (needed for completion, SCIENCE.md 3).
    method : see :func:`invariant_subspace`.
    """
    V1 = invariant_subspace(net, problem, rank, method)
    r = check_rank(net, rank)
    gamma = real(outer_lr_scale, "outer_lr_scale")
    if not (np.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"outer_lr_scale: must be finite and >= 0, got {gamma}")
    eps = init_scale(net)
    if eps == 0:
        raise ValueError("net: zero first layer; the compression needs W_l(0) = eps * orthogonal with eps > 0")
    basis = [V1]
    # 1e-8, or 100 rounding units of the weights' dtype: a float32 orthogonal init is an isometry to ~1e-7.
    isometry_tol = max(1e-8, 100 * float(np.finfo(net.dtype).eps))
    for l, w in enumerate(net._weights):
        U = np.asarray(w, dtype=np.float64) @ basis[-1] / eps
        err = np.max(np.abs(U.T @ U - np.eye(2 * r)))
        if not err <= isometry_tol:
            raise ValueError(f"net: layer {l} is not eps * an isometry on the compressed subspace "
                             f"(|U^T U - I| = {err:.2g}); compression needs an orthogonal init")
        basis.append(U)
    L = net.depth
    dt = net.dtype
    chain = [V1.T] + [eps * np.eye(2 * r)] * L + [basis[-1]]
    chain_net = Network._from_trusted([np.ascontiguousarray(c, dtype=dt) for c in chain], dt)
    square = len(set(net.widths)) == 1
    exact = known_target(problem) is not None and square and gamma == 0.0
    return CompressedNetwork(chain_net, r, basis, gamma, net, problem, eps, exact)


# ---------------------------------------------------------------------------------------------------
# Sparse completion: observed entries only

class SparseCompletion(Problem):
    """Masked completion given only its observed entries (never a ``d_out x d_in`` array).

    A :class:`dln.Problem`: :func:`dln.train` and :func:`dln.train_batch` take it like the dense
    problems. Unlike them it is built for one dtype (the network's must match) and for linear
    networks of depth >= 2; the features that need the dense target (checkpoints, SVD tracking,
    :func:`dln.compress` of a dense network, the theory's bases) name ``problem`` and refuse it.

    ``1/2 c sum_{observed (i, j)} ((W_{L:1})_ij - values)^2`` with ``c = 1`` (``sum``) or
    ``1 / (d_out d_in)`` (``mean``, as :class:`dln.Completion`). Trains chains of depth >= 2 at
    O(|observed| k) per step, ``k`` the last hidden width (``2 r`` for a compressed network).

    Parameters
    ----------
    shape : (d_out, d_in)
    rows, cols : integer arrays
        Positions of the observed entries (each at most once).
    values : float array
        ``Phi`` at those positions.
    reduction : {"mean", "sum"}
    dtype : float64 or float32
    """

    def __init__(self, shape: Sequence[int], rows: Any, cols: Any, values: Any, reduction: str = "mean",
                 dtype: Any = np.float64) -> None:
        try:
            dims = tuple(sequence(shape, "shape"))
        except TypeError:
            dims = ()
        if len(dims) != 2:
            raise ValueError(f"shape: expected (d_out, d_in), got {shape!r}")
        d_out, d_in = (integer(s, f"shape[{i}]", minimum=1) for i, s in enumerate(dims))
        self.reduction = choice(reduction, "reduction", ("mean", "sum"))
        self.dtype = as_dtype(dtype)
        # the core keeps row offsets (8 bytes per row) and, per evaluator, a few d_in x 2r buffers
        _memory.require(16.0 * (float(d_out) + float(d_in)), "shape", f"the index of a {d_out} x {d_in} problem")
        idx = []
        for name, a in (("rows", rows), ("cols", cols)):
            arr = array(a, name)
            if arr.dtype.kind not in "iu":
                raise TypeError(f"{name}: expected an integer array, got dtype {arr.dtype}")
            if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:  # would wrap negative
                raise ValueError(f"{name}: entry {int(arr.argmax())} = {int(arr.max())} is outside [0, 2**63)")
            idx.append(np.ascontiguousarray(arr, dtype=np.int64))
        vals = floating_array(values, "values")
        vals = np.ascontiguousarray(vals, dtype=self.dtype)
        self._sparse = self._build(d_out, d_in, idx[0], idx[1], vals)
        # The observed entries, read-only (the implicit path takes its subspace from them; the core keeps
        # its own sorted copy).
        self.rows, self.cols, self.values = (np.array(a, copy=True) for a in (idx[0], idx[1], vals))
        for a in (self.rows, self.cols, self.values):
            a.flags.writeable = False
        self.shape = (d_out, d_in)

    kind = "sparse_completion"
    sparse = True

    def _build(self, d_out: int, d_in: int, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> Any:
        cls = _core.SparseCompletion64 if self.dtype == np.float64 else _core.SparseCompletion32
        return cls(d_out, d_in, rows, cols, values, core_reduction(self.reduction))

    def _core(self, dtype: Any) -> Any:
        """The core problem; only for this problem's own dtype (entries are not converted)."""
        if as_dtype(dtype) != self.dtype:
            raise TypeError(f"net: dtype {as_dtype(dtype)} differs from the problem's {self.dtype}")
        return self._sparse

    def _net_core(self, net: Network) -> Any:
        self._check(net)
        return self._sparse

    @property
    def input_dim(self) -> int:
        return int(self._sparse.input_dim)

    @property
    def output_dim(self) -> int:
        return int(self._sparse.output_dim)

    def products_per_step(self, net: Network) -> int:
        """Dense products per loss + gradient evaluation: forward, backward and gradient of each inner
        layer (the sweep over the observed entries is not a product; :meth:`flops_per_step` counts it)."""
        self._check(net)
        return 3 * max(net.depth - 2, 0)

    def flops_per_step(self, net: Network) -> float:
        """Floating-point operations of one evaluation: the entry sweep and the inner layers' products."""
        self._check(net)
        return float(self._sparse.flops_per_step(net.widths))

    # Pickling (Dask, multiprocessing): the entries and settings; the core is rebuilt on the other side.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_sparse"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for a in (self.rows, self.cols, self.values):
            a.flags.writeable = False
        self._sparse = self._build(self.shape[0], self.shape[1], self.rows, self.cols, self.values)

    def __repr__(self) -> str:
        return (f"SparseCompletion(shape={self.shape}, observed={self.observed}, reduction={self.reduction!r}, "
                f"dtype={self.dtype.name})")

    @classmethod
    def from_completion(cls, problem: Completion, dtype: Any = np.float64) -> "SparseCompletion":
        """The same problem as a dense :class:`dln.Completion` (same loss and gradients to rounding)."""
        if not isinstance(problem, Completion):
            raise TypeError(f"problem: expected a dln.Completion, got {type(problem).__name__}")
        rows, cols = np.nonzero(problem.mask)
        return cls(problem.target.shape, rows, cols, problem.target[rows, cols], problem.reduction, dtype)

    @property
    def scale(self) -> float:
        return float(self._sparse.scale)

    @property
    def observed(self) -> int:
        return int(self._sparse.observed)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the stored entries and their row- and column-sorted indices."""
        return int(self._sparse.memory_bytes)

    def _check(self, net: Network) -> None:
        if not isinstance(net, Network):
            raise TypeError(f"net: expected a dln.Network, got {type(net).__name__}")
        self._core(net.dtype)  # the same dtype
        if net.activation != "linear":  # the sparse residual is computed from the end-to-end product
            raise ValueError(f"net: activation {net.activation!r} is not supported by SparseCompletion, which "
                             f"needs a linear network; use dln.Completion for a non-linear one")
        self._sparse.check_network(net.widths)

    def loss(self, net: Network, n_threads: int = 1) -> float:
        """Loss of ``net`` (problem units), with ``n_threads >= 1`` threads."""
        self._check(net)
        return float(self._sparse.loss(net._weights, integer(n_threads, "n_threads", minimum=1, maximum=4096)))

    def gradients(self, net: Network, n_threads: int = 1) -> list[np.ndarray]:
        """Gradients of the loss with respect to every layer, with ``n_threads >= 1`` threads."""
        self._check(net)
        return list(self._sparse.gradients(net._weights, integer(n_threads, "n_threads", minimum=1, maximum=4096)))

    def train(self, net: Network, lr: float, steps: int, **kwargs: Any) -> Result:
        """Deprecated: ``dln.train(net, problem, lr, steps, ...)`` takes a SparseCompletion (the same run)."""
        warnings.warn("SparseCompletion.train is deprecated: call dln.train(net, problem, lr, steps, ...), "
                      "which takes a SparseCompletion like any other problem", DeprecationWarning, stacklevel=2)
        return self._train(net, lr, steps, **kwargs)

    #: What dln.train and dln.train_batch pass on to a sparse run (the rest they refuse, by name).
    TRAIN_KEYS = ("lr", "steps", "optimizer", "tol", "record_every", "momentum", "betas", "eps", "decay", "lr_scale")

    def _settings(self, net: Network, lr: float, steps: int, optimizer: str = "gd", tol: Optional[float] = None,
                  record_every: int = 1, momentum: float = 0.9, betas: Sequence[float] = (0.9, 0.999),
                  eps: float = 1e-8, decay: float = 0.9, lr_scale: Optional[Sequence[float]] = None) -> Any:
        """The checked settings of a run of ``net`` on this problem (nothing runs): types here, values by
        the core's own checks."""
        self._check(net)
        s = settings(dict(optimizer=optimizer, lr=lr, steps=steps, tol=tol, record_every=record_every,
                          momentum=momentum, betas=betas, eps=eps, decay=decay, lr_scale=lr_scale), net.depth)
        s.optimizer_config().validate(net.depth)
        s.train_options().validate()
        return s

    def _run(self, net: Network, s: Any, threads: int, callback: Any, explain: Any) -> Result:
        """The run of checked settings ``s``; ``callback(done)`` reports progress, ``explain`` words the
        core's message."""
        out = _core.train(self._sparse, net._weights, s.optimizer_config(), s.train_options(threads), callback)
        return Result(status=out.status.name, steps=int(out.steps), loss=out.loss,
                      network=net._like(list(out.weights)),
                      final_loss=float(out.final_loss), seconds=float(out.seconds), message=explain(out.message),
                      optimizer=s.optimizer, lr=s.lr, reduction=self.reduction, record_every=s.record_every,
                      n_threads=int(out.n_threads), form="sparse")

    def _train(self, net: Network, lr: float, steps: int, n_threads: Optional[int] = None, progress: Any = None,
               **kwargs: Any) -> Result:
        """:func:`dln.train` of ``net`` on this problem (what it runs for a SparseCompletion)."""
        s = self._settings(net, lr, steps, **kwargs)
        threads = threads_of(n_threads)
        with Progress(progress, s.steps, "dln.train (sparse)") as bar:
            return self._run(net, s, threads, bar.callback(), bar.explain)


# ---------------------------------------------------------------------------------------------------
# Training compressed, result for the wide network

@dataclasses.dataclass
class CompressedResult:
    """Outcome of :func:`train_compressed`: the wide network's run, computed compressed.

    Attributes
    ----------
    status, steps, seconds, message : as :class:`dln.Result` (of the compressed run)
    loss : ndarray
        Wide loss history (problem units): for the exact case the compressed loss plus the complement's
        ``1/2 c rho(t)^(2L) (d - 2 r_hat)``; otherwise the compressed chain's loss.
    compressed : Result
        The chain's own run (its loss, its network).
    path : str
        ``projected`` (L-layer 2r x 2r problem), ``sparse`` (observed entries only) or ``dense``.
    certificate : float
        Bound on ``||wide end-to-end - compressed end-to-end||_F`` at the end: ``rho^L sqrt(d - 2 r_hat)``
        (equality when :attr:`exact`); the lift adds exactly this term back.
    exact : bool
        Whether the theory makes the lift equal to wide training (to rounding).
    rho : float
        ``rho`` at the end.
    """

    status: str
    steps: int
    loss: np.ndarray
    final_loss: float
    seconds: float
    message: str
    compressed: Result
    compression: CompressedNetwork
    path: str
    certificate: float
    exact: bool
    rho: float
    _lifted: Union[Network, ImplicitNetwork, None] = None

    @property
    def network(self) -> Union[Network, ImplicitNetwork]:
        """The wide network, lifted on first access (every layer, including the rho complement)."""
        if self._lifted is None:
            self._lifted = self.compression.lift(self.compressed.network, self.rho)
        return self._lifted

    @property
    def converged(self) -> bool:
        return self.status == "converged"



def train_compressed(net: Network, problem: Problem, lr: float, steps: int, rank: Any = "auto",
                     outer_lr_scale: Optional[float] = None, optimizer: str = "gd", tol: Optional[float] = None,
                     record_every: int = 1, momentum: float = 0.9, path: str = "auto",
                     n_threads: Optional[int] = None, progress: Any = None) -> CompressedResult:
    """Train the wide ``net`` through its compressed equivalent; see :class:`CompressedResult`.

    Parameters
    ----------
    rank : int or "auto"
        ``r_hat``; ``auto`` takes the numerical rank of the target (factorisation/whitened regression
        only; completion needs a guess).
    outer_lr_scale : float, optional
        ``gamma``; default 0 for known targets, 0.01 for completion and non-whitened regression.
    path : {"auto", "projected", "sparse", "dense"}
        ``projected``: known target, frozen outer factors, GD or momentum: the target is projected once
        to ``U_{L,1}^T Phi V_{1,1}`` and each step is an L-layer 2r x 2r problem (independent of d).
        ``sparse``: completion, residual at observed entries only. ``dense``: the chain on the problem.
    lr, steps, optimizer, tol, record_every, momentum, n_threads, progress : as :func:`dln.train`
        (``tol`` applies to the wide loss in the projected path, to the chain's loss otherwise).
    """
    if isinstance(net, Network):
        net._require_linear("net", "compressed training")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem: expected a dln problem, got {type(problem).__name__}")
    refuse_sparse(problem, "compressed training of a dense network")
    phi = known_target(problem)
    if isinstance(rank, str):
        if rank != "auto":
            raise ValueError(f"rank: expected an integer or 'auto', got {rank!r}")
        if phi is None:
            raise ValueError("rank: 'auto' needs a known target (factorisation or whitened regression); "
                             "give a rank guess for completion or general regression")
        rank = max(1, numerical_rank(phi))
    gamma = outer_lr_scale if outer_lr_scale is not None else (0.0 if phi is not None else 0.01)
    comp = compress(net, problem, rank, gamma)
    optimizer = choice(optimizer, "optimizer", OPTIMIZERS)
    path = choice(path, "path", ("auto", "projected", "sparse", "dense"))
    steps = integer(steps, "steps", minimum=0)
    record_every = integer(record_every, "record_every", minimum=1)
    if path == "auto":
        if phi is not None and comp.outer_lr_scale == 0 and optimizer in ("gd", "momentum"):
            path = "projected"
        elif isinstance(problem, Completion):
            path = "sparse"
        else:
            path = "dense"
    L = net.depth
    c = problem.scale
    kw = dict(optimizer=optimizer, record_every=record_every, momentum=momentum, n_threads=n_threads,
              progress=progress)
    exact = comp.exact and optimizer in ("gd", "momentum")
    m = comp.complement_dim
    if path == "projected":
        if phi is None or comp.outer_lr_scale != 0:
            raise ValueError("path: 'projected' needs a known target and outer_lr_scale = 0")
        U, V = comp.basis[-1], comp.basis[0]
        phi_c = U.T @ phi @ V
        # Loss outside the compressed block, constant: ||Phi - P_U Phi P_V||^2 directly (Pythagoras
        # without cancellation), plus ||Y||^2 - ||Phi||^2 for whitened regression.
        const = 0.5 * c * np.sum((phi - U @ phi_c @ V.T) ** 2)
        if isinstance(problem, Regression):
            const += 0.5 * c * (np.sum(np.asarray(problem.Y, dtype=np.float64) ** 2) - np.sum(phi ** 2))
        compressed = train_projected(comp.network, phi_c, const, c, lr, steps, tol, problem.reduction, **kw)
    elif path == "sparse":
        if not isinstance(problem, Completion):
            raise ValueError("path: 'sparse' needs a Completion problem")
        sp = SparseCompletion.from_completion(problem, net.dtype)
        compressed = sp._train(comp.network, lr, steps, tol=tol, lr_scale=comp.lr_scale, **kw)
    else:
        compressed = train_plain(comp.network, problem, lr, steps, tol=tol, lr_scale=comp.lr_scale, **kw)

    rhos = comp.rho(lr, compressed.steps, optimizer if optimizer in ("gd", "momentum") else "gd", momentum)
    return compressed_result(compressed, comp, rhos, c, L, m, record_every, exact, path)


def train_projected(chain: Network, phi_c: np.ndarray, const: float, c: float, lr: float, steps: int,
                    tol: Optional[float], reduction: str, **kw: Any) -> Result:
    """The exact compressed chain trained on its projected target (the outer factors fixed).

    ``phi_c = U^T Phi V`` is the target inside the compressed block and ``const`` the loss outside it
    (problem units, ``c`` the problem's reduction factor). Only the inner layers train, on a
    ``2r x 2r`` summed factorisation at ``lr * c``; the result is in the wide problem's units (the
    chain's losses ``c * loss + const``) with the fixed outer factors put back.
    """
    dt = chain.dtype
    small = Factorization(np.ascontiguousarray(phi_c, dtype=dt), reduction="sum")
    inner = Network._from_trusted([w.copy() for w in chain._weights[1:-1]], dt)
    # The wide loss adds the complement's 1/2 c rho^2L m, which only decreases; the caller reports the
    # exact wide loss (with_complement) whatever this stopping rule saw.
    small_tol = None if tol is None else max((real(tol, "tol") - const) / c, 0.0)
    res = train_plain(inner, small, lr * c, steps, tol=small_tol, **kw)
    outer = chain._weights
    full = Network._from_trusted([outer[0]] + list(res.network._weights) + [outer[-1]], dt)
    return dataclasses.replace(res, loss=c * np.asarray(res.loss) + const, network=full,
                               final_loss=float(c * res.final_loss + const), lr=float(lr), reduction=reduction,
                               form="projected")


def compressed_result(compressed: Result, comp: Any, rhos: np.ndarray, c: float, L: int, m: int,
                      record_every: int, exact: bool, path: str) -> "CompressedResult":
    """The wide view of a trained compressed chain ``compressed`` of compression ``comp``.

    Exact parsimony: the complement adds ``rho^L U_{L,2} V_{1,2}^T``, orthogonal to the compressed
    residual, so each loss gains ``1/2 c rho(t)^2L m`` (``rhos`` per step, ``m`` the complement's
    dimension); the final loss uses the last step's rho whether or not that step was a record.
    Otherwise the chain's own losses. The certificate is ``rho^L sqrt(m)``.
    """
    rho_end = float(rhos[-1])
    loss = np.asarray(compressed.loss)
    final = float(compressed.final_loss)
    if exact:
        loss = loss + 0.5 * c * rhos[::record_every][: len(loss)] ** (2 * L) * m
        final += 0.5 * c * rho_end ** (2 * L) * m
    return CompressedResult(status=compressed.status, steps=compressed.steps, loss=loss, final_loss=final,
                            seconds=compressed.seconds, message=compressed.message, compressed=compressed,
                            compression=comp, path=path, certificate=float(rho_end ** L * np.sqrt(max(m, 0))),
                            exact=exact, rho=rho_end)


# ---------------------------------------------------------------------------------------------------
# Post-hoc compression of a trained wide network

@dataclasses.dataclass(frozen=True)
class PostHocCompression:
    """A trained wide network split into its moving part and the rest.

    Attributes
    ----------
    network : Network
        The chain ``[V_1^T, Wt_1, ..., Wt_L, U_L]`` with ``Wt_l = U_l^T W_l V_l`` (``V_{l+1} = U_l``).
    basis : list of ndarray
        ``V_1, ..., V_L, U_L`` (``2 r_hat`` orthonormal columns each).
    outside : ndarray
        Per layer ``||W_l - P_{U_l} W_l P_{V_l} - P_{U_l}^perp W_l P_{V_l}^perp||_F / ||W_l||_F``: the
        part of each layer coupling the subspaces with their complements (0 for exact parsimony).
    bulk_spread : ndarray
        Per layer, relative spread ``(max - min) / max`` of the complement's singular values (0 when
        they all equal ``rho``).
    """

    network: Network
    basis: list
    outside: np.ndarray
    bulk_spread: np.ndarray


def compress_trained(net: Network, rank: int) -> PostHocCompression:
    """Extract the moving subspaces of a trained wide network from its weights.

    Each layer is ``rho Q + (rank <= 2 r)`` under parsimony: its ``2 rank`` singular values farthest
    from the bulk value (the median) are the moving ones. ``V_1`` is taken from the first layer's
    right singular vectors, then ``U_l`` from each layer's left ones and ``V_{l+1} = U_l``.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net: expected a dln.Network, got {type(net).__name__}")
    net._require_linear("net", "post-hoc compression")
    r = check_rank(net, rank)
    W = [np.asarray(w, dtype=np.float64) for w in net._weights]

    def moving(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        U, s, Vt = np.linalg.svd(w, full_matrices=False)
        pick = np.sort(np.argsort(-np.abs(s - np.median(s)), kind="stable")[: 2 * r])
        return U[:, pick], Vt[pick].T

    basis = [moving(W[0])[1]]
    cores, outside, spread = [], [], []
    for w in W:
        V = basis[-1]
        U = moving(w)[0]
        core = U.T @ w @ V
        inner = U @ core @ V.T
        rest = w - U @ (U.T @ w) - (w @ V) @ V.T + inner
        outside.append(np.linalg.norm(w - inner - rest) / np.linalg.norm(w))
        sv = np.linalg.svd(rest, compute_uv=False)[: max(min(w.shape) - 2 * r, 0)]
        spread.append(float((sv.max() - sv.min()) / sv.max()) if sv.size and sv.max() > 0 else 0.0)
        cores.append(core)
        basis.append(U)
    chain = [basis[0].T] + cores + [basis[-1]]
    chain_net = Network._from_trusted([np.ascontiguousarray(c, dtype=net.dtype) for c in chain], net.dtype)
    return PostHocCompression(chain_net, basis, np.array(outside), np.array(spread))

