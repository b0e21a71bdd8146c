"""Solution of the collate exercise."""

import numbers

import numpy as np

from tinymin import Tensor


def _kind(sample):
    if isinstance(sample, str):
        return "string", None
    if isinstance(sample, (tuple, list)):
        return "sequence", len(sample)
    if isinstance(sample, dict):
        return "mapping", sorted(map(str, sample))
    if isinstance(sample, (Tensor, np.ndarray)):
        return "array", np.shape(getattr(sample, "data", sample))
    if isinstance(sample, (bool, np.bool_, numbers.Real)):
        return "number", None
    return type(sample).__name__, None


def default_collate(samples):
    first = _kind(samples[0])
    for index, sample in enumerate(samples):
        if _kind(sample) != first:
            raise ValueError(f"sample {index} is {_kind(sample)}, sample 0 is {first}")
    kind = first[0]
    if kind == "sequence":
        return [default_collate([s[i] for s in samples]) for i in range(len(samples[0]))]
    if kind == "mapping":
        return {key: default_collate([s[key] for s in samples]) for key in samples[0]}
    if kind == "array":
        return Tensor(np.stack([getattr(s, "data", s) for s in samples]))
    if kind == "number":
        if all(isinstance(s, (bool, np.bool_)) for s in samples):
            dtype = np.bool_
        elif all(isinstance(s, numbers.Integral) for s in samples):
            dtype = np.int64
        else:
            dtype = np.float32
        return Tensor(np.array(samples, dtype=dtype))
    if kind == "string":
        return list(samples)
    raise TypeError(f"cannot batch {kind}")
