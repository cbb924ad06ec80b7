"""Bad input at the entry points tests/test_validation.py does not cover: sizes refused before any
allocation (MemoryError giving the GiB needed), checkpoint and resume arguments, damaged or foreign
checkpoint files, train_batch jobs, layer_outputs, and unusual array layouts that must be read right.

As in test_validation.py, the message must *start* with the parameter's name.
"""

import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dln
from dln import _memory
from dln.io import CheckpointError


def named(name):
    return "^" + re.escape(name) + r"(?!\w)"


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return dln.Factorization(rng.standard_normal((4, 3)))


@pytest.fixture
def net():
    return dln.Network.orthogonal([3, 5, 4], scale=0.9, seed=1)


# --- absurd sizes: refused before allocating, with the GiB needed -------------------------------------

HUGE_WIDTHS = [[10**6, 10**6], [1, 10**7, 10**7, 1], [2**31 - 1, 2**10], [3, 4 * 10**5, 4 * 10**5],
               [10**5] * 40, [2**20, 2**20, 2**20]]


@pytest.mark.parametrize("widths", HUGE_WIDTHS, ids=str)
@pytest.mark.parametrize("init", ["orthogonal", "gaussian", "uniform"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_network_refused_before_allocating(widths, init, dtype):
    t0 = time.perf_counter()
    with pytest.raises(MemoryError, match=named("widths") + r".* needs about [0-9.e+]+ GiB"):
        getattr(dln.Network, init)(widths, dtype=dtype)
    # Refused from the estimate, not after touching memory (allocating even 1 GiB takes longer).
    assert time.perf_counter() - t0 < 0.5


BROADCAST = np.broadcast_to(np.float64(1.0), (10**6, 10**6))  # 8 TB of "data" in 8 bytes


@pytest.mark.parametrize("make, name", [
    (lambda: dln.Factorization(BROADCAST), "target"),
    (lambda: dln.Completion(BROADCAST, np.broadcast_to(True, BROADCAST.shape)), "mask"),
    (lambda: dln.Regression(BROADCAST, BROADCAST), "X"),
    (lambda: dln.Regression(BROADCAST[:, :5], BROADCAST[:4, :5], form="covariance"), "X"),
    (lambda: dln.Network([BROADCAST]), "weights[0]"),
    (lambda: dln.Network([np.ones((2, 10**6)), BROADCAST]), "weights[1]"),
    (lambda: dln.Network.gaussian([3, 200000]).layer_outputs(BROADCAST[:3]), "X"),
    (lambda: dln.Network.gaussian([3, 200000], dtype=np.float32).layer_outputs(BROADCAST[:3]), "X"),
], ids=["factorization", "completion", "regression-covariance", "regression-data", "weights0", "weights1",
        "layer_outputs", "layer_outputs-f32"])
def test_huge_views_refused_before_copying(make, name):
    with pytest.raises(MemoryError, match=named(name) + r".* GiB"):
        make()


@pytest.mark.parametrize("d, optimizer", [(64, "gd"), (64, "adam"), (200, "momentum"), (200, "rmsprop")])
def test_train_refuses_more_than_available(monkeypatch, d, optimizer):
    """The estimate (weights, optimiser state, work buffers) is compared with what is available; the
    limit is lowered here so that a small run exceeds it."""
    p = dln.Factorization(np.ones((d, d)))
    net = dln.Network.orthogonal([d, d, d], seed=0)
    monkeypatch.setattr(_memory, "CHECK_ABOVE", 0.0)  # small runs are normally not checked
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1e5)
    with pytest.raises(MemoryError, match=named("net") + r".* needs about [0-9.e+-]+ GiB"):
        dln.train(net, p, lr=0.1, steps=1, optimizer=optimizer)
    with pytest.raises(MemoryError, match=named("jobs[0]: net") + r".* GiB"):
        dln.train_batch([(net, p, dict(lr=0.1, steps=1))] * 2)
    # Each job fits, the batch does not: refused as a whole.
    one = _memory.train_bytes(net.widths, d, 8, optimizer)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1.5 * one)
    with pytest.raises(MemoryError, match=named("jobs") + r": a batch of 4 runs needs about"):
        dln.train_batch([(net, p, dict(lr=0.1, steps=1, optimizer=optimizer))] * 4, n_threads=4)
    # Only the limit mattered: with the real one the same run goes.
    monkeypatch.undo()
    assert dln.train(net, p, lr=0.1, steps=1, optimizer=optimizer).steps == 1


# --- checkpoint / resume arguments --------------------------------------------------------------------

BAD_CHECKPOINT_ARGS = [
    ("checkpoint", dict(checkpoint=123), TypeError),
    ("checkpoint", dict(checkpoint=b"run.ckpt"), TypeError),
    ("checkpoint", dict(checkpoint=["run.ckpt"]), TypeError),
    ("checkpoint", dict(checkpoint=""), ValueError),
    ("checkpoint", dict(checkpoint="/nonexistent-folder-dln/run.ckpt"), FileNotFoundError),
    ("checkpoint_every", dict(checkpoint="X", checkpoint_every=0), ValueError),
    ("checkpoint_every", dict(checkpoint="X", checkpoint_every=-5), ValueError),
    ("checkpoint_every", dict(checkpoint="X", checkpoint_every=2.5), TypeError),
    ("checkpoint_every", dict(checkpoint="X", checkpoint_every=10.0), TypeError),
    ("checkpoint_every", dict(checkpoint="X", checkpoint_every="10"), TypeError),
    ("checkpoint_every", dict(checkpoint="X", checkpoint_every=True), TypeError),
    ("checkpoint_every", dict(checkpoint="X", checkpoint_every=None), TypeError),
    # Bad training arguments are still named first, before any file is touched.
    ("lr", dict(checkpoint="X", lr=-1.0), ValueError),
    ("steps", dict(checkpoint="X", steps=-1), ValueError),
    ("optimizer", dict(checkpoint="X", optimizer="sgd"), ValueError),
]


@pytest.mark.parametrize("name, kwargs, exc", BAD_CHECKPOINT_ARGS,
                         ids=[f"{n}={list(k.values())[-1]!r}" for n, k, _ in BAD_CHECKPOINT_ARGS])
def test_bad_checkpoint_arguments(tmp_path, problem, net, name, kwargs, exc):
    args = dict(lr=0.1, steps=3)
    args.update(kwargs)
    if args.get("checkpoint") == "X":
        args["checkpoint"] = tmp_path / "run.ckpt"
    with pytest.raises(exc, match=named(name)):
        dln.train(net, problem, **args)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.fixture
def saved(tmp_path, problem, net):
    path = tmp_path / "run.ckpt"
    dln.train(net, problem, lr=0.01, steps=6, optimizer="adam", checkpoint=path, checkpoint_every=2)
    return path


BAD_RESUME_ARGS = [
    ("path", dict(path=42), TypeError),
    ("path", dict(path=b"x"), TypeError),
    ("path", dict(path=None), TypeError),
    ("path", dict(path=""), ValueError),
    ("steps", dict(steps=-1), ValueError),
    ("steps", dict(steps=5), ValueError),
    ("steps", dict(steps=7.0), TypeError),
    ("steps", dict(steps="8"), TypeError),
    ("n_threads", dict(steps=8, n_threads=0), ValueError),
    ("n_threads", dict(steps=8, n_threads=1.5), TypeError),
    ("problem", dict(problem="target"), TypeError),
    ("problem", dict(problem=None), TypeError),
    ("problem", dict(problem=dln.Factorization(np.ones((4, 3)))), ValueError),
    ("problem", dict(problem=dln.Factorization(np.ones((3, 4)))), ValueError),
    ("problem", dict(problem=dln.Regression(np.ones((3, 2)), np.ones((4, 2)))), ValueError),
    ("progress", dict(steps=8, progress="yes"), TypeError),
]


@pytest.mark.parametrize("name, kwargs, exc", BAD_RESUME_ARGS,
                         ids=[f"{n}={list(k.values())[-1]!r}" for n, k, _ in BAD_RESUME_ARGS])
def test_bad_resume_arguments(saved, problem, name, kwargs, exc):
    before = saved.read_bytes()
    args = dict(path=saved, problem=problem)
    args.update(kwargs)
    with pytest.raises(exc, match=named(name)):
        dln.resume(args.pop("path"), args.pop("problem"), **args)
    assert saved.read_bytes() == before  # a refused resume leaves the run as it was


def _rewrite(path, edit_meta=None, edit_arrays=None, drop=(), extra=None):
    """A copy of the checkpoint with its header or arrays changed (valid zip, valid CRCs)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members.pop("meta.json"))
    if edit_meta:
        edit_meta(meta)
    import io as _io
    arrays = {n[:-4]: np.lib.format.read_array(_io.BytesIO(b)) for n, b in members.items()}
    if edit_arrays:
        edit_arrays(arrays)
    out = path.with_name("edited.ckpt")
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("meta.json", json.dumps(meta))
        for n, a in arrays.items():
            if n in drop:
                continue
            buf = _io.BytesIO()
            np.lib.format.write_array(buf, a, allow_pickle=True)
            zf.writestr(n + ".npy", buf.getvalue())
        for n, b in (extra or {}).items():
            zf.writestr(n, b)
    return out


def _set(key, value):
    def edit(meta):
        meta[key] = value
    return edit


def _set_array(name, fn):
    def edit(arrays):
        arrays[name] = fn(arrays[name])
    return edit


TAMPERED = {
    "format": dict(edit_meta=_set("format", "something-else")),
    "version": dict(edit_meta=_set("version", 99)),
    "status": dict(edit_meta=_set("status", "great")),
    "step>steps": dict(edit_meta=_set("step", 10**6)),
    "step<0": dict(edit_meta=_set("step", -1)),
    "depth": dict(edit_meta=_set("depth", 3)),
    "no-config": dict(edit_meta=lambda m: m.pop("config")),
    "config-list": dict(edit_meta=_set("config", [1])),
    "seconds-str": dict(edit_meta=_set("seconds", "soon")),
    "threads-list": dict(edit_meta=_set("n_threads_used", [2])),
    "problem-str": dict(edit_meta=_set("problem", "x")),
    "no-arrays-list": dict(edit_meta=lambda m: m.pop("arrays")),
    "arrays-not-dict": dict(edit_meta=_set("arrays", [1, 2])),
    "record_every": dict(edit_meta=lambda m: m["config"].__setitem__("record_every", 0)),
    "history-length": dict(edit_meta=lambda m: m["config"].__setitem__("record_every", 2)),
    "meta-shape-lies": dict(edit_meta=lambda m: m["arrays"]["weights_0"].__setitem__("shape", [5, 4])),
    "meta-dtype-lies": dict(edit_meta=lambda m: m["arrays"]["loss"].__setitem__("dtype", "<f4")),
    "object-dtype": dict(edit_meta=lambda m: m["arrays"]["loss"].__setitem__("dtype", "|O")),
    "missing-member": dict(drop=("optimizer_v_0",)),
    "extra-member": dict(extra={"evil.pkl": b"cos\nsystem\n(S'echo hi'\ntR."}),
    "weights-nan": dict(edit_arrays=_set_array("weights_0", lambda a: np.full_like(a, np.nan))),
    "weights-shape": dict(edit_arrays=_set_array("weights_1", lambda a: a[:, :2].copy())),
    "weights-dtype": dict(edit_arrays=_set_array("weights_0", lambda a: a.astype(np.float32))),
    "weights-int": dict(edit_arrays=_set_array("weights_0", lambda a: a.astype(np.int64))),
    "weights-pickled": dict(edit_arrays=_set_array("weights_0", lambda a: a.astype(object))),
    "weights-3d": dict(edit_arrays=_set_array("weights_0", lambda a: a[None])),
    "moment-shape": dict(edit_arrays=_set_array("optimizer_m_1", lambda a: a.T.copy())),
    "loss-2d": dict(edit_arrays=_set_array("loss", lambda a: a[None])),
    "loss-short": dict(edit_arrays=_set_array("loss", lambda a: a[:-1])),
    "scalars": dict(edit_arrays=_set_array("scalars", lambda a: a[:1])),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_inconsistent_checkpoint_refused(saved, case):
    bad = _rewrite(saved, **TAMPERED[case])
    with pytest.raises(CheckpointError, match=named("checkpoint")):
        dln.load_checkpoint(bad)


def test_resume_refuses_a_state_the_core_rejects(saved, problem):
    """Optimiser step count that does not match the run: caught by the core's TrainState check."""
    bad = _rewrite(saved, edit_meta=lambda m: (m.__setitem__("optimizer_t", 2), m.__setitem__("status", "running")))
    with pytest.raises(CheckpointError, match=named("checkpoint") + ".*state"):
        dln.resume(bad, problem, steps=10)


FOREIGN = {
    "empty": b"",
    "text": b"hello, world\n",
    "json": json.dumps({"format": "dln-checkpoint"}).encode(),
    "random": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    "zip-header-only": b"PK\x03\x04" + bytes(26),
    "eocd-only": b"PK\x05\x06" + bytes(18),
    "pickle": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_foreign_files_refused(tmp_path, case):
    path = tmp_path / "f.ckpt"
    path.write_bytes(FOREIGN[case])
    with pytest.raises(CheckpointError, match=named("checkpoint")):
        dln.load_checkpoint(path)


REGRESSIONS = sorted((Path(__file__).resolve().parents[1] / "fuzz" / "regressions").glob("*.ckpt"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_files_found_by_fuzzing_are_refused(path):
    """Inputs on which the fuzzers once found an undocumented exception (fuzz/regressions)."""
    with pytest.raises(CheckpointError, match=named("checkpoint")):
        dln.load_checkpoint(path)


@pytest.mark.parametrize("maker", ["savez", "savez-pickle", "folder"])
def test_other_npz_refused(tmp_path, maker):
    path = tmp_path / "f.ckpt"
    if maker == "savez":
        with open(path, "wb") as f:
            np.savez(f, weights_0=np.ones((2, 2)))
    elif maker == "savez-pickle":
        with open(path, "wb") as f:
            np.savez(f, weights_0=np.array([{"a": 1}], dtype=object))
    else:
        path.mkdir()
    with pytest.raises(CheckpointError, match=named("checkpoint")):
        dln.load_checkpoint(path)


# --- train_batch ------------------------------------------------------------------------------------

BAD_JOBS = [
    ("jobs", lambda n, p: None, TypeError),
    ("jobs", lambda n, p: "abc", TypeError),
    ("jobs", lambda n, p: 5, TypeError),
    ("jobs[0]", lambda n, p: [None], TypeError),
    ("jobs[0]", lambda n, p: [(n, p)], TypeError),
    ("jobs[0]", lambda n, p: [(n, p, dict(lr=0.1, steps=1), 4)], TypeError),
    ("jobs[0]", lambda n, p: [(n, p, [("lr", 0.1)])], TypeError),
    ("jobs[0]: lr", lambda n, p: [(n, p, dict(steps=1))], TypeError),
    ("jobs[0]: steps", lambda n, p: [(n, p, dict(lr=0.1))], TypeError),
    ("jobs[1]: lr", lambda n, p: [(n, p, dict(lr=0.1, steps=1)), (n, p, dict(lr=np.nan, steps=1))], ValueError),
    ("jobs[1]: net", lambda n, p: [(n, p, dict(lr=0.1, steps=1)), (n.weights, p, dict(lr=0.1, steps=1))], TypeError),
    ("jobs[0]: problem", lambda n, p: [(n, None, dict(lr=0.1, steps=1))], TypeError),
    ("jobs[0]: n_threads", lambda n, p: [(n, p, dict(lr=0.1, steps=1, n_threads=2))], TypeError),
    ("jobs[0]: checkpoint", lambda n, p: [(n, p, dict(lr=0.1, steps=1, checkpoint="x"))], TypeError),
    ("jobs[0]: net", lambda n, p: [(dln.Network.orthogonal([4, 4]), p, dict(lr=0.1, steps=1))], ValueError),
    ("jobs[2]: betas", lambda n, p: [(n, p, dict(lr=0.1, steps=1))] * 2 + [(n, p, dict(lr=0.1, steps=1, betas=1))],
     ValueError),
]


@pytest.mark.parametrize("name, jobs, exc", BAD_JOBS, ids=[f"{i}-{b[0]}" for i, b in enumerate(BAD_JOBS)])
def test_bad_batch_jobs(net, problem, name, jobs, exc):
    with pytest.raises(exc, match=named(name)):
        dln.train_batch(jobs(net, problem))


@pytest.mark.parametrize("n_threads, exc", [(0, ValueError), (-1, ValueError), (1.0, TypeError), ("2", TypeError),
                                            (2**40, ValueError)])
def test_bad_batch_threads(net, problem, n_threads, exc):
    with pytest.raises(exc, match=named("n_threads")):
        dln.train_batch([(net, problem, dict(lr=0.1, steps=1))], n_threads=n_threads)


# --- layer_outputs, loss, gradients -------------------------------------------------------------------

BAD_X = [
    (np.ones((4, 2)), ValueError),        # wrong number of rows
    (np.ones(3), ValueError),             # 1-D
    (np.ones((3, 2, 1)), ValueError),     # 3-D
    (np.ones((3, 0)), ValueError),        # empty
    (np.ones((3, 2), dtype=int), TypeError),
    (np.ones((3, 2), dtype=complex), TypeError),
    (np.ones((3, 2), dtype=bool), TypeError),
    (np.array([[1.0, np.nan]] * 3), ValueError),
    (np.array([[1.0, np.inf]] * 3), ValueError),
    ("abc", TypeError),
    (None, TypeError),
]


@pytest.mark.parametrize("X, exc", BAD_X, ids=[str(i) for i in range(len(BAD_X))])
def test_bad_layer_outputs_input(net, X, exc):
    with pytest.raises(exc, match=named("X")):
        net.layer_outputs(X)


# --- layouts that must be read, not misread ------------------------------------------------------------

WEIGHT_LAYOUTS = {
    "fortran": np.asfortranarray,
    "negative-strides": lambda a: a[::-1, ::-1].copy()[::-1, ::-1],
    "column-view": lambda a: np.repeat(a, 2, axis=1)[:, ::2],
    "transposed-view": lambda a: np.ascontiguousarray(a.T).T,
    "readonly": lambda a: _readonly(a),
    "nested-lists": lambda a: a.tolist(),
}


def _readonly(a):
    b = a.copy()
    b.flags.writeable = False
    return b


@pytest.mark.parametrize("layout", sorted(WEIGHT_LAYOUTS))
def test_weight_layouts_are_read_correctly(problem, layout):
    base = dln.Network.gaussian([3, 5, 4], seed=7)
    ws = [WEIGHT_LAYOUTS[layout](w) for w in base.weights]
    net = dln.Network(ws)
    for got, want in zip(net.weights, base.weights):
        assert got.flags.c_contiguous and np.array_equal(got, want)
    a = dln.train(base, problem, lr=0.1, steps=5)
    b = dln.train(net, problem, lr=0.1, steps=5)
    assert np.array_equal(a.loss, b.loss)


def test_broadcast_data_within_memory_is_copied_and_read_correctly():
    """A 0-stride view that fits in memory is materialised, not misread through its strides."""
    view = np.broadcast_to(np.arange(3.0)[None, :], (4, 3))
    p, q = dln.Factorization(view), dln.Factorization(np.ascontiguousarray(view))
    net = dln.Network.orthogonal([3, 4], seed=0)
    assert p.loss(net) == q.loss(net)
