"""``torchvision``'s paths: ``from torchvision import datasets, transforms`` ports as
``from tinymin.vision import datasets, transforms``.

:mod:`tinymin.vision.datasets` hands each transform what torchvision hands it (a PIL
image when Pillow is installed, else a ``uint8`` ``(H, W)`` array), and
:mod:`tinymin.vision.transforms` has ``ToTensor`` to turn that into a ``(C, H, W)``
float Tensor in [0, 1]. tinymin's own datasets (:mod:`tinymin.data.datasets`) skip
that step and hand out float arrays directly.
"""

from tinymin.vision import datasets, transforms

__all__ = ["datasets", "transforms"]
