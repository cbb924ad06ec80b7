"""Batched training: many small independent deep linear networks, dln.train_batch against peers.

Issue "Batched training". Three measurements, all float64, plain GD, mean loss
(loss = 1/2 c ||W_L...W_1 - Phi||^2, c = 1/d^2), manual gradients from prefix/suffix products:

  1  batch   256 independent nets, factorisation d = 30, L = 3 (widths [30,30,30,30]), each net its own
             orthogonal init (dln.Network.orthogonal, seed i), one shared rank-3 target. Time per GD
             step of the whole batch, averaged over one call of S steps:
               numpy  stacked (256,30,30) arrays, batched `@` with out= buffers
               torch  torch.bmm under no_grad, out= buffers
               jax    jit(fori_loop(vmap(step)))
               dln    dln.train_batch([(net_i, problem, dict(lr, steps=S))...], n_threads=T)
             Every implementation's final weights are scored by one float64 reference loss; the
             max relative difference of the 256 final losses against dln is printed.
  2  tiny    one net d = 8, L = 3: per-step time inside a compiled loop: dln.train(n_threads=1)
             result.seconds / steps, JAX jit fori_loop, and a plain NumPy Python loop.
  3  scaling 64 nets d = 30, L = 3: dln.train_batch n_threads=1 vs 2, speedup ratio.

Threads: thread pools are fixed when NumPy/torch/JAX load, so each thread count T in {1, 2} runs in
its own worker subprocess (this file with --worker T) that pins every library to T threads before
importing it (bench/common.configure_threads: env vars, and CPU affinity for T=1, which is what XLA
obeys; threadpoolctl for NumPy's OpenBLAS; torch.set_num_threads). Peers report the better of T = 1
and 2; dln is shown at both. Times are medians of interleaved repeats (round-robin over the
implementations, so drifts in the shared machine's load hit all alike).

    python bench/bench_batch.py            # full run
    python bench/bench_batch.py --quick    # smoke run: fewer steps and repeats
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (stdlib only at import time)

BATCH, D, L, RANK = 256, 30, 3, 3
TINY_D = 8
SCALE_BATCH = 64
MARK = "@@BENCH_BATCH_JSON@@ "


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few steps and repeats (smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5; quick 2)")
    p.add_argument("--steps", type=int, default=None,
                   help="GD steps per timed call of the 256-net batch (default 200; quick 40)")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # internal
    a = p.parse_args(argv)
    a.repeats = a.repeats or (2 if a.quick else 5)
    a.steps = a.steps or (40 if a.quick else 200)
    a.tiny_steps = 10_000 if a.quick else 100_000  # dln and JAX (compiled loops)
    a.tiny_np_steps = 2_000 if a.quick else 20_000  # NumPy Python loop
    a.scale_steps = 100 if a.quick else 500
    return a


# ==============================================================================================
# Worker: runs in a subprocess with every library pinned to `T` threads; prints one JSON line.


def worker(args: argparse.Namespace, T: int) -> dict:
    note = common.configure_threads(T)  # before numpy/torch/jax load their pools
    import numpy as np

    import dln
    import torch
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    torch.set_num_threads(T)
    pools = common.limit_loaded_pools(T)  # noqa: F841  (keep alive)
    med = common.median
    out: dict = {"T": T, "thread_note": note}
    out["versions"] = {"python": sys.version.split()[0], "numpy": np.__version__,
                       "torch": torch.__version__, "jax": jax.__version__,
                       "dln": getattr(dln, "__version__", "?")}
    info = dln.build_info()
    out["gemm_backend"] = str(info.get("gemm_backend", "?"))
    out["pools"] = common.blas_lines()
    out["gemm_gflops"] = common.gemm_gflops(np.float64, n=1000, repeats=3 if args.quick else 7)

    # ------------------------------------------------------------------ shared problem data
    rng = np.random.default_rng(0)
    widths = [D] * (L + 1)
    Phi = common.low_rank(D, D, RANK, rng)
    c = 1.0 / (D * D)
    lr = 0.1 / L / c  # mean units; = 0.1/L in sum units, far from divergence at orthogonal init
    nets = [dln.Network.orthogonal(widths, seed=i) for i in range(BATCH)]
    W0 = [np.stack([n.weights[l] for n in nets]) for l in range(L)]  # each (BATCH, D, D)
    problem = dln.Factorization(Phi, reduction="mean")
    S = args.steps

    def ref_losses(Ws) -> list:
        Ws = [np.asarray(w, np.float64) for w in Ws]
        E = Ws[2] @ Ws[1] @ Ws[0]
        R = E - Phi
        return (0.5 * c * np.einsum("bij,bij->b", R, R)).tolist()

    out["init_loss_mean"] = float(np.mean(ref_losses(W0)))

    # ------------------------------------------------------------------ 1. the batch
    class NumpyBatch:
        label = "numpy stacked @"

        def __init__(self, W0, Phi, steps):
            self.W0, self.Phi, self.steps = W0, Phi, steps
            b, d = W0[0].shape[0], W0[0].shape[1]
            self.P1, self.P2, self.R, self.Bk, self.G = (np.empty((b, d, d)) for _ in range(5))

        def reset(self):
            self.W = [w.copy() for w in self.W0]

        def run(self):
            W1, W2, W3 = self.W
            P1, P2, R, Bk, G = self.P1, self.P2, self.R, self.Bk, self.G
            k = lr * c  # gradients are linear in R: fold the step size in once
            for _ in range(self.steps):
                np.matmul(W2, W1, out=P1)
                np.matmul(W3, P1, out=P2)
                np.subtract(P2, self.Phi, out=R)
                R *= k
                np.matmul(W3.transpose(0, 2, 1), R, out=Bk)   # B = W3^T R (before W3 changes)
                np.matmul(R, P1.transpose(0, 2, 1), out=G)    # G3 = R P1^T
                W3 -= G
                np.matmul(W2.transpose(0, 2, 1), Bk, out=G)   # G1 = W2^T B (before W2 changes)
                np.matmul(Bk, W1.transpose(0, 2, 1), out=P2)  # G2 = B W1^T (P2 reused)
                W1 -= G
                W2 -= P2

        def weights(self):
            return self.W

    class TorchBatch:
        label = "torch bmm"

        def __init__(self, W0, Phi, steps):
            self.W0 = [torch.from_numpy(w.copy()) for w in W0]
            self.Phi, self.steps = torch.from_numpy(np.ascontiguousarray(Phi)), steps
            b, d = W0[0].shape[0], W0[0].shape[1]
            self.P1, self.P2, self.R, self.Bk, self.G = (
                torch.empty((b, d, d), dtype=torch.float64) for _ in range(5))

        def reset(self):
            self.W = [w.clone() for w in self.W0]

        def run(self):
            W1, W2, W3 = self.W
            P1, P2, R, Bk, G = self.P1, self.P2, self.R, self.Bk, self.G
            k = lr * c
            with torch.no_grad():
                for _ in range(self.steps):
                    torch.bmm(W2, W1, out=P1)
                    torch.bmm(W3, P1, out=P2)
                    torch.sub(P2, self.Phi, out=R)
                    R.mul_(k)
                    torch.bmm(W3.transpose(1, 2), R, out=Bk)
                    torch.bmm(R, P1.transpose(1, 2), out=G)
                    W3.sub_(G)
                    torch.bmm(W2.transpose(1, 2), Bk, out=G)
                    torch.bmm(Bk, W1.transpose(1, 2), out=P2)
                    W1.sub_(G)
                    W2.sub_(P2)

        def weights(self):
            return [w.numpy() for w in self.W]

    def jax_step(W1, W2, W3, Phi):
        P1 = W2 @ W1
        P2 = W3 @ P1
        R = (lr * c) * (P2 - Phi)
        G3 = R @ P1.T
        B = W3.T @ R
        G2 = B @ W1.T
        G1 = W2.T @ B
        return W1 - G1, W2 - G2, W3 - G3

    class JaxLoop:
        """jit(fori_loop(step)) for `steps` steps; `batched` vmaps the step over the leading axis."""

        def __init__(self, W0, Phi, steps, batched, label):
            self.label = label
            self.W0 = [jnp.asarray(w) for w in W0]
            self.Phi, self.steps = jnp.asarray(Phi), steps
            step = jax.vmap(jax_step, in_axes=(0, 0, 0, None)) if batched else jax_step

            def loop(W1, W2, W3, Phi):
                body = lambda _, ws: step(*ws, Phi)  # noqa: E731
                return lax.fori_loop(0, steps, body, (W1, W2, W3))

            self.fn = jax.jit(loop)

        def reset(self):
            pass  # inputs are immutable

        def run(self):
            self.W = self.fn(*self.W0, self.Phi)
            jax.block_until_ready(self.W)

        def weights(self):
            return [np.asarray(w) for w in self.W]

    class DlnBatch:
        def __init__(self, nets, problem, steps, n_threads):
            self.label = f"dln train_batch"
            self.jobs = [(n, problem, dict(lr=lr, steps=steps, record_every=steps)) for n in nets]
            self.n_threads, self.steps = n_threads, steps

        def reset(self):
            pass

        def run(self):
            self.res = dln.train_batch(self.jobs, n_threads=self.n_threads, progress=False)

        def weights(self):
            return [np.stack([r.network.weights[l] for r in self.res]) for l in range(L)]

    def time_all(runners, repeats, steps) -> dict:
        ts = {r.label: [] for r in runners}
        for r in runners:  # warm-up: JIT compile, first touch, pool start-up
            r.reset()
            r.run()
            time.sleep(0.05)
        for _ in range(repeats):
            for r in runners:
                r.reset()
                time.sleep(0.05)
                t0 = time.perf_counter()
                r.run()
                ts[r.label].append((time.perf_counter() - t0) / steps)
        return ts

    runners = [NumpyBatch(W0, Phi, S), TorchBatch(W0, Phi, S),
               JaxLoop(W0, Phi, S, True, "jax jit(vmap) fori_loop"), DlnBatch(nets, problem, S, T)]
    t_jit = time.perf_counter()
    runners[2].run()
    out["jax_compile_s"] = time.perf_counter() - t_jit
    ts = time_all(runners, args.repeats, S)
    out["batch"] = {r.label: {"times": ts[r.label], "losses": ref_losses(r.weights())}
                    for r in runners}
    out["batch"]["dln train_batch"]["core_final_loss"] = [x.final_loss for x in runners[3].res]
    out["batch"]["dln train_batch"]["status"] = sorted({x.status for x in runners[3].res})

    # ------------------------------------------------------------------ 2. one tiny net
    tw = [TINY_D] * (L + 1)
    trng = np.random.default_rng(1)
    tPhi = common.low_rank(TINY_D, TINY_D, RANK, trng)
    tc = 1.0 / (TINY_D * TINY_D)
    tlr_sum = 0.1 / L
    tnet = dln.Network.orthogonal(tw, seed=0)
    tprob = dln.Factorization(tPhi, reduction="mean")
    tW0 = tnet.weights
    ns, js, nps = args.tiny_steps, args.tiny_steps, args.tiny_np_steps

    class TinyNumpy:
        label = "numpy python loop"

        def reset(self):
            self.W = [w.copy() for w in tW0]

        def run(self):
            W1, W2, W3 = self.W
            k = tlr_sum  # = lr_mean * c
            for _ in range(nps):
                P1 = W2 @ W1
                R = k * (W3 @ P1 - tPhi)
                G3 = R @ P1.T
                B = W3.T @ R
                G2 = B @ W1.T
                G1 = W2.T @ B
                W1 -= G1
                W2 -= G2
                W3 -= G3

    class TinyDln:
        label = "dln train (n_threads=1)"

        def reset(self):
            pass

        def run(self):
            self.res = dln.train(tnet, tprob, lr=tlr_sum / tc, steps=ns, n_threads=1,
                                 record_every=ns, progress=False)

    # the JAX tiny loop uses jax_step, whose lr*c is the batch's; rebuild with the tiny constants
    def tiny_jax_step(W1, W2, W3, Phi):
        P1 = W2 @ W1
        R = tlr_sum * (W3 @ P1 - Phi)
        G3 = R @ P1.T
        B = W3.T @ R
        return W1 - W2.T @ B, W2 - B @ W1.T, W3 - G3

    class TinyJax:
        label = "jax jit fori_loop"

        def __init__(self):
            self.W0 = [jnp.asarray(w) for w in tW0]
            self.fn = jax.jit(lambda a, b, d, P: lax.fori_loop(
                0, js, lambda _, ws: tiny_jax_step(*ws, P), (a, b, d)))
            self.P = jnp.asarray(tPhi)

        def reset(self):
            pass

        def run(self):
            self.W = self.fn(*self.W0, self.P)
            jax.block_until_ready(self.W)

    tiny = [TinyDln(), TinyJax(), TinyNumpy()]
    steps_of = {"dln train (n_threads=1)": ns, "jax jit fori_loop": js, "numpy python loop": nps}
    tts = {r.label: [] for r in tiny}
    for r in tiny:
        r.reset()
        r.run()
    for _ in range(args.repeats):
        for r in tiny:
            r.reset()
            time.sleep(0.05)
            t0 = time.perf_counter()
            r.run()
            tts[r.label].append((time.perf_counter() - t0) / steps_of[r.label])
    tts["dln train (result.seconds)"] = [tiny[0].res.seconds / ns]  # last repeat, C++ loop only
    # one check that the three agree (NumPy after nps steps vs a dln run of nps steps)
    chk = dln.train(tnet, tprob, lr=tlr_sum / tc, steps=nps, n_threads=1, record_every=nps,
                    progress=False)
    tiny[2].reset()
    tiny[2].run()
    jchk = jax.jit(lambda a, b, d, P: lax.fori_loop(
        0, nps, lambda _, ws: tiny_jax_step(*ws, P), (a, b, d)))(*tiny[1].W0, tiny[1].P)

    def tloss(Ws):
        E = np.asarray(Ws[2]) @ np.asarray(Ws[1]) @ np.asarray(Ws[0]) - tPhi
        return 0.5 * tc * float(np.vdot(E, E))

    lref = tloss(chk.network.weights)
    out["tiny"] = {"times": tts, "steps": steps_of,
                   "check_steps": nps, "check_loss": lref,
                   "check_reldiff": max(abs(tloss(tiny[2].W) - lref), abs(tloss(jchk) - lref))
                   / abs(lref)}

    # ------------------------------------------------------------------ 3. scaling (T=2 worker)
    if T >= 2:
        snets = nets[:SCALE_BATCH]
        sr = [DlnBatch(snets, problem, args.scale_steps, 1), DlnBatch(snets, problem, args.scale_steps, 2)]
        sr[0].label, sr[1].label = "n_threads=1", "n_threads=2"
        out["scaling"] = time_all(sr, args.repeats, args.scale_steps)
        a, b = sr[0].weights(), sr[1].weights()
        out["scaling_identical"] = all(np.array_equal(x, y) for x, y in zip(a, b))
    return out


# ==============================================================================================
# Driver: machine report, one worker per thread count, tables.


def fma_peak_line() -> str:
    """Rough FMA peak per core from the TSC rate and the SIMD flags (assumes 2 FMA pipes)."""
    try:
        txt = open("/proc/cpuinfo").read()
    except OSError:
        return "n/a"
    ghz = None
    for line in txt.splitlines():
        if line.startswith("cpu MHz"):
            ghz = float(line.split(":")[1]) / 1000
            break
        if line.startswith("bogomips") and ghz is None:
            ghz = float(line.split(":")[1]) / 2000  # bogomips = 2 x TSC MHz on x86
    flags = next((l for l in txt.splitlines() if l.startswith("flags")), "")
    lanes = 8 if " avx512f" in flags else 4 if " avx2" in flags and " fma" in flags else 2
    if ghz is None:
        return "n/a"
    per_core = ghz * lanes * 2 * 2  # lanes x (mul+add) x 2 pipes
    simd = "AVX-512" if lanes == 8 else "AVX2+FMA" if lanes == 4 else "SSE2"
    return (f"~{per_core:.0f} GFLOP/s/core float64 ({ghz:.2f} GHz x {simd} {lanes} lanes x 2 FMA "
            f"pipes x 2; rough)")


def fmt_t(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.2f} us"


def main() -> None:
    args = parse_args()
    if args.worker is not None:
        print(MARK + json.dumps(worker(args, args.worker)), flush=True)
        return

    t_start = time.time()
    load0 = os.getloadavg()
    usable = len(os.sched_getaffinity(0))
    print("bench_batch: batched training of small deep linear networks (issue 'Batched training')")
    print(f"command : {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"machine : {common.cpu_model()} | {os.cpu_count()} logical CPUs, {usable} usable")
    print(f"load    : start {', '.join(f'{x:.2f}' for x in load0)} (1/5/15 min; shared machine)")
    print(f"fma pk  : {fma_peak_line()}")
    print(f"sizes   : 1) {BATCH} nets d={D} L={L} rank-{RANK} target, {args.steps} steps/call; "
          f"2) 1 net d={TINY_D} L={L}, {args.tiny_steps} steps (numpy {args.tiny_np_steps}); "
          f"3) {SCALE_BATCH} nets d={D} L={L}, {args.scale_steps} steps; "
          f"{args.repeats} repeats, medians; float64, GD, mean loss")

    res = {}
    for T in (1, 2):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(T),
               "--repeats", str(args.repeats), "--steps", str(args.steps)] + (["--quick"] if args.quick else [])
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        lines = [l for l in p.stdout.splitlines() if l.startswith(MARK)]
        if p.returncode != 0 or not lines:
            sys.stderr.write(p.stdout + p.stderr)
            sys.exit(f"worker T={T} failed (rc {p.returncode})")
        res[T] = json.loads(lines[-1][len(MARK):])
        print(f"worker  : T={T} done in {time.time() - t0:.0f} s ({res[T]['thread_note']})")

    med = common.median
    v = res[2]["versions"]
    print(f"versions: python {v['python']}, numpy {v['numpy']}, torch {v['torch']}, jax {v['jax']}, "
          f"dln {v['dln']} (gemm_backend: {res[2]['gemm_backend']})")
    for line in res[2]["pools"]:
        print(line)
    print(f"numpy GEMM 1000^3 float64: {res[1]['gemm_gflops']:.1f} GFLOP/s (1 thread), "
          f"{res[2]['gemm_gflops']:.1f} GFLOP/s (2 threads)")

    # ------------------------------------------------------------------ 1
    flops = BATCH * (3 * L - 3) * 2.0 * D**3  # 6 d x d products per net and step
    print()
    print(f"1) {BATCH} independent nets, d={D}, L={L}: time per GD step of the whole batch "
          f"({flops / 1e6:.1f} MFLOP/step)")
    labels = list(res[1]["batch"])
    rows, best = [], {}
    for lab in labels:
        for T in (1, 2):
            m = med(res[T]["batch"][lab]["times"])
            best[(lab, T)] = m
    peers = [l for l in labels if not l.startswith("dln")]
    best_peer_t, best_peer = min((min(best[(l, 1)], best[(l, 2)]), l) for l in peers)
    best_peer_T = 1 if best[(best_peer, 1)] <= best[(best_peer, 2)] else 2
    for lab in labels:
        for T in (1, 2):
            ts = res[T]["batch"][lab]["times"]
            m = med(ts)
            rows.append([lab, str(T), fmt_t(m), fmt_t(min(ts)), f"{m / BATCH * 1e6:.2f}",
                         f"{flops / m / 1e9:.2f}", f"{best_peer_t / m:.2f}x"])
    print(common.fmt_table(["impl", "thr", "median/step", "min/step", "us/net/step", "GFLOP/s",
                            "best-peer/this"], rows))
    dln_best_T = 1 if best[("dln train_batch", 1)] <= best[("dln train_batch", 2)] else 2
    dln_best = best[("dln train_batch", dln_best_T)]
    print(f"   best peer: {best_peer} @ {best_peer_T} thr = {fmt_t(best_peer_t)}; dln best: "
          f"{dln_best_T} thr = {fmt_t(dln_best)}; speedup best-peer/dln = {best_peer_t / dln_best:.2f}x "
          f"(at 1 thread: {min(best[(l, 1)] for l in peers) / best[('dln train_batch', 1)]:.2f}x, "
          f"at 2 threads: {min(best[(l, 2)] for l in peers) / best[('dln train_batch', 2)]:.2f}x)")
    ref = res[1]["batch"]["dln train_batch"]["losses"]
    worst = 0.0
    parts = []
    for lab in labels:
        for T in (1, 2):
            ls = res[T]["batch"][lab]["losses"]
            r = max(abs(a - b) / abs(b) for a, b in zip(ls, ref))
            worst = max(worst, r)
            parts.append(f"{lab.split()[0]}/{T}: {r:.1e}")
    core = res[1]["batch"]["dln train_batch"]["core_final_loss"]
    rcore = max(abs(a - b) / abs(b) for a, b in zip(core, ref))
    print(f"   check: final losses (float64 reference, {BATCH} nets) vs dln/1: max rel diff "
          f"{worst:.1e} [{', '.join(parts)}]; dln's own final_loss vs reference {rcore:.1e}; "
          f"loss mean {res[1]['init_loss_mean']:.4g} -> {sum(ref) / len(ref):.4g}; dln status "
          f"{res[1]['batch']['dln train_batch']['status']}; jax compile {res[1]['jax_compile_s']:.1f} s")

    # ------------------------------------------------------------------ 2
    print()
    print(f"2) one tiny net d={TINY_D}, L={L}: time per GD step inside a loop (1 thread; jax and "
          f"numpy: better of the T=1 and T=2 workers)")
    rows = []
    tlabs = ["dln train (n_threads=1)", "dln train (result.seconds)", "jax jit fori_loop",
             "numpy python loop"]
    tiny_best = {}
    for lab in tlabs:
        if lab.startswith("dln"):
            ts = res[1]["tiny"]["times"][lab]
            T = 1
        else:
            T = min((1, 2), key=lambda t: med(res[t]["tiny"]["times"][lab]))
            ts = res[T]["tiny"]["times"][lab]
        tiny_best[lab] = med(ts)
        steps = res[1]["tiny"]["steps"].get(lab, res[1]["tiny"]["steps"]["dln train (n_threads=1)"])
        rows.append([lab, str(T), str(steps), f"{med(ts) * 1e6:.3f}", f"{min(ts) * 1e6:.3f}"])
    dt = tiny_best["dln train (result.seconds)"]
    for r, lab in zip(rows, tlabs):
        r.append(f"{tiny_best[lab] / dt:.2f}x")
    print(common.fmt_table(["impl", "worker", "steps", "median us/step", "min us/step",
                            "this/dln(seconds)"], rows))
    print(f"   note: 'dln train (n_threads=1)' is wall time of the Python call / steps; "
          f"'(result.seconds)' is the C++ loop's own time (last repeat). check after "
          f"{res[1]['tiny']['check_steps']} steps: max rel diff of numpy/jax loss vs dln "
          f"{res[1]['tiny']['check_reldiff']:.1e} (loss {res[1]['tiny']['check_loss']:.4g})")

    # ------------------------------------------------------------------ 3
    sc = res[2]["scaling"]
    t1, t2 = med(sc["n_threads=1"]), med(sc["n_threads=2"])
    print()
    print(f"3) scaling: {SCALE_BATCH} nets d={D} L={L}, dln.train_batch, {args.scale_steps} steps/call")
    print(common.fmt_table(["n_threads", "median/step", "min/step"],
                           [["1", fmt_t(t1), fmt_t(min(sc["n_threads=1"]))],
                            ["2", fmt_t(t2), fmt_t(min(sc["n_threads=2"]))]]))
    print(f"   speedup 1 -> 2 threads: {t1 / t2:.2f}x (ideal 2.00x on {usable} usable CPUs); "
          f"results bitwise identical across n_threads: {res[2]['scaling_identical']}")

    load1 = os.getloadavg()
    print()
    print(f"load    : end {', '.join(f'{x:.2f}' for x in load1)} (start "
          f"{', '.join(f'{x:.2f}' for x in load0)}); total {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
