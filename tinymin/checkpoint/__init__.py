"""Saving and loading: checkpoints, the npz state codec, atomic writes.

* :mod:`.archive`: :func:`save_checkpoint` / :func:`load_checkpoint`, one ``.npz``
  file (no pickle) with weights, optimizer and scheduler state and the run's config;
* :mod:`.state_codec`: :func:`flatten_state_dict` / :func:`unflatten_state_dict`, an
  optimizer's or scheduler's ``state_dict()`` as flat arrays and back;
* :mod:`.atomic`: :func:`atomic_file` and the ``write_*_atomic`` helpers that every
  file tinymin writes goes through;
* :mod:`.serialization`: ``tinymin.save`` / ``tinymin.load``, a state dict or a tensor
  in one ``.npz`` file, the PyTorch habit without pickle.
"""

from tinymin.checkpoint.archive import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from tinymin.checkpoint.atomic import (
    atomic_file,
    remove_stale_temporaries,
    write_bytes_atomic,
    write_npz_atomic,
    write_text_atomic,
)
from tinymin.checkpoint.state_codec import flatten_state_dict, unflatten_state_dict

__all__ = [
    "FORMAT_VERSION", "Checkpoint", "CheckpointError", "atomic_file", "flatten_state_dict",
    "load_checkpoint", "remove_stale_temporaries", "save_checkpoint", "unflatten_state_dict",
    "write_bytes_atomic", "write_npz_atomic", "write_text_atomic",
]
