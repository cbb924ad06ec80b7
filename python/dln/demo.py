"""`dln.demo` is :mod:`dln.science.demo` (the same module object), kept at its first address."""

import sys

from .science import demo as _module

sys.modules[__name__] = _module
