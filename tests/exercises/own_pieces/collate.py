"""tinymin's own collate as a learner's file."""

from tinymin.data.dataloader import default_collate  # noqa: F401
