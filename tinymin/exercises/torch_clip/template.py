"""Exercise torch_clip: step 3 of Algorithm 1 on the PyTorch engine (chapter 13).

``tinymin.torch`` runs the same models on PyTorch, step for step: each named step of
``tinymin/minconv/functional.py`` has a torch twin in ``tinymin/torch/functional.py``
that computes the same numbers on torch tensors (on a GPU too). Write the twin of
step 3 (Eq. 14): clip in units of the mean magnitude :math:`\\mu`, and the mask that
step 7 needs,

.. math::

    a_c = \\mu\\, \\operatorname{clip}(a / \\mu,\\ -T,\\ T), \\qquad
    \\text{inside} = |a| \\le T \\mu

with torch operations only (no numpy, no ``.item()``: ``mu`` is a tensor that may live
on a GPU, of shape ``()`` or broadcastable to ``a``), keeping ``a``'s dtype. A
``clip_value`` of None clips nothing: return ``a`` itself and None. Autograd must see
the clip: the gradient of :math:`a_c` with respect to :math:`a` is the mask.

Check your answer (needs torch: ``pip install -e ".[torch]"``)::

    python -m tinymin exercise check torch_clip --file this_file.py

tinymin's own answer: ``step3_clip`` in ``tinymin/torch/functional.py``.
"""

import torch


def step3_clip(a: torch.Tensor, mu: torch.Tensor, clip_value) -> tuple:
    """Step 3 on torch tensors.

    Parameters
    ----------
    a : torch.Tensor
    mu : torch.Tensor
        The mean magnitude, shape () or broadcastable to ``a``.
    clip_value : float or None
        :math:`T`.

    Returns
    -------
    (a_c, inside) : tuple
        ``a_c`` a tensor of ``a``'s shape and dtype; ``inside`` a bool tensor (None when
        ``clip_value`` is None).
    """
    raise NotImplementedError
