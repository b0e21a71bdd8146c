"""Pictures for learners: training curves (:mod:`~tinymin.viz.plots`) and the autograd
graph (:mod:`~tinymin.viz.graph`).

>>> from tinymin.viz import to_dot, draw_graph, show_graph, plot_runs  # doctest: +SKIP
"""

from tinymin.viz.graph import draw_graph, graphviz_available, show_graph, to_dot
from tinymin.viz.plots import plot_runs

__all__ = ["draw_graph", "graphviz_available", "plot_runs", "show_graph", "to_dot"]
