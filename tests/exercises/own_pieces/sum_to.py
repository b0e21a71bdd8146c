"""tinymin's own sum_to as a learner's file."""

from tinymin.autograd import sum_to  # noqa: F401
