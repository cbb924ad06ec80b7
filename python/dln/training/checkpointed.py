"""Checkpointed training: ``dln.train(..., checkpoint=path)`` in segments that each write the
checkpoint (format: :mod:`dln.io`), and :func:`resume`, which continues a saved run bit for bit."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from typing import Any, Optional

import numpy as np

from .. import _core
from .._about import __version__
from .._checks import integer
from .._checks import path as checked_path
from .._progress import Progress
from ..io import (
    FORMAT,
    VERSION,
    Checkpoint,
    CheckpointError,
    _bad,
    _check_same_problem,
    _encode,
    _merge_records,
    _remove_stale_temporaries,
    load_checkpoint,
    problem_fingerprint,
    write_checkpoint,
)
from ..result import Result
from ..tracking import TrackSpec
from .prepared import Prepared, prepare, threads_of

__all__ = ["train_checkpointed", "resume"]


def _config(prepared: Prepared, n_threads: Optional[int], every: int) -> dict:
    s = prepared.settings
    out = dict(optimizer=s.optimizer, lr=s.lr, tol=s.tol, record_every=s.record_every, momentum=s.momentum,
               betas=[s.beta1, s.beta2], eps=s.eps, decay=s.decay, lr_scale=list(s.lr_scale) or None,
               n_threads=n_threads, checkpoint_every=every, dtype=prepared.net.dtype.str,
               activation=prepared.net.activation, negative_slope=prepared.net.negative_slope)
    if prepared.track is not None:
        out["track_svd"] = TrackSpec._settings(prepared.track)
    return out


@dataclasses.dataclass
class _Point:
    """Where a checkpointed run stands: after a segment in the core, or as a checkpoint saved it."""

    status: str
    steps: int
    loss: Any
    weights: list
    final_loss: float
    message: str
    form: str
    n_threads: int
    state: Any  # _core.TrainState64 or TrainState32: the resume state at ``steps``

    @classmethod
    def of(cls, out: Any, message: str) -> "_Point":
        """The point a core ``TrainResult64``/``TrainResult32`` ends at."""
        return cls(out.status.name, int(out.steps), out.loss, list(out.weights), float(out.final_loss), message,
                   out.form.name, int(out.n_threads), out.state)


# The core's resume and tracker-state classes by dtype (a checkpoint's arrays say which).
_TRAIN_STATE: dict[np.dtype, Any] = {np.dtype(np.float64): _core.TrainState64, np.dtype(np.float32): _core.TrainState32}
_TRACK_STATE: dict[np.dtype, Any] = {np.dtype(np.float64): _core.TrackState64, np.dtype(np.float32): _core.TrackState32}


def _save(path: str, prepared: Prepared, fingerprint: dict, config: dict, status: str, steps_total: int, at: _Point,
          seconds: float, svd: Optional[tuple] = None) -> None:
    weights = list(at.weights)
    state = at.state
    arrays = {f"weights_{l}": w for l, w in enumerate(weights)}
    arrays.update({f"optimizer_m_{l}": m for l, m in enumerate(state.optimizer_m)})
    arrays.update({f"optimizer_v_{l}": v for l, v in enumerate(state.optimizer_v)})
    arrays["loss"] = np.asarray(at.loss, dtype=np.float64)
    arrays["scalars"] = np.array([state.initial_loss, at.final_loss], dtype=np.float64)
    meta = dict(format=FORMAT, version=VERSION, dln_version=__version__, status=status, step=int(at.steps),
                steps=steps_total, depth=len(weights), optimizer_t=int(state.optimizer_t),
                optimizer_m=len(state.optimizer_m), optimizer_v=len(state.optimizer_v), config=config,
                problem=fingerprint, seconds=seconds, message=at.message, form=at.form,
                n_threads_used=int(at.n_threads))
    if svd is not None:
        svd_arrays: dict = {}
        meta["svd"] = _encode(dict(record=svd[0], state=None if svd[1] is None else svd[1].to_dict()), svd_arrays)
        arrays.update(svd_arrays)
    write_checkpoint(path, meta, arrays)


class _SigintGuard:
    """Ctrl-C during a checkpointed run: inside the core it stops the run (the core polls for it and
    returns ``interrupted``); between segments - while a checkpoint is being written - it is only
    noted, and the run stops at the next boundary with the checkpoint intact. Only installed on the
    main thread and over Python's default handler (a user's own handler is left alone)."""

    def __init__(self) -> None:
        self.hit = False
        self.in_core = False
        self.previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        self.hit = True
        if self.in_core:
            raise KeyboardInterrupt  # seen by the core's poll, which turns it into a stop request

    def __enter__(self) -> "_SigintGuard":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _run(prepared: Prepared, path: str, every: int, threads: int, n_threads: Optional[int], progress: Any,
         start: Optional[Checkpoint], fingerprint: dict):
    """Train in segments of ``every`` updates, writing the checkpoint at the start, after each segment
    and at the end. Segments continue from the previous one's TrainState, so the result is bitwise
    that of one uninterrupted call."""
    steps_total = prepared.settings.steps
    config = _config(prepared, n_threads, every)
    dtype = np.dtype(prepared.net.dtype)
    _remove_stale_temporaries(path)
    # SVD tracking: each segment's observer continues from the previous one's state; the records of
    # the segments are appended (the core skips the step a restored observer has already seen).
    track = prepared.track
    svd_record: Optional[dict] = None
    svd_state: Any = None  # _core.TrackState64 or TrackState32
    at: Optional[_Point] = None
    if start is None:
        first, seconds = 0, 0.0
    else:
        first, seconds = start.step, start.seconds
        svd_record = start.svd_record
        try:
            if start.svd_state is not None:
                svd_state = _TRACK_STATE[dtype].from_dict(start.svd_state)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint: {path}: {exc}") from None
        state = _TRAIN_STATE[dtype](step=start.step, initial_loss=start.initial_loss,
                                    loss=[float(x) for x in start.loss], optimizer_t=start.optimizer_t,
                                    optimizer_m=list(start.optimizer_m), optimizer_v=list(start.optimizer_v))
        at = _Point("running", start.step, start.loss, start.network._weights, start.final_loss, start.message,
                    start.form, start.n_threads, state)
    step = first
    status = "running"
    with Progress(progress, steps_total - first, "dln.train") as bar, _SigintGuard() as guard:
        while status == "running":
            # Ctrl-C between segments, or a progress callable that raised as a segment ended
            if (guard.hit or bar.error is not None) and at is not None:
                status = "interrupted"
                message = bar.explain(f"interrupted after {step} steps (loss {at.final_loss:.6g})")
                at = dataclasses.replace(at, status=status, message=message)
                _save(path, prepared, fingerprint, config, status, steps_total, at, seconds,
                      None if track is None else (svd_record, svd_state))
                break
            weights = at.weights if at is not None else prepared.net._weights
            # The first call of a fresh run does no update: it writes the checkpoint of step 0.
            segment = prepared.settings.train_options(threads, 0 if at is None else min(steps_total, step + every))
            kwargs: dict = {}
            if track is not None:
                kwargs = dict(track=track, save_track_state=True)
                if svd_state is not None:  # the theory's bases travel in the state
                    kwargs["track_state"] = svd_state
                else:
                    kwargs.update(prepared.theory_args)
            try:
                guard.in_core = True
                out = _core.train(prepared.core_problem, weights, prepared.optimizer, segment,
                                  progress=bar.callback(step - first), resume=None if at is None else at.state,
                                  **kwargs, **prepared.activation)
            except ValueError as exc:
                if start is not None and str(exc).startswith("state"):
                    raise CheckpointError(f"checkpoint: {path}: {exc}") from None
                raise
            except KeyboardInterrupt:  # in the instant before the core started polling
                continue  # guard.hit is set: saved as interrupted above (or next round)
            finally:
                guard.in_core = False
            at = _Point.of(out, bar.explain(out.message))
            if track is not None:
                svd_record, svd_state = _merge_records(svd_record, out.svd.to_dict()), out.svd_state
            seconds += float(out.seconds)
            step = at.steps
            final = at.status != "max_steps" or step == steps_total
            status = at.status if final else "running"
            _save(path, prepared, fingerprint, config, status, steps_total, at, seconds,
                  None if track is None else (svd_record, svd_state))
    assert at is not None
    result = prepared.result(at.status, at.steps, at.loss, at.weights, at.final_loss, seconds, at.message,
                             at.n_threads, at.form, svd_record if track is not None else None)
    return result


def train_checkpointed(prepared: Prepared, path: Any, every: Any, threads: int, n_threads: Optional[int],
                       progress: Any) -> Result:
    """``dln.train`` with ``checkpoint=path``: refuses to overwrite an existing checkpoint."""
    path = checked_path(path, "checkpoint")
    every = integer(every, "checkpoint_every", minimum=1)
    if os.path.isdir(path):
        raise IsADirectoryError(f"checkpoint: {path} is a directory; name a file in it")
    if os.path.lexists(path):
        raise FileExistsError(f"checkpoint: {path} exists; continue it with dln.resume({path!r}, problem) or "
                              f"remove it to start again")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        parent = folder
        while not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if os.path.isdir(parent):
            raise FileNotFoundError(f"checkpoint: folder {folder} does not exist")
        raise NotADirectoryError(f"checkpoint: {parent} is not a directory, so {path} cannot be written")
    return _run(prepared, path, every, threads, n_threads, progress, None, problem_fingerprint(prepared.problem))


def resume(path: Any, problem: Any, steps: Optional[int] = None, n_threads: Any = "saved", progress: Any = None):
    """Continue a run saved by ``dln.train(..., checkpoint=path)`` and return its :class:`dln.Result`.

    The run goes on exactly as if it had never stopped (bitwise, for the same build, machine and
    ``n_threads``), writing the same checkpoint every ``checkpoint_every`` updates. A finished run
    (converged, diverged, or max_steps with no larger ``steps``) is returned as saved, so a script that
    calls ``resume`` when the file exists and ``train`` otherwise can be restarted any number of times.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint.
    problem : Factorization, Regression or Completion
        The run's problem: its data must match the fingerprint saved (shapes, dtypes, SHA-256).
    steps : int, optional
        A new maximum number of updates (>= the updates done), e.g. to extend a run that ended
        ``max_steps``.
    n_threads : int or None, optional
        Threads for the products; default: what the run was started with.
    progress : None, bool or callable
        As in :func:`dln.train`, counting the updates of this call.

    Raises
    ------
    FileNotFoundError
        No checkpoint at ``path``.
    CheckpointError
        (a ValueError) The file is truncated, corrupt or inconsistent.
    ValueError
        ``problem`` is not the run's problem; ``steps`` below the updates done.
    """
    ckpt = load_checkpoint(path)
    path = os.fspath(path)
    _check_same_problem(ckpt.problem, problem)
    steps_total = ckpt.steps
    if steps is not None:
        steps_total = integer(steps, "steps", minimum=0)
        if steps_total < ckpt.step:
            raise ValueError(f"steps: {steps_total} is below the {ckpt.step} updates the run has done")
    finished = ckpt.status in ("converged", "diverged") or (ckpt.status == "max_steps" and steps_total == ckpt.steps)
    if finished:
        return ckpt.result()
    c = ckpt.config
    try:
        if n_threads == "saved":
            n_threads = c["n_threads"]
        settings = dict(lr=c["lr"], steps=steps_total, optimizer=c["optimizer"], tol=c["tol"],
                        record_every=c["record_every"], momentum=c["momentum"], betas=tuple(c["betas"]), eps=c["eps"],
                        decay=c["decay"], lr_scale=c["lr_scale"])
        every = integer(c["checkpoint_every"], "checkpoint_every", minimum=1)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(path, f"settings are incomplete ({type(exc).__name__}: {exc})") from None
    threads = threads_of(n_threads)
    prepared = prepare(ckpt.network, problem, settings)
    if ckpt.svd_state is not None:
        try:  # the theory's bases come from the saved state, not from the (trained) network
            prepared.track = TrackSpec(**c["track_svd"])._to_core()
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad(path, f"track_svd settings are malformed ({type(exc).__name__}: {exc})") from None
    return _run(prepared, path, every, threads, n_threads, progress, ckpt, problem_fingerprint(problem))

