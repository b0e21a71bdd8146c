"""``torchvision.transforms``' names: ``ToTensor``, ``Normalize``, ``Compose``, ``Lambda``,
and the crops and flips of :mod:`tinymin.data.transforms`, which work on ``(C, H, W)``
(or ``(N, C, H, W)``) Tensors and arrays, so they go after ``ToTensor`` (torchvision's
also take PIL images, before it).

A typical torchvision pipeline runs unchanged::

    transform = transforms.Compose([
        transforms.ToTensor(),                       # image -> (1, 28, 28) float in [0, 1]
        transforms.Normalize((0.1307,), (0.3081,)),
    ])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinymin.data import transforms as array_transforms
from tinymin.data.transforms import Compose, Lambda
from tinymin.tensor import Tensor

__all__ = ["CenterCrop", "Compose", "Lambda", "Normalize", "RandomCrop",
           "RandomHorizontalFlip", "ToTensor"]


class ToTensor:
    """An image (PIL image or ``(H, W[, C])`` array) -> a ``(C, H, W)`` Tensor, as
    torchvision's ``ToTensor``.

    ``uint8`` pixels (and PIL images of 8-bit modes: ``L``, ``RGB``, ``RGBA``, ``P``,
    ...) become float32 in [0, 1]:

    .. math::

        y_{c,i,j} = x_{i,j,c} / 255

    An array of another dtype is only moved to channel-first, its values and dtype
    kept (torchvision does the same). A 2-D array or a one-channel image gets
    :math:`C = 1`.

    Raises
    ------
    TypeError
        For a Tensor (already converted) or anything that is not an image or array.
    ValueError
        For an array that is not 2-D or 3-D.
    """

    def __call__(self, pic: Any) -> Tensor:
        if isinstance(pic, Tensor) or not (_is_pil_image(pic) or isinstance(pic, np.ndarray)):
            raise TypeError(f"ToTensor: pic should be PIL Image or ndarray. Got {type(pic)}")
        pixels = _pil_to_array(pic) if _is_pil_image(pic) else pic
        if pixels.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2/3 dimensional. Got {pixels.ndim} "
                             "dimensions.")
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            chw = chw.astype(np.float32)
            chw /= 255.0
        return Tensor(chw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize(array_transforms.Normalize):
    r"""Per-channel standardisation :math:`y_c = (x_c - \mathrm{mean}_c) / \mathrm{std}_c`
    of a ``(..., C, H, W)`` Tensor, as torchvision's (a Tensor in, a Tensor out, its
    dtype kept, differentiable); a numpy array gives a float32 array, as
    :class:`tinymin.data.transforms.Normalize`.

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel (or one for all); ``std > 0``.
    inplace : bool, default False
        Accepted for torchvision's signature; the result is always a new Tensor.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        super().__init__(mean, std)
        self.inplace = inplace

    def __call__(self, x: Any) -> Any:
        if not isinstance(x, Tensor):
            return super().__call__(x)
        if x.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor image (..., C, H, W), got shape "
                             f"{x.shape}")
        channels = x.shape[-3]
        if len(self.mean) not in (1, channels):
            raise ValueError(f"Normalize: {len(self.mean)} mean/std values for an input with "
                             f"{channels} channels (shape {x.shape})")
        mean = self.mean.astype(x.dtype).reshape(-1, 1, 1)
        std = self.std.astype(x.dtype).reshape(-1, 1, 1)
        return (x - mean) / std

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", inplace={self.inplace})"


def _is_pil_image(obj: Any) -> bool:
    """Whether ``obj`` is a PIL image, without importing Pillow when it is not in use."""
    return any(cls.__module__.startswith("PIL.") and cls.__name__ == "Image"
               for cls in type(obj).__mro__)


def _pil_to_array(pic: Any) -> np.ndarray:
    """A PIL image as an ``(H, W[, C])`` array: 8-bit modes as uint8; mode ``"1"``
    (one bit per pixel) as 0/255 like torchvision; ``I``/``F`` as int32/float32."""
    pixels = np.array(pic, copy=True)
    if pic.mode == "1":
        pixels = pixels.astype(np.uint8) * 255
    return pixels


class _TensorInTensorOut:
    """Run an array transform of :mod:`tinymin.data.transforms` on a Tensor too,
    handing back a Tensor (torchvision's transforms keep the type they are given)."""

    def __call__(self, x: Any) -> Any:
        if isinstance(x, Tensor):
            return Tensor(super().__call__(x.numpy()))  # type: ignore[misc]
        return super().__call__(x)  # type: ignore[misc]


class CenterCrop(_TensorInTensorOut, array_transforms.CenterCrop):
    """:class:`tinymin.data.transforms.CenterCrop`, on Tensors or arrays."""


class RandomCrop(_TensorInTensorOut, array_transforms.RandomCrop):
    """:class:`tinymin.data.transforms.RandomCrop`, on Tensors or arrays."""


class RandomHorizontalFlip(_TensorInTensorOut, array_transforms.RandomHorizontalFlip):
    """:class:`tinymin.data.transforms.RandomHorizontalFlip`, on Tensors or arrays."""
