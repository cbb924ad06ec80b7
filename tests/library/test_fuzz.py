"""Property-based fuzzing of the public entry points: any input either works (and the result is sane)
or raises one of the documented exceptions - TypeError, ValueError (CheckpointError included),
MemoryError - whose message starts with a parameter name. A crash (segfault, abort) kills the
process and fails the run; any other exception fails the property.

The default test run tries a few examples per property; ``scripts/fuzz.sh`` runs the same
properties for a stated number of CPU-minutes with fresh seeds (``DLN_FUZZ_EXAMPLES``) and keeps
Hypothesis's example database in ``fuzz/hypothesis-db`` (replayed first by every later run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

import dln

ROOT = Path(__file__).resolve().parents[2]
_N = os.environ.get("DLN_FUZZ_EXAMPLES")
# Default run: the profile of conftest.py (derandomised, few examples). Fuzz run: many random examples
# with the kept database.
FUZZ = settings(max_examples=int(_N), derandomize=False, deadline=None,
                database=DirectoryBasedExampleDatabase(str(ROOT / "fuzz" / "hypothesis-db")),
                suppress_health_check=list(HealthCheck)) if _N else settings()

# A parameter name at the start of the message (also "jobs[3]: lr", "weights[1]", "betas[0]").
NAMED = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(\[\d+\])?(: [A-Za-z_][A-Za-z_0-9]*(\[\d+\])?)?(?=[: ])")
DOCUMENTED = (TypeError, ValueError, MemoryError)


def refused_properly(exc: BaseException) -> None:
    assert isinstance(exc, DOCUMENTED), f"undocumented exception {type(exc).__name__}: {exc}"
    assert NAMED.match(str(exc)), f"message does not start with a parameter name: {exc}"


# --- strategies ------------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, bool, np.complex128,
                          object, "U3"])
SPECIALS = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 3.4e38, 1e-45])


@st.composite
def arrays(draw, max_dim=5):
    ndim = draw(st.sampled_from([2, 2, 2, 2, 0, 1, 3]))
    shape = tuple(draw(st.integers(0, max_dim)) for _ in range(ndim))
    values = draw(st.lists(st.one_of(st.floats(-10, 10), SPECIALS), min_size=1, max_size=8))
    n = int(np.prod(shape)) if shape else 1
    a = np.resize(np.array(values, dtype=np.float64), n).reshape(shape)
    dtype = draw(DTYPES)
    with np.errstate(all="ignore"):
        try:
            a = a.astype(dtype)
        except (ValueError, OverflowError):  # e.g. NaN to int: keep the float array
            pass
    layout = draw(st.sampled_from(["c", "f", "strided", "reversed", "list"]))
    if layout == "f":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim == 2:
        a = np.repeat(a, 2, axis=1)[:, ::2]
    elif layout == "reversed" and a.ndim >= 1:
        a = a[::-1]
    elif layout == "list":
        return a.tolist()
    return a


def anything():
    return st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                     st.text(max_size=4), st.sampled_from(["gd", "adam", "momentum", "rmsprop", "mean", "sum"]),
                     st.lists(st.floats(-2, 2), max_size=4), st.just(1j), st.just(np.float32(0.5)))


# --- properties ----------------------------------------------------------------------------------------

@FUZZ
@given(kind=st.sampled_from(["factorization", "completion", "regression"]), a=arrays(), b=arrays(),
       reduction=st.one_of(st.sampled_from(["mean", "sum"]), anything()))
def test_fuzz_problems(kind, a, b, reduction):
    try:
        if kind == "factorization":
            p = dln.Factorization(a, reduction=reduction)
        elif kind == "completion":
            p = dln.Completion(a, b, reduction=reduction)
        else:
            p = dln.Regression(a, b, reduction=reduction)
    except BaseException as exc:  # noqa: BLE001 - the property is about which exceptions
        refused_properly(exc)
        return
    net = dln.Network.orthogonal([p.input_dim, 3, p.output_dim], seed=0)
    loss = p.loss(net)
    assert isinstance(loss, float) and loss >= 0.0
    # Accepted data is finite (NaN/Inf are refused); moderate data must give a finite loss.
    data = [np.asarray(v, dtype=np.float64) for v in p._arrays.values()]
    assert all(np.isfinite(v).all() for v in data)
    if all(np.abs(v).max() < 1e30 for v in data):
        assert np.isfinite(loss)


@FUZZ
@given(ws=st.lists(arrays(max_dim=4), min_size=0, max_size=3), dtype=st.one_of(st.none(), DTYPES))
def test_fuzz_network(ws, dtype):
    try:
        net = dln.Network(ws, dtype=dtype)
    except BaseException as exc:  # noqa: BLE001
        refused_properly(exc)
        return
    assert net.dtype in (np.float64, np.float32)
    assert all(w.flags.c_contiguous and np.isfinite(w).all() for w in net.weights)


@FUZZ
@given(init=st.sampled_from(["orthogonal", "gaussian", "uniform"]),
       widths=st.one_of(st.lists(st.integers(-3, 12), max_size=5), st.lists(st.integers(0, 2**40), max_size=3),
                        anything()),
       scale=st.one_of(st.floats(-1, 3), SPECIALS, anything()), seed=st.one_of(st.integers(-5, 2**65), anything()))
def test_fuzz_init(init, widths, scale, seed):
    try:
        net = getattr(dln.Network, init)(widths, scale=scale, seed=seed)
    except BaseException as exc:  # noqa: BLE001
        refused_properly(exc)
        return
    assert net.widths == [int(w) for w in widths]


def _not_long(strategy):
    """Drop valid integers that would make a legitimately long run."""
    return strategy.filter(lambda v: not (isinstance(v, int) and not isinstance(v, bool) and 30 < v < 2**63))


TRAIN_VALUES = {
    "lr": st.one_of(st.floats(1e-4, 2.0), SPECIALS, anything()),
    # Valid step counts stay small (a valid 10**15 would just train for days); invalid ones are wild.
    "steps": st.one_of(st.integers(0, 30), st.integers(-2**70, -1), st.integers(2**63, 2**70), _not_long(anything())),
    "optimizer": st.one_of(st.sampled_from(["gd", "momentum", "adam", "rmsprop"]), anything()),
    "tol": st.one_of(st.none(), st.floats(0, 1), SPECIALS, anything()),
    "record_every": st.one_of(st.integers(1, 7), st.integers(-2, 2**64), anything()),
    "momentum": st.one_of(st.floats(0, 0.99), SPECIALS, anything()),
    "betas": st.one_of(st.tuples(st.floats(0, 0.999), st.floats(0, 0.9999)), anything()),
    "eps": st.one_of(st.floats(1e-10, 1e-3), SPECIALS, anything()),
    "decay": st.one_of(st.floats(0, 0.99), SPECIALS, anything()),
    "lr_scale": st.one_of(st.none(), st.lists(st.floats(0, 3), min_size=2, max_size=2), anything()),
    "n_threads": st.one_of(st.none(), st.integers(-1, 3), anything()),
}


@st.composite
def train_kwargs(draw):
    keys = draw(st.sets(st.sampled_from(sorted(TRAIN_VALUES))))
    kw = {k: draw(TRAIN_VALUES[k]) for k in keys}
    kw.setdefault("lr", draw(st.floats(1e-3, 0.5)))
    kw.setdefault("steps", draw(st.integers(0, 20)))
    return kw


def _problem(kind, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((4, 3))
    if kind == "factorization":
        return dln.Factorization(t)
    if kind == "completion":
        return dln.Completion(t, rng.random((4, 3)) < 0.5)
    return dln.Regression(rng.standard_normal((3, 6)), rng.standard_normal((4, 6)))


STATUSES = {"converged", "max_steps", "diverged", "interrupted"}


def check_result(r, kw):
    assert r.status in STATUSES
    assert all(np.isfinite(w).all() for w in r.network.weights)  # diverged runs keep finite weights
    if r.status != "diverged":
        assert len(r.loss) == r.steps // r.record_every + 1
        assert np.isfinite(r.final_loss)


@FUZZ
@given(kind=st.sampled_from(["factorization", "completion", "regression"]), kw=train_kwargs(),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_fuzz_train(kind, kw, dtype):
    net = dln.Network.orthogonal([3, 2, 4], scale=0.9, seed=1, dtype=dtype)
    try:
        r = dln.train(net, _problem(kind), progress=False, **kw)
    except BaseException as exc:  # noqa: BLE001
        refused_properly(exc)
        return
    check_result(r, kw)


@FUZZ
@given(jobs=st.lists(st.tuples(st.sampled_from(["factorization", "completion", "regression"]), train_kwargs(),
                               st.sampled_from(["ok", "net-mismatch", "not-a-net", "no-dict"])), max_size=4),
       n_threads=st.one_of(st.none(), st.integers(-1, 3), anything()))
def test_fuzz_train_batch(jobs, n_threads):
    built = []
    for kind, kw, how in jobs:
        net = dln.Network.orthogonal([3, 2, 4], scale=0.9, seed=1)
        if how == "net-mismatch":
            net = dln.Network.orthogonal([4, 2, 4], seed=1)
        kw = {k: v for k, v in kw.items() if k != "n_threads"}
        built.append((net.weights if how == "not-a-net" else net, _problem(kind), kw if how != "no-dict" else [kw]))
    try:
        rs = dln.train_batch(built, n_threads=n_threads, progress=False)
    except BaseException as exc:  # noqa: BLE001
        refused_properly(exc)
        return
    assert len(rs) == len(built)
    for r, (_, _, kw) in zip(rs, built):
        check_result(r, kw)


_GOOD: dict = {}


def _good_checkpoint(tmp: Path) -> bytes:
    if "bytes" not in _GOOD:
        path = tmp / "good.ckpt"
        if path.exists():
            path.unlink()
        dln.train(dln.Network.orthogonal([3, 2, 4], seed=0), _problem("regression"), lr=0.05, steps=5,
                  optimizer="adam", record_every=2, checkpoint=path, checkpoint_every=2)
        _GOOD["bytes"] = path.read_bytes()
        _GOOD["ref"] = dln.load_checkpoint(path)
    return _GOOD["bytes"]


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_fuzz_checkpoint_bytes(tmp_path_factory, edits, cut):
    tmp = tmp_path_factory.getbasetemp()
    data = bytearray(_good_checkpoint(tmp))
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[:int(cut * len(data))]
    path = tmp / "fuzzed.ckpt"
    path.write_bytes(bytes(data))
    try:
        got = dln.load_checkpoint(path)
    except BaseException as exc:  # noqa: BLE001
        assert isinstance(exc, dln.CheckpointError), f"{type(exc).__name__}: {exc}"
        refused_properly(exc)
        return
    ref = _GOOD["ref"]  # accepted: then it must say exactly what was saved (bytes zip ignores)
    assert (got.step, got.status, got.config, got.problem) == (ref.step, ref.status, ref.config, ref.problem)
    for a, b in zip(got.network.weights + got.optimizer_m + got.optimizer_v + [got.loss],
                    ref.network.weights + ref.optimizer_m + ref.optimizer_v + [ref.loss]):
        assert np.array_equal(a, b)
