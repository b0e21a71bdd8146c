r"""Is the signed minimum close to :math:`xw`? The relative error of Eq. 6-7, Figure 3.

:func:`elementwise_relative_error` is the per-element relative error (Eq. 6),
:func:`relative_error` its mean :math:`D` over :math:`x, w \sim N(\mu, \sigma^2)`
(Eq. 7), and :func:`relative_error_grid` / :func:`optimal_mu` sweep it over :math:`\mu`
and :math:`\sigma` for Figure 3 (docs/guides/minconv_math.rst, section 3). Plain numpy,
seeded, independent of the rest of tinymin.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from tinymin import overrides
from tinymin.analysis._checks import _check_mu, _check_n_samples, _check_seed, _check_sigma, _check_vector

__all__ = ["elementwise_relative_error", "optimal_mu", "relative_error", "relative_error_grid"]

# Largest number of float64 elements one block of the (mu, sigma) sweep holds
# (512 KiB per temporary array, to stay in cache).
_BLOCK_ELEMENTS = 1 << 16



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
    mine = overrides.lookup("elementwise_relative_error")
    if mine is not None:  # the learner's elementwise_relative_error (tinymin.exercises.use)
        return mine(x, w)
    x, w = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64))
    defined = (x != 0) & (w != 0)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        m = x * w
        s = np.sign(x) * np.sign(w) * np.minimum(np.abs(x), np.abs(w))
        by_definition = np.abs(m - s) / np.abs(m)
        # where x w under- or overflows the rounded product has lost the digits the
        # definition needs; the closed form is exact there
        closed_form = np.abs(1 - 1 / np.maximum(np.abs(x), np.abs(w)))
    product_is_normal = np.isfinite(m) & (np.abs(m) >= np.finfo(np.float64).tiny)
    error = np.where(product_is_normal, by_definition, closed_form)
    return np.where(defined, error, np.nan)


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
