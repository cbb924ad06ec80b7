"""Argument checks shared by dln.torch: every failure names the parameter, before any work."""

from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np
import torch

DTYPES = (torch.float64, torch.float32)


def integer(value: Any, name: str, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {v}")
    return v


def real(value: Any, name: str, minimum: Optional[float] = None, positive: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    if positive and not v > 0:
        raise ValueError(f"{name}: must be > 0, got {v}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {v}")
    return v


def dtype(value: Any, name: str = "dtype") -> torch.dtype:
    if value not in DTYPES:
        raise TypeError(f"{name}: expected torch.float64 or torch.float32, got {value!r}")
    return value


def device(value: Any, name: str = "device") -> torch.device:
    try:
        dev = torch.device("cpu" if value is None else value)
    except (TypeError, RuntimeError) as exc:
        raise TypeError(f"{name}: not a torch device: {value!r} ({exc})") from None
    if dev.type == "meta":
        raise ValueError(f"{name}: the meta device holds no values; dln's init needs a real device")
    return dev


def tensor(value: Any, name: str, ndim: Optional[int] = None, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """A finite floating tensor; with ``like``, of its dtype and device (TypeError otherwise)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in DTYPES:
        raise TypeError(f"{name}: expected dtype torch.float64 or torch.float32, got {value.dtype}")
    if like is not None:
        if value.dtype != like.dtype:
            raise TypeError(f"{name}: dtype {value.dtype} differs from the module's {like.dtype}")
        if value.device != like.device:
            raise ValueError(f"{name}: on device {value.device}, the module is on {like.device}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D tensor, got shape {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name}: contains NaN or Inf")
    return value


def numpy64(t: torch.Tensor) -> np.ndarray:
    """A float64 NumPy copy of a tensor (exact for float32 values), from any device."""
    return t.detach().to(device="cpu", dtype=torch.float64).numpy().copy()


def seeds(seed: int, n: int) -> list[int]:
    """``n`` independent seeds from one (SeedSequence words, shifted to fit a signed 64-bit integer)."""
    return [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in np.random.SeedSequence(seed).spawn(n)]
