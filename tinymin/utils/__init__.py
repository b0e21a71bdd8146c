"""``tinymin.utils``: PyTorch's ``torch.utils`` paths, so that
``from torch.utils.data import DataLoader`` ports as
``from tinymin.utils.data import DataLoader``."""

from tinymin.utils import data

__all__ = ["data"]
