"""Checkpoint and resume (dln.io): a checkpointed, killed and resumed run ends bitwise equal to one
that was never interrupted; a damaged file is refused, never misread.

Bitwise equality is the right check here, not a tolerance: resuming replays exactly the same
floating-point operations on the same build, machine and ``n_threads`` (trainer.hpp, TrainState).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import dln
from dln.io import CheckpointError


def small_problem(d=8, seed=0):
    rng = np.random.default_rng(seed)
    return dln.Factorization(rng.standard_normal((d, 3)) @ rng.standard_normal((3, d)) / d)


def assert_same_run(a, b):
    assert (a.status, a.steps) == (b.status, b.steps), (a, b)
    assert a.loss.dtype == b.loss.dtype and np.array_equal(a.loss, b.loss)
    assert a.final_loss == b.final_loss or (np.isnan(a.final_loss) and np.isnan(b.final_loss))
    assert a.network.dtype == b.network.dtype and a.network.depth == b.network.depth
    for wa, wb in zip(a.network.weights, b.network.weights):
        assert np.array_equal(wa, wb)


RUNS = [
    dict(optimizer="gd", lr=0.5, steps=40, record_every=1),
    dict(optimizer="momentum", lr=0.2, steps=41, record_every=3),
    dict(optimizer="adam", lr=0.01, steps=37, record_every=2, betas=(0.8, 0.99)),
    dict(optimizer="rmsprop", lr=0.01, steps=40, record_every=5, lr_scale=[1.0, 0.5, 2.0]),
    dict(optimizer="gd", lr=0.5, steps=500, tol=1e-2),  # converges at step 69, inside a segment of 7
]


@pytest.mark.parametrize("kwargs", RUNS, ids=[k["optimizer"] + str(i) for i, k in enumerate(RUNS)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("every", [1, 7, 1000])
def test_checkpointed_run_equals_plain_run(tmp_path, kwargs, dtype, every):
    p = small_problem()
    net = dln.Network.orthogonal([8, 8, 8, 8], scale=0.9, seed=1, dtype=dtype)
    plain = dln.train(net, p, n_threads=1, **kwargs)
    path = tmp_path / "run.ckpt"
    ck = dln.train(net, p, n_threads=1, checkpoint=path, checkpoint_every=every, **kwargs)
    assert_same_run(ck, plain)
    saved = dln.load_checkpoint(path)
    assert saved.status == plain.status and saved.step == plain.steps
    assert_same_run(saved.result(), plain)
    # A finished run is returned as saved, without training again.
    assert_same_run(dln.resume(path, p), plain)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam", "rmsprop"])
def test_extend_a_finished_run(tmp_path, optimizer):
    p = small_problem()
    net = dln.Network.gaussian([8, 5, 8], scale=0.8, seed=3)
    plain = dln.train(net, p, lr=0.01, steps=60, optimizer=optimizer, record_every=4, n_threads=1)
    path = tmp_path / "run.ckpt"
    short = dln.train(net, p, lr=0.01, steps=25, optimizer=optimizer, record_every=4, n_threads=1,
                      checkpoint=path, checkpoint_every=10)
    assert short.steps == 25
    assert_same_run(dln.resume(path, p, steps=60), plain)
    with pytest.raises(ValueError, match="^steps"):
        dln.resume(path, p, steps=24)  # fewer than the 25 updates done


def test_file_is_npz_plus_json_and_no_pickle(tmp_path):
    path = tmp_path / "run.ckpt"
    dln.train(dln.Network.orthogonal([8, 8, 8], seed=0), small_problem(), lr=0.1, steps=5, optimizer="adam",
              checkpoint=path, checkpoint_every=2)
    with np.load(path, allow_pickle=False) as z:  # readable by NumPy alone
        assert {"weights_0", "weights_1", "optimizer_m_0", "optimizer_v_1", "loss", "scalars"} <= set(z.files)
        import json
        meta = json.loads(z["meta.json"])
    assert meta["format"] == "dln-checkpoint" and meta["status"] == "max_steps" and meta["step"] == 5
    assert meta["config"]["optimizer"] == "adam" and meta["problem"]["kind"] == "factorization"
    assert len(meta["problem"]["arrays"]["target"]["sha256"]) == 64
    assert os.listdir(tmp_path) == ["run.ckpt"]  # no temporary left behind


def test_existing_checkpoint_is_never_overwritten(tmp_path):
    path = tmp_path / "run.ckpt"
    net, p = dln.Network.orthogonal([8, 8], seed=0), small_problem()
    dln.train(net, p, lr=0.1, steps=3, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="^checkpoint"):
        dln.train(net, p, lr=0.1, steps=3, checkpoint=path)
    assert path.read_bytes() == before


def test_resume_refuses_other_data(tmp_path):
    path = tmp_path / "run.ckpt"
    net, p = dln.Network.orthogonal([8, 8], seed=0), small_problem()
    dln.train(net, p, lr=0.1, steps=3, checkpoint=path)
    other = p.target.copy()
    other[2, 3] = np.nextafter(other[2, 3], np.inf)  # one ulp in one entry
    for q in (dln.Factorization(other), dln.Factorization(p.target, reduction="sum"),
              dln.Completion(p.target, np.ones_like(p.target)), dln.Factorization(p.target[:, :7])):
        with pytest.raises(ValueError, match="^problem"):
            dln.resume(path, q, steps=10)


def test_old_io_addresses_warn_and_forward():
    # dln.io.resume and dln.io.train_checkpointed moved to dln.training.checkpointed; the old names
    # still work for one release, with a DeprecationWarning naming the new place
    import dln.io
    from dln.training import checkpointed

    for name in ("resume", "train_checkpointed"):
        with pytest.deprecated_call(match=rf"^dln\.io\.{name} moved to dln\.training\.checkpointed\.{name}"):
            assert getattr(dln.io, name) is getattr(checkpointed, name)
    with pytest.raises(AttributeError, match="no_such_name"):
        dln.io.no_such_name  # noqa: B018


def test_diverged_run_is_saved_with_finite_weights(tmp_path):
    path = tmp_path / "run.ckpt"
    p = small_problem()
    net = dln.Network.orthogonal([8, 8, 8], scale=1.0, seed=0)
    # momentum at this lr blows up at step 14, i.e. in the fifth segment of 3 updates
    r = dln.train(net, p, lr=40.0, steps=1000, optimizer="momentum", checkpoint=path, checkpoint_every=3)
    assert r.status == "diverged" and r.steps > 3
    saved = dln.load_checkpoint(path)
    assert saved.status == "diverged" and saved.step == r.steps
    assert all(np.isfinite(w).all() for w in saved.network.weights)
    assert_same_run(dln.resume(path, p), r)
    assert_same_run(r, dln.train(net, p, lr=40.0, steps=1000, optimizer="momentum"))


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    path = tmp_path / "run.ckpt"
    # A pid that cannot be running: beyond the kernel's pid_max.
    stale = tmp_path / "run.ckpt.4194305.tmp"
    stale.write_bytes(b"half a checkpoint")
    dln.train(dln.Network.orthogonal([8, 8], seed=0), small_problem(), lr=0.1, steps=3, checkpoint=path)
    assert not stale.exists() and path.exists()


# --- damaged files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "good.ckpt"
    dln.train(dln.Network.orthogonal([8, 6, 8], seed=0), small_problem(), lr=0.05, steps=9, optimizer="adam",
              record_every=2, checkpoint=path, checkpoint_every=4)
    return path


def test_every_truncation_is_refused(good_file, tmp_path):
    data = good_file.read_bytes()
    bad = tmp_path / "bad.ckpt"
    cuts = sorted(set(range(0, len(data), max(1, len(data) // 150))) | {len(data) - 1, len(data) - 22})
    for cut in cuts:
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="^checkpoint"):
            dln.load_checkpoint(bad)


def test_flipped_bytes_are_refused_or_harmless(good_file, tmp_path):
    """Every flip gives CheckpointError, or (bytes zip ignores, e.g. a timestamp) the same contents."""
    data = bytearray(good_file.read_bytes())
    ref = dln.load_checkpoint(good_file)
    bad = tmp_path / "bad.ckpt"
    rng = random.Random(0)
    refused = 0
    for pos in rng.sample(range(len(data)), 300):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(flipped))
        try:
            got = dln.load_checkpoint(bad)
        except CheckpointError:
            refused += 1
            continue
        assert got.step == ref.step and got.status == ref.status and got.config == ref.config
        assert np.array_equal(got.loss, ref.loss) and got.optimizer_t == ref.optimizer_t
        assert len(got.optimizer_m) == len(ref.optimizer_m) and len(got.optimizer_v) == len(ref.optimizer_v)
        for a, b in zip(got.network.weights + got.optimizer_m + got.optimizer_v,
                        ref.network.weights + ref.optimizer_m + ref.optimizer_v):
            assert np.array_equal(a, b)
    assert refused > 250  # almost every byte is covered by a CRC or a size/shape check


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        dln.load_checkpoint(tmp_path / "nope.ckpt")
    with pytest.raises(FileNotFoundError):
        dln.resume(tmp_path / "nope.ckpt", small_problem())


# --- killed runs -------------------------------------------------------------------------------------

_WORKER = textwrap.dedent("""
    import os, sys
    import numpy as np, dln
    path = sys.argv[1]
    rng = np.random.default_rng(0)
    d = 24
    p = dln.Factorization(rng.standard_normal((d, 3)) @ rng.standard_normal((3, d)) / d)
    print("started", flush=True)
    if os.path.exists(path):
        r = dln.resume(path, p)
    else:
        net = dln.Network.orthogonal([d] * 4, scale=0.5, seed=2)
        r = dln.train(net, p, lr=3e-3, steps=STEPS, optimizer="adam", record_every=3, n_threads=1,
                      checkpoint=path, checkpoint_every=EVERY, progress=False)
    print("finished", r.steps, flush=True)
""")
# The run is far longer than the test (it never finishes by itself), so every one of the 20 kills
# lands inside it whatever the machine's speed; the final comparison resumes to a nearby step count,
# which is bitwise the same as an uninterrupted run with that many steps (a run's updates do not
# depend on its `steps`).
KILL_STEPS, KILL_EVERY = 10**7, 20


def _worker_code():
    return _WORKER.replace("STEPS", str(KILL_STEPS)).replace("EVERY", str(KILL_EVERY))


def _kill_problem():
    rng = np.random.default_rng(0)
    d = 24
    return dln.Factorization(rng.standard_normal((d, 3)) @ rng.standard_normal((3, d)) / d)


def _kill_plain(steps):
    return dln.train(dln.Network.orthogonal([24] * 4, scale=0.5, seed=2), _kill_problem(), lr=3e-3, steps=steps,
                     optimizer="adam", record_every=3, n_threads=1)


def test_sigkill_20_times_then_resume_is_bitwise_equal(tmp_path):
    path = tmp_path / "run.ckpt"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    rng = random.Random(1234)
    steps_seen = []
    for _kill in range(20):
        proc = subprocess.Popen([sys.executable, "-c", _worker_code(), str(path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline().strip() == "started", proc.communicate()[1]
        time.sleep(rng.uniform(0.0, 0.25))  # inside train/resume: segments, writes and renames
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, (out, err)
        if path.exists():
            ck = dln.load_checkpoint(path)  # raises on any corrupt file
            assert ck.status == "running"
            steps_seen.append(ck.step)
        leftovers = [f for f in os.listdir(tmp_path) if f != "run.ckpt"]
        assert len(leftovers) <= 1  # at most the killed writer's temporary
    # The kills landed at many different points of the run, and it made progress in between.
    assert len(set(steps_seen)) >= 10, steps_seen
    assert steps_seen == sorted(steps_seen), steps_seen
    target = steps_seen[-1] + 5 * KILL_EVERY + 7  # a few more segments, ending mid-segment
    resumed = dln.resume(path, _kill_problem(), steps=target)
    assert os.listdir(tmp_path) == ["run.ckpt"]  # the killed writers' temporaries were cleaned up
    assert resumed.steps == target
    assert_same_run(resumed, _kill_plain(target))
    assert_same_run(dln.load_checkpoint(path).result(), resumed)


def test_ctrl_c_saves_and_resume_finishes_bitwise(tmp_path):
    path = tmp_path / "run.ckpt"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    code = _worker_code()
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    saved = dln.load_checkpoint(path)
    assert saved.status == "interrupted" and 0 < saved.step < 10**7 and out.split()[-1] == str(saved.step)
    target = saved.step + 50
    assert_same_run(dln.resume(path, _kill_problem(), steps=target), _kill_plain(target))


# --- SVD tracking in checkpoints ---------------------------------------------------------------------

def assert_same_trace(a, b):
    """Two SvdTraces equal bit for bit (NaN where the other has NaN)."""
    import dataclasses

    assert (a is None) == (b is None)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "top":
            assert (x is None) == (y is None) and len(x or []) == len(y or [])
            for rx, ry in zip(x or [], y or []):
                for tx, ty in zip(rx, ry):
                    assert all(np.array_equal(p, q) for p, q in zip(tx, ty))
        elif f.name == "spectra":
            assert len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y))
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert np.array_equal(x, y, equal_nan=True), f.name
        else:
            assert x == y, (f.name, x, y)


def tracked_problem(d=12, r=2, seed=0):
    rng = np.random.default_rng(seed)
    u, _, vt = np.linalg.svd(rng.standard_normal((d, d)))
    return dln.Factorization(u[:, :r] * np.array([3.0, 2.0]) @ vt[:r])


TRACKED = [
    (dict(optimizer="gd", lr=2.0, steps=40), dict(every=3, top_p=3, block_r=2, update_rank=4)),
    (dict(optimizer="gd", lr=2.0, steps=40), dict(every=5, block_r=2, update_rank=4, reference="theory",
                                                  end_to_end=True)),
    (dict(optimizer="momentum", lr=0.5, steps=30), dict(every=1, block_r=2, update_rank=4, certificate_tol=1e-14)),
    (dict(optimizer="adam", lr=0.01, steps=20), dict(every=4, update_rank=4, max_rank=8, end_to_end=True)),
]


@pytest.mark.parametrize("kwargs,spec", TRACKED, ids=["blocks", "theory-e2e", "restarts", "adam-own"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("every", [1, 7])
def test_tracked_checkpointed_run_equals_plain_run(tmp_path, kwargs, spec, dtype, every):
    p = tracked_problem()
    net = dln.Network.orthogonal([12, 12, 12, 12], scale=1.0, seed=1, dtype=dtype)
    track = dln.TrackSpec(**spec)
    plain = dln.train(net, p, n_threads=1, track_svd=track, **kwargs)
    path = tmp_path / "run.ckpt"
    ck = dln.train(net, p, n_threads=1, checkpoint=path, checkpoint_every=every, track_svd=track, **kwargs)
    assert_same_run(ck, plain)
    assert_same_trace(ck.svd, plain.svd)
    assert_same_trace(dln.load_checkpoint(path).result().svd, plain.svd)
    assert_same_trace(dln.resume(path, p).svd, plain.svd)  # finished: returned as saved


@pytest.mark.parametrize("kwargs,spec", TRACKED, ids=["blocks", "theory-e2e", "restarts", "adam-own"])
def test_tracked_run_resumed_and_extended(tmp_path, kwargs, spec):
    p = tracked_problem(seed=1)
    net = dln.Network.orthogonal([12, 12, 12], scale=1.0, seed=2)
    track = dln.TrackSpec(**spec)
    full = dln.train(net, p, n_threads=1, track_svd=track, **kwargs)
    path = tmp_path / "run.ckpt"
    short = dln.train(net, p, n_threads=1, checkpoint=path, checkpoint_every=6, track_svd=track,
                      **dict(kwargs, steps=kwargs["steps"] // 2 + 1))
    assert short.svd.steps[-1] <= short.steps < full.steps
    resumed = dln.resume(path, p, steps=kwargs["steps"])
    assert_same_run(resumed, full)
    assert_same_trace(resumed.svd, full.svd)
    # the record is the real one: spot-check the last spectrum against an SVD of the weights
    tr = resumed.svd
    at = dln.train(net, p, n_threads=1, **dict(kwargs, steps=int(tr.steps[-1]))).network.weights
    for l, w in enumerate(at):
        s = np.linalg.svd(np.asarray(w, dtype=np.float64), compute_uv=False)
        if tr.modes[l] == "structured":
            bound = 1e-12 * s[0]
        else:  # Weyl: the generic tracker's certificate bounds its error
            bound = tr.certificate[-1, l] * np.linalg.norm(w) * (1 + 1e-12) + 1e-15
        assert np.abs(tr.spectra[l][-1] - s).max() <= bound


def test_tracked_checkpoint_with_damaged_state_is_refused(tmp_path):
    import json
    import zipfile

    p = tracked_problem()
    net = dln.Network.orthogonal([12, 12, 12], scale=1.0, seed=1)
    path = tmp_path / "run.ckpt"
    dln.train(net, p, lr=2.0, steps=10, n_threads=1, checkpoint=path, checkpoint_every=4,
              track_svd=dln.TrackSpec(every=2, update_rank=4))
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["meta.json"])
    meta["svd"]["state"]["modes"] = ["structured", "sideways"]
    members["meta.json"] = json.dumps(meta).encode()
    bad = tmp_path / "bad.ckpt"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(CheckpointError, match="sideways"):
        dln.resume(bad, p, steps=20)
