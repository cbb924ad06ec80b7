"""`dln.train`: the whole training loop runs in C++ with the GIL released."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from . import _core, _memory
from ._checks import choice, integer, real, sequence
from ._progress import Progress
from .network import Network, _suffix
from .problems import Problem
from .tracking import SvdTrace, TrackSpec

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
    svd: Optional[Any] = None  # dln.tracking.SvdTrace when trained with track_svd

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def __repr__(self) -> str:
        return (f"Result(status={self.status!r}, steps={self.steps}, final_loss={self.final_loss:.6g}, "
                f"seconds={self.seconds:.3g}, network={self.network!r})")


def train(net: Network, problem: Problem, lr: float, steps: int, optimizer: str = "gd",
          tol: Optional[float] = None, record_every: int = 1, momentum: float = 0.9,
          betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8, decay: float = 0.9,
          lr_scale: Optional[Sequence[float]] = None, n_threads: Optional[int] = None,
          progress: Any = None, checkpoint: Any = None, checkpoint_every: int = 1000,
          compress: Any = None, track_svd: Optional[TrackSpec] = None) -> Any:
    """Train ``net`` on ``problem`` and return a :class:`Result`.

    Parameters
    ----------
    net : Network
        Starting point; not modified. A network with a non-linear activation is trained exactly too
        (backpropagation in C++; regression through the data, factorisation and completion with
        ``X = I``); ``compress`` and ``track_svd`` need a linear one (ValueError otherwise).
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
        between different ``n_threads``. Runs whose products average under ~256^3 multiply-adds use
        one thread whatever is asked (``result.n_threads`` says what was used).
    progress : None, bool or callable
        ``None``: a tqdm bar when stderr is a terminal and tqdm is installed; ``True``/``False``:
        force it on/off; a callable is called with the number of updates done, from the calling
        thread, about every 50 ms. An exception it raises stops the run as ``interrupted``, and
        ``message`` names it.
    checkpoint : str or os.PathLike, optional
        Save the run to this file (:mod:`dln.io`: npz + JSON, written atomically) at the start, every
        ``checkpoint_every`` updates and at the end (also when interrupted), so that
        :func:`dln.resume` can continue it bit for bit after a crash or kill. An existing file is
        never overwritten (FileExistsError); a folder, or a path under a file, is refused before
        the run (IsADirectoryError, NotADirectoryError). With ``track_svd`` the SVD record so far
        and the trackers' state are saved too, and the resumed run's ``result.svd`` is that of an
        uninterrupted run.
    checkpoint_every : int
        Updates between checkpoints (default 1000). Checkpointing does not change the result.
    compress : None, "auto" or int
        Train the equivalent compressed network instead (:func:`dln.compression.train_compressed`):
        ``"auto"`` takes the target's rank, an int is the rank guess ``r_hat``. Returns a
        :class:`dln.compression.CompressedResult` (wide loss, lifted wide network, certificate).
    track_svd : dln.TrackSpec, optional
        Track the SVD of every layer inside the loop (no weights stored, no Python per step); the
        record is ``result.svd`` (:class:`dln.tracking.SvdTrace`).

    Ctrl-C stops the run within a step (status ``interrupted``) and returns what it reached.

    Raises
    ------
    TypeError, ValueError
        A bad argument, named at the start of the message, before any work starts.
    MemoryError
        The run would need more memory than is available (the message gives the GiB needed).
    OSError
        A checkpoint could not be written (full disk, no permission; the message starts with
        ``checkpoint``).
    """
    if compress is not None:
        if isinstance(net, Network):
            net._require_linear("compress", "compression")
            # a rank guess is checked here, to name `compress`; "auto" is resolved in train_compressed
            if not (isinstance(compress, str) and compress == "auto"):
                if isinstance(compress, str):
                    raise ValueError(f"compress: expected None, 'auto' or a rank guess (int), got {compress!r}")
                integer(compress, "compress", minimum=1, maximum=max(min(net.widths) // 2, 1))
        if checkpoint is not None or track_svd is not None:
            raise ValueError("compress: not supported together with checkpoint or track_svd")
        if lr_scale is not None or optimizer not in ("gd", "momentum"):
            raise ValueError("compress: needs optimizer 'gd' or 'momentum' and no lr_scale (the compressed "
                             "chain sets its own)")
        from .compression import train_compressed
        return train_compressed(net, problem, lr, steps, rank=compress, optimizer=optimizer, tol=tol,
                                record_every=record_every, momentum=momentum, n_threads=n_threads,
                                progress=progress)
    prepared = _prepare(net, problem, dict(lr=lr, steps=steps, optimizer=optimizer, tol=tol,
                                           record_every=record_every, momentum=momentum, betas=betas, eps=eps,
                                           decay=decay, lr_scale=lr_scale, track_svd=track_svd))
    threads = 0 if n_threads is None else integer(n_threads, "n_threads", minimum=1, maximum=4096)
    track = prepared.track
    if checkpoint is not None:
        from .io import train_checkpointed
        return train_checkpointed(prepared, checkpoint, checkpoint_every, threads, n_threads, progress)
    steps_total = prepared.args[4]
    with Progress(progress, steps_total, "dln.train") as bar:
        out = getattr(_core, f"train_{_suffix(net.dtype)}")(*prepared.args, threads, bar.callback(), track=track,
                                                            **prepared.activation)
        out["message"] = bar.explain(out["message"])
    return prepared.result(out)


_TRAIN_KEYS = ("lr", "steps", "optimizer", "tol", "record_every", "momentum", "betas", "eps", "decay", "lr_scale",
               "track_svd")


@dataclasses.dataclass
class _Prepared:
    """A run checked and converted for the core: the positional arguments of ``_core.train_*``."""

    net: Network
    problem: Problem
    args: tuple
    nbytes: float = 0.0  # peak memory estimate (dln._memory.train_bytes)
    track: Optional[dict] = None  # the core's TrackSpec dict (with the theory's bases) or None

    @property
    def activation(self) -> dict:
        """The network's activation as the core's keyword arguments."""
        return dict(activation=self.net.activation, negative_slope=self.net.negative_slope)

    def result(self, out: dict) -> Result:
        return Result(
            status=out["status"], steps=int(out["steps"]), loss=out["loss"],
            network=self.net._like(list(out["weights"])),
            final_loss=float(out["final_loss"]), seconds=float(out["seconds"]), message=out["message"],
            optimizer=self.args[2], lr=self.args[3], reduction=self.problem.reduction,
            record_every=self.args[6], n_threads=int(out["n_threads"]), form=out["form"],
            svd=SvdTrace._from_core(out["svd"]) if "svd" in out else None)


def _prepare(net: Any, problem: Any, kwargs: dict) -> _Prepared:
    """Check one run's arguments (types here, values again in the core) before any work starts."""
    if not isinstance(net, Network):
        raise TypeError(f"net: expected a dln.Network, got {type(net).__name__}")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem: expected a dln problem (Factorization, Regression, Completion), got {type(problem).__name__}")
    unknown = set(kwargs) - set(_TRAIN_KEYS)
    if unknown:
        raise TypeError(f"{sorted(map(str, unknown))[0]}: not an argument of dln.train")
    for key in ("lr", "steps"):
        if key not in kwargs:
            raise TypeError(f"{key}: required")
    k = dict(optimizer="gd", tol=None, record_every=1, momentum=0.9, betas=(0.9, 0.999), eps=1e-8, decay=0.9,
             lr_scale=None, track_svd=None)
    k.update(kwargs)
    settings = _settings(k, net.depth)
    core_problem = problem._net_core(net)
    track_svd = k["track_svd"]
    if track_svd is not None and not isinstance(track_svd, TrackSpec):
        raise TypeError(f"track_svd: expected a dln.TrackSpec, got {type(track_svd).__name__}")
    if track_svd is not None:
        net._require_linear("track_svd", "SVD tracking")
    track = None if track_svd is None else track_svd._for_run(net, problem)
    _core.check_run(*settings, net.depth)
    data = net.activation != "linear" or core_problem.form_for(net.widths) == "data"
    cols = problem.X.shape[1] if problem.kind == "regression" and data else net.widths[0]
    nbytes = _memory.train_bytes(net.widths, cols, net.dtype.itemsize, settings[0])
    _memory.require(nbytes, "net", f"training a network of widths {net.widths}")
    return _Prepared(net, problem, (core_problem, net._weights, *settings), nbytes, track)


def _settings(k: dict, depth: int) -> tuple:
    """The optimiser settings of ``k`` (train's keyword arguments, defaults filled in), checked for
    type: ``(optimizer, lr, steps, tol, record_every, momentum, beta1, beta2, eps, decay, lr_scale)``
    as the core takes them (``_core.check_run`` checks the values)."""
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
    return optimizer, lr, steps, tol, record_every, momentum, b1, b2, eps, decay, scales


def train_batch(jobs: Sequence[Any], n_threads: Optional[int] = None, progress: Any = None) -> list[Result]:
    """Run many independent trainings in one call, on a C++ thread pool with the GIL released.

    Parameters
    ----------
    jobs : sequence of (Network, Problem, dict)
        Each dict holds :func:`train`'s keyword arguments (``lr`` and ``steps`` required; no
        ``n_threads``, ``checkpoint`` or ``compress``; ``track_svd`` gives the job its own SVD tracker,
        whose record is bitwise that of ``train(..., n_threads=1)`` with the same spec). Jobs may differ in shapes, depth, dtype, optimiser, lr, steps and tol. Jobs
        given the same problem object share its data (no copy per job).
    n_threads : int, optional
        Pool size (default: all cores). Fewer jobs than threads leave threads idle.
    progress : None, bool or callable
        As in :func:`train`, counting the updates of all jobs together.

    Returns
    -------
    list of Result, in job order.

    Each job runs on one thread with single-threaded products, so its result is bitwise identical to
    ``train(net, problem, **kwargs, n_threads=1)`` whatever ``n_threads`` and whatever other jobs share
    the batch. Every job is checked before any runs; a bad one raises ``ValueError``/``TypeError``
    whose message starts with ``jobs[i]:``. A diverging job ends ``diverged`` without affecting the
    others; Ctrl-C stops all of them (status ``interrupted``).
    """
    if isinstance(jobs, (str, bytes)) or not hasattr(jobs, "__len__"):
        raise TypeError(f"jobs: expected a sequence of (network, problem, kwargs) triples, got {type(jobs).__name__}")
    threads = 0 if n_threads is None else integer(n_threads, "n_threads", minimum=1, maximum=4096)
    prepared: list[_Prepared] = []
    for i, job in enumerate(jobs):
        try:
            if not (isinstance(job, (tuple, list)) and len(job) == 3 and isinstance(job[2], dict)):
                raise TypeError(f"job: expected a (network, problem, kwargs dict) triple, got {type(job).__name__}")
            prepared.append(_prepare(*job))
        except (TypeError, ValueError, MemoryError) as exc:
            raise type(exc)(f"jobs[{i}]: {exc}") from None
    # Every job keeps its input and result weights (3 copies); at most n_threads jobs hold work buffers.
    kept = [3.0 * p.net.dtype.itemsize * _memory.layer_elements(p.net.widths) for p in prepared]
    working = sorted((p.nbytes - k for p, k in zip(prepared, kept)), reverse=True)
    _memory.require(sum(kept) + sum(working[:threads or _core.default_threads()]), "jobs",
                    f"a batch of {len(prepared)} runs")
    results: list[Optional[Result]] = [None] * len(prepared)
    total = sum(p.args[4] for p in prepared)
    with Progress(progress, total, "dln.train_batch") as bar:
        done_before = 0
        for dtype in sorted({p.net.dtype for p in prepared}, key=str):
            index = [i for i, p in enumerate(prepared) if p.net.dtype == dtype]
            outs = getattr(_core, f"train_batch_{_suffix(dtype)}")(
                [prepared[i].args + tuple(prepared[i].activation.values()) + (prepared[i].track,) for i in index],
                threads, bar.callback(done_before))
            for i, out in zip(index, outs):
                out["message"] = bar.explain(out["message"])
                results[i] = prepared[i].result(out)
            done_before += sum(prepared[i].args[4] for i in index)
    return results  # type: ignore[return-value]
