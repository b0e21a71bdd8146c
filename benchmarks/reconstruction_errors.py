"""Each min layer's output error before and after reconstruction, on held-out images.

Reads the run folders that ``benchmarks/reproduce_results.py`` left (the exact network
of each seed, its calibrated conversion and its reconstructed one), measures every
min layer's relative squared error against the exact network's same layer
(:func:`tinymin.minconv.reconstruct.layer_errors`) on test images that no
calibration saw, and writes ``docs/_static/reconstruction_layer_errors.png`` and
``docs/guides/reconstruction_errors_table.inc`` (the means of the seeds, which the
results page includes), with each seed's numbers on stdout. The plain copy
(:math:`\\hat\\mu_x` re-estimated on 256 training images, nothing fitted) is rebuilt
here from the exact checkpoint.

Usage::

    python benchmarks/reconstruction_errors.py                    # runs/results, 3 seeds
    python benchmarks/reconstruction_errors.py --runs DIR --images 1000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinymin.analysis.figures import save_figure  # noqa: E402
from tinymin.checkpoint import load_checkpoint, write_text_atomic  # noqa: E402
from tinymin.data.catalog import load_splits  # noqa: E402
from tinymin.data.dataset import random_subset  # noqa: E402
from tinymin.minconv.calibrate import recalibrate_running_statistics  # noqa: E402
from tinymin.minconv.convert import convert_to_min  # noqa: E402
from tinymin.minconv.reconstruct import layer_errors  # noqa: E402
from tinymin.models import build_model  # noqa: E402

FIGURE = REPO / "docs" / "_static" / "reconstruction_layer_errors.png"
TABLE = REPO / "docs" / "guides" / "reconstruction_errors_table.inc"
#: row prefix of reproduce_results.py -> (dataset, what the figure and table call it)
NETWORKS = {"mnist": ("mnist-embedded", "LeNet, embedded MNIST"),
            "fashion-mnist": ("fashion-mnist", "LeNet, Fashion-MNIST"),
            "minicifar": ("mnist-embedded", "mini_cifar, embedded MNIST")}
#: (row of reproduce_results.py, legend label)
STAGES = (("copy", "plain copy (mu_x_hat re-estimated)"),
          ("convert", "calibrated conversion (256 images)"),
          ("reconstruct", "reconstructed (1,024 images)"))


def load_model(path: Path):
    checkpoint = load_checkpoint(path)
    config = dict(checkpoint.config["model"])
    model = build_model(config.pop("name"), **config)
    model.load_state_dict(checkpoint.model_state)
    return model.eval()


def stack(dataset, n: int, seed: int) -> np.ndarray:
    subset = random_subset(dataset, n, seed)
    return np.stack([subset[i][0] for i in range(len(subset))])


def measure(runs: Path, name: str, seed: int, held_out: np.ndarray, train_set) -> dict | None:
    """``{stage: {layer: error}}`` for one seed, or None if a run is missing."""
    paths = {stage: runs / f"{name}-{stage}" / f"seed{seed}" / "checkpoint.npz"
             for stage in ("exact", "convert", "reconstruct")}
    if not all(p.exists() for p in paths.values()):
        return None
    exact = load_model(paths["exact"])
    copy = convert_to_min(exact)
    recalibrate_running_statistics(copy, [stack(train_set, 256, seed)])
    models = {"copy": copy, "convert": load_model(paths["convert"]),
              "reconstruct": load_model(paths["reconstruct"])}
    return {stage: layer_errors(model, exact, held_out) for stage, model in models.items()}


def draw(results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in results if results[n]]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(5.2 * max(1, len(names)), 4.2),
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        seeds = results[name]
        layers = list(seeds[0]["copy"])
        width = 0.8 / len(STAGES)
        for i, (stage, label) in enumerate(STAGES):
            values = np.array([[s[stage][layer] for layer in layers] for s in seeds])
            mean = values.mean(axis=0)
            spread = np.stack([mean - values.min(axis=0), values.max(axis=0) - mean])
            ax.bar(np.arange(len(layers)) + (i - 1) * width, mean, width, yerr=spread,
                   capsize=3, label=label)
        ax.set_xticks(np.arange(len(layers)), layers)
        ax.set_xlabel("min layer (its index in the model)")
        ax.set_yscale("log")
        ax.set_ylabel("relative squared error vs exact network")
        ax.set_title(f"{NETWORKS[name][1]} ({len(seeds)} seeds, held-out test images)",
                     fontsize=9)
        ax.grid(axis="y", alpha=0.3, which="both")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(STAGES), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # room for the legend above the panels
    save_figure(fig, path, dpi=110)  # atomic: a reader never sees half an image
    plt.close(fig)


def write_table(results: dict[str, list[dict]], images: int, path: Path) -> None:
    """The mean error of the seeds per network, layer and stage, and how many times the
    reconstruction lowers the calibrated conversion's error."""
    lines = [f".. Generated by benchmarks/reconstruction_errors.py on {time.strftime('%Y-%m-%d')}"
             " - do not edit.", "",
             f".. list-table:: Each min layer's relative squared error against the exact "
             f"network's same layer on {images:,} held-out test images (mean of the seeds)",
             "   :header-rows: 1", "",
             "   * - network, min layer", "     - seeds",
             *[f"     - {label}" for _, label in STAGES],
             "     - calibrated / reconstructed"]
    for name, seeds in results.items():
        for layer in (seeds[0]["copy"] if seeds else []):
            mean = {stage: statistics.mean(s[stage][layer] for s in seeds) for stage, _ in STAGES}
            lines += [f"   * - {NETWORKS[name][1]}, layer {layer}", f"     - {len(seeds)}",
                      *[f"     - {mean[stage]:.4f}" for stage, _ in STAGES],
                      f"     - {mean['convert'] / mean['reconstruct']:.1f} times"]
    write_text_atomic(path, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "results")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--images", type=int, default=1000, help="held-out test images")
    parser.add_argument("--out", type=Path, default=FIGURE)
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    results: dict[str, list[dict]] = {}
    for name, (data, title) in NETWORKS.items():
        if not (args.runs / f"{name}-reconstruct").is_dir():
            continue  # not reproduced (its dataset may not even be installed)
        train_set, test_set, _ = load_splits(data, None, augment=False)
        held_out = stack(test_set, args.images, 1)
        results[name] = []
        for seed in range(args.seeds):
            r = measure(args.runs, name, seed, held_out, train_set)
            if r is None:
                continue
            results[name].append(r)
            print(f"{title} seed {seed}: " + "   ".join(
                f"{stage} " + ", ".join(f"{layer}: {e:.4f}" for layer, e in r[stage].items())
                for stage, _ in STAGES))
    draw(results, args.out)
    write_table(results, args.images, args.table)
    print(f"wrote {args.out} and {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
