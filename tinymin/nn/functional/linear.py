"""The affine layer :math:`y = x W^\\top + b`."""

from __future__ import annotations

from tinymin.tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map with PyTorch's weight layout (``out_features x in_features``).

    .. math::

        y = x W^\\top + b

    Parameters
    ----------
    x : Tensor
        Shape ``(..., in_features)``.
    weight : Tensor
        Shape ``(out_features, in_features)``.
    bias : Tensor, optional
        Shape ``(out_features,)``.
    """
    if weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input shape {x.shape} does not match weight shape {weight.shape} "
            f"(expected input (..., {weight.shape[-1]}))"
        )
    out = x @ weight.T
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias shape {bias.shape} != ({weight.shape[0]},)")
        out = out + bias
    return out
