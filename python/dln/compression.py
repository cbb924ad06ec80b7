"""Compression (SCIENCE.md 3): the names of :mod:`dln.theory` and :mod:`dln.training.compressed` in one place.

For a wide ``d x d`` deep linear network from orthogonal init ``W_l(0) = eps Q_l`` trained by gradient
descent on a factorisation or whitened regression problem with a rank-``r`` target, only a
``2r``-dimensional right subspace ``V_{1,1}`` of the first layer (and its images) ever moves; the wide
trajectory equals that of an ``(L+2)``-matrix chain plus a scalar complement term. The subspace and the
recursions live in :mod:`dln.theory`, the chain's training in :mod:`dln.training.compressed`.
"""

from __future__ import annotations

from .theory import invariant_subspace, subspace_sine
from .training.compressed import (
                                  CompressedNetwork,
                                  CompressedResult,
                                  PostHocCompression,
                                  SparseCompletion,
                                  compress,
                                  compress_trained,
                                  train_compressed,
)

__all__ = ["invariant_subspace", "compress", "CompressedNetwork", "train_compressed", "CompressedResult",
           "compress_trained", "PostHocCompression", "SparseCompletion", "subspace_sine"]
