r"""Is :math:`\min(|x|, |w|)` similar to :math:`|x||w|`? The paper's Table 1.

:func:`table1` measures the Pearson correlation (Eq. 3) of the product with the
min-selector, the addition and the max-selector for the six pairs of distributions of
the paper's Table 1 (docs/guides/minconv_math.rst, section 2). Plain numpy, seeded,
independent of the rest of tinymin; :mod:`tinymin.analysis.approximation` answers the
second question, how close the signed minimum is to the product itself.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from tinymin.analysis._checks import _check_n_samples, _check_samples, _check_seed

__all__ = [
    "PAPER_TABLE1",
    "TABLE1_COLUMNS",
    "TABLE1_DISTRIBUTIONS",
    "TABLE1_ROWS",
    "format_table1",
    "operator_correlations",
    "pearson",
    "table1",
]

# --------------------------------------------------------------------------- #
# Table 1: the six pairs of distributions and the published correlations
# --------------------------------------------------------------------------- #

#: ``(x_distribution, w_distribution)`` per row of Table 1, each a
#: ``(kind, scale)`` pair: ``("normal", s)`` is :math:`N(0, s^2)` (``s`` the
#: standard deviation), ``("uniform", a)`` is :math:`U(-a, a)`. The paper's row
#: labels were lost; docs/guides/minconv_math.rst section 2 identifies them by Monte Carlo.
TABLE1_DISTRIBUTIONS: tuple[tuple[tuple[str, float], tuple[str, float]], ...] = (
    (("normal", 1.0), ("normal", 1.0)),
    (("normal", 1.0), ("normal", 10.0)),
    (("normal", 10.0), ("normal", 1.0)),
    (("uniform", 1.0), ("uniform", 1.0)),
    (("uniform", 1.0), ("uniform", 10.0)),
    (("uniform", 10.0), ("uniform", 1.0)),
)

#: Row labels of Table 1, ``"x-distribution x w-distribution"``.
TABLE1_ROWS: tuple[str, ...] = (
    "N(0,1) x N(0,1)",
    "N(0,1) x N(0,10^2)",
    "N(0,10^2) x N(0,1)",
    "U(-1,1) x U(-1,1)",
    "U(-1,1) x U(-10,10)",
    "U(-10,10) x U(-1,1)",
)

#: Column labels of Table 1: the operators correlated with :math:`|x||w|`.
TABLE1_COLUMNS: tuple[str, ...] = ("min-selector", "addition", "max-selector")

#: The correlations published in the paper's Table 1 (read-only, shape (6, 3)).
PAPER_TABLE1: np.ndarray = np.array(
    [
        [0.908, 0.882, 0.673],
        [0.692, 0.683, 0.624],
        [0.692, 0.683, 0.624],
        [0.962, 0.926, 0.641],
        [0.716, 0.717, 0.655],
        [0.716, 0.717, 0.655],
    ]
)
PAPER_TABLE1.setflags(write=False)


# --------------------------------------------------------------------------- #
# Similarity: Pearson correlation and Table 1
# --------------------------------------------------------------------------- #



def _centred_norm(a: np.ndarray) -> tuple[np.ndarray, float]:
    centred = a - a.mean()
    return centred, math.sqrt(float(np.dot(centred, centred)))


def pearson(a: ArrayLike, b: ArrayLike) -> float:
    r"""Pearson correlation of two samples (Eq. 3).

    .. math::

        \rho(a, b) = \frac{\operatorname{cov}(a, b)}{\sigma_a \sigma_b}
                   = \frac{\sum_i (a_i - \bar a)(b_i - \bar b)}
                          {\sqrt{\sum_i (a_i - \bar a)^2 \sum_i (b_i - \bar b)^2}}

    Parameters
    ----------
    a, b : array_like
        Samples with the same number of elements (at least 2), flattened.

    Returns
    -------
    float
        The correlation, in :math:`[-1, 1]`.

    Raises
    ------
    ValueError
        If the sizes differ, there are fewer than 2 elements, a value is not
        finite, or either sample is constant (zero variance).

    Examples
    --------
    >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
    0.9934
    """
    a, b = _check_samples(a, b, "a and b")
    a_c, a_norm = _centred_norm(a)
    b_c, b_norm = _centred_norm(b)
    if a_norm == 0.0 or b_norm == 0.0:
        raise ValueError("pearson: a sample is constant, its correlation is undefined")
    return float(np.dot(a_c, b_c)) / (a_norm * b_norm)


def operator_correlations(x: ArrayLike, w: ArrayLike) -> np.ndarray:
    r"""Correlation of :math:`|x||w|` with the three magnitude operators.

    Magnitude and sign are treated separately (the sign is an XNOR of sign
    bits), so every operator sees :math:`|x|` and :math:`|w|` only:

    .. math::

        \bigl(\rho(|x||w|, \min(|x|, |w|)),\;
              \rho(|x||w|, |x| + |w|),\;
              \rho(|x||w|, \max(|x|, |w|))\bigr)

    with :math:`\rho` the Pearson correlation (Eq. 3). This is one row of
    Table 1; it works on any paired samples, for example the inputs and weights
    a trained layer actually multiplies.

    Parameters
    ----------
    x, w : array_like
        Paired samples of the two operands, same number of elements (>= 2).

    Returns
    -------
    numpy.ndarray
        Shape (3,): the min-selector, addition and max-selector correlations,
        in the order of :data:`~tinymin.analysis.TABLE1_COLUMNS`.

    Raises
    ------
    ValueError
        As :func:`pearson`.
    """
    x, w = _check_samples(x, w, "x and w")
    abs_x, abs_w = np.abs(x), np.abs(w)
    product_c, product_norm = _centred_norm(abs_x * abs_w)
    operators = (np.minimum(abs_x, abs_w), abs_x + abs_w, np.maximum(abs_x, abs_w))
    out = np.empty(len(operators))
    for k, values in enumerate(operators):
        values_c, values_norm = _centred_norm(values)
        if product_norm == 0.0 or values_norm == 0.0:
            raise ValueError("operator_correlations: a sample is constant, correlation undefined")
        out[k] = float(np.dot(product_c, values_c)) / (product_norm * values_norm)
    return out


def _sample(distribution: tuple[str, float], rng: np.random.Generator, n: int) -> np.ndarray:
    kind, scale = distribution
    if kind == "normal":
        return rng.normal(0.0, scale, n)
    if kind == "uniform":
        return rng.uniform(-scale, scale, n)
    raise ValueError(f"unknown distribution kind {kind!r}")


def table1(n_samples: int = 1_000_000, seed: int | None = 0) -> np.ndarray:
    r"""Measure the paper's Table 1 by Monte Carlo.

    For each row of :data:`~tinymin.analysis.TABLE1_DISTRIBUTIONS`, draw ``n_samples``
    independent pairs :math:`(x, w)` and compute :func:`operator_correlations`:

    .. math::

        T_{r, \cdot} = \bigl(\rho(|x||w|, \min(|x|,|w|)),\;
                             \rho(|x||w|, |x|+|w|),\;
                             \rho(|x||w|, \max(|x|,|w|))\bigr)

    Rows are in the paper's order (:data:`~tinymin.analysis.TABLE1_ROWS`), columns in
    :data:`~tinymin.analysis.TABLE1_COLUMNS`. Each row draws from its own child of
    ``numpy.random.SeedSequence(seed)``, so a row does not depend on the others.
    The Monte Carlo error of each entry is about :math:`1/\sqrt{n}` or less
    (0.001 at the default), and rows 2/3 and 5/6 estimate the same quantity,
    since every operator is symmetric in :math:`x` and :math:`w`.

    Parameters
    ----------
    n_samples : int, default 1_000_000
        Pairs drawn per row, at least 2.
    seed : int or None, default 0
        Seed of the ``SeedSequence``; ``None`` draws fresh entropy.

    Returns
    -------
    numpy.ndarray
        Shape (6, 3), float64.

    Raises
    ------
    ValueError
        If ``n_samples < 2`` or ``seed`` is not a non-negative int or None.

    See Also
    --------
    format_table1 : print the result beside :data:`~tinymin.analysis.PAPER_TABLE1`.
    """
    n_samples = _check_n_samples(n_samples)
    seed = _check_seed(seed)
    children = np.random.SeedSequence(seed).spawn(len(TABLE1_DISTRIBUTIONS))
    out = np.empty((len(TABLE1_DISTRIBUTIONS), len(TABLE1_COLUMNS)))
    for row, ((x_dist, w_dist), child) in enumerate(zip(TABLE1_DISTRIBUTIONS, children)):
        rng = np.random.default_rng(child)
        x = _sample(x_dist, rng, n_samples)
        w = _sample(w_dist, rng, n_samples)
        out[row] = operator_correlations(x, w)
    return out


def format_table1(measured: ArrayLike, paper: ArrayLike = PAPER_TABLE1) -> str:
    r"""Format a measured Table 1 beside the published one.

    Each operator gets two columns, the measured correlation and the paper's;
    the last line gives the largest absolute difference
    :math:`\max_{r,c} |T_{rc} - P_{rc}|`.

    Parameters
    ----------
    measured : array_like
        Shape (6, 3), for example the result of :func:`table1`.
    paper : array_like, default PAPER_TABLE1
        Shape (6, 3), the reference values.

    Returns
    -------
    str
        A plain-text table, one line per row, aligned for a monospaced font.

    Raises
    ------
    ValueError
        If either array does not have shape (6, 3).
    """
    shape = (len(TABLE1_ROWS), len(TABLE1_COLUMNS))  # (6, 3)
    measured = np.asarray(measured, dtype=np.float64)
    paper = np.asarray(paper, dtype=np.float64)
    for name, arr in (("measured", measured), ("paper", paper)):
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    title = "Table 1: Pearson correlation of |x||w| with each operator, measured vs paper"
    width = max(len("x-dist x w-dist"), *(len(r) for r in TABLE1_ROWS))
    header = "x-dist x w-dist".ljust(width) + "".join(f"  {c:^15}" for c in TABLE1_COLUMNS)
    sub = " " * width + "  measured  paper" * len(TABLE1_COLUMNS)
    rule = "-" * max(len(header), len(sub))
    lines = [title, header, sub, rule]
    for label, m_row, p_row in zip(TABLE1_ROWS, measured, paper):
        lines.append(
            label.ljust(width) + "".join(f"  {m:8.3f} {p:6.3f}" for m, p in zip(m_row, p_row))
        )
    lines += [rule, f"max |measured - paper| = {np.max(np.abs(measured - paper)):.4f}"]
    return "\n".join(line.rstrip() for line in lines)
