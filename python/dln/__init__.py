"""dln: deep linear networks trained exactly by a C++/Eigen engine.

Public API: :class:`Network`, :class:`Factorization`, :class:`Regression`, :class:`Completion`,
:func:`train`, :class:`Result`, :func:`build_info`, :mod:`dln.reference` (the NumPy oracle),
:mod:`dln.theory` (the law of parsimony's predictions), :mod:`dln.analysis` (theory predictions and
measurements) and :mod:`dln.experiments` (the published experiments).

Layers, each importing only from those below it (tests/library/test_layering.py checks this):
``_core``, ``_checks``, ``_memory``, ``_progress``, ``_about`` / ``network``, ``problems`` / ``theory`` /
``tracking`` / ``result``, ``io`` (the checkpoint format) / ``training`` (prepared runs, compressed and
checkpointed training, the facade) / ``analysis``, ``compression``, ``config``, ``sweeps`` / ``science``
(experiments, reproduce, demo, plotting), ``benchmark``, ``cli``. ``reference`` stands alone.
"""

from __future__ import annotations

# OpenBLAS (the GEMM NumPy also uses) comes from the scipy-openblas32 wheel; importing it loads the
# library globally so the extension finds it by its soname wherever the wheel was installed.
import scipy_openblas32 as _openblas  # noqa: F401

from . import _core as _core  # the compiled core, dln._core
from . import analysis, compression, experiments, theory
from ._about import __version__, build_info
from .config import RunConfig, grid, spawn_seeds
from .implicit import ImplicitNetwork
from .io import CheckpointError, load_checkpoint
from .network import Activation, ActivationKind, Network
from .problems import Completion, Factorization, LowRankFactorization, Problem, Regression
from .result import Result
from .sweeps import SweepResult, sweep
from .theory import invariant_subspace
from .tracking import BrandTracker, SvdTrace, SvdTracker, TrackSpec
from .training import CompressedNetwork, SparseCompletion, compress, compress_trained, resume, train, train_batch

__all__ = ["Network", "Problem", "Factorization", "Regression", "Completion", "train", "train_batch", "Result",
           "resume", "load_checkpoint", "CheckpointError", "RunConfig", "grid", "spawn_seeds", "sweep", "SweepResult",
           "build_info", "analysis", "experiments", "theory", "__version__",
           "compression", "invariant_subspace", "compress", "compress_trained", "CompressedNetwork", "SparseCompletion",
           "SvdTracker", "BrandTracker", "TrackSpec", "SvdTrace", "ImplicitNetwork", "LowRankFactorization",
           "Activation", "ActivationKind"]
