"""Exercise collate: turn a list of samples into one batch (chapter 4).

A ``DataLoader`` takes ``batch_size`` samples from the dataset, then hands them to a
*collate* function that builds the batch the model sees. A batch has the structure of
one sample, with every leaf batched along a new leading axis:

.. math::

    \\operatorname{collate}([s_0, \\dots, s_{B-1}]) =
    \\begin{cases}
    [\\operatorname{collate}([s_b[0]]_b), \\operatorname{collate}([s_b[1]]_b), \\dots]
        & s_b \\text{ a tuple or list} \\\\
    \\{k: \\operatorname{collate}([s_b[k]]_b)\\}
        & s_b \\text{ a dict} \\\\
    \\operatorname{Tensor}(\\operatorname{stack}(s_0, \\dots, s_{B-1}))
        & s_b \\text{ an array or Tensor, or a number} \\\\
    [s_0, \\dots, s_{B-1}]
        & s_b \\text{ a string}
    \\end{cases}

A tuple of fields gives a *list* of batches, as PyTorch's collate gives (``x, y =
batch`` unpacks it either way); strings such as file names cannot be stacked and
stay a list. A batch of Python numbers takes the dtype that fits them all: bool if all are bools,
int64 if all are integers (bools count as integers), float32 otherwise (so a float label after int labels is
never truncated). Arrays of different dtypes promote as numpy does.

Samples that differ in structure (a tuple of 2 and a tuple of 3, a dict with other
keys, an array of another shape, a number and an array) cannot be batched: raise a
ValueError that says which sample differs from sample 0.

Check your answer::

    python -m tinymin exercise check collate --file this_file.py

tinymin's own answer: ``tinymin.data.dataloader.default_collate``.
"""

import numpy as np

from tinymin import Tensor


def default_collate(samples: list):
    """Stack a list of samples into a batch, keeping the sample's structure.

    Parameters
    ----------
    samples : list
        At least one sample: arrays, Tensors, numbers, strings, or tuples, lists and
        dicts of them (nested to any depth).

    Returns
    -------
    Tensor, list or dict
        A Tensor for arrays and numbers; a list for tuples and lists (and for strings:
        the strings themselves); a dict for dicts.
    """
    raise NotImplementedError
