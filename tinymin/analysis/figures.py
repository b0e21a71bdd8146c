r"""Plots of the paper's Figure 3 and Table 1, rebuilt from the text.

The paper's figures did not survive; its text says what Figure 3's panels show
(``seed/minconvnets-paper.txt``, section 2.2), and these functions follow it:

* (a) :math:`D(\mu, \sigma)` against :math:`\mu` for a few small :math:`\sigma`
  (:func:`plot_figure3a`);
* (b) the :math:`\mu` that minimises :math:`D`, against :math:`\sigma`
  (:func:`plot_figure3b`);
* (c) :math:`D(0, \sigma)` against :math:`\sigma` (:func:`plot_figure3c`).

Axis ranges, the :math:`\sigma` values and the styling are this project's
choices. :func:`plot_relative_error_map` adds a map of :math:`D` over the whole
:math:`(\mu, \sigma)` plane, which contains all three panels.

Every function draws on ``ax`` when given (so panels compose into any figure)
or on a new ``matplotlib.pyplot`` figure, and returns the figure. Nothing here
selects a matplotlib backend; pyplot is imported on first use only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from tinymin.checkpoint.atomic import atomic_file

from ._checks import _check_mu, _check_n_samples, _check_seed, _check_vector
from .approximation import optimal_mu, relative_error_grid
from .similarity import TABLE1_DISTRIBUTIONS, TABLE1_ROWS, _sample, pearson

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_figure3",
    "plot_figure3a",
    "plot_figure3b",
    "plot_figure3c",
    "plot_relative_error_map",
    "plot_table1_scatter",
    "save_figure",
]

_PANEL_SIZE = (5.0, 4.0)  # inches, one panel


def _axes(ax: Axes | None) -> Axes:
    """``ax``, or the axes of a new one-panel pyplot figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # on first use: importing tinymin picks no backend

    _, ax = plt.subplots(figsize=_PANEL_SIZE, layout="constrained")
    return ax


def save_figure(fig: Figure, path: str | os.PathLike, **savefig_kwargs) -> None:
    """Save ``fig`` to ``path`` atomically.

    Through :func:`tinymin.checkpoint.atomic.atomic_file`, so a reader never sees a
    half-written image and an interrupted save leaves any old file intact. The
    format follows the suffix of ``path`` (PNG when there is none).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save.
    path : str or os.PathLike
        Destination file (its folder is created if missing).
    **savefig_kwargs
        Passed to :meth:`matplotlib.figure.Figure.savefig` (``dpi``, ...).
    """
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_file(path) as fh:
        fig.savefig(fh, format=fmt, **savefig_kwargs)


def plot_figure3a(
    ax: Axes | None = None,
    sigmas: Sequence[float] = (0.05, 0.1, 0.2, 0.3),
    mus: ArrayLike | None = None,
    n_samples: int = 50_000,
    seed: int | None = 0,
) -> Figure:
    r"""Figure 3a: the mean relative error against the mean, for small variances.

    One curve per :math:`\sigma` of

    .. math::

        \mu \mapsto D(\mu, \sigma)
            = \mathbb{E}\left[\left|1 - \frac{1}{\max(|x|, |w|)}\right|\right],
        \qquad x, w \sim N(\mu, \sigma^2),

    on a logarithmic :math:`D` axis, with dotted lines at :math:`\mu = \pm 1`
    where the paper says :math:`D` is smallest. Reconstruction: the paper's
    text gives the content, not the ranges or the :math:`\sigma` values.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    sigmas : sequence of float, default (0.05, 0.1, 0.2, 0.3)
        Standard deviations, one curve each, all > 0.
    mus : array_like, optional
        Means on the horizontal axis; default ``numpy.linspace(-3, 3, 241)``.
    n_samples : int, default 50_000
        Monte Carlo pairs, shared by all points (see :func:`relative_error_grid`).
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``; the axes has ``len(sigmas) + 2`` lines.

    Raises
    ------
    ValueError
        On an invalid ``sigmas``, ``mus``, ``n_samples`` or ``seed``.
    """
    sigmas = _check_vector(sigmas, "sigmas", positive=True)
    mus = np.linspace(-3.0, 3.0, 241) if mus is None else _check_vector(mus, "mus")
    grid = relative_error_grid(mus, sigmas, n_samples=n_samples, seed=seed)
    ax = _axes(ax)
    for j, sigma in enumerate(sigmas):
        ax.plot(mus, grid[:, j], label=rf"$\sigma = {sigma:g}$")
    for mu_ref in (-1.0, 1.0):
        ax.axvline(mu_ref, color="0.5", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel(r"mean $\mu$ of $x$ and $w$")
    ax.set_ylabel(r"mean relative error $D(\mu, \sigma)$")
    ax.set_title(r"(a) $D$ against $\mu$, small $\sigma$")
    ax.legend(fontsize="small")
    return ax.figure


def plot_figure3b(
    ax: Axes | None = None,
    sigmas: ArrayLike | None = None,
    mus: ArrayLike | None = None,
    n_samples: int = 20_000,
    seed: int | None = 0,
) -> Figure:
    r"""Figure 3b: the mean that minimises the relative error, against the variance.

    Plots :func:`optimal_mu`,

    .. math::

        \sigma \mapsto \mu^*(\sigma) = \operatorname*{arg\,min}_{\mu \ge 0} D(\mu, \sigma),

    with a dotted line at :math:`\mu = 1`. The paper: :math:`\mu^*` stays
    around 1 while :math:`\sigma` is small (the threshold it quotes was lost);
    by this Monte Carlo it stays within about 0.05 of 1 up to
    :math:`\sigma \approx 0.5`, then drifts. Reconstruction: ranges are this
    project's choice, and the argmin is taken on a grid (step 0.02 by default),
    so the curve moves in steps of the grid.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    sigmas : array_like, optional
        Standard deviations; default ``numpy.linspace(0.04, 1.0, 25)``.
    mus : array_like, optional
        Candidate means; default as :func:`optimal_mu`.
    n_samples : int, default 20_000
        Monte Carlo pairs, shared by all points.
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``; the axes has 2 lines.

    Raises
    ------
    ValueError
        On an invalid ``sigmas``, ``mus``, ``n_samples`` or ``seed``.
    """
    if sigmas is None:
        sigmas = np.linspace(0.04, 1.0, 25)
    sigmas = _check_vector(sigmas, "sigmas", positive=True)
    best = optimal_mu(sigmas, mus=mus, n_samples=n_samples, seed=seed)
    ax = _axes(ax)
    ax.plot(sigmas, best, marker="o", markersize=3, label=r"$\mu^*(\sigma)$")
    ax.axhline(1.0, color="0.5", linestyle=":", linewidth=1)
    ax.set_ylim(0.0, max(2.0, 1.1 * float(best.max())))  # deviations read against 1
    ax.set_xlabel(r"standard deviation $\sigma$")
    ax.set_ylabel(r"$\mu^* = \arg\min_\mu D(\mu, \sigma)$")
    ax.set_title(r"(b) the best mean $\mu^*$ against $\sigma$")
    return ax.figure


def folded_normal_mean(mu: float, sigma: float) -> float:
    r"""Mean magnitude :math:`E|x|` of :math:`x \sim N(\mu, \sigma^2)`.

    .. math::

        E|x| = \sigma \sqrt{2/\pi}\, e^{-\mu^2 / 2\sigma^2}
               + \mu \operatorname{erf}\big(\mu / \sigma\sqrt{2}\big)
    """
    return (sigma * math.sqrt(2.0 / math.pi) * math.exp(-(mu**2) / (2 * sigma**2))
            + mu * math.erf(mu / (sigma * math.sqrt(2.0))))


def plot_figure3c(
    ax: Axes | None = None,
    sigmas: ArrayLike | None = None,
    mu: float = 0.0,
    n_samples: int = 100_000,
    seed: int | None = 0,
) -> Figure:
    r"""Figure 3c: the mean relative error against the variance, at mean 0.

    Plots

    .. math::

        \sigma \mapsto D(0, \sigma), \qquad x, w \sim N(0, \sigma^2)

    (inputs after batch normalisation) and marks its minimum
    :math:`\sigma^* \approx 1.7`, where
    :math:`\mathbb{E}|x| = \sigma^* \sqrt{2/\pi} \approx 1.36`, "not far from 1".
    Reconstruction: the range is this project's choice.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    sigmas : array_like, optional
        Standard deviations; default ``numpy.linspace(0.2, 5.0, 97)``.
    mu : float, default 0.0
        The common mean (the paper uses 0).
    n_samples : int, default 100_000
        Monte Carlo pairs, shared by all points.
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``; the axes has 2 lines (the curve and the
        marked minimum).

    Raises
    ------
    ValueError
        On an invalid ``sigmas``, ``mu``, ``n_samples`` or ``seed``.
    """
    if sigmas is None:
        sigmas = np.linspace(0.2, 5.0, 97)
    sigmas, mu = _check_vector(sigmas, "sigmas", positive=True), _check_mu(mu)
    curve = relative_error_grid([mu], sigmas, n_samples=n_samples, seed=seed)[0]
    best = int(np.argmin(curve))
    mean_abs = folded_normal_mean(mu, float(sigmas[best]))
    ax = _axes(ax)
    ax.plot(sigmas, curve, label=rf"$D({mu:g}, \sigma)$")
    ax.plot(
        sigmas[best],
        curve[best],
        "o",
        label=rf"min at $\sigma = {sigmas[best]:.2f}$, $E|x| = {mean_abs:.2f}$",
    )
    ax.set_xlabel(r"standard deviation $\sigma$")
    ax.set_ylabel(rf"mean relative error $D({mu:g}, \sigma)$")
    ax.set_title(rf"(c) $D$ against $\sigma$, $\mu = {mu:g}$")
    ax.legend(fontsize="small")
    return ax.figure


def plot_figure3(
    path: str | os.PathLike | None = None,
    n_samples: int | None = None,
    seed: int | None = 0,
    dpi: int = 150,
) -> Figure:
    """Figure 3: panels (a), (b) and (c) side by side.

    Draws :func:`plot_figure3a`, :func:`plot_figure3b` and
    :func:`plot_figure3c` with their defaults (about 2 s in all) and, when ``path`` is
    given, saves the figure there atomically (:func:`save_figure`; PNG unless
    the suffix names another format).

    Parameters
    ----------
    path : str or os.PathLike, optional
        Where to save the image; not saved when omitted.
    n_samples : int, optional
        Monte Carlo pairs for every panel; by default each panel's own default.
    seed : int or None, default 0
        Seed of the Monte Carlo draws.
    dpi : int, default 150
        Resolution of the saved image.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with three axes.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 3, figsize=(3 * _PANEL_SIZE[0], _PANEL_SIZE[1]), layout="constrained"
    )
    draws = {"seed": seed} if n_samples is None else {"seed": seed, "n_samples": n_samples}
    plot_figure3a(axes[0], **draws)
    plot_figure3b(axes[1], **draws)
    plot_figure3c(axes[2], **draws)
    fig.suptitle(r"Mean relative error of the min-selector, $x, w \sim N(\mu, \sigma^2)$ (Eq. 7)")
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def plot_relative_error_map(
    ax: Axes | None = None,
    mus: ArrayLike | None = None,
    sigmas: ArrayLike | None = None,
    n_samples: int = 10_000,
    seed: int | None = 0,
) -> Figure:
    r"""Map of :math:`\log_{10} D(\mu, \sigma)` over the :math:`(\mu, \sigma)` plane.

    .. math::

        (\mu, \sigma) \mapsto \log_{10} D(\mu, \sigma)

    Not one of the paper's panels: each of them is a cut through this map
    ((a) rows at small :math:`\sigma`, (b) the valley floor, (c) the column
    :math:`\mu = 0`). The valleys at :math:`\mu = \pm 1` are marked. Isolated
    bright cells are Monte Carlo outliers, not features: see the notes of
    :func:`~tinymin.analysis.relative_error`.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    mus : array_like, optional
        Means; default ``numpy.linspace(-3, 3, 121)``.
    sigmas : array_like, optional
        Standard deviations; default ``numpy.linspace(0.05, 3.0, 60)``.
    n_samples : int, default 10_000
        Monte Carlo pairs, shared by all points.
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax`` (and a colour bar).

    Raises
    ------
    ValueError
        On an invalid ``mus``, ``sigmas``, ``n_samples`` or ``seed``.
    """
    mus = np.linspace(-3.0, 3.0, 121) if mus is None else _check_vector(mus, "mus")
    if sigmas is None:
        sigmas = np.linspace(0.05, 3.0, 60)
    sigmas = _check_vector(sigmas, "sigmas", positive=True)
    grid = relative_error_grid(mus, sigmas, n_samples=n_samples, seed=seed)
    ax = _axes(ax)
    mesh = ax.pcolormesh(mus, sigmas, np.log10(grid.T), shading="nearest", cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label=r"$\log_{10} D(\mu, \sigma)$")
    for mu_ref in (-1.0, 1.0):
        ax.axvline(mu_ref, color="w", linestyle=":", linewidth=1)
    ax.set_xlabel(r"mean $\mu$")
    ax.set_ylabel(r"standard deviation $\sigma$")
    ax.set_title(r"$D(\mu, \sigma)$ of the min-selector (Eq. 7)")
    return ax.figure


def plot_table1_scatter(
    row: int = 0, ax: Axes | None = None, n_points: int = 5_000, seed: int | None = 0
) -> Figure:
    r"""Scatter of the min-selector against the product for one row of Table 1.

    Each point is one pair :math:`(x, w)` drawn from row ``row`` of
    :data:`~tinymin.analysis.TABLE1_DISTRIBUTIONS`, placed at
    :math:`(|x||w|, \min(|x|, |w|))`; the title gives their Pearson correlation
    (Eq. 3) on these points, a noisy estimate of the table's entry.

    Parameters
    ----------
    row : int, default 0
        Row of Table 1, 0 to 5.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    n_points : int, default 5_000
        Points drawn, at least 2.
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax`` (one scatter collection).

    Raises
    ------
    ValueError
        If ``row`` is out of range, ``n_points < 2`` or ``seed`` is invalid.
    """
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)):
        raise ValueError(f"row must be an int, got {row!r}")
    if not 0 <= row < len(TABLE1_ROWS):
        raise ValueError(f"row must be in [0, {len(TABLE1_ROWS) - 1}], got {row}")
    n_points = _check_n_samples(n_points)
    rng = np.random.default_rng(_check_seed(seed))
    x_dist, w_dist = TABLE1_DISTRIBUTIONS[row]
    abs_x = np.abs(_sample(x_dist, rng, n_points))
    abs_w = np.abs(_sample(w_dist, rng, n_points))
    product, smallest = abs_x * abs_w, np.minimum(abs_x, abs_w)
    ax = _axes(ax)
    ax.scatter(product, smallest, s=2, alpha=0.3)
    ax.set_xlabel(r"product $|x||w|$")
    ax.set_ylabel(r"min-selector $\min(|x|, |w|)$")
    rho = pearson(product, smallest)
    ax.set_title(rf"{TABLE1_ROWS[row]}: $\rho = {rho:.3f}$")
    return ax.figure
