"""Datasets, transforms and the DataLoader, shaped like ``torch.utils.data``."""

from tinymin.data.dataloader import DataLoader, default_collate
from tinymin.data.dataset import Dataset, Subset, TensorDataset, random_split, random_subset

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate", "random_split",
           "random_subset"]
