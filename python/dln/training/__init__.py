"""Training: one run checked once and handed to the core, in three ways.

* :mod:`.prepared`: a run checked for type and converted for the core (:class:`~.prepared.Prepared`,
  its :class:`~.prepared.Settings`), and running it.
* :mod:`.compressed`: the equivalent narrow chain trained in place of the wide network, lifted back.
* :mod:`.checkpointed`: the run in segments that each write a checkpoint (:mod:`dln.io`), and resuming.
* :mod:`.facade`: :func:`train` (choosing among the three) and :func:`train_batch`.
"""

from __future__ import annotations

from ..result import STATUSES, Result
from .checkpointed import resume, train_checkpointed
from .compressed import (
                         CompressedNetwork,
                         CompressedResult,
                         PostHocCompression,
                         SparseCompletion,
                         compress,
                         compress_trained,
                         train_compressed,
)
from .facade import train, train_batch
from .prepared import OPTIMIZERS, Prepared, Settings, prepare

__all__ = ["train", "train_batch", "Result", "STATUSES", "OPTIMIZERS", "resume", "train_checkpointed",
           "train_compressed", "compress", "compress_trained", "CompressedNetwork", "CompressedResult",
           "PostHocCompression", "SparseCompletion", "Prepared", "Settings", "prepare"]
