"""Deep linear blocks for PyTorch networks and their compressed equivalents (SCIENCE.md section 3).

A :class:`DeepLinear` block ``x -> W_L ... W_1 x`` replaces one ``nn.Linear`` of a network (Kwon et al.,
"Efficient compression of overparameterized deep models through low-dimensional learning dynamics").
:func:`compress` turns it, at its initialisation, into the ``(L+2)``-factor chain
``[V_{1,1}^T, eps I, ..., eps I, U_{L,1}]`` of width ``2 rank``, whose outer factors train at
``outer_lr_scale * lr`` (:meth:`CompressedDeepLinear.parameter_groups`).
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import nn

import dln

from . import _checks


def _orthogonal_factors(widths: Sequence[int], scale: float, seed: int, dt: torch.dtype) -> list[np.ndarray]:
    """``dln.Network.orthogonal(widths, scale, seed)``'s weights in ``dt`` (the same bits)."""
    npdt = np.float64 if dt == torch.float64 else np.float32
    return dln.Network.orthogonal(list(widths), scale, seed, dtype=npdt).weights


def _chain_forward(factors: Iterable[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    for w in factors:
        x = torch.nn.functional.linear(x, w)
    return x


def _chain_product(factors: Sequence[torch.Tensor]) -> torch.Tensor:
    out = factors[0]
    for w in factors[1:]:
        out = w @ out
    return out


def _check_input(x: Any, features: int, like: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype != like.dtype:
        raise TypeError(f"x: dtype {x.dtype} differs from the block's {like.dtype}")
    if x.ndim < 1 or x.shape[-1] != features:
        raise ValueError(f"x: expected shape (..., {features}), got {tuple(x.shape)}")
    return x


class DeepLinear(nn.Module):
    """``y = W_L ... W_1 x``: a deep linear block with dln's orthogonal init.

    Parameters
    ----------
    in_features, out_features : int
    depth : int
        ``L >= 1`` factors.
    width : int, optional
        Hidden width of the factors; default ``max(in_features, out_features)``.
    scale : float
        ``eps``: ``W_l(0) = eps Q_l`` with ``Q_l`` the top-left block of a Haar orthogonal matrix.
    seed : int
        Fixes the init: the factors are bit-identical to
        ``dln.Network.orthogonal([in_features, width, ..., width, out_features], scale, seed)``'s weights
        (in ``dtype``).
    dtype : torch.float64 or torch.float32
    device : torch device, optional (default CPU)

    Attributes
    ----------
    factors : nn.ParameterList
        ``W_1`` first; ``factors[l]`` has shape ``(out, in)`` like ``nn.Linear.weight``.
    """

    def __init__(self, in_features: int, out_features: int, depth: int = 3, width: Optional[int] = None,
                 scale: float = 1e-3, seed: int = 0, dtype: torch.dtype = torch.float64, device: Any = None) -> None:
        super().__init__()
        d_in = _checks.integer(in_features, "in_features", minimum=1)
        d_out = _checks.integer(out_features, "out_features", minimum=1)
        L = _checks.integer(depth, "depth", minimum=1)
        w = max(d_in, d_out) if width is None else _checks.integer(width, "width", minimum=1)
        eps = _checks.real(scale, "scale", minimum=0.0)
        seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1)
        dt = _checks.dtype(dtype)
        dev = _checks.device(device)
        widths = [d_in] + [w] * (L - 1) + [d_out]
        self.in_features, self.out_features, self.depth = d_in, d_out, L
        self.width, self.scale, self.seed = w, eps, seed
        self.factors = nn.ParameterList(
            [nn.Parameter(torch.from_numpy(m).to(dev)) for m in _orthogonal_factors(widths, eps, seed, dt)])

    @property
    def widths(self) -> list[int]:
        """``[in_features, width, ..., width, out_features]``."""
        return [self.in_features] + [int(f.shape[0]) for f in self.factors]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape ``(..., in_features)`` and the block's dtype -> ``(..., out_features)``."""
        return _chain_forward(self.factors, _check_input(x, self.in_features, self.factors[0]))

    def end_to_end(self) -> torch.Tensor:
        """``W_L ... W_1``, shape ``(out_features, in_features)`` (differentiable)."""
        return _chain_product(list(self.factors))

    def to_network(self) -> "dln.Network":
        """The current factors as a :class:`dln.Network` (copies, in the block's precision)."""
        npdt = np.float64 if self.factors[0].dtype == torch.float64 else np.float32
        return dln.Network([f.detach().cpu().numpy() for f in self.factors], dtype=npdt)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, depth={self.depth}, "
                f"width={self.width}, scale={self.scale:g}")


class CompressedDeepLinear(nn.Module):
    """The compressed equivalent of a :class:`DeepLinear` block (made by :func:`compress`).

    ``factors = [V_{1,1}^T (2r x in), eps I_{2r} (L copies), U_{L,1} (out x 2r)]``, ``r = rank``. Train
    it with ``torch.optim.SGD(block.parameter_groups(lr))`` (or any optimiser taking groups): the
    inner factors at ``lr``, the outer two at ``outer_lr_scale * lr``.

    Attributes
    ----------
    rank : int
        ``r_hat``; the chain's width is ``2 rank``.
    scale : float
        ``eps`` of the wide block.
    outer_lr_scale : float
        ``gamma`` (0 freezes the outer factors: the exact theory of linear networks; inside nonlinear
        networks the subspaces move a little and ``gamma > 0`` lets the outer factors follow).
    basis : list of ndarray
        ``V_{l,1}`` for ``l = 1 .. L`` and ``U_{L,1}``, float64, ``2 rank`` orthonormal columns each
        (the last one only when the wide layers are isometries on the subspaces, e.g. square blocks).
    method : str
        How ``V_{1,1}`` was found: ``closed`` (known target), ``gradient``.
    """

    def __init__(self, wide: list[np.ndarray], basis: list[np.ndarray], rank: int, scale: float,
                 outer_lr_scale: float, method: str, dt: torch.dtype, dev: torch.device) -> None:
        super().__init__()
        L = len(wide)
        k = basis[0].shape[1]
        chain = [basis[0].T] + [scale * np.eye(k)] * L + [basis[-1]]
        self.factors = nn.ParameterList([nn.Parameter(torch.tensor(np.ascontiguousarray(c), dtype=dt, device=dev))
                                         for c in chain])
        self.in_features, self.out_features = int(wide[0].shape[1]), int(wide[-1].shape[0])
        self.depth, self.rank, self.scale = L, rank, scale
        self.outer_lr_scale, self.method = outer_lr_scale, method
        self.basis = basis
        self._wide = wide  # W_l(0), float64: the lift's complement term

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape ``(..., in_features)`` -> ``(..., out_features)``."""
        return _chain_forward(self.factors, _check_input(x, self.in_features, self.factors[0]))

    def end_to_end(self) -> torch.Tensor:
        """``U_{L,1} Wt_L ... Wt_1 V_{1,1}^T``, shape ``(out_features, in_features)``."""
        return _chain_product(list(self.factors))

    def parameter_groups(self, lr: float, outer_lr_scale: Optional[float] = None) -> list[dict]:
        """Optimizer parameter groups of the two timescales.

        Returns ``[{"params": [first, last], "lr": gamma * lr, "name": "outer"},
        {"params": inner, "lr": lr, "name": "inner"}]`` with ``gamma = outer_lr_scale`` (default: the
        block's). Pass them to any ``torch.optim`` optimiser.
        """
        lr = _checks.real(lr, "lr", minimum=0.0)
        gamma = self.outer_lr_scale if outer_lr_scale is None else _checks.real(outer_lr_scale, "outer_lr_scale",
                                                                                 minimum=0.0)
        f = list(self.factors)
        return [{"params": [f[0], f[-1]], "lr": gamma * lr, "name": "outer"},
                {"params": f[1:-1], "lr": lr, "name": "inner"}]

    def lift(self, rho: float) -> list[torch.Tensor]:
        """The wide block's factors this chain stands for (SCIENCE.md section 3).

        ``W_l = U_{l,1} Wt_l V_{l,1}^T + (rho / eps) W_l(0) (I - V_{l,1} V_{l,1}^T)``, with the moving
        outer factors in place of ``V_{1,1}^T`` and ``U_{L,1}``. With ``rho = rho(t)`` of the GD recursion
        (:func:`dln.reference.rho_recursion`), frozen outer factors, square layers and a known target
        (factorisation, whitened regression) this is the wide block trained directly, to rounding.
        Returns float64 tensors (detached).
        """
        rho = _checks.real(rho, "rho")
        C = [_checks.numpy64(f) for f in self.factors]
        L, V = self.depth, self.basis
        out = []
        for l in range(L):
            left = C[-1] if l == L - 1 else V[l + 1]
            right = C[0] if l == 0 else V[l].T
            W0 = self._wide[l]
            out.append(torch.from_numpy(left @ C[l + 1] @ right + (rho / self.scale) * (W0 - (W0 @ V[l]) @ V[l].T)))
        return out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, depth={self.depth}, "
                f"rank={self.rank}, outer_lr_scale={self.outer_lr_scale:g}, method={self.method!r}")


def _orth(*blocks: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the blocks side by side; columns normalised first so blocks of very
    different size (``eps^L``) weigh the same (a dependent set still yields a basis containing its span)."""
    M = np.hstack(blocks)
    norms = np.linalg.norm(M, axis=0)
    norms[norms == 0] = 1.0
    return np.linalg.qr(M / norms)[0]


def compress(block: DeepLinear, rank: int, batch: Optional[tuple] = None, *, gradient: Optional[torch.Tensor] = None,
             target: Optional[torch.Tensor] = None, outer_lr_scale: float = 0.01) -> CompressedDeepLinear:
    """The compressed equivalent of ``block`` (at its initialisation), of width ``2 rank``.

    Exactly one source of the subspace ``V_{1,1}`` (``in_features x 2 rank``):

    * ``batch=(X, Y)``: the block's own regression ``1/2 ||block(X) - Y||^2`` (``X`` of shape
      ``(N, in)``, ``Y`` ``(N, out)``): :func:`dln.invariant_subspace` (closed form when ``X`` has
      orthonormal columns, from the first gradient otherwise);
    * ``gradient=G``: the gradient of any loss with respect to ``block.factors[0]`` at the
      initialisation (e.g. after ``loss.backward()`` on the first batch of a nonlinear network):
      ``orth([V_G[:, :r], W_1(0)^T U_G[:, :r]])`` from the top ``r`` singular pairs of ``G``;
    * ``target=Phi`` (``out x in``): the spectral init ``orth([V_Phi[:, :r], W_{L:1}(0)^T U_Phi[:, :r]])``.

    Then ``U_{l,1} = W_l(0) V_{l,1} / eps``, ``V_{l+1,1} = U_{l,1}`` and the chain is
    ``[V_{1,1}^T, eps I (L copies), U_{L,1}]``: its end-to-end map at init is ``W_{L:1}(0) V_{1,1} V_{1,1}^T``.

    Parameters
    ----------
    block : DeepLinear
    rank : int
        ``r_hat`` in ``[1, min(block.widths) // 2]``.
    outer_lr_scale : float
        ``gamma >= 0`` of :meth:`CompressedDeepLinear.parameter_groups` (default 0.01, the discrepant
        learning rate; 0 is the exact theory for linear networks).
    """
    if not isinstance(block, DeepLinear):
        raise TypeError(f"block: expected a dln.torch.DeepLinear, got {type(block).__name__}")
    limit = min(block.widths) // 2
    r = _checks.integer(rank, "rank")
    if not 1 <= r <= limit:
        raise ValueError(f"rank: must be in [1, min(widths) // 2 = {limit}] (the compressed width 2 * rank must fit "
                         f"every factor of widths {block.widths}), got {r}")
    gamma = _checks.real(outer_lr_scale, "outer_lr_scale", minimum=0.0)
    given = [n for n, v in (("batch", batch), ("gradient", gradient), ("target", target)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"batch: give exactly one of batch=(X, Y), gradient= or target=, got {given or 'none'}")
    like = block.factors[0]
    W = [_checks.numpy64(f) for f in block.factors]
    eps = float(np.linalg.norm(W[0]) / np.sqrt(min(W[0].shape)))
    if eps == 0:
        raise ValueError("block: zero first factor; compression needs W_l(0) = eps * orthogonal with eps > 0")
    if batch is not None:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError(f"batch: expected a pair (X, Y) of tensors, got {type(batch).__name__}")
        X = _checks.tensor(batch[0], "batch[0]", ndim=2, like=like)
        Y = _checks.tensor(batch[1], "batch[1]", ndim=2, like=like)
        if X.shape[1] != block.in_features or Y.shape[1] != block.out_features or X.shape[0] != Y.shape[0]:
            raise ValueError(f"batch: expected X (N, {block.in_features}) and Y (N, {block.out_features}), got "
                             f"{tuple(X.shape)} and {tuple(Y.shape)}")
        problem = dln.Regression(_checks.numpy64(X).T.copy(), _checks.numpy64(Y).T.copy(), reduction="sum")
        Xn = _checks.numpy64(X)
        # dln.invariant_subspace takes the closed form exactly when X has orthonormal columns (whitened)
        whitened = Xn.shape[0] >= Xn.shape[1] and float(np.abs(Xn.T @ Xn - np.eye(Xn.shape[1])).max()) <= 1e-10
        method = "closed" if whitened else "gradient"
        V1 = dln.invariant_subspace(dln.Network(W), problem, r, method=method)
    elif target is not None:
        phi = _checks.tensor(target, "target", ndim=2, like=like)
        if tuple(phi.shape) != (block.out_features, block.in_features):
            raise ValueError(f"target: expected shape ({block.out_features}, {block.in_features}), "
                             f"got {tuple(phi.shape)}")
        V1 = dln.invariant_subspace(dln.Network(W), dln.Factorization(_checks.numpy64(phi), reduction="sum"), r,
                                    method="closed")
        method = "closed"
    else:
        G = _checks.tensor(gradient, "gradient", ndim=2, like=like)
        if G.shape != like.shape:
            raise ValueError(f"gradient: expected the shape of block.factors[0] {tuple(like.shape)}, "
                             f"got {tuple(G.shape)}")
        U, _, Vt = np.linalg.svd(_checks.numpy64(G), full_matrices=False)
        V1 = _orth(Vt[:r].T, W[0].T @ U[:, :r])
        method = "gradient"
    basis = [V1]
    for w in W:
        basis.append(w @ basis[-1] / eps)
    return CompressedDeepLinear(W, basis, r, eps, gamma, method, like.dtype, like.device)
