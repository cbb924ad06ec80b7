"""The nonlinear experiments of issue 18, on CPU in minutes, with data that ship with scikit-learn
(``load_digits``: 1797 8 x 8 images, 10 classes) or are synthetic; nothing is downloaded.

Each function takes sizes and a seed and returns a JSON-ready dict (``dln reproduce`` writes it).

* :func:`mlp_compressed` - an MLP with an inserted deep linear block vs its compressed equivalent vs
  the plain MLP: test accuracy and wall time per epoch (Kwon et al.'s table shape).
* :func:`deep_lora` - pretrain an MLP, adapt it to a shifted task from few samples: Deep LoRA
  (compressed) vs LoRA, accuracy against samples and rank, numerical rank of the learned updates.
* :func:`nonlinear_subspace` - the fraction of each layer's update inside its top-2r singular subspace
  while a ReLU MLP trains, against depth and init scale (through :class:`SpectrumRecorder`).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

import dln

from . import _checks
from ._blocks import DeepLinear, compress
from ._lora import add_adapters, compress_adapters, merge
from ._recorder import SpectrumRecorder

__all__ = ["mlp_compressed", "deep_lora", "nonlinear_subspace", "EXPERIMENTS"]


class _Threads:
    """One intra-op thread while an experiment runs (timings comparable, bits independent of cores)."""

    def __enter__(self) -> "_Threads":
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc: Any) -> None:
        torch.set_num_threads(self.before)


def _digits(seed: int, dt: torch.dtype, test_fraction: float = 0.3) -> tuple:
    """Standardised digits, split by a seeded permutation: X_train, y_train, X_test, y_test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data.astype(np.float64)
    y = data.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = perm[:n_test], perm[n_test:]
    mu, sd = X[train].mean(0), X[train].std(0) + 1e-8
    X = (X - mu) / sd
    t = lambda a: torch.tensor(a, dtype=dt)  # noqa: E731
    return t(X[train]), torch.tensor(y[train]), t(X[test]), torch.tensor(y[test])


def _accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(X).argmax(1) == y).double().mean())


def _dtype(name: str) -> torch.dtype:
    table = {"float64": torch.float64, "float32": torch.float32}
    if name not in table:
        raise ValueError(f"dtype: expected 'float64' or 'float32', got {name!r}")
    return table[name]


def _linear(d_in: int, d_out: int, dt: torch.dtype, gen: torch.Generator) -> nn.Linear:
    """nn.Linear with its default init drawn from an explicit generator (one seed fixes the run)."""
    lin = nn.Linear(d_in, d_out, dtype=dt)
    bound = 1.0 / np.sqrt(d_in)
    with torch.no_grad():
        lin.weight.uniform_(-bound, bound, generator=gen)
        lin.bias.uniform_(-bound, bound, generator=gen)
    return lin


def mlp_compressed(hidden: int = 64, width: int = 512, depth: int = 3, rank: int = 8, scale: float = 0.5,
                   epochs: int = 15, batch_size: int = 64, lr: float = 3e-3, outer_lr_scale: float = 1.0,
                   dtype: str = "float64", seed: int = 0, quick: bool = False) -> dict:
    """An MLP ``64 -> hidden -> [block] -> hidden -> 10`` on digits, three ways (Adam, same batches).

    ``plain``: the block is one ``nn.Linear(hidden, hidden)``. ``wide``: a :class:`DeepLinear`
    (``depth`` factors of width ``width``, init scale ``scale``). ``compressed``: the wide block
    compressed at init by :func:`compress` (rank ``rank``, width ``2 rank``) from the first batch's
    gradient, outer factors at ``outer_lr_scale * lr``. Reports test accuracy, wall seconds per epoch
    (training only, one thread) and their ratio wide / compressed, measured in this run.
    """
    if quick:
        hidden, width, epochs = 32, 128, 4
    dt = _dtype(dtype)
    seed = _checks.integer(seed, "seed", minimum=0)
    Xtr, ytr, Xte, yte = _digits(seed, dt)
    loss_fn = nn.CrossEntropyLoss()
    s_data, s_model = _checks.seeds(seed, 2)
    order = np.random.default_rng(s_data)
    batches = [torch.from_numpy(order.permutation(len(ytr))) for _ in range(epochs)]

    def build(kind: str) -> nn.Sequential:
        gen = torch.Generator().manual_seed(s_model)  # the same outer layers for the three models
        first, last = _linear(Xtr.shape[1], hidden, dt, gen), _linear(hidden, 10, dt, gen)
        block: nn.Module = (_linear(hidden, hidden, dt, gen) if kind == "plain" else
                            DeepLinear(hidden, hidden, depth=depth, width=width, scale=scale, seed=s_model, dtype=dt))
        return nn.Sequential(first, nn.ReLU(), block, nn.ReLU(), last)

    results = {}
    with _Threads():
        for kind in ("plain", "wide", "compressed"):
            model = build("plain" if kind == "plain" else "wide")
            if kind == "compressed":
                first = batches[0][:batch_size]
                loss_fn(model(Xtr[first]), ytr[first]).backward()
                wide = model[2]
                assert isinstance(wide, DeepLinear)  # build("wide")
                block = compress(wide, rank, gradient=wide.factors[0].grad, outer_lr_scale=outer_lr_scale)
                model[2] = block
                model.zero_grad()
                others = [p for i, m in enumerate(model) if i != 2 for p in m.parameters()]
                groups = block.parameter_groups(lr) + [{"params": others, "lr": lr}]
            else:
                groups = [{"params": list(model.parameters()), "lr": lr}]
            opt = torch.optim.Adam(groups, lr=lr)
            seconds = []
            for e in range(epochs):
                t0 = time.perf_counter()
                for i in range(0, len(ytr), batch_size):
                    idx = batches[e][i:i + batch_size]
                    opt.zero_grad()
                    loss_fn(model(Xtr[idx]), ytr[idx]).backward()
                    opt.step()
                seconds.append(time.perf_counter() - t0)
            n_params = sum(p.numel() for p in model[2].parameters())
            results[kind] = {"test_accuracy": _accuracy(model, Xte, yte), "train_accuracy": _accuracy(model, Xtr, ytr),
                             "seconds_per_epoch": float(np.median(seconds)), "block_parameters": int(n_params)}
    return {"experiment": "mlp_compressed", "data": "sklearn digits (1797 x 64, 10 classes), 70/30 split",
            "hidden": hidden, "width": width, "depth": depth, "rank": rank, "scale": scale, "epochs": epochs,
            "batch_size": batch_size, "optimizer": "adam", "lr": lr, "outer_lr_scale": outer_lr_scale,
            "dtype": dtype, "seed": seed, "threads": 1, "results": results,
            "speedup_wide_over_compressed":
                results["wide"]["seconds_per_epoch"] / results["compressed"]["seconds_per_epoch"],
            "accuracy_gap_compressed_minus_wide":
                results["compressed"]["test_accuracy"] - results["wide"]["test_accuracy"]}


def _shift(X: torch.Tensor) -> torch.Tensor:
    """The shifted task: every 8 x 8 image transposed (a fixed permutation of the pixels)."""
    return X.reshape(-1, 8, 8).transpose(1, 2).reshape(-1, 64)


def _numerical_rank(delta: torch.Tensor, base: torch.Tensor, rtol: float) -> int:
    s = torch.linalg.svdvals(delta.detach().double())  # once per adapter after training, for the histogram
    return int((s > rtol * torch.linalg.matrix_norm(base.detach().double(), ord=2)).sum())


def deep_lora(samples: Sequence[int] = (16, 64, 256), ranks: Sequence[int] = (4, 8), hidden: int = 64,
              steps: int = 200, pretrain_epochs: int = 40, lr_deep: float = 1e-2, lr_lora: float = 1e-2,
              scale: float = 1e-3, rank_rtol: float = 1e-2, dtype: str = "float64", seed: int = 0,
              quick: bool = False) -> dict:
    """Pretrain ``64 -> hidden -> hidden -> 10`` on digits, then adapt every layer to transposed digits.

    For each number of samples (drawn from the shifted training split) and rank: compressed Deep LoRA
    (depth 3, init scale ``scale``, subspaces from the first full-batch gradient) and vanilla LoRA
    (alpha = rank), ``steps`` full-batch Adam steps each. Reports the shifted test accuracy, and for
    every adapted layer the numerical rank of the learned update: singular values of ``delta`` above
    ``rank_rtol * ||W_base||_2``.
    """
    if quick:
        samples, ranks, steps, pretrain_epochs = (16, 64), (4,), 60, 10
    dt = _dtype(dtype)
    seed = _checks.integer(seed, "seed", minimum=0)
    Xtr, ytr, Xte, yte = _digits(seed, dt)
    s_model, s_data, s_adapt = _checks.seeds(seed, 3)
    loss_fn = nn.CrossEntropyLoss()
    with _Threads():
        gen = torch.Generator().manual_seed(s_model)
        base = nn.Sequential(_linear(64, hidden, dt, gen), nn.ReLU(), _linear(hidden, hidden, dt, gen), nn.ReLU(),
                             _linear(hidden, 10, dt, gen))
        opt = torch.optim.Adam(base.parameters(), lr=1e-3)
        rng = np.random.default_rng(s_data)
        for _ in range(pretrain_epochs):
            perm = torch.from_numpy(rng.permutation(len(ytr)))
            for i in range(0, len(ytr), 64):
                idx = perm[i:i + 64]
                opt.zero_grad()
                loss_fn(base(Xtr[idx]), ytr[idx]).backward()
                opt.step()
        pre = {"source_test_accuracy": _accuracy(base, Xte, yte),
               "shifted_test_accuracy_before": _accuracy(base, _shift(Xte), yte)}
        Str, Ste = _shift(Xtr), _shift(Xte)
        targets = ["0", "2", "4"]
        cases: list[dict[str, Any]] = []
        for n in samples:
            n = _checks.integer(n, "samples", minimum=1, maximum=len(ytr))
            pick = torch.from_numpy(np.random.default_rng(s_data + n).permutation(len(ytr))[:n])
            X, y = Str[pick], ytr[pick]
            for r in ranks:
                for kind in ("deep", "lora"):
                    model = _copy(base)
                    if kind == "deep":
                        found = add_adapters(model, targets, kind="deep", rank=r, depth=3, scale=scale, compress=True,
                                             seed=s_adapt)
                        compress_adapters(model, loss_fn(model(X), y))
                        lr = lr_deep
                    else:
                        found = add_adapters(model, targets, kind="lora", rank=r, seed=s_adapt)
                        lr = lr_lora
                    opt = torch.optim.Adam([g for a in found.values() for g in a.parameter_groups(lr)], lr=lr)
                    for _ in range(steps):
                        opt.zero_grad()
                        loss_fn(model(X), y).backward()
                        opt.step()
                    ranks_found = [_numerical_rank(a.delta(), a.base.weight, rank_rtol) for a in found.values()]
                    acc = _accuracy(model, Ste, yte)
                    merged = merge(model)
                    cases.append({"samples": int(n), "rank": int(r), "kind": kind, "shifted_test_accuracy": acc,
                                  "merged_accuracy": _accuracy(merged, Ste, yte), "update_ranks": ranks_found})
    hist = {k: np.bincount([x for c in cases if c["kind"] == k for x in c["update_ranks"]],
                           minlength=max(ranks) + 1).tolist() for k in ("deep", "lora")}
    return {"experiment": "deep_lora", "data": "sklearn digits; shifted task = transposed images",
            "hidden": hidden, "steps": steps, "optimizer": "adam (full batch)", "lr_deep": lr_deep, "lr_lora": lr_lora,
            "scale": scale, "rank_rtol": rank_rtol, "dtype": dtype, "seed": seed, "pretrained": pre,
            "cases": cases, "update_rank_histogram": hist}


def _copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)


def nonlinear_subspace(depths: Sequence[int] = (2, 3, 4), scales: Sequence[float] = (0.3, 0.6, 1.0), width: int = 32,
                       rank: int = 2, samples: int = 256, steps: int = 400, lr: float = 0.5, every: int = 20,
                       dtype: str = "float64", seed: int = 0, quick: bool = False) -> dict:
    """A ReLU MLP (square ``width`` layers, no bias, dln's orthogonal init of scale ``eps``) fitted by full-
    batch GD to a rank-``rank`` linear teacher ``y = Phi x`` on Gaussian inputs (mean squared loss).

    For each layer and record, the fraction of the update ``W(t) - W(0)`` inside its top ``2 rank``
    singular subspace, ``sum_{i <= 2r} sigma_i^2 / ||W(t) - W(0)||_F^2``, with the singular values from a
    :class:`SpectrumRecorder` (``relative_to_init=True``) and its error bound reported. A linear network
    would keep it at 1 (law of parsimony); the experiment measures how far ReLU moves it.
    """
    if quick:
        depths, scales, steps = (2, 3), (0.6, 1.0), 100
    dt = _dtype(dtype)
    seed = _checks.integer(seed, "seed", minimum=0)
    s_data, s_model = _checks.seeds(seed, 2)
    rng = np.random.default_rng(s_data)
    Phi = rng.standard_normal((width, rank)) @ rng.standard_normal((rank, width))
    Phi /= np.linalg.norm(Phi, 2)
    X = torch.tensor(rng.standard_normal((samples, width)), dtype=dt)
    Y = X @ torch.tensor(Phi, dtype=dt).T
    cases = []
    with _Threads():
        for L in depths:
            for eps in scales:
                npdt = np.float64 if dt == torch.float64 else np.float32
                weights = dln.Network.orthogonal([width] * (L + 1), eps, s_model, dtype=npdt).weights
                layers: list[nn.Module] = []
                for l, w in enumerate(weights):
                    lin = nn.Linear(width, width, bias=False, dtype=dt)
                    with torch.no_grad():
                        lin.weight.copy_(torch.from_numpy(w))
                    layers += [lin] + ([nn.ReLU()] if l < L - 1 else [])
                model = nn.Sequential(*layers)
                rec = SpectrumRecorder(model, every=every, top_p=2 * rank, relative_to_init=True, rank=rank)
                W0 = {n: p.detach().clone() for n, p in model.named_parameters()}
                norms = {n: [0.0] for n in rec.names}
                opt = torch.optim.SGD(model.parameters(), lr=lr)
                with torch.no_grad():
                    loss0 = float(((model(X) - Y) ** 2).mean())
                for _ in range(steps):
                    opt.zero_grad()
                    loss = ((model(X) - Y) ** 2).mean()
                    loss.backward()
                    opt.step()
                    if rec.step():
                        for n, p in model.named_parameters():
                            norms[n].append(float(torch.linalg.norm((p.detach() - W0[n]).double())))
                fractions, bounds = {}, {}
                for n in rec.names:
                    s = rec.spectra[n]
                    f = np.array(norms[n])
                    with np.errstate(invalid="ignore", divide="ignore"):
                        frac = np.where(f > 0, (s ** 2).sum(1) / f ** 2, np.nan)
                    fractions[n] = frac[1:].tolist()
                    bounds[n] = float(np.max(rec.error_bound[n] / np.maximum(f, 1e-300)))
                final = [fr[-1] for fr in fractions.values()]
                cases.append({"depth": int(L), "scale": float(eps), "loss_start": loss0,
                              "loss_end": float(((model(X) - Y) ** 2).mean().detach()), "steps": rec.steps[1:].tolist(),
                              "fraction": fractions, "final_fraction_min": float(np.min(final)),
                              "final_fraction_mean": float(np.mean(final)),
                              "max_relative_error_bound": max(bounds.values())})
    return {"experiment": "nonlinear_subspace", "data": f"Gaussian X ({samples} x {width}), rank-{rank} linear teacher",
            "width": width, "rank": rank, "steps": steps, "optimizer": "gd (full batch)", "lr": lr,
            "loss": "mean squared error over all outputs", "dtype": dtype, "seed": seed, "cases": cases}


EXPERIMENTS: dict[str, Callable[..., dict]] = {"mlp_compressed": mlp_compressed, "deep_lora": deep_lora,
                                               "nonlinear_subspace": nonlinear_subspace}
