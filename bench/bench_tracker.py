"""One tracked SVD update vs numpy.linalg.svd of the same matrix, and the cost of tracking a run.

    python bench/bench_tracker.py [--sizes 1000 2000 4000] [--ranks 20 40] [--run-d 1000 2000 4000] [--run-steps 3]

Issue 4's performance table. Ratios are measured in the same process. The update counts all its
work: rotating A into the Q-frame (O(d^2 k)), the Brand update and the deflation; `update_dense`
also finds alpha and the low-rank factors from the dense new matrix (what dln.train does each
step). Every timed result is checked: the tracker's spectrum against the full SVD.

The run section trains a d x d factorisation (L layers) plainly and tracked every step, alternating,
a few times; the overhead is the median tracked time over the median plain one (the loop's own
clock, setup included: the tracker's initial probe and copy of Q count against it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import common


def _threads_from_argv():
    # Thread pools read their environment once, at load: --threads is applied before NumPy loads.
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return None


if __name__ == "__main__":  # imported (bench/run_all.py), the importer has configured the threads
    _THREADS = _threads_from_argv()
    _THREAD_NOTE = (common.configure_threads(_THREADS) if _THREADS else
                    "library defaults: all cores for dln and NumPy's OpenBLAS")

import numpy as np  # noqa: E402

import dln  # noqa: E402

# Issue 4's goals: update >= 100x faster than the full SVD at d = 1000, >= 500x at d = 4000; a
# tracked run costs <= 10% more than the plain one.
GOAL_RATIO = {1000: 100, 4000: 500}
GOAL_OVERHEAD = 0.10


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def haar(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def load1():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def update_table(sizes, ranks, repeat):
    rng = np.random.default_rng(0)
    print(f"{'d':>5} {'s':>3} {'k':>3} {'np.svd s':>9} {'update ms':>10} {'(min)':>7} {'ratio':>7} {'goal':>6} "
          f"{'dense ms':>9} {'ratio':>6} {'sv err/s1':>10} {'load':>5}")
    for d in sizes:
        Q = haar(d, rng)
        for s in ranks:
            rho, k = 0.5, s // 2
            V = np.linalg.qr(rng.standard_normal((d, s)))[0]
            D = rng.standard_normal((s, s)) / np.sqrt(s)
            W = rho * Q + Q @ V @ D @ V.T
            tr = dln.SvdTracker(W, Q=Q, rho=rho, max_rank=2 * s)
            # A steady-state step: the update lives in span(V) (rank k), so s stays at s.
            A = Q @ V @ rng.standard_normal((s, k)) * 1e-3
            B = V @ rng.standard_normal((s, k))
            t_upd, _ = timed(lambda: tr.update(A, B, 0.999), repeat)
            W = 0.999 ** repeat * W + sum(0.999 ** i for i in range(repeat)) * (A @ B.T)
            W2 = 0.999 * W + A @ B.T
            t_dense, info = timed(lambda: tr.update_dense(W2, max_update_rank=k), 1)
            assert not info["split_failed"], info["reason"]
            t_svd, (_, s_ref, _) = timed(lambda: np.linalg.svd(W2, compute_uv=True), 1)
            err = np.abs(tr.spectrum() - s_ref).max() / s_ref[0]
            assert err <= 1e-12, f"tracked spectrum off by {err:.2e} sigma_1"
            med, svd_s = statistics.median(t_upd), t_svd[0]
            goal = GOAL_RATIO.get(d)
            mark = "" if goal is None else (f">={goal}" if svd_s / med >= goal else f"<{goal}!")
            print(f"{d:>5} {s:>3} {k:>3} {svd_s:>9.2f} {1e3 * med:>10.2f} {1e3 * min(t_upd):>7.2f} "
                  f"{svd_s / med:>7.0f} {mark:>6} {1e3 * t_dense[0]:>9.1f} {svd_s / t_dense[0]:>6.0f} "
                  f"{err:>10.1e} {load1():>5.1f}", flush=True)


def run_overhead(d, depth, steps, threads, repeat, check_svd=False, strict=True):
    """Plain vs tracked-every-step training of a d x d factorisation, alternating; prints a summary.

    Returns {"plain", "tracked"}: the loop's own seconds per step of each run, "overhead" (median
    tracked over median plain, minus 1), "identical" (tracking left the weights bitwise unchanged),
    "events", and with `check_svd` "sv_rel": the tracked spectrum of the last layer against
    numpy.linalg.svd of its final weights (max difference over sigma_1). `strict` asserts that
    no event happened and the weights are identical; otherwise the caller reports them.
    """
    rng = np.random.default_rng(1)
    r = 10
    u, s, vt = np.linalg.svd(rng.standard_normal((d, d)))
    phi = (u[:, :r] * s[:r]) @ vt[:r]
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1e-3 if d >= 1000 else 1.0, seed=0)
    problem = dln.Factorization(phi)
    lr = 1e3
    spec = dln.TrackSpec(every=1, block_r=r, update_rank=2 * r)
    plain, tracked = [], []
    for _ in range(repeat):  # alternating, so that a drift in the machine's load hits both alike
        plain.append(dln.train(net, problem, lr=lr, steps=steps, n_threads=threads))
        tracked.append(dln.train(net, problem, lr=lr, steps=steps, track_svd=spec, n_threads=threads))
    t = tracked[-1]
    identical = all(np.array_equal(a, b)  # tracking observes only
                    for a, b in zip(plain[-1].network.weights, t.network.weights))
    if strict:
        assert t.svd.events == [], t.svd.events
        assert identical
    base = statistics.median(p.seconds for p in plain)
    with_tracking = statistics.median(x.seconds for x in tracked)
    over = with_tracking / base - 1
    angle = np.nanmax(t.svd.angles_right[:, :, 1]) if steps > 1 else float("nan")
    print(f"run d={d} L={depth} steps={steps}, tracked every step (update_rank {2 * r}, block_r {r}), "
          f"median of {repeat} alternating runs:")
    print(f"  plain {base:.2f} s, tracked {with_tracking:.2f} s: "
          f"overhead {100 * over:.1f}% (goal <= {100 * GOAL_OVERHEAD:.0f}%"
          f"{'' if over <= GOAL_OVERHEAD else ' MISSED'}); tracking alone "
          f"{(with_tracking - base) / steps / depth * 1e3:.0f} ms per layer per step "
          f"(runs: plain {' '.join(f'{p.seconds:.2f}' for p in plain)}, "
          f"tracked {' '.join(f'{x.seconds:.2f}' for x in tracked)})")
    print(f"  certificate max {t.svd.certificate.max():.1e}, orthogonality max "
          f"{t.svd.orthogonality.max():.1e}, s = {t.svd.rank[-1].tolist()}, "
          f"bulk angle max {angle:.1e}, load {load1():.1f}", flush=True)
    out = {"plain": [p.seconds / steps for p in plain], "tracked": [x.seconds / steps for x in tracked],
           "overhead": over, "identical": identical, "events": [str(e) for e in t.svd.events]}
    if check_svd:
        ref = np.linalg.svd(np.asarray(t.network.weights[-1]), compute_uv=False)
        out["sv_rel"] = float(np.abs(t.svd.spectra[-1][-1] - ref).max() / ref[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000, 4000])
    ap.add_argument("--ranks", type=int, nargs="+", default=[20, 40])
    ap.add_argument("--repeat", type=int, default=7, help="timed updates per row (median and min shown)")
    ap.add_argument("--run-d", type=int, nargs="*", default=[4000], help="sizes of the tracked-run section")
    ap.add_argument("--run-depth", type=int, default=3)
    ap.add_argument("--run-steps", type=int, default=3)
    ap.add_argument("--run-repeat", type=int, default=3, help="alternating plain / tracked runs (medians shown)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for NumPy's BLAS and dln (default: each library's own, all cores)")
    args = ap.parse_args()
    info = dln.build_info()
    pools = common.limit_loaded_pools(args.threads) if args.threads else None  # noqa: F841 (kept alive)
    for line in common.machine_lines(args.threads or info.get("hardware_threads"), _THREAD_NOTE):
        print(line)
    print(f"versions: numpy {np.__version__}, dln {dln.__version__}; dln gemm {info.get('gemm_backend')}, "
          f"flags {info.get('cxx_flags')}")
    for line in common.blas_lines():
        print(line)
    if args.sizes:
        update_table(args.sizes, args.ranks, args.repeat)
    for d in args.run_d:
        run_overhead(d, args.run_depth, args.run_steps, _THREADS, args.run_repeat)


if __name__ == "__main__":
    main()
