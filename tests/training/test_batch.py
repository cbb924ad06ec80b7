"""dln.train_batch: many runs per call, each bitwise equal to its single-threaded dln.train."""

from __future__ import annotations

import dataclasses
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dln
from dln.experiments import low_rank_target


def same(a: dln.Result, b: dln.Result) -> bool:
    return (a.status == b.status and a.steps == b.steps and np.array_equal(a.loss, b.loss)
            and all(np.array_equal(x, y) for x, y in zip(a.network.weights, b.network.weights)))


def mixed_jobs(seed: int = 0):
    """Different shapes, depths, dtypes, optimisers, problems, steps and tol in one batch."""
    rng = np.random.default_rng(seed)
    fact = dln.Factorization(low_rank_target(6, 5, 2, seed=1))
    reg = dln.Regression(rng.standard_normal((5, 40)), rng.standard_normal((3, 40)))
    comp = dln.Completion(low_rank_target(7, 7, 2, seed=2), rng.random((7, 7)) < 0.5, reduction="sum")
    jobs = [
        (dln.Network.orthogonal([5, 8, 6], 0.5, seed=1), fact, dict(lr=0.5, steps=40)),
        (dln.Network.gaussian([5, 4, 4, 3], 0.7, seed=2), reg, dict(lr=0.05, steps=30, optimizer="momentum")),
        (dln.Network.orthogonal([7, 7, 7, 7], 0.9, seed=3), comp, dict(lr=1e-2, steps=25, optimizer="adam")),
        (dln.Network.uniform([5, 6], 1.0, seed=4, dtype=np.float32), fact,
         dict(lr=0.3, steps=50, optimizer="rmsprop", lr_scale=[0.5])),
        (dln.Network.orthogonal([5, 3, 6], 0.5, seed=5), fact, dict(lr=0.5, steps=500, tol=1e-3, record_every=7)),
        (dln.Network.orthogonal([5, 9, 9, 6], 0.4, seed=6, dtype=np.float32), fact, dict(lr=0.4, steps=60)),
    ]
    return jobs


def test_batch_equals_sequential_single_thread():
    jobs = mixed_jobs()
    batch = dln.train_batch(jobs, n_threads=2)
    assert len(batch) == len(jobs)
    for (net, problem, kw), res in zip(jobs, batch):
        assert same(res, dln.train(net, problem, **kw, n_threads=1))
    assert batch[4].status == "converged"


def test_batch_independent_of_threads_order_and_company():
    jobs = mixed_jobs()
    one = dln.train_batch(jobs, n_threads=1)
    two = dln.train_batch(jobs, n_threads=2)
    reversed_ = dln.train_batch(jobs[::-1], n_threads=2)[::-1]
    alone = [dln.train_batch([job], n_threads=2)[0] for job in jobs]
    for a, b, c, d in zip(one, two, reversed_, alone):
        assert same(a, b) and same(a, c) and same(a, d)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 3), st.sampled_from(["gd", "momentum", "adam"]),
                          st.integers(0, 20)), min_size=1, max_size=6),
       st.integers(1, 3))
def test_batch_random_mixtures(specs, threads):
    target = low_rank_target(4, 3, 2, seed=0)
    problem = dln.Factorization(target)
    jobs = [(dln.Network.orthogonal([3] + [w] * (depth - 1) + [4], 0.8, seed=i), problem,
             dict(lr=0.05 if opt == "adam" else 0.5, steps=steps, optimizer=opt))
            for i, (w, depth, opt, steps) in enumerate(specs)]
    for (net, p, kw), res in zip(jobs, dln.train_batch(jobs, n_threads=threads)):
        assert same(res, dln.train(net, p, **kw, n_threads=1))


def test_diverging_job_does_not_affect_others():
    jobs = mixed_jobs()
    net, problem, kw = jobs[0]
    bad = (net, problem, dict(kw, lr=1e4))
    results = dln.train_batch(jobs[:2] + [bad] + jobs[2:], n_threads=2)
    assert results[2].status == "diverged"
    assert all(np.isfinite(w).all() for w in results[2].network.weights)
    assert np.isfinite(results[2].final_loss)
    reference = dln.train_batch(jobs, n_threads=2)
    for a, b in zip(results[:2] + results[3:], reference):
        assert same(a, b)


def test_jobs_sharing_settings_equal_their_own_runs():
    # Many nets of one shape on one problem share one checked spec in train_batch; each result is
    # still its own single-threaded train, with its own network's activation and weights.
    problem = dln.Factorization(low_rank_target(6, 6, 2, seed=3))
    nets = [dln.Network.orthogonal([6, 6, 6, 6], 0.8, seed=s) for s in range(5)]
    relu = dln.Network.orthogonal([6, 6, 6, 6], 0.8, seed=9, activation="relu")
    jobs = [(n, problem, dict(lr=0.4, steps=12)) for n in nets]  # equal dicts, distinct objects
    jobs += [(relu, problem, dict(lr=0.4, steps=12)), (nets[0], problem, dict(lr=0.4, steps=12, record_every=5)),
             (nets[1], problem, dict(lr=0.4, steps=12, lr_scale=[1.0, 0.5, 1.0]))]  # unhashable: own spec
    results = dln.train_batch(jobs, n_threads=2)
    for (net, p, kw), res in zip(jobs, results):
        assert same(res, dln.train(net, p, **kw, n_threads=1))
        assert res.network.activation == net.activation
    assert not same(results[0], results[1])


def test_batch_results_are_whole_results_in_job_order():
    # Jobs of two shapes and two dtypes interleaved: every field of each result (but the time) is that of
    # its own run, with the same Python types, and its network is read-only like any other.
    problem = dln.Factorization(low_rank_target(6, 6, 2, seed=4))
    jobs = []
    for s in range(6):
        widths = [6, 6, 6, 6] if s % 2 else [6, 5, 6]
        dtype = np.float32 if s % 3 == 2 else np.float64
        jobs.append((dln.Network.orthogonal(widths, 0.8, seed=s, dtype=dtype), problem,
                     dict(lr=0.4, steps=10 + s, tol=1e-30 if s == 4 else None, record_every=3)))
    results = dln.train_batch(jobs, n_threads=2)
    for (net, p, kw), res in zip(jobs, results):
        alone = dln.train(net, p, **kw, n_threads=1)
        for field in dataclasses.fields(dln.Result):
            if field.name in ("seconds", "network", "loss"):
                continue
            assert getattr(res, field.name) == getattr(alone, field.name), field.name
            assert type(getattr(res, field.name)) is type(getattr(alone, field.name)), field.name
        assert same(res, alone) and res.loss.dtype == alone.loss.dtype and isinstance(res.seconds, float)
        assert res.network.dtype == net.dtype and res.network.widths == net.widths
        assert all(not w.flags.writeable for w in res.network._weights)
        with pytest.raises(ValueError):
            res.network._weights[0][0, 0] = 1.0


def test_core_messages_name_the_callers_job():
    # The core counts the runs of all specs in order; train_batch names the caller's job instead.
    from dln.training.facade import _renumbered
    assert _renumbered("jobs[1]: weights[0]: bad", [4, 7, 9]) == "jobs[7]: weights[0]: bad"
    assert _renumbered("jobs[5]: out of range", [4, 7]) == "jobs[5]: out of range"
    assert _renumbered("n_threads: bad", [4]) == "n_threads: bad"


@pytest.mark.parametrize("bad,match", [
    (dict(lr=0.4, steps=True), r"^jobs\[1\]: steps"),  # equal to steps=1 as a key, but not an integer
    (dict(lr=0.4, steps=1.0), r"^jobs\[1\]: steps"),
    (dict(lr=0.4, steps=1, tol=-1.0), r"^jobs\[1\]: tol"),
])
def test_a_job_that_looks_like_a_checked_one_is_checked_itself(bad, match):
    problem = dln.Factorization(low_rank_target(4, 4, 2, seed=0))
    net = dln.Network.orthogonal([4, 4, 4], 1.0)
    with pytest.raises((TypeError, ValueError), match=match):
        dln.train_batch([(net, problem, dict(lr=0.4, steps=1)), (net, problem, bad)])


@pytest.mark.parametrize("index,job_fix,match", [
    (1, lambda j: (j[0], j[1], dict(j[2], lr=-1.0)), r"^jobs\[1\]: lr"),
    (2, lambda j: (j[0], j[1], dict(j[2], optimizer="sgd")), r"^jobs\[2\]: optimizer"),
    (0, lambda j: (dln.Network.orthogonal([4, 4], 1.0), j[1], j[2]), r"^jobs\[0\]: net"),
    (3, lambda j: (j[0], j[1], dict(j[2], lr_scale=[1.0, 2.0, 3.0])), r"^jobs\[3\]: lr_scale"),
    (1, lambda j: (j[0], j[1], {k: v for k, v in j[2].items() if k != "steps"}), r"^jobs\[1\]: steps"),
    (2, lambda j: (j[0], "not a problem", j[2]), r"^jobs\[2\]: problem"),
    (0, lambda j: (j[0], j[1], dict(j[2], n_threads=2)), r"^jobs\[0\]: n_threads"),
    (4, lambda j: j[:2], r"^jobs\[4\]: job"),
])
def test_bad_job_named_before_any_work(index, job_fix, match):
    jobs = mixed_jobs()
    jobs[index] = job_fix(jobs[index])
    calls = []
    with pytest.raises((ValueError, TypeError), match=match):
        dln.train_batch(jobs, n_threads=2, progress=calls.append)
    assert calls == []  # nothing ran


def test_bad_batch_arguments():
    with pytest.raises(TypeError, match="^jobs"):
        dln.train_batch(42)
    with pytest.raises(ValueError, match="^n_threads"):
        dln.train_batch(mixed_jobs(), n_threads=0)
    assert dln.train_batch([]) == []


def test_shared_problem_data_is_not_copied():
    target = low_rank_target(20, 20, 2, seed=0)
    problem = dln.Factorization(target)
    assert np.shares_memory(problem.target, target)
    nets = [dln.Network.orthogonal([20, 20, 20], 1.0, seed=s) for s in range(8)]
    results = dln.train_batch([(n, problem, dict(lr=1.0, steps=5)) for n in nets])
    # The core reads the caller's buffer: changing it changes the next results.
    target *= 2.0
    again = dln.train_batch([(n, problem, dict(lr=1.0, steps=5)) for n in nets])
    assert all(a.final_loss != b.final_loss for a, b in zip(results, again))


def test_progress_counts_all_updates_on_calling_thread():
    jobs = mixed_jobs()
    seen = []
    caller = threading.get_ident()

    def progress(n):
        seen.append((n, threading.get_ident()))

    results = dln.train_batch(jobs, n_threads=2, progress=progress)
    assert seen and all(t == caller for _, t in seen)
    assert seen[-1][0] == sum(r.steps for r in results)
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)


def test_ctrl_c_stops_a_batch():
    code = textwrap.dedent("""
        import sys, numpy as np, dln
        from dln.experiments import low_rank_target
        p = dln.Factorization(low_rank_target(60, 60, 3, seed=0))
        jobs = [(dln.Network.orthogonal([60] * 4, 1.0, seed=s), p, dict(lr=1e-3, steps=10**8)) for s in range(4)]
        print("started", flush=True)
        rs = dln.train_batch(jobs, n_threads=2, progress=False)
        print(",".join(r.status for r in rs), all(np.isfinite(r.final_loss) for r in rs), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2.0
    assert out.strip() == "interrupted,interrupted,interrupted,interrupted True"


def sparse_problem(d=12, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    phi = low_rank_target(d, d, 2, seed=seed + 1)
    mask = rng.random((d, d)) < 0.4
    return dln.SparseCompletion.from_completion(dln.Completion(phi, mask), dtype=dtype)


def test_batch_takes_sparse_completion_jobs_between_dense_ones():
    """A SparseCompletion is a dln.Problem, so train_batch takes it: each such job's result is bitwise
    its dln.train(..., n_threads=1), in job order, whatever the dense jobs around it."""
    sp, sp32 = sparse_problem(), sparse_problem(seed=3, dtype=np.float32)
    assert isinstance(sp, dln.Problem) and sp.sparse and not dln.Factorization(np.eye(2)).sparse
    dense = mixed_jobs()
    jobs = [dense[0], (dln.Network.orthogonal([12, 4, 4, 12], 0.5, seed=7), sp, dict(lr=0.5, steps=30)),
            dense[1], (dln.Network.orthogonal([12, 6, 12], 0.5, seed=8, dtype=np.float32), sp32,
                       dict(lr=0.2, steps=20, optimizer="momentum", record_every=3)),
            dense[2]]
    seen = []
    batch = dln.train_batch(jobs, n_threads=2, progress=seen.append)
    for (net, problem, kw), res in zip(jobs, batch):
        assert same(res, dln.train(net, problem, **kw, n_threads=1))
    assert batch[1].form == "sparse" and batch[3].network.dtype == np.float32
    assert seen[-1] == sum(r.steps for r in batch) and seen == sorted(seen)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(lr=0.1, steps=3, track_svd=dln.TrackSpec(every=1)), ValueError, "^jobs\\[1\\]: track_svd"),
    (dict(lr=0.1, steps=3, checkpoint="x.ckpt"), TypeError, "^jobs\\[1\\]: checkpoint"),
    (dict(lr=0.1, steps=3, nonsense=1), TypeError, "^jobs\\[1\\]: nonsense"),
    (dict(steps=3), TypeError, "^jobs\\[1\\]: lr"),
    (dict(lr=-1.0, steps=3), ValueError, "^jobs\\[1\\]: lr"),
])
def test_bad_sparse_job_named_before_any_work(kwargs, exc, match):
    sp = sparse_problem()
    calls = []
    jobs = [mixed_jobs()[0], (dln.Network.orthogonal([12, 4, 12], 0.5, seed=1), sp, kwargs)]
    with pytest.raises(exc, match=match):
        dln.train_batch(jobs, n_threads=2, progress=calls.append)
    assert calls == []


def test_batch_stopped_by_progress_leaves_later_sparse_jobs_unstarted():
    sp = sparse_problem()
    net = dln.Network.orthogonal([12, 4, 12], 0.5, seed=1)

    def stop(n):
        raise RuntimeError("enough")

    rs = dln.train_batch([(net, sp, dict(lr=0.1, steps=10**7)), (net, sp, dict(lr=0.1, steps=5))], progress=stop)
    assert [r.status for r in rs] == ["interrupted", "interrupted"]
    assert "enough" in rs[0].message and rs[1].steps == 0 and "not started" in rs[1].message
    assert all(np.array_equal(a, b) for a, b in zip(rs[1].network.weights, net.weights))


def test_sparse_completion_as_a_problem():
    sp = sparse_problem()
    net = dln.Network.orthogonal([12, 5, 5, 12], 0.5, seed=2)
    dense = dln.Completion(low_rank_target(12, 12, 2, seed=1), np.zeros((12, 12)))
    assert (sp.input_dim, sp.output_dim) == (12, 12) and sp.scale == 1.0 / 144
    assert sp.products_per_step(net) == 3 and sp.flops_per_step(net) > 0
    again = pickle.loads(pickle.dumps(sp))  # Dask and multiprocessing ship problems
    assert again.loss(net) == sp.loss(net) and again.observed == sp.observed
    assert not again.rows.flags.writeable and "SparseCompletion(shape=(12, 12)" in repr(again)
    assert dense.input_dim == 12
    # what needs the dense target refuses it, naming the problem
    for call in (lambda: dln.invariant_subspace(net, sp, rank=2), lambda: dln.compress(net, sp, rank=2),
                 lambda: dln.analysis.theory(dln.Network.orthogonal([12, 12, 12], 0.5), sp, rank=2)):
        with pytest.raises(ValueError, match="^problem: .*SparseCompletion"):
            call()
    with pytest.raises(TypeError, match="^net: dtype"):
        sp.loss(net.astype(np.float32))
