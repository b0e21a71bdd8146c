"""tinymin.analysis.figures: the Table 1 and Figure 3 plots, drawn and saved atomically."""

from __future__ import annotations

import pytest

# a dependency of tinymin; an environment without it (a bare interpreter) skips, not errors
matplotlib = pytest.importorskip("matplotlib", reason="the figure tests need matplotlib")
matplotlib.use("Agg")  # tests only: the library itself never picks a backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinymin.analysis import (  # noqa: E402
    TABLE1_ROWS,
    plot_figure3,
    plot_figure3a,
    plot_figure3b,
    plot_figure3c,
    plot_relative_error_map,
    plot_table1_scatter,
    save_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")



FAST = {"n_samples": 2_000}


def test_plot_figure3a_one_curve_per_sigma():
    fig = plot_figure3a(sigmas=(0.05, 0.2), mus=np.linspace(-2, 2, 21), **FAST)
    (ax,) = fig.axes
    assert len(ax.lines) == 2 + 2  # two curves, two reference lines at mu = +-1
    assert ax.get_yscale() == "log"


def test_plot_figure3b_and_3c_draw_on_a_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert plot_figure3b(axes[0], sigmas=[0.05, 0.1], mus=np.linspace(0, 2, 11), **FAST) is fig
    assert plot_figure3c(axes[1], sigmas=np.linspace(0.5, 3, 6), **FAST) is fig
    assert len(fig.axes) == 2
    assert len(axes[0].lines) == 2  # argmin curve, reference at mu = 1
    assert len(axes[1].lines) == 2  # curve, marked minimum
    np.testing.assert_allclose(axes[1].lines[0].get_xdata(), np.linspace(0.5, 3, 6))


def test_plot_relative_error_map_and_scatter():
    fig = plot_relative_error_map(mus=np.linspace(-2, 2, 9), sigmas=[0.1, 0.5, 1.0], **FAST)
    assert len(fig.axes) == 2  # the map and its colour bar
    fig = plot_table1_scatter(row=4, n_points=500)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 1
    assert TABLE1_ROWS[4] in fig.axes[0].get_title()


@pytest.mark.parametrize(
    "call",
    [
        lambda: plot_table1_scatter(row=6),
        lambda: plot_table1_scatter(row=-1),
        lambda: plot_table1_scatter(n_points=1),
        lambda: plot_figure3a(sigmas=(0.0,)),
        lambda: plot_figure3c(sigmas=[1.0], mu=float("nan")),
    ],
)
def test_plot_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


def test_plot_figure3_saves_a_png_atomically(tmp_path):
    path = tmp_path / "figure3.png"
    path.write_bytes(b"old")  # replaced, never appended to
    fig = plot_figure3(path=path, dpi=40, **FAST)
    assert len(fig.axes) == 3
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure3.png"]  # no temp left


def test_plot_figure3_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(plot_figure3(**FAST).axes) == 3
    assert list(tmp_path.iterdir()) == []


def test_save_figure_leaves_no_temp_file_on_failure(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "figure.notaformat")
    assert list(tmp_path.iterdir()) == []
