"""tinymin's own epoch loop as a learner's file."""

from tinymin.train import train_epoch  # noqa: F401
