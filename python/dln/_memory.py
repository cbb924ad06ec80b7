"""Memory estimates checked before any large allocation, so absurd sizes are refused with a message
instead of an out-of-memory kill (with Linux overcommit, a too-large allocation often succeeds and the
process is killed later, while the pages are touched).

Estimates are upper bounds of the peak of dln's own allocations (weights, optimiser state, work
buffers and the copies made at the Python/C++ boundary), not of NumPy's temporaries in user code.
The limit is the memory available now: ``MemAvailable`` from ``/proc/meminfo``, lowered to the
cgroup limit when the process runs in one (containers, batch schedulers) and to what is left of the
address-space limit (``ulimit -v``) when there is one.
"""

from __future__ import annotations

import os
from typing import Sequence

GIB = float(1 << 30)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def available_bytes() -> float:
    """Bytes this process may still allocate; ``inf`` when the platform does not say."""
    avail = float("inf")
    meminfo = _read("/proc/meminfo")
    if meminfo:
        for line in meminfo.splitlines():
            if line.startswith("MemAvailable:"):
                avail = float(line.split()[1]) * 1024.0
                break
    else:
        try:
            avail = float(os.sysconf("SC_AVPHYS_PAGES")) * float(os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    # cgroup v2 then v1: a container's limit is usually far below the host's free memory.
    for limit_path, usage_path in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read(limit_path), _read(usage_path)
        if limit is None or usage is None:
            continue
        try:
            avail = min(avail, float(int(limit)) - float(int(usage)))
        except ValueError:  # "max": no limit
            pass
        break
    # An address-space limit (ulimit -v, some batch schedulers) makes allocations fail at once, far
    # below the free memory: what is left of it counts too.
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        statm = _read("/proc/self/statm") if soft != resource.RLIM_INFINITY else None
        if statm:
            avail = min(avail, float(soft) - float(statm.split()[0]) * float(os.sysconf("SC_PAGE_SIZE")))
    except (ImportError, ValueError, OSError):
        pass
    return max(avail, 0.0)


# Below this the check is skipped: reading /proc costs ~0.1 ms, which would dominate the setup of a
# small run (batches of thousands), and such sizes cannot be what exhausts a machine.
CHECK_ABOVE = float(1 << 26)


def require(nbytes: float, name: str, what: str) -> None:
    """Raise MemoryError naming ``name`` when ``nbytes`` exceed the memory available now."""
    if nbytes < CHECK_ABOVE:
        return
    avail = available_bytes()
    if nbytes > avail:
        raise MemoryError(f"{name}: {what} needs about {nbytes / GIB:.3g} GiB but only {avail / GIB:.3g} GiB "
                          f"of memory is available; nothing was allocated")


def layer_elements(widths: Sequence[int]) -> float:
    """Number of weight entries of a network with these widths (as a float: no overflow)."""
    return float(sum(float(widths[i]) * float(widths[i + 1]) for i in range(len(widths) - 1)))


def init_bytes(widths: Sequence[int], itemsize: int, kind: str) -> float:
    """Peak of Network.orthogonal/gaussian/uniform: the weights twice (C++ and NumPy copies) plus the
    float64 work of the largest layer (the layer, its cast and, for orthogonal, the max(m, n) x
    min(m, n) Gaussian matrix, its Householder reflectors, Q and its scaled copy: the Haar columns are
    drawn thin, never as a max(m, n) square)."""
    weights = layer_elements(widths) * itemsize
    work = 0.0
    for i in range(len(widths) - 1):
        m, n = float(widths[i + 1]), float(widths[i])
        layer = 2.0 * m * n * 8.0
        if kind == "orthogonal":
            layer += 4.0 * m * n * 8.0
        work = max(work, layer)
    return 2.0 * weights + work


def train_bytes(widths: Sequence[int], cols: int, itemsize: int, optimizer: str) -> float:
    """Peak of one training run: weights in 7 copies (bound input, current, next, gradients, result,
    and its NumPy copy, plus one spare for the checkpoint/return path), the optimiser's state (twice:
    C++ and NumPy) and the evaluator's forward and backward buffers, two per layer of ``cols``
    columns (N for the data form, d_in otherwise)."""
    weights = layer_elements(widths)
    state = {"gd": 0, "momentum": 1}.get(optimizer, 2)
    buffers = 2.0 * sum(float(w) for w in widths[1:]) * float(cols)
    return (weights * (7 + 2 * state) + buffers) * itemsize
