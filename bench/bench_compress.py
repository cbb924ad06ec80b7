"""Compression benchmark (issue 5 performance section). Ratios measured in this process.

    python bench/bench_compress.py [--big 100000]

1. Factorisation d=1000, r=10, L=3, eps=1e-3, lr=1e3 (mean): compressed (projected path) to wide loss
   1e-10 including setup; wide step time; lifted end-to-end vs a wide run over its first 50 steps.
2. Completion d=1000, r=5, 20% observed, L=3, eps=1e-3, lr=5e3, gamma=0.01: sparse path to recovery.
3. Completion at d=1e4 and --big (default 1e5), 1% observed: time per step and memory (no wide run).
"""

import argparse
import os
import platform
import resource
import sys
import time

import numpy as np

import dln
from dln.compression import SparseCompletion, train_compressed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


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
    res = dln.train(chain, sp, 5e3, steps, lr_scale=[0.01] + [1] * L + [0.01])
    print(f"  d={d:>6} observed={sp.observed:.3g}: data {t_data:.1f} s, index build {t_build:.1f} s, "
          f"{res.seconds / steps * 1e3:.1f} ms/step ({res.n_threads} threads), "
          f"problem {sp.memory_bytes / 2**30:.2f} GiB, "
          f"peak RSS {rss_gib():.2f} GiB; a wide d x d layer would be {d * d * 8 / 2**30:.0f} GiB")


# ---------------------------------------------------------------------------------------------------
# Importable cases with peers (bench/run_all.py). The caller has configured the threads and called
# bench_batch.load_libs (JAX, torch) before importing this module.


def chain_step(C, Phi, M, k, scales):
    """One GD step of the chain C[-1] ... C[0] ~ Phi (masked by M unless None), pure.

    Written with `@`, `.T` and elementwise operations only, so the same code runs on NumPy arrays,
    torch tensors and (jitted) JAX arrays. `k` is the step in sum units (mean-unit lr times c),
    `scales[l]` the layer's lr_scale; the first factor's input is the identity.
    """
    P = [C[0]]
    for w in C[1:-1]:
        P.append(w @ P[-1])
    R = C[-1] @ P[-1] - Phi
    if M is not None:
        R = R * M
    B = k * R
    new = list(C)
    for l in range(len(C) - 1, 0, -1):
        G = B @ P[l - 1].T
        B = C[l].T @ B
        new[l] = C[l] - scales[l] * G
    new[0] = C[0] - scales[0] * B
    return new


def end_to_end(C):
    E = np.asarray(C[0], np.float64)
    for w in C[1:]:
        E = np.asarray(w, np.float64) @ E
    return E


class ChainLoop:
    """`steps` chain_step's per run: `lib` "numpy" or "torch" (a Python loop), "jax" (jit fori_loop)."""

    def __init__(self, lib, C0, Phi, M, k, scales, steps, variant):
        import bench_batch as bb

        self.lib, self.variant, self.steps, self.label = lib, variant, steps, f"{lib}[{variant}]"
        if lib == "jax":
            jnp, lax = bb.jnp, bb.lax
            self.C0 = [jnp.asarray(c) for c in C0]
            args = (jnp.asarray(Phi), None if M is None else jnp.asarray(M))
            self.fn = bb.jax.jit(lambda C, Phi, M: lax.fori_loop(
                0, steps, lambda _, c: chain_step(c, Phi, M, k, scales), C))
            self.run_fn = lambda C: self.fn(C, *args)  # noqa: E731
        elif lib == "torch":
            t = lambda a: None if a is None else bb.torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
            self.C0 = [t(c) for c in C0]
            Pt, Mt = t(Phi), t(M)

            def run_fn(C):
                with bb.torch.no_grad():
                    for _ in range(steps):
                        C = chain_step(C, Pt, Mt, k, scales)
                return C

            self.run_fn = run_fn
        else:
            self.C0 = [np.asarray(c) for c in C0]

            def run_fn(C):
                for _ in range(steps):
                    C = chain_step(C, Phi, M, k, scales)
                return C

            self.run_fn = run_fn

    def reset(self):
        pass

    def run(self):
        self.C = self.run_fn(list(self.C0))
        if self.lib == "jax":
            import bench_batch as bb
            bb.jax.block_until_ready(self.C)

    def weights(self):
        return [np.asarray(c) for c in self.C]


class _Call:
    """A timed callable as a common.Runner."""

    def __init__(self, label, fn):
        self.label, self.fn = label, fn

    def reset(self):
        pass

    def run(self):
        self.out = self.fn()


def rel_fro(A, B):
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


def factorisation_case(d=1000, r=10, L=3, eps=1e-3, lr=None, tol=1e-10, repeats=5, peers=("numpy", "jax")):
    """Compressed factorisation (projected path) to wide loss `tol`, timed in full (the compression
    setup, i.e. subspace and projection, included; the wide Haar init reported apart), interleaved
    with peers running the same L-layer 2r x 2r projected problem for the same number of steps.

    Returns {"times": label -> [s per run], "steps", "per_step": label -> s (dln: its loop's own
    clock), "loop_per_step": dln's, one per repeat, "rel": label ->
    relative end-to-end difference to dln's chain, "status", "final_loss", "init_s", "path"}.
    `lr` (mean units) defaults to 1e-3 d^2: 1e3 at d = 1000 (as in section 1), the same sum-unit
    step at other d.
    """
    import bench_batch as bb

    if L != 3:
        raise ValueError("factorisation_case: the peers implement L = 3")
    lr = 1e-3 * d * d if lr is None else lr
    phi = low_rank(d, r, 0)
    prob = dln.Factorization(phi)
    t0 = time.perf_counter()
    net = dln.Network.orthogonal([d] * (L + 1), eps, seed=1)
    t_init = time.perf_counter() - t0
    loop_s = []  # the C++ loop's own seconds of each dln run

    def dln_run():
        res = train_compressed(net, prob, lr, 100000, rank=r, tol=tol)
        loop_s.append(res.seconds)
        return res

    dlnr = _Call("dln train_compressed", dln_run)
    dlnr.run()  # the step count the peers repeat, and the projected target
    res = dlnr.out
    U, V = res.compression.basis[-1], res.compression.basis[0]
    phi_c, k, steps = U.T @ phi @ V, lr * prob.scale, res.steps
    W0 = [eps * np.eye(2 * r) for _ in range(L)]
    runners = [dlnr]
    if "numpy" in peers:
        runners.append(bb.NumpyChain3(W0, phi_c, k, steps, label="numpy[projected]"))
    if "jax" in peers:
        runners.append(bb.JaxLoop(W0, phi_c, k, steps, False, "jax[projected]"))
    times = common.time_runners(runners, repeats, 1)
    res = dlnr.out
    inner = end_to_end(res.compressed.network.weights[1:-1])
    rel = {r_.label: rel_fro(end_to_end(r_.weights()), inner) for r_ in runners[1:]}
    rel[dlnr.label] = 0.0
    per_step = {r_.label: common.median(times[r_.label]) / steps for r_ in runners[1:]}
    loop = [x / max(steps, 1) for x in loop_s[-repeats:]]
    per_step[dlnr.label] = common.median(loop)
    return {"times": times, "steps": steps, "per_step": per_step, "loop_per_step": loop, "rel": rel,
            "status": res.status,
            "final_loss": res.final_loss, "init_s": t_init, "path": res.path}


def completion_case(d=1000, r=5, L=3, eps=1e-3, lr=5e3, p=0.2, gamma=0.01, tol=1e-12, steps=60000,
                    peer_steps=200, repeats=5, peers=("numpy", "torch", "jax"), n_threads=None):
    """Compressed completion on the sparse path: one run to loss `tol` (or `steps`), timed in full
    (setup included), then per-step timing of dln's sparse path against peers running the same
    compressed chain densely masked (d x d residual) for `peer_steps` steps, interleaved.

    Returns {"total_s", "steps", "status", "final_loss", "recovery", "per_step_s" (the run's own
    loop), "times": label -> [s/step], "rel": label -> relative end-to-end difference to dln's}.
    """
    phi = low_rank(d, r, 2)
    mask = np.random.default_rng(3).random((d, d)) < p
    prob = dln.Completion(phi, mask)
    net = dln.Network.orthogonal([d] * (L + 1), eps, seed=4)
    t0 = time.perf_counter()
    res = train_compressed(net, prob, lr, steps, rank=r, outer_lr_scale=gamma, tol=tol, record_every=100,
                           n_threads=n_threads)
    total = time.perf_counter() - t0
    E = res.compressed.network.end_to_end()
    out = {"total_s": total, "steps": res.steps, "status": res.status, "final_loss": res.final_loss,
           "recovery": float(0.5 * np.mean(((~mask) * (E - phi)) ** 2)),
           "per_step_s": res.compressed.seconds / max(res.steps, 1)}

    comp = res.compression  # the chain at its start, as train_compressed built it
    sp = SparseCompletion.from_completion(prob)
    C0 = [np.asarray(w) for w in comp.network.weights]
    dlnr = _Call("dln[sparse]", lambda: dln.train(comp.network, sp, lr, peer_steps, lr_scale=comp.lr_scale,
                                                 record_every=peer_steps, n_threads=n_threads))
    M = mask.astype(np.float64)
    runners = [dlnr] + [ChainLoop(lib, C0, phi, M, lr * prob.scale, comp.lr_scale, peer_steps, "masked-dense")
                        for lib in peers]
    out["times"] = common.time_runners(runners, repeats, peer_steps)
    ref = end_to_end(dlnr.out.network.weights)
    out["rel"] = {r_.label: rel_fro(end_to_end(r_.weights()), ref) for r_ in runners[1:]}
    out["rel"][dlnr.label] = 0.0
    out["peer_steps"] = peer_steps
    return out


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
