"""One tracked SVD update vs numpy.linalg.svd of the same matrix, and the cost of tracking a run.

    python bench/bench_tracker.py [--sizes 1000 2000 4000] [--ranks 20 40] [--run-d 4000] [--run-steps 3]

Ratios are measured in the same process. The update counts all its work: rotating A into the
Q-frame (O(d^2 k)), the Brand update and the deflation; `update_dense` also finds alpha and the
low-rank factors from the dense new matrix (what dln.train does each step). Every timed result is
checked: the tracker's spectrum against the full SVD.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

import dln


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def haar(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def update_table(sizes, ranks):
    rng = np.random.default_rng(0)
    print(f"{'d':>5} {'s':>3} {'k':>3} {'np.svd s':>9} {'update ms':>10} {'ratio':>8} {'dense ms':>9} {'ratio':>7} {'sv err/s1':>10}")
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
            t_upd, _ = best_of(lambda: tr.update(A, B, 0.999), 5)
            W = 0.999 ** 5 * W + sum(0.999 ** i for i in range(5)) * (A @ B.T)
            W2 = 0.999 * W + A @ B.T
            t_dense, info = best_of(lambda: tr.update_dense(W2, max_update_rank=k), 1)
            assert not info["split_failed"], info["reason"]
            t_svd, s_ref = best_of(lambda: np.linalg.svd(W2, compute_uv=True)[1], 1)
            err = np.abs(tr.spectrum() - s_ref).max() / s_ref[0]
            print(f"{d:>5} {s:>3} {k:>3} {t_svd:>9.2f} {1e3 * t_upd:>10.2f} {t_svd / t_upd:>8.0f} "
                  f"{1e3 * t_dense:>9.1f} {t_svd / t_dense:>7.0f} {err:>10.1e}")


def run_overhead(d, depth, steps):
    rng = np.random.default_rng(1)
    r = 10
    u, s, vt = np.linalg.svd(rng.standard_normal((d, d)))
    phi = (u[:, :r] * s[:r]) @ vt[:r]
    net = dln.Network.orthogonal([d] * (depth + 1), scale=1e-3 if d >= 1000 else 1.0, seed=0)
    problem = dln.Factorization(phi)
    lr = 1e3
    plain = dln.train(net, problem, lr=lr, steps=steps)
    tracked = dln.train(net, problem, lr=lr, steps=steps,
                        track_svd=dln.TrackSpec(every=1, block_r=r, update_rank=2 * r))
    assert tracked.svd.events == [], tracked.svd.events
    print(f"run d={d} L={depth} steps={steps}: plain {plain.seconds:.2f} s, tracked every step {tracked.seconds:.2f} s, "
          f"overhead {100 * (tracked.seconds / plain.seconds - 1):.1f}%; certificate max "
          f"{tracked.svd.certificate.max():.1e}, s = {tracked.svd.rank[-1].tolist()}, "
          f"bulk angle max {np.nanmax(tracked.svd.angles_right[:, :, 1]) if steps > 1 else float('nan'):.1e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000, 4000])
    ap.add_argument("--ranks", type=int, nargs="+", default=[20, 40])
    ap.add_argument("--run-d", type=int, default=4000)
    ap.add_argument("--run-depth", type=int, default=3)
    ap.add_argument("--run-steps", type=int, default=3)
    args = ap.parse_args()
    info = dln.build_info()
    print(f"machine: {platform.processor() or platform.machine()}, {info.get('hardware_threads')} threads; "
          f"numpy {np.__version__}; dln gemm {info.get('gemm_backend')}; flags {info.get('cxx_flags')}")
    if args.sizes:
        update_table(args.sizes, args.ranks)
    if args.run_d:
        run_overhead(args.run_d, args.run_depth, args.run_steps)


if __name__ == "__main__":
    main()
