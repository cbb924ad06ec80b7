"""Implicit wide networks: width 10^5 - 10^6 trained exactly, never forming a ``d x d`` array.

A deep linear network from orthogonal init, ``W_l(0) = eps Q_l``, trained by gradient descent on a
rank-``r`` problem moves only a ``2r``-dimensional subspace of each layer (SCIENCE.md 2-3): at every
step

    W_l(t) = U_{l,1} C_l(t) V_{l,1}^T + (rho(t) / eps) W_l(0) (I - V_{l,1} V_{l,1}^T),

with ``V_{l+1,1} = U_{l,1} = Q_l V_{l,1}``, ``C_l`` the ``2r x 2r`` layers of the compressed chain and
``rho`` a scalar recursion. So the wide network never needs to exist as arrays: each layer is stored as
an orthogonal *operator* ``Q_l`` (O(d) numbers) plus a low-rank term, and training is the chain's.

The operator
------------
``Q = D_2 C D_1`` (``N x N``), with ``D_1, D_2`` diagonal matrices of independent uniform random signs
and ``C`` the orthonormal DCT-II (the real orthogonal cosine transform, applied through a length-``N``
real FFT, O(N log N) per vector; ``C^T`` is the DCT-III). A layer of shape ``(m, n)`` is the top-left
``m x n`` block of the ``max(m, n)`` operator, as the dense init takes the block of a square Haar matrix.
Memory: two sign vectors per layer (16 N bytes). ``Q`` is orthogonal to rounding (~1e-15).

Its distribution is not Haar (it is a discrete family of ``4^N`` matrices). Why that does not matter:

- The law of parsimony and the lift above are identities that hold for *every* orthogonal ``Q_l``
  (the proof uses only ``Q_l^T Q_l = I``), so the implicit run is exactly the wide run from the
  init ``eps Q_l``, and the certificate ``rho^L sqrt(d - 2r)`` holds as for a Haar init.
- The trajectory depends on the ``Q_l`` only through the frames ``U_{l,1} = Q_l V_{l,1}``, i.e. through
  the ``2r x 2r`` compressed target ``U_{L,1}^T Phi V_{1,1}``, which is fixed by the ``r x r`` overlap
  ``K = U_Phi^T Q_{L:1} V_Phi`` of the target's singular frames with the init's end-to-end map. For
  any fixed unit vectors ``u, v`` (the target is independent of the init), ``u^T D_2 C D_1 v`` has mean
  0 and variance ``sum_i u_i^2 (C D_1 v)_i^2 <= max_ij C_ij^2 = 2/N``, as for Haar (``1/N``): the cosine
  transform spreads every vector (``|C_ij| <= sqrt(2/N)``) and the outer signs make the overlap a
  random sum. So ``K = O(sqrt(r/d))`` whatever the target, as with a Haar init; a product of a few
  random Householder reflections (cheaper) would leave ``K = O(1)`` for coordinate-aligned targets.
- ``dense()`` gives the explicit matrices of the *same* operator, so comparisons with the dense
  engine (tests) are exact comparisons of one trajectory, not of two draws.

Completion
----------
For masked completion the subspace is taken from the observations, as Kwon et al. do: at
``t = 0`` the first-layer gradient is ``c W_{L:2}(0)^T M*(W_{L:1}(0) - Phi)``, which is
``-c eps^(L-1) Q_{L:2}^T P_Omega(Phi)`` up to the init term ``eps^L M*Q_{L:1}`` (relative size
``eps^L``). Its top-``r`` singular pairs are therefore those of the sparse observed matrix
``P_Omega(Phi)`` (right) and ``Q_{L:2}^T`` times them (left), and the dense path's
``V_{1,1} = orth([V_G, W_1(0)^T U_G])`` becomes ``orth([V_Omega, Q_{L:1}^T U_Omega])``: equal to the dense
path's choice where the init term is negligible (``eps^L`` far below the gap of ``P_Omega(Phi)``'s
spectrum). ``U_Omega, V_Omega`` come from a seeded block subspace iteration with Rayleigh-Ritz steps
(NumPy; sparse products by SciPy when it is installed, by NumPy otherwise), stopped when the Ritz
residuals reach ~1e-14 of ``sigma_1`` or stop decreasing.

Public API: :class:`ImplicitNetwork`, :class:`OrthogonalOperator`, :func:`is_implicit`; the training
(:func:`dln.training.implicit.train_implicit`, what ``dln.train`` calls for an implicit network) lives
above this module, in :mod:`dln.training.implicit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import _memory
from . import network as _network
from ._checks import (
    as_dtype,
    floating_array,
    integer,
    matrix,
    real,
    sequence,
)
from .network import Network

if TYPE_CHECKING:
    from typing import TypeGuard  # Python >= 3.10; annotations only (this module runs on 3.9)

__all__ = ["ImplicitNetwork", "OrthogonalOperator", "is_implicit"]


# ---------------------------------------------------------------------------------------------------
# The orthogonal operator

def _dct(x: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-II along axis 0 of ``x`` (N x k, float64), by one real FFT of length N
    (Makhoul's even-odd reordering)."""
    N = x.shape[0]
    h0 = (N + 1) // 2
    v = np.empty_like(x)
    v[:h0] = x[0::2]
    v[h0:] = x[1::2][::-1]
    V = np.fft.rfft(v, axis=0)  # k = 0 .. N // 2
    h = V.shape[0]
    theta = (0.5 * np.pi / N) * np.arange(N)
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    y = np.empty_like(x)
    # y_k = Re(exp(-i theta_k) V_k); for k > N/2, V_k = conj(V_{N-k}) (v is real)
    y[:h] = c[:h] * V.real + s[:h] * V.imag
    if N > h:
        W = V[N - h:0:-1]
        y[h:] = c[h:] * W.real - s[h:] * W.imag
    y *= np.sqrt(2.0 / N)
    y[0] *= np.sqrt(0.5)
    return y


def _idct(y: np.ndarray) -> np.ndarray:
    """Inverse (= transpose) of :func:`_dct`: the orthonormal DCT-III along axis 0."""
    N = y.shape[0]
    h = N // 2 + 1
    z = y[:h] * np.sqrt(0.5 * N)
    z[0] *= np.sqrt(2.0)
    zr = np.zeros_like(z)  # z_{N-k}, with z_N = 0
    if h > 1:
        zr[1:] = y[N - 1:N - h:-1] * np.sqrt(0.5 * N)
    theta = (0.5 * np.pi / N) * np.arange(h)
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    V = np.empty(z.shape, dtype=np.complex128)
    V.real = c * z + s * zr  # exp(i theta_k) (z_k - i z_{N-k})
    V.imag = s * z - c * zr
    v = np.fft.irfft(V, n=N, axis=0)
    x = np.empty_like(y)
    h0 = (N + 1) // 2
    x[0::2] = v[:h0]
    x[1::2] = v[h0:][::-1]
    return x


class OrthogonalOperator:
    """``Q = D_2 C D_1``: an exactly orthogonal ``N x N`` operator in O(N) memory (module docstring).

    Parameters
    ----------
    size : int
        ``N >= 1``.
    seed : int or numpy.random.SeedSequence
        Fixes the two sign vectors.
    """

    __slots__ = ("_d1", "_d2", "size")

    def __init__(self, size: int, seed: Any = 0) -> None:
        self.size = integer(size, "size", minimum=1)
        rng = np.random.default_rng(seed)
        self._d1 = rng.integers(0, 2, self.size).astype(np.float64) * 2.0 - 1.0
        self._d2 = rng.integers(0, 2, self.size).astype(np.float64) * 2.0 - 1.0

    def apply(self, X: np.ndarray) -> np.ndarray:
        """``Q X`` for a float64 block ``X`` of shape (N, k)."""
        return self._d2[:, None] * _dct(self._d1[:, None] * X)

    def apply_transpose(self, Y: np.ndarray) -> np.ndarray:
        """``Q^T Y`` for a float64 block ``Y`` of shape (N, k)."""
        return self._d1[:, None] * _idct(self._d2[:, None] * Y)

    @property
    def nbytes(self) -> int:
        return int(self._d1.nbytes + self._d2.nbytes)

    def __repr__(self) -> str:
        return f"OrthogonalOperator(size={self.size})"


# ---------------------------------------------------------------------------------------------------
# The implicit network

def is_implicit(net: Any) -> TypeGuard[ImplicitNetwork]:
    """Whether ``net`` is a :class:`ImplicitNetwork` (for the dispatch in ``dln.train``)."""
    return isinstance(net, ImplicitNetwork)


def _block(X: Any, name: str, rows: int) -> tuple[np.ndarray, bool]:
    """``X`` as a float64 (rows, k) block, and whether it was 1-D."""
    arr = floating_array(X, name)
    vector = arr.ndim == 1
    if vector:
        arr = arr[:, None]
    x = matrix(arr, name, np.dtype(np.float64))
    if x.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows, got shape {np.shape(X)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return x, vector


class ImplicitNetwork:
    """A deep linear network whose layers are ``W_l = a_l Q_l + F_l K_l G_l^T``, never stored densely.

    ``Q_l`` is the top-left ``(widths[l+1], widths[l])`` block of an :class:`OrthogonalOperator`,
    ``a_l`` a scalar and ``F_l K_l G_l^T`` an optional low-rank term (absent at init; the lift of a
    compressed run has one of rank ``<= 2r``). Build one with :meth:`orthogonal` (also
    ``dln.Network.orthogonal(..., implicit=True)``) and train it with ``dln.train(..., compress=...)``
    (:func:`train_implicit`). Immutable. Float64 by default; float32 networks compute in float64 and
    return float32.
    """

    __slots__ = ("_a", "_dtype", "_low", "_ops", "_shapes")
    _ops: list
    _shapes: list
    _a: list
    _low: list
    _dtype: np.dtype

    @classmethod
    def orthogonal(cls, widths: Sequence[int], scale: float = 1.0, seed: int = 0,
                   dtype: Any = np.float64) -> ImplicitNetwork:
        """``W_l = scale * Q_l`` (see the module docstring for the distribution of ``Q_l``).

        Parameters
        ----------
        widths : sequence of int
            ``[d_in, n_1, ..., d_out]``, each ``>= 1``; ``len(widths) - 1`` layers.
        scale : float
            ``eps``, finite and ``>= 0``.
        seed : int
            ``0 <= seed < 2**64``; layer ``l`` draws from ``SeedSequence(seed, spawn_key=(l,))``. (A
            different stream and distribution from the dense ``Network.orthogonal``.)
        dtype : float64 or float32
        """
        dt = as_dtype(dtype)
        try:
            sequence(widths, "widths")
        except TypeError:
            raise TypeError(f"widths: expected a sequence of integers [d_in, ..., d_out], got {widths!r}") from None
        ws = [integer(w, f"widths[{i}]", minimum=1, maximum=2**40) for i, w in enumerate(widths)]
        if len(ws) < 2:
            raise ValueError(f"widths: a network needs at least two widths [d_in, d_out], got {ws}")
        scale = real(scale, "scale")
        if not (np.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale: must be finite and >= 0, got {scale}")
        seed = integer(seed, "seed", minimum=0, maximum=2**64 - 1)
        sizes = [max(ws[l], ws[l + 1]) for l in range(len(ws) - 1)]
        _memory.require(16.0 * sum(float(n) for n in sizes), "widths", f"the sign vectors of widths {ws}")
        ops = [OrthogonalOperator(n, np.random.SeedSequence(seed, spawn_key=(l,))) for l, n in enumerate(sizes)]
        shapes = [(ws[l + 1], ws[l]) for l in range(len(ws) - 1)]
        return cls._from_parts(ops, shapes, [scale] * len(shapes), [None] * len(shapes), dt)

    @classmethod
    def _from_parts(cls, ops: list, shapes: list, a: list, low: list, dtype: np.dtype) -> ImplicitNetwork:
        net = cls.__new__(cls)
        net._ops, net._shapes, net._a, net._low, net._dtype = list(ops), list(shapes), [float(x) for x in a], \
            list(low), dtype
        for part in net._low:
            if part is not None:
                for arr in part:
                    arr.flags.writeable = False
        return net

    # -- shape ---------------------------------------------------------------------------------------

    @property
    def widths(self) -> list[int]:
        """``[d_in, n_1, ..., d_out]``."""
        return [int(self._shapes[0][1])] + [int(m) for m, _ in self._shapes]

    @property
    def depth(self) -> int:
        return len(self._shapes)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def activation(self) -> str:
        return "linear"

    @property
    def scales(self) -> list[float]:
        """``a_l``: the multiple of ``Q_l`` in each layer (``eps`` at init, ``rho(t)`` after training)."""
        return list(self._a)

    @property
    def ranks(self) -> list[int]:
        """Rank bound of each layer's low-rank term (0 at init)."""
        return [0 if p is None else int(p[1].shape[0]) for p in self._low]

    @property
    def nbytes(self) -> int:
        """Bytes held by the operators and the low-rank terms (shared arrays counted once)."""
        seen, total = set(), 0
        for op in self._ops:
            total += op.nbytes
        for part in self._low:
            for arr in part or ():
                if id(arr) not in seen:
                    seen.add(id(arr))
                    total += arr.nbytes
        return int(total)

    def __len__(self) -> int:
        return self.depth

    def __repr__(self) -> str:
        return f"ImplicitNetwork(widths={self.widths}, ranks={self.ranks}, dtype={self._dtype.name})"

    # -- products --------------------------------------------------------------------------------------

    def _layer(self, l: Any) -> int:
        return integer(l, "l", minimum=0, maximum=self.depth - 1)

    def _q(self, l: int, X: np.ndarray) -> np.ndarray:
        m, n = self._shapes[l]
        op = self._ops[l]
        if n < op.size:
            X = np.concatenate([X, np.zeros((op.size - n, X.shape[1]))], axis=0)
        return op.apply(X)[:m]

    def _qt(self, l: int, Y: np.ndarray) -> np.ndarray:
        m, n = self._shapes[l]
        op = self._ops[l]
        if m < op.size:
            Y = np.concatenate([Y, np.zeros((op.size - m, Y.shape[1]))], axis=0)
        return op.apply_transpose(Y)[:n]

    def _apply(self, l: int, X: np.ndarray) -> np.ndarray:
        out = self._q(l, X) * self._a[l]
        part = self._low[l]
        if part is not None:
            F, K, G = part
            out += F @ (K @ (G.T @ X))
        return out

    def _apply_t(self, l: int, Y: np.ndarray) -> np.ndarray:
        out = self._qt(l, Y) * self._a[l]
        part = self._low[l]
        if part is not None:
            F, K, G = part
            out += G @ (K.T @ (F.T @ Y))
        return out

    def _out(self, y: np.ndarray, vector: bool) -> np.ndarray:
        y = y.astype(self._dtype, copy=False)
        return y[:, 0] if vector else y

    def apply(self, l: int, X: Any) -> np.ndarray:
        """``W_l X`` for a block ``X`` of shape ``(widths[l], k)`` (or a vector), in O(d log d k)."""
        l = self._layer(l)
        x, vec = _block(X, "X", self._shapes[l][1])
        return self._out(self._apply(l, x), vec)

    def apply_transpose(self, l: int, Y: Any) -> np.ndarray:
        """``W_l^T Y`` for a block ``Y`` of shape ``(widths[l+1], k)`` (or a vector)."""
        l = self._layer(l)
        y, vec = _block(Y, "Y", self._shapes[l][0])
        return self._out(self._apply_t(l, y), vec)

    def end_to_end_apply(self, X: Any) -> np.ndarray:
        """``W_L ... W_1 X`` for ``X`` of shape ``(d_in, k)`` (or a vector)."""
        x, vec = _block(X, "X", self.widths[0])
        for l in range(self.depth):
            x = self._apply(l, x)
        return self._out(x, vec)

    def end_to_end_apply_transpose(self, Y: Any) -> np.ndarray:
        """``W_1^T ... W_L^T Y`` for ``Y`` of shape ``(d_out, k)`` (or a vector)."""
        y, vec = _block(Y, "Y", self.widths[-1])
        for l in reversed(range(self.depth)):
            y = self._apply_t(l, y)
        return self._out(y, vec)

    # -- spectra and dense form --------------------------------------------------------------------------

    def singular_values(self, l: int) -> np.ndarray:
        """All ``min(m, n)`` singular values of layer ``l``, descending, without forming it.

        A square layer is ``Q (a I + Q^T F K G^T)``: with ``B`` an orthonormal basis containing
        ``[Q^T F, G]`` it acts as ``a I`` on the complement of ``B`` and as the small core
        ``a I + (B^T Q^T F) K (G^T B)`` on ``B``, so the spectrum is that core's plus ``|a|`` repeated.
        A rectangular layer at init is ``a`` times a partial isometry (``|a|`` repeated); a rectangular
        layer with a low-rank term (not produced by dln) is refused.
        """
        l = self._layer(l)
        m, n = self._shapes[l]
        a = abs(self._a[l])
        part = self._low[l]
        if part is None:
            return np.full(min(m, n), a, dtype=self._dtype)
        if m != n:
            raise ValueError(f"l: layer {l} is rectangular {m} x {n} with a low-rank term; its spectrum is not "
                             f"available implicitly")
        F, K, G = part
        Fq = self._qt(l, F)
        if Fq.shape[1] + G.shape[1] >= n:
            w = self._dense_layer(l)
            return np.linalg.svd(w, compute_uv=False).astype(self._dtype)
        B = np.linalg.qr(np.hstack([Fq, G]))[0]
        core = self._a[l] * np.eye(B.shape[1]) + (B.T @ Fq) @ K @ (G.T @ B)
        s = np.concatenate([np.linalg.svd(core, compute_uv=False), np.full(n - B.shape[1], a)])
        return np.sort(s)[::-1].astype(self._dtype)

    def _dense_layer(self, l: int) -> np.ndarray:
        m, n = self._shapes[l]
        out = np.empty((m, n), dtype=np.float64)
        chunk = max(1, int(2**23 // max(self._ops[l].size, 1)))  # ~64 MB of float64 work per block
        for j in range(0, n, chunk):
            E = np.zeros((n, min(chunk, n - j)))
            E[np.arange(j, j + E.shape[1]), np.arange(E.shape[1])] = 1.0
            out[:, j:j + E.shape[1]] = self._apply(l, E)
        return out

    def dense(self) -> Network:
        """The explicit :class:`dln.Network` with the same layers.

        Raises
        ------
        MemoryError
            When the layers do not fit in the memory available now (the message gives the GiB).
        """
        need = sum(float(m) * float(n) for m, n in self._shapes) * (8.0 + 2.0 * self._dtype.itemsize)
        _memory.require(need, "net", f"the dense form of an implicit network of widths {self.widths}")
        ws = [np.ascontiguousarray(self._dense_layer(l), dtype=self._dtype) for l in range(self.depth)]
        return Network._from_trusted(ws, self._dtype)

    # -- closed-form loss (used by dln.Factorization.from_factors(...).loss) ---------------------------

    def _end_to_end_parts(self) -> tuple[float, np.ndarray, np.ndarray]:
        """``(b, F, G)`` with ``W_{L:1} = b Q_{L:1} + F G^T`` (square layers), in O(L^2) operator products."""
        n0 = self.widths[0]
        b, F, G = 1.0, np.zeros((n0, 0)), np.zeros((n0, 0))
        for l in range(self.depth):
            a = self._a[l]
            part = self._low[l]
            newF = a * self._q(l, F) if F.shape[1] else F[:0].reshape(self._shapes[l][0], 0)
            if part is not None:
                Fl, Kl, Gl = part
                FK = Fl @ Kl
                if F.shape[1]:
                    newF = newF + FK @ (Gl.T @ F)
                back = Gl
                for k in reversed(range(l)):  # Q_{l-1:1}^T G_l
                    back = self._qt(k, back)
                F, G = np.hstack([newF, FK]), np.hstack([G, b * back])
            else:
                F = newF
            b *= a
        return b, F, G

    def _factorization_loss(self, factors: tuple, c: float) -> float:
        """``1/2 c ||W_{L:1} - U diag(s) V^T||_F^2`` without a ``d x d`` array (square layers)."""
        if len(set(self.widths)) != 1:
            raise ValueError(f"net: the closed-form loss needs square layers (all widths equal), got {self.widths}")
        U, s, V = factors
        if U.shape[0] != self.widths[-1] or V.shape[0] != self.widths[0]:
            raise ValueError(f"net: widths {self.widths} do not match the target's shape ({U.shape[0]}, {V.shape[0]})")
        b, F, G = self._end_to_end_parts()
        Ft, Gt = np.hstack([F, -(U * s)]), np.hstack([G, V])
        QG = Gt
        for l in range(self.depth):
            QG = self._q(l, QG)
        # ||b Q + Ft Gt^T||^2 = b^2 n + 2 b <Ft, Q Gt> + ||Ft Gt^T||^2; the last through the triangular
        # factors, without the cancellation of the Gram-matrix form.
        low = float(np.linalg.norm(_r_factor(Ft) @ _r_factor(Gt).T)) ** 2
        total = b * b * self.widths[0] + 2.0 * b * float(np.sum(Ft * QG)) + low
        return 0.5 * c * max(total, 0.0)


def _r_factor(a: np.ndarray) -> np.ndarray:
    """The triangular factor of a QR decomposition alone (numpy's stubs type every mode as a ``QRResult``)."""
    return cast(np.ndarray, np.linalg.qr(a, mode="r"))


_network._implicit_orthogonal = ImplicitNetwork.orthogonal
