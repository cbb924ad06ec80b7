"""One progress display for long runs: a tqdm bar or the user's callable, fed from the calling thread."""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional


class Progress:
    """Progress counted in updates (optimiser steps), shown as a tqdm bar or passed to a callable.

    ``progress``: ``None`` shows a bar when stderr is a terminal and tqdm is installed, ``True`` always
    (tqdm required), ``False`` never; a callable is called with the number of updates done.
    """

    def __init__(self, progress: Any, total: int, label: str) -> None:
        if not (progress is None or isinstance(progress, bool) or callable(progress)):
            raise TypeError(f"progress: expected None, True, False or a callable, got {type(progress).__name__}")
        self.user = progress if callable(progress) and not isinstance(progress, bool) else None
        self.bar = None
        self.error: Optional[Exception] = None
        if self.user is not None or progress is False:
            return
        if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if progress is True:
                raise ImportError("progress: needs tqdm (pip install tqdm)") from None
            return
        self.bar = tqdm(total=total, desc=label, unit="step", leave=False)

    def update(self, done: int) -> None:
        if self.user is not None:
            try:
                self.user(done)
            except Exception as exc:  # the core stops the run (interrupted); explain() tells it
                self.error = exc
                raise
        elif self.bar is not None:
            self.bar.update(done - self.bar.n)

    def callback(self, offset: int = 0) -> Optional[Callable[[int], None]]:
        """What the core should call for work that starts ``offset`` updates in (None: nothing to show)."""
        if self.user is None and self.bar is None:
            return None
        return lambda n: self.update(offset + n)

    def __enter__(self) -> "Progress":
        return self

    def explain(self, message: str) -> str:
        """A run's message, with the error of the progress callable if it raised one (the core then
        stops the run, unless it was already done)."""
        if self.error is None:
            return message
        return f"{message}; the progress callable raised {type(self.error).__name__}: {self.error}"

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
