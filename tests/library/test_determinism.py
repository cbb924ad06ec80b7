"""Determinism and interruption: bitwise identical results across thread counts (batches) and repeats;
Ctrl-C honoured within 1 s; Python callbacks only ever on the calling thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import dln


def jobs(seed=0):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((10, 8))
    problems = [dln.Factorization(t), dln.Completion(t, rng.random((10, 8)) < 0.5),
                dln.Regression(rng.standard_normal((8, 30)), rng.standard_normal((10, 30)))]
    out = []
    for i, opt in enumerate(["gd", "momentum", "adam", "rmsprop"] * 2):
        dtype = np.float64 if i < 4 else np.float32
        net = dln.Network.orthogonal([8, 12, 9, 10], scale=0.8, seed=i, dtype=dtype)
        lr = 0.05 if opt in ("gd", "momentum") else 0.005
        out.append((net, problems[i % 3], dict(lr=lr, steps=150, optimizer=opt, record_every=7)))
    return out


def fingerprint(r):
    return (r.status, r.steps, r.loss.tobytes(), r.final_loss, tuple(w.tobytes() for w in r.network.weights))


def test_batch_bitwise_for_1_and_2_threads_and_3_repeats():
    js = jobs()
    runs = {(n, rep): [fingerprint(r) for r in dln.train_batch(js, n_threads=n, progress=False)]
            for n in (1, 2) for rep in range(3)}
    first = runs[(1, 0)]
    assert all(r == first for r in runs.values())
    assert len({f[4] for f in first}) == len(js)  # the jobs really differ from each other


def test_single_run_bitwise_across_3_repeats_with_2_threads():
    d = 300  # large enough that the products do use 2 threads (trainer.hpp: effective_threads)
    rng = np.random.default_rng(1)
    p = dln.Factorization(rng.standard_normal((d, d)) / d)
    net = dln.Network.orthogonal([d, d, d], seed=0)
    rs = [dln.train(net, p, lr=0.5, steps=4, optimizer="adam", n_threads=2) for _ in range(3)]
    assert rs[0].n_threads == 2
    assert len({fingerprint(r) for r in rs}) == 1


# --- callbacks stay on the calling thread -----------------------------------------------------------


@pytest.mark.parametrize("how", ["train", "train-2-threads", "checkpointed", "batch"])
def test_progress_callback_only_on_calling_thread(tmp_path, how):
    caller = threading.get_ident()
    seen = []
    js = jobs()
    net, p, kw = js[2]
    kw = dict(kw, steps=3000)

    def progress(n):
        seen.append(threading.get_ident())

    if how == "train":
        dln.train(net, p, progress=progress, **kw)
    elif how == "train-2-threads":
        dln.train(net, p, progress=progress, n_threads=2, **kw)
    elif how == "checkpointed":
        dln.train(net, p, progress=progress, checkpoint=tmp_path / "c.ckpt", checkpoint_every=100, **kw)
    else:
        dln.train_batch(js, n_threads=2, progress=progress)
    assert seen and set(seen) == {caller}


def test_failing_callback_stops_the_run():
    """An exception in the callback is not lost on a worker: the run stops (interrupted)."""
    net, p, kw = jobs()[0]

    def progress(n):
        raise RuntimeError("boom")

    r = dln.train(net, p, progress=progress, **dict(kw, steps=10**7))
    assert r.status == "interrupted" and r.steps < 10**7


# --- Ctrl-C within 1 s --------------------------------------------------------------------------------

# The child reports CLOCK_MONOTONIC (system-wide on Linux) when train returns, so the latency
# measured excludes interpreter start-up and shutdown.
_CHILD = textwrap.dedent("""
    import sys, time, numpy as np, dln
    mode, path = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    d = 200
    p = dln.Factorization(rng.standard_normal((d, d)) / d)
    nets = [dln.Network.orthogonal([d] * 4, scale=1.0, seed=s) for s in range(4)]
    kw = dict(lr=1e-3, steps=10**8, progress=False)
    print("started", flush=True)
    if mode == "single":
        rs = [dln.train(nets[0], p, n_threads=1, **kw)]
    elif mode == "checkpointed":
        rs = [dln.train(nets[0], p, n_threads=1, checkpoint=path, checkpoint_every=50, **kw)]
    else:
        rs = dln.train_batch([(n, p, dict(lr=1e-3, steps=10**8)) for n in nets], n_threads=2, progress=False)
    t = time.monotonic()
    ok = all(r.status == "interrupted" and np.isfinite(r.final_loss) for r in rs)
    print(repr(t), ok, flush=True)
""")


@pytest.mark.skipif(sys.platform != "linux", reason="needs a system-wide CLOCK_MONOTONIC")
@pytest.mark.parametrize("mode", ["single", "checkpointed", "batch"])
def test_ctrl_c_within_one_second(tmp_path, mode):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, mode, str(tmp_path / "c.ckpt")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.7)
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    returned, ok = out.split()
    assert ok == "True", out
    assert float(returned) - sent < 1.0, f"stopped {float(returned) - sent:.2f} s after SIGINT"
    if mode == "checkpointed":
        assert dln.load_checkpoint(tmp_path / "c.ckpt").status == "interrupted"


def test_tracked_runs_repeat_bit_for_bit_whatever_the_heap_layout():
    # The trackers' scratch buffers are heap memory; a vectorised reduction over a buffer whose address
    # alignment changed between runs would round differently. Allocate in between to move things.
    rng = np.random.default_rng(3)
    u, _, vt = np.linalg.svd(rng.standard_normal((12, 12)))
    problem = dln.Factorization(u[:, :2] * np.array([3.0, 2.0]) @ vt[:2])
    net = dln.Network.orthogonal([12] * 4, scale=1.0, seed=1)
    spec = dln.TrackSpec(every=3, top_p=3, block_r=2, update_rank=4)
    runs = []
    for k in range(4):
        junk = [np.empty(17 * (k + 1) + j) for j in range(50)]  # noqa: F841 - shifts later allocations
        runs.append(dln.train(net, problem, lr=2.0, steps=40, n_threads=1, track_svd=spec).svd)
    for other in runs[1:]:
        for a, b in zip(runs[0].spectra, other.spectra):
            assert np.array_equal(a, b)
        assert np.array_equal(runs[0].certificate, other.certificate)
        assert np.array_equal(runs[0].angles_right, other.angles_right, equal_nan=True)
