"""Checkpoints of training runs: npz archives with a JSON header, written atomically, never pickled.

A checkpoint holds everything a run needs to continue bit for bit: the weights, the optimiser state
(step count and moment buffers), the loss history, the initial loss (the divergence test compares
with it), the run's settings and a fingerprint of the problem's data (shapes, dtypes and SHA-256), so
that a run is never continued on other data by mistake.

Layout (an uncompressed zip that ``numpy.load`` also reads): ``meta.json`` (format, version, status,
step, settings, problem fingerprint, and the shape and dtype of every array) and one ``.npy`` member
per array: ``weights_<l>``, ``optimizer_m_<l>``, ``optimizer_v_<l>``, ``loss`` and ``scalars``
(initial and final loss, which may be non-finite after a divergence and so are not JSON).
A run tracked with ``track_svd`` also saves its SVD record so far and the trackers' state (``svd``
in the header: a JSON tree whose numeric parts are ``svd_<i>`` arrays, see :func:`_encode`), so
that a resumed run continues the same record.

Writes go to a temporary file in the same folder, which is flushed and fsynced, then renamed over
the checkpoint (``os.replace``, atomic on POSIX) and the folder fsynced: a crash or SIGKILL at any
moment leaves either the previous checkpoint or the new one, never a mixture. Reads check every
size, shape and dtype against the header and the zip CRCs, so a truncated or corrupted file raises
:class:`CheckpointError` (a ValueError) instead of returning wrong numbers.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import stat
import zipfile
from typing import Any, Optional

import numpy as np

from ._checks import os_error
from ._checks import path as checked_path
from .network import Network
from .problems import Problem, refuse_sparse
from .result import Result
from .tracking import SvdTrace

FORMAT = "dln-checkpoint"
VERSION = 2  # 2: the SVD tracker's left reference blocks are kept in each layer's Q-frame
_META = "meta.json"
_META_MAX = 1 << 20  # a header is a few kB; anything near this is not ours
_FINAL = ("converged", "max_steps", "diverged")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: truncated, corrupted, not written by dln, or inconsistent."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A training run as saved by ``dln.train(..., checkpoint=path)``.

    Attributes
    ----------
    status : str
        ``running`` (more updates to go) or the final status of :class:`dln.Result`
        (``interrupted`` runs can be resumed too).
    step : int
        Updates applied to reach ``network``.
    steps : int
        The run's maximum number of updates.
    loss : ndarray
        History so far, as in :class:`dln.Result`.
    network : Network
        Weights at ``step``.
    config : dict
        :func:`dln.train`'s settings (optimizer, lr, tol, record_every, momentum, betas, eps, decay,
        lr_scale, n_threads, checkpoint_every) and the network's dtype, activation and negative_slope.
    problem : dict
        Fingerprint of the problem's data.
    """

    status: str
    step: int
    steps: int
    loss: np.ndarray
    network: Network
    config: dict
    problem: dict
    initial_loss: float
    final_loss: float
    optimizer_t: int
    optimizer_m: list
    optimizer_v: list
    seconds: float
    message: str
    form: str
    n_threads: int
    svd_record: Optional[dict] = None  # the SVD record so far (core form) of a tracked run
    svd_state: Optional[dict] = None   # the trackers' state at ``step``

    def result(self):
        """The run as a :class:`dln.Result` (as it stands at ``step``)."""
        return Result(status=self.status if self.status != "running" else "interrupted", steps=self.step,
                      loss=self.loss, network=self.network, final_loss=self.final_loss, seconds=self.seconds,
                      message=self.message, optimizer=self.config["optimizer"], lr=self.config["lr"],
                      reduction=self.problem["reduction"], record_every=self.config["record_every"],
                      n_threads=self.n_threads, form=self.form,
                      svd=None if self.svd_record is None else SvdTrace._from_core(self.svd_record))


# --- SVD record and tracker state: a JSON tree with its numbers in arrays ---------------------------------

def _numeric_leaves(obj: Any) -> bool:
    if isinstance(obj, list):
        return all(_numeric_leaves(x) for x in obj)
    return isinstance(obj, (int, float, np.integer, np.floating)) and not isinstance(obj, (bool, np.bool_))


def _encode(obj: Any, arrays: dict) -> Any:
    """JSON-able tree for ``obj`` (dicts, lists, tuples, scalars, arrays); numbers go to ``arrays``.

    A rectangular list of numbers becomes one float64 array (``{"$a": name, "list": 1}``, ints
    flagged), an ndarray stays one (``{"$a": name}``, its dtype kept), a tuple is ``{"$t": [...]}`` and a
    non-finite scalar ``{"$f": "nan"}`` (JSON has no NaN). Everything else is JSON as it is.
    """
    if isinstance(obj, np.ndarray):
        name = f"svd_{len(arrays)}"
        arrays[name] = np.ascontiguousarray(obj)
        return {"$a": name}
    if isinstance(obj, dict):
        return {str(k): _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return {"$t": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        if obj and _numeric_leaves(obj):
            try:
                a = np.array(obj, dtype=np.float64)
            except ValueError:  # ragged: element by element
                a = None
            if a is not None:
                name = f"svd_{len(arrays)}"
                arrays[name] = a
                ints = all(isinstance(x, (int, np.integer)) for x in np.array(obj, dtype=object).ravel())
                return {"$a": name, "list": 1, "int": int(ints)}
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        return {"$f": repr(float(obj))}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _decode(obj: Any, arrays: dict, used: set) -> Any:
    """Inverse of :func:`_encode`; the names of the arrays it used are added to ``used``."""
    if isinstance(obj, dict):
        if "$a" in obj:
            name = obj["$a"]
            if not isinstance(name, str) or name not in arrays:
                raise KeyError(f"array {name!r}")
            used.add(name)
            a = arrays[name]
            if obj.get("list"):
                return a.astype(np.int64).tolist() if obj.get("int") else a.tolist()
            return np.array(a)
        if "$t" in obj:
            return tuple(_decode(v, arrays, used) for v in obj["$t"])
        if "$f" in obj:
            return float(obj["$f"])
        return {k: _decode(v, arrays, used) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays, used) for v in obj]
    return obj


# Keys of the core's SVD record with one entry per record (a resumed run's records are appended).
_PER_RECORD = ("steps", "spectra", "rho", "certificate", "orthogonality", "range_residual", "discarded", "rank",
               "angles_right", "angles_left", "top", "theory_right", "theory_left", "spectra_e2e", "certificate_e2e",
               "rank_e2e", "events")


def _merge_records(before: Optional[dict], after: dict) -> dict:
    """The record of a run continued in segments: lists appended, the rest (modes, counters) as last."""
    if before is None:
        return after
    out = dict(after)
    for key in _PER_RECORD:
        out[key] = list(before[key]) + list(after[key])
    if after["reference_step"] < 0:
        out["reference_step"] = before["reference_step"]
    return out


# --- problem fingerprint -------------------------------------------------------------------------------

def problem_fingerprint(problem: Any) -> dict:
    """Kind, settings, and shape, dtype and SHA-256 of every data array of a problem."""
    arrays = {}
    for name, a in problem._arrays.items():
        c = np.ascontiguousarray(a)
        arrays[name] = dict(shape=list(c.shape), dtype=c.dtype.str, sha256=hashlib.sha256(c.data).hexdigest())
    out = dict(kind=problem.kind, reduction=problem.reduction, arrays=arrays)
    if hasattr(problem, "form"):
        out["form"] = problem.form
    return out


def _check_same_problem(saved: dict, problem: Any) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem: expected a dln problem (Factorization, Regression, Completion), "
                        f"got {type(problem).__name__}")
    refuse_sparse(problem, "resuming a checkpoint")
    now = problem_fingerprint(problem)
    for key in ("kind", "reduction", "form"):
        if saved.get(key) != now.get(key):
            raise ValueError(f"problem: {key} {now.get(key)!r} differs from the checkpoint's {saved.get(key)!r}")
    for name, a in now["arrays"].items():
        s = saved["arrays"].get(name)
        if s != a:
            what = "shape/dtype" if s is None or s["shape"] != a["shape"] or s["dtype"] != a["dtype"] else "data"
            raise ValueError(f"problem: {name} {what} differs from the checkpoint's "
                             f"(a run continues only on its own data)")


# --- writing ---------------------------------------------------------------------------------------------

def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms without directory fds: the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(path: str) -> None:
    """Temporary files left by writers that were killed (their pid no longer runs)."""
    for tmp in glob.glob(glob.escape(path) + ".*.tmp"):
        try:
            pid = int(tmp[len(path) + 1:-4])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                os.remove(tmp)
            except OSError:
                pass
        except OSError:  # exists but not ours to signal: leave it
            pass


def write_checkpoint(path: str, meta: dict, arrays: dict) -> None:
    """Write ``meta`` and ``arrays`` atomically to ``path`` (see the module docstring)."""
    meta = dict(meta)
    meta["arrays"] = {k: dict(shape=list(a.shape), dtype=a.dtype.str) for k, a in arrays.items()}
    header = json.dumps(meta, allow_nan=False, sort_keys=True).encode()
    folder = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(_META, header)
                for name, a in arrays.items():
                    with zf.open(name + ".npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # disk full, name too long, no permission: say which file
            raise os_error(exc, f"checkpoint: cannot write {path}: {exc.strerror or exc}") from exc
        raise
    _fsync_dir(folder)


# --- reading ---------------------------------------------------------------------------------------------

def _bad(path: str, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint: {path}: {why}")


def _read_arrays(path: str) -> tuple[dict, dict]:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint: {path}: no such file") from None
    except OSError as exc:
        raise _bad(path, f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise _bad(path, "is a directory, not a checkpoint file")
    if not stat.S_ISREG(mode):  # a FIFO or device would block or never end
        raise _bad(path, "is not a regular file")
    try:
        zf = zipfile.ZipFile(path, "r")
    except Exception as exc:  # noqa: BLE001 - zipfile raises many types on damaged input (found by fuzzing)
        raise _bad(path, f"not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    with zf:
        try:
            infos = {i.filename: i for i in zf.infolist()}
            if _META not in infos:
                raise _bad(path, f"no {_META} (not a dln checkpoint)")
            if infos[_META].file_size > _META_MAX:
                raise _bad(path, f"{_META} of {infos[_META].file_size} bytes is too large")
            try:
                meta = json.loads(zf.read(_META).decode())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _bad(path, f"{_META} is not valid JSON ({exc})") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                found = meta.get("format") if isinstance(meta, dict) else None
                raise _bad(path, f"not a dln checkpoint (format {found!r})")
            if meta.get("version") != VERSION:
                raise _bad(path, f"format version {meta.get('version')!r}; this dln reads version {VERSION}")
            declared = meta.get("arrays")
            if not isinstance(declared, dict):
                raise _bad(path, "header lists no arrays")
            expected_members = {_META} | {k + ".npy" for k in declared}
            if set(infos) != expected_members:
                raise _bad(path, f"members {sorted(set(infos) ^ expected_members)} differ from the header")
            arrays = {}
            for name, spec in declared.items():
                try:
                    shape = tuple(int(s) for s in spec["shape"])
                    dtype = np.dtype(spec["dtype"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise _bad(path, f"header entry of {name} is malformed ({exc})") from None
                if dtype not in (np.dtype(np.float64), np.dtype(np.float32)) or any(s < 0 for s in shape):
                    raise _bad(path, f"{name}: unexpected dtype {dtype} or shape {shape}")
                nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                info = infos[name + ".npy"]
                # Size first: a .npy header is at most a few hundred bytes, so nothing larger than
                # the data plus 64 KiB is read (a damaged size field cannot make us allocate).
                if not (nbytes <= info.file_size <= nbytes + 65536):
                    raise _bad(path, f"{name}: {info.file_size} bytes stored for {nbytes} bytes of data")
                with zf.open(info) as f:
                    a = np.lib.format.read_array(f, allow_pickle=False)
                    if f.read(1):
                        raise _bad(path, f"{name}: trailing bytes")
                if a.shape != shape or a.dtype != dtype:
                    raise _bad(path, f"{name}: stored {a.dtype}{a.shape}, header says {dtype}{shape}")
                arrays[name] = a
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - CRC mismatch, truncated member, bad .npy header, zip64 oddities
            raise _bad(path, f"corrupt ({type(exc).__name__}: {exc})") from None
    return meta, arrays


def load_checkpoint(path: Any) -> Checkpoint:
    """Read a checkpoint written by ``dln.train(..., checkpoint=path)``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        (a ValueError) The file is truncated, corrupted, of another format or version, or its
        contents are inconsistent (e.g. weights that do not chain, a history of the wrong length);
        also a folder, FIFO or device at ``path`` (never opened: a FIFO would block).
    """
    path = checked_path(path, "path")
    meta, arrays = _read_arrays(path)
    try:
        config, problem = meta["config"], meta["problem"]
        status, step, steps = meta["status"], int(meta["step"]), int(meta["steps"])
        depth = int(meta["depth"])
        t = int(meta["optimizer_t"])
        dtype = np.dtype(config["dtype"])
        record_every = int(config["record_every"])
        n_m, n_v = int(meta["optimizer_m"]), int(meta["optimizer_v"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(path, f"header is incomplete ({type(exc).__name__}: {exc})") from None
    if not (isinstance(config, dict) and isinstance(problem, dict) and isinstance(problem.get("arrays"), dict)):
        raise _bad(path, "config or problem fingerprint is malformed")
    if status not in ("running", "interrupted") + _FINAL:
        raise _bad(path, f"unknown status {status!r}")
    if not (0 <= step <= steps) or record_every < 1 or depth < 1:
        raise _bad(path, f"step {step} of {steps}, record_every {record_every}, depth {depth} are inconsistent")
    names = [f"weights_{l}" for l in range(depth)] + [f"optimizer_m_{l}" for l in range(n_m)] + \
            [f"optimizer_v_{l}" for l in range(n_v)] + ["loss", "scalars"]
    svd_record = svd_state = None
    if meta.get("svd") is not None:
        used: set = set()
        try:
            svd = _decode(meta["svd"], arrays, used)
            svd_record, svd_state = svd["record"], svd["state"]
            if not (isinstance(svd_record, dict) and isinstance(svd_state, dict)) or "track_svd" not in config:
                raise TypeError("record, state or settings missing")
            names += sorted(used)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _bad(path, f"SVD tracking record is malformed ({type(exc).__name__}: {exc})") from None
    if sorted(names) != sorted(arrays):
        raise _bad(path, "arrays differ from those the header describes")
    weights = [arrays[f"weights_{l}"] for l in range(depth)]
    if any(w.ndim != 2 or w.dtype != dtype for w in weights):
        raise _bad(path, "weights are not 2-D arrays of the run's dtype")
    try:
        # checkpoints written before activations existed hold linear networks
        network = Network(weights, dtype=dtype, activation=config.get("activation", "linear"),
                          negative_slope=config.get("negative_slope", 0.01))
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"network: {exc}") from None
    loss = arrays["loss"]
    if loss.ndim != 1 or loss.dtype != np.float64 or (status != "diverged" and len(loss) != step // record_every + 1):
        raise _bad(path, f"loss history of shape {loss.shape} does not fit step {step} and record_every {record_every}")
    scalars = arrays["scalars"]
    if scalars.shape != (2,) or scalars.dtype != np.float64:
        raise _bad(path, "scalars: expected 2 float64 values")
    for l in range(n_m):
        if arrays[f"optimizer_m_{l}"].shape != weights[l].shape:
            raise _bad(path, f"optimizer_m_{l}: shape differs from weights_{l}")
    for l in range(n_v):
        if arrays[f"optimizer_v_{l}"].shape != weights[l].shape:
            raise _bad(path, f"optimizer_v_{l}: shape differs from weights_{l}")
    try:
        seconds, n_threads = float(meta.get("seconds", 0.0)), int(meta.get("n_threads_used", 1))
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"header is malformed ({exc})") from None
    return Checkpoint(status=status, step=step, steps=steps, loss=loss, network=network, config=config,
                      problem=problem, initial_loss=float(scalars[0]), final_loss=float(scalars[1]),
                      optimizer_t=t, optimizer_m=[arrays[f"optimizer_m_{l}"] for l in range(n_m)],
                      optimizer_v=[arrays[f"optimizer_v_{l}"] for l in range(n_v)], seconds=seconds,
                      message=str(meta.get("message", "")), form=str(meta.get("form", "auto")), n_threads=n_threads,
                      svd_record=svd_record, svd_state=svd_state)


def __getattr__(name: str) -> Any:
    # Checkpointed training moved to dln.training.checkpointed (io.py is the file format only); the old
    # names keep working for one release.
    if name in ("resume", "train_checkpointed"):
        import importlib
        import warnings

        warnings.warn(f"dln.io.{name} moved to dln.training.checkpointed.{name} (dln.resume is unchanged)",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("dln.training.checkpointed"), name)
    raise AttributeError(f"module 'dln.io' has no attribute {name!r}")
