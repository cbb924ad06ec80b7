"""Compression benchmark (issue 5 performance section). Ratios measured in this process.

    python bench/bench_compress.py [--big 100000]

1. Factorisation d=1000, r=10, L=3, eps=1e-3, lr=1e3 (mean): compressed (projected path) to wide loss
   1e-10 including setup; wide step time; lifted end-to-end vs a wide run over its first 50 steps.
2. Completion d=1000, r=5, 20% observed, L=3, eps=1e-3, lr=5e3, gamma=0.01: sparse path to recovery.
3. Completion at d=1e4 and --big (default 1e5), 1% observed: time per step and memory (no wide run).
"""

import argparse
import platform
import resource
import time

import numpy as np

import dln
from dln.compression import SparseCompletion, train_compressed


def low_rank(d, r, seed):
    U, s, Vt = np.linalg.svd(np.random.default_rng(seed).standard_normal((d, d)))
    return (U[:, :r] * s[:r]) @ Vt[:r]


def rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def header():
    info = dln.build_info()
    print(f"machine: {platform.machine()} {platform.processor() or ''} cores={info.get('hardware_threads')}, "
          f"python {platform.python_version()}, numpy {np.__version__}, dln {dln.__version__}")
    print(f"gemm: {info.get('gemm_backend')} {info.get('gemm_config', '')}; default n_threads "
          f"{info.get('default_threads')}; flags {info.get('cxx_flags', '')}")


def factorisation():
    d, r, L, eps, lr = 1000, 10, 3, 1e-3, 1e3
    phi = low_rank(d, r, 0)
    prob = dln.Factorization(phi)
    t0 = time.perf_counter()
    net = dln.Network.orthogonal([d] * (L + 1), eps, seed=1)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = train_compressed(net, prob, lr, 100000, rank=r, tol=1e-10)
    t_comp = time.perf_counter() - t0
    # Wide: per-step time and the first 50 steps against the lift.
    wide = dln.train(net, prob, lr, 50)
    step = wide.seconds / 50
    short = train_compressed(net, prob, lr, 50, rank=r)
    rel = np.linalg.norm(short.network.end_to_end() - wide.network.end_to_end()) / np.linalg.norm(
        wide.network.end_to_end())
    print(f"\n[factorisation d={d} r={r} L={L} eps={eps} lr={lr} mean]")
    print(f"  wide init (3 Haar QRs)        {t_init:8.3f} s (shared by both; not counted below)")
    print(f"  compressed to loss 1e-10      {t_comp:8.3f} s incl. subspace+projection, {res.steps} steps, "
          f"status {res.status}, wide loss {res.final_loss:.3g}, path {res.path}")
    print(f"    of which the step loop      {res.seconds:8.3f} s ({res.seconds / max(res.steps, 1) * 1e6:.1f} us/step)")
    print(f"  wide step (dense GEMMs)       {step * 1e3:8.2f} ms/step -> {res.steps} steps ~ {step * res.steps:.0f} s")
    print(f"  ratio wide / compressed       {step * res.steps / t_comp:8.0f} x")
    print(f"  lifted vs wide end-to-end after 50 steps: {rel:.2e} relative (goal <= 1e-9)")


def completion():
    d, r, L, eps, lr, p = 1000, 5, 3, 1e-3, 5e3, 0.2
    phi = low_rank(d, r, 2)
    mask = np.random.default_rng(3).random((d, d)) < p
    prob = dln.Completion(phi, mask)
    net = dln.Network.orthogonal([d] * (L + 1), eps, seed=4)
    t0 = time.perf_counter()
    res = train_compressed(net, prob, lr, 60000, rank=r, outer_lr_scale=0.01, tol=1e-13, record_every=100)
    t_sparse = time.perf_counter() - t0
    E = res.compressed.network.end_to_end()
    rec = 0.5 * np.mean(((~mask) * (E - phi)) ** 2)
    dense = train_compressed(net, prob, lr, 200, rank=r, outer_lr_scale=0.01, path="dense")
    wide = dln.train(net, prob, lr, 10)
    print(f"\n[completion d={d} r={r} {p:.0%} observed L={L} eps={eps} lr={lr} gamma=0.01]")
    print(f"  sparse compressed             {t_sparse:8.3f} s incl. setup, {res.steps} steps "
          f"({res.compressed.seconds / max(res.steps, 1) * 1e3:.3f} ms/step), status {res.status}, "
          f"recovery {rec:.3g} (goal <= 1e-12 in <= 6 s)")
    print(f"  dense compressed chain        {dense.compressed.seconds / 200 * 1e3:8.3f} ms/step")
    print(f"  wide                          {wide.seconds / 10 * 1e3:8.3f} ms/step")
    print(f"  ratio wide/sparse per step    {wide.seconds / 10 / (res.compressed.seconds / max(res.steps, 1)):8.0f} x")


def big(d, frac=0.01, r=5, L=3, steps=5, seed=5):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((d, r)), rng.standard_normal((d, r))
    n = int(frac * d * d)
    t0 = time.perf_counter()
    # Distinct positions: per row, frac*d distinct columns (no d x d array anywhere).
    per = n // d
    rows = np.repeat(np.arange(d, dtype=np.int64), per)
    cols = np.empty(d * per, dtype=np.int64)
    for i in range(0, d, 1000):
        block = rng.random((min(1000, d - i), d)).argpartition(per, axis=1)[:, :per] if d <= 20000 else None
        if block is None:  # cheaper for huge d: sorted unique draws with a few extra
            block = np.stack([np.unique(rng.integers(0, d, 2 * per))[:per] for _ in range(min(1000, d - i))])
        cols[i * per:(i + min(1000, d - i)) * per] = block.ravel()
    vals = np.empty(d * per)
    for s in range(0, d * per, 10**7):
        e = min(s + 10**7, d * per)
        vals[s:e] = np.einsum("ij,ij->i", A[rows[s:e]], B[cols[s:e]])
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    sp = SparseCompletion((d, d), rows, cols, vals)
    del rows, cols, vals
    t_build = time.perf_counter() - t0
    q = lambda m: np.linalg.qr(rng.standard_normal((d, m)))[0]  # noqa: E731
    chain = dln.Network([q(2 * r).T] + [1e-3 * np.eye(2 * r)] * L + [q(2 * r)])
    res = sp.train(chain, 5e3, steps, lr_scale=[0.01] + [1] * L + [0.01])
    print(f"  d={d:>6} observed={sp.observed:.3g}: data {t_data:.1f} s, index build {t_build:.1f} s, "
          f"{res.seconds / steps * 1e3:.1f} ms/step ({res.n_threads} threads), problem {sp.memory_bytes / 2**30:.2f} GiB, "
          f"peak RSS {rss_gib():.2f} GiB; a wide d x d layer would be {d * d * 8 / 2**30:.0f} GiB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--skip", default="")
    a = ap.parse_args()
    header()
    if "fact" not in a.skip:
        factorisation()
    if "comp" not in a.skip:
        completion()
    print("\n[completion, 1% observed, compressed sparse path only]")
    big(10000)
    if a.big:
        big(a.big)
