"""Datasets, samplers, transforms and the DataLoader, shaped like ``torch.utils.data``
(also importable as :mod:`tinymin.utils.data`)."""

from tinymin.data.dataloader import DataLoader, default_collate, default_convert
from tinymin.data.dataset import (
    ConcatDataset,
    Dataset,
    Subset,
    TensorDataset,
    random_split,
    random_subset,
)
from tinymin.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from tinymin.data.workers import WorkerInfo, get_worker_info

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "WorkerInfo",
           "default_collate", "default_convert", "get_worker_info", "random_split",
           "random_subset"]
