"""Configs, grids, seeds and sweeps (``dln.config``, ``dln.sweep``).

A sweep's results must not depend on where its chunks ran: every comparison between a local sweep, a
process pool, a Dask cluster and single ``dln.train`` calls is bitwise (``np.array_equal``), because a
batched job equals ``dln.train(..., n_threads=1)`` bit for bit whatever the batch.
"""

import concurrent.futures
import dataclasses
import importlib
import json
import math
import multiprocessing
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dln
from dln.config import RunConfig, grid, spawn_seeds
from dln.experiments import low_rank_target
from dln.sweeps import SweepResult, sweep

sweep_module = importlib.import_module("dln.sweeps")  # the module, even if the package re-exports the function

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

SEED_MAX = 2**63 - 1


# --- configs ------------------------------------------------------------------------------------------


def finite(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def configs(draw):
    """Valid configs over every field, floats anywhere in their range (repr round trips are the point)."""
    kind = draw(st.sampled_from(["factorization", "completion", "regression"]))
    d_out, d_in = draw(st.integers(1, 50)), draw(st.integers(1, 50))
    depth = draw(st.integers(1, 5))
    kw = dict(problem=kind, d_out=d_out, d_in=d_in, rank=draw(st.integers(1, min(d_out, d_in))), depth=depth)
    if kind == "regression":
        kw["whiten"] = draw(st.booleans())
        kw["n_samples"] = draw(st.integers(d_in if kw["whiten"] else 1, 500))
    if kind == "completion":
        kw["observed"] = draw(finite(0, 1).filter(lambda p: p > 0))
    net = draw(st.sampled_from(["default", "width", "hidden"]))
    if net == "width":
        kw["width"] = draw(st.integers(1, 100))
    elif net == "hidden":
        kw["hidden"] = tuple(draw(st.lists(st.integers(1, 100), min_size=depth - 1, max_size=depth - 1)))
    if draw(st.booleans()):
        kw["lr_scale"] = tuple(draw(st.lists(finite(-1e300, 1e300), min_size=depth, max_size=depth)))
    kw.update(
        reduction=draw(st.sampled_from(["mean", "sum"])),
        data_seed=draw(st.integers(0, SEED_MAX)),
        init=draw(st.sampled_from(["orthogonal", "gaussian", "uniform"])),
        scale=draw(finite(0, 1e300)),
        dtype=draw(st.sampled_from(["float64", "float32"])),
        optimizer=draw(st.sampled_from(["gd", "momentum", "adam", "rmsprop"])),
        lr=draw(finite(0, 1e300).filter(lambda x: x > 0)),
        steps=draw(st.integers(0, 2**40)),
        tol=draw(st.none() | finite(0, 1e300)),
        record_every=draw(st.integers(1, 1000)),
        momentum=draw(finite(-1e300, 1e300)),
        betas=(draw(finite(-1, 1)), draw(finite(-1, 1))),
        eps=draw(finite(0, 1e-3)),
        decay=draw(finite(0, 1)),
        seed=draw(st.integers(0, SEED_MAX)),
    )
    return RunConfig(**kw)


def same_bits(a, b):
    """Field by field, floats compared by their bits (== would let -0.0 pass for 0.0)."""
    for f in dataclasses.fields(RunConfig):
        x, y = getattr(a, f.name), getattr(b, f.name)
        xs, ys = (x, y) if isinstance(x, tuple) else ((x,), (y,))
        assert type(x) is type(y) and len(xs) == len(ys), f.name
        for u, v in zip(xs, ys):
            assert type(u) is type(v) and (u == v if not isinstance(u, float) else u.hex() == v.hex()), (f.name, u, v)


@given(configs())
def test_config_round_trips_exactly(config):
    for back in (RunConfig.from_dict(config.to_dict()), RunConfig.from_json(config.to_json()),
                 RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))),
                 RunConfig.from_toml(config.to_toml())):
        assert back == config
        same_bits(back, config)
    assert tomllib.loads(config.to_toml()) == {k: v for k, v in config.to_dict().items() if v is not None}


def test_config_normalises_values():
    c = RunConfig(lr=np.int64(100), steps=np.int32(5), hidden=[4, 5], betas=[0.5, 0.75], scale=1, dtype=np.float32,
                  lr_scale=np.array([1.0, 2.0, 3.0]))
    assert (type(c.lr), c.lr, type(c.steps), c.hidden, c.betas, c.scale, c.dtype) == \
        (float, 100.0, int, (4, 5), (0.5, 0.75), 1.0, "float32")
    assert c.lr_scale == (1.0, 2.0, 3.0) and all(type(s) is float for s in c.lr_scale)
    assert c == RunConfig.from_json(c.to_json()) == RunConfig.from_toml(c.to_toml())
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0


def test_toml_text_is_readable():
    text = """
problem = "completion"
d_out = 20
d_in = 10
rank = 2
observed = 0.3  # fraction of observed entries
depth = 2
hidden = [7]
lr = 100     # an integer where a float is expected is fine
tol = 1e-10
"""
    c = RunConfig.from_toml(text)
    assert (c.problem, c.observed, c.widths, c.lr, c.tol, c.dtype) == \
        ("completion", 0.3, [10, 7, 20], 100.0, 1e-10, "float64")


@pytest.mark.parametrize("changes, error, field", [
    (dict(problem="sensing"), ValueError, "problem"),
    (dict(d_out=0), ValueError, "d_out"),
    (dict(d_in=2.0), TypeError, "d_in"),
    (dict(rank=31), ValueError, "rank"),
    (dict(rank=True), TypeError, "rank"),
    (dict(problem="regression"), ValueError, "n_samples"),
    (dict(problem="regression", n_samples=10, whiten=True), ValueError, "n_samples"),
    (dict(problem="regression", n_samples=50, whiten=1), TypeError, "whiten"),
    (dict(n_samples=10), ValueError, "n_samples"),
    (dict(whiten=True), ValueError, "whiten"),
    (dict(problem="completion"), ValueError, "observed"),
    (dict(problem="completion", observed=0.0), ValueError, "observed"),
    (dict(problem="completion", observed=1.5), ValueError, "observed"),
    (dict(observed=0.5), ValueError, "observed"),
    (dict(reduction="avg"), ValueError, "reduction"),
    (dict(data_seed=-1), ValueError, "data_seed"),
    (dict(depth=0), ValueError, "depth"),
    (dict(width=0), ValueError, "width"),
    (dict(width=5, hidden=(5, 5)), ValueError, "width"),
    (dict(hidden=(5,)), ValueError, "depth"),
    (dict(hidden=(5, 0)), ValueError, "hidden[1]"),
    (dict(hidden="55"), TypeError, "hidden"),
    (dict(init="he"), ValueError, "init"),
    (dict(scale=-1.0), ValueError, "scale"),
    (dict(scale=float("nan")), ValueError, "scale"),
    (dict(dtype="float16"), ValueError, "dtype"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(optimizer="sgd"), ValueError, "optimizer"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr="1"), TypeError, "lr"),
    (dict(lr=float("inf")), ValueError, "lr"),
    (dict(steps=-1), ValueError, "steps"),
    (dict(tol=-1e-3), ValueError, "tol"),
    (dict(record_every=0), ValueError, "record_every"),
    (dict(betas=(0.9,)), ValueError, "betas"),
    (dict(betas=(0.9, None)), TypeError, "betas[1]"),
    (dict(eps=-1.0), ValueError, "eps"),
    (dict(lr_scale=(1.0, 1.0)), ValueError, "lr_scale"),
    (dict(seed=2**63), ValueError, "seed"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_bad_config_names_the_field(changes, error, field):
    with pytest.raises(error, match="^" + re.escape(field) + ": "):
        RunConfig(**changes)


def test_bad_serialised_config_names_the_field():
    with pytest.raises(ValueError, match="^lrr: not a RunConfig field"):
        RunConfig.from_dict({"lrr": 1.0})
    with pytest.raises(ValueError, match="^lrr: not a RunConfig field"):
        RunConfig.from_toml("lrr = 1.0\n")
    with pytest.raises(TypeError, match="^steps: "):
        RunConfig.from_json('{"steps": "ten"}')
    with pytest.raises(TypeError, match="^config: "):
        RunConfig.from_json("[1, 2]")


def test_build_follows_the_published_conventions():
    c = RunConfig(d_out=8, d_in=6, rank=2, width=5, scale=0.5, seed=3, data_seed=4, lr=2.0, steps=7, optimizer="adam",
                  lr_scale=(1.0, 0.5, 2.0))
    net, problem, kwargs = c.build()
    assert net.widths == [6, 5, 5, 8] and net.dtype == np.float64
    expected = dln.Network.orthogonal([6, 5, 5, 8], 0.5, seed=3).weights
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, expected))
    assert isinstance(problem, dln.Factorization) and problem.reduction == "mean"
    assert np.array_equal(problem.target, low_rank_target(8, 6, 2, seed=4))
    assert kwargs == dict(lr=2.0, steps=7, optimizer="adam", tol=None, record_every=1, momentum=0.9, betas=(0.9, 0.999),
                          eps=1e-8, decay=0.9, lr_scale=[1.0, 0.5, 2.0])
    assert RunConfig(d_out=8, d_in=6, rank=2).widths == [6, 8, 8, 8]
    assert RunConfig(depth=1, d_out=3, d_in=4, rank=1).widths == [4, 3]

    comp = RunConfig(problem="completion", d_out=40, d_in=50, observed=0.25, data_seed=4, dtype="float32").build()
    assert comp[0].dtype == np.float32 and isinstance(comp[1], dln.Completion)
    assert np.array_equal(comp[1].target, low_rank_target(40, 50, 3, seed=4))
    assert abs(comp[1].mask.mean() - 0.25) < 0.05

    reg = RunConfig(problem="regression", d_out=3, d_in=5, rank=2, n_samples=40, whiten=True).build_problem()
    assert isinstance(reg, dln.Regression) and reg.X.shape == (5, 40) and reg.Y.shape == (3, 40)
    np.testing.assert_allclose(reg.X @ reg.X.T, np.eye(5), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(reg.Y, low_rank_target(3, 5, 2, seed=0) @ reg.X)
    raw = RunConfig(problem="regression", d_out=3, d_in=5, rank=2, n_samples=40).build_problem()
    assert not np.allclose(raw.X @ raw.X.T, np.eye(5))


def test_configs_with_the_same_data_share_one_problem():
    a = RunConfig(lr=3.0, seed=1)
    pa = a.build_problem()
    assert dataclasses.replace(a, lr=5.0, seed=9, depth=2, dtype="float32").build_problem() is pa
    assert dataclasses.replace(a, data_seed=1).build_problem() is not pa
    assert dataclasses.replace(a, reduction="sum").build_problem() is not pa
    assert not pa.target.flags.writeable  # shared, so nobody may change it
    # and dln.train_batch gets the same object, so it keeps one copy of the data per chunk
    jobs = [c.build() for c in grid(a, lr=[1.0, 2.0, 3.0])]
    assert all(job[1] is pa for job in jobs)


# --- grid and seeds -----------------------------------------------------------------------------------


def test_grid_is_the_cartesian_product_in_order():
    base = RunConfig(steps=5)
    configs = grid(base, lr=[1, 10], depth=[2, 3, 4], optimizer=["gd"])
    assert len(configs) == 6
    assert [(c.lr, c.depth) for c in configs] == [(1.0, 2), (1.0, 3), (1.0, 4), (10.0, 2), (10.0, 3), (10.0, 4)]
    assert all(dataclasses.replace(c, lr=1.0, depth=3) == dataclasses.replace(base, depth=3) for c in configs)
    assert grid(base) == [base]
    assert [c.hidden for c in grid(base, hidden=[(4, 4), (5, 6)])] == [(4, 4), (5, 6)]
    with pytest.raises(ValueError, match="^lrr: not a RunConfig field"):
        grid(base, lrr=[1.0])
    with pytest.raises(ValueError, match="^lr: empty"):
        grid(base, lr=[])
    with pytest.raises(TypeError, match="^optimizer: expected a list"):
        grid(base, optimizer="adam")
    with pytest.raises(ValueError, match="^depth: must be >= 1"):
        grid(base, depth=[2, 0])


def test_spawn_seeds_is_deterministic_and_distinct():
    configs = grid(RunConfig(), lr=[1.0, 2.0, 3.0], depth=[2, 3])
    a, b = spawn_seeds(configs, 42), spawn_seeds(configs, 42)
    assert a == b
    assert len({c.seed for c in a}) == len(a) and all(0 <= c.seed <= SEED_MAX for c in a)
    assert all(c.data_seed == 0 for c in a)
    assert [dataclasses.replace(c, seed=0) for c in a] == configs  # nothing else changes
    seeds = np.random.SeedSequence(42).spawn(len(configs))
    assert [c.seed for c in a] == [int(s.generate_state(1, dtype=np.uint64)[0]) >> 1 for s in seeds]
    assert {c.seed for c in spawn_seeds(configs, 43)}.isdisjoint(c.seed for c in a)
    d = spawn_seeds(configs, 42, data_seed=True)
    assert [c.seed for c in d] == [c.seed for c in a]  # asking for data seeds keeps the init seeds
    assert len({c.data_seed for c in d} | {c.seed for c in d}) == 2 * len(d)
    assert all(RunConfig.from_toml(c.to_toml()) == c for c in d)
    with pytest.raises(TypeError, match=r"^configs\[1\]: "):
        spawn_seeds([RunConfig(), {}], 0)
    with pytest.raises(ValueError, match="^seed: "):
        spawn_seeds(configs, -1)


# --- sweeps -------------------------------------------------------------------------------------------


def small_sweep():
    """Eight small runs over every problem kind, both dtypes and all optimisers; mixed shapes per chunk."""
    base = RunConfig(d_out=6, d_in=5, rank=2, width=7, scale=0.5, steps=30, record_every=3)
    configs = (grid(base, optimizer=["gd", "momentum"], lr=[0.5, 2.0])
               + grid(dataclasses.replace(base, problem="completion", observed=0.5, depth=2, optimizer="adam", lr=1e-2),
                      dtype=["float64", "float32"])
               + grid(dataclasses.replace(base, problem="regression", n_samples=9, width=None, optimizer="rmsprop",
                                          lr=1e-2, tol=1e-30), hidden=[(4, 4), (9, 3)]))
    return spawn_seeds(configs, 7, data_seed=True)


def assert_same_results(a, b, weights=False):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert isinstance(x, SweepResult) and x.config == y.config
        assert (x.status, x.steps, x.message) == (y.status, y.steps, y.message)
        assert np.array_equal(x.loss, y.loss) and x.loss.dtype == y.loss.dtype
        assert x.final_loss == y.final_loss or (math.isnan(x.final_loss) and math.isnan(y.final_loss))
        if weights:
            assert len(x.weights) == len(y.weights)
            assert all(np.array_equal(u, v) and u.dtype == v.dtype for u, v in zip(x.weights, y.weights))


@pytest.fixture(scope="module")
def local_results():
    return sweep(small_sweep(), chunk=3, progress=False)


def test_sweep_equals_single_runs(local_results):
    configs = small_sweep()
    assert [r.config for r in local_results] == configs
    for r in local_results:
        one = dln.train(*r.config.build()[:2], **r.config.train_kwargs(), n_threads=1)
        assert (r.status, r.steps, r.message) == (one.status, one.steps, one.message)
        assert np.array_equal(r.loss, one.loss) and r.final_loss == one.final_loss and r.weights is None
    # chunking and threads change nothing
    assert_same_results(sweep(configs, chunk=64, n_threads=2, progress=False), local_results)
    assert sweep([], progress=False) == []


def test_sweep_keeps_weights_on_request(local_results, tmp_path):
    configs = small_sweep()[:4]
    with_w = sweep(configs, chunk=3, keep_weights=True, progress=False, out_dir=tmp_path)
    assert_same_results(with_w, local_results[:4])
    for r in with_w:
        one = dln.train(*r.config.build()[:2], **r.config.train_kwargs(), n_threads=1)
        assert all(np.array_equal(u, v) for u, v in zip(r.weights, one.network.weights))
    assert_same_results(sweep(configs, chunk=3, keep_weights=True, progress=False, out_dir=tmp_path), with_w,
                        weights=True)


def test_sweep_reports_progress():
    seen = []
    configs = small_sweep()[:5]
    sweep(configs, chunk=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == sum(c.steps for c in configs)


def test_sweep_on_a_process_pool_is_bitwise_local(local_results):
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = sweep(small_sweep(), executor=pool, chunk=3, progress=False)
    assert_same_results(results, local_results)


def test_sweep_on_dask_is_bitwise_local(local_results):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        results = sweep(small_sweep(), executor=client.get_executor(), chunk=2, progress=False)
        assert len(client.scheduler_info()["workers"]) == 2
    assert_same_results(results, local_results)


class CountingBatches:
    """Wraps dln.training.train_batch (what sweeps call) and records the configs each call ran (by their seeds)."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = dln.training.train_batch

        def counted(jobs, **kwargs):
            self.calls.append(len(jobs))
            return real(jobs, **kwargs)

        monkeypatch.setattr(dln.training, "train_batch", counted)


def test_out_dir_resumes_only_missing_chunks(local_results, tmp_path, monkeypatch):
    configs = small_sweep()
    first = sweep(configs, chunk=3, out_dir=tmp_path, progress=False)
    assert_same_results(first, local_results)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"chunk-{k:05d}.{ext}" for k in range(3) for ext in ("json", "npz")]  # no temporary files left
    for k in range(3):
        with np.load(tmp_path / f"chunk-{k:05d}.npz", allow_pickle=False) as data:
            assert len(data.files) == len(configs[3 * k:3 * k + 3])
        json.loads((tmp_path / f"chunk-{k:05d}.json").read_text())  # strict JSON

    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    (tmp_path / "chunk-00001.npz").unlink()
    counter = CountingBatches(monkeypatch)
    again = sweep(configs, chunk=3, out_dir=tmp_path, progress=False)
    assert counter.calls == [3]  # chunk 1 only
    assert_same_results(again, local_results)
    assert all(tmp_path.joinpath(n).stat().st_mtime_ns == t for n, t in stamps.items() if "00001" not in n)

    (tmp_path / "chunk-00002.json").unlink()  # either file missing means the chunk is not done
    assert_same_results(sweep(configs, chunk=3, out_dir=tmp_path, progress=False), local_results)
    assert counter.calls == [3, 2]
    assert_same_results(sweep(configs, chunk=3, out_dir=tmp_path, progress=False), local_results)
    assert counter.calls == [3, 2]  # everything on disk: nothing runs

    with pytest.raises(ValueError, match="^out_dir: .*chunk-00000.json holds other runs"):
        sweep(configs, chunk=4, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="^out_dir: "):
        sweep(spawn_seeds(configs, 8), chunk=3, out_dir=tmp_path, progress=False)


def test_interrupted_runs_are_neither_returned_nor_saved(local_results, tmp_path, monkeypatch):
    configs = small_sweep()
    real = dln.training.train_batch
    calls = []

    def ctrl_c_in_second_call(jobs, **kwargs):  # what train_batch returns when Ctrl-C reaches its runs
        calls.append(len(jobs))
        results = real(jobs, **kwargs)
        return [dataclasses.replace(r, status="interrupted") for r in results] if len(calls) == 2 else results

    monkeypatch.setattr(dln.training, "train_batch", ctrl_c_in_second_call)
    with pytest.raises(KeyboardInterrupt, match="interrupted in chunk 1; 1 of 3 chunks done and saved"):
        sweep(configs, chunk=3, out_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk-00000.json", "chunk-00000.npz"]
    assert_same_results(sweep(configs, chunk=3, out_dir=tmp_path, progress=False), local_results)
    assert calls == [3, 3, 3, 2]


class FlakyExecutor(concurrent.futures.ThreadPoolExecutor):
    """Loses the worker of one chunk (the one holding ``bad_seed``)."""

    def __init__(self, bad_seed):
        super().__init__(2)
        self.bad_seed = bad_seed

    def submit(self, fn, *args, **kwargs):
        if any(d["seed"] == self.bad_seed for d in args[0]):
            future = concurrent.futures.Future()
            future.set_exception(OSError("worker lost"))
            return future
        return super().submit(fn, *args, **kwargs)


def test_lost_worker_loses_only_its_chunk(local_results, tmp_path, monkeypatch):
    configs = small_sweep()
    with FlakyExecutor(configs[4].seed) as executor, \
            pytest.raises(RuntimeError, match=r"^1 of 3 chunks failed \(chunks \[1\]\).*worker lost"):
        sweep(configs, executor=executor, chunk=3, out_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"chunk-{k:05d}.{e}" for k in (0, 2) for e in ("json", "npz")]
    counter = CountingBatches(monkeypatch)
    assert_same_results(sweep(configs, chunk=3, out_dir=tmp_path, progress=False), local_results)
    assert counter.calls == [3]


def test_bad_sweep_arguments_name_the_parameter():
    configs = small_sweep()[:2]
    with pytest.raises(TypeError, match=r"^configs\[1\]: expected a RunConfig"):
        sweep([configs[0], configs[1].to_dict()])
    with pytest.raises(TypeError, match="^configs: "):
        sweep(configs[0])
    with pytest.raises(ValueError, match="^chunk: "):
        sweep(configs, chunk=0)
    with pytest.raises(TypeError, match="^executor: "):
        sweep(configs, executor=object())
    with pytest.raises(ValueError, match="^n_threads: "):
        sweep(configs, n_threads=0)
    with pytest.raises(TypeError, match="^keep_weights: "):
        sweep(configs, keep_weights="yes")
    with pytest.raises(TypeError, match="^progress: "):
        sweep(configs, progress="bar")


def test_run_chunk_is_a_plain_task(local_results):
    """What an executor receives and returns: plain dicts and arrays, picklable both ways."""
    import pickle

    configs = small_sweep()[:3]
    task = pickle.loads(pickle.dumps((sweep_module.run_chunk, [c.to_dict() for c in configs])))
    out = task[0](task[1])
    out = pickle.loads(pickle.dumps(out))
    assert [set(r) for r in out] == [{"status", "steps", "final_loss", "loss", "seconds", "message", "weights"}] * 3
    assert all(np.array_equal(r["loss"], l.loss) for r, l in zip(out, local_results))
