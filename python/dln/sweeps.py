"""`dln.sweep` (module `dln.sweeps`): many runs, in chunks, here or on any ``concurrent.futures.Executor``.

A sweep is a list of :class:`~dln.config.RunConfig`. It is cut into chunks of ``chunk`` consecutive
configs; each chunk is one call of :func:`dln.train_batch`, either in this process (all cores, one run
per thread) or, given an executor, as one task on a worker (``n_threads=1`` by default: one process per
core). Every run is bitwise the same wherever it ran, because a batched job's result does not depend on
the thread count or on the other jobs of its batch.

With ``out_dir`` each finished chunk is saved at once as ``chunk-NNNNN.npz`` (loss histories, weights
if kept) and ``chunk-NNNNN.json`` (configs, status, steps, final loss, time, message, and the SHA-256
of the npz it goes with), both written atomically (temporary file, fsync, rename; the JSON last, so
it marks a complete chunk). Running the same sweep again loads the chunks that are on disk and
computes only the others, so a lost worker or an interrupted sweep costs only the chunks that had not
finished; temporary files of writers that were killed are removed. A damaged chunk (a file that is
not the one written, cut short, or not a regular file) raises ValueError naming ``out_dir``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import math
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np

from . import training
from ._checks import folder as make_folder
from ._checks import integer, os_error
from ._progress import Progress
from .config import RunConfig

__all__ = ["SweepResult", "sweep"]

_FORMAT = "dln.sweep.chunk/1"


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """Outcome of one run of a sweep.

    Attributes
    ----------
    config : RunConfig
        The run (its seeds included): ``config.build()`` and :func:`dln.train` reproduce it.
    status : str
        ``converged``, ``max_steps``, ``diverged`` or ``interrupted`` (as :class:`dln.Result`).
    steps : int
        Updates applied.
    final_loss : float
        Loss of the final network, in the problem's reduction units.
    loss : ndarray
        History: ``loss[0]`` at the start, ``loss[k]`` after ``k * config.record_every`` updates.
    seconds : float
        Wall time of the run's C++ loop.
    message : str
    weights : tuple of ndarray or None
        The final weights ``W_1 ... W_L`` when the sweep ran with ``keep_weights=True``.
    """

    config: RunConfig
    status: str
    steps: int
    final_loss: float
    loss: np.ndarray
    seconds: float
    message: str
    weights: Optional[tuple[np.ndarray, ...]] = None

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def __repr__(self) -> str:
        return (f"SweepResult(status={self.status!r}, steps={self.steps}, final_loss={self.final_loss:.6g}, "
                f"seconds={self.seconds:.3g})")


def sweep(configs: Iterable[RunConfig], executor: Optional[concurrent.futures.Executor] = None, chunk: int = 64,
          out_dir: Union[str, os.PathLike, None] = None, n_threads: Optional[int] = None, progress: Any = None,
          keep_weights: bool = False) -> list[SweepResult]:
    """Run every config and return their results in config order.

    Parameters
    ----------
    configs : iterable of RunConfig
    executor : concurrent.futures.Executor, optional
        Where chunks run: ``None`` runs them here, one :func:`dln.train_batch` call per chunk. Otherwise
        each chunk is submitted as one task (a top-level function of this module, configs passed as
        plain dicts, results returned as dicts of floats, strings and arrays), e.g. to
        ``dask.distributed.Client(...).get_executor()``, ``ProcessPoolExecutor`` or
        ``mpi4py.futures.MPIPoolExecutor``. Anything with a ``submit`` returning
        ``concurrent.futures.Future`` works. Workers need ``dln`` installed.
    chunk : int
        Runs per chunk (per ``train_batch`` call, per task, per file pair in ``out_dir``).
    out_dir : path, optional
        Save every chunk as soon as it is done, and load the chunks already there instead of running
        them again. The directory must hold chunks of this same sweep (same configs, same ``chunk``);
        a chunk that holds other configs, or is damaged, raises ``ValueError``. The folder is made
        (with its parents) if needed; one that cannot be (a file of that name, no permission)
        raises ``OSError`` naming ``out_dir``, as does a chunk that cannot be written.
    n_threads : int, optional
        Threads of each ``train_batch`` call: default all cores here, 1 on an executor's workers.
        Results do not depend on it.
    progress : None, bool or callable
        One bar for the whole sweep, in updates (``steps`` of every run): ``None`` shows a tqdm bar when
        stderr is a terminal and tqdm is installed, ``True``/``False`` force it on/off, a callable is
        called with the number of updates done so far (with an executor: at the end of each chunk);
        an exception it raises stops the sweep and is raised by ``sweep`` (finished chunks are saved).
    keep_weights : bool
        Keep the final weights of every run (``SweepResult.weights``; saved in ``out_dir`` too).

    Returns
    -------
    list of SweepResult, one per config, in config order.

    If chunks fail on an executor, the others are still collected (and saved with ``out_dir``), then
    a ``RuntimeError`` names the failed chunks, chained to the first error; running the sweep again with
    the same ``out_dir`` computes only those. Ctrl-C stops the sweep with ``KeyboardInterrupt``; runs
    that it cut short (status ``interrupted``) are never returned or saved, the finished chunks are.
    """
    if isinstance(configs, RunConfig) or not isinstance(configs, Iterable):
        raise TypeError(f"configs: expected a list of RunConfig, got {type(configs).__name__}")
    configs = list(configs)
    for i, c in enumerate(configs):
        if not isinstance(c, RunConfig):
            raise TypeError(f"configs[{i}]: expected a RunConfig, got {type(c).__name__}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor: expected a concurrent.futures.Executor (with submit), "
                        f"got {type(executor).__name__}")
    chunk = integer(chunk, "chunk", minimum=1)
    if n_threads is not None:
        n_threads = integer(n_threads, "n_threads", minimum=1, maximum=4096)
    if not isinstance(keep_weights, (bool, np.bool_)):
        raise TypeError(f"keep_weights: expected True or False, got {type(keep_weights).__name__}")
    keep_weights = bool(keep_weights)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(f"progress: expected None, True, False or a callable, got {type(progress).__name__}")
    folder = None if out_dir is None else _out_dir(out_dir)

    chunks = [configs[i:i + chunk] for i in range(0, len(configs), chunk)]
    records: list[Optional[list[dict]]] = [None] * len(chunks)
    if folder is not None:
        for k, part in enumerate(chunks):
            records[k] = _load_chunk(folder, k, part, keep_weights)
    todo = [k for k in range(len(chunks)) if records[k] is None]
    steps_in = [sum(c.steps for c in part) for part in chunks]

    with Progress(progress, sum(steps_in), "dln.sweep") as bar:
        done = sum(steps_in[k] for k in range(len(chunks)) if records[k] is not None)
        bar.update(done)

        def finish(k: int, recs: list[dict]) -> None:
            nonlocal done
            if folder is not None:
                _save_chunk(folder, k, chunks[k], recs, keep_weights)
            records[k] = recs
            done += steps_in[k]
            bar.update(done)

        if executor is None:
            for k in todo:
                callback = bar.callback(done)
                recs = _train_chunk(chunks[k], keep_weights, n_threads, False if callback is None else callback)
                if _interrupted(recs) and bar.error is not None:  # the progress callable raised: its error
                    raise bar.error
                if _interrupted(recs):  # Ctrl-C reached the runs: keep only the chunks that finished
                    raise KeyboardInterrupt(f"dln.sweep: interrupted in chunk {k}; "
                                            f"{sum(r is not None for r in records)} of {len(chunks)} chunks done"
                                            + ("" if folder is None else f" and saved in {folder}"))
                finish(k, recs)
        else:
            _run_on(executor, {k: chunks[k] for k in todo}, keep_weights, n_threads or 1, finish)

    out = []
    for part, kept in zip(chunks, records):
        assert kept is not None
        out += [SweepResult(config=c, **r) for c, r in zip(part, kept)]
    return out


def _run_on(executor: Any, todo: dict[int, list[RunConfig]], keep_weights: bool, n_threads: int,
            finish: Callable[[int, list[dict]], None]) -> None:
    """Submit every chunk, hand each to ``finish`` as it completes, then report the failed ones."""
    futures = {}
    try:
        for k, part in todo.items():
            future = executor.submit(run_chunk, [c.to_dict() for c in part], keep_weights, n_threads)
            if not isinstance(future, concurrent.futures.Future):
                raise TypeError(f"executor: submit returned {type(future).__name__}, not a concurrent.futures.Future")
            futures[future] = k
        failed: dict[int, BaseException] = {}
        for future in concurrent.futures.as_completed(futures):
            k = futures[future]
            try:
                recs = future.result()
            except Exception as exc:  # a worker's error or a lost worker: keep collecting the others
                failed[k] = exc
                continue
            if _interrupted(recs):  # the worker got Ctrl-C: its runs stopped short, do not keep them
                failed[k] = RuntimeError("runs interrupted on the worker")
                continue
            finish(k, recs)
    finally:  # Ctrl-C or an error in finish: do not leave queued chunks running for nothing
        for future in futures:
            future.cancel()
    if failed:
        first = min(failed)
        raise RuntimeError(f"{len(failed)} of {len(todo)} chunks failed (chunks {sorted(failed)}); chunk {first}: "
                           f"{type(failed[first]).__name__}: {failed[first]}") from failed[first]


def _interrupted(recs: list[dict]) -> bool:
    return any(r["status"] == "interrupted" for r in recs)


def run_chunk(configs: Sequence[dict], keep_weights: bool = False, n_threads: int = 1) -> list[dict]:
    """Run one chunk given as config dicts (:meth:`RunConfig.to_dict`) and return one plain dict per run.

    This is the task that :func:`sweep` submits to an executor: a top-level function, picklable, whose
    arguments and results are plain Python values and NumPy arrays.
    """
    return _train_chunk([RunConfig.from_dict(d) for d in configs], keep_weights, n_threads, False)


def _train_chunk(configs: Sequence[RunConfig], keep_weights: bool, n_threads: Optional[int],
                 progress: Any) -> list[dict]:
    # Jobs that build the same problem share one object (RunConfig.build_problem), so its data exists
    # once per chunk whatever the number of jobs.
    # looked up at call time, so that a wrapped dln.training.train_batch is the one used
    results = training.train_batch([c.build() for c in configs], n_threads=n_threads, progress=progress)
    return [dict(status=str(r.status), steps=int(r.steps), final_loss=float(r.final_loss), loss=np.asarray(r.loss),
                 seconds=float(r.seconds), message=str(r.message),
                 weights=tuple(r.network.weights) if keep_weights else None) for r in results]


# --- files --------------------------------------------------------------------------------------------


def _paths(folder: Path, k: int) -> tuple[Path, Path]:
    return folder / f"chunk-{k:05d}.npz", folder / f"chunk-{k:05d}.json"


def _save_chunk(folder: Path, k: int, configs: Sequence[RunConfig], recs: list[dict], keep_weights: bool) -> None:
    npz_path, json_path = _paths(folder, k)
    arrays = {}
    for i, r in enumerate(recs):
        arrays[f"loss_{i}"] = r["loss"]
        for l, w in enumerate(r["weights"] or ()):
            arrays[f"weights_{i}_{l}"] = w
    runs = [json.dumps(dict(config=c.to_dict(), status=r["status"], steps=r["steps"],
                            final_loss=_float_out(r["final_loss"]), seconds=_float_out(r["seconds"]),
                            message=r["message"], n_weights=0 if r["weights"] is None else len(r["weights"])),
                       allow_nan=False)
            for c, r in zip(configs, recs)]
    _write_atomic(npz_path, lambda f: np.savez(f, **arrays))
    # The JSON names the npz it goes with by its hash: a pair from different writes is refused on load.
    head = json.dumps(dict(format=_FORMAT, chunk=k, keep_weights=keep_weights, npz_sha256=_sha256(npz_path)))
    text = head[:-1] + ', "runs": [\n' + ",\n".join(runs) + "\n]}\n"  # one line per run
    _write_atomic(json_path, lambda f: f.write(text.encode()))  # last: its presence marks the chunk done


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _out_dir(out_dir: Any) -> Path:
    """``out_dir`` checked and created (with its parents), or an error naming it."""
    path = make_folder(out_dir, "out_dir")
    _remove_stale_temporaries(path)
    return path


def _load_chunk(folder: Path, k: int, configs: Sequence[RunConfig], keep_weights: bool) -> Optional[list[dict]]:
    """The chunk's records if it is on disk (and holds weights when they are asked for), else None."""
    npz_path, json_path = _paths(folder, k)
    if not (json_path.exists() and npz_path.exists()):
        return None
    for path in (json_path, npz_path):
        if not path.is_file():  # a folder, or a FIFO that would block the read
            raise ValueError(f"out_dir: {path} is not a regular file; remove it to run chunk {k} again")
    try:
        meta = json.loads(json_path.read_text())
        runs = meta.get("runs") if isinstance(meta, dict) and meta.get("format") == _FORMAT else None
        same = runs is not None and [RunConfig.from_dict(r["config"]) for r in runs] == list(configs)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"out_dir: {json_path} is damaged ({type(exc).__name__}: {exc}); remove it (and "
                         f"{npz_path.name}) to run chunk {k} again") from None
    if runs is None or not same:  # (same is False when runs is None)
        raise ValueError(f"out_dir: {json_path} holds other runs than chunk {k} of this sweep (different configs "
                         f"or chunk size); use another out_dir or remove that one")
    if keep_weights and not meta.get("keep_weights"):
        return None  # saved without weights: run it again to get them
    if "npz_sha256" in meta and meta["npz_sha256"] != _sha256(npz_path):  # (older chunks have no hash)
        raise ValueError(f"out_dir: {npz_path} is not the file {json_path.name} was written with (its SHA-256 "
                         f"differs); remove both to run chunk {k} again")
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            return [dict(status=str(r["status"]), steps=int(r["steps"]), final_loss=float(r["final_loss"]),
                         loss=data[f"loss_{i}"], seconds=float(r["seconds"]), message=str(r["message"]),
                         weights=tuple(data[f"weights_{i}_{l}"] for l in range(r["n_weights"])) if keep_weights
                         else None)
                    for i, r in enumerate(runs)]
    except Exception as exc:  # noqa: BLE001 - zipfile and np.load raise many types on damaged files
        raise ValueError(f"out_dir: chunk {k} ({npz_path.name}, {json_path.name}) is damaged ({type(exc).__name__}: "
                         f"{exc}); remove both to run it again") from None


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary files of writers that were killed (their pid no longer runs); see _write_atomic."""
    for tmp in folder.glob(".chunk-*.tmp"):
        try:
            pid = int(tmp.name.split(".")[-3])
            os.kill(pid, 0)
        except (ValueError, IndexError, PermissionError):  # not ours, or alive under another user
            continue
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)


def _write_atomic(path: Path, write: Callable[[Any], Any]) -> None:
    """Write a file so that it either exists complete or not at all, even if the process dies."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, no permission: say where
            raise os_error(exc, f"out_dir: cannot write {path}: {exc.strerror or exc}") from exc
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _float_out(x: float) -> Union[float, str]:
    # JSON has no NaN or infinity: write them as the strings float() reads back.
    return x if math.isfinite(x) else repr(x)


