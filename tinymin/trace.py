"""Record what each step of Algorithm 1 computes, so a learner can print it.

>>> import tinymin as tm
>>> with tm.trace() as steps:          # doctest: +SKIP
...     model(x)
>>> print(steps)                       # doctest: +SKIP

Layers call :func:`record` at every named step; outside a ``trace()`` block that is a
no-op costing one ``if``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_active: list[Trace] = []


@dataclass
class TraceRecord:
    """One step of one layer call: its name and a summary of each value it produced."""

    layer: str
    step: str
    values: dict[str, dict[str, Any]]

    def __str__(self) -> str:
        parts = [f"{name}: {_describe(summary)}" for name, summary in self.values.items()]
        return f"[{self.layer}] {self.step}\n    " + "\n    ".join(parts)


@dataclass
class Trace:
    """The records of one ``with tinymin.trace():`` block, in the order they happened.

    Set ``keep_arrays=True`` to also keep a copy of every array (``record.values[name]
    ["array"]``), e.g. to plot one step's output.
    """

    keep_arrays: bool = False
    records: list[TraceRecord] = field(default_factory=list)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> TraceRecord:
        return self.records[index]

    def steps(self, layer: str | None = None) -> list[str]:
        """Names of the recorded steps (of one layer, if given)."""
        return [r.step for r in self.records if layer is None or r.layer == layer]

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.records)


@contextlib.contextmanager
def trace(keep_arrays: bool = False) -> Iterator[Trace]:
    """Context manager collecting a :class:`Trace` of every instrumented step inside it."""
    recorder = Trace(keep_arrays=keep_arrays)
    _active.append(recorder)
    try:
        yield recorder
    finally:
        _active.remove(recorder)


def record(layer: str, step: str, **values: Any) -> None:
    """Add one step's values (arrays or numbers) to every active trace."""
    if not _active:
        return
    for recorder in _active:
        summaries = {name: _summarise(v, recorder.keep_arrays) for name, v in values.items()}
        recorder.records.append(TraceRecord(layer, step, summaries))


def _summarise(value: Any, keep_array: bool) -> dict[str, Any]:
    array = np.asarray(value)
    if array.size == 1:
        return {"value": float(array.reshape(-1)[0])} if array.dtype.kind == "f" else {"value": array.item()}
    summary = {"shape": array.shape, "dtype": str(array.dtype)}
    if array.dtype.kind == "b":
        summary["fraction_true"] = float(array.mean())
    else:
        summary.update(mean=float(array.mean()), mean_abs=float(np.abs(array).mean()),
                       min=float(array.min()), max=float(array.max()))
    if keep_array:
        summary["array"] = array.copy()
    return summary


def _describe(summary: dict[str, Any]) -> str:
    if "value" in summary:
        value = summary["value"]
        return f"{value:.6g}" if isinstance(value, float) else str(value)
    if "fraction_true" in summary:
        return f"mask {summary['shape']}, {summary['fraction_true']:.1%} true"
    return (f"{summary['shape']} {summary['dtype']}, mean {summary['mean']:.4g}, "
            f"mean|.| {summary['mean_abs']:.4g}, range [{summary['min']:.4g}, {summary['max']:.4g}]")
