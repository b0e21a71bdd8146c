"""tinymin's own steps 3, 4 and 7 of Algorithm 1 as a learner's file."""

from tinymin.minconv.functional import step3_clip, step4_rescale, step7_through_clip  # noqa: F401
