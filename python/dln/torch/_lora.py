"""Low-rank adapters on frozen ``nn.Linear`` layers: deep (3-factor) LoRA and vanilla LoRA.

Deep LoRA (Yaras et al., "Compressible dynamics in deep overparameterized low-rank learning &
adaptation") adapts ``W`` by ``W + W_L ... W_1`` from a small orthogonal init; its compressed form keeps
only the top singular subspaces of the first gradient: ``[V^T (r x in), eps I_r (L copies), U (out x r)]``
with ``U, V`` the top ``r`` singular vectors of ``dLoss/dW`` at the start, the outer two factors trained
at ``outer_lr_scale * lr``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Union

import numpy as np
import torch
from torch import nn

import dln

from . import _checks
from ._blocks import _chain_forward, _chain_product, _orthogonal_factors


def _check_base(base: Any) -> nn.Linear:
    if not isinstance(base, nn.Linear):
        raise TypeError(f"base: expected a torch.nn.Linear, got {type(base).__name__}")
    if base.weight.dtype not in _checks.DTYPES:
        raise TypeError(f"base: weight dtype {base.weight.dtype} is not supported (torch.float64 or torch.float32)")
    if base.weight.device.type == "meta":
        raise ValueError("base: the weight is on the meta device (no values to adapt)")
    return base


def _check_rank(rank: Any, base: nn.Linear) -> int:
    limit = min(base.in_features, base.out_features)
    return _checks.integer(rank, "rank", minimum=1, maximum=limit)


class _Adapter(nn.Module):
    """``y = base(x) + x delta^T`` with ``base`` frozen; subclasses define the factors of ``delta``."""

    base: nn.Linear

    def _attach(self, base: nn.Linear) -> None:
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta(self) -> torch.Tensor:
        """The update ``delta`` of the base weight, shape ``(out, in)`` (differentiable)."""
        raise NotImplementedError

    def _check_x(self, x: Any) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
        if x.dtype != self.base.weight.dtype:
            raise TypeError(f"x: dtype {x.dtype} differs from the base layer's {self.base.weight.dtype}")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected shape (..., {self.in_features}), got {tuple(x.shape)}")
        return x

    def merge(self) -> nn.Linear:
        """A new ``nn.Linear`` with weight ``base.weight + delta()`` (computed once, in the base's dtype)
        and the base's bias; the adapter and its base are left as they are."""
        with torch.no_grad():
            w = self.base.weight + self.delta()
            out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                            device=w.device, dtype=w.dtype)
            out.weight.copy_(w)
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        out.weight.requires_grad_(self.base.weight.requires_grad)
        if out.bias is not None:
            out.bias.requires_grad_(self.base.bias.requires_grad)
        return out


class LoRA(_Adapter):
    """Vanilla LoRA: ``delta = (alpha / rank) B A``, ``A (rank x in)`` Gaussian, ``B (out x rank)`` zero.

    Parameters
    ----------
    base : nn.Linear
        Frozen by the adapter (``requires_grad`` off); its weight is never written.
    rank : int
        In ``[1, min(in_features, out_features)]``.
    alpha : float, optional
        Scaling numerator; default ``rank`` (scaling 1).
    seed : int
        Fixes ``A``: ``dln.Network.gaussian([in, rank], 1.0, seed)``, entries ``N(0, 1 / in)`` for
        ``rank <= in``.
    """

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: Optional[float] = None, seed: int = 0) -> None:
        super().__init__()
        base = _check_base(base)
        r = _check_rank(rank, base)
        a = float(r) if alpha is None else _checks.real(alpha, "alpha")
        seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1)
        w = base.weight
        npdt = np.float64 if w.dtype == torch.float64 else np.float32
        A = dln.Network.gaussian([base.in_features, r], 1.0, seed, dtype=npdt).weights[0]
        self._attach(base)
        self.rank, self.alpha, self.scaling = r, a, a / r
        self.A = nn.Parameter(torch.from_numpy(A).to(w.device))
        self.B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))

    def delta(self) -> torch.Tensor:
        return self.scaling * (self.B @ self.A)

    def parameter_groups(self, lr: float) -> list[dict]:
        """One group ``{"params": [A, B], "lr": lr}``."""
        return [{"params": [self.A, self.B], "lr": _checks.real(lr, "lr", minimum=0.0), "name": "lora"}]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_x(x)
        return self.base(x) + self.scaling * nn.functional.linear(nn.functional.linear(x, self.A), self.B)

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}"


class DeepLoRA(_Adapter):
    """Deep LoRA: ``delta = W_L ... W_1`` (``L = depth``), from a small orthogonal init.

    Parameters
    ----------
    base : nn.Linear
        Frozen by the adapter; its weight is never written.
    rank : int
        Inner width of the factorisation, in ``[1, min(in_features, out_features)]``.
    depth : int
        ``L >= 2`` factors of ``delta`` (the published Deep LoRA has 3).
    scale : float
        ``eps``: ``W_l(0) = eps Q_l`` (``dln.Network.orthogonal([in, rank, ..., rank, out], eps, seed)``),
        so ``delta(0) = eps^L Q_L ... Q_1``.
    compress : bool
        The compressed form: ``[V^T (rank x in), eps I_rank (L copies), U (out x rank)]``, ``U, V`` the top
        ``rank`` singular vectors of the gradient of the loss with respect to the adapted weight at the
        start. Such an adapter waits for that gradient: until :func:`compress_adapters` (or
        :meth:`compress_from`) it adds exactly zero and holds no factors, so build the optimiser after it.
    outer_lr_scale : float
        ``gamma`` of :meth:`parameter_groups` for the compressed form (outer factors at ``gamma * lr``).
    seed : int
        Fixes the orthogonal init (uncompressed form).
    """

    def __init__(self, base: nn.Linear, rank: int = 8, depth: int = 3, scale: float = 1e-3, compress: bool = False,
                 outer_lr_scale: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        base = _check_base(base)
        r = _check_rank(rank, base)
        L = _checks.integer(depth, "depth", minimum=2)
        eps = _checks.real(scale, "scale", positive=True)
        if not isinstance(compress, (bool, np.bool_)):
            raise TypeError(f"compress: expected a bool, got {type(compress).__name__}")
        gamma = _checks.real(outer_lr_scale, "outer_lr_scale", minimum=0.0)
        seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1)
        w = base.weight
        self._attach(base)
        self.rank, self.depth, self.scale = r, L, eps
        self.compressed, self.outer_lr_scale = bool(compress), gamma
        self.factors = nn.ParameterList()
        self._probe: Optional[torch.Tensor] = None
        if self.compressed:
            # Stands for the adapter until the first gradient arrives: dLoss/dprobe = dLoss/dW.
            self._probe = torch.zeros_like(w, requires_grad=True)
        else:
            widths = [base.in_features] + [r] * (L - 1) + [base.out_features]
            for m in _orthogonal_factors(widths, eps, seed, w.dtype):
                self.factors.append(nn.Parameter(torch.from_numpy(m).to(w.device)))

    @property
    def pending(self) -> bool:
        """True for a compressed adapter still waiting for its first gradient."""
        return self._probe is not None

    def compress_from(self, gradient: torch.Tensor) -> "DeepLoRA":
        """Set the compressed factors from ``gradient`` = dLoss/dW (shape ``(out, in)``) at the start."""
        if not self.pending:
            raise RuntimeError("gradient: this adapter is not a pending compressed one (compress=True, not yet set)")
        G = _checks.tensor(gradient, "gradient", ndim=2, like=self.base.weight)
        if G.shape != self.base.weight.shape:
            raise ValueError(f"gradient: expected shape {tuple(self.base.weight.shape)}, got {tuple(G.shape)}")
        U, s, Vt = np.linalg.svd(_checks.numpy64(G), full_matrices=False)
        if not s[0] > 0:
            raise ValueError("gradient: is zero, it defines no subspace")
        r, w = self.rank, self.base.weight
        chain = [Vt[:r]] + [self.scale * np.eye(r)] * self.depth + [U[:, :r]]
        for c in chain:
            self.factors.append(nn.Parameter(torch.tensor(np.ascontiguousarray(c), dtype=w.dtype, device=w.device)))
        self._probe = None
        return self

    def delta(self) -> torch.Tensor:
        if self.pending:
            return torch.zeros_like(self.base.weight)
        return _chain_product(list(self.factors))

    def parameter_groups(self, lr: float, outer_lr_scale: Optional[float] = None) -> list[dict]:
        """Optimizer groups: compressed, the outer pair at ``gamma * lr`` and the inner factors at ``lr``;
        uncompressed, every factor at ``lr``."""
        if self.pending:
            raise RuntimeError("lr: a compressed adapter has no factors before compress_adapters(model, loss)")
        lr = _checks.real(lr, "lr", minimum=0.0)
        f = list(self.factors)
        if not self.compressed:
            return [{"params": f, "lr": lr, "name": "deep_lora"}]
        gamma = self.outer_lr_scale if outer_lr_scale is None else _checks.real(outer_lr_scale, "outer_lr_scale",
                                                                                 minimum=0.0)
        return [{"params": [f[0], f[-1]], "lr": gamma * lr, "name": "outer"},
                {"params": f[1:-1], "lr": lr, "name": "inner"}]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_x(x)
        if self._probe is not None:  # pending
            return self.base(x) + nn.functional.linear(x, self._probe)
        return self.base(x) + _chain_forward(self.factors, x)

    def extra_repr(self) -> str:
        state = ", pending" if self.pending else ""
        return f"rank={self.rank}, depth={self.depth}, scale={self.scale:g}, compress={self.compressed}{state}"


KINDS = {"deep": DeepLoRA, "lora": LoRA}


def _targets(model: nn.Module, targets: Any) -> list[str]:
    modules = dict(model.named_modules())
    if callable(targets) and not isinstance(targets, str):
        names = [n for n, m in modules.items() if n and targets(n, m)]
    elif isinstance(targets, str):
        names = [targets]
    elif isinstance(targets, Iterable):
        names = list(targets)
    else:
        raise TypeError(f"targets: expected module names or a predicate (name, module) -> bool, got "
                        f"{type(targets).__name__}")
    if not names:
        raise ValueError("targets: selects no layer")
    linear = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
    for i, n in enumerate(names):
        if not isinstance(n, str):
            raise TypeError(f"targets[{i}]: expected a module name (str), got {type(n).__name__}")
        if n not in modules or not n:
            raise ValueError(f"targets[{i}]: no module named {n!r} in the model (its Linear layers: {linear})")
        if isinstance(modules[n], _Adapter):
            raise TypeError(f"targets[{i}]: {n!r} is already an adapter")
        if not isinstance(modules[n], nn.Linear):
            raise TypeError(f"targets[{i}]: {n!r} is a {type(modules[n]).__name__}, not a torch.nn.Linear")
    if len(set(names)) != len(names):
        raise ValueError(f"targets: names repeat: {names}")
    return names


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def add_adapters(model: nn.Module, targets: Union[Iterable[str], str, Callable[[str, nn.Module], bool]],
                 kind: str = "deep", seed: int = 0, **options: Any) -> dict:
    """Wrap the chosen ``nn.Linear`` layers of ``model`` in adapters and freeze everything else.

    Parameters
    ----------
    model : nn.Module
        Changed in place: every parameter gets ``requires_grad=False``, then each target is replaced by
        its adapter (whose ``base`` is the original layer, frozen and never written).
    targets : names, one name, or a predicate ``(name, module) -> bool``
        Names as in ``model.named_modules()``; every one must be an ``nn.Linear``.
    kind : {"deep", "lora"}
        :class:`DeepLoRA` or :class:`LoRA`.
    seed : int
        One seed; adapter ``i`` gets the ``i``-th of independent seeds spawned from it.
    **options
        Passed to the adapter (``rank``, ``depth``, ``scale``, ``compress``, ``alpha``, ...).

    Returns
    -------
    dict
        Module name -> adapter, in the order of ``targets``.

    Every target is checked and every adapter built before the model is touched.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}")
    if "seed" in options or "base" in options:
        raise TypeError("options: 'seed' and 'base' are set by add_adapters")
    names = _targets(model, targets)
    seed = _checks.integer(seed, "seed", minimum=0, maximum=2**64 - 1)
    modules = dict(model.named_modules())
    # Every adapter is built before the model changes; a bad option restores the flags it touched.
    flags = [(p, p.requires_grad) for p in model.parameters()]
    built = {}
    try:
        for n, s in zip(names, _checks.seeds(seed, len(names))):
            built[n] = KINDS[kind](modules[n], seed=s, **options)
    except Exception:
        for p, f in flags:
            p.requires_grad_(f)
        raise
    for p in model.parameters():  # the adapters' own factors are not in the model yet
        p.requires_grad_(False)
    for n, adapter in built.items():
        _set_module(model, n, adapter)
    return built


def adapters(model: nn.Module) -> dict:
    """Module name -> adapter for every :class:`DeepLoRA` / :class:`LoRA` inside ``model``."""
    return {n: m for n, m in model.named_modules() if isinstance(m, _Adapter)}


def compress_adapters(model: nn.Module, loss: torch.Tensor) -> dict:
    """Initialise every pending compressed :class:`DeepLoRA` of ``model`` from one loss.

    ``loss`` is a scalar computed by ``model`` on the first batch; its gradient with respect to each
    adapted weight (taken through the adapters' zero stand-ins, nothing else accumulates a ``.grad``)
    sets that adapter's subspaces. Returns name -> adapter of those initialised.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"loss: expected a scalar tensor computed by the model, got {type(loss).__name__}")
    pending = {n: m for n, m in adapters(model).items() if isinstance(m, DeepLoRA) and m.pending}
    if not pending:
        raise ValueError("model: holds no pending compressed DeepLoRA adapter")
    probes = [m._probe for m in pending.values() if m._probe is not None]  # all of them: they are pending
    grads = torch.autograd.grad(loss, probes, allow_unused=True)
    for n, g in zip(pending, grads):
        if g is None:
            raise ValueError(f"loss: does not depend on the adapter {n!r}")
    for m, g in zip(pending.values(), grads):
        m.compress_from(g)
    return pending


def merge(obj: Union[nn.Module, _Adapter]) -> nn.Module:
    """Fold adapters into their base weights.

    An adapter gives back a new ``nn.Linear`` (``weight = base.weight + delta()``); a model has each of its
    adapters replaced by that layer, in place, and is returned.
    """
    if isinstance(obj, _Adapter):
        return obj.merge()
    if not isinstance(obj, nn.Module):
        raise TypeError(f"obj: expected an adapter or a torch.nn.Module, got {type(obj).__name__}")
    found = adapters(obj)
    if not found:
        raise ValueError("obj: holds no adapter to merge")
    for n in sorted(found, key=lambda k: -k.count(".")):  # innermost first (an adapter is never nested)
        _set_module(obj, n, found[n].merge())
    return obj
