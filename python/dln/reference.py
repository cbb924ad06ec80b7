"""Pure-NumPy reference implementation of deep linear network training.

This module is an independent oracle for the compiled engine: it re-implements the maths of
SCIENCE.md sections 1-2 in the plainest way available (every product written out, no prefix or
suffix caching, no covariance shortcuts) so that the engine can be checked against it. It must
never import the compiled extension. Nothing here is meant to be fast.

Conventions
-----------
- A network is a list ``weights`` of 2-D arrays; layer ``l`` (0-based) has shape
  ``(widths[l + 1], widths[l])``, like ``torch.nn.Linear`` (out, in). The end-to-end map is
  ``W_L ... W_1`` of shape ``(d_out, d_in)``.
- Losses are ``1/2 * c * ||R||_F^2`` with ``c = 1`` for ``reduction="sum"`` and ``c = 1 / (number of
  residual entries)`` for ``reduction="mean"`` (for completion the count includes unobserved
  entries). Step sizes are in the units of the chosen reduction: a step ``lr`` under ``"mean"``
  equals ``lr * c`` under ``"sum"``.
- Optimisers follow the optax conventions of the published code: zero-initialised state, step
  counter ``t`` starting at 1, Adam/RMSprop ``eps`` outside the square root.
- Non-linear networks (``activation`` other than ``"linear"``): ``H_0 = X``, ``Z_l = W_l H_{l-1}``,
  ``H_l = f(Z_l)`` for ``l < L`` and output ``H_L = Z_L``; factorisation and completion use
  ``X = I``. Gradients by textbook backpropagation from the stored pre-activations ``Z``, with
  ``relu'(0) = 0`` and ``leaky_relu'(0) = negative_slope``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "orthogonal",
    "gaussian",
    "uniform",
    "end_to_end",
    "Factorization",
    "Regression",
    "Completion",
    "loss_and_grads",
    "ACTIVATIONS",
    "activate",
    "activation_derivative",
    "features",
    "gradient_scale",
    "loss_scale",
    "OPTIMIZERS",
    "train",
    "trajectory",
    "rho_recursion",
    "principal_angle_sine",
]

REDUCTIONS = ("mean", "sum")
OPTIMIZERS = ("gd", "momentum", "adam", "rmsprop")
ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh")

#: A run is declared diverged when the loss exceeds this multiple of the initial loss.
DIVERGENCE_FACTOR = 1e8


# --------------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------------


def _shapes(widths: Sequence[int]) -> list[tuple[int, int]]:
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must list at least two positive sizes, got {widths}")
    return [(widths[l + 1], widths[l]) for l in range(len(widths) - 1)]


def _haar(n: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed ``n x n`` orthogonal matrix (QR of a Gaussian, signs fixed by diag R)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


def orthogonal(widths, scale=1.0, rng=None, dtype=np.float64):
    """Scaled Haar-orthogonal initialisation.

    Parameters
    ----------
    widths : sequence of int
        ``[d_in, h_1, ..., d_out]``; the network has ``len(widths) - 1`` layers.
    scale : float
        ``eps`` of SCIENCE.md: every layer is ``scale * Q`` with ``Q`` having orthonormal rows or
        columns, so all its singular values equal ``scale``.
    rng : numpy.random.Generator or seed, optional
        Random stream (anything ``numpy.random.default_rng`` accepts).
    dtype : numpy dtype
        dtype of the returned arrays.

    Returns
    -------
    list of ndarray
        Layer ``l`` has shape ``(widths[l+1], widths[l])``: the top-left block of a square Haar
        matrix of size ``max(m, n)``, times ``scale``.
    """
    rng = np.random.default_rng(rng)
    weights = []
    for m, n in _shapes(widths):
        q = _haar(max(m, n), rng)
        weights.append((scale * q[:m, :n]).astype(dtype))
    return weights


def gaussian(widths, scale=1.0, rng=None, dtype=np.float64):
    """Gaussian initialisation with the Frobenius norm of :func:`orthogonal` in expectation.

    Layer ``(m, n)`` is ``scale * sqrt(min(m, n) / (m n)) * N(0, 1)``, so
    ``E ||W||_F^2 = scale^2 min(m, n)``. Parameters and return as :func:`orthogonal`.
    """
    rng = np.random.default_rng(rng)
    return [
        (scale * np.sqrt(min(m, n) / (m * n)) * rng.standard_normal((m, n))).astype(dtype)
        for m, n in _shapes(widths)
    ]


def uniform(widths, scale=1.0, rng=None, dtype=np.float64):
    """Uniform initialisation with the Frobenius norm of :func:`orthogonal` in expectation.

    Layer ``(m, n)`` is ``scale * sqrt(3 min(m, n) / (m n)) * U[-1, 1]`` (variance of U[-1, 1] is
    1/3), so ``E ||W||_F^2 = scale^2 min(m, n)``. Parameters and return as :func:`orthogonal`.
    """
    rng = np.random.default_rng(rng)
    return [
        (scale * np.sqrt(3.0 * min(m, n) / (m * n)) * rng.uniform(-1.0, 1.0, (m, n))).astype(dtype)
        for m, n in _shapes(widths)
    ]


# --------------------------------------------------------------------------------------------
# Network and losses
# --------------------------------------------------------------------------------------------


def _check_chain(weights) -> list[np.ndarray]:
    weights = [np.asarray(w) for w in weights]
    if not weights or any(w.ndim != 2 for w in weights):
        raise ValueError("weights must be a non-empty list of 2-D arrays")
    for l in range(1, len(weights)):
        if weights[l].shape[1] != weights[l - 1].shape[0]:
            raise ValueError(
                f"layer {l} has {weights[l].shape[1]} inputs but layer {l - 1} "
                f"has {weights[l - 1].shape[0]} outputs"
            )
    return weights


def _chain(weights, inputs: int, dtype) -> np.ndarray:
    """``weights[-1] @ ... @ weights[0]`` as a map from ``inputs`` dimensions (identity if empty)."""
    out = np.eye(inputs, dtype=dtype)
    for w in weights:
        out = w @ out
    return out


def end_to_end(weights) -> np.ndarray:
    """End-to-end map ``W_L ... W_1`` of shape ``(d_out, d_in)``."""
    weights = _check_chain(weights)
    return _chain(weights, weights[0].shape[1], np.result_type(*weights))


def _as_data(a) -> np.ndarray:
    """Own 2-D floating-point copy of ``a`` (integers become float64)."""
    a = np.asarray(a)
    a = np.array(a, dtype=np.result_type(a.dtype, np.float32), copy=True)
    if a.ndim != 2:
        raise ValueError(f"problem data must be 2-D, got shape {a.shape}")
    return a


def _reduction_factor(reduction: str, count: int) -> float:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return 1.0 / count if reduction == "mean" else 1.0


class _Problem:
    """Common part of the three problems: ``loss = 1/2 c ||R||^2`` and the gradient chain rule."""

    reduction: str
    factor: float  # c of the module docstring

    def residual(self, end: np.ndarray) -> np.ndarray:
        """Residual ``R`` as a function of the end-to-end map."""
        raise NotImplementedError

    def end_gradient(self, residual: np.ndarray) -> np.ndarray:
        """``R'`` = derivative of ``1/2 ||R||^2`` with respect to the end-to-end map."""
        raise NotImplementedError

    def astype(self, dtype) -> _Problem:
        """Copy with the data rounded to ``dtype`` (what the engine does at train time)."""
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, int]:
        """``(d_out, d_in)`` expected of the end-to-end map."""
        raise NotImplementedError

    def loss(self, weights) -> float:
        """``1/2 * c * ||R||_F^2`` at ``weights``."""
        return loss_and_grads(weights, self)[0]

    def gradients(self, weights) -> list[np.ndarray]:
        """Gradients of :meth:`loss`, one per layer, same shapes as ``weights``."""
        return loss_and_grads(weights, self)[1]


class Factorization(_Problem):
    """Deep matrix factorisation: ``R = W_{L:1} - Phi``.

    Parameters
    ----------
    target : ndarray, shape (d_out, d_in)
        ``Phi``.
    reduction : {"mean", "sum"}
        ``"mean"`` divides the loss by ``d_out * d_in``.
    """

    def __init__(self, target, reduction: str = "mean"):
        self.target = _as_data(target)
        self.reduction = reduction
        self.factor = _reduction_factor(reduction, self.target.size)

    @property
    def shape(self):
        return self.target.shape

    def residual(self, end):
        return end - self.target

    def end_gradient(self, residual):
        return residual

    def astype(self, dtype):
        return Factorization(self.target.astype(dtype), self.reduction)


class Regression(_Problem):
    """Linear regression through the network: ``R = W_{L:1} X - Y``.

    Parameters
    ----------
    X : ndarray, shape (d_in, N)
        Inputs, one sample per column.
    Y : ndarray, shape (d_out, N)
        Targets, one sample per column.
    reduction : {"mean", "sum"}
        ``"mean"`` divides the loss by ``d_out * N``.
    """

    def __init__(self, X, Y, reduction: str = "mean"):
        self.X = _as_data(X)
        self.Y = _as_data(Y)
        if self.X.shape[1] != self.Y.shape[1]:
            raise ValueError(f"X has {self.X.shape[1]} samples but Y has {self.Y.shape[1]}")
        self.reduction = reduction
        self.factor = _reduction_factor(reduction, self.Y.size)

    @property
    def shape(self):
        return (self.Y.shape[0], self.X.shape[0])

    def residual(self, end):
        return end @ self.X - self.Y

    def end_gradient(self, residual):
        return residual @ self.X.T

    def astype(self, dtype):
        return Regression(self.X.astype(dtype), self.Y.astype(dtype), self.reduction)


class Completion(_Problem):
    """Masked matrix completion: ``R = M * (W_{L:1} - Phi)``.

    Parameters
    ----------
    target : ndarray, shape (d_out, d_in)
        ``Phi`` (unobserved entries are ignored by the loss).
    mask : ndarray of bool or 0/1, shape (d_out, d_in)
        ``M``, 1 where an entry is observed.
    reduction : {"mean", "sum"}
        ``"mean"`` divides the loss by ``d_out * d_in``, all entries, observed or not.
    """

    def __init__(self, target, mask, reduction: str = "mean"):
        self.target = _as_data(target)
        mask = np.asarray(mask)
        if mask.shape != self.target.shape:
            raise ValueError(f"mask shape {mask.shape} differs from target {self.target.shape}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("mask entries must be 0 or 1")
        self.mask = (mask != 0).astype(self.target.dtype)
        self.reduction = reduction
        self.factor = _reduction_factor(reduction, self.target.size)

    @property
    def shape(self):
        return self.target.shape

    def residual(self, end):
        return self.mask * (end - self.target)

    def end_gradient(self, residual):
        # d/dW 1/2 ||M * (W - Phi)||^2 = M * M * (W - Phi) = M * R since M is 0/1.
        return self.mask * residual

    def astype(self, dtype):
        return Completion(self.target.astype(dtype), self.mask, self.reduction)


# --------------------------------------------------------------------------------------------
# Activations (non-linear networks)
# --------------------------------------------------------------------------------------------


def _check_activation(activation: str, negative_slope: float) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if not (np.isfinite(negative_slope) and negative_slope >= 0):
        raise ValueError(f"negative_slope must be finite and >= 0, got {negative_slope}")


def activate(Z, activation: str = "linear", negative_slope: float = 0.01) -> np.ndarray:
    """``f(Z)`` elementwise (a new array)."""
    _check_activation(activation, negative_slope)
    Z = np.asarray(Z)
    if activation == "relu":
        return np.where(Z > 0, Z, np.zeros_like(Z))
    if activation == "leaky_relu":
        return np.where(Z > 0, Z, Z * Z.dtype.type(negative_slope))
    if activation == "tanh":
        return np.tanh(Z)
    return Z.copy()


def activation_derivative(Z, activation: str = "linear", negative_slope: float = 0.01) -> np.ndarray:
    """``f'(Z)`` elementwise, with ``relu'(0) = 0`` and ``leaky_relu'(0) = negative_slope``."""
    _check_activation(activation, negative_slope)
    Z = np.asarray(Z)
    one = np.ones_like(Z)
    if activation == "relu":
        return np.where(Z > 0, one, np.zeros_like(Z))
    if activation == "leaky_relu":
        return np.where(Z > 0, one, one * Z.dtype.type(negative_slope))
    if activation == "tanh":
        t = np.tanh(Z)
        return one - t * t
    return one


def features(weights, X, activation: str = "linear", negative_slope: float = 0.01) -> list[np.ndarray]:
    """``[H_0 = X, H_1, ..., H_L]``: every layer's output after the activation (the last layer is
    linear), ``H_l`` of shape ``(widths[l], N)``."""
    weights = _check_chain(weights)
    H = [np.asarray(X)]
    for l, w in enumerate(weights):
        Z = w @ H[-1]
        H.append(Z if l == len(weights) - 1 else activate(Z, activation, negative_slope))
    return H


def _inputs(problem: _Problem, dtype) -> np.ndarray:
    """The network's inputs: ``X`` for regression, the identity for factorisation and completion."""
    if isinstance(problem, Regression):
        return problem.X
    return np.eye(problem.shape[1], dtype=dtype)


def _output_residual(problem: _Problem, out: np.ndarray) -> np.ndarray:
    """Residual of the network output ``H_L`` (which is ``W_{L:1} X`` only for a linear network)."""
    if isinstance(problem, Regression):
        return out - problem.Y
    if isinstance(problem, Completion):
        return problem.mask * (out - problem.target)
    if not isinstance(problem, Factorization):
        raise TypeError(f"unknown problem type {type(problem).__name__}")
    return out - problem.target


def _nonlinear_loss_and_grads(weights, problem: _Problem, activation: str, negative_slope: float):
    dtype = np.result_type(*weights)
    X = _inputs(problem, dtype)
    if weights[0].shape[1] != X.shape[0] or weights[-1].shape[0] != problem.shape[0]:
        raise ValueError(f"network maps {weights[0].shape[1]} -> {weights[-1].shape[0]}, problem expects "
                         f"{problem.shape[1]} -> {problem.shape[0]}")
    L = len(weights)
    H = [X]  # H[l] = input of layer l (0-based); H[L] = output
    Z = []  # pre-activations of every layer
    for l, w in enumerate(weights):
        Z.append(w @ H[-1])
        H.append(Z[-1] if l == L - 1 else activate(Z[-1], activation, negative_slope))
    c = problem.factor
    residual = _output_residual(problem, H[L])
    loss = 0.5 * c * float(np.sum(residual * residual))
    # d(1/2 ||R||^2)/dH_L is R itself (completion: M * M * (H_L - Phi) = R for a 0/1 mask)
    delta = c * residual
    grads = [None] * L
    for l in range(L - 1, -1, -1):
        grads[l] = (delta @ H[l].T).astype(weights[l].dtype, copy=False)
        if l > 0:
            delta = activation_derivative(Z[l - 1], activation, negative_slope) * (weights[l].T @ delta)
    return loss, grads


def loss_and_grads(weights, problem: _Problem, activation: str = "linear",
                   negative_slope: float = 0.01) -> tuple[float, list[np.ndarray]]:
    """Loss and per-layer gradients, computed the plain way.

    With a non-linear ``activation`` the network output ``H_L`` replaces ``W_{L:1} X`` in the
    residual and the gradients come from backpropagation (module docstring).

    ``grad_l = c * W_{L:l+1}^T R' W_{l-1:1}^T`` with every partial product recomputed from scratch
    (O(L^2) products; the engine's O(L) prefix/suffix scheme is deliberately not reproduced).

    Parameters
    ----------
    weights : list of ndarray
        Layer ``l`` of shape ``(widths[l+1], widths[l])``.
    problem : Factorization, Regression or Completion

    Returns
    -------
    loss : float
        ``1/2 * c * ||R||_F^2`` in the problem's reduction.
    grads : list of ndarray
        Same shapes as ``weights``, reduction factor included.
    """
    weights = _check_chain(weights)
    _check_activation(activation, negative_slope)
    if activation != "linear":
        return _nonlinear_loss_and_grads(weights, problem, activation, negative_slope)
    end = end_to_end(weights)
    if end.shape != tuple(problem.shape):
        raise ValueError(f"network maps to {end.shape}, problem expects {tuple(problem.shape)}")
    c = problem.factor
    residual = problem.residual(end)
    loss = 0.5 * c * float(np.sum(residual * residual))
    r_prime = problem.end_gradient(residual)
    grads = []
    for l, w in enumerate(weights):
        after = _chain(weights[l + 1 :], w.shape[0], end.dtype)  # W_{L:l+1}, (d_out, m_l)
        before = _chain(weights[:l], end.shape[1], end.dtype)  # W_{l-1:1}, (n_l, d_in)
        grads.append((c * (after.T @ r_prime @ before.T)).astype(w.dtype, copy=False))
    return loss, grads


def _layer_norms(weights, layer_norms):
    if layer_norms is None:
        return [float(np.linalg.norm(w)) for w in weights]
    if len(layer_norms) != len(weights):
        raise ValueError(f"layer_norms has {len(layer_norms)} entries for {len(weights)} layers")
    return [float(n) for n in layer_norms]


def _data_sizes(problem: _Problem) -> tuple[float, float]:
    """``(||X||_2, ||Y||_F)`` with ``X = I``, ``Y = Phi`` (masked for completion)."""
    if isinstance(problem, Regression):
        return float(np.linalg.norm(problem.X, 2)), float(np.linalg.norm(problem.Y))
    if isinstance(problem, Completion):
        return 1.0, float(np.linalg.norm(problem.mask * problem.target))
    if not isinstance(problem, Factorization):
        raise TypeError(f"unknown problem type {type(problem).__name__}")
    return 1.0, float(np.linalg.norm(problem.target))


def gradient_scale(weights, problem: _Problem, layer_norms=None) -> list[float]:
    """Per-layer size against which rounding errors in the gradient should be measured.

    Products are accurate relative to the product of their factors' norms
    (``||fl(AB) - AB||_F <= gamma_n ||A||_F ||B||_F``), not to the norm of the result, so the scale
    of ``grad_l = c W_{L:l+1}^T R' W_{l-1:1}^T`` is ``c * prod_{k != l} ||W_k||_F * s_R`` with
    ``s_R = (P ||X||_2 + ||Y||_F) ||X||_2`` bounding ``||R'||_F`` from the terms that are
    subtracted (``P = prod_k ||W_k||_F``; ``X = I``, ``Y = Phi`` for factorisation and
    completion). It bounds ``||grad_l||_F``; a wrong gradient differs by O(||grad_l||), many orders
    above rounding, while cancellation cannot fail a comparison made relative to it.

    Parameters
    ----------
    weights : list of ndarray
    problem : Factorization, Regression or Completion
    layer_norms : sequence of float, optional
        Sizes to use instead of ``||W_k||_F`` (e.g. the largest along a run).

    Returns
    -------
    list of float, one per layer.
    """
    weights = _check_chain(weights)
    norms = _layer_norms(weights, layer_norms)
    x, y = _data_sizes(problem)
    s_r = (float(np.prod(norms)) * x + y) * x
    return [problem.factor * float(np.prod(norms[:l] + norms[l + 1 :])) * s_r for l in range(len(weights))]


def loss_scale(weights, problem: _Problem, layer_norms=None) -> float:
    """Size against which rounding errors in the loss should be measured.

    ``1/2 * c * s^2`` with ``s = prod_k ||W_k||_F ||X||_2 + ||Y||_F`` (``X = I``, ``Y = Phi`` for
    factorisation and completion, ``Phi`` masked for completion). It bounds the loss, the size of
    the error that a chain of rounded products puts into it, and every term of the expanded form
    ``1/2 c (<W S, W> - 2 <W, C> + ||Y||^2)`` (``S = X X^T``, ``C = Y X^T``) that an engine may use
    instead of the residual, so it is also the scale of that form's cancellation error.
    ``layer_norms`` as in :func:`gradient_scale`.
    """
    weights = _check_chain(weights)
    x, y = _data_sizes(problem)
    s = float(np.prod(_layer_norms(weights, layer_norms))) * x + y
    return 0.5 * problem.factor * s * s


# --------------------------------------------------------------------------------------------
# Optimisers and training
# --------------------------------------------------------------------------------------------


class _Optimizer:
    """One optimiser's state and update rule (optax conventions, state zero-initialised)."""

    def __init__(self, name, weights, lr, lr_scale, momentum, betas, eps, decay):
        if name not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
        self.name = name
        self.lr = float(lr)
        if lr_scale is None:
            lr_scale = [1.0] * len(weights)
        if len(lr_scale) != len(weights):
            raise ValueError(f"lr_scale has {len(lr_scale)} entries for {len(weights)} layers")
        self.lr_scale = [float(s) for s in lr_scale]
        self.momentum = float(momentum)
        self.b1, self.b2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.decay = float(decay)
        self.t = 0
        self.first = [np.zeros_like(w) for w in weights]  # momentum buffer / Adam m
        self.second = [np.zeros_like(w) for w in weights]  # Adam v / RMSprop v

    def step(self, weights, grads):
        """Return the updated weights (new arrays); advances the state."""
        self.t += 1
        out = []
        for l, (w, g) in enumerate(zip(weights, grads)):
            lr = self.lr * self.lr_scale[l]
            if self.name == "gd":
                w = w - lr * g
            elif self.name == "momentum":
                self.first[l] = self.momentum * self.first[l] + g
                w = w - lr * self.first[l]
            elif self.name == "adam":
                self.first[l] = self.b1 * self.first[l] + (1.0 - self.b1) * g
                self.second[l] = self.b2 * self.second[l] + (1.0 - self.b2) * g * g
                m_hat = self.first[l] / (1.0 - self.b1**self.t)
                v_hat = self.second[l] / (1.0 - self.b2**self.t)
                w = w - lr * m_hat / (np.sqrt(v_hat) + self.eps)
            else:  # rmsprop
                self.second[l] = self.decay * self.second[l] + (1.0 - self.decay) * g * g
                w = w - lr * g / (np.sqrt(self.second[l]) + self.eps)
            out.append(w)
        return out


def _start(weights, problem):
    weights = [np.array(w, copy=True) for w in _check_chain(weights)]
    dtype = np.result_type(*weights)
    weights = [w.astype(dtype, copy=False) for w in weights]
    return weights, problem.astype(dtype)


def train(
    weights,
    problem: _Problem,
    lr: float,
    steps: int,
    optimizer: str = "gd",
    tol: float | None = None,
    record_every: int = 1,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    decay: float = 0.9,
    lr_scale: Sequence[float] | None = None,
    activation: str = "linear",
    negative_slope: float = 0.01,
) -> dict:
    """Train by full-batch first-order optimisation, with the engine's stopping semantics.

    For ``k = 0, 1, ..., steps``: the loss at the current weights (after ``k`` updates) is
    computed; then

    - if it is not finite or exceeds ``1e8`` times a positive initial loss, the run is
      ``"diverged"`` and returns the weights after ``k - 1`` updates (the last finite state) with
      ``steps = k - 1`` (the initial weights and ``steps = 0`` when ``k = 0``); the offending loss is
      not recorded, so every history entry belongs to a state at or before the returned one;
    - else it is appended to the history when ``k % record_every == 0``;
    - else if ``tol`` is given and ``loss <= tol``, the run is ``"converged"`` with ``steps = k``;
    - else if ``k == steps`` the run ends with ``"max_steps"``;
    - else one update is applied.

    Parameters
    ----------
    weights : list of ndarray
        Initial layers (not modified). Arithmetic is done in their common dtype, and the problem's
        data are rounded to that dtype first.
    problem : Factorization, Regression or Completion
    lr : float
        Step size in the units of ``problem.reduction``.
    steps : int
        Maximum number of updates.
    optimizer : {"gd", "momentum", "adam", "rmsprop"}
    tol : float, optional
        Stop when the loss is at or below it.
    record_every : int
        History stride: ``loss[j]`` is the loss after ``j * record_every`` updates.
    momentum : float
        Heavy-ball coefficient: ``buf = momentum * buf + g; W -= lr * buf``.
    betas, eps : Adam's ``(beta1, beta2)`` and denominator offset (outside the square root).
    decay : float
        RMSprop's ``v = decay * v + (1 - decay) * g^2`` (RMSprop uses ``eps`` too).
    lr_scale : sequence of float, optional
        Per-layer multipliers of ``lr`` (default all 1).
    activation, negative_slope
        The network's elementwise activation (module docstring); default linear.

    Returns
    -------
    dict
        ``weights`` (list of ndarray), ``loss`` (1-D ndarray history), ``steps`` (int, updates
        applied to the returned weights) and ``status`` (str).
    """
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1, got {record_every}")
    weights, problem = _start(weights, problem)
    opt = _Optimizer(optimizer, weights, lr, lr_scale, momentum, betas, eps, decay)
    history = []
    previous = weights
    initial = None
    k = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            loss, grads = loss_and_grads(weights, problem, activation, negative_slope)
            if initial is None:
                initial = loss
            # A zero initial loss gives no scale to blow up from: only non-finite losses count then.
            if not np.isfinite(loss) or (initial > 0 and loss > DIVERGENCE_FACTOR * initial):
                # k == 0 has no earlier state: the initial weights are all there is.
                weights, status, done = previous, "diverged", max(k - 1, 0)
                break
            if k % record_every == 0:
                history.append(loss)
            if tol is not None and loss <= tol:
                status, done = "converged", k
                break
            if k == steps:
                status, done = "max_steps", k
                break
            previous = weights
            weights = opt.step(weights, grads)
            k += 1
    return dict(weights=weights, loss=np.asarray(history, dtype=np.float64), steps=done, status=status)


def trajectory(weights, problem: _Problem, lr: float, steps: int, optimizer: str = "gd", **options):
    """Weights after every update, with no stopping rule.

    Parameters as :func:`train` (``momentum``, ``betas``, ``eps``, ``decay``, ``lr_scale``,
    ``activation``, ``negative_slope`` as keywords).

    Returns
    -------
    list of list of ndarray
        ``steps + 1`` entries; entry ``k`` is the network after ``k`` updates.
    """
    defaults = dict(momentum=0.9, betas=(0.9, 0.999), eps=1e-8, decay=0.9, lr_scale=None)
    act = dict(activation=options.pop("activation", "linear"), negative_slope=options.pop("negative_slope", 0.01))
    unknown = set(options) - set(defaults)
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}")
    defaults.update(options)
    weights, problem = _start(weights, problem)
    opt = _Optimizer(optimizer, weights, lr, **defaults)
    out = [weights]
    for _ in range(steps):
        weights = opt.step(weights, loss_and_grads(weights, problem, **act)[1])
        out.append(weights)
    return out


# --------------------------------------------------------------------------------------------
# Theory helpers
# --------------------------------------------------------------------------------------------


def rho_recursion(eps: float, lr: float, d: int, L: int, steps: int, reduction: str = "mean"):
    """Bulk singular value ``rho(t)`` of the law of parsimony (SCIENCE.md section 2).

    ``rho(t+1) = rho(t) * (1 - eta * rho(t)^(2(L-1)))``, ``rho(0) = eps``, for ``d x d`` layers
    trained by plain GD.

    Parameters
    ----------
    eps : float
        Orthogonal init scale.
    lr : float
        Step size in the units of ``reduction``: ``eta = lr / d^2`` under ``"mean"`` (the loss is
        averaged over the ``d x d`` entries), ``eta = lr`` under ``"sum"``.
    d, L : int
        Layer size and depth.
    steps : int
    reduction : {"mean", "sum"}

    Returns
    -------
    ndarray, shape (steps + 1,)
        ``rho(0), ..., rho(steps)``.
    """
    eta = lr * _reduction_factor(reduction, d * d)
    rho = np.empty(steps + 1)
    rho[0] = eps
    for t in range(steps):
        rho[t + 1] = rho[t] * (1.0 - eta * rho[t] ** (2 * (L - 1)))
    return rho


def principal_angle_sine(A, B) -> float:
    """Sine of the largest principal angle from ``col(B)`` to ``col(A)``.

    Computed as ``||(I - P_A) Q_B||_2`` with ``P_A`` the orthogonal projector onto ``col(A)`` and
    ``Q_B`` an orthonormal basis of ``col(B)``. Unlike ``arccos`` of the cosines (whose error is
    ~sqrt(machine epsilon) near zero), this is accurate for tiny angles. Both inputs must have
    full column rank. When ``col(B)`` has the larger dimension the result is 1.
    """
    qa, _ = np.linalg.qr(np.asarray(A, dtype=np.float64))
    qb, _ = np.linalg.qr(np.asarray(B, dtype=np.float64))
    residual = qb - qa @ (qa.T @ qb)
    return float(np.linalg.norm(residual, 2)) if residual.size else 0.0
