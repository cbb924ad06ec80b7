"""Input coercion at the Python boundary: the core is strict, this layer converts or refuses.

Floating arrays are converted to the working dtype (float64 or float32); integer, bool, complex and
object arrays raise TypeError; ragged nested lists and masked arrays with masked entries raise
ValueError. Arrays that are already C-contiguous and of the right dtype are used without a copy.
Every message starts with the name of the offending parameter.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import AbstractSet, Any, Mapping, Sequence

import numpy as np

from . import _memory

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


def array(a: Any, name: str) -> np.ndarray:
    """`a` as an ndarray (no copy when it is one). Ragged nested lists and objects NumPy cannot read
    raise ValueError naming `name`; a masked array with masked entries too, since its mask would be
    dropped without a word (and the values under it used)."""
    if np.ma.isMaskedArray(a) and np.ma.getmaskarray(a).any():
        raise ValueError(f"{name}: a masked array ({int(np.ma.getmaskarray(a).sum())} entries masked); dln has no "
                         f"missing values here (fill them: a.filled(value); for completion, pass the observed entries "
                         f"as the mask)")
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be read as an array ({exc})") from None


def floating_array(a: Any, name: str) -> np.ndarray:
    """`a` as an ndarray with a floating dtype (not yet converted to the working dtype)."""
    arr = array(a, name)
    kind = arr.dtype.kind
    if kind != "f":
        names = {"b": "bool", "i": "integer", "u": "unsigned integer", "c": "complex", "O": "object"}
        what = names.get(kind, str(arr.dtype))
        raise TypeError(f"{name}: expected a floating-point array, got dtype {arr.dtype} ({what})")
    return arr


def cast(arr: np.ndarray, name: str, dtype: np.dtype) -> np.ndarray:
    """`arr` as a C-contiguous array of `dtype`; ValueError naming `name` when a narrowing cast
    overflows (float64 to float32, long double to float64)."""
    if arr.dtype != dtype and dtype.itemsize < arr.dtype.itemsize:
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(arr, dtype=dtype)
        if np.isinf(out).any() and not np.isinf(arr).any():
            big = np.format_float_scientific(np.abs(arr).max(), precision=2)  # long double: not via float
            raise ValueError(f"{name}: values exceed the range of {dtype} (largest magnitude {big})")
        return out
    return np.ascontiguousarray(arr, dtype=dtype)


def matrix(a: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """A non-empty 2-D C-contiguous array of `dtype`; no copy when `a` already is one."""
    arr = floating_array(a, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got ndim={arr.ndim} with shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array of shape {arr.shape}")
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        # A copy follows; a broadcast view can be far larger than the memory behind it.
        _memory.require(float(arr.shape[0]) * float(arr.shape[1]) * dtype.itemsize, name,
                        f"a C-ordered {dtype} copy of shape {arr.shape}")
    return cast(arr, name, dtype)


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


def finite(value: Any, name: str) -> float:
    """A real number that is neither NaN nor infinite."""
    x = real(value, name)
    if not math.isfinite(x):
        raise ValueError(f"{name}: must be finite, got {x!r}")
    return x


def sequence(value: Any, name: str) -> Sequence:
    """An ordered collection with a length (list, tuple, range, 1-D array, ...). Sets and mappings
    would be read in an order the caller did not choose, strings as characters."""
    if isinstance(value, (str, bytes, Mapping, AbstractSet)) or not hasattr(value, "__len__") or \
            (isinstance(value, np.ndarray) and value.ndim == 0):
        raise TypeError(f"{name}: expected a sequence (list or tuple), got {type(value).__name__} {value!r}")
    return value


def path(value: Any, name: str) -> str:
    """A file-system path as ``str``: ``str`` or ``os.PathLike``, not empty, no NUL byte."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a str or os.PathLike path, got {type(value).__name__}")
    p = os.fspath(value)
    if not isinstance(p, str):
        raise TypeError(f"{name}: expected a str or os.PathLike path, got {type(value).__name__} of bytes")
    if not p:
        raise ValueError(f"{name}: empty path")
    if "\0" in p:
        raise ValueError(f"{name}: path {p!r} contains a NUL byte")
    return p


def folder(value: Any, name: str) -> Path:
    """``value`` as a folder that exists (made with its parents if needed), or an OSError naming ``name``."""
    p = Path(path(value, name))
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file of that name
        raise NotADirectoryError(f"{name}: {p} exists and is not a directory") from exc
    except OSError as exc:
        raise os_error(exc, f"{name}: cannot create {p}: {exc.strerror or exc}") from exc
    return p


def os_error(exc: OSError, message: str) -> OSError:
    """``exc`` again, same type and errno, with ``message`` (which starts with the parameter name)
    instead of the OS's ``[Errno n] ...``."""
    out = type(exc)(message)
    out.errno = exc.errno  # (setting strerror too would bring the "[Errno n]" form back)
    return out


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(repr(o) for o in options)}, got {value!r}")
    return value
