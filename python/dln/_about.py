"""The package's version and :func:`build_info` (how this build was made), below every other module."""

from __future__ import annotations

import os

from . import _core

__version__ = "0.1.0"


def build_info() -> dict:
    """How this build of dln was made and how it will run.

    Returns a dict with the compiler, C++ flags, native or portable build, Eigen's SIMD level and
    version, the GEMM backend and its configuration, OpenMP, the number of hardware threads, the
    default ``n_threads``, and the thread-related environment variables.
    """
    info = dict(_core.build_info())
    info["python_package"] = __version__
    info["env"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ}
    return info
