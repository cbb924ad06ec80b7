"""Shared plumbing for the dln benchmarks: threads, machine report, timing, problem data, tables.

Import order matters: `configure_threads` must run before NumPy, PyTorch or JAX is imported, because
their thread pools (OpenBLAS, MKL/OpenMP, XLA's Eigen pool) read the environment once, at load time.
Everything else in this module imports NumPy lazily for that reason.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

# ----------------------------------------------------------------------------------------------
# Threads


def configure_threads(n: int) -> str:
    """Pin every library of this process to `n` threads; call before importing numpy/torch/jax.

    Returns a one-line description of what was done (printed beside the tables).
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    notes = [f"env *_NUM_THREADS={n}"]
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1 and "intra_op_parallelism_threads" not in flags:
        # Honoured by the older XLA CPU runtime only; the affinity mask below is what recent
        # XLA (which sizes its pool from the CPUs it may run on) obeys.
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()
        notes.append("XLA_FLAGS single-thread")
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if allowed and n < len(allowed):
        # XLA has no thread-count knob that current releases honour; restricting the CPUs the
        # process may use is the one control every library obeys, so apply it to all of them.
        os.sched_setaffinity(0, set(allowed[:n]))
        notes.append(f"affinity pinned to CPUs {allowed[:n]}")
    elif allowed and n > len(allowed):
        notes.append(f"WARNING: {n} threads > {len(allowed)} usable CPUs (oversubscribed)")
    return "; ".join(notes)


def limit_loaded_pools(n: int) -> Any:
    """Limit every BLAS/OpenMP pool already loaded (NumPy's, torch's, dln's) to `n` threads.

    Keep the returned object alive for the duration of the run.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n)


# ----------------------------------------------------------------------------------------------
# Machine and versions


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(threads: int, thread_note: str) -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"machine : {cpu_model()} | {os.cpu_count()} logical CPUs, {usable} usable | "
        f"{platform.system()} {platform.release()}",
        f"load    : {load} (1/5/15 min; the machine is shared: compare ratios within one run)",
        f"threads : {threads} per library ({thread_note})",
        f"python  : {sys.version.split()[0]} ({sys.executable})",
    ]


def blas_lines() -> list[str]:
    """One line per native thread pool loaded in this process (via threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["pools   : threadpoolctl not installed"]
    out = []
    for p in threadpool_info():
        name = os.path.basename(p.get("filepath", "?"))
        extra = " ".join(f"{k}={p[k]}" for k in ("version", "architecture", "threading_layer")
                         if p.get(k))
        out.append(f"pool    : {p['user_api']}/{p['internal_api']} {name} "
                   f"threads={p['num_threads']} {extra}".rstrip())
    return out


# ----------------------------------------------------------------------------------------------
# Timing


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def gemm_gflops(dtype: Any, n: int = 1000, repeats: int = 15) -> float:
    """NumPy's measured C = A @ B rate for n x n matrices, GFLOP/s (median of `repeats`)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    for _ in range(3):
        np.matmul(a, b, out=c)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        ts.append(time.perf_counter() - t0)
    return 2.0 * n**3 / median(ts) / 1e9


# ----------------------------------------------------------------------------------------------
# Problem data shared by every library (generated once, in NumPy, then handed to each)


@dataclass
class Spec:
    """One benchmark problem: identical data, start and step size for every library.

    kind  "factorization" (target Phi, d_out x d_in) or "regression" (X: d_in x N, Y: d_out x N).
    c     the mean-reduction factor: loss = 1/2 c ||residual||^2.
    lr    step size in mean units (what dln.train takes): W <- W - lr * grad(mean loss).
    """

    name: str
    kind: str
    widths: list[int]
    dtype: Any
    steps: int
    W0: list = field(default_factory=list)
    Phi: Any = None
    X: Any = None
    Y: Any = None
    c: float = 1.0
    lr: float = 0.0

    @property
    def L(self) -> int:
        return len(self.widths) - 1

    @property
    def n_cols(self) -> int:
        """Columns the data form works on: N for regression, d_in for factorisation."""
        return self.X.shape[1] if self.kind == "regression" else self.widths[0]


def orthogonal_init(widths: list[int], scale: float, rng: Any) -> list:
    """Haar-orthogonal layers (top-left block of a square Haar matrix), times `scale`, float64."""
    import numpy as np

    Ws = []
    for m, n in zip(widths[1:], widths[:-1]):
        k = max(m, n)
        q, r = np.linalg.qr(rng.standard_normal((k, k)))
        q *= np.sign(np.diag(r))
        Ws.append(scale * q[:m, :n].copy())
    return Ws


def low_rank(m: int, n: int, r: int, rng: Any) -> Any:
    """An m x n matrix of rank r with singular values evenly spaced in [1, 2], float64."""
    import numpy as np

    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    return (u * np.linspace(2.0, 1.0, r)) @ v.T


def factorization_spec(d: int, L: int, rank: int, dtype: Any, steps: int, seed: int = 0) -> Spec:
    import numpy as np

    rng = np.random.default_rng(seed)
    widths = [d] * (L + 1)
    Phi = low_rank(d, d, rank, rng)
    W0 = orthogonal_init(widths, 1.0, rng)
    c = 1.0 / (d * d)
    # Curvature of the sum loss along the chain is ~ L * prod sigma^2 = L at unit orthogonal init;
    # a sum-unit step of 0.1 / L is far from divergence yet moves the loss visibly in 10 steps.
    lr = 0.1 / L / c
    return Spec(f"A factorisation d={d} L={L} rank={rank}", "factorization", widths,
                np.dtype(dtype), steps,
                W0=[w.astype(dtype) for w in W0], Phi=np.ascontiguousarray(Phi, dtype), c=c, lr=lr)


def regression_spec(d: int, N: int, L: int, dtype: Any, steps: int, seed: int = 1,
                    rank: int = 10) -> Spec:
    import numpy as np

    rng = np.random.default_rng(seed)
    widths = [d] * (L + 1)
    X = rng.standard_normal((d, N))
    Y = low_rank(d, d, rank, rng) @ X + 0.01 * rng.standard_normal((d, N))
    W0 = orthogonal_init(widths, 1.0, rng)
    c = 1.0 / (d * N)
    s_max = np.linalg.norm(X, 2) ** 2  # largest eigenvalue of X X^T
    lr = 0.1 / (L * s_max) / c
    return Spec(f"B regression d={d} N={N} L={L}", "regression", widths, np.dtype(dtype), steps,
                W0=[w.astype(dtype) for w in W0], X=np.ascontiguousarray(X, dtype),
                Y=np.ascontiguousarray(Y, dtype), c=c, lr=lr)


def chain_flops(widths: list[int], form: str, n_cols: int, d_in: int) -> float:
    """Flops of one loss + all-gradient evaluation for a chain of the given widths.

    form "data": through n_cols data columns, 3L-1 products; "covariance": S = X X^T and
    C = Y X^T precomputed, 3L-2 products on d_in columns; "factorization": 3L-3 products.
    """
    L = len(widths) - 1
    f = 0.0
    n = n_cols if form == "data" else d_in
    first = 0 if form == "data" else 1  # identity inputs: the first layer's output is W_1 itself
    for l in range(first, L):  # forward
        f += 2.0 * widths[l + 1] * widths[l] * n
    if form == "covariance":
        f += 2.0 * widths[L] * d_in * d_in  # E S
    for l in range(L - 1, 0, -1):  # backward residual W_l^T B
        f += 2.0 * widths[l] * widths[l + 1] * n
    for l in range(L - 1, first - 1, -1):  # gradients B P^T
        f += 2.0 * widths[l + 1] * n * widths[l]
    return f


def reference_loss(spec: Spec, Ws: list) -> float:
    """Loss of weights `Ws` in float64, the exact (data) form: the yardstick for every library."""
    import numpy as np

    Ws = [np.asarray(w, np.float64) for w in Ws]
    if spec.kind == "factorization":
        E = Ws[0]
        for w in Ws[1:]:
            E = w @ E
        R = E - np.asarray(spec.Phi, np.float64)
    else:
        P = np.asarray(spec.X, np.float64)
        for w in Ws:
            P = w @ P
        R = P - np.asarray(spec.Y, np.float64)
    return 0.5 * spec.c * float(np.vdot(R, R))


# ----------------------------------------------------------------------------------------------
# Running and reporting


class Runner:
    """One library's implementation of `spec.steps` GD steps. Subclasses fill in the three hooks."""

    lib = "?"
    variant = ""

    def reset(self) -> None:
        """Untimed: put the initial weights back."""
        raise NotImplementedError

    def run(self) -> None:
        """Timed: `spec.steps` full GD steps (loss, all gradients, update); results ready on return."""
        raise NotImplementedError

    def weights(self) -> list:
        """Untimed: the weights after the last run, as NumPy arrays."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        return f"{self.lib}[{self.variant}]" if self.variant else self.lib


def time_runners(runners: list[Runner], repeats: int, steps: int,
                 log: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Seconds per step for each runner, repeats interleaved round-robin.

    Interleaving spreads any drift in the shared machine's load over all libraries alike; a short
    pause between runs lets the previous library's spinning BLAS/OpenMP threads go to sleep.
    """
    times: dict[str, list[float]] = {r.label: [] for r in runners}
    for r in runners:  # warm-up: JIT compilation, first touch of buffers, pool start-up
        r.reset()
        r.run()
        time.sleep(0.05)
    for _ in range(repeats):
        for r in runners:
            r.reset()
            time.sleep(0.05)
            t0 = time.perf_counter()
            r.run()
            times[r.label].append((time.perf_counter() - t0) / steps)
    return times


def fmt_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)
