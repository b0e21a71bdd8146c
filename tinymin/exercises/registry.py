"""The exercises, in the order of the tutorial chapters.

An exercise's folder holds its template, its cases and its hints (see
:mod:`tinymin.exercises.exercise`); this list is the only place that names them all.
"""

from __future__ import annotations

from tinymin.exercises import (
    adam,
    clip_and_rescale,
    collate,
    gain_offset,
    im2col,
    kernel_timing,
    matmul_backward,
    min_gemm,
    operation_counts,
    relative_error,
    selector_gemms,
    sum_to,
    torch_clip,
    train_epoch,
)
from tinymin.exercises.exercise import Exercise

#: Every exercise by name, in chapter order.
EXERCISES: dict[str, Exercise] = {module.EXERCISE.name: module.EXERCISE for module in (
    sum_to, matmul_backward, adam, collate, im2col, min_gemm, relative_error, clip_and_rescale,
    train_epoch, kernel_timing, operation_counts, selector_gemms, gain_offset, torch_clip,
)}


def get_exercise(name: str) -> Exercise:
    """The exercise called ``name``; a KeyError that lists them all if there is none."""
    if name not in EXERCISES:
        raise KeyError(f"exercise: no exercise {name!r}; the exercises are {', '.join(EXERCISES)}")
    return EXERCISES[name]


def by_chapter() -> dict[int, list[Exercise]]:
    """The exercises grouped by chapter, in order."""
    chapters: dict[int, list[Exercise]] = {}
    for exercise in EXERCISES.values():
        chapters.setdefault(exercise.chapter, []).append(exercise)
    return chapters
