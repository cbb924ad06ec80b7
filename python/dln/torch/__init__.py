"""dln for PyTorch networks (the optional extra ``dln[torch]``, pinned to the tested torch).

* :class:`DeepLinear` - a deep linear block ``W_L ... W_1`` with dln's orthogonal init, and
  :func:`compress` - its compressed equivalent (:class:`CompressedDeepLinear`) with two-timescale
  parameter groups (Kwon et al.; SCIENCE.md section 3).
* :class:`DeepLoRA`, :class:`LoRA`, :func:`add_adapters`, :func:`compress_adapters`, :func:`merge` -
  adapters on frozen ``nn.Linear`` layers (Yaras et al., "Compressible dynamics ...").
* :class:`SpectrumRecorder` - singular values and subspace angles of any model's weights in your own
  loop, through dln's incremental SVD trackers; :func:`plot_spectra`, :func:`plot_angles` draw them.
* :mod:`dln.torch.experiments` - ``mlp_compressed``, ``deep_lora``, ``nonlinear_subspace``.

Everything is float64 by default and supports float32.
"""

from __future__ import annotations

from ._blocks import CompressedDeepLinear, DeepLinear, compress
from ._lora import DeepLoRA, LoRA, adapters, add_adapters, compress_adapters, merge
from ._plot import plot_angles, plot_spectra
from ._recorder import SpectrumRecorder

__all__ = ["DeepLinear", "CompressedDeepLinear", "compress", "DeepLoRA", "LoRA", "add_adapters", "adapters",
           "compress_adapters", "merge", "SpectrumRecorder", "plot_spectra", "plot_angles"]
