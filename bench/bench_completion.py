"""Sparse compressed completion (issue "Speed", item 3). Ratios measured in this process.

    python bench/bench_completion.py                     # all cases, 2 threads (and 1 for ratios)
    python bench/bench_completion.py --repeats 3 --big 0 # skip d = 1e5
    python bench/bench_completion.py --cases total,float32

1. `total`: compressed completion d = 1000, r = 5, 20% observed, L = 3, eps = 1e-3, lr = 5e3,
   gamma = 0.01, to loss 1e-12 (`train_compressed`, sparse path): wall time of the whole call
   (compression, index build, the run and the lift), at n_threads = 1 and 2, repeats interleaved,
   medians; the 2-thread run's bits are compared with the 1-thread run's (they must be equal).
2. `float32`: the same chain on the float32 sparse path, per step (no tolerance to reach in float32).
3. `big`: d = 1e4 at 1% observed and --big (default 1e5) at 0.1%, per-step time at 1 and 2 threads and
   memory: the problem's stored entries (`memory_bytes`), the process's resident growth over the
   index build and the run, and the peak.

Importable (bench/run_all.py style): `total_case`, `float32_case`, `big_case` return dicts.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402  (stdlib only at import time)


def _rss_bytes() -> int:
    """Resident set size now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _low_rank(d, r, seed):
    import numpy as np

    U, s, Vt = np.linalg.svd(np.random.default_rng(seed).standard_normal((d, d)))
    return (U[:, :r] * s[:r]) @ Vt[:r]


def _completion(d=1000, r=5, L=3, eps=1e-3, p=0.2):
    import numpy as np

    import dln

    phi = _low_rank(d, r, 2)
    mask = np.random.default_rng(3).random((d, d)) < p
    return phi, mask, dln.Completion(phi, mask), dln.Network.orthogonal([d] * (L + 1), eps, seed=4)


def total_case(threads=(1, 2), repeats=3, d=1000, r=5, lr=5e3, gamma=0.01, tol=1e-12, steps=60000):
    """Wall time of `train_compressed` to `tol` at each thread count (interleaved repeats, medians)."""
    import numpy as np

    from dln.compression import train_compressed

    phi, mask, prob, net = _completion(d, r)
    times = {t: [] for t in threads}
    out = {}
    for _ in range(repeats):
        for t in threads:
            t0 = time.perf_counter()
            res = train_compressed(net, prob, lr, steps, rank=r, outer_lr_scale=gamma, tol=tol, record_every=100,
                                   n_threads=t)
            times[t].append(time.perf_counter() - t0)
            out[t] = res
    first = out[threads[0]]
    E = first.compressed.network.end_to_end()
    same = all(np.array_equal(np.asarray(a), np.asarray(b))
               for t in threads[1:]
               for a, b in zip(first.compressed.network.weights, out[t].compressed.network.weights))
    return {
        "d": d, "r": r, "observed": p_observed(mask), "tol": tol,
        "steps": first.steps, "status": first.status, "final_loss": first.final_loss,
        "recovery": float(0.5 * np.mean(((~mask) * (E - phi)) ** 2)),
        "total_s": {t: common.median(v) for t, v in times.items()},
        "samples_s": times,
        "loop_ms_per_step": {t: out[t].compressed.seconds / max(out[t].steps, 1) * 1e3 for t in threads},
        "n_threads_used": {t: out[t].compressed.n_threads for t in threads},
        "bitwise_equal_across_threads": bool(same),
    }


def p_observed(mask) -> float:
    return float(mask.mean())


def float32_case(threads=(1, 2), steps=2000, d=1000, r=5, lr=5e3, gamma=0.01):
    """Per-step time of the float32 sparse path on the same chain (float64 beside it)."""
    import numpy as np

    import dln
    from dln.compression import SparseCompletion, compress

    phi, mask, prob, net = _completion(d, r)
    comp = compress(net, prob, r, outer_lr_scale=gamma)
    out = {}
    for dtype in (np.float64, np.float32):
        sp = SparseCompletion.from_completion(prob, dtype)
        chain = dln.Network([np.asarray(w, dtype) for w in comp.network.weights])
        for t in threads:
            res = dln.train(chain, sp, lr, steps, lr_scale=comp.lr_scale, record_every=steps, n_threads=t)
            out[f"{np.dtype(dtype).name}-{t}t"] = res.seconds / steps * 1e3
    return {"ms_per_step": out, "steps": steps}


def _big_problem(d, frac, r, seed):
    """A rank-r target observed at `frac` of the d x d positions (per row, distinct columns; no d x d array)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((d, r)), rng.standard_normal((d, r))
    per = max(1, int(round(frac * d)))
    cols = np.empty((d, per), dtype=np.int64)
    for i in range(d):
        c = np.unique(rng.integers(0, d, 2 * per + 8))
        while c.size < per:  # rare for per << d
            c = np.unique(np.concatenate([c, rng.integers(0, d, per)]))
        cols[i] = rng.permutation(c)[:per]
    rows = np.repeat(np.arange(d, dtype=np.int64), per)
    cols = cols.ravel()
    vals = np.empty(rows.size)
    for s in range(0, rows.size, 10**6):
        e = min(s + 10**6, rows.size)
        vals[s:e] = np.einsum("ij,ij->i", A[rows[s:e]], B[cols[s:e]]) / np.sqrt(r)
    return rows, cols, vals


def big_case(d, frac, threads=(1, 2), r=5, L=3, seconds=2.0, seed=5):
    """Per-step time (about `seconds` per thread count) and memory of the sparse path at size d."""
    import numpy as np

    import dln
    from dln.compression import SparseCompletion

    rows, cols, vals = _big_problem(d, frac, r, seed)
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    sp = SparseCompletion((d, d), rows, cols, vals)
    t_build = time.perf_counter() - t0
    del rows, cols, vals
    rss_problem = _rss_bytes() - rss0
    rng = np.random.default_rng(seed + 1)
    q = lambda m: np.linalg.qr(rng.standard_normal((d, m)))[0]  # noqa: E731
    chain = dln.Network([q(2 * r).T] + [1e-3 * np.eye(2 * r)] * L + [q(2 * r)])
    scales = [0.01] + [1.0] * L + [0.01]
    out = {"d": d, "observed": sp.observed, "fraction": sp.observed / d / d, "index_build_s": t_build,
           "problem_bytes": sp.memory_bytes, "rss_problem_bytes": rss_problem, "ms_per_step": {}, "steps": {}}
    rss_before_runs = _rss_bytes()
    for t in threads:
        probe = dln.train(chain, sp, 5e3, 2, lr_scale=scales, n_threads=t)  # sizes the step count
        steps = int(min(10000, max(5, seconds / max(probe.seconds / 2, 1e-6))))
        res = dln.train(chain, sp, 5e3, steps, lr_scale=scales, record_every=steps, n_threads=t)
        out["ms_per_step"][t] = res.seconds / steps * 1e3
        out["steps"][t] = steps
    out["rss_runs_bytes"] = _rss_bytes() - rss_before_runs
    out["peak_rss_bytes"] = _peak_rss_bytes()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2, help="the largest thread count (ratios against 1)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--big", type=int, default=100000, help="d of the 0.1%% case (0: skip)")
    ap.add_argument("--cases", default="total,float32,big")
    a = ap.parse_args()
    note = common.configure_threads(a.threads)
    import numpy as np

    import dln

    threads = tuple(sorted({1, a.threads}))
    for line in common.machine_lines(a.threads, note):
        print(line)
    print(f"versions: dln {dln.__version__} ({os.path.dirname(dln.__file__)}), numpy {np.__version__}")
    info = dln.build_info()
    print(f"build   : {info.get('compiler')} {info.get('cxx_flags')} simd {info.get('simd')}")
    cases = set(a.cases.split(","))
    if "total" in cases:
        c = total_case(threads, a.repeats)
        print(f"\n[total] d={c['d']} r={c['r']} {c['observed']:.1%} observed, to loss {c['tol']:g}: "
              f"{c['steps']} steps, "
              f"status {c['status']}, final loss {c['final_loss']:.3g}, recovery {c['recovery']:.3g}")
        for t in threads:
            print(f"  {t} thread(s): total {c['total_s'][t]:7.3f} s (median of {a.repeats}; samples "
                  + ", ".join(f"{x:.2f}" for x in c["samples_s"][t])
                  + f"), loop {c['loop_ms_per_step'][t]:.3f} ms/step, used {c['n_threads_used'][t]}")
        if len(threads) > 1:
            print(f"  ratio 1t / {threads[-1]}t: {c['total_s'][1] / c['total_s'][threads[-1]]:.2f}; "
                  f"bitwise equal across threads: {c['bitwise_equal_across_threads']}; goal <= 6 s at 2 threads")
    if "float32" in cases:
        c = float32_case(threads)
        print(f"\n[float32] d=1000 r=5 20% chain, {c['steps']} steps each, ms/step: "
              + ", ".join(f"{k} {v:.3f}" for k, v in c["ms_per_step"].items()))
    if "big" in cases:
        print("\n[big] per-step time and memory (not a d x d array anywhere)")
        sizes = [(10000, 0.01)] + ([(a.big, 0.001 * 100000 / a.big)] if a.big else [])
        for d, frac in sizes:
            c = big_case(d, frac, threads)
            print(f"  d={d:>6} observed={c['observed']:.3g} ({c['fraction']:.2%}): "
                  f"index build {c['index_build_s']:.2f} s, "
                  + ", ".join(f"{t}t {c['ms_per_step'][t]:.2f} ms/step ({c['steps'][t]} steps)" for t in threads)
                  + f"; problem {c['problem_bytes'] / 2**20:.0f} MiB (RSS +{c['rss_problem_bytes'] / 2**20:.0f} MiB), "
                  f"runs RSS +{c['rss_runs_bytes'] / 2**20:.0f} MiB, peak RSS {c['peak_rss_bytes'] / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
