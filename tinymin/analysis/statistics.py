r"""Monte Carlo statistics behind the paper's Table 1 and Figure 3.

Two questions decide whether a signed minimum can stand in for a product
(docs/guides/minconv_math.rst, sections 2 and 3):

* **Similar?** Is :math:`\min(|x|, |w|)` strongly correlated with
  :math:`|x||w|`? :func:`table1` measures the Pearson correlation (Eq. 3) of the
  product with the min-selector, the addition and the max-selector for the six
  pairs of distributions of the paper's Table 1.
* **Approximate?** Is the signed minimum close to :math:`xw` itself?
  :func:`elementwise_relative_error` is the per-element relative error (Eq. 6),
  :func:`relative_error` its mean :math:`D` over :math:`x, w \sim N(\mu, \sigma^2)`
  (Eq. 7), and :func:`relative_error_grid` / :func:`optimal_mu` sweep it over
  :math:`\mu` and :math:`\sigma` for Figure 3.

Everything here is plain numpy, seeded, and independent of the rest of tinymin.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "PAPER_TABLE1",
    "TABLE1_COLUMNS",
    "TABLE1_DISTRIBUTIONS",
    "TABLE1_ROWS",
    "elementwise_relative_error",
    "format_table1",
    "operator_correlations",
    "optimal_mu",
    "pearson",
    "relative_error",
    "relative_error_grid",
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

# Largest number of float64 elements one block of the (mu, sigma) sweep holds
# (512 KiB per temporary array, to stay in cache).
_BLOCK_ELEMENTS = 1 << 16


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def _check_n_samples(n_samples: int) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    return int(n_samples)


def _check_seed(seed: int | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or a non-negative int, got {seed!r}")
    return int(seed)


def _check_mu(mu: float) -> float:
    mu = float(mu)
    if not math.isfinite(mu):
        raise ValueError(f"mu must be finite, got {mu}")
    return mu


def _check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be finite and > 0, got {sigma}")
    return sigma


def _check_vector(values: ArrayLike, name: str, positive: bool = False) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if positive and not np.all(arr > 0):
        raise ValueError(f"{name} must all be > 0, got min {arr.min()}")
    return arr


def _check_samples(a: ArrayLike, b: ArrayLike, names: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"{names} must have the same number of elements, got {a.size} and {b.size}"
        )
    if a.size < 2:
        raise ValueError(f"{names} need at least 2 elements, got {a.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"{names} must be finite")
    return a, b


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


# --------------------------------------------------------------------------- #
# Approximation: relative error (Eq. 6-7, Figure 3)
# --------------------------------------------------------------------------- #


def elementwise_relative_error(x: ArrayLike, w: ArrayLike) -> np.ndarray:
    r"""Relative error of the signed min-selector against the product (Eq. 6).

    Computed straight from the definition, with
    :math:`s(x, w) = \operatorname{sgn}(x)\operatorname{sgn}(w)\min(|x|, |w|)`
    and :math:`m = xw`:

    .. math::

        e(x, w) = \frac{|m - s(x, w)|}{|m|} = \left|1 - \frac{1}{\max(|x|, |w|)}\right|

    The right-hand form is what :func:`relative_error` averages; the tests
    check that the two agree.

    Parameters
    ----------
    x, w : array_like
        Operands; broadcast against each other.

    Returns
    -------
    numpy.ndarray
        The error per element, NaN where :math:`xw = 0` (undefined there; the
        signed minimum is then exactly 0 too). No warning is emitted.

    Examples
    --------
    >>> elementwise_relative_error([2.0, -0.5, 0.0], [3.0, 4.0, 1.0])
    array([0.66666667, 0.75      ,        nan])
    """
    x, w = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64))
    m = x * w
    s = np.sign(x) * np.sign(w) * np.minimum(np.abs(x), np.abs(w))
    return np.divide(np.abs(m - s), np.abs(m), out=np.full(m.shape, np.nan), where=m != 0)


def _standard_normal_pairs(n_samples: int, seed: int | None) -> np.ndarray:
    """Shape (2, n): the standard normal draws every (mu, sigma) reuses."""
    return np.random.default_rng(seed).standard_normal((2, n_samples))


def _block_relative_error(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Eq. 7 for column vectors ``mu``, ``sigma`` (k, 1); returns shape (k,)."""
    # A huge mu or a subnormal sigma may overflow to inf: that is the honest answer.
    with np.errstate(over="ignore", divide="ignore"):
        abs_x = np.abs(mu + sigma * z[0])
        abs_w = np.abs(mu + sigma * z[1])
        dropped = None
        if abs_x.min() == 0 or abs_w.min() == 0:  # x w = 0: Eq. 7 undefined there
            dropped = (abs_x == 0) | (abs_w == 0)
        errors = np.maximum(abs_x, abs_w, out=abs_x)
        np.divide(1.0, errors, out=errors)
    np.subtract(1.0, errors, out=errors)
    np.abs(errors, out=errors)
    if dropped is None:  # the usual case: no point to drop
        return errors.mean(axis=1)
    errors[dropped] = 0.0
    counts = errors.shape[1] - dropped.sum(axis=1)
    total = errors.sum(axis=1)
    return np.divide(total, counts, out=np.full(counts.shape, np.nan), where=counts > 0)


def _relative_error_pairs(z: np.ndarray, mus: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Eq. 7 for each pair (mus[k], sigmas[k]), in blocks that bound memory."""
    out = np.empty(mus.size)
    step = max(1, _BLOCK_ELEMENTS // z.shape[1])
    for start in range(0, mus.size, step):
        block = slice(start, start + step)
        out[block] = _block_relative_error(z, mus[block, None], sigmas[block, None])
    return out


def relative_error(
    mu: float, sigma: float, n_samples: int = 1_000_000, seed: int | None = 0
) -> float:
    r"""Mean relative error :math:`D` of the min-selector for normal operands (Eq. 7).

    With :math:`x, w \sim N(\mu, \sigma^2)` independent,

    .. math::

        D(\mu, \sigma) = \mathbb{E}\left[\left|1 - \frac{1}{\max(|x|, |w|)}\right|\right],

    estimated by Monte Carlo over ``n_samples`` pairs. Points with
    :math:`xw = 0` are dropped (Eq. 7 is undefined there, and the error is
    zero anyway). The draws are :math:`x = \mu + \sigma z_1`,
    :math:`w = \mu + \sigma z_2` with the same standard normal :math:`z` for
    every :math:`(\mu, \sigma)` at a given seed (common random numbers), so
    :func:`relative_error_grid` gives the same values and its curves are smooth.

    Parameters
    ----------
    mu : float
        Common mean of :math:`x` and :math:`w`, finite.
    sigma : float
        Common standard deviation, finite and > 0.
    n_samples : int, default 1_000_000
        Pairs drawn, at least 2.
    seed : int or None, default 0
        Seed of the generator; ``None`` draws fresh entropy.

    Returns
    -------
    float
        The estimate of :math:`D` (see Notes on its Monte Carlo error).

    Raises
    ------
    ValueError
        If ``sigma <= 0``, ``mu`` or ``sigma`` is not finite, ``n_samples < 2``,
        or ``seed`` is invalid.

    Notes
    -----
    The estimate converges slowly: :math:`M = \max(|x|, |w|)` has a density
    proportional to :math:`t` near 0, so :math:`\mathbb{E}[1/M]` is finite but
    :math:`\mathbb{E}[1/M^2]` diverges (logarithmically). The estimator's
    variance is therefore infinite, and a rare pair with both operands near 0
    makes an outlier; more samples make outliers rarer, not impossible.

    :math:`D(\mu, \sigma) = D(-\mu, \sigma)`. docs/guides/minconv_math.rst section 3: with
    :math:`\sigma = 0.05`, :math:`D` is smallest (about 0.03-0.04) near
    :math:`\mu = 1`; with :math:`\mu = 0` it is smallest near
    :math:`\sigma \approx 1.7`.
    """
    mu, sigma = _check_mu(mu), _check_sigma(sigma)
    z = _standard_normal_pairs(_check_n_samples(n_samples), _check_seed(seed))
    return float(_relative_error_pairs(z, np.array([mu]), np.array([sigma]))[0])


def relative_error_grid(
    mus: ArrayLike, sigmas: ArrayLike, n_samples: int = 200_000, seed: int | None = 0
) -> np.ndarray:
    r"""Eq. 7's :math:`D(\mu, \sigma)` on the outer grid of ``mus`` and ``sigmas``.

    .. math::

        G_{ij} = D(\mu_i, \sigma_j)
               = \mathbb{E}\left[\left|1 - \frac{1}{\max(|\mu_i + \sigma_j z_1|,
                                                         |\mu_i + \sigma_j z_2|)}\right|\right]

    All entries share one set of standard normal draws :math:`(z_1, z_2)`, so
    ``G[i, j]`` equals ``relative_error(mus[i], sigmas[j], n_samples, seed)``
    and the grid is smooth in both directions (its argmin is stable). The sweep
    is vectorised over blocks of grid points.

    Parameters
    ----------
    mus : array_like
        1-D, finite means.
    sigmas : array_like
        1-D, finite standard deviations, all > 0.
    n_samples : int, default 200_000
        Pairs drawn, shared by every grid point, at least 2.
    seed : int or None, default 0
        Seed of the generator.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(mus), len(sigmas))``.

    Raises
    ------
    ValueError
        As :func:`relative_error`, or if ``mus``/``sigmas`` are not 1-D and
        non-empty.
    """
    mus = _check_vector(mus, "mus")
    sigmas = _check_vector(sigmas, "sigmas", positive=True)
    z = _standard_normal_pairs(_check_n_samples(n_samples), _check_seed(seed))
    mu_grid, sigma_grid = np.meshgrid(mus, sigmas, indexing="ij")
    return _relative_error_pairs(z, mu_grid.ravel(), sigma_grid.ravel()).reshape(mu_grid.shape)


def optimal_mu(
    sigmas: ArrayLike,
    mus: ArrayLike | None = None,
    n_samples: int = 20_000,
    seed: int | None = 0,
) -> np.ndarray:
    r"""The mean that minimises :math:`D` for each standard deviation (Figure 3b).

    .. math::

        \mu^*(\sigma) = \operatorname*{arg\,min}_{\mu \in \text{mus}} D(\mu, \sigma)

    found on the grid ``mus`` with :func:`relative_error_grid`. Because
    :math:`D(\mu, \sigma) = D(-\mu, \sigma)`, the default grid covers
    :math:`\mu \ge 0` only: the other minimiser is :math:`-\mu^*`.

    Parameters
    ----------
    sigmas : array_like
        1-D standard deviations, all > 0.
    mus : array_like, optional
        1-D candidate means; default ``numpy.linspace(0, 2.5, 126)`` (step 0.02).
    n_samples : int, default 20_000
        Pairs drawn, shared by every grid point.
    seed : int or None, default 0
        Seed of the generator.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(sigmas),)``, values taken from ``mus``.

    Raises
    ------
    ValueError
        As :func:`relative_error_grid`.
    """
    mus = np.linspace(0.0, 2.5, 126) if mus is None else _check_vector(mus, "mus")
    grid = relative_error_grid(mus, sigmas, n_samples=n_samples, seed=seed)
    return mus[np.argmin(grid, axis=0)]
