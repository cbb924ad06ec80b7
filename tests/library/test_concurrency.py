"""Runs from several Python threads, processes forked after a threaded run, and pickled values.

dln.train releases the GIL, so Python threads run it concurrently; the GEMM thread count is a
process-wide setting of the backend, which concurrent runs must not change under each other. Dask and
multiprocessing move networks, problems, results and configs between processes by pickling them.
"""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dln

# d = 300: products of 300^3, above the size where a run uses more than one thread.
D = 300


def _job(seed: int, n_threads: int) -> dln.Result:
    rng = np.random.default_rng(seed)
    target = rng.standard_normal((D, 4)) @ rng.standard_normal((4, D)) / D
    net = dln.Network.orthogonal([D, D, D, D], scale=0.1, seed=seed)
    return dln.train(net, dln.Factorization(target), lr=5.0, steps=15, n_threads=n_threads)


def _same(a: dln.Result, b: dln.Result) -> bool:
    return (np.array_equal(a.loss, b.loss)
            and all(np.array_equal(x, y) for x, y in zip(a.network.weights, b.network.weights)))


def test_threads_give_the_bits_of_sequential_runs():
    # Runs asking for 1 and 2 GEMM threads at once: with one global setting shared carelessly, a run's
    # products would be split by the other run's count.
    specs = [(1, 1), (2, 2), (3, 1), (4, 2), (5, 2), (6, 1)]
    sequential = [_job(*s) for s in specs]
    assert {r.n_threads for r in sequential} == {1, 2}
    for _ in range(2):
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            concurrent = list(pool.map(lambda s: _job(*s), specs))
        assert all(_same(a, b) for a, b in zip(sequential, concurrent))


def _child(queue) -> None:
    res = _job(7, 2)
    queue.put((res.loss, [np.asarray(w) for w in res.network.weights]))


def test_fork_after_threaded_run_does_not_hang():
    parent = _job(7, 2)  # the backend's worker threads exist now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    loss, weights = queue.get(timeout=120)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    assert np.array_equal(loss, parent.loss)
    assert all(np.array_equal(a, b) for a, b in zip(weights, parent.network.weights))


def _roundtrips(obj):
    return [pickle.loads(pickle.dumps(obj, protocol=p)) for p in (2, pickle.HIGHEST_PROTOCOL)] + [copy.deepcopy(obj)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_and_deepcopy_round_trip_exactly(dtype):
    rng = np.random.default_rng(0)
    d = 12
    target = rng.standard_normal((d, d))
    mask = rng.random((d, d)) < 0.5
    X, Y = rng.standard_normal((d, 20)), rng.standard_normal((d, 20))
    net = dln.Network.orthogonal([d, d, d], scale=0.5, seed=3, dtype=dtype, activation="leaky_relu")
    for net2 in _roundtrips(net):
        assert type(net2) is dln.Network and net2.dtype == net.dtype and net2.activation == net.activation
        assert all(np.array_equal(a, b) and not b.flags.writeable for a, b in zip(net._weights, net2._weights))

    lin = dln.Network.orthogonal([d, d, d], scale=0.5, seed=3, dtype=dtype)
    for problem in (dln.Factorization(target, reduction="sum"), dln.Completion(target, mask),
                    dln.Regression(X, Y, form="data")):
        res = dln.train(lin, problem, lr=1e-2, steps=5)
        for p2 in _roundtrips(problem):
            assert type(p2) is type(problem) and p2.reduction == problem.reduction
            assert p2.loss(lin) == problem.loss(lin)
            again = dln.train(lin, p2, lr=1e-2, steps=5)
            assert _same(again, res)
        for r2 in _roundtrips(res):
            assert r2.status == res.status and r2.steps == res.steps and _same(r2, res)

    config = dln.RunConfig(problem="factorization", d_out=d, d_in=d, depth=3, rank=2, lr=1.0, steps=5, seed=1)
    for c2 in _roundtrips(config):
        assert c2 == config


def test_svd_trace_pickles():
    d = 20
    rng = np.random.default_rng(1)
    target = rng.standard_normal((d, 2)) @ rng.standard_normal((2, d))
    net = dln.Network.orthogonal([d, d, d], scale=0.1, seed=1)
    res = dln.train(net, dln.Factorization(target), lr=1.0, steps=10, track_svd=dln.TrackSpec(every=5, block_r=2))
    trace = res.svd
    assert trace is not None
    for t2 in _roundtrips(trace):
        assert np.array_equal(t2.steps, trace.steps)
        assert all(np.array_equal(a, b) for a, b in zip(t2.spectra, trace.spectra))
        assert np.array_equal(t2.certificate, trace.certificate, equal_nan=True)
        assert t2.events == trace.events and t2.modes == trace.modes
