"""`dln.experiments` is :mod:`dln.science.experiments` (the same module object), kept at its first address."""

import sys

from .science import experiments as _module

sys.modules[__name__] = _module
