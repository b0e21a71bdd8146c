"""tinymin on PyTorch: the same models, weights and Algorithm 1, on GPUs and across processes.

An optional engine (``pip install -e ".[torch]"``); ``import tinymin`` never imports
torch. See :doc:`/guides/scaling_out`.

* :class:`MinConv2d`: the twin of :class:`tinymin.nn.MinConv2d` (same constructor,
  buffers and state_dict keys), running :class:`~tinymin.torch.functional.MinConv2dFunction`,
  Algorithm 1 as a ``torch.autograd.Function`` whose steps carry the numpy steps' names;
* :func:`to_torch` / :func:`from_torch`: a tinymin model to the equivalent torch module
  and back, bit for bit.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError('tinymin.torch needs PyTorch, the optional "torch" extra: '
                      'pip install -e ".[torch]" (or pip install torch)') from exc

from tinymin.torch.convert import from_torch, to_torch
from tinymin.torch.functional import MinConv2dFunction, min_conv2d
from tinymin.torch.layer import MinConv2d

__all__ = ["MinConv2d", "MinConv2dFunction", "from_torch", "min_conv2d", "to_torch"]
