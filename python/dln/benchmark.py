"""`dln bench`: this build's dense GD step against the same step in NumPy and the machine's GEMM rate.

A short, self-contained check that an installation runs at the speed it should. The full benchmark
suite (PyTorch and JAX peers, batched small nets, tracker, compression) is in the source tree's
``bench/`` folder. Ratios are measured in one process, one after the other, with the same threads.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any, Callable, Optional

import numpy as np

from ._about import __version__, build_info
from .network import Network
from .problems import Factorization
from .training import train


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: thread pools, page faults, caches
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class _NumpyGD:
    """The factorisation GD step in NumPy with preallocated buffers (prefix and suffix products,
    3L-3 GEMMs per step, the same count as dln), a fair peer rather than a naive one."""

    def __init__(self, weights: list, target: np.ndarray, lr_sum: float) -> None:
        self.W0 = weights
        self.phi, self.lr = target, lr_sum
        L, d = len(weights), target.shape[0]
        self.pre = [np.empty((d, d)) for _ in range(L)]   # pre[l] = W_l ... W_0
        self.suf = [np.empty((d, d)) for _ in range(L)]   # suf[l] = (W_{L-1} ... W_{l+1})^T R
        self.g = np.empty((d, d))

    def run(self, steps: int) -> None:
        self.W = [w.copy() for w in self.W0]
        for _ in range(steps):
            self.step()

    def step(self) -> None:
        W, pre, suf, L = self.W, self.pre, self.suf, len(self.W)
        pre[0][...] = W[0]
        for l in range(1, L):
            np.matmul(W[l], pre[l - 1], out=pre[l])
        np.subtract(pre[L - 1], self.phi, out=suf[L - 1])
        for l in range(L - 1, 0, -1):
            np.matmul(W[l].T, suf[l], out=suf[l - 1])
        for l in range(L - 1, -1, -1):
            if l == 0:
                g = suf[0]
            else:
                np.matmul(suf[l], pre[l - 1].T, out=self.g)
                g = self.g
            W[l] -= self.lr * g


def main(quick: bool = False, n_threads: Optional[int] = None) -> int:
    threads = n_threads or os.cpu_count() or 1
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(threads)  # NumPy's OpenBLAS and dln's, the same count
    except ImportError:
        limits = None
    info = build_info()
    print(f"machine: {_cpu()}, {os.cpu_count()} hardware threads; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"threads: {threads}; dln {__version__} ({info['gemm_backend_config']}), numpy {np.__version__}, "
          f"python {platform.python_version()}")
    d_gemm = 512 if quick else 1000
    a = np.random.default_rng(0).standard_normal((d_gemm, d_gemm))
    c = np.empty_like(a)
    t = _median_time(lambda: np.matmul(a, a, out=c), 5)
    rate = 2 * d_gemm**3 / t / 1e9
    print(f"NumPy GEMM {d_gemm}^3 float64: {rate:.1f} GFLOP/s")
    print()
    print(f"{'d':>5} {'L':>2} {'steps':>5} {'dln ms/step':>12} {'NumPy ms/step':>14} {'NumPy/dln':>10} "
          f"{'dln GFLOP/s':>12} {'of GEMM rate':>12}")
    L = 3
    for d in ((128, 256) if quick else (256, 512, 1000)):
        steps = max(3, int(2e9 / (2 * d**3 * (3 * L - 3))))
        steps = min(steps, 200)
        target = np.random.default_rng(1).standard_normal((d, d))
        net = Network.orthogonal([d] * (L + 1), scale=1.0, seed=0)
        problem = Factorization(target, reduction="sum")
        lr = 1e-4 / d
        out: dict[str, Any] = {}
        t_dln = _median_time(lambda: out.update(r=train(net, problem, lr=lr, steps=steps, n_threads=threads,
                                                           progress=False)), 3)
        peer = _NumpyGD(net.weights, target, lr)
        t_np = _median_time(lambda: peer.run(steps), 3)
        # both must have computed the same thing before their times mean anything
        diff = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(out["r"].network.weights, peer.W))
        if not diff <= 1e-10:
            print(f"d = {d}: dln and NumPy weights differ by {diff:.1e} (relative): timing not comparable")
            return 1
        flops = 2 * d**3 * (3 * L - 3)
        per_dln, per_np = t_dln / steps, t_np / steps
        print(f"{d:>5} {L:>2} {steps:>5} {per_dln * 1e3:>12.3f} {per_np * 1e3:>14.3f} {per_np / per_dln:>10.2f} "
              f"{flops / per_dln / 1e9:>12.1f} {flops / per_dln / 1e9 / rate:>12.2f}")
    print()
    print("NumPy/dln > 1: dln is faster. 'of GEMM rate': dln's step speed as a fraction of one big NumPy GEMM.")
    del limits
    return 0
