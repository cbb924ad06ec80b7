"""`dln.Network`: the weights of a deep network, W_1 ... W_L with shapes (out, in), and the elementwise
activation between its layers (linear by default: a deep linear network)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from . import _core, _memory
from ._checks import as_dtype, choice, common_dtype, floating_array, integer, matrix, real, sequence

ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh")

# The core's activation as a class (kind and slope, checked when built) and its kinds as a real enum;
# dln exports both. Networks take the kind by name or as the enum.
Activation = _core.Activation
ActivationKind = _core.ActivationKind

# ``Network.orthogonal(..., implicit=True)`` builds a ``dln.ImplicitNetwork``. That class lives in
# ``dln.implicit``, which builds on this module, so this module must not import it: ``dln.implicit``
# registers its constructor here when it is imported (``dln`` imports it), and this module only calls it.
_implicit_orthogonal: Any = None


def _activation(activation: Any, negative_slope: Any) -> tuple[str, float]:
    """Checked ``(activation, negative_slope)``: ValueError naming the parameter otherwise.

    ``activation`` is a name or a ``dln.ActivationKind``."""
    if isinstance(activation, _core.ActivationKind):
        activation = activation.name
    name = choice(activation, "activation", ACTIVATIONS)
    slope = real(negative_slope, "negative_slope")
    if not (np.isfinite(slope) and slope >= 0):
        raise ValueError(f"negative_slope: must be finite and >= 0, got {slope}")
    return name, slope


def _core_activation(name: str, slope: float) -> _core.Activation:
    """The core's activation (an enum and a slope) for a checked name and slope."""
    return _core.Activation(_core.ActivationKind.__members__[name], slope)


class Network:
    """A deep network ``H_0 = X, H_l = f(W_l H_{l-1}) (l < L), f(X) = H_L = W_L H_{L-1}``.

    With the default ``activation="linear"`` it is the deep linear network ``W_L ... W_1 X``.

    Parameters
    ----------
    weights : sequence of 2-D arrays
        ``weights[l]`` has shape ``(out, in)`` like ``torch.nn.Linear``; consecutive shapes must chain
        (``weights[l+1].shape[1] == weights[l].shape[0]``). The network keeps its own copies.
    dtype : float64 or float32, optional
        Working precision. Default: float32 when every weight is float32, else float64.
    activation : {"linear", "relu", "leaky_relu", "tanh"}
        Elementwise ``f`` applied after every layer except the last (the output layer is linear).
        Derivatives at the kink: ``relu'(0) = 0`` and ``leaky_relu'(0) = negative_slope``.
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs (finite, >= 0; default 0.01). Kept, and checked,
        for every activation; used only by ``leaky_relu``.

    Networks are immutable: training returns a new one (with the same activation).
    """

    __slots__ = ("_weights", "_dtype", "_activation", "_slope", "_act")

    def __init__(self, weights: Sequence[Any], dtype: Any = None, activation: str = "linear",
                 negative_slope: float = 0.01) -> None:
        self._activation, self._slope = _activation(activation, negative_slope)
        self._act = _core_activation(self._activation, self._slope)
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
    def _from_trusted(cls, weights: list[np.ndarray], dtype: np.dtype, activation: str = "linear",
                      negative_slope: float = 0.01, act: Optional[_core.Activation] = None,
                      read_only: bool = False) -> "Network":
        """``act``: the core's activation when the caller has it already (immutable, so shared);
        ``read_only``: the arrays are read-only already (setting the flag costs about 1 us each)."""
        net = cls.__new__(cls)
        if not read_only:
            for w in weights:
                w.flags.writeable = False
        net._weights = weights
        net._dtype = dtype
        net._activation = activation
        net._slope = negative_slope
        net._act = _core_activation(activation, negative_slope) if act is None else act
        return net

    def __reduce__(self) -> tuple:
        # Rebuilt through the constructor, so an unpickled network is validated and read-only again.
        return (Network, (list(self._weights), self._dtype, self._activation, self._slope))

    def _like(self, weights: list[np.ndarray], dtype: Optional[np.dtype] = None, read_only: bool = False) -> "Network":
        """A network with these (trusted) weights and this network's activation (``read_only``: as in
        :meth:`_from_trusted`)."""
        return Network._from_trusted(weights, self._dtype if dtype is None else dtype, self._activation, self._slope,
                                     self._act, read_only)

    @classmethod
    def _init(cls, kind: str, widths: Sequence[int], scale: float, seed: int, dtype: Any, activation: Any,
              negative_slope: Any) -> "Network":
        act, slope = _activation(activation, negative_slope)
        dt = as_dtype(dtype)
        try:
            sequence(widths, "widths")
        except TypeError:
            raise TypeError(f"widths: expected a sequence of integers [d_in, ..., d_out], got {widths!r}") from None
        ws = [integer(w, f"widths[{i}]", maximum=2**31 - 1) for i, w in enumerate(widths)]
        scale = real(scale, "scale")
        if not (np.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale: must be finite and >= 0, got {scale}")
        seed = integer(seed, "seed", minimum=0, maximum=2**64 - 1)
        if len(ws) >= 2 and min(ws) >= 1:  # otherwise the core names the bad entry
            _memory.require(_memory.init_bytes(ws, dt.itemsize, kind), "widths", f"a {kind} network of widths {ws}")
        weights = _core.init_weights(ws, scale, seed, _core.InitKind.__members__[kind], dtype=dt.name)
        return cls._from_trusted(list(weights), dt, act, slope)

    @classmethod
    def orthogonal(cls, widths: Sequence[int], scale: float = 1.0, seed: int = 0, dtype: Any = np.float64,
                   activation: str = "linear", negative_slope: float = 0.01, implicit: bool = False) -> Any:
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
        activation, negative_slope
            As in :class:`Network` (the init does not depend on them).
        implicit : bool
            ``True``: a :class:`dln.ImplicitNetwork` instead, each layer ``scale * Q_l`` with ``Q_l`` a
            structured orthogonal operator applied in O(d log d) per vector and stored in O(d) (a
            different distribution from the dense Haar draw; see :mod:`dln.implicit`), for widths
            far beyond what dense layers allow. Linear networks only.
        """
        if not isinstance(implicit, (bool, np.bool_)):
            raise TypeError(f"implicit: expected a bool, got {type(implicit).__name__} {implicit!r}")
        if implicit:
            if _implicit_orthogonal is None:  # dln/__init__ imports dln.implicit, so only a partial import gets here
                raise RuntimeError("implicit: dln.implicit is not imported (import dln, or dln.implicit)")
            name, _ = _activation(activation, negative_slope)
            if name != "linear":
                raise ValueError(f"activation: implicit networks are linear (activation='linear'), got {name!r}")
            return _implicit_orthogonal(widths, scale, seed, dtype)
        return cls._init("orthogonal", widths, scale, seed, dtype, activation, negative_slope)

    @classmethod
    def gaussian(cls, widths: Sequence[int], scale: float = 1.0, seed: int = 0, dtype: Any = np.float64,
                 activation: str = "linear", negative_slope: float = 0.01) -> "Network":
        """Gaussian init rescaled to the orthogonal Frobenius norm: ``scale*sqrt(min(m,n)/(m n))*N(0,1)``.

        Parameters as :meth:`orthogonal`."""
        return cls._init("gaussian", widths, scale, seed, dtype, activation, negative_slope)

    @classmethod
    def uniform(cls, widths: Sequence[int], scale: float = 1.0, seed: int = 0, dtype: Any = np.float64,
                activation: str = "linear", negative_slope: float = 0.01) -> "Network":
        """Uniform init rescaled to the orthogonal Frobenius norm: ``scale*sqrt(3 min(m,n)/(m n))*U[-1,1]``.

        Parameters as :meth:`orthogonal`."""
        return cls._init("uniform", widths, scale, seed, dtype, activation, negative_slope)

    @property
    def weights(self) -> list[np.ndarray]:
        """Copies of the weights, ``weights[l]`` of shape ``(widths[l+1], widths[l])``."""
        return [w.copy() for w in self._weights]

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def activation(self) -> str:
        """``"linear"``, ``"relu"``, ``"leaky_relu"`` or ``"tanh"``: applied after every layer but the last."""
        return self._activation

    @property
    def activation_spec(self) -> _core.Activation:
        """The activation as the core sees it: ``dln.Activation(kind, negative_slope)``, ``kind`` a
        ``dln.ActivationKind``."""
        return self._act

    @property
    def negative_slope(self) -> float:
        """Slope of ``leaky_relu`` for negative inputs (stored for every activation)."""
        return self._slope

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self._weights)

    @property
    def widths(self) -> list[int]:
        """``[d_in, n_1, ..., d_out]``."""
        return [int(self._weights[0].shape[1])] + [int(w.shape[0]) for w in self._weights]

    def end_to_end(self) -> np.ndarray:
        """The product ``W_L ... W_1``, shape ``(d_out, d_in)``: the network's map when it is linear
        (for a non-linear network it is only the product of the weights)."""
        return _core.end_to_end(self._weights)  # overloaded by dtype

    def features(self, X: Any) -> list[np.ndarray]:
        """Features of every layer, after the activation: ``[H_0, H_1, ..., H_L]``.

        Parameters
        ----------
        X : array, shape (d_in, N)
            Inputs as columns (converted to the network's dtype).

        Returns
        -------
        list of L + 1 ndarray
            ``H_0 = X``, ``H_l = f(W_l H_{l-1})`` of shape ``(widths[l], N)`` for ``l < L``, and the
            output ``H_L = W_L H_{L-1}`` of shape ``(d_out, N)``. For a linear network
            ``[X, W_1 X, W_2 W_1 X, ..., W_{L:1} X]``.
        """
        x = matrix(X, "X", self._dtype)
        if x.shape[0] != self.widths[0]:
            raise ValueError(f"X: expected {self.widths[0]} rows (the network's input dimension), got shape {x.shape}")
        if not np.isfinite(x).all():  # as for problem data: NaN/Inf would only propagate silently
            raise ValueError("X: contains NaN or Inf")
        # every layer's output, in C++ and again as NumPy arrays
        _memory.require(2.0 * sum(self.widths[1:]) * x.shape[1] * self._dtype.itemsize, "X",
                        f"the layer outputs for {x.shape[1]} samples")
        return list(_core.features(self._weights, x, self._act))

    def layer_outputs(self, X: Any) -> list[np.ndarray]:
        """The older name of :meth:`features` (same result)."""
        return self.features(X)

    def forward(self, X: Any) -> np.ndarray:
        """The output ``H_L`` (``W_{L:1} X`` for a linear network), shape ``(d_out, N)``."""
        return self.features(X)[-1]

    def astype(self, dtype: Any) -> "Network":
        """A copy in another precision (same activation)."""
        dt = as_dtype(dtype)
        return self._like([w.astype(dt) for w in self._weights], dt)

    def _require_linear(self, name: str, what: str) -> None:
        """ValueError naming ``name`` and the activation unless the network is linear."""
        if self._activation != "linear":
            raise ValueError(f"{name}: the network's activation is {self._activation!r}; {what} relies on the law "
                             f"of parsimony, which holds for linear networks (activation='linear') only")

    def __len__(self) -> int:
        return self.depth

    def __repr__(self) -> str:
        act = "" if self._activation == "linear" else f", activation={self._activation!r}"
        if self._activation == "leaky_relu":
            act += f", negative_slope={self._slope!r}"
        return f"Network(widths={self.widths}{act}, dtype={self._dtype.name})"
