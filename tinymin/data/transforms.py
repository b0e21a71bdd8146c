"""Image transforms on numpy arrays, named and behaving like ``torchvision.transforms``.

Every transform takes either one image ``(C, H, W)`` or a whole batch
``(N, C, H, W)`` and returns the same layout as a new float32 array (the input is
never modified). On a batch the random transforms draw independently for each
image, so a training loop can augment a batch in one call::

    x, y = EmbeddedMNIST().arrays()
    augment = Compose([RandomCrop(28, padding=2), Normalize((0.1307,), (0.3081,))])
    xb = augment(x[:64])                      # 64 different crops

Randomness comes from ``tinymin.random.default_rng()``, looked up at call time, so
``tinymin.manual_seed(s)`` makes the augmentations reproducible. Pass ``rng=`` (a
``numpy.random.Generator``) to give a transform its own stream instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from tinymin.random import default_rng

__all__ = [
    "CenterCrop",
    "Compose",
    "Lambda",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "ToFloat",
]


def _check_image(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as an array, raising unless it is ``(C, H, W)`` or ``(N, C, H, W)``."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{name}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {x.shape}"
        )
    return x


def _as_batch(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(x as (N, C, H, W), whether x was a single image)``."""
    return (x[None], True) if x.ndim == 3 else (x, False)


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    """``size`` (an int or a ``(height, width)`` pair) as a pair of positive ints."""
    pair = [size, size] if np.isscalar(size) else list(size)  # type: ignore[arg-type]
    if len(pair) != 2 or any(int(v) != v or v <= 0 for v in pair):
        raise ValueError(f"{name}: size must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


class Compose:
    """Apply ``transforms`` in order: ``Compose([a, b])(x) == b(a(x))``."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class Lambda:
    """Wrap any function ``fn(x)`` as a transform (with a readable repr)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        return self.fn(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self.fn, '__name__', repr(self.fn))})"


class ToFloat:
    """Convert to float32; integer pixels (e.g. ``dataset.data``) are divided by 255.

    ``uint8 (N, 28, 28)`` is not ``(N, C, H, W)``: add the channel axis first
    (``data[:, None]``), or use the dataset's ``arrays()``.
    """

    def __call__(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        out = x.astype(np.float32)
        if np.issubdtype(x.dtype, np.integer):
            out /= 255.0
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize:
    r"""Per-channel standardisation: :math:`y_c = (x_c - \mathrm{mean}_c) / \mathrm{std}_c`.

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel (or a single value for every channel); ``std > 0``.
        The usual MNIST values are ``mean=(0.1307,), std=(0.3081,)``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape:
            raise ValueError(
                f"Normalize: mean and std need one value per channel and the same "
                f"length, got mean {self.mean.tolist()} and std {self.std.tolist()}"
            )
        if not np.all(self.std > 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    def __call__(self, x: Any) -> np.ndarray:
        x = _check_image(x, "Normalize")
        channels = x.shape[-3]
        if len(self.mean) not in (1, channels):
            raise ValueError(
                f"Normalize: {len(self.mean)} mean/std values for an input with "
                f"{channels} channels (shape {x.shape})"
            )
        shape = (-1, 1, 1)
        return ((x - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(np.float32)

    def __repr__(self) -> str:
        mean = tuple(round(float(m), 6) for m in self.mean)
        std = tuple(round(float(s), 6) for s in self.std)
        return f"{type(self).__name__}(mean={mean}, std={std})"


class CenterCrop:
    """Cut the central ``size`` region (e.g. CIFAR-10 32x32 -> 28x28).

    The top-left corner is ``round((H - h) / 2), round((W - w) / 2)``, as in torchvision.
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "CenterCrop")

    def __call__(self, x: Any) -> np.ndarray:
        x = _check_image(x, "CenterCrop")
        (h, w), (height, width) = self.size, x.shape[-2:]
        if h > height or w > width:
            raise ValueError(f"CenterCrop: crop {self.size} larger than the image {x.shape}")
        top, left = int(round((height - h) / 2.0)), int(round((width - w) / 2.0))
        return x[..., top : top + h, left : left + w].astype(np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class RandomCrop:
    """Pad each side with zeros by ``padding``, then cut a ``size`` region at a random place.

    On a batch each image gets its own offsets.

    Parameters
    ----------
    size : int or (int, int)
        Output height and width.
    padding : int
        Zeros added on every side first (CIFAR-10 usually uses ``RandomCrop(32, 4)``).
    rng : numpy.random.Generator, optional
        Default: ``tinymin.random.default_rng()`` at each call.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int = 0,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.size = _pair(size, "RandomCrop")
        if int(padding) != padding or padding < 0:
            raise ValueError(f"RandomCrop: padding must be a non-negative int, got {padding!r}")
        self.padding = int(padding)
        self.rng = rng

    def __call__(self, x: Any) -> np.ndarray:
        batch, single = _as_batch(_check_image(x, "RandomCrop"))
        p, (h, w) = self.padding, self.size
        padded = np.pad(batch.astype(np.float32), ((0, 0), (0, 0), (p, p), (p, p)))
        height, width = padded.shape[-2:]
        if h > height or w > width:
            raise ValueError(
                f"RandomCrop: crop {self.size} larger than the padded image {padded.shape[1:]}"
            )
        rng = self.rng if self.rng is not None else default_rng()
        tops = rng.integers(0, height - h + 1, size=len(batch))
        lefts = rng.integers(0, width - w + 1, size=len(batch))
        out = np.empty(batch.shape[:2] + (h, w), dtype=np.float32)
        for i, (top, left) in enumerate(zip(tops, lefts)):
            out[i] = padded[i, :, top : top + h, left : left + w]
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (independently per image).

    Parameters
    ----------
    p : float
        Probability of flipping, in [0, 1].
    rng : numpy.random.Generator, optional
        Default: ``tinymin.random.default_rng()`` at each call.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = rng

    def __call__(self, x: Any) -> np.ndarray:
        batch, single = _as_batch(_check_image(x, "RandomHorizontalFlip"))
        rng = self.rng if self.rng is not None else default_rng()
        flip = rng.random(len(batch)) < self.p
        out = batch.astype(np.float32)  # always a copy
        out[flip] = out[flip][..., ::-1]
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"
