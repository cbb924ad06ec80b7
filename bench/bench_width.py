"""Width benchmark (issue 17): time and peak memory to the same loss against d = 1e2 .. 1e6.

    python bench/bench_width.py [--max-width 1000000] [--dense-budget 60] [--completion]

Three ways to the same factorisation loss (dln.science.width: L = 3, r = 10, eps = 1e-3, GD,
lr = 0.3 sum units, tol 1e-10): wide dense training (dln.train; estimated from its measured per-step
time where a run would exceed --dense-budget seconds), dense init + compress="auto", and the implicit
path. Each up to where it fits (dense 4000, compressed 8000, implicit --max-width). Every measurement
runs in its own subprocess, one thread, so its peak RSS is its own. Measured, never asserted.
With --completion also the issue's completion case: d = 1e5, r = 5, 1e7 observed entries, to 1e-10
(sum units, observed singular values ~1, lr 0.3, gamma 0.01, two threads; --completion-steps caps it).
Writes bench/results/width.json.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

COMPLETION = r"""
import json, resource, time
import numpy as np
import dln
from dln import implicit as im
from dln.compression import SparseCompletion
d, r, n_obs, L = {d}, 5, {n_obs}, 3
t0 = time.perf_counter()
rng = np.random.default_rng(0)
U, V = (np.linalg.qr(rng.standard_normal((d, r)))[0] for _ in range(2))
s = np.linspace(1.0, 0.5, r) * d * d / n_obs  # sum units: P_Omega(Phi) has singular values ~1 (as the DMF case)
idx = np.unique(rng.integers(0, d * d, size=int(n_obs * 1.01)))[:n_obs]
rows, cols = idx // d, idx % d
vals = np.einsum("ij,ij->i", U[rows] * s, V[cols])
prob = SparseCompletion((d, d), rows, cols, vals, "sum")
net = dln.Network.orthogonal([d] * (L + 1), 1e-3, seed=1, implicit=True)
setup = time.perf_counter() - t0
res = dln.train(net, prob, {lr}, {steps}, tol=1e-10, compress=r, n_threads={threads})
print(json.dumps(dict(d=d, observed=int(rows.size), status=res.status, steps=res.steps, loss=res.final_loss,
                      seconds=time.perf_counter() - t0, setup_seconds=setup, chain_seconds=res.seconds,
                      subspace_iterations=res.compression.subspace["iterations"],
                      peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-width", type=int, default=10**6)
    ap.add_argument("--dense-budget", type=float, default=60.0)
    ap.add_argument("--completion", action="store_true")
    ap.add_argument("--completion-steps", type=int, default=200000,
                    help="cap on the completion run's steps (a capped run reports its per-step time)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "width.json"))
    args = ap.parse_args()
    print(common.configure_threads(1))
    from dln.science import width as we

    widths = [w for w in (100, 316, 1000, 3162, 10000, 31623, 100000, 316228, 1000000) if w <= args.max_width]
    t0 = time.perf_counter()
    rec = we.width(widths=widths, dense_budget_s=args.dense_budget, progress=True)
    print(f"{'method':<11} {'d':>8} {'status':<10} {'steps':>6} {'seconds':>9} {'s/step':>9} {'peak RSS MiB':>12}")
    for r in sorted(rec["runs"], key=lambda r: (r["method"], r["d"])):
        per = r.get("per_step_s", (r["seconds"] / r["steps"]) if r.get("steps") else float("nan"))
        print(f"{r['method']:<11} {r['d']:>8} {r.get('status', '?'):<10} {r.get('steps', 0):>6} "
              f"{r.get('seconds', float('nan')):>9.3g} {per:>9.3g} {r.get('peak_rss_bytes', 0) / 2**20:>12.0f}")
    out = dict(rec)
    if args.completion:
        import subprocess
        code = COMPLETION.format(d=100000, n_obs=10**7, lr=0.3, steps=args.completion_steps, threads=2)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        ok = proc.returncode == 0
        out["completion"] = json.loads(proc.stdout.strip().splitlines()[-1]) if ok else proc.stderr[-2000:]
        print("completion:", out["completion"])
    out["wall_seconds"] = time.perf_counter() - t0
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, default=float)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
