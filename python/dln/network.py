"""`dln.Network`: the weights of a deep linear network, W_1 ... W_L with shapes (out, in)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import _core, _memory
from ._checks import as_dtype, common_dtype, floating_array, integer, matrix, real


def _suffix(dtype: np.dtype) -> str:
    return "f64" if dtype == np.float64 else "f32"


class Network:
    """A deep linear network ``f(X) = W_L ... W_1 X``.

    Parameters
    ----------
    weights : sequence of 2-D arrays
        ``weights[l]`` has shape ``(out, in)`` like ``torch.nn.Linear``; consecutive shapes must chain
        (``weights[l+1].shape[1] == weights[l].shape[0]``). The network keeps its own copies.
    dtype : float64 or float32, optional
        Working precision. Default: float32 when every weight is float32, else float64.

    Networks are immutable: training returns a new one.
    """

    __slots__ = ("_weights", "_dtype")

    def __init__(self, weights: Sequence[Any], dtype: Any = None) -> None:
        if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
            raise TypeError(f"weights: expected a list of 2-D arrays, got {type(weights).__name__}")
        if len(weights) == 0:
            raise ValueError("weights: a network needs at least one layer")
        arrays = [floating_array(w, f"weights[{i}]") for i, w in enumerate(weights)]
        dt = as_dtype(dtype) if dtype is not None else common_dtype(*arrays)
        ws = []
        for i, w in enumerate(arrays):
            m = np.array(matrix(w, f"weights[{i}]", dt), dtype=dt, order="C", copy=True)
            m.flags.writeable = False
            ws.append(m)
        self._weights = ws
        self._dtype = dt
        self._check_chain()

    def _check_chain(self) -> None:
        for i, w in enumerate(self._weights):
            if i > 0 and w.shape[1] != self._weights[i - 1].shape[0]:
                raise ValueError(
                    f"weights[{i}]: shape {w.shape} does not chain: expected {self._weights[i - 1].shape[0]} "
                    f"columns to follow weights[{i - 1}] of shape {self._weights[i - 1].shape}")
            if not np.isfinite(w).all():
                raise ValueError(f"weights[{i}]: contains NaN or Inf")

    @classmethod
    def _from_trusted(cls, weights: list[np.ndarray], dtype: np.dtype) -> "Network":
        net = cls.__new__(cls)
        for w in weights:
            w.flags.writeable = False
        net._weights = weights
        net._dtype = dtype
        return net

    @classmethod
    def _init(cls, kind: str, widths: Sequence[int], scale: float, seed: int, dtype: Any) -> "Network":
        dt = as_dtype(dtype)
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__"):
            raise TypeError(f"widths: expected a sequence of integers [d_in, ..., d_out], got {widths!r}")
        ws = [integer(w, f"widths[{i}]", maximum=2**31 - 1) for i, w in enumerate(widths)]
        scale = real(scale, "scale")
        if not (np.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale: must be finite and >= 0, got {scale}")
        seed = integer(seed, "seed", minimum=0, maximum=2**64 - 1)
        if len(ws) >= 2 and min(ws) >= 1:  # otherwise the core names the bad entry
            _memory.require(_memory.init_bytes(ws, dt.itemsize, kind), "widths", f"a {kind} network of widths {ws}")
        weights = getattr(_core, f"init_weights_{_suffix(dt)}")(ws, scale, seed, kind)
        return cls._from_trusted(list(weights), dt)

    @classmethod
    def orthogonal(cls, widths: Sequence[int], scale: float = 1.0, seed: int = 0, dtype: Any = np.float64) -> "Network":
        """Orthogonal init: ``W_l = scale * Q_l``, ``Q_l`` the top-left block of a Haar orthogonal matrix.

        Parameters
        ----------
        widths : sequence of int
            ``[d_in, n_1, ..., d_out]``; the network has ``len(widths) - 1`` layers.
        scale : float
            ``eps`` of the published experiments.
        seed : int
            Fixes every draw (same seed, same bits on the same build, from Python or C++).
        dtype : float64 or float32
        """
        return cls._init("orthogonal", widths, scale, seed, dtype)

    @classmethod
    def gaussian(cls, widths: Sequence[int], scale: float = 1.0, seed: int = 0, dtype: Any = np.float64) -> "Network":
        """Gaussian init rescaled to the orthogonal Frobenius norm: ``scale*sqrt(min(m,n)/(m n))*N(0,1)``."""
        return cls._init("gaussian", widths, scale, seed, dtype)

    @classmethod
    def uniform(cls, widths: Sequence[int], scale: float = 1.0, seed: int = 0, dtype: Any = np.float64) -> "Network":
        """Uniform init rescaled to the orthogonal Frobenius norm: ``scale*sqrt(3 min(m,n)/(m n))*U[-1,1]``."""
        return cls._init("uniform", widths, scale, seed, dtype)

    @property
    def weights(self) -> list[np.ndarray]:
        """Copies of the weights, ``weights[l]`` of shape ``(widths[l+1], widths[l])``."""
        return [w.copy() for w in self._weights]

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self._weights)

    @property
    def widths(self) -> list[int]:
        """``[d_in, n_1, ..., d_out]``."""
        return [int(self._weights[0].shape[1])] + [int(w.shape[0]) for w in self._weights]

    def end_to_end(self) -> np.ndarray:
        """The end-to-end map ``W_L ... W_1``, shape ``(d_out, d_in)``."""
        return getattr(_core, f"end_to_end_{_suffix(self._dtype)}")(self._weights)

    def layer_outputs(self, X: Any) -> list[np.ndarray]:
        """``[X, W_1 X, W_2 W_1 X, ..., W_{L:1} X]`` for data ``X`` of shape ``(d_in, N)``."""
        x = matrix(X, "X", self._dtype)
        if x.shape[0] != self.widths[0]:
            raise ValueError(f"X: expected {self.widths[0]} rows (the network's input dimension), got shape {x.shape}")
        if not np.isfinite(x).all():  # as for problem data: NaN/Inf would only propagate silently
            raise ValueError("X: contains NaN or Inf")
        # every layer's output, in C++ and again as NumPy arrays
        _memory.require(2.0 * sum(self.widths[1:]) * x.shape[1] * self._dtype.itemsize, "X",
                        f"the layer outputs for {x.shape[1]} samples")
        return list(getattr(_core, f"layer_outputs_{_suffix(self._dtype)}")(self._weights, x))

    def forward(self, X: Any) -> np.ndarray:
        """``W_{L:1} X``, shape ``(d_out, N)``."""
        return self.layer_outputs(X)[-1]

    def astype(self, dtype: Any) -> "Network":
        """A copy in another precision."""
        dt = as_dtype(dtype)
        return Network._from_trusted([w.astype(dt) for w in self._weights], dt)

    def __len__(self) -> int:
        return self.depth

    def __repr__(self) -> str:
        return f"Network(widths={self.widths}, dtype={self._dtype.name})"
