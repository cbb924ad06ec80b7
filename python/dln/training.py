"""`dln.train`: the whole training loop runs in C++ with the GIL released."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from . import _core
from ._checks import choice, integer, real
from .network import Network, _suffix
from .problems import Problem

OPTIMIZERS = ("gd", "momentum", "adam", "rmsprop")
STATUSES = ("converged", "max_steps", "diverged", "interrupted")


@dataclasses.dataclass(frozen=True)
class Result:
    """Outcome of :func:`train`.

    Attributes
    ----------
    status : str
        ``converged`` (loss <= tol), ``max_steps``, ``diverged`` (loss non-finite or above 1e8 times
        its initial value; ``network`` is then the last state whose loss was finite) or
        ``interrupted`` (Ctrl-C; ``network`` is the state reached).
    steps : int
        Updates applied to reach ``network``.
    loss : ndarray
        History: ``loss[0]`` at the start, ``loss[k]`` after ``k * record_every`` updates, in the
        problem's reduction units.
    network : Network
        The trained network (a new object; the input network is never modified).
    final_loss : float
        Loss of ``network``.
    seconds : float
        Wall time of the C++ loop.
    message : str
        What happened, in words.
    """

    status: str
    steps: int
    loss: np.ndarray
    network: Network
    final_loss: float
    seconds: float
    message: str
    optimizer: str
    lr: float
    reduction: str
    record_every: int
    n_threads: int
    form: str

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def __repr__(self) -> str:
        return (f"Result(status={self.status!r}, steps={self.steps}, final_loss={self.final_loss:.6g}, "
                f"seconds={self.seconds:.3g}, network={self.network!r})")


def train(net: Network, problem: Problem, lr: float, steps: int, optimizer: str = "gd",
          tol: Optional[float] = None, record_every: int = 1, momentum: float = 0.9,
          betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, decay: float = 0.9,
          lr_scale: Optional[Sequence[float]] = None, n_threads: Optional[int] = None) -> Result:
    """Train ``net`` on ``problem`` and return a :class:`Result`.

    Parameters
    ----------
    net : Network
        Starting point; not modified.
    problem : Factorization, Regression or Completion
        Its data is converted to ``net.dtype`` if needed.
    lr : float
        Step size, in the problem's reduction units (``lr`` under ``mean`` is ``lr * c`` under ``sum``).
    steps : int
        Maximum number of updates.
    optimizer : {"gd", "momentum", "adam", "rmsprop"}
        Conventions of the published code (optax): heavy-ball ``buf <- momentum buf + g,
        W <- W - lr buf``; Adam bias-corrected with ``eps`` outside the square root; RMSprop
        ``v <- decay v + (1 - decay) g^2, W <- W - lr g / (sqrt(v) + eps)``.
    tol : float, optional
        Stop as soon as the loss is ``<= tol`` (checked before each update).
    record_every : int
        Stride of the loss history.
    momentum, betas, eps, decay : float
        Optimiser hyperparameters (defaults 0.9, (0.9, 0.999), 1e-8, 0.9).
    lr_scale : sequence of float, optional
        One learning-rate factor per layer (default all 1).
    n_threads : int, optional
        Threads for the matrix products inside a step (default: all cores). Results are bitwise
        reproducible for a given build, machine and ``n_threads``; they may differ in the last bits
        between different ``n_threads``.

    Ctrl-C stops the run within a step (status ``interrupted``) and returns what it reached.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net: expected a dln.Network, got {type(net).__name__}")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem: expected a dln problem (Factorization, Regression, Completion), got {type(problem).__name__}")
    optimizer = choice(optimizer, "optimizer", OPTIMIZERS)
    lr = real(lr, "lr")
    steps = integer(steps, "steps", minimum=0)
    record_every = integer(record_every, "record_every", minimum=1)
    tol_value = None if tol is None else real(tol, "tol")
    momentum = real(momentum, "momentum")
    try:
        b1, b2 = betas
    except (TypeError, ValueError) as exc:
        raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}") from exc
    b1, b2 = real(b1, "betas[0]"), real(b2, "betas[1]")
    eps = real(eps, "eps")
    decay = real(decay, "decay")
    if lr_scale is None:
        scales: list[float] = []
    else:
        if isinstance(lr_scale, (str, bytes)) or not hasattr(lr_scale, "__len__"):
            raise TypeError(f"lr_scale: expected one float per layer, got {lr_scale!r}")
        scales = [real(s, f"lr_scale[{i}]") for i, s in enumerate(lr_scale)]
        if len(scales) != net.depth:
            raise ValueError(f"lr_scale: needs one factor per layer: {net.depth}, got {len(scales)}")
    threads = 0 if n_threads is None else integer(n_threads, "n_threads", minimum=1, maximum=4096)

    core_problem = problem._net_core(net)
    fn = getattr(_core, f"train_{_suffix(net.dtype)}")
    out = fn(core_problem, net._weights, optimizer, lr, steps, tol_value, record_every, momentum, b1, b2,
             eps, decay, scales, threads)
    return Result(
        status=out["status"], steps=int(out["steps"]), loss=out["loss"],
        network=Network._from_trusted(list(out["weights"]), net.dtype), final_loss=float(out["final_loss"]),
        seconds=float(out["seconds"]), message=out["message"], optimizer=optimizer, lr=lr,
        reduction=problem.reduction, record_every=record_every, n_threads=int(out["n_threads"]),
        form=out["form"])
