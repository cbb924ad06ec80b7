"""`dln.reproduce` is :mod:`dln.science.reproduce` (the same module object), kept at its first address."""

import sys

from .science import reproduce as _module

sys.modules[__name__] = _module
