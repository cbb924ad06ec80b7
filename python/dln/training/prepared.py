"""One run checked and converted for the core: :class:`Prepared`, and running it in the core."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional

from .. import _core, _memory
from .._checks import choice, integer, real, sequence
from .._progress import Progress
from ..network import Network
from ..problems import Problem, Regression, refuse_sparse
from ..result import Result
from ..tracking import SvdTrace, TrackSpec

__all__ = ["OPTIMIZERS", "TRAIN_KEYS", "Settings", "Prepared", "prepare", "settings", "run", "train_plain",
           "threads_of"]

OPTIMIZERS = ("gd", "momentum", "adam", "rmsprop")

TRAIN_KEYS = ("lr", "steps", "optimizer", "tol", "record_every", "momentum", "betas", "eps", "decay", "lr_scale",
              "track_svd")


class Settings(NamedTuple):
    """The optimiser settings of one run, checked for type (the core's ``validate`` methods check the
    values); :meth:`optimizer_config` and :meth:`train_options` give them as the core's classes."""

    optimizer: str
    lr: float
    steps: int
    tol: Optional[float]
    record_every: int
    momentum: float
    beta1: float
    beta2: float
    eps: float
    decay: float
    lr_scale: list

    def optimizer_config(self) -> _core.OptimizerConfig:
        return _core.OptimizerConfig(kind=_core.OptimizerKind.__members__[self.optimizer], lr=self.lr,
                                     momentum=self.momentum, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                                     decay=self.decay, lr_scale=self.lr_scale)

    def train_options(self, threads: int = 0, steps: Optional[int] = None) -> _core.TrainOptions:
        """The run's options with ``threads`` (0: all cores) and, for a segment, its own ``steps``."""
        return _core.TrainOptions(steps=self.steps if steps is None else steps, tol=self.tol,
                                  record_every=self.record_every, n_threads=threads)


@dataclasses.dataclass
class Prepared:
    """A run checked and converted for the core (``_core.train``)."""

    net: Network
    problem: Problem
    core_problem: Any  # the problem bound for this network (problem._net_core): _core.Problem64 or Problem32
    weights: list  # the network's arrays, read in place by the core
    settings: Settings
    optimizer: _core.OptimizerConfig
    nbytes: float = 0.0  # peak memory estimate (dln._memory.train_bytes)
    track: Optional[_core.TrackSpec] = None  # SVD tracking, or None
    theory: Optional[tuple] = None  # the theory's bases (right, left) of reference "theory", or None

    @property
    def activation(self) -> dict:
        """The network's activation as the core's keyword arguments."""
        return dict(activation=self.net._act)

    @property
    def theory_args(self) -> dict:
        """The theory's bases as the core's keyword arguments (none unless reference "theory")."""
        return {} if self.theory is None else dict(theory_right=self.theory[0], theory_left=self.theory[1])

    def result(self, status: str, steps: int, loss: Any, weights: list, final_loss: float, seconds: float,
               message: str, n_threads: int, form: str, svd: Optional[dict] = None) -> Result:
        return Result(
            status=status, steps=int(steps), loss=loss, network=self.net._like(list(weights)),
            final_loss=float(final_loss), seconds=float(seconds), message=message, n_threads=int(n_threads),
            form=form, svd=None if svd is None else SvdTrace._from_core(svd), **self.run_fields)

    @property
    def run_fields(self) -> dict:
        """The fields of a :class:`Result` that come from the run's settings, not from its end."""
        s = self.settings
        return dict(optimizer=s.optimizer, lr=s.lr, reduction=self.problem.reduction, record_every=s.record_every)

    def core_result(self, out: Any, message: str) -> Result:
        """The :class:`Result` of the core's ``TrainResult64``/``TrainResult32`` ``out``."""
        return self.result(out.status.name, out.steps, out.loss, out.weights, out.final_loss, out.seconds, message,
                           out.n_threads, out.form.name, None if out.svd is None else out.svd.to_dict())

    def stacked_results(self, out: Any, explain: Any, nets: list) -> list:
        """The :class:`Result` of each run of the core's ``BatchRuns64``/``BatchRuns32`` ``out``, whose run j
        started from ``nets[j]`` (each result's network takes its activation)."""
        loss, offsets, weights, svd = out.loss, out.loss_offsets.tolist(), out.weights, out.svd
        fields = self.run_fields
        results = []
        for j, (status, steps, final, seconds, message, threads, form) in enumerate(zip(
                out.status, out.steps.tolist(), out.final_loss.tolist(), out.seconds.tolist(), out.message,
                out.n_threads.tolist(), out.form)):
            results.append(Result._trusted(dict(
                fields, status=status, steps=steps, loss=loss[offsets[j]:offsets[j + 1]],
                network=nets[j]._like(weights[j], read_only=True), final_loss=final, seconds=seconds,
                message=explain(message), n_threads=threads, form=form,
                svd=None if svd[j] is None else SvdTrace._from_core(svd[j].to_dict()))))
        return results


def prepare(net: Any, problem: Any, kwargs: dict) -> Prepared:
    """Check one run's arguments (types here, values again in the core) before any work starts."""
    if not isinstance(net, Network):
        raise TypeError(f"net: expected a dln.Network, got {type(net).__name__}")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem: expected a dln problem (Factorization, Regression, Completion), "
                        f"got {type(problem).__name__}")
    refuse_sparse(problem, "this run (dense evaluator)")
    unknown = set(kwargs) - set(TRAIN_KEYS)
    if unknown:
        raise TypeError(f"{sorted(map(str, unknown))[0]}: not an argument of dln.train")
    for key in ("lr", "steps"):
        if key not in kwargs:
            raise TypeError(f"{key}: required")
    k = dict(optimizer="gd", tol=None, record_every=1, momentum=0.9, betas=(0.9, 0.999), eps=1e-8, decay=0.9,
             lr_scale=None, track_svd=None)
    k.update(kwargs)
    s = settings(k, net.depth)
    core_problem = problem._net_core(net)
    track_svd = k["track_svd"]
    if track_svd is not None and not isinstance(track_svd, TrackSpec):
        raise TypeError(f"track_svd: expected a dln.TrackSpec, got {type(track_svd).__name__}")
    if track_svd is not None:
        net._require_linear("track_svd", "SVD tracking")
    track, theory = (None, None) if track_svd is None else track_svd._for_run(net, problem)
    optimizer = s.optimizer_config()
    optimizer.validate(net.depth)
    s.train_options().validate()
    data = net.activation != "linear" or core_problem.form_for(net.widths) == _core.RegressionForm.data
    cols = problem.X.shape[1] if isinstance(problem, Regression) and data else net.widths[0]
    nbytes = _memory.train_bytes(net.widths, cols, net.dtype.itemsize, s.optimizer)
    _memory.require(nbytes, "net", f"training a network of widths {net.widths}")
    return Prepared(net, problem, core_problem, net._weights, s, optimizer, nbytes, track, theory)


def settings(k: dict, depth: int) -> Settings:
    """The optimiser settings of ``k`` (train's keyword arguments, defaults filled in), checked for type."""
    optimizer = choice(k["optimizer"], "optimizer", OPTIMIZERS)
    lr = real(k["lr"], "lr")
    steps = integer(k["steps"], "steps", minimum=0)
    record_every = integer(k["record_every"], "record_every", minimum=1)
    tol = None if k["tol"] is None else real(k["tol"], "tol")
    momentum = real(k["momentum"], "momentum")
    try:
        b1, b2 = sequence(k["betas"], "betas")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"betas: expected a pair (beta1, beta2), got {k['betas']!r}") from exc
    b1, b2 = real(b1, "betas[0]"), real(b2, "betas[1]")
    eps = real(k["eps"], "eps")
    decay = real(k["decay"], "decay")
    lr_scale = k["lr_scale"]
    scales: list[float] = []
    if lr_scale is not None:
        try:
            sequence(lr_scale, "lr_scale")
        except TypeError:
            raise TypeError(f"lr_scale: expected one float per layer, got {lr_scale!r}") from None
        scales = [real(s, f"lr_scale[{i}]") for i, s in enumerate(lr_scale)]
        if len(scales) != depth:
            raise ValueError(f"lr_scale: needs one factor per layer: {depth}, got {len(scales)}")
    return Settings(optimizer, lr, steps, tol, record_every, momentum, b1, b2, eps, decay, scales)


def threads_of(n_threads: Optional[int]) -> int:
    """``n_threads`` as the core takes it: 0 for the default (all cores)."""
    return 0 if n_threads is None else integer(n_threads, "n_threads", minimum=1, maximum=4096)


def run(prepared: Prepared, threads: int, progress: Any) -> Result:
    """Run a prepared run in the core (GIL released) and return its :class:`Result`."""
    with Progress(progress, prepared.settings.steps, "dln.train") as bar:
        out = _core.train(prepared.core_problem, prepared.weights, prepared.optimizer,
                          prepared.settings.train_options(threads), progress=bar.callback(), track=prepared.track,
                          **prepared.theory_args, **prepared.activation)
        message = bar.explain(out.message)
    return prepared.core_result(out, message)


def train_plain(net: Network, problem: Problem, lr: float, steps: int, n_threads: Optional[int] = None,
                progress: Any = None, **kwargs: Any) -> Result:
    """:func:`dln.train` without compression or checkpoints (what the compressed path trains its chain with)."""
    prepared = prepare(net, problem, dict(lr=lr, steps=steps, **kwargs))
    return run(prepared, threads_of(n_threads), progress)
