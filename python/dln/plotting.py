"""`dln.plotting` is :mod:`dln.science.plotting` (the same module object), kept at its first address."""

import sys

from .science import plotting as _module

sys.modules[__name__] = _module
