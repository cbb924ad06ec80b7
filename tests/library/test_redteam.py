"""Red team: every public entry point fed hostile values, each case in a child process.

tests/library/test_validation.py and test_fuzz.py check refusals one parameter at a
time in this process. Here hostile array forms (dtypes, layouts, subclasses, lists, non-finite and
masked values, shapes, huge views) are crossed with every array parameter, and the other entry points
get sizes as requests, odd paths (a folder as file, a file as folder, NUL bytes, unicode, FIFOs, a
full disk), damaged sweep folders, the ``dln`` command and a sweep killed with SIGKILL.

A case is one row: an id, a call ``fn(tmp)`` (``tmp``: a fresh empty folder) and what a correct
library does with it:

- ``refuse(Type, "name")``: raise ``Type`` (or one of a tuple) with a message that starts with the
  parameter's name (the convention of ``dln._checks``); ``name=None``: the caller's own exception;
- ``same(reference)``: return what ``reference(tmp)`` returns, bitwise (a reference that raises must
  be matched by the same exception and message);
- ``works(check)``: return, and ``check(value)`` holds.

Cases run in persistent worker processes fed over a pipe, each under RLIMIT_AS = 4 GiB (an attempted
huge allocation fails at once instead of swapping) and a time limit; a worker that dies or hangs is
replaced. Each case is classified:

ok         the expected outcome
crash      the worker died (segfault, abort, any signal)
hang       no answer within the time limit
silent     returned where a refusal was due (garbage accepted), or a wrong result for legitimate input
unhelpful  an exception of the wrong type or whose message does not start with the parameter's name,
           or an exception for legitimate input
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fractions
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

ADDRESS_SPACE = 4 << 30
if __name__ == "__main__":  # a worker: limit the address space before NumPy and dln reserve theirs
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

import numpy as np

import dln
from dln import cli as dln_cli
from dln.compression import subspace_sine, train_compressed
from dln.config import RunConfig
from dln.experiments import low_rank_target

TIMEOUT = 10.0  # seconds per case
WORKERS = 2
CLASSES = ("ok", "crash", "hang", "silent", "unhelpful")


# --- expectations ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Refuse:
    types: tuple
    name: Optional[str]
    match: Optional[str] = None  # a regex the message must also contain


@dataclasses.dataclass(frozen=True)
class Same:
    reference: Callable[[Path], Any]


@dataclasses.dataclass(frozen=True)
class Works:
    check: Optional[Callable[[Any], bool]] = None


def refuse(types, name, match=None):
    return Refuse(types if isinstance(types, tuple) else (types,), name, match)


same, works = Same, Works


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    fn: Callable[[Path], Any]
    expect: Any
    timeout: float = TIMEOUT


# --- data and helpers the cases share ----------------------------------------------------------------

RNG = np.random.default_rng(2024)
T = RNG.standard_normal((4, 3))                   # target (d_out, d_in)
M = RNG.random((4, 3)) < 0.6                      # completion mask
M[0, 0] = True
X, Y = RNG.standard_normal((3, 5)), RNG.standard_normal((4, 5))
W0, W1 = 0.5 * RNG.standard_normal((6, 3)), 0.5 * RNG.standard_normal((4, 6))
Q6 = np.linalg.qr(RNG.standard_normal((6, 6)))[0]
_V = np.linalg.qr(RNG.standard_normal((6, 2)))[0]
WS = Q6 @ (0.7 * np.eye(6) + _V @ np.diag([0.5, -0.2]) @ _V.T)  # rho Q + rank 2: what SvdTracker tracks
WS_AFTER = 1.01 * WS + 0.1 * np.outer(Q6[:, 0], _V[:, 0])
A6, B6 = RNG.standard_normal((6, 2)), RNG.standard_normal((6, 2))
D10 = dln.Factorization(np.eye(10)[:, :2] @ np.eye(10)[:2])  # rank-2 target for compression and tracking
SWEEP = [RunConfig(d_out=4, d_in=3, rank=1, depth=2, width=3, steps=5, lr=0.5, seed=s) for s in range(3)]
# about 75 ms a chunk: long enough for a kill to land inside one
KILL_SWEEP = [RunConfig(d_out=24, d_in=24, rank=2, depth=3, scale=0.5, steps=12000, lr=0.5, seed=s) for s in range(8)]
HUGE = 10**6


def net(dtype=np.float64):
    return dln.Network([W0, W1], dtype=dtype)


def net10():
    return dln.Network.orthogonal([10, 10, 10], scale=0.1, seed=0)


def fit(problem, network=None, **kw):
    """Four GD steps on one thread: a run whose every bit is reproducible."""
    return dln.train(network or net(), problem, **{**dict(lr=0.05, steps=4, n_threads=1, progress=False), **kw})


def fac():
    return dln.Factorization(T)


def tracker():
    return dln.SvdTracker(WS, Q=Q6, rho=0.7)


def track(W=WS, Q=Q6, A=A6):
    t = dln.SvdTracker(W, Q=Q, rho=0.7)
    return t.update(A, B6), t.spectrum()


def brand(W):
    t = dln.BrandTracker(W, max_rank=3)
    return t.spectrum(), t.discarded


def sparse(shape=(4, 3), rows=(0, 1, 3), cols=(0, 2, 1), values=(1.0, -2.0, 0.5), **kw):
    return dln.SparseCompletion(shape, rows, cols, values, **kw)


def compressed():
    return dln.compress(net10(), D10, 2)


def read_only(a):
    b = np.array(a)
    b.flags.writeable = False
    return b


def unaligned(a):
    """A C-contiguous copy of ``a`` whose data starts one byte off its dtype's alignment."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    b = np.ndarray(a.shape, a.dtype, raw.data, offset=1)
    b[...] = a
    return b


class ArrayLike:
    """Any object with ``__array__``."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a if dtype is None else self.a.astype(dtype)


def with_value(value):
    def put(a):
        b = np.array(a, dtype=a.dtype if a.dtype.kind == "f" else np.float64)
        b[1, 1] = value
        return b
    return put


def masked_one(a):
    mask = np.zeros(a.shape, bool)
    mask[1, 1] = True
    return np.ma.masked_array(a, mask=mask)


def plain(v):
    """The C-contiguous, native-order copy of ``v`` that every layout and subclass must behave as;
    floating dtypes other than float32 and float64 as float64 (the documented conversion)."""
    a = np.asarray(v)
    dt = a.dtype.newbyteorder("=")
    if dt.kind == "f" and dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        dt = np.dtype(np.float64)
    return np.array(a, dtype=dt, order="C")


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def on_full_disk(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` where a file cannot grow past 512 bytes: writes fail with EFBIG, as on a
    full disk (Python ignores SIGXFSZ)."""
    import resource

    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, old[1]))
    try:
        return fn(*args, **kwargs)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)


def fifo(path):
    os.mkfifo(path)
    return path


def file_at(path, text=""):
    path.write_text(text)
    return path


def bytes_at(path, data):
    path.write_bytes(data)
    return path


def mkdir(path):
    path.mkdir(parents=True)
    return path


def loop(path):
    path.symlink_to(path.name)
    return path


class BytesPath:
    """An ``os.PathLike`` whose path is bytes."""

    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return bytes(self.path)


def reentrant(outer):
    """``outer(callback)`` where the progress callback trains another run (once): (outer's result, [inner's])."""
    inner = []

    def callback(done):
        if not inner:
            inner.append(fit(fac(), steps=3))
    return outer(callback), inner


class NoneExecutor:
    """An executor whose ``submit`` does not return a Future."""

    def submit(self, fn, *args, **kwargs):
        return None


# --- the cases: entry points that take arrays, crossed with hostile forms ---------------------------------

SAME_AS_PLAIN, HUGE_VIEW = "same", "huge"

SLOTS = [  # (entry point, parameter, clean value, call with the value in that parameter)
    ("Factorization", "target", T, lambda a: fit(dln.Factorization(a))),
    ("Completion", "target", T, lambda a: fit(dln.Completion(a, M))),
    ("Completion", "mask", M, lambda a: fit(dln.Completion(T, a))),
    ("Regression", "X", X, lambda a: fit(dln.Regression(a, Y))),
    ("Regression", "Y", Y, lambda a: fit(dln.Regression(X, a))),
    ("Network", "weights[1]", W1, lambda a: fit(fac(), dln.Network([W0, a]))),
    ("Network.features", "X", X, lambda a: net().features(a)),
    ("SvdTracker", "W", WS, lambda a: track(W=a)),
    ("SvdTracker", "Q", Q6, lambda a: track(Q=a)),
    ("SvdTracker.update", "A", A6, lambda a: track(A=a)),
    ("SvdTracker.update_dense", "W_after", WS_AFTER, lambda a: tracker().update_dense(a)),
    ("SvdTracker.certificate", "W", WS, lambda a: tracker().certificate(a)),
    ("BrandTracker", "W", W1, lambda a: brand(a)),
    ("subspace_sine", "A", A6, lambda a: subspace_sine(a, B6)),
]

FORMS = [  # (id, hostile form of a clean array, expected: "same" as its plain copy, a refusal, or "huge")
    ("fortran", np.asfortranarray, SAME_AS_PLAIN),
    ("strided", lambda a: np.repeat(a, 2, axis=1)[:, ::2], SAME_AS_PLAIN),
    ("negative strides", lambda a: a[::-1, ::-1].copy()[::-1, ::-1], SAME_AS_PLAIN),
    ("transposed view", lambda a: np.ascontiguousarray(a.T).T, SAME_AS_PLAIN),
    ("read-only", read_only, SAME_AS_PLAIN),
    ("broadcast columns", lambda a: np.broadcast_to(a[:, :1], a.shape), SAME_AS_PLAIN),
    ("unaligned", unaligned, SAME_AS_PLAIN),
    ("big-endian", lambda a: a.astype(a.dtype.newbyteorder(">")), SAME_AS_PLAIN),
    ("np.matrix", np.asmatrix, SAME_AS_PLAIN),
    ("masked, none masked", np.ma.masked_array, SAME_AS_PLAIN),
    ("__array__ object", ArrayLike, SAME_AS_PLAIN),
    ("memoryview", lambda a: memoryview(np.ascontiguousarray(a)), SAME_AS_PLAIN),
    ("nested list", lambda a: a.tolist(), SAME_AS_PLAIN),
    ("float16", lambda a: a.astype(np.float16), SAME_AS_PLAIN),
    ("float32", lambda a: a.astype(np.float32), SAME_AS_PLAIN),
    ("long double", lambda a: a.astype(np.longdouble), SAME_AS_PLAIN),
    ("subnormal", lambda a: a * 1e-310, SAME_AS_PLAIN),
    ("huge values", lambda a: a * 1e300, SAME_AS_PLAIN),
    ("masked entry", masked_one, ValueError),
    ("NaN", with_value(np.nan), ValueError),
    ("inf", with_value(np.inf), ValueError),
    ("-inf", with_value(-np.inf), ValueError),
    ("long double beyond float64", lambda a: a.astype(np.longdouble) * np.longdouble("1e4000"), ValueError),
    ("int", lambda a: np.round(a).astype(np.int64), TypeError),
    ("bool", lambda a: a != 0, TypeError),
    ("complex", lambda a: a.astype(np.complex128), TypeError),
    ("object", lambda a: a.astype(object), TypeError),
    ("str", lambda a: a.astype(str), TypeError),
    ("bytes", lambda a: a.astype("S8"), TypeError),
    ("timedelta", lambda a: np.round(a).astype(np.int64).astype("m8[s]"), TypeError),
    ("structured", lambda a: a.astype([("x", np.float64)]), TypeError),
    ("list with None", lambda a: [[None] * a.shape[1]] + a.tolist()[1:], TypeError),
    ("ragged list", lambda a: [row[:-1] if i == 0 else row for i, row in enumerate(a.tolist())], ValueError),
    ("1-D", np.ravel, ValueError),
    ("3-D", lambda a: a[None], ValueError),
    ("0-D", lambda a: np.asarray(a.flat[0]), ValueError),
    ("empty", lambda a: a[:0], ValueError),
    ("None", lambda a: None, TypeError),
    ("a string", lambda a: "abc", TypeError),
    ("10^6 x 10^6 broadcast", lambda a: np.broadcast_to(a.flat[0], (HUGE, HUGE)), HUGE_VIEW),
]

OVERRIDES = {  # (entry point, parameter, form): what differs from the form's rule (None: not a case)
    # a mask is 0/1 in any real dtype: integer and bool forms are fine, other values are not
    ("Completion", "mask", "int"): SAME_AS_PLAIN, ("Completion", "mask", "bool"): SAME_AS_PLAIN,
    ("Completion", "mask", "subnormal"): ValueError, ("Completion", "mask", "huge values"): ValueError,
    # the huge view's shape is refused where it meets the other array's
    ("Completion", "target", "10^6 x 10^6 broadcast"): refuse(ValueError, "mask"),
    ("Regression", "X", "10^6 x 10^6 broadcast"): refuse(ValueError, "Y"),
    ("Completion", "mask", "10^6 x 10^6 broadcast"): refuse(ValueError, "mask"),
    ("Regression", "Y", "10^6 x 10^6 broadcast"): refuse(ValueError, "Y"),
    ("SvdTracker", "Q", "None"): None,  # the default: Q is then found from W
}


def _form_case(entry, param, clean, call, form, transform, outcome):
    outcome = OVERRIDES.get((entry, param, form), outcome)
    fn = lambda t: call(transform(clean))  # noqa: E731
    if outcome == SAME_AS_PLAIN:
        outcome = same(lambda t: call(plain(transform(clean))))
    elif outcome == HUGE_VIEW:
        outcome = refuse(MemoryError, param)
    elif isinstance(outcome, type):
        outcome = refuse(outcome, param)
    return Case(f"{entry}({param}): {form}", fn, outcome)


ARRAY_CASES = [_form_case(*slot, *form) for slot in SLOTS for form in FORMS
               if OVERRIDES.get((slot[0], slot[1], form[0]), 0) is not None]


# --- the cases: everything else, one line each ---------------------------------------------------------

class Usage(Exception):
    """``dln ...`` exited with status 2 and this reason (the text after ``error: ``)."""


def _usage(rc, out, err):
    lines = err.strip().splitlines()
    if rc == 0:
        return out
    last = re.match(r"dln(?: \w+)?: error: (.*)", lines[-1]) if lines else None
    # argparse prints its usage first; every other refusal is one line
    if rc == 2 and last and (len(lines) == 1 or lines[0].startswith("usage:")):
        raise Usage(last.group(1))
    raise RuntimeError(f"exit status {rc}: {err[-400:]}")


def cli(*argv):
    """``dln ARGV`` in this process; its stdout when it succeeds, Usage when it exits 2 with a reason."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = dln_cli.main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code
    return _usage(rc, out.getvalue(), err.getvalue())


def command(*argv):
    """``python -m dln ARGV`` as a process."""
    p = subprocess.run([sys.executable, "-m", "dln", *map(str, argv)], capture_output=True, text=True,
                       timeout=TIMEOUT - 1)
    return _usage(p.returncode, p.stdout, p.stderr)


def checkpointed(path, steps=4):
    """Train 2 steps with a checkpoint at ``path``, then resume to ``steps``."""
    dln.train(net(), fac(), lr=0.05, steps=2, n_threads=1, checkpoint=path, checkpoint_every=1, progress=False)
    return dln.resume(path, fac(), steps=steps)


def damaged(k, how):
    """A case: the sweep SWEEP run to the end in ``tmp/out``, then ``how(path, out)`` done to chunk ``k``'s
    JSON file ``path`` (or next to it), then the same sweep again."""
    def run(tmp):
        out = tmp / "out"
        dln.sweep(SWEEP, chunk=1, out_dir=out, progress=False)
        how(out / f"chunk-{k:05d}.json", out)
        return dln.sweep(SWEEP, chunk=1, out_dir=out, progress=False)
    return run


def config_run(config):
    """The run a config describes, as ``dln run`` trains it."""
    net, problem, kwargs = config.build()
    return dln.train(net, problem, **kwargs, progress=False)


def run_config_file(tmp, *options, text="steps = 3\n", name="c.toml"):
    """``dln run`` on a config file holding ``text``."""
    return cli("run", file_at(tmp / name, text), *options)


def killed_sweep(tmp, kills=3):
    """The sweep KILL_SWEEP with ``out_dir``, SIGKILLed ``kills`` times as chunks finish, then run to
    the end. Returns its results, whatever of the killed writers was left that is not a chunk, and
    whether the chunks completed before were kept (loaded, not run and written again)."""
    spec, out = file_at(tmp / "configs.json", json.dumps([c.to_dict() for c in KILL_SWEEP])), tmp / "out"
    script = ("import json, sys, dln; from dln.config import RunConfig; dln.sweep([RunConfig.from_dict(d) for d in "
              "json.load(open(sys.argv[1]))], chunk=1, out_dir=sys.argv[2], progress=False)")
    for k in range(kills):
        done = len(list(out.glob("chunk-*.json")))
        proc = subprocess.Popen([sys.executable, "-c", script, str(spec), str(out)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5.0
        while len(list(out.glob("chunk-*.json"))) <= done and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.02 * k)  # a different moment of the next chunk each time
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for chunk in out.glob("chunk-*.json"):  # what was left reads without pickle
        json.loads(chunk.read_text())
        with np.load(chunk.with_suffix(".npz"), allow_pickle=False) as z:
            for name in z.files:
                z[name]
    # The chunks that were complete (their JSON, written last, is there): a kill between a chunk's npz
    # and its JSON leaves an npz that the resumed sweep rightly writes again.
    saved = {p: p.stat().st_mtime_ns for j in out.glob("chunk-*.json") for p in (j, j.with_suffix(".npz"))}
    results = dln.sweep(KILL_SWEEP, chunk=1, out_dir=out, progress=False)
    kept = bool(saved) and all(p.stat().st_mtime_ns == t for p, t in saved.items())
    return results, sorted(p.name for p in out.iterdir() if not re.fullmatch(r"chunk-\d{5}\.(json|npz)", p.name)), kept


def stale_temporary(tmp):
    out = tmp / "out"
    out.mkdir()
    file_at(out / f".chunk-00000.npz.{dead_pid()}.0123abcd.tmp", "partial")
    return dln.sweep(SWEEP, chunk=1, out_dir=out, progress=False), sorted(p.name for p in out.iterdir())


def saves_nothing(fn):
    """``fn(tmp)``, which must leave no file in ``tmp`` (else an AssertionError replaces what it raised,
    and the case fails)."""
    def run(tmp):
        try:
            return fn(tmp)
        finally:
            left = [str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()]
            assert not left, f"left behind: {left}"
    return run


def stopped_by(error):
    """Check: the run stopped early, as interrupted, and its message names the callable's ``error``."""
    return lambda r: r.status == "interrupted" and r.steps < 10**6 and error in r.message


CHUNK_FILES = sorted(f"chunk-{k:05d}.{ext}" for k in range(len(SWEEP)) for ext in ("json", "npz"))  # chunk=1

CASES = ARRAY_CASES + [
    # --- Network constructors: sizes as requests, widths, scale, seed, dtype
    Case("orthogonal: widths [10^9]*3", lambda t: dln.Network.orthogonal([10**9] * 3), refuse(MemoryError, "widths")),
    Case("gaussian: widths 16000^2 (above RLIMIT_AS, below RAM)", lambda t: dln.Network.gaussian([16000, 16000]),
         refuse(MemoryError, "widths")),
    Case("uniform: widths [1, 2^31-1, 2]", lambda t: dln.Network.uniform([1, 2**31 - 1, 2]),
         refuse(MemoryError, "widths")),
    Case("orthogonal: a tall layer [10^5, 10] (8 MB)", lambda t: dln.Network.orthogonal([10**5, 10]),
         works(lambda n: np.allclose(n.weights[0] @ n.weights[0].T, np.eye(10)))),
    Case("orthogonal: widths 0-d array", lambda t: dln.Network.orthogonal(np.array(5)), refuse(TypeError, "widths")),
    Case("orthogonal: widths set", lambda t: dln.Network.orthogonal({3, 4}), refuse(TypeError, "widths")),
    Case("orthogonal: widths dict", lambda t: dln.Network.orthogonal({3: 4}), refuse(TypeError, "widths")),
    Case("orthogonal: widths generator", lambda t: dln.Network.orthogonal(w for w in (3, 4)),
         refuse(TypeError, "widths")),
    Case("orthogonal: widths float array", lambda t: dln.Network.orthogonal(np.array([3.0, 4.0])),
         refuse(TypeError, "widths[0]")),
    Case("orthogonal: widths [3, True]", lambda t: dln.Network.orthogonal([3, True]), refuse(TypeError, "widths[1]")),
    Case("orthogonal: widths [3, 2^31]", lambda t: dln.Network.orthogonal([3, 2**31]), refuse(ValueError, "widths[1]")),
    Case("orthogonal: widths [3, 0, 4]", lambda t: dln.Network.orthogonal([3, 0, 4]), refuse(ValueError, "widths")),
    Case("orthogonal: widths [5]", lambda t: dln.Network.orthogonal([5]), refuse(ValueError, "widths")),
    Case("orthogonal: widths int array", lambda t: dln.Network.orthogonal(np.array([3, 5, 4])),
         same(lambda t: dln.Network.orthogonal([3, 5, 4]))),
    Case("orthogonal: widths range", lambda t: dln.Network.orthogonal(range(3, 6)),
         same(lambda t: dln.Network.orthogonal([3, 4, 5]))),
    Case("orthogonal: 1000 layers of 1 x 1", lambda t: dln.Network.orthogonal([1] * 1001),
         works(lambda n: n.depth == 1000)),
    Case("orthogonal: scale NaN", lambda t: dln.Network.orthogonal([3, 4], scale=np.nan), refuse(ValueError, "scale")),
    Case("orthogonal: scale -inf", lambda t: dln.Network.orthogonal([3, 4], scale=-np.inf),
         refuse(ValueError, "scale")),
    Case("orthogonal: scale Decimal", lambda t: dln.Network.orthogonal([3, 4], scale=__import__("decimal").Decimal(1)),
         refuse(TypeError, "scale")),
    Case("orthogonal: scale Fraction", lambda t: dln.Network.orthogonal([3, 4], scale=fractions.Fraction(1, 2)),
         same(lambda t: dln.Network.orthogonal([3, 4], scale=0.5))),
    Case("orthogonal: scale 0-d array", lambda t: dln.Network.orthogonal([3, 4], scale=np.array(0.5)),
         refuse(TypeError, "scale")),
    Case("gaussian: scale 1.7e308", lambda t: dln.Network.gaussian([30, 40], scale=1.7e308),
         works(lambda n: all(np.isfinite(w).all() for w in n.weights))),
    Case("orthogonal: seed 2^64", lambda t: dln.Network.orthogonal([3, 4], seed=2**64), refuse(ValueError, "seed")),
    Case("orthogonal: seed -1", lambda t: dln.Network.orthogonal([3, 4], seed=-1), refuse(ValueError, "seed")),
    Case("orthogonal: seed 1.0", lambda t: dln.Network.orthogonal([3, 4], seed=1.0), refuse(TypeError, "seed")),
    Case("orthogonal: seed uint64 max", lambda t: dln.Network.orthogonal([3, 4], seed=np.uint64(2**64 - 1)),
         same(lambda t: dln.Network.orthogonal([3, 4], seed=2**64 - 1))),
    Case("orthogonal: dtype float16", lambda t: dln.Network.orthogonal([3, 4], dtype=np.float16),
         refuse(TypeError, "dtype")),
    Case("orthogonal: dtype long double", lambda t: dln.Network.orthogonal([3, 4], dtype=np.longdouble),
         refuse(TypeError, "dtype")),
    Case("orthogonal: dtype complex", lambda t: dln.Network.orthogonal([3, 4], dtype=complex),
         refuse(TypeError, "dtype")),
    Case("orthogonal: dtype 'float64'", lambda t: dln.Network.orthogonal([3, 4], dtype="float64"),
         same(lambda t: dln.Network.orthogonal([3, 4]))),
    Case("orthogonal: activation 'RELU'", lambda t: dln.Network.orthogonal([3, 4], activation="RELU"),
         refuse(ValueError, "activation")),
    Case("orthogonal: negative_slope NaN", lambda t: dln.Network.orthogonal([3, 4], negative_slope=np.nan),
         refuse(ValueError, "negative_slope")),
    Case("Network: weights generator", lambda t: dln.Network(w for w in (W0, W1)), refuse(TypeError, "weights")),
    Case("Network: weights holding a Network", lambda t: dln.Network([net()]), refuse(TypeError, "weights[0]")),
    Case("Network: weights tuple", lambda t: dln.Network((W0, W1)), same(lambda t: net())),
    Case("Network: dtype float16", lambda t: net(dtype=np.float16), refuse(TypeError, "dtype")),
    Case("Network.astype: long double", lambda t: net().astype(np.longdouble), refuse(TypeError, "dtype")),
    Case("Network.features: 1 sample", lambda t: net().features(X[:, :1]),
         same(lambda t: net().features(X[:, :1].copy()))),
    # --- problems: what the array table cannot express
    Case("Completion: mask None", lambda t: dln.Completion(T, None), refuse(TypeError, "mask")),
    Case("Completion: nothing observed", lambda t: fit(dln.Completion(T, np.zeros_like(M))),
         works(lambda r: r.final_loss == 0.0)),
    Case("Regression: one sample", lambda t: fit(dln.Regression(X[:, :1], Y[:, :1])),
         same(lambda t: fit(dln.Regression(X[:, :1].copy(), Y[:, :1].copy())))),
    Case("Regression: float32 X, float64 Y", lambda t: fit(dln.Regression(X.astype(np.float32), Y)),
         same(lambda t: fit(dln.Regression(X.astype(np.float32).astype(np.float64), Y)))),
    Case("Factorization: float64 beyond float32 for a float32 net",
         lambda t: fit(dln.Factorization(T * 1e39), net(np.float32)), refuse(ValueError, "target")),
    Case("Factorization: 1e300 target diverges, weights finite", lambda t: fit(dln.Factorization(T * 1e300), lr=1.0),
         works(lambda r: r.status == "diverged" and all(np.isfinite(w).all() for w in r.network.weights))),
    # --- train: argument types that are numbers or sequences in disguise
    Case("train: lr numpy float32", lambda t: fit(fac(), lr=np.float32(0.05)),
         same(lambda t: fit(fac(), lr=float(np.float32(0.05))))),
    Case("train: lr Fraction", lambda t: fit(fac(), lr=fractions.Fraction(1, 20)), same(lambda t: fit(fac(), lr=0.05))),
    Case("train: lr 0-d array", lambda t: fit(fac(), lr=np.array(0.05)), refuse(TypeError, "lr")),
    Case("train: lr list", lambda t: fit(fac(), lr=[0.05]), refuse(TypeError, "lr")),
    Case("train: lr 1e308 diverges", lambda t: fit(fac(), lr=1e308), works(lambda r: r.status == "diverged")),
    Case("train: steps int64", lambda t: fit(fac(), steps=np.int64(4)), same(lambda t: fit(fac()))),
    Case("train: steps uint64 2^63", lambda t: fit(fac(), steps=np.uint64(2**63)), refuse(ValueError, "steps")),
    Case("train: steps 10^30", lambda t: fit(fac(), steps=10**30), refuse(ValueError, "steps")),
    Case("train: record_every 10^18", lambda t: fit(fac(), record_every=10**18), works(lambda r: len(r.loss) == 1)),
    Case("train: tol 1e308 stops at once", lambda t: fit(fac(), tol=1e308), works(lambda r: r.steps == 0)),
    Case("train: n_threads 10^6", lambda t: fit(fac(), n_threads=10**6), refuse(ValueError, "n_threads")),
    Case("train: betas ndarray", lambda t: fit(fac(), optimizer="adam", betas=np.array([0.8, 0.99])),
         same(lambda t: fit(fac(), optimizer="adam", betas=(0.8, 0.99)))),
    Case("train: betas set (no order)", lambda t: fit(fac(), optimizer="adam", betas={0.999, 0.9}),
         refuse(ValueError, "betas")),
    Case("train: betas dict", lambda t: fit(fac(), optimizer="adam", betas={0.9: 1, 0.999: 2}),
         refuse(ValueError, "betas")),
    Case("train: betas string", lambda t: fit(fac(), optimizer="adam", betas="ab"), refuse(ValueError, "betas")),
    Case("train: lr_scale ndarray", lambda t: fit(fac(), lr_scale=np.array([1.0, 0.5])),
         same(lambda t: fit(fac(), lr_scale=[1.0, 0.5]))),
    Case("train: lr_scale dict", lambda t: fit(fac(), lr_scale={0: 2.0, 1: 2.0}), refuse(TypeError, "lr_scale")),
    Case("train: lr_scale set", lambda t: fit(fac(), lr_scale={1.0, 2.0}), refuse(TypeError, "lr_scale")),
    Case("train: lr_scale 0-d array", lambda t: fit(fac(), lr_scale=np.array(1.0)), refuse(TypeError, "lr_scale")),
    Case("train: lr_scale generator", lambda t: fit(fac(), lr_scale=(s for s in (1.0, 1.0))),
         refuse(TypeError, "lr_scale")),
    Case("train: lr_scale range", lambda t: fit(fac(), lr_scale=range(1, 3)),
         same(lambda t: fit(fac(), lr_scale=[1.0, 2.0]))),
    Case("train: steps 0", lambda t: fit(fac(), steps=0), works(lambda r: r.steps == 0 and len(r.loss) == 1)),
    Case("train: lr_scale 2-D", lambda t: fit(fac(), lr_scale=np.ones((2, 1))), refuse(TypeError, "lr_scale[0]")),
    Case("train: progress raises", lambda t: fit(fac(), steps=10**6, progress=lambda n: 1 / 0),
         works(stopped_by("ZeroDivisionError: division by zero"))),
    Case("train: progress 0", lambda t: fit(fac(), progress=0), refuse(TypeError, "progress")),
    Case("train: progress trains another run", lambda t: reentrant(lambda cb: fit(fac(), progress=cb)),
         same(lambda t: (fit(fac()), [fit(fac(), steps=3)]))),
    Case("train_batch: progress trains another run",
         lambda t: reentrant(lambda cb: dln.train_batch([(net(), fac(), dict(lr=0.05, steps=4))], progress=cb)),
         same(lambda t: ([fit(fac())], [fit(fac(), steps=3)]))),
    Case("train: problem SparseCompletion (the sparse evaluator)", lambda t: fit(sparse()),
         works(lambda r: r.form == "sparse" and r.steps == 4)),
    Case("train: net a CompressedNetwork", lambda t: fit(D10, compressed()), refuse(TypeError, "net")),
    Case("train: compress True", lambda t: fit(D10, net10(), compress=True), refuse(TypeError, "compress")),
    Case("train: compress 0", lambda t: fit(D10, net10(), compress=0), refuse(ValueError, "compress")),
    Case("train: compress 2.5", lambda t: fit(D10, net10(), compress=2.5), refuse(TypeError, "compress")),
    Case("train: compress 10^6", lambda t: fit(D10, net10(), compress=10**6), refuse(ValueError, "compress")),
    Case("train: compress 'fast'", lambda t: fit(D10, net10(), compress="fast"), refuse(ValueError, "compress")),
    Case("train: compress int64", lambda t: fit(D10, net10(), compress=np.int64(2)).loss,
         same(lambda t: fit(D10, net10(), compress=2).loss)),
    Case("train_batch: generator of jobs", lambda t: dln.train_batch(j for j in [(net(), fac(), {"lr": 0.1})]),
         refuse(TypeError, "jobs")),
    Case("train_batch: mixed key types", lambda t: dln.train_batch([(net(), fac(), {1: 2, "lr": 0.1, "steps": 1})]),
         refuse(TypeError, "jobs[0]: 1")),
    Case("train_batch: progress raises",
         lambda t: dln.train_batch([(net(), fac(), dict(lr=0.05, steps=10**6))] * 2, progress=lambda n: 1 / 0),
         works(lambda rs: all(stopped_by("ZeroDivisionError")(r) for r in rs))),
    Case("train: checkpointed, progress raises", lambda t: fit(fac(), steps=10**6, checkpoint=t / "r.ckpt",
                                                               checkpoint_every=10**5, progress=lambda n: 1 / 0),
         works(stopped_by("ZeroDivisionError"))),
    Case("train_batch: no jobs", lambda t: dln.train_batch([]), works(lambda r: r == [])),
    # --- SVD tracking
    Case("TrackSpec: block_r beyond the layers", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(block_r=6)),
         refuse(ValueError, "block_r")),
    Case("TrackSpec: block_r 10^9", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(block_r=10**9)),
         refuse(ValueError, "block_r")),
    Case("TrackSpec: update_rank 2^31-1", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(update_rank=2**31 - 1)),
         works(lambda r: r.svd is not None)),
    Case("TrackSpec: top_p 10^9", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(top_p=10**9)),
         works(lambda r: all(len(layer[1]) <= 10 for rec in r.svd.top for layer in rec))),
    Case("TrackSpec: every 2^63", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(every=2**63)),
         refuse(ValueError, "every")),
    Case("TrackSpec: every int64", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(every=np.int64(2))).svd.spectra,
         same(lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(every=2)).svd.spectra)),
    Case("TrackSpec: certificate_tol NaN", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(certificate_tol=np.nan)),
         refuse(ValueError, "certificate_tol")),
    Case("TrackSpec: direction_tol NaN", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(direction_tol=np.nan)),
         refuse(ValueError, "direction_tol")),
    Case("TrackSpec: ortho_ulp NaN", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(ortho_ulp=np.nan)),
         refuse(ValueError, "ortho_ulp")),
    Case("TrackSpec: seed 2^64", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(seed=2**64)),
         refuse(ValueError, "seed")),
    Case("TrackSpec: mode None", lambda t: fit(D10, net10(), track_svd=dln.TrackSpec(mode=None)),
         refuse(ValueError, "mode")),
    Case("SvdTracker: rho NaN", lambda t: dln.SvdTracker(WS, Q=Q6, rho=np.nan), refuse(ValueError, "rho")),
    Case("SvdTracker: rho '0.7'", lambda t: dln.SvdTracker(WS, Q=Q6, rho="0.7"), refuse(TypeError, "rho")),
    Case("SvdTracker: max_rank True", lambda t: dln.SvdTracker(WS, Q=Q6, max_rank=True), refuse(TypeError, "max_rank")),
    Case("SvdTracker: max_rank 2^31", lambda t: dln.SvdTracker(WS, Q=Q6, max_rank=2**31),
         refuse(ValueError, "max_rank")),
    Case("SvdTracker: dtype float16", lambda t: dln.SvdTracker(WS, dtype=np.float16), refuse(TypeError, "dtype")),
    Case("SvdTracker.update: alpha NaN", lambda t: tracker().update(A6, B6, alpha=np.nan), refuse(ValueError, "alpha")),
    Case("SvdTracker.update: alpha True", lambda t: tracker().update(A6, B6, alpha=True), refuse(TypeError, "alpha")),
    Case("SvdTracker.update: vectors", lambda t: tracker().update(A6[:, 0], B6[:, 0]),
         same(lambda t: tracker().update(A6[:, :1].copy(), B6[:, :1].copy()))),
    Case("SvdTracker.update_dense: max_update_rank 2^31-1", lambda t: tracker().update_dense(WS_AFTER, 2**31 - 1),
         works(lambda info: not info["split_failed"])),
    Case("SvdTracker.update_dense: max_update_rank 0", lambda t: tracker().update_dense(WS_AFTER, 0),
         refuse(ValueError, "max_update_rank")),
    Case("SvdTracker.triplets: p 7", lambda t: tracker().triplets(7), refuse(ValueError, "p")),
    Case("SvdTracker.triplets: p True", lambda t: tracker().triplets(True), refuse(TypeError, "p")),
    Case("SvdTracker.restart: NaN", lambda t: tracker().restart(np.full((6, 6), np.nan)), refuse(ValueError, "W")),
    Case("BrandTracker: max_rank 2^31-1", lambda t: dln.BrandTracker(W1, max_rank=2**31 - 1).rank,
         works(lambda r: r == 4)),
    Case("BrandTracker.update: A of the wrong rows", lambda t: dln.BrandTracker(W1).update(A6, B6),
         refuse(ValueError, "A")),
    Case("BrandTracker.update: B NaN", lambda t: dln.BrandTracker(W1).update(A6[:4], np.full((6, 2), np.nan)),
         refuse(ValueError, "B")),
    Case("BrandTracker.triplets: p 5", lambda t: dln.BrandTracker(W1).triplets(5), refuse(ValueError, "p")),
    # --- compression
    Case("compress: rank int64", lambda t: dln.compress(net10(), D10, np.int64(2)).network,
         same(lambda t: dln.compress(net10(), D10, 2).network)),
    Case("compress: rank True", lambda t: dln.compress(net10(), D10, True), refuse(TypeError, "rank")),
    Case("compress: rank 10^30", lambda t: dln.compress(net10(), D10, 10**30), refuse(ValueError, "rank")),
    Case("compress: outer_lr_scale inf", lambda t: dln.compress(net10(), D10, 2, outer_lr_scale=np.inf),
         refuse(ValueError, "outer_lr_scale")),
    Case("compress: method 'svd'", lambda t: dln.compress(net10(), D10, 2, method="svd"), refuse(ValueError, "method")),
    Case("compress: net a weight list", lambda t: dln.compress(net10().weights, D10, 2), refuse(TypeError, "net")),
    Case("compress: problem a target array", lambda t: dln.compress(net10(), np.eye(10), 2),
         refuse(TypeError, "problem")),
    Case("compress: relu net", lambda t: dln.compress(dln.Network.orthogonal([10] * 3, activation="relu"), D10, 2),
         refuse(ValueError, "net")),
    Case("invariant_subspace: rank 1.0", lambda t: dln.invariant_subspace(net10(), D10, 1.0),
         refuse(TypeError, "rank")),
    Case("compress_trained: rank 0", lambda t: dln.compress_trained(net10(), 0), refuse(ValueError, "rank")),
    Case("compress_trained: net a string", lambda t: dln.compress_trained("net", 1), refuse(TypeError, "net")),
    Case("CompressedNetwork.lift: rho NaN", lambda t: compressed().lift(compressed().network, np.nan),
         refuse(ValueError, "rho")),
    Case("CompressedNetwork.lift: rho inf", lambda t: compressed().lift(compressed().network, np.inf),
         refuse(ValueError, "rho")),
    Case("CompressedNetwork.lift: trained a string", lambda t: compressed().lift("x", 0.1),
         refuse((TypeError, ValueError), "trained")),
    Case("CompressedNetwork.rho: lr NaN", lambda t: compressed().rho(np.nan, 3), refuse(ValueError, "lr")),
    Case("CompressedNetwork.rho: steps 10^12", lambda t: compressed().rho(1.0, 10**12), refuse(MemoryError, "steps")),
    Case("CompressedNetwork.leakage: wide a string", lambda t: compressed().leakage("x"), refuse(TypeError, "wide")),
    Case("CompressedNetwork.leakage: wide of other widths", lambda t: compressed().leakage(net()),
         refuse(ValueError, "wide")),
    Case("train_compressed: path 'fast'", lambda t: train_compressed(net10(), D10, 1.0, 3, path="fast"),
         refuse(ValueError, "path")),
    Case("train_compressed: momentum '0.9'",
         lambda t: train_compressed(net10(), D10, 1.0, 3, optimizer="momentum", momentum="0.9"),
         refuse(TypeError, "momentum")),
    Case("subspace_sine: shapes differ", lambda t: subspace_sine(A6, B6[:, :1]), refuse(ValueError, "B")),
    Case("subspace_sine: B NaN", lambda t: subspace_sine(A6, np.full((6, 2), np.nan)), refuse(ValueError, "B")),
    # --- SparseCompletion
    Case("SparseCompletion: shape 10^9 x 10^9", lambda t: sparse(shape=(10**9, 10**9)), refuse(MemoryError, "shape")),
    Case("SparseCompletion: shape 10^5 x 10^5, 3 entries", lambda t: sparse(shape=(10**5, 10**5)).observed,
         works(lambda n: n == 3)),
    Case("SparseCompletion: shape (3,)", lambda t: sparse(shape=(3,)), refuse(ValueError, "shape")),
    Case("SparseCompletion: shape 3", lambda t: sparse(shape=3), refuse(ValueError, "shape")),
    Case("SparseCompletion: shape (4, 3.0)", lambda t: sparse(shape=(4, 3.0)), refuse(TypeError, "shape[1]")),
    Case("SparseCompletion: shape (0, 3)", lambda t: sparse(shape=(0, 3)), refuse(ValueError, "shape[0]")),
    Case("SparseCompletion: dtype float16", lambda t: sparse(dtype=np.float16), refuse(TypeError, "dtype")),
    Case("SparseCompletion: dtype 'nope'", lambda t: sparse(dtype="nope"), refuse(TypeError, "dtype")),
    Case("SparseCompletion: rows out of range", lambda t: sparse(rows=(0, 1, 4)), refuse(ValueError, "rows")),
    Case("SparseCompletion: rows negative", lambda t: sparse(rows=(0, -1, 3)), refuse(ValueError, "rows")),
    Case("SparseCompletion: rows uint64 max", lambda t: sparse(rows=np.array([0, 1, 2**64 - 1], np.uint64)),
         refuse(ValueError, "rows")),
    Case("SparseCompletion: cols out of range", lambda t: sparse(cols=(0, 3, 1)), refuse(ValueError, "cols")),
    Case("SparseCompletion: duplicate entry", lambda t: sparse(rows=(0, 0, 3), cols=(2, 2, 1)),
         refuse(ValueError, "rows")),
    Case("SparseCompletion: broadcast rows (all duplicates)",
         lambda t: sparse(rows=np.broadcast_to(1, 3), cols=(1, 1, 1)), refuse(ValueError, "rows")),
    Case("SparseCompletion: rows float", lambda t: sparse(rows=(0.0, 1.0, 3.0)), refuse(TypeError, "rows")),
    Case("SparseCompletion: rows bool", lambda t: sparse(rows=(True, False, True)), refuse(TypeError, "rows")),
    Case("SparseCompletion: rows ragged", lambda t: sparse(rows=[[0], [1, 3]]), refuse(ValueError, "rows")),
    Case("SparseCompletion: rows masked", lambda t: sparse(rows=np.ma.masked_array([0, 1, 3], [0, 1, 0])),
         refuse(ValueError, "rows")),
    Case("SparseCompletion: rows 2-D", lambda t: sparse(rows=[[0, 1, 3]], cols=[[0, 2, 1]], values=[[1.0, -2.0, 0.5]]),
         refuse(ValueError, "rows")),
    Case("SparseCompletion: lengths differ", lambda t: sparse(cols=(0, 2)), refuse(ValueError, "values")),
    Case("SparseCompletion: no entries", lambda t: sparse(rows=np.zeros(0, int), cols=np.zeros(0, int), values=[]),
         refuse(ValueError, "values")),
    Case("SparseCompletion: values NaN", lambda t: sparse(values=(1.0, np.nan, 0.5)), refuse(ValueError, "values")),
    Case("SparseCompletion: values int", lambda t: sparse(values=(1, 2, 3)), refuse(TypeError, "values")),
    Case("SparseCompletion: values complex", lambda t: sparse(values=(1j, 2, 3)), refuse(TypeError, "values")),
    Case("SparseCompletion: values masked", lambda t: sparse(values=np.ma.masked_array([1.0, 2.0, 3.0], [0, 0, 1])),
         refuse(ValueError, "values")),
    Case("SparseCompletion: values long double beyond float64",
         lambda t: sparse(values=np.array([1, 2, 3], np.longdouble) * np.longdouble("1e4000")),
         refuse(ValueError, "values")),
    Case("SparseCompletion: strided int8 rows, float16 values",
         lambda t: sparse(rows=np.array([0, 9, 1, 9, 3], np.int8)[::2],
                          values=np.array([1.0, -2.0, 0.5], np.float16)).loss(net()),
         same(lambda t: sparse().loss(net()))),
    Case("SparseCompletion.loss: n_threads 'x'", lambda t: sparse().loss(net(), n_threads="x"),
         refuse(TypeError, "n_threads")),
    Case("SparseCompletion.loss: n_threads 0", lambda t: sparse().loss(net(), n_threads=0),
         refuse(ValueError, "n_threads")),
    Case("SparseCompletion.gradients: float32 net", lambda t: sparse().gradients(net(np.float32)),
         refuse(TypeError, "net")),
    Case("train(SparseCompletion): lr_scale 1.0", lambda t: dln.train(net(), sparse(), 0.1, 3, lr_scale=1.0),
         refuse(TypeError, "lr_scale")),
    Case("train(SparseCompletion): betas 0.9", lambda t: dln.train(net(), sparse(), 0.1, 3, betas=0.9),
         refuse(ValueError, "betas")),
    Case("train(SparseCompletion): lr NaN", lambda t: dln.train(net(), sparse(), np.nan, 3),
         refuse(ValueError, "lr")),
    Case("train(SparseCompletion): steps -1", lambda t: dln.train(net(), sparse(), 0.1, -1),
         refuse(ValueError, "steps")),
    Case("train(SparseCompletion): tol 'x'", lambda t: dln.train(net(), sparse(), 0.1, 3, tol="x"),
         refuse(TypeError, "tol")),
    Case("train(SparseCompletion): progress raises",
         lambda t: dln.train(net(), sparse(), 0.01, 10**6, progress=lambda n: 1 / 0),
         works(stopped_by("ZeroDivisionError"))),
    Case("SparseCompletion.from_completion: a Factorization", lambda t: dln.SparseCompletion.from_completion(fac()),
         refuse(TypeError, "problem")),
    # --- checkpoint paths
    Case("train: checkpoint a folder", lambda t: fit(fac(), checkpoint=t), refuse(OSError, "checkpoint", "director")),
    Case("train: checkpoint under a file", lambda t: fit(fac(), checkpoint=file_at(t / "f") / "run.ckpt"),
         refuse(OSError, "checkpoint", "not a director")),
    Case("train: checkpoint with a NUL byte", lambda t: fit(fac(), checkpoint=f"{t}/a\0b"),
         refuse(ValueError, "checkpoint")),
    Case("train: checkpoint name of 300 bytes", saves_nothing(lambda t: fit(fac(), checkpoint=t / ("x" * 300))),
         refuse(OSError, "checkpoint")),
    Case("train: checkpoint in /proc", lambda t: fit(fac(), checkpoint="/proc/dln-redteam.ckpt"),
         refuse(OSError, "checkpoint")),
    Case("train: checkpoint on a full disk", saves_nothing(lambda t: on_full_disk(fit, fac(), checkpoint=t / "r.ckpt")),
         refuse(OSError, "checkpoint")),
    Case("train: checkpoint a FIFO", lambda t: fit(fac(), checkpoint=fifo(t / "p")), refuse(OSError, "checkpoint")),
    Case("train: checkpoint in a missing folder", lambda t: fit(fac(), checkpoint=t / "no" / "r.ckpt"),
         refuse(FileNotFoundError, "checkpoint")),
    Case("train: checkpoint a PathLike of bytes", lambda t: fit(fac(), checkpoint=BytesPath(t / "r.ckpt")),
         refuse(TypeError, "checkpoint")),
    Case("train: checkpoint bytes path", lambda t: fit(fac(), checkpoint=bytes(t / "r.ckpt")),
         refuse(TypeError, "checkpoint")),
    Case("train: checkpoint_every 10^30", lambda t: fit(fac(), checkpoint=t / "r.ckpt", checkpoint_every=10**30),
         refuse(ValueError, "checkpoint_every")),
    Case("train + resume: unicode checkpoint path", lambda t: checkpointed(t / "ckpt-ü-λ-日本-🙂.ckpt"),
         same(lambda t: fit(fac()))),
    Case("train + resume: checkpoint in a new-line folder", lambda t: checkpointed(mkdir(t / "a\nb") / "r.ckpt"),
         same(lambda t: fit(fac()))),
    Case("load_checkpoint: missing file", lambda t: dln.load_checkpoint(t / "nope.ckpt"),
         refuse(FileNotFoundError, "checkpoint")),
    Case("load_checkpoint: a FIFO", lambda t: dln.load_checkpoint(fifo(t / "p")), refuse(ValueError, "checkpoint")),
    Case("load_checkpoint: /dev/zero", lambda t: dln.load_checkpoint("/dev/zero"), refuse(ValueError, "checkpoint")),
    Case("load_checkpoint: under a file", lambda t: dln.load_checkpoint(file_at(t / "f") / "x.ckpt"),
         refuse((ValueError, OSError), "checkpoint")),
    Case("load_checkpoint: a symlink to itself", lambda t: dln.load_checkpoint(loop(t / "l.ckpt")),
         refuse(ValueError, "checkpoint")),
    Case("load_checkpoint: NUL byte", lambda t: dln.load_checkpoint("a\0b"), refuse(ValueError, "path")),
    Case("load_checkpoint: empty path", lambda t: dln.load_checkpoint(""), refuse(ValueError, "path")),
    Case("resume: a FIFO", lambda t: dln.resume(fifo(t / "p"), fac()), refuse(ValueError, "checkpoint")),
    Case("resume: steps int64",
         lambda t: (checkpointed(t / "r.ckpt", 3), dln.resume(t / "r.ckpt", fac(), steps=np.int64(4)))[1],
         same(lambda t: fit(fac()))),
    # --- sweeps: paths, damaged folders, executors, sizes
    Case("sweep: out_dir a file", lambda t: dln.sweep(SWEEP, out_dir=file_at(t / "f")), refuse(OSError, "out_dir")),
    Case("sweep: out_dir under a file", lambda t: dln.sweep(SWEEP, out_dir=file_at(t / "f") / "sub"),
         refuse(OSError, "out_dir")),
    Case("sweep: out_dir in /proc", lambda t: dln.sweep(SWEEP, out_dir="/proc/dln-redteam"),
         refuse(OSError, "out_dir")),
    Case("sweep: out_dir a symlink to itself", lambda t: dln.sweep(SWEEP, out_dir=loop(t / "l")),
         refuse(OSError, "out_dir")),
    Case("sweep: out_dir 123", lambda t: dln.sweep(SWEEP, out_dir=123), refuse(TypeError, "out_dir")),
    Case("sweep: out_dir bytes", lambda t: dln.sweep(SWEEP, out_dir=b"out"), refuse(TypeError, "out_dir")),
    Case("sweep: out_dir ''", lambda t: dln.sweep(SWEEP, out_dir=""), refuse(ValueError, "out_dir")),
    Case("sweep: out_dir NUL byte", lambda t: dln.sweep(SWEEP, out_dir=f"{t}/a\0b"), refuse(ValueError, "out_dir")),
    Case("sweep: out_dir unicode, new parents", lambda t: (dln.sweep(SWEEP, chunk=2, out_dir=t / "ü" / "λ-日本"),
                                                           dln.sweep(SWEEP, chunk=2, out_dir=t / "ü" / "λ-日本")),
         same(lambda t: (dln.sweep(SWEEP, chunk=2),) * 2)),
    Case("sweep: chunk JSON a FIFO", damaged(0, lambda p, o: (p.unlink(), fifo(p))), refuse(ValueError, "out_dir")),
    Case("sweep: chunk JSON a folder", damaged(1, lambda p, o: (p.unlink(), p.mkdir())), refuse(ValueError, "out_dir")),
    Case("sweep: chunk JSON cut short", damaged(1, lambda p, o: file_at(p, '{"format": "dln.sw')),
         refuse(ValueError, "out_dir")),
    Case("sweep: chunk JSON not UTF-8", damaged(1, lambda p, o: bytes_at(p, b"\xff\xfe{")),
         refuse(ValueError, "out_dir")),
    Case("sweep: chunk JSON runs [1]", damaged(2, lambda p, o: file_at(p, json.dumps({"format": "dln.sweep.chunk/1",
                                                                                    "runs": [1]}))),
         refuse(ValueError, "out_dir")),
    Case("sweep: chunk npz garbage", damaged(0, lambda p, o: file_at(p.with_suffix(".npz"), "not a zip")),
         refuse(ValueError, "out_dir")),
    Case("sweep: chunk npz of another chunk",
         damaged(1, lambda p, o: os.replace(o / "chunk-00002.npz", p.with_suffix(".npz"))),
         refuse(ValueError, "out_dir")),
    Case("sweep: chunk npz missing its loss",
         damaged(1, lambda p, o: np.savez(p.with_suffix(".npz"), other=np.ones(1))),
         refuse(ValueError, "out_dir")),
    Case("sweep: chunk JSON lost (killed between the two writes)", damaged(1, lambda p, o: p.unlink()),
         same(lambda t: dln.sweep(SWEEP, chunk=1))),
    Case("sweep: stale temporary of a killed writer", stale_temporary,
         same(lambda t: (dln.sweep(SWEEP, chunk=1), CHUNK_FILES))),
    Case("sweep: full disk", saves_nothing(lambda t: on_full_disk(dln.sweep, SWEEP, out_dir=t, progress=False)),
         refuse(OSError, "out_dir")),
    Case("sweep: SIGKILLed 3 times, then resumed", killed_sweep,
         same(lambda t: (dln.sweep(KILL_SWEEP, chunk=1), [], True)),
         timeout=30.0),
    Case("sweep: executor submit returns None", lambda t: dln.sweep(SWEEP, executor=NoneExecutor()),
         refuse(TypeError, "executor")),
    Case("sweep: progress raises", lambda t: dln.sweep(SWEEP, progress=lambda n: 1 / 0),
         refuse(ZeroDivisionError, None)),
    Case("sweep: chunk 10^30", lambda t: dln.sweep(SWEEP, chunk=10**30), refuse(ValueError, "chunk")),
    Case("sweep: chunk int64", lambda t: dln.sweep(SWEEP, chunk=np.int64(2)),
         same(lambda t: dln.sweep(SWEEP, chunk=2))),
    Case("sweep: no configs", lambda t: dln.sweep([]), works(lambda r: r == [])),
    Case("sweep: a 10^6 x 10^6 target",
         lambda t: dln.sweep([RunConfig(d_out=HUGE, d_in=HUGE, rank=1, depth=2, width=1, init="gaussian")]),
         refuse(MemoryError, "d_out")),
    # --- configs, grids, targets
    Case("RunConfig.build: 10^6 x 10^6 target",
         lambda t: RunConfig(d_out=HUGE, d_in=HUGE, rank=1, depth=2, width=1, init="gaussian").build(),
         refuse(MemoryError, "d_out")),
    Case("RunConfig.build: 10^6 x 10^6 orthogonal network", lambda t: RunConfig(d_out=HUGE, d_in=HUGE, rank=1).build(),
         refuse(MemoryError, "widths")),
    Case("RunConfig.build: 10^9 regression samples",
         lambda t: RunConfig(problem="regression", d_out=3, d_in=3, rank=1, n_samples=10**9, depth=2, width=1).build(),
         refuse(MemoryError, "n_samples")),
    Case("RunConfig: betas a set", lambda t: RunConfig(betas={0.999, 0.9}), refuse(TypeError, "betas")),
    Case("RunConfig: hidden a set", lambda t: RunConfig(depth=3, hidden={4, 5}), refuse(TypeError, "hidden")),
    Case("RunConfig: lr_scale a generator", lambda t: RunConfig(depth=2, lr_scale=(s for s in (1.0, 0.5))).lr_scale,
         works(lambda scales: scales == (1.0, 0.5))),
    Case("RunConfig: observed NaN", lambda t: RunConfig(problem="completion", observed=np.nan),
         refuse(ValueError, "observed")),
    Case("RunConfig: steps 1e400 (inf)", lambda t: RunConfig(steps=float("inf")), refuse(TypeError, "steps")),
    Case("RunConfig.from_json: truncated", lambda t: RunConfig.from_json('{"d_out": 4'), refuse(ValueError, "text")),
    Case("RunConfig.from_json: None", lambda t: RunConfig.from_json(None), refuse(TypeError, "text")),
    Case("RunConfig.from_json: a list", lambda t: RunConfig.from_json("[1, 2]"), refuse(TypeError, "config")),
    Case("RunConfig.from_json: lr NaN", lambda t: RunConfig.from_json('{"lr": NaN}'), refuse(ValueError, "lr")),
    Case("RunConfig.from_json: d_out 1e999", lambda t: RunConfig.from_json('{"d_out": 1e999}'),
         refuse(TypeError, "d_out")),
    Case("RunConfig.from_json: hidden a mapping", lambda t: RunConfig.from_json('{"depth": 2, "hidden": {"a": 1}}'),
         refuse(TypeError, "hidden")),
    Case("RunConfig.from_toml: not TOML", lambda t: RunConfig.from_toml("lr = "), refuse(ValueError, "text")),
    Case("RunConfig.from_toml: bytes", lambda t: RunConfig.from_toml(b"lr = 1.0"), refuse(TypeError, "text")),
    Case("RunConfig.from_toml: steps beyond int64", lambda t: RunConfig.from_toml("steps = 99999999999999999999"),
         refuse(ValueError, "steps")),
    Case("grid: 10^9 configs", lambda t: dln.grid(RunConfig(), lr=[1.0] * 1000, seed=range(1000), steps=range(1000)),
         refuse(MemoryError, "steps")),
    Case("grid: range(10^9)", lambda t: dln.grid(RunConfig(), seed=range(10**9)), refuse(MemoryError, "seed")),
    Case("grid: no axes", lambda t: dln.grid(SWEEP[0]), works(lambda g: g == [SWEEP[0]])),
    Case("grid: ndarray axis", lambda t: dln.grid(RunConfig(), lr=np.array([0.5, 1.0])),
         same(lambda t: dln.grid(RunConfig(), lr=[0.5, 1.0]))),
    Case("spawn_seeds: seed -1", lambda t: dln.spawn_seeds(SWEEP, seed=-1), refuse(ValueError, "seed")),
    Case("low_rank_target: 10^6 x 10^6", lambda t: low_rank_target(HUGE, HUGE, 2), refuse(MemoryError, "d_out")),
    Case("low_rank_target: rank above the shape", lambda t: low_rank_target(3, 4, 5), refuse(ValueError, "rank")),
    Case("low_rank_target: d_out -1", lambda t: low_rank_target(-1, 3, 1), refuse(ValueError, "d_out")),
    Case("low_rank_target: d_in 3.0", lambda t: low_rank_target(3, 3.0, 1), refuse(TypeError, "d_in")),
    Case("low_rank_target: seed -1", lambda t: low_rank_target(3, 3, 1, seed=-1), refuse(ValueError, "seed")),
    Case("low_rank_target: int64 sizes", lambda t: low_rank_target(np.int64(4), np.int64(3), np.int64(2), np.uint32(7)),
         same(lambda t: low_rank_target(4, 3, 2, 7))),
    # --- the dln command
    Case("dln run: config a folder", lambda t: cli("run", t), refuse(Usage, "config", "director")),
    Case("dln run: config missing", lambda t: cli("run", t / "c.toml"), refuse(Usage, "config")),
    Case("dln run: config a FIFO", lambda t: cli("run", fifo(t / "c.toml")), refuse(Usage, "config")),
    Case("dln run: config not TOML", lambda t: run_config_file(t, text="depth = = 2"), refuse(Usage, "config")),
    Case("dln run: config binary", lambda t: cli("run", bytes_at(t / "c.toml", b"\xff\x00\xfe")),
         refuse(Usage, "config")),
    Case("dln run: config JSON list", lambda t: run_config_file(t, text="[1]", name="c.json"), refuse(Usage, "config")),
    Case("dln run: config 10^6 x 10^6 target",
         lambda t: run_config_file(t, text="d_out = 1000000\nd_in = 1000000\ndepth = 2\nwidth = 1\ninit = 'gaussian'"),
         refuse(Usage, "config", "d_out")),
    Case("dln run: config unknown field", lambda t: run_config_file(t, text="depht = 2\n"), refuse(Usage, "config")),
    Case("dln run: --out a folder", lambda t: run_config_file(t, "--out", t), refuse(Usage, "--out")),
    Case("dln run: --out under a missing folder", lambda t: run_config_file(t, "--out", t / "no" / "r.json"),
         refuse(Usage, "--out")),
    Case("dln run: --out under a file", lambda t: run_config_file(t, "--out", file_at(t / "f") / "r.json"),
         refuse(Usage, "--out")),
    Case("dln run: --checkpoint a folder", lambda t: run_config_file(t, "--checkpoint", t),
         refuse(Usage, "checkpoint")),
    Case("dln run: --n-threads 0", lambda t: run_config_file(t, "--n-threads", 0),
         refuse(Usage, "argument --n-threads")),
    Case("dln run: --n-threads 10^6", lambda t: run_config_file(t, "--n-threads", 10**6), refuse(Usage, "n_threads")),
    Case("dln run: unicode paths",
         lambda t: (run_config_file(t, "--no-progress", "--out", t / "λ-日本.json", name="ü.toml"),
                    json.loads((t / "λ-日本.json").read_text())["loss"])[1],
         same(lambda t: [float(x) for x in config_run(RunConfig(steps=3)).loss])),
    Case("dln reproduce: name ''", lambda t: cli("reproduce", ""), refuse(Usage, "name")),
    Case("dln reproduce: --seed -1", lambda t: cli("reproduce", "theorem", "--seed", -1),
         refuse(Usage, "argument --seed")),
    Case("dln demo: --out a file", lambda t: cli("demo", "--quick", "--out", file_at(t / "f")), refuse(Usage, "out")),
    Case("dln reproduce: --out under a file", lambda t: cli("reproduce", "theorem", "--out", file_at(t / "f") / "o"),
         refuse(Usage, "out")),
    Case("dln info", lambda t: json.loads(cli("info")), works(lambda info: info["python_package"] == dln.__version__)),
    Case("dln: unknown command", lambda t: cli("fly"), refuse(Usage, "argument")),
    Case("dln: no command", lambda t: cli(), refuse(Usage, "a command is required")),
    Case("python -m dln run: config a folder", lambda t: command("run", t), refuse(Usage, "config")),
]


# --- checks the harness itself: each must come out as its class, or the classes mean nothing -------------

CONTROLS = [  # (the class the harness must give, case)
    ("crash", Case("control: abort", lambda t: os.abort(), works())),
    ("hang", Case("control: sleep", lambda t: time.sleep(60), works(), timeout=1.0)),
    ("silent", Case("control: garbage accepted", lambda t: float("nan"), refuse(ValueError, "x"))),
    ("silent", Case("control: wrong result", lambda t: np.ones(2), same(lambda t: np.array([1.0, 1.0 + 2**-52])))),
    ("unhelpful", Case("control: unnamed message", lambda t: int("x"), refuse(ValueError, "x"))),
    ("unhelpful", Case("control: wrong exception type", lambda t: [][1], refuse(ValueError, "x"))),
    ("unhelpful", Case("control: 8 GB array under RLIMIT_AS", lambda t: np.ones(10**9), works())),
    ("ok", Case("control: same exception as the reference", lambda t: int("x"), same(lambda t: int("x")))),
]
ALL = CASES + [case for _, case in CONTROLS]


# --- the classifier (runs in the worker) -------------------------------------------------------------------

def _attempt(fn, tmp):
    try:
        return True, fn(tmp)
    except BaseException as exc:  # noqa: BLE001 - what was raised is what is being judged
        return False, exc


def _describe(exc):
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _comparable(x):
    """What defines a result, for a bitwise comparison (timings and messages left out)."""
    if isinstance(x, dln.Network):
        return ("Network", x.dtype.str, x.activation, x.negative_slope, [np.asarray(w) for w in x._weights])
    if isinstance(x, dln.Result):
        return ("Result", x.status, x.steps, x.loss, x.final_loss, _comparable(x.network))
    if isinstance(x, dln.SweepResult):
        return ("SweepResult", x.config, x.status, x.steps, x.final_loss, x.loss, x.weights)
    return x


def difference(a, b, where="result"):
    """None when ``a`` and ``b`` are the same bits (NaN equal to NaN), else where they differ."""
    a, b = _comparable(a), _comparable(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        if a.dtype.kind in "fc" and np.array_equal(a, b, equal_nan=True) or np.array_equal(a, b):
            return None
        return f"{where}: values differ"
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where}: keys {sorted(a)} vs {sorted(b)}"
        return next((d for k in a if (d := difference(a[k], b[k], f"{where}[{k!r}]"))), None)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if type(a) is not type(b) or len(a) != len(b):
            return f"{where}: {type(a).__name__} of {len(a)} vs {type(b).__name__} of {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := difference(x, y, f"{where}[{i}]"))), None)
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return None
    return None if type(a) is type(b) and a == b else f"{where}: {a!r:.80} vs {b!r:.80}"


def classify(case, tmp, ref_tmp):
    """(class, detail) of one case, ``tmp`` and ``ref_tmp`` fresh folders for the call and its reference."""
    ok, got = _attempt(case.fn, tmp)
    e = case.expect
    if isinstance(e, Refuse):
        if ok:
            return "silent", f"returned {str(_comparable(got))[:200]}"
        if not isinstance(got, e.types):
            return "unhelpful", f"{_describe(got)} (expected {' or '.join(t.__name__ for t in e.types)})"
        if e.name is not None and not re.match(re.escape(e.name) + r"(?!\w)", str(got)):
            return "unhelpful", f"{_describe(got)} (does not start with {e.name!r})"
        if e.match is not None and not re.search(e.match, str(got)):
            return "unhelpful", f"{_describe(got)} (does not say {e.match!r})"
        return "ok", _describe(got)
    if isinstance(e, Same):
        ref_ok, ref = _attempt(e.reference, ref_tmp)
        if not ref_ok:
            if ok:
                return "silent", f"returned where the reference raised {_describe(ref)}"
            if type(got) is type(ref) and str(got) == str(ref):
                return "ok", f"raised as the reference does: {_describe(got)}"
            return "unhelpful", f"{_describe(got)}; the reference raised {_describe(ref)}"
        if not ok:
            return "unhelpful", f"refused legitimate input: {_describe(got)}"
        diff = difference(got, ref)
        return ("ok", "") if diff is None else ("silent", f"differs from the reference: {diff}")
    if not ok:
        return "unhelpful", f"refused legitimate input: {_describe(got)}"
    if e.check is not None:
        ran, passed = _attempt(lambda t: e.check(got), tmp)
        if not (ran and passed):
            return "silent", f"returned {str(_comparable(got))[:200]}, which fails the check"
    return "ok", ""


def worker(base):
    """Answer case numbers read from stdin with one JSON line ``[i, class, detail]`` each."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the library or a case prints cannot garble the answers
    os.chdir(base)  # nor can a relative path it writes land in the source tree
    for line in sys.stdin:
        i = int(line)
        tmp, ref_tmp = Path(base, f"{i}"), Path(base, f"{i}-reference")
        tmp.mkdir()
        ref_tmp.mkdir()
        cls, detail = classify(ALL[i], tmp, ref_tmp)
        answers.write(json.dumps([i, cls, detail[:600]]) + "\n")
        answers.flush()


# --- the pool (runs in pytest) ---------------------------------------------------------------------------

class Worker:
    """One worker process, fed one case at a time; replaced when it dies or overruns."""

    def __init__(self, base):
        self.base, self.case, self.buffer = base, None, b""
        self.log = open(Path(base, f"worker-{time.monotonic_ns()}.log"), "wb")
        # the worker works in its own folder: paths on which its child processes import dln stay valid
        path = os.pathsep.join(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
        # its own process group: a case's child processes go with it when it is killed
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", str(base)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True, env=dict(os.environ, PYTHONPATH=path))
        self.fd = self.proc.stdout.fileno()

    def send(self, i):
        self.case, self.deadline = i, time.monotonic() + ALL[i].timeout
        with contextlib.suppress(BrokenPipeError):  # a worker that is gone shows as such in receive()
            self.proc.stdin.write(f"{i}\n".encode())
            self.proc.stdin.flush()

    def receive(self):
        """The answer if a whole line came, "" if not yet, None if the worker is gone."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        if b"\n" not in self.buffer:
            return ""
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def death(self):
        rc = self.proc.wait()
        self.log.flush()
        tail = Path(self.log.name).read_bytes()[-300:].decode(errors="replace").strip()
        how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
        return f"worker {how}; stderr: ...{tail}"

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.log.close()


def run_cases(indices, base, workers=WORKERS):
    """{case number: (class, detail)} for every case in ``indices``."""
    pending, results = collections.deque(indices), {}
    pool = [Worker(base) for _ in range(min(workers, len(pending)))]
    try:
        while pending or any(w.case is not None for w in pool):
            for w in pool:
                if w.case is None and pending:
                    w.send(pending.popleft())
            busy = [w for w in pool if w.case is not None]
            wait = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = select.select([w.fd for w in busy], [], [], wait)[0]
            for k, w in enumerate(pool):
                if w.case is None:
                    continue
                answer = w.receive() if w.fd in ready else ""
                if answer:
                    results[answer[0]] = (answer[1], answer[2])
                    w.case = None
                elif answer is None or time.monotonic() > w.deadline:
                    results[w.case] = ("crash", w.death()) if answer is None else \
                        ("hang", f"no answer within {ALL[w.case].timeout:g} s")
                    w.stop()
                    pool[k] = Worker(base)
    finally:
        for w in pool:
            w.stop()
    return results


def test_red_team(tmp_path, capsys):
    t0 = time.perf_counter()
    results = run_cases(range(len(CASES)), tmp_path)
    assert sorted(results) == list(range(len(CASES)))
    counts = collections.Counter(cls for cls, _ in results.values())
    summary = (f"{len(CASES)} cases: " + ", ".join(f"{counts[c]} {c}" for c in CLASSES if counts[c])
               + f" ({time.perf_counter() - t0:.1f} s)")
    with capsys.disabled():  # shown on passing too (stderr: under pytest-xdist a worker's stdout is the channel)
        print(f"\nred team: {summary}", file=sys.stderr, flush=True)
    failed = [f"{CASES[i].id}: {cls}: {detail}" for i, (cls, detail) in sorted(results.items()) if cls != "ok"]
    assert not failed, summary + "\n" + "\n".join(failed)


def test_harness_tells_the_classes_apart(tmp_path):
    """A crash, a hang, garbage accepted and an unnamed error are seen as such (else the counts above
    would mean nothing), and the workers run under the address-space limit."""
    expected = {len(CASES) + k: cls for k, (cls, _) in enumerate(CONTROLS)}
    results = run_cases(expected, tmp_path)
    assert {i: results[i][0] for i in expected} == expected, results


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker(sys.argv[2])
