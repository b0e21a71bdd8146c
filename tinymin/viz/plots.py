"""Plots of training runs (the paper's Figures 4-6 style) with matplotlib."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tinymin.analysis.figures import save_figure
from tinymin.run_folder import read_metrics


def plot_runs(run_dirs: Sequence[str | Path], path: str | Path | None = None,
              title: str | None = None):
    """Test accuracy (left) and training loss (right) per epoch for each run.

    Returns the matplotlib Figure; with ``path``, also saves it as a PNG atomically.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for run in run_dirs:
        rows = read_metrics(run)
        epochs = [r["epoch"] for r in rows]
        label = Path(run).name
        (line,) = ax_acc.plot(epochs, [100 * r["test_accuracy"] for r in rows], marker="o",
                              label=f"{label} (test)")
        ax_acc.plot(epochs, [100 * r["train_accuracy"] for r in rows], linestyle="--",
                    color=line.get_color(), alpha=0.6, label=f"{label} (train)")
        ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o", color=line.get_color(),
                     label=label)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
    for ax in (ax_acc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, path, dpi=120)
    return fig
