"""The base of the image datasets: uint8 pixels kept as ``.data``, served as float32
``(C, H, W)`` samples in [0, 1] (what ``torchvision``'s ``ToTensor()`` gives), and the
class names of the MNIST family and CIFAR-10. Its subclasses are in
:mod:`tinymin.data.embedded` and :mod:`tinymin.data.datasets`."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tinymin.data.dataset import Dataset

MNIST_CLASSES = [
    "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
    "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
]  # fmt: skip
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip



class _ImageClassification(Dataset):
    """Shared behaviour: uint8 ``data`` -> float32 ``(C, H, W)`` samples in [0, 1]."""

    classes: list[str] = []

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray,
        *,
        train: bool,
        source: Path,
        transform: Callable[[np.ndarray], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ) -> None:
        self.data = data
        self.targets = targets.astype(np.int64)
        self.train = train
        self.source = source
        self.transform = transform
        self.target_transform = target_transform

    @staticmethod
    def _to_float(pixels: np.ndarray, batched: bool) -> np.ndarray:
        """uint8 pixels -> float32 in [0, 1], adding the channel axis to gray images."""
        x = pixels.astype(np.float32)
        x /= 255.0
        is_gray = x.ndim - int(batched) == 2
        return np.expand_dims(x, int(batched)) if is_gray else x

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = operator.index(index)
        x: Any = self._to_float(self.data[i], batched=False)
        y: Any = int(self.targets[i])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __len__(self) -> int:
        return len(self.data)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole split at once: ``(x float32 (N, C, H, W) in [0, 1], y int64 (N,))``.

        Neither ``transform`` nor ``target_transform`` is applied.
        """
        return self._to_float(self.data, batched=True), self.targets.copy()

    def __repr__(self) -> str:
        lines = [
            type(self).__name__,
            f"    Number of datapoints: {len(self)}",
            f"    Split: {'train' if self.train else 'test'}",
            f"    Location: {self.source}",
        ]
        for label, t in (
            ("Transform", self.transform),
            ("Target transform", self.target_transform),
        ):
            if t is not None:
                lines.append(f"    {label}: " + repr(t).replace("\n", "\n    "))
        return "\n".join(lines)

