"""The outcome of one training run, :class:`Result` (what :func:`dln.train` returns and checkpoints hold)."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from .network import Network

__all__ = ["Result", "STATUSES"]

STATUSES = ("converged", "max_steps", "diverged", "interrupted")


@dataclasses.dataclass(frozen=True)
class Result:
    """Outcome of :func:`train`.

    Attributes
    ----------
    status : str
        ``converged`` (loss <= tol), ``max_steps``, ``diverged`` (loss non-finite or above 1e8 times
        its initial value; ``network`` is then the last state whose loss was finite) or
        ``interrupted`` (Ctrl-C; ``network`` is the state reached).
    steps : int
        Updates applied to reach ``network``.
    loss : ndarray
        History: ``loss[0]`` at the start, ``loss[k]`` after ``k * record_every`` updates, in the
        problem's reduction units.
    network : Network
        The trained network (a new object; the input network is never modified).
    final_loss : float
        Loss of ``network``.
    seconds : float
        Wall time of the C++ loop.
    message : str
        What happened, in words.
    """

    status: str
    steps: int
    loss: np.ndarray
    network: Network
    final_loss: float
    seconds: float
    message: str
    optimizer: str
    lr: float
    reduction: str
    record_every: int
    n_threads: int
    form: str
    svd: Optional[Any] = None  # dln.tracking.SvdTrace when trained with track_svd

    @classmethod
    def _trusted(cls, fields: dict) -> "Result":
        """A result of these checked fields (every one given), without the dataclass's ``__init__``: a batch
        builds one per run, and the frozen ``__init__`` costs several times more than this."""
        result = cls.__new__(cls)
        result.__dict__.update(fields)
        return result

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def __repr__(self) -> str:
        return (f"Result(status={self.status!r}, steps={self.steps}, final_loss={self.final_loss:.6g}, "
                f"seconds={self.seconds:.3g}, network={self.network!r})")
