"""dln: deep linear networks trained exactly by a C++/Eigen engine.

Public API: :class:`Network`, :class:`Factorization`, :class:`Regression`, :class:`Completion`,
:func:`train`, :class:`Result`, :func:`build_info`, :mod:`dln.reference` (the NumPy oracle),
:mod:`dln.analysis` (theory predictions and measurements) and :mod:`dln.experiments` (the published
experiments).
"""

from __future__ import annotations

# OpenBLAS (the GEMM NumPy also uses) comes from the scipy-openblas32 wheel; importing it loads the
# library globally so the extension finds it by its soname wherever the wheel was installed.
import scipy_openblas32 as _openblas  # noqa: F401

from . import _core, analysis, experiments
from .network import Network
from .problems import Completion, Factorization, Problem, Regression
from .training import Result, train, train_batch
from .io import CheckpointError, load_checkpoint, resume
from .config import RunConfig, grid, spawn_seeds
from .sweeps import SweepResult, sweep
from . import compression
from .compression import CompressedNetwork, SparseCompletion, compress, compress_trained, invariant_subspace
from .tracking import BrandTracker, SvdTrace, SvdTracker, TrackSpec

__version__ = "0.1.0"

__all__ = ["Network", "Problem", "Factorization", "Regression", "Completion", "train", "train_batch", "Result",
           "resume", "load_checkpoint", "CheckpointError", "RunConfig", "grid", "spawn_seeds", "sweep", "SweepResult",
           "build_info", "analysis", "experiments", "__version__",
           "compression", "invariant_subspace", "compress", "compress_trained", "CompressedNetwork", "SparseCompletion",
           "SvdTracker", "BrandTracker", "TrackSpec", "SvdTrace"]


def build_info() -> dict:
    """How this build of dln was made and how it will run.

    Returns a dict with the compiler, C++ flags, native or portable build, Eigen's SIMD level and
    version, the GEMM backend and its configuration, OpenMP, the number of hardware threads, the
    default ``n_threads``, and the thread-related environment variables.
    """
    import os

    info = dict(_core.build_info())
    info["python_package"] = __version__
    info["env"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ}
    return info
