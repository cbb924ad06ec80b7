"""The front door: :func:`train` (one run: plain, compressed or checkpointed) and :func:`train_batch`.

The whole training loop runs in C++ with the GIL released.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from .. import _core, _memory
from .._checks import integer
from .._progress import Progress
from ..network import Network
from ..problems import Problem
from ..result import Result
from ..tracking import TrackSpec
from .checkpointed import train_checkpointed
from .compressed import SparseCompletion, train_compressed
from .implicit import is_implicit, train_implicit
from .prepared import TRAIN_KEYS, Prepared, prepare, run, threads_of

__all__ = ["train", "train_batch"]


def train(net: Network, problem: "Problem | SparseCompletion", lr: float, steps: int, optimizer: str = "gd",
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
    problem : Factorization, Regression, Completion or SparseCompletion
        Its data is converted to ``net.dtype`` if needed (a SparseCompletion must have ``net``'s
        dtype; it trains linear networks, without ``checkpoint`` or ``track_svd``).
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
    if is_implicit(net):  # an ImplicitNetwork trains only compressed (compress=None means "auto")
        return train_implicit(net, problem, lr, steps, optimizer=optimizer, tol=tol, record_every=record_every,
                              momentum=momentum, betas=betas, eps=eps, decay=decay, lr_scale=lr_scale,
                              n_threads=n_threads, progress=progress, checkpoint=checkpoint,
                              checkpoint_every=checkpoint_every, compress=compress, track_svd=track_svd)
    if isinstance(problem, SparseCompletion) and compress is None:  # the sparse evaluator, same loop
        for name, value in (("checkpoint", checkpoint), ("track_svd", track_svd)):
            if value is not None:
                raise ValueError(f"{name}: not supported on a dln.SparseCompletion (use a dln.Completion)")
        return problem._train(net, lr, steps, optimizer=optimizer, tol=tol, record_every=record_every,
                              momentum=momentum, betas=betas, eps=eps, decay=decay, lr_scale=lr_scale,
                              n_threads=n_threads, progress=progress)
    if compress is not None:
        if isinstance(net, Network):
            net._require_linear("compress", "compression")
            # a rank guess is checked here, to name `compress`; "auto" is resolved in train_compressed
            if not (isinstance(compress, str) and compress == "auto"):
                if isinstance(compress, str):
                    raise ValueError(f"compress: expected None, 'auto' or a rank guess (int), got {compress!r}")
                integer(compress, "compress", minimum=1, maximum=max(min(net.widths) // 2, 1))
        if isinstance(problem, SparseCompletion):
            raise ValueError("compress: a dln.SparseCompletion trains compressed from an implicit network "
                             "(dln.Network.orthogonal(..., implicit=True)); for a dense one pass the dln.Completion")
        if checkpoint is not None or track_svd is not None:
            raise ValueError("compress: not supported together with checkpoint or track_svd")
        if lr_scale is not None or optimizer not in ("gd", "momentum"):
            raise ValueError("compress: needs optimizer 'gd' or 'momentum' and no lr_scale (the compressed "
                             "chain sets its own)")
        return train_compressed(net, problem, lr, steps, rank=compress, optimizer=optimizer, tol=tol,
                                record_every=record_every, momentum=momentum, n_threads=n_threads,
                                progress=progress)
    prepared = prepare(net, problem, dict(lr=lr, steps=steps, optimizer=optimizer, tol=tol,
                                           record_every=record_every, momentum=momentum, betas=betas, eps=eps,
                                           decay=decay, lr_scale=lr_scale, track_svd=track_svd))
    threads = threads_of(n_threads)
    if checkpoint is not None:
        return train_checkpointed(prepared, checkpoint, checkpoint_every, threads, n_threads, progress)
    return run(prepared, threads, progress)


def train_batch(jobs: Sequence[Any], n_threads: Optional[int] = None, progress: Any = None) -> list[Result]:
    """Run many independent trainings in one call, on a C++ thread pool with the GIL released.

    Parameters
    ----------
    jobs : sequence of (Network, Problem, dict)
        Each dict holds :func:`train`'s keyword arguments (``lr`` and ``steps`` required; no
        ``n_threads``, ``checkpoint`` or ``compress``; ``track_svd`` gives the job its own SVD tracker,
        whose record is bitwise that of ``train(..., n_threads=1)`` with the same spec). Jobs may differ
        in shapes, depth, dtype, optimiser, lr, steps and tol. Jobs given the same problem object share
        its data (no copy per job). Jobs on a :class:`dln.SparseCompletion` (same arguments as
        :func:`train` takes for one) run after the others, one at a time on one thread.
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
    threads = threads_of(n_threads)
    # Jobs that differ only in their weights share one checked Prepared (and one core spec): a batch of
    # many networks of one shape on one problem checks and converts its settings once, not per job.
    shared: dict[Any, int] = {}
    specs: list[Prepared] = []
    members: list[list[int]] = []  # per spec, the jobs (their numbers) it runs
    nets: list[list[Network]] = []  # per spec, their networks
    # Jobs on a SparseCompletion (its evaluator is not in the core's batch pool): checked with the others,
    # run after them, one at a time on one thread, so each is bitwise its train(..., n_threads=1).
    sparse: dict[int, tuple[Network, SparseCompletion, Any]] = {}
    for i, job in enumerate(jobs):
        try:
            if not (isinstance(job, (tuple, list)) and len(job) == 3 and isinstance(job[2], dict)):
                raise TypeError(f"job: expected a (network, problem, kwargs dict) triple, got {type(job).__name__}")
            net, problem, kwargs = job
            if isinstance(problem, SparseCompletion) and not is_implicit(net):
                sparse[i] = (net, problem, _sparse_settings(net, problem, kwargs))
                continue
            key = _share_key(net, problem, kwargs)
            s = shared.get(key) if key is not None else None
            if s is None:
                s = len(specs)
                specs.append(prepare(net, problem, kwargs))
                members.append([])
                nets.append([])
                if key is not None:
                    shared[key] = s
            members[s].append(i)
            nets[s].append(net)
        except (TypeError, ValueError, MemoryError) as exc:
            raise type(exc)(f"jobs[{i}]: {exc}") from None
    # Every job keeps its input and result weights (3 copies); at most n_threads jobs hold work buffers.
    kept = [3.0 * p.net.dtype.itemsize * _memory.layer_elements(p.net.widths) for p in specs]
    working = sorted(((p.nbytes - k, len(m)) for p, k, m in zip(specs, kept, members)), reverse=True)
    busy, held = threads or _core.default_threads(), 0.0
    for w, count in working:  # the largest work buffers, one per thread
        held += w * min(count, busy)
        busy -= min(count, busy)
    _memory.require(sum(k * len(m) for k, m in zip(kept, members)) + held, "jobs",
                    f"a batch of {sum(map(len, members))} runs")
    results: list[Optional[Result]] = [None] * len(jobs)
    total = (sum(p.settings.steps * len(m) for p, m in zip(specs, members))
             + sum(st.steps for _, _, st in sparse.values()))
    with Progress(progress, total, "dln.train_batch") as bar:
        done_before = 0
        for dtype in sorted({p.net.dtype for p in specs}, key=str):
            chosen = [s for s, p in enumerate(specs) if p.net.dtype == dtype]  # this dtype's specs
            spec_type: Any = _core.BatchSpec64 if dtype == np.float64 else _core.BatchSpec32
            core_specs = [spec_type(p.core_problem, p.optimizer, p.settings.train_options(), track=p.track,
                                    **p.theory_args, **p.activation) for p in (specs[s] for s in chosen)]
            weights = [[net._weights for net in nets[s]] for s in chosen]  # read in place by the core
            try:
                outs = _core.train_batch(core_specs, weights, threads, bar.callback(done_before))
            except ValueError as exc:  # the core counts the runs of all specs in order: name the job
                raise ValueError(_renumbered(str(exc), [i for s in chosen for i in members[s]])) from None
            for s, out in zip(chosen, outs):
                for i, r in zip(members[s], specs[s].stacked_results(out, bar.explain, nets[s])):
                    results[i] = r
            done_before += sum(specs[s].settings.steps * len(members[s]) for s in chosen)
        # Ctrl-C (or a raising progress callable) stops the whole batch, as in the core's pool: jobs not
        # started by then end interrupted at their first state, with zero steps.
        stopped = any(r is not None and r.status == "interrupted" for r in results)
        for i, (net, problem, st) in sparse.items():
            if stopped:
                r = problem._run(net, st._replace(steps=0), 1, None, bar.explain)
                results[i] = dataclasses.replace(r, status="interrupted",
                                                 message="not started: the batch was interrupted")
                continue
            res = problem._run(net, st, 1, bar.callback(done_before), bar.explain)
            results[i] = res
            done_before += st.steps
            stopped = res.status == "interrupted"
    return results  # type: ignore[return-value]


def _renumbered(message: str, jobs: list) -> str:
    """A core message about its run k ("jobs[k]: ...") about the caller's job ``jobs[k]`` instead."""
    head, sep, rest = message.partition("]: ")
    if sep and head.startswith("jobs[") and head[5:].isdigit() and int(head[5:]) < len(jobs):
        return f"jobs[{jobs[int(head[5:])]}]: {rest}"
    return message


def _sparse_settings(net: Any, problem: SparseCompletion, kwargs: dict) -> Any:
    """The checked settings of a batch job on a SparseCompletion (its train arguments, named if refused)."""
    for key in kwargs:
        if key not in TRAIN_KEYS:
            raise TypeError(f"{key}: not an argument of dln.train for a dln.SparseCompletion job")
        if key not in SparseCompletion.TRAIN_KEYS:
            raise ValueError(f"{key}: not supported for a dln.SparseCompletion job")
    for key in ("lr", "steps"):
        if key not in kwargs:
            raise TypeError(f"{key}: required (in the job's kwargs)")
    return problem._settings(net, **kwargs)


def _share_key(net: Any, problem: Any, kwargs: dict) -> Any:
    """What makes two jobs' settings the same, or None for a job that gets its own :class:`Prepared`:
    one with SVD tracking (its tracker's theory bases depend on the weights) or unhashable arguments.
    The problem is the same object (its ``id`` is stable while the jobs hold it); the arguments are
    compared with their types, so ``steps=True`` never shares the check of ``steps=1``."""
    if type(net) is not Network or kwargs.get("track_svd") is not None:
        return None
    try:
        # kwargs in their order: the same arguments given in another order only miss the sharing
        key = (id(problem), net._dtype, net._activation, net._slope, tuple([w.shape for w in net._weights]),
               tuple(kwargs.items()), tuple(map(type, kwargs.values())))
        hash(key)
    except TypeError:  # an unhashable value (a list of lr_scale, say) or a key that is not a str
        return None
    return key
