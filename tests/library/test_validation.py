"""Input validation at the Python boundary, and the conversions that are documented instead.

Every error names the parameter: messages start with it (``dln._checks``: "Every message starts with
the name of the offending parameter"), so each check anchors ``match`` at the start of the message.
An error that merely mentions the name somewhere (e.g. pybind11's "incompatible function arguments"
listing the whole signature) does not count.

Accepted on purpose (DESIGN.md "Fixed decisions"): any floating dtype (converted to the network's),
Fortran order and strided views (copied to C order, same results), and C-contiguous data of the
right dtype, which is used without a copy.

The second part (sizes refused before any allocation, checkpoint and resume arguments, damaged or
foreign checkpoint files, train_batch jobs, layer_outputs, unusual array layouts that must be read
right) was tests/test_bad_inputs.py.
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

D_IN, D_OUT, N = 3, 4, 5


def named(name):
    """``match`` pattern: the message starts with ``name``."""
    return "^" + re.escape(name) + r"(?!\w)"


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return dict(
        target=rng.standard_normal((D_OUT, D_IN)),
        # entry (0, 0) observed: the zero-copy check below perturbs it
        mask=np.where(np.arange(D_OUT * D_IN).reshape(D_OUT, D_IN) == 0, 1.0,
                      (rng.random((D_OUT, D_IN)) < 0.6).astype(np.float64)),
        X=rng.standard_normal((D_IN, N)),
        Y=rng.standard_normal((D_OUT, N)),
    )


@pytest.fixture
def net():
    return dln.Network.orthogonal([D_IN, 6, D_OUT], scale=0.9, seed=1)


def make(kind, target=None, mask=None, X=None, Y=None, **kw):
    if kind == "factorization":
        return dln.Factorization(target, **kw)
    if kind == "completion":
        return dln.Completion(target, mask, **kw)
    return dln.Regression(X, Y, **kw)


# Which arrays each problem takes, and which of them is "data" (floating, NaN-checked).
FIELDS = {"factorization": ("target",), "completion": ("target",), "regression": ("X", "Y")}
CASES = [(kind, f) for kind, fs in FIELDS.items() for f in fs]


def with_field(kind, data, field, value):
    args = {k: data[k] for k in ("target", "mask", "X", "Y")}
    args[field] = value
    return lambda **kw: make(kind, **args, **kw)


# --- problem data ----------------------------------------------------------------------------------

BAD_DTYPES = {
    "int": lambda a: a.astype(np.int64),
    "int32": lambda a: a.astype(np.int32),
    "uint8": lambda a: np.abs(a).astype(np.uint8),
    "bool": lambda a: a > 0,
    "complex": lambda a: a.astype(np.complex128),
    "object": lambda a: a.astype(object),
    "str": lambda a: a.astype(str),
    "int list": lambda a: a.astype(np.int64).tolist(),
}


@pytest.mark.parametrize("kind, field", CASES)
@pytest.mark.parametrize("bad", sorted(BAD_DTYPES))
def test_data_dtype(data, kind, field, bad):
    build = with_field(kind, data, field, BAD_DTYPES[bad](data[field]))
    with pytest.raises(TypeError, match=named(field)):
        build()


@pytest.mark.parametrize("kind, field", CASES)
@pytest.mark.parametrize("reshape", [
    lambda a: a.ravel(), lambda a: a[None], lambda a: a[..., None], lambda a: np.float64(a[0, 0]),
    lambda a: float(a[0, 0]),
], ids=["1d", "3d-front", "3d-back", "0d", "scalar"])
def test_data_not_2d(data, kind, field, reshape):
    with pytest.raises(ValueError, match=named(field)):
        with_field(kind, data, field, reshape(data[field]))()


@pytest.mark.parametrize("kind, field", CASES)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_data_empty(data, kind, field, shape):
    with pytest.raises(ValueError, match=named(field)):
        with_field(kind, data, field, np.zeros(shape))()


@pytest.mark.parametrize("kind, field", CASES)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_data_not_finite(data, kind, field, value, dtype):
    a = data[field].astype(dtype)
    a[1, 2] = value
    with pytest.raises(ValueError, match=named(field)):
        with_field(kind, data, field, a)()


def test_regression_sample_count(data):
    with pytest.raises(ValueError, match=named("Y")):
        dln.Regression(data["X"], np.ones((D_OUT, N + 1)))


@pytest.mark.parametrize("mask, exc", [
    (np.ones((D_IN, D_OUT), bool), ValueError),       # transposed
    (np.ones((D_OUT, D_IN + 1), bool), ValueError),
    (np.ones(D_OUT * D_IN, bool), ValueError),         # flat
    (np.ones((1, D_OUT, D_IN), bool), ValueError),
    (np.full((D_OUT, D_IN), 2.0), ValueError),
    (np.full((D_OUT, D_IN), 0.5), ValueError),
    (np.full((D_OUT, D_IN), -1), ValueError),
    (np.full((D_OUT, D_IN), np.nan), ValueError),
    (np.full((D_OUT, D_IN), np.inf), ValueError),
    (np.ones((D_OUT, D_IN), complex), TypeError),
    (np.ones((D_OUT, D_IN), object), TypeError),
    (np.full((D_OUT, D_IN), "1"), TypeError),
], ids=["transposed", "wide", "flat", "3d", "two", "half", "minus-one", "nan", "inf", "complex", "object", "str"])
def test_bad_mask(data, mask, exc):
    with pytest.raises(exc, match=named("mask")):
        dln.Completion(data["target"], mask)


def test_one_bad_mask_entry(data):
    m = np.ones((D_OUT, D_IN))
    m[2, 1] = 1.0 + 2**-52
    with pytest.raises(ValueError, match=named("mask")):
        dln.Completion(data["target"], m)


@pytest.mark.parametrize("mask", [
    lambda m: m != 0, lambda m: m.astype(np.int8), lambda m: m.astype(np.uint64), lambda m: m.astype(np.float32),
    lambda m: m,
], ids=["bool", "int8", "uint64", "float32", "float64"])
def test_mask_dtypes_accepted(data, net, mask):
    expected = dln.Completion(data["target"], data["mask"] != 0).loss(net)
    problem = dln.Completion(data["target"], mask(data["mask"]))
    assert problem.loss(net) == expected
    assert np.array_equal(problem.mask, data["mask"] != 0)


@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize("reduction", ["avg", "Mean", "", None, 1])
def test_bad_reduction(data, kind, reduction):
    with pytest.raises(ValueError, match=named("reduction")):
        make(kind, **data, reduction=reduction)


@pytest.mark.parametrize("form", ["qr", "Data", None])
def test_bad_form(data, form):
    with pytest.raises(ValueError, match=named("form")):
        dln.Regression(data["X"], data["Y"], form=form)


# --- network weights -------------------------------------------------------------------------------

def _weights():
    rng = np.random.default_rng(5)
    return [rng.standard_normal((6, D_IN)), rng.standard_normal((D_OUT, 6))]


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("bad", sorted(BAD_DTYPES))
def test_weights_dtype(layer, bad):
    ws = _weights()
    ws[layer] = BAD_DTYPES[bad](ws[layer])
    with pytest.raises(TypeError, match=named(f"weights[{layer}]")):
        dln.Network(ws)


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_not_finite(layer, value, dtype):
    ws = [w.astype(dtype) for w in _weights()]
    ws[layer][0, 1] = value
    with pytest.raises(ValueError, match=named(f"weights[{layer}]")):
        dln.Network(ws)


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("reshape", [lambda w: w.ravel(), lambda w: w[None], lambda w: w[:0], lambda w: w[:, :0]],
                         ids=["1d", "3d", "no-rows", "no-cols"])
def test_weights_shape(layer, reshape):
    ws = _weights()
    ws[layer] = reshape(ws[layer])
    with pytest.raises(ValueError, match=named(f"weights[{layer}]")):
        dln.Network(ws)


@pytest.mark.parametrize("ws", [
    lambda w: [w[0], w[1].T],                 # (6, 3) then (6, 4)
    lambda w: [w[0], w[1][:, :5]],            # one column short
    lambda w: [w[0], w[0], w[1]],
], ids=["transposed", "short", "repeated"])
def test_weights_do_not_chain(ws):
    with pytest.raises(ValueError, match=named("weights[1]")):
        dln.Network(ws(_weights()))


@pytest.mark.parametrize("weights, exc", [
    ([], ValueError), ((), ValueError), (np.ones((2, 2)), TypeError), (None, TypeError), (3.0, TypeError),
    ("ab", TypeError),
])
def test_weights_container(weights, exc):
    with pytest.raises(exc, match=named("weights")):
        dln.Network(weights)


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex64, "nope"])
def test_network_dtype(dtype):
    with pytest.raises(TypeError, match=named("dtype")):
        dln.Network(_weights(), dtype=dtype)


# --- train arguments -------------------------------------------------------------------------------

BAD_TRAIN = [
    # (name in the message, keyword arguments, exception)
    ("lr", dict(lr=0.0), ValueError),
    ("lr", dict(lr=-1.0), ValueError),
    ("lr", dict(lr=np.nan), ValueError),
    ("lr", dict(lr=np.inf), ValueError),
    ("lr", dict(lr=-np.inf), ValueError),
    ("lr", dict(lr="0.1"), TypeError),
    ("lr", dict(lr=None), TypeError),
    ("lr", dict(lr=True), TypeError),
    ("lr", dict(lr=0.1j), TypeError),
    ("steps", dict(steps=-1), ValueError),
    ("steps", dict(steps=1.5), TypeError),
    ("steps", dict(steps=2.0), TypeError),
    ("steps", dict(steps="3"), TypeError),
    ("steps", dict(steps=None), TypeError),
    ("steps", dict(steps=True), TypeError),
    ("steps", dict(steps=2**70), (ValueError, TypeError, OverflowError)),
    ("record_every", dict(record_every=0), ValueError),
    ("record_every", dict(record_every=-2), ValueError),
    ("record_every", dict(record_every=1.0), TypeError),
    ("record_every", dict(record_every=None), TypeError),
    ("record_every", dict(record_every=2**70), (ValueError, TypeError, OverflowError)),
    ("tol", dict(tol=-1e-12), ValueError),
    ("tol", dict(tol=np.nan), ValueError),
    ("tol", dict(tol=np.inf), ValueError),
    ("tol", dict(tol="0"), TypeError),
    ("n_threads", dict(n_threads=0), ValueError),
    ("n_threads", dict(n_threads=-1), ValueError),
    ("n_threads", dict(n_threads=1.5), TypeError),
    ("n_threads", dict(n_threads="2"), TypeError),
    ("n_threads", dict(n_threads=True), TypeError),
    ("n_threads", dict(n_threads=2**40), (ValueError, TypeError, OverflowError)),
    ("momentum", dict(optimizer="momentum", momentum=-0.1), ValueError),
    ("momentum", dict(optimizer="momentum", momentum=1.0), ValueError),
    ("momentum", dict(optimizer="momentum", momentum=np.nan), ValueError),
    ("momentum", dict(momentum="0.9"), TypeError),
    ("betas", dict(optimizer="adam", betas=(0.9,)), ValueError),
    ("betas", dict(optimizer="adam", betas=(0.9, 0.99, 0.999)), ValueError),
    ("betas", dict(optimizer="adam", betas=0.9), ValueError),
    ("betas", dict(optimizer="adam", betas=None), ValueError),
    ("betas[0]", dict(optimizer="adam", betas=(-0.1, 0.999)), ValueError),
    ("betas[0]", dict(optimizer="adam", betas=(1.0, 0.999)), ValueError),
    ("betas[0]", dict(optimizer="adam", betas=(np.nan, 0.999)), ValueError),
    ("betas[1]", dict(optimizer="adam", betas=(0.9, 1.0)), ValueError),
    ("betas[1]", dict(optimizer="adam", betas=(0.9, -1e-3)), ValueError),
    ("betas[1]", dict(optimizer="adam", betas=(0.9, "0.9")), TypeError),
    ("eps", dict(optimizer="adam", eps=0.0), ValueError),
    ("eps", dict(optimizer="adam", eps=-1e-8), ValueError),
    ("eps", dict(optimizer="rmsprop", eps=np.nan), ValueError),
    ("eps", dict(optimizer="rmsprop", eps=np.inf), ValueError),
    ("eps", dict(eps=None), TypeError),
    ("decay", dict(optimizer="rmsprop", decay=-0.1), ValueError),
    ("decay", dict(optimizer="rmsprop", decay=1.0), ValueError),
    ("decay", dict(optimizer="rmsprop", decay=np.nan), ValueError),
    ("decay", dict(decay="x"), TypeError),
    ("lr_scale", dict(lr_scale=[1.0]), ValueError),
    ("lr_scale", dict(lr_scale=[1.0, 1.0, 1.0]), ValueError),
    ("lr_scale", dict(lr_scale=[]), ValueError),
    ("lr_scale", dict(lr_scale=[1.0, -1.0]), ValueError),
    ("lr_scale", dict(lr_scale=[np.nan, 1.0]), ValueError),
    ("lr_scale", dict(lr_scale=[1.0, np.inf]), ValueError),
    ("lr_scale", dict(lr_scale=1.0), TypeError),
    ("lr_scale", dict(lr_scale="ab"), TypeError),
    ("lr_scale[1]", dict(lr_scale=[1.0, "a"]), TypeError),
    ("lr_scale[0]", dict(lr_scale=[None, 1.0]), TypeError),
    ("optimizer", dict(optimizer="sgd"), ValueError),
    ("optimizer", dict(optimizer="GD"), ValueError),
    ("optimizer", dict(optimizer=None), ValueError),
]


@pytest.mark.parametrize("name, kwargs, exc", BAD_TRAIN,
                         ids=[f"{n}={list(k.values())[-1]!r}" for n, k, _ in BAD_TRAIN])
def test_bad_train_arguments(data, net, name, kwargs, exc):
    args = dict(lr=0.1, steps=3)
    args.update(kwargs)
    with pytest.raises(exc, match=named(name)):
        dln.train(net, dln.Factorization(data["target"]), **args)


@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize("widths", [[D_IN + 1, 6, D_OUT], [D_IN, 6, D_OUT - 1], [D_OUT, 6, D_IN], [1, 1]])
def test_network_does_not_match_problem(data, kind, widths):
    problem = make(kind, **data)
    bad = dln.Network.orthogonal(widths, seed=0)
    with pytest.raises(ValueError, match=named("net")):
        dln.train(bad, problem, lr=0.1, steps=1)
    with pytest.raises(ValueError, match=named("net")):
        problem.loss(bad)
    with pytest.raises(ValueError, match=named("net")):
        problem.gradients(bad)


def test_train_argument_types(data, net):
    problem = dln.Factorization(data["target"])
    with pytest.raises(TypeError, match=named("net")):
        dln.train(net.weights, problem, lr=0.1, steps=1)
    with pytest.raises(TypeError, match=named("problem")):
        dln.train(net, data["target"], lr=0.1, steps=1)
    with pytest.raises(TypeError, match=named("net")):
        problem.loss(net.weights)


# --- accepted inputs: layout, dtype conversion, zero copy ------------------------------------------

LAYOUTS = {
    "fortran": lambda a: np.asfortranarray(a),
    "strided": lambda a: np.repeat(np.repeat(a, 2, axis=0), 3, axis=1)[::2, ::3],
    "reversed": lambda a: a[::-1, ::-1].copy()[::-1, ::-1],
    "padded-view": lambda a: np.pad(a, 1)[1:-1, 1:-1],
}


def _assert_same_run(a, b):
    assert a.status == b.status and a.steps == b.steps
    assert np.array_equal(a.loss, b.loss)
    for wa, wb in zip(a.network.weights, b.network.weights):
        assert wa.dtype == wb.dtype and np.array_equal(wa, wb)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_give_the_same_results(data, kind, layout, dtype):
    """Non-C-contiguous data and weights: accepted, and bitwise the same run as C-ordered copies."""
    lay = LAYOUTS[layout]
    arrays = {k: v.astype(dtype) for k, v in data.items()}
    laid = {k: lay(v) for k, v in arrays.items()}
    assert not any(v.flags.c_contiguous for v in laid.values())
    ws = [w.astype(dtype) for w in _weights()]
    net_c = dln.Network(ws)
    net_l = dln.Network([lay(w) for w in ws])
    assert net_l.dtype == dtype
    run_c = dln.train(net_c, make(kind, **arrays), lr=0.05, steps=4, n_threads=1)
    run_l = dln.train(net_l, make(kind, **laid), lr=0.05, steps=4, n_threads=1)
    _assert_same_run(run_c, run_l)


@pytest.mark.parametrize("kind", sorted(FIELDS))
def test_float32_data_with_float64_net(data, net, kind):
    """float32 data is converted (exactly) for a float64 net: same run as float64 data of those values."""
    f32 = {k: v.astype(np.float32) for k, v in data.items()}
    up = {k: v.astype(np.float64) for k, v in f32.items()}
    run32 = dln.train(net, make(kind, **f32), lr=0.05, steps=4, n_threads=1)
    run64 = dln.train(net, make(kind, **up), lr=0.05, steps=4, n_threads=1)
    assert run32.network.dtype == np.float64
    _assert_same_run(run32, run64)
    # The caller's float32 arrays are not touched by the conversion.
    for k, v in f32.items():
        assert v.dtype == np.float32 and np.array_equal(v, data[k].astype(np.float32))


@pytest.mark.parametrize("kind", sorted(FIELDS))
def test_float64_data_with_float32_net(data, net, kind):
    """...and float64 data is rounded for a float32 net (the problem caches one copy per dtype)."""
    net32 = net.astype(np.float32)
    down = {k: v.astype(np.float32) for k, v in data.items()}
    problem = make(kind, **data)
    run_a = dln.train(net32, problem, lr=0.05, steps=4, n_threads=1)
    run_b = dln.train(net32, make(kind, **down), lr=0.05, steps=4, n_threads=1)
    assert run_a.network.dtype == np.float32
    _assert_same_run(run_a, run_b)
    # The same problem still serves float64 nets with the original (unrounded) data.
    assert problem.loss(net) == make(kind, **data).loss(net)
    assert problem.loss(net) != make(kind, **{k: v.astype(np.float64) for k, v in down.items()}).loss(net)


def test_float32_weights_converted_to_float64():
    ws32 = [w.astype(np.float32) for w in _weights()]
    net = dln.Network(ws32, dtype=np.float64)
    assert net.dtype == np.float64
    for a, b in zip(net.weights, ws32):
        assert a.dtype == np.float64 and np.array_equal(a, b.astype(np.float64))
    # Default dtype: float32 only when every layer is float32.
    assert dln.Network(ws32).dtype == np.float32
    assert dln.Network([ws32[0], ws32[1].astype(np.float64)]).dtype == np.float64


def test_nested_lists_accepted(data, net):
    problem = dln.Factorization(data["target"].tolist())
    assert problem.loss(net) == dln.Factorization(data["target"]).loss(net)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_c_contiguous_data_is_not_copied(data, dtype):
    arrays = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in data.items()}
    fac = dln.Factorization(arrays["target"])
    com = dln.Completion(arrays["target"], arrays["mask"])
    reg = dln.Regression(arrays["X"], arrays["Y"], form="data")
    assert np.shares_memory(fac.target, arrays["target"])
    assert np.shares_memory(com.target, arrays["target"])
    assert np.shares_memory(com._arrays["mask"], arrays["mask"])
    assert np.shares_memory(reg.X, arrays["X"]) and np.shares_memory(reg.Y, arrays["Y"])
    # The engine itself views the caller's buffer: a change to it shows in the next loss. (A copy
    # anywhere on the way, Python or C++, would keep the old loss.)
    net = dln.Network.orthogonal([D_IN, 6, D_OUT], seed=1, dtype=dtype)
    for problem, field in ((fac, "target"), (com, "target"), (reg, "X"), (reg, "Y")):
        before = problem.loss(net)
        arrays[field][0, 0] += 1.0
        after = problem.loss(net)
        arrays[field][0, 0] -= 1.0
        assert after != before, f"{type(problem).__name__}.{field}: engine works on a copy"


# === beyond the boundary: sizes, checkpoints, batches, layouts (was test_bad_inputs.py) ===

@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return dln.Factorization(rng.standard_normal((4, 3)))


@pytest.fixture
def small_net():
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
    small_net = dln.Network.orthogonal([d, d, d], seed=0)
    monkeypatch.setattr(_memory, "CHECK_ABOVE", 0.0)  # small runs are normally not checked
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1e5)
    with pytest.raises(MemoryError, match=named("net") + r".* needs about [0-9.e+-]+ GiB"):
        dln.train(small_net, p, lr=0.1, steps=1, optimizer=optimizer)
    with pytest.raises(MemoryError, match=named("jobs[0]: net") + r".* GiB"):
        dln.train_batch([(small_net, p, dict(lr=0.1, steps=1))] * 2)
    # Each job fits, the batch does not: refused as a whole.
    one = _memory.train_bytes(small_net.widths, d, 8, optimizer)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 1.5 * one)
    with pytest.raises(MemoryError, match=named("jobs") + r": a batch of 4 runs needs about"):
        dln.train_batch([(small_net, p, dict(lr=0.1, steps=1, optimizer=optimizer))] * 4, n_threads=4)
    # Only the limit mattered: with the real one the same run goes.
    monkeypatch.undo()
    assert dln.train(small_net, p, lr=0.1, steps=1, optimizer=optimizer).steps == 1


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
def test_bad_checkpoint_arguments(tmp_path, problem, small_net, name, kwargs, exc):
    args = dict(lr=0.1, steps=3)
    args.update(kwargs)
    if args.get("checkpoint") == "X":
        args["checkpoint"] = tmp_path / "run.ckpt"
    with pytest.raises(exc, match=named(name)):
        dln.train(small_net, problem, **args)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.fixture
def saved(tmp_path, problem, small_net):
    path = tmp_path / "run.ckpt"
    dln.train(small_net, problem, lr=0.01, steps=6, optimizer="adam", checkpoint=path, checkpoint_every=2)
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


REGRESSIONS = sorted((Path(__file__).resolve().parents[2] / "fuzz" / "regressions").glob("*.ckpt"))


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
def test_bad_batch_jobs(small_net, problem, name, jobs, exc):
    with pytest.raises(exc, match=named(name)):
        dln.train_batch(jobs(small_net, problem))


@pytest.mark.parametrize("n_threads, exc", [(0, ValueError), (-1, ValueError), (1.0, TypeError), ("2", TypeError),
                                            (2**40, ValueError)])
def test_bad_batch_threads(small_net, problem, n_threads, exc):
    with pytest.raises(exc, match=named("n_threads")):
        dln.train_batch([(small_net, problem, dict(lr=0.1, steps=1))], n_threads=n_threads)


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
def test_bad_layer_outputs_input(small_net, X, exc):
    with pytest.raises(exc, match=named("X")):
        small_net.layer_outputs(X)


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
    small_net = dln.Network(ws)
    for got, want in zip(small_net.weights, base.weights):
        assert got.flags.c_contiguous and np.array_equal(got, want)
    a = dln.train(base, problem, lr=0.1, steps=5)
    b = dln.train(small_net, problem, lr=0.1, steps=5)
    assert np.array_equal(a.loss, b.loss)


def test_broadcast_data_within_memory_is_copied_and_read_correctly():
    """A 0-stride view that fits in memory is materialised, not misread through its strides."""
    view = np.broadcast_to(np.arange(3.0)[None, :], (4, 3))
    p, q = dln.Factorization(view), dln.Factorization(np.ascontiguousarray(view))
    small_net = dln.Network.orthogonal([3, 4], seed=0)
    assert p.loss(small_net) == q.loss(small_net)
