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
# The implementations, importable (bench/run_all.py uses them). The libraries load in load_libs(),
# after the thread pools have been configured.

np = dln = torch = jax = jnp = lax = None
_POOLS = None


def load_libs(T: int, configure: bool = True) -> str:
    """Pin every library to `T` threads (unless `configure=False`: the caller did), import them.

    Returns the thread note. Call before anything else in the process imports NumPy/torch/JAX.
    """
    global np, dln, torch, jax, jnp, lax, _POOLS
    note = common.configure_threads(T) if configure else ""
    import jax as jax_
    import numpy
    import torch as torch_

    import dln as dln_
    jax_.config.update("jax_enable_x64", True)
    import jax.numpy as jnp_
    from jax import lax as lax_

    np, dln, torch, jax, jnp, lax = numpy, dln_, torch_, jax_, jnp_, lax_
    torch.set_num_threads(T)
    _POOLS = common.limit_loaded_pools(T)
    return note


def versions() -> dict:
    return {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
            "jax": jax.__version__, "dln": getattr(dln, "__version__", "?")}


class BatchData:
    """`n` nets d x d, L = 3, each its own orthogonal init (seed i), one shared rank-`rank` target.

    `k = lr * c` is the step in sum units (mean-unit lr times c = 1/d^2): the gradients are linear
    in the residual, so every implementation folds it in once.
    """

    def __init__(self, n: int = BATCH, d: int = D, rank: int = RANK, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.widths = [d] * (L + 1)
        self.Phi = common.low_rank(d, d, rank, rng)
        self.c = 1.0 / (d * d)
        self.lr = 0.1 / L / self.c  # mean units; = 0.1/L in sum units, far from divergence
        self.k = self.lr * self.c
        self.nets = [dln.Network.orthogonal(self.widths, seed=i) for i in range(n)]
        self.W0 = [np.stack([net.weights[l] for net in self.nets]) for l in range(L)]  # (n, d, d)
        self.problem = dln.Factorization(self.Phi, reduction="mean")

    def losses(self, Ws) -> list:
        """The float64 reference loss of each net (stacked weights, first layer first)."""
        Ws = [np.asarray(w, np.float64) for w in Ws]
        R = Ws[2] @ Ws[1] @ Ws[0] - self.Phi
        return (0.5 * self.c * np.einsum("...ij,...ij->...", R, R)).reshape(-1).tolist()


class NumpyChain3:
    """GD on W3 W2 W1 ~ Phi with `out=` buffers: stacked (b, d, d) weights or a single (d, d) net.

    One `run()` is `calls` calls of `steps` steps each, continuing from the previous state.
    """

    def __init__(self, W0, Phi, k, steps, calls=1, label="numpy stacked @"):
        self.W0, self.Phi, self.k, self.steps, self.calls, self.label = W0, Phi, k, steps, calls, label
        self.P1, self.P2, self.R, self.Bk, self.G = (np.empty(W0[0].shape) for _ in range(5))

    def reset(self):
        self.W = [w.copy() for w in self.W0]

    def step_many(self, steps):
        W1, W2, W3 = self.W
        P1, P2, R, Bk, G = self.P1, self.P2, self.R, self.Bk, self.G
        T = lambda a: a.swapaxes(-1, -2)  # noqa: E731
        for _ in range(steps):
            np.matmul(W2, W1, out=P1)
            np.matmul(W3, P1, out=P2)
            np.subtract(P2, self.Phi, out=R)
            R *= self.k
            np.matmul(T(W3), R, out=Bk)   # B = W3^T R (before W3 changes)
            np.matmul(R, T(P1), out=G)    # G3 = R P1^T
            W3 -= G
            np.matmul(T(W2), Bk, out=G)   # G1 = W2^T B (before W2 changes)
            np.matmul(Bk, T(W1), out=P2)  # G2 = B W1^T (P2 reused)
            W1 -= G
            W2 -= P2

    def run(self):
        for _ in range(self.calls):
            self.step_many(self.steps)

    def weights(self):
        return self.W


class TorchBatch:
    label = "torch bmm"

    def __init__(self, W0, Phi, k, steps, calls=1):
        self.W0 = [torch.from_numpy(w.copy()) for w in W0]
        self.Phi, self.k = torch.from_numpy(np.ascontiguousarray(Phi)), k
        self.steps, self.calls = steps, calls
        self.P1, self.P2, self.R, self.Bk, self.G = (
            torch.empty(W0[0].shape, dtype=torch.float64) for _ in range(5))

    def reset(self):
        self.W = [w.clone() for w in self.W0]

    def run(self):
        W1, W2, W3 = self.W
        P1, P2, R, Bk, G = self.P1, self.P2, self.R, self.Bk, self.G
        with torch.no_grad():
            for _ in range(self.calls * self.steps):
                torch.bmm(W2, W1, out=P1)
                torch.bmm(W3, P1, out=P2)
                torch.sub(P2, self.Phi, out=R)
                R.mul_(self.k)
                torch.bmm(W3.transpose(1, 2), R, out=Bk)
                torch.bmm(R, P1.transpose(1, 2), out=G)
                W3.sub_(G)
                torch.bmm(W2.transpose(1, 2), Bk, out=G)
                torch.bmm(Bk, W1.transpose(1, 2), out=P2)
                W1.sub_(G)
                W2.sub_(P2)

    def weights(self):
        return [w.numpy() for w in self.W]


def jax_step(W1, W2, W3, Phi, k):
    """One GD step of W3 W2 W1 ~ Phi, k = lr in sum units; pure, for jit/vmap."""
    P1 = W2 @ W1
    P2 = W3 @ P1
    R = k * (P2 - Phi)
    G3 = R @ P1.T
    B = W3.T @ R
    G2 = B @ W1.T
    G1 = W2.T @ B
    return W1 - G1, W2 - G2, W3 - G3


class JaxLoop:
    """jit(fori_loop(step)) for `steps` steps per call, `calls` calls per run (each continuing from
    the last); `batched` vmaps the step over the leading axis."""

    def __init__(self, W0, Phi, k, steps, batched, label, calls=1):
        self.label, self.calls = label, calls
        self.W0 = tuple(jnp.asarray(w) for w in W0)
        self.Phi = jnp.asarray(Phi)
        step = jax.vmap(jax_step, in_axes=(0, 0, 0, None, None)) if batched else jax_step

        def loop(W1, W2, W3, Phi):
            body = lambda _, ws: step(*ws, Phi, k)  # noqa: E731
            return lax.fori_loop(0, steps, body, (W1, W2, W3))

        self.fn = jax.jit(loop)

    def reset(self):
        self.W = self.W0  # inputs are immutable

    def run(self):
        W = self.W
        for _ in range(self.calls):
            W = self.fn(*W, self.Phi)
        jax.block_until_ready(W)
        self.W = W

    def weights(self):
        return [np.asarray(w) for w in self.W]


class DlnBatch:
    """dln.train_batch of one job per net, `steps` steps per call; `calls` calls per run, each
    starting from the networks the previous call returned (what a user stepping a batch does)."""

    def __init__(self, nets, problem, lr, steps, n_threads, calls=1, label="dln train_batch"):
        self.label, self.nets, self.problem, self.lr = label, nets, problem, lr
        self.steps, self.calls, self.n_threads = steps, calls, n_threads
        self.kw = dict(lr=lr, steps=steps, record_every=steps)

    def reset(self):
        pass

    def run(self):
        nets = self.nets
        for _ in range(self.calls):
            self.res = dln.train_batch([(n, self.problem, self.kw) for n in nets],
                                       n_threads=self.n_threads, progress=False)
            nets = [r.network for r in self.res]

    def weights(self):
        return [np.stack([r.network.weights[l] for r in self.res]) for l in range(L)]


def batch_runners(data: BatchData, steps: int, calls: int, T: int, torch_peer: bool = True) -> list:
    """numpy stacked, (torch bmm), jax jit(vmap) and dln.train_batch on the same batch."""
    runners = [NumpyChain3(data.W0, data.Phi, data.k, steps, calls)]
    if torch_peer:
        runners.append(TorchBatch(data.W0, data.Phi, data.k, steps, calls))
    runners += [JaxLoop(data.W0, data.Phi, data.k, steps, True, "jax jit(vmap) fori_loop", calls),
                DlnBatch(data.nets, data.problem, data.lr, steps, T, calls)]
    return runners


def batch_case(data: BatchData, steps: int, calls: int, repeats: int, T: int,
               torch_peer: bool = True) -> dict:
    """Time per GD step of the whole batch, each library doing `calls` calls of `steps` steps.

    Returns {"times": label -> [s/step], "losses": label -> 256 final reference losses,
    "jax_compile_s", "core_final_loss", "status"}.
    """
    runners = batch_runners(data, steps, calls, T, torch_peer)
    jx = next(r for r in runners if isinstance(r, JaxLoop))
    t0 = time.perf_counter()
    jx.reset()
    jx.run()
    compile_s = time.perf_counter() - t0
    ts = common.time_runners(runners, repeats, steps * calls)
    d = runners[-1]
    return {"times": ts, "losses": {r.label: data.losses(r.weights()) for r in runners},
            "jax_compile_s": compile_s, "core_final_loss": [x.final_loss for x in d.res],
            "status": sorted({x.status for x in d.res})}


class TinyDln:
    label = "dln train (n_threads=1)"

    def __init__(self, net, problem, lr, steps):
        self.net, self.problem, self.lr, self.steps = net, problem, lr, steps

    def reset(self):
        pass

    def run(self):
        self.res = dln.train(self.net, self.problem, lr=self.lr, steps=self.steps, n_threads=1,
                             record_every=self.steps, progress=False)

    def weights(self):
        return self.res.network.weights


def tiny_case(steps: int, np_steps: int, repeats: int) -> dict:
    """One net d = TINY_D, L = 3: time per GD step inside a loop; dln and JAX run `steps` steps per
    call (compiled loops), NumPy `np_steps` (a Python loop). Checked after `np_steps` steps."""
    tw = [TINY_D] * (L + 1)
    trng = np.random.default_rng(1)
    tPhi = common.low_rank(TINY_D, TINY_D, RANK, trng)
    tc = 1.0 / (TINY_D * TINY_D)
    k = 0.1 / L  # sum units
    tnet = dln.Network.orthogonal(tw, seed=0)
    tprob = dln.Factorization(tPhi, reduction="mean")
    tW0 = tnet.weights
    tiny = [TinyDln(tnet, tprob, k / tc, steps),
            JaxLoop(tW0, tPhi, k, steps, False, "jax jit fori_loop"),
            NumpyChain3(tW0, tPhi, k, np_steps, label="numpy python loop")]
    steps_of = {tiny[0].label: steps, tiny[1].label: steps, tiny[2].label: np_steps}
    tts = {r.label: [] for r in tiny}
    for r in tiny:
        r.reset()
        r.run()
    for _ in range(repeats):
        for r in tiny:
            r.reset()
            time.sleep(0.05)
            t0 = time.perf_counter()
            r.run()
            tts[r.label].append((time.perf_counter() - t0) / steps_of[r.label])
    tts["dln train (result.seconds)"] = [tiny[0].res.seconds / steps]  # last repeat, C++ loop only

    # one check that the three agree, after np_steps steps each
    chk = [TinyDln(tnet, tprob, k / tc, np_steps),
           JaxLoop(tW0, tPhi, k, np_steps, False, "jax check"), tiny[2]]
    for r in chk:
        r.reset()
        r.run()

    def tloss(Ws):
        E = np.asarray(Ws[2]) @ np.asarray(Ws[1]) @ np.asarray(Ws[0]) - tPhi
        return 0.5 * tc * float(np.vdot(E, E))

    lref = tloss(chk[0].weights())
    rel = {r.label: abs(tloss(r.weights()) - lref) / abs(lref) for r in chk}
    return {"times": tts, "steps": steps_of, "check_steps": np_steps, "check_loss": lref,
            "check_rel": {tiny[0].label: rel[chk[0].label], tiny[1].label: rel["jax check"],
                          tiny[2].label: rel[tiny[2].label]},
            "check_reldiff": max(rel.values())}


# ==============================================================================================
# Worker: runs in a subprocess with every library pinned to `T` threads; prints one JSON line.


def worker(args: argparse.Namespace, T: int) -> dict:
    note = load_libs(T)
    out: dict = {"T": T, "thread_note": note, "versions": versions()}
    out["gemm_backend"] = str(dln.build_info().get("gemm_backend", "?"))
    out["pools"] = common.blas_lines()
    out["gemm_gflops"] = common.gemm_gflops(np.float64, n=1000, repeats=3 if args.quick else 7)

    data = BatchData()
    out["init_loss_mean"] = float(np.mean(data.losses(data.W0)))
    b = batch_case(data, args.steps, 1, args.repeats, T)
    out["jax_compile_s"] = b["jax_compile_s"]
    out["batch"] = {lab: {"times": b["times"][lab], "losses": b["losses"][lab]} for lab in b["times"]}
    out["batch"]["dln train_batch"]["core_final_loss"] = b["core_final_loss"]
    out["batch"]["dln train_batch"]["status"] = b["status"]
    out["tiny"] = tiny_case(args.tiny_steps, args.tiny_np_steps, args.repeats)

    if T >= 2:  # scaling
        snets = data.nets[:SCALE_BATCH]
        sr = [DlnBatch(snets, data.problem, data.lr, args.scale_steps, 1, label="n_threads=1"),
              DlnBatch(snets, data.problem, data.lr, args.scale_steps, 2, label="n_threads=2")]
        out["scaling"] = common.time_runners(sr, args.repeats, args.scale_steps)
        a, b2 = sr[0].weights(), sr[1].weights()
        out["scaling_identical"] = all(np.array_equal(x, y) for x, y in zip(a, b2))
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
