r"""The paper's statistics: why a signed minimum can replace a product.

Section 2 of the MinConvNets paper (docs/guides/minconv_math.rst,
sections 2 and 3) argues in two
steps, and this package measures both:

* **similarity** (Table 1): :math:`\min(|x|, |w|)` is strongly correlated with
  :math:`|x||w|` when :math:`\mathbb{E}|x| = \mathbb{E}|w|`: :func:`table1`,
  :func:`format_table1`, :func:`operator_correlations`, :func:`pearson`;
* **approximation** (Eq. 6-7, Figure 3): the relative error of the signed
  minimum, :math:`|1 - 1/\max(|x|, |w|)|`, is small when magnitudes
  concentrate around 1: :func:`elementwise_relative_error`,
  :func:`relative_error`, :func:`relative_error_grid`, :func:`optimal_mu`, and
  the plots :func:`plot_figure3` (panels :func:`plot_figure3a`,
  :func:`plot_figure3b`, :func:`plot_figure3c`),
  :func:`plot_relative_error_map`, :func:`plot_table1_scatter`.

Constants describing Table 1 (defined in :mod:`tinymin.analysis.similarity`):

``TABLE1_ROWS``
    The six row labels, ``"N(0,1) x N(0,1)"`` to ``"U(-10,10) x U(-1,1)"``.
``TABLE1_COLUMNS``
    ``("min-selector", "addition", "max-selector")``.
``TABLE1_DISTRIBUTIONS``
    Per row, the ``(kind, scale)`` of :math:`x` and of :math:`w`.
``PAPER_TABLE1``
    The published correlations, a read-only (6, 3) array.

Pure numpy and matplotlib; importing it selects no matplotlib backend.

Examples
--------
>>> from tinymin.analysis import table1, format_table1
>>> print(format_table1(table1(n_samples=200_000)))  # doctest: +SKIP
"""

from .approximation import elementwise_relative_error, optimal_mu, relative_error, relative_error_grid
from .figures import (
    plot_figure3,
    plot_figure3a,
    plot_figure3b,
    plot_figure3c,
    plot_relative_error_map,
    plot_table1_scatter,
    save_figure,
)
from .similarity import (
    PAPER_TABLE1,
    TABLE1_COLUMNS,
    TABLE1_DISTRIBUTIONS,
    TABLE1_ROWS,
    format_table1,
    operator_correlations,
    pearson,
    table1,
)

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
    "plot_figure3",
    "plot_figure3a",
    "plot_figure3b",
    "plot_figure3c",
    "plot_relative_error_map",
    "plot_table1_scatter",
    "relative_error",
    "relative_error_grid",
    "save_figure",
    "table1",
]
