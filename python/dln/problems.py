"""The training problems: factorisation, regression and masked completion.

Loss ``1/2 c ||R||_F^2`` with residual ``R = W_{L:1} - Phi`` (factorisation), ``W_{L:1} X - Y``
(regression) or ``M * (W_{L:1} - Phi)`` (completion), and ``c = 1`` for ``reduction="sum"`` or one over
the number of residual entries for ``reduction="mean"`` (the published experiments' unit:
``d_out * N`` for regression, ``d_out * d_in`` for factorisation and completion, observed or not).
A step size ``lr`` under ``mean`` equals ``lr * c`` under ``sum``.

For a network with a non-linear activation, ``W_{L:1} X`` stands for its output ``H_L`` for the inputs
``X``, with ``X = I`` for factorisation and completion; regression then always goes through the data
(the ``data`` form: ``X X^T`` cannot carry a non-linearity).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core, _memory
from ._checks import array, as_dtype, cast, choice, common_dtype, floating_array, integer, matrix
from ._tall import orthonormal
from .network import Network

REDUCTIONS = ("mean", "sum")


class Problem:
    """Base class of the problems; build one with :class:`Factorization`, :class:`Regression` or
    :class:`Completion`. Problem data is converted to the network's dtype when needed (once per dtype,
    cached); C-contiguous data of the right dtype is used without a copy."""

    kind: str = ""
    #: True for a problem given by its observed entries only (:class:`dln.SparseCompletion`): it has no
    #: dense target, so what needs one (checkpoints, SVD tracking, compressing a dense network, the
    #: theory's bases) refuses it, naming ``problem``.
    sparse: bool = False

    def __init__(self, arrays: dict[str, np.ndarray], reduction: str) -> None:
        self.reduction = choice(reduction, "reduction", REDUCTIONS)
        self._arrays = arrays
        self._cores: dict[np.dtype, Any] = {}
        self._core(common_dtype(*arrays.values()))  # validates the data now, before any training

    def _make(self, dtype: np.dtype, arrays: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def _core(self, dtype: Any) -> Any:
        dt = as_dtype(dtype)
        core = self._cores.get(dt)
        if core is None:
            converted = {k: matrix(v, k, dt) for k, v in self._arrays.items()}
            core = self._make(dt, converted)
            self._cores[dt] = core
        return core

    def _net_core(self, net: Network) -> Any:
        if not isinstance(net, Network):
            raise TypeError(f"net: expected a dln.Network, got {type(net).__name__}")
        core = self._core(net.dtype)
        core.check_network(net.widths)
        core.check_activation(net._act)
        return core

    @property
    def input_dim(self) -> int:
        return int(next(iter(self._cores.values())).input_dim)

    @property
    def output_dim(self) -> int:
        return int(next(iter(self._cores.values())).output_dim)

    @property
    def scale(self) -> float:
        """The reduction factor ``c`` (1 for ``sum``)."""
        return float(next(iter(self._cores.values())).scale)

    def loss(self, net: Network) -> float:
        """Loss of ``net`` on this problem (in the problem's reduction units)."""
        return float(self._net_core(net).loss(net._weights, net._act))

    def gradients(self, net: Network) -> list[np.ndarray]:
        """Gradients of the loss with respect to every layer (reduction factor included)."""
        return list(self._net_core(net).gradients(net._weights, net._act))

    def products_per_step(self, net: Network) -> int:
        """Matrix products per loss + gradient evaluation for this network."""
        return int(self._net_core(net).products_per_step(net.widths))

    def flops_per_step(self, net: Network) -> float:
        """Floating-point operations of those products."""
        return float(self._net_core(net).flops_per_step(net.widths))

    # Pickling (Dask, multiprocessing) keeps the data and settings; the C++ problems are rebuilt, from
    # the same arrays, on the receiving side.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_cores"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cores = {}
        self._core(common_dtype(*self._arrays.values()))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self._arrays.items())
        return f"{type(self).__name__}({shapes}, reduction={self.reduction!r})"


def refuse_sparse(problem: Problem, what: str) -> None:
    """ValueError naming ``problem`` when it is a sparse one and ``what`` needs the dense target."""
    if problem.sparse:
        raise ValueError(f"problem: {what} needs a dense problem; a dln.SparseCompletion has only its observed "
                         f"entries (build a dln.Completion for it)")


def _core_class(dtype: np.dtype) -> Any:
    return _core.Problem64 if dtype == np.float64 else _core.Problem32


def core_reduction(name: str) -> Any:
    """The bound enum member for a validated reduction name (``"mean"`` or ``"sum"``)."""
    return _core.Reduction.__members__[name]


class Factorization(Problem):
    """Deep matrix factorisation: ``1/2 c ||W_{L:1} - Phi||_F^2``.

    Parameters
    ----------
    target : array, shape (d_out, d_in)
        ``Phi``.
    reduction : {"mean", "sum"}
        ``mean`` divides by ``d_out * d_in``.
    """

    kind = "factorization"

    def __init__(self, target: Any, reduction: str = "mean") -> None:
        super().__init__({"target": _data(target, "target")}, reduction)

    def _make(self, dtype, a):
        return _core_class(dtype).factorization(a["target"], core_reduction(self.reduction))

    @property
    def target(self) -> np.ndarray:
        return self._arrays["target"]

    @classmethod
    def from_factors(cls, U: Any, s: Any, V: Any, reduction: str = "mean") -> "LowRankFactorization":
        """The factorisation of a rank-``k`` target ``Phi = U diag(s) V^T`` kept as its factors.

        See :class:`LowRankFactorization`: with an implicit network (:class:`dln.ImplicitNetwork`) the
        ``d_out x d_in`` target is never formed; with a dense :class:`Network` it is formed once, on
        first use, and the problem is an ordinary :class:`Factorization`.

        Parameters
        ----------
        U : array, shape (d_out, k)
        s : array, shape (k,)
        V : array, shape (d_in, k)
            Any factors (an SVD, or ``U = Y, s = 1, V = X`` for ``Y X^T``); they need not be orthonormal.
        reduction : {"mean", "sum"}
            ``mean`` divides by ``d_out * d_in``, as for :class:`Factorization`.
        """
        return LowRankFactorization(U, s, V, reduction)


class LowRankFactorization(Factorization):
    """Deep matrix factorisation with a target given by factors, ``Phi = U diag(s) V^T`` (rank <= k).

    Build it with :meth:`Factorization.from_factors`. It holds O((d_out + d_in) k) numbers. With an
    implicit network the loss is evaluated in closed form (``loss``) and training goes through the
    compressed chain (:func:`dln.implicit.train_implicit`), both in O((d_out + d_in) k^2) per use; with
    a dense :class:`Network` the target is formed on first use (MemoryError naming the GiB when it does
    not fit) and everything works as for :class:`Factorization`.
    """

    def __init__(self, U: Any, s: Any, V: Any, reduction: str = "mean") -> None:
        self.reduction = choice(reduction, "reduction", REDUCTIONS)
        u, v = _data(U, "U"), _data(V, "V")
        sv = floating_array(s, "s")
        if sv.ndim != 1:
            raise ValueError(f"s: expected a 1-D array of k = {u.shape[1]} values, got shape {sv.shape}")
        if u.shape[1] != sv.shape[0] or v.shape[1] != sv.shape[0]:
            raise ValueError(f"s: U {u.shape}, s {sv.shape} and V {v.shape} must share k (U and V have k columns, "
                             f"s has k entries)")
        for name, a in (("U", u), ("s", sv), ("V", v)):
            if not np.isfinite(a).all():
                raise ValueError(f"{name}: contains NaN or Inf")
        self._dtype = common_dtype(u, sv, v)
        self._factors = tuple(np.ascontiguousarray(a, dtype=np.float64) for a in (u, sv, v))
        self._arrays: dict[str, np.ndarray] = {}  # the dense target, formed on first dense use
        self._cores = {}

    @property
    def factors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(U, s, V)`` in float64 (copies)."""
        return tuple(a.copy() for a in self._factors)  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int]:
        """``(d_out, d_in)``."""
        return int(self._factors[0].shape[0]), int(self._factors[2].shape[0])

    @property
    def input_dim(self) -> int:
        return self.shape[1]

    @property
    def output_dim(self) -> int:
        return self.shape[0]

    @property
    def scale(self) -> float:
        d_out, d_in = self.shape
        return 1.0 if self.reduction == "sum" else 1.0 / (float(d_out) * float(d_in))

    @property
    def target(self) -> np.ndarray:
        """The dense ``Phi`` (formed once; MemoryError naming the GiB when it does not fit)."""
        t = self._arrays.get("target")
        if t is None:
            d_out, d_in = self.shape
            _memory.require(2.0 * d_out * d_in * 8.0, "target",
                            f"the dense {d_out} x {d_in} target of a factored problem")
            U, s, V = self._factors
            t = np.ascontiguousarray((U * s) @ V.T, dtype=self._dtype)
            self._arrays["target"] = t
        return t

    def _core(self, dtype: Any) -> Any:
        self.target  # noqa: B018 - a dense network needs the dense target
        return super()._core(dtype)

    def svd(self, tol: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD of ``Phi`` from the factors, O((d_out + d_in) k^2): ``(U_Phi, sigma, V_Phi)``.

        ``U_Phi`` is ``d_out x rank``, ``V_Phi`` is ``d_in x rank`` (orthonormal columns), ``sigma``
        descending; singular values at or below ``tol`` (default ``sigma_1 * max(d_out, d_in) * 10
        * float64 eps``, as the dense rank estimate) are dropped.
        """

        U, s, V = self._factors
        Qa, Ra = orthonormal(U * s)
        Qb, Rb = orthonormal(V)
        Uc, sc, Vct = np.linalg.svd(Ra @ Rb.T)
        if tol is None:
            tol = sc[0] * max(self.shape) * np.finfo(np.float64).eps * 10 if sc.size else 0.0
        keep = int(np.sum(sc > tol)) if sc.size and sc[0] > 0 else 0
        return Qa @ Uc[:, :keep], sc[:keep], Qb @ Vct[:keep].T

    def loss(self, net: Any) -> float:
        """Loss of ``net``: dense for a :class:`Network`, in closed form for an implicit network."""
        if isinstance(net, Network):
            return super().loss(net)
        closed = getattr(net, "_factorization_loss", None)  # dln.ImplicitNetwork (which builds on this module)
        if closed is None:
            raise TypeError(f"net: expected a dln.Network or dln.ImplicitNetwork, got {type(net).__name__}")
        return float(closed(self._factors, self.scale))

    def gradients(self, net: Any) -> list[np.ndarray]:
        if not isinstance(net, Network):
            raise TypeError(f"net: the gradients of a {type(net).__name__} would be dense d x d arrays; train it "
                            f"with dln.train(..., compress=...), which needs only the compressed chain's")
        return super().gradients(net)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_cores", "_arrays")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cores = {}
        self._arrays = {}

    def __repr__(self) -> str:
        return f"LowRankFactorization(shape={self.shape}, k={self._factors[1].shape[0]}, reduction={self.reduction!r})"


class Completion(Problem):
    """Masked matrix completion: ``1/2 c ||M * (W_{L:1} - Phi)||_F^2``.

    Parameters
    ----------
    target : array, shape (d_out, d_in)
    mask : array of bool or 0/1, same shape
        Observed entries.
    reduction : {"mean", "sum"}
        ``mean`` divides by all ``d_out * d_in`` entries, observed or not (as the published code does).
    """

    kind = "completion"

    def __init__(self, target: Any, mask: Any, reduction: str = "mean") -> None:
        t = _data(target, "target")
        m = array(mask, "mask")
        if m.dtype.kind not in "biuf":
            raise TypeError(f"mask: expected a bool or 0/1 numeric array, got dtype {m.dtype}")
        if m.shape != t.shape:
            raise ValueError(f"mask: shape {m.shape} differs from the target's {t.shape}")
        # the 0/1 check and the conversion below each make a full-size temporary
        _memory.require(2.0 * m.size * 8.0, "mask", f"checking and converting a mask of shape {m.shape}")
        if m.dtype.kind != "b" and not np.isin(m, (0, 1)).all():
            raise ValueError("mask: entries must be 0 or 1 (or a bool array)")
        m = m.astype(t.dtype if t.dtype.kind == "f" else np.float64, copy=False)
        super().__init__({"target": t, "mask": m}, reduction)

    def _make(self, dtype, a):
        return _core_class(dtype).completion(a["target"], a["mask"], core_reduction(self.reduction))

    @property
    def target(self) -> np.ndarray:
        return self._arrays["target"]

    @property
    def mask(self) -> np.ndarray:
        return self._arrays["mask"] != 0


class Regression(Problem):
    """Regression: ``1/2 c ||W_{L:1} X - Y||_F^2``.

    Parameters
    ----------
    X : array, shape (d_in, N)
        Inputs as columns.
    Y : array, shape (d_out, N)
        Targets as columns.
    reduction : {"mean", "sum"}
        ``mean`` divides by ``d_out * N``.
    form : {"auto", "covariance", "data"}
        How gradients are computed. ``covariance`` precomputes ``X X^T`` and ``Y X^T`` (3L-2 products
        per step on d_in columns; the loss then carries a cancellation error of about
        ``eps * ||Y||^2``); ``data`` goes through the samples (3L-1 products on N columns, loss exact);
        ``auto`` picks the one with fewer flops for the network being trained.
    """

    kind = "regression"

    def __init__(self, X: Any, Y: Any, reduction: str = "mean", form: str = "auto") -> None:
        self.form = choice(form, "form", ("auto", "covariance", "data"))
        x, y = _data(X, "X"), _data(Y, "Y")
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"Y: shape {y.shape} has {y.shape[1]} samples (columns) but X of shape {x.shape} "
                             f"has {x.shape[1]}")
        if self.form == "covariance" or (self.form == "auto" and x.shape[1] > x.shape[0]):
            # X X^T and Y X^T, precomputed once (in float64 at most)
            _memory.require((float(x.shape[0]) + float(y.shape[0])) * float(x.shape[0]) * 8.0, "X",
                            f"the covariance form's X X^T and Y X^T for d_in = {x.shape[0]}")
        super().__init__({"X": x, "Y": y}, reduction)

    def _make(self, dtype, a):
        return _core_class(dtype).regression(a["X"], a["Y"], core_reduction(self.reduction),
                                            _core.RegressionForm.__members__[self.form])

    def form_for(self, net: Network) -> str:
        """The form ``auto`` resolves to for this network (``data`` for a non-linear network)."""
        core = self._net_core(net)
        return "data" if net.activation != "linear" else core.form_for(net.widths).name

    @property
    def X(self) -> np.ndarray:
        return self._arrays["X"]

    @property
    def Y(self) -> np.ndarray:
        return self._arrays["Y"]


def _data(a: Any, name: str) -> np.ndarray:
    arr = floating_array(a, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got ndim={arr.ndim} with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array of shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):  # float16, long double, non-native byte order
        arr = cast(arr, name, np.dtype(np.float64))
    return arr


def low_rank_target(d_out: int, d_in: int, rank: int, seed: int = 0) -> np.ndarray:
    """Rank-``rank`` truncated SVD of a ``d_out x d_in`` standard Gaussian matrix (the published targets).

    ``0 <= rank <= min(d_out, d_in)``; a bad size or seed raises ValueError/TypeError naming it, and
    a target too large for the memory MemoryError naming ``d_out``, before anything is drawn."""
    d_out = integer(d_out, "d_out", minimum=1)
    d_in = integer(d_in, "d_in", minimum=1)
    rank = integer(rank, "rank", minimum=0, maximum=min(d_out, d_in))
    seed = integer(seed, "seed", minimum=0)
    # the Gaussian matrix, its thin SVD (LAPACK's copy and workspace included) and the product
    _memory.require(8.0 * (3.0 * d_out * d_in + float(d_out + d_in) * min(d_out, d_in)), "d_out",
                    f"a {d_out} x {d_in} target")
    g = np.random.default_rng(seed).standard_normal((d_out, d_in))
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]
