"""Input coercion at the Python boundary: the core is strict, this layer converts or refuses.

Floating arrays are converted to the working dtype (float64 or float32); integer, bool, complex and
object arrays raise TypeError. Arrays that are already C-contiguous and of the right dtype are used
without a copy. Every message starts with the name of the offending parameter.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def as_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """Normalise a dtype argument to float64 or float32."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name}: not a dtype: {dtype!r}") from exc
    if dt not in DTYPES:
        raise TypeError(f"{name}: must be float64 or float32, got {dt}")
    return dt


def floating_array(a: Any, name: str) -> np.ndarray:
    """`a` as an ndarray with a floating dtype (not yet converted to the working dtype)."""
    arr = np.asarray(a)
    kind = arr.dtype.kind
    if kind != "f":
        what = {"b": "bool", "i": "integer", "u": "unsigned integer", "c": "complex", "O": "object"}.get(kind, str(arr.dtype))
        raise TypeError(f"{name}: expected a floating-point array, got dtype {arr.dtype} ({what})")
    return arr


def matrix(a: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """A non-empty 2-D C-contiguous array of `dtype`; no copy when `a` already is one."""
    arr = floating_array(a, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got ndim={arr.ndim} with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array of shape {arr.shape}")
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        # A copy follows; a broadcast view can be far larger than the memory behind it.
        from . import _memory
        _memory.require(float(arr.shape[0]) * float(arr.shape[1]) * dtype.itemsize, name,
                        f"a C-ordered {dtype} copy of shape {arr.shape}")
    if arr.dtype != dtype and dtype.itemsize < arr.dtype.itemsize:
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(arr, dtype=dtype)
        if np.isinf(out).any() and not np.isinf(arr).any():
            raise ValueError(f"{name}: values exceed the range of {dtype} (largest magnitude {np.abs(arr).max():.3g})")
        return out
    return np.ascontiguousarray(arr, dtype=dtype)


def common_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 when every array is float32, else float64 (the default)."""
    if arrays and all(a.dtype == np.float32 for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def integer(value: Any, name: str, minimum: int | None = None, maximum: int = 2**63 - 1) -> int:
    """An integer in [minimum, maximum] (the default maximum is what the core's 64-bit counters hold)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value}")
    return value


def real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    return float(value)


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(repr(o) for o in options)}, got {value!r}")
    return value
