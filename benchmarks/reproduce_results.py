"""Regenerate the measured-results table and figure of ``docs/guides/results.rst``.

Every row of the table is a list of ``python -m tinymin`` commands, run once per seed
(3 seeds by default). The script runs them (in parallel with ``--jobs``), reads each
run's ``metrics.csv`` (or, for a conversion without training, the accuracy printed by
``python -m tinymin eval``), and writes

* ``docs/guides/results_table.inc``: one row per experiment with the test accuracy as
  mean +- standard deviation over the seeds (sample std, ``ddof=1``), epochs,
  optimizer, learning rate, wall time per run and the exact commands, plus the
  commit the runs were made on; the results page includes it;
* ``docs/_static/results_curves.png``: test accuracy against epoch for the exact and
  the min-conv LeNet trained from scratch, the mean of the seeds as a line and their
  range as a band.

Accuracies are on the full test split of each dataset: for ``mnist-embedded`` the
official 10,000-image MNIST test set, for ``fashion-mnist`` its 10,000 test images.

A run folder that already holds a finished run of the same command is reused, so an
interrupted reproduction continues where it stopped (delete ``--runs`` to start over).

Usage::

    python benchmarks/reproduce_results.py                       # every row, 3 seeds
    python benchmarks/reproduce_results.py --only mnist --jobs 2 # the embedded-MNIST rows
    python benchmarks/reproduce_results.py --quick               # smoke run, seconds

``--quick`` runs every embedded-MNIST row (LeNet and the mini_cifar conversions) on 128
training and 128 test images for one epoch with 2 seeds, and writes the table and
figure under ``--runs`` instead of ``docs/``: it checks that the pipeline works, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing, as the runs do

from tinymin.analysis.figures import save_figure  # noqa: E402
from tinymin.checkpoint import write_text_atomic  # noqa: E402

TABLE = REPO / "docs" / "guides" / "results_table.inc"
FIGURE = REPO / "docs" / "_static" / "results_curves.png"
SEEDS = (0, 1, 2)

QUICK_LIMITS = ["--train-limit", "128", "--test-limit", "128", "--batch-size", "32"]
TITLES = {"mnist-embedded": "LeNet, 5,000 embedded MNIST digits\n(tested on the 10,000 official)",
          "fashion-mnist": "LeNet, Fashion-MNIST (60,000 / 10,000)"}


@dataclass(frozen=True)
class Row:
    """One line of the table: the commands of one seed, and what the row needs first.

    ``commands(run, source)`` returns the argument lists (after ``python -m tinymin``)
    for the run folder ``run``; ``source`` is the run folder of the row named in
    ``needs`` for the same seed (the exact network a transfer starts from), else None.
    """

    key: str
    label: str
    data: str
    commands: Callable[[Path, Path | None], list[list[str]]]
    needs: str | None = None
    curve: str | None = None  # legend label in the figure, for the rows drawn there
    late: bool = False  # run after the others (a baseline, when time allows)


def _train(data: str, *options: str,
           model: str = "lenet") -> Callable[[Path, Path | None], list[list[str]]]:
    def commands(run: Path, source: Path | None) -> list[list[str]]:
        args = ["train", "--model", model, "--no-progress", "--data", data, *options,
                "--out", str(run)]
        if source is not None:
            args += ["--init-from", str(source / "checkpoint.npz")]
        return [args]

    return commands


def _convert(calibrate: int, *options: str) -> Callable[[Path, Path | None], list[list[str]]]:
    def commands(run: Path, source: Path | None) -> list[list[str]]:
        assert source is not None
        model = str(run / "checkpoint.npz")
        return [["convert", "--checkpoint", str(source / "checkpoint.npz"), "--calibrate",
                 str(calibrate), *options, "--out", model],
                ["eval", "--checkpoint", model]]

    return commands


def rows_for(data: str, exact_epochs: int, scratch: list[str],
             baseline: list[str] | None = None) -> list[Row]:
    """The rows of one dataset: exact, min from scratch, and four ways to convert.

    With ``baseline`` (the exact row's options), two controls run last: min-conv from
    scratch with the exact row's options, and the exact network with the min row's.
    """
    name = "mnist" if data == "mnist-embedded" else data
    exact = f"{name}-exact"
    cosine = ["--optimizer", "adam", "--scheduler", "cosine"]
    return [
        Row(exact, "exact LeNet", data,
            _train(data, "--conv", "exact", "--epochs", str(exact_epochs), "--lr", "1e-3",
                   *cosine), curve="exact"),
        Row(f"{name}-scratch", "min-conv from scratch", data,
            _train(data, "--conv", "min", *scratch), curve="min-conv from scratch"),
        Row(f"{name}-transfer", "min-conv, the paper's transfer (copy, then fine-tune)", data,
            _train(data, "--conv", "min", "--epochs", "3", "--lr", "3e-4", *cosine),
            needs=exact),
        Row(f"{name}-convert", "min-conv, calibrated conversion (256 images, no training)",
            data, _convert(256), needs=exact),
        Row(f"{name}-reconstruct", "min-conv, reconstructed conversion (1,024 images, no "
            "training)", data, _convert(1024, "--reconstruct"), needs=exact),
        Row(f"{name}-calibrated-transfer", "min-conv, calibrated transfer (256 images, "
            "then fine-tune)", data,
            _train(data, "--conv", "min", "--calibrate", "256", "--epochs", "2", "--lr", "1e-5"),
            needs=exact),
    ] + ([Row(f"{name}-scratch-baseline", "min-conv from scratch, the exact row's options",
              data, _train(data, "--conv", "min", *baseline), curve="min-conv, exact's options",
              late=True),
          Row(f"{name}-exact-recipe", "exact LeNet, the min-conv row's options", data,
              _train(data, *scratch, "--conv", "exact"), late=True)] if baseline else [])


def conversion_rows(model: str, data: str, exact_epochs: int) -> list[Row]:
    """A second network for the conversions: exact, calibrated and reconstructed only."""
    exact = f"{model.replace('_', '')}-exact"
    label = model.replace("_", "")
    return [
        Row(exact, f"exact {model}", data,
            _train(data, "--conv", "exact", "--epochs", str(exact_epochs), "--lr", "1e-3",
                   "--optimizer", "adam", "--scheduler", "cosine", model=model)),
        Row(f"{label}-convert", f"{model} as min-conv, calibrated conversion (256 images, "
            "no training)", data, _convert(256), needs=exact),
        Row(f"{label}-reconstruct", f"{model} as min-conv, reconstructed conversion (1,024 "
            "images, no training)", data, _convert(1024, "--reconstruct"), needs=exact),
    ]


def all_rows() -> list[Row]:
    mnist_scratch = ["--recipe", "minconv-scratch"]
    mnist_baseline = ["--epochs", "10", "--lr", "1e-3", "--optimizer", "adam",
                      "--scheduler", "cosine"]
    fashion_scratch = ["--epochs", "3", "--lr", "1e-3", "--optimizer", "adam",
                       "--scheduler", "cosine"]
    return (rows_for("mnist-embedded", 10, mnist_scratch, mnist_baseline)
            + rows_for("fashion-mnist", 3, fashion_scratch)
            + conversion_rows("mini_cifar", "mnist-embedded", 3))


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def run_folder(runs: Path, row: Row, seed: int) -> Path:
    return runs / row.key / f"seed{seed}"


def finish(args: list[str], seed: int, quick: bool) -> list[str]:
    """``args`` with the seed (``eval`` has none) and, in quick mode, the small limits."""
    command = args[0]
    extra = [] if command == "eval" else ["--seed", str(seed)]
    if quick:
        extra += QUICK_LIMITS + ["--epochs", "1"] if command == "train" else ["--test-limit", "128"]
        if "--calibrate" in args:
            extra += ["--calibrate", "16"]
        if "--reconstruct" in args:
            extra += ["--reconstruct", "5"]
    return args + extra


def commands_for(row: Row, seed: int, runs: Path, quick: bool) -> list[list[str]]:
    folder = run_folder(runs, row, seed)
    source = run_folder(runs, _ROWS[row.needs], seed) if row.needs else None
    return [finish(c, seed, quick) for c in row.commands(folder, source)]


def finished(row: Row, seed: int, runs: Path, quick: bool) -> dict | None:
    """The ``run.json`` record of a finished run of exactly these commands, else None."""
    path = run_folder(runs, row, seed) / "run.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:  # unreadable: run it again rather than stop here
        print(f"{path}: unreadable record ({err}); running {row.key} seed {seed} again")
        return None
    if not isinstance(record, dict):
        return None
    return record if record.get("commands") == commands_for(row, seed, runs, quick) else None


def run_row(row: Row, seed: int, runs: Path, quick: bool, threads: int) -> dict:
    """Run (or reuse) one row for one seed; return what ``run.json`` records."""
    record = finished(row, seed, runs, quick)
    if record is not None:
        return record
    folder = run_folder(runs, row, seed)
    commands = commands_for(row, seed, runs, quick)
    record_path = folder / "run.json"
    if folder.exists():  # an interrupted or different run: start this one afresh
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    start, outputs = time.perf_counter(), []
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "tinymin", *args], env=env, cwd=REPO,
                              capture_output=True, text=True)
        outputs.append(done.stdout)
        (folder / "log.txt").write_text("".join(outputs) + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"{row.key} seed {seed}: `python -m tinymin {' '.join(args)}` "
                               f"failed:\n{done.stderr[-2000:]}")
    record = {"commands": commands, "wall_s": time.perf_counter() - start,
              "commit": git_commit(), **outcome(folder, outputs[-1])}
    write_text_atomic(record_path, json.dumps(record, indent=2) + "\n")
    return record


def outcome(folder: Path, last_stdout: str) -> dict:
    """Final test accuracy, curve and settings of a finished run."""
    metrics = folder / "metrics.csv"
    if metrics.exists():
        with open(metrics, newline="") as f:
            rows = list(csv.DictReader(f))
        args = json.loads((folder / "config.json").read_text())["train_args"]
        return {"accuracy": float(rows[-1]["test_accuracy"]),
                "curve": [float(r["test_accuracy"]) for r in rows],
                "epochs": len(rows), "optimizer": args["optimizer"], "lr": args["lr"],
                "scheduler": args["scheduler"]}
    match = re.search(r"test accuracy ([0-9.]+)%", last_stdout)
    if match is None:
        raise RuntimeError(f"{folder}: no metrics.csv and no accuracy in:\n{last_stdout}")
    return {"accuracy": float(match.group(1)) / 100, "curve": [], "epochs": 0,
            "optimizer": "none", "lr": None, "scheduler": "none"}


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + ("+changes" if dirty else "") if done.returncode == 0 else "?"


_ROWS: dict[str, Row] = {}


def run_all(rows: list[Row], seeds: tuple[int, ...], runs: Path, quick: bool, jobs: int,
            threads: int) -> None:
    """Run every (row, seed); a row waits for the row it ``needs`` (submitted earlier).

    A failed run is reported and skipped (with the rows that need it); the others go on.
    """
    futures: dict[tuple[str, int], Future] = {}
    # first the rows trained from scratch, seed by seed (exact and min of one seed side
    # by side), then the rows that start from the exact network, then the ``late`` ones
    order = sorted(((row, seed) for row in rows for seed in seeds),
                   key=lambda item: (item[0].late, item[0].needs is not None, item[1]))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for row, seed in order:
            dependency = futures.get((row.needs, seed)) if row.needs else None

            def task(row=row, seed=seed, dependency=dependency):
                if dependency is not None:
                    dependency.result()  # raises if the source run failed
                record = run_row(row, seed, runs, quick, threads)
                print(f"{row.key:<32} seed {seed}: {record['accuracy']:.2%} "
                      f"({record['wall_s']:.0f} s)", flush=True)
                return record

            futures[(row.key, seed)] = pool.submit(task)
    for (key, seed), future in futures.items():
        if future.exception() is not None:
            print(f"FAILED {key} seed {seed}: {future.exception()}", file=sys.stderr)


def collect(rows: list[Row], seeds: tuple[int, ...], runs: Path,
            quick: bool) -> dict[str, list[dict]]:
    """The finished runs of every row (a row may have fewer seeds than asked, or none)."""
    results = {}
    for row in rows:
        records = [finished(row, seed, runs, quick) for seed in seeds]
        results[row.key] = [r for r in records if r is not None]
    return results


# ---------------------------------------------------------------------------
# Table and figure
# ---------------------------------------------------------------------------


def mean_std(values: list[float]) -> str:
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{100 * mean:.2f} +- {100 * std:.2f}"


def write_table(rows: list[Row], results: dict[str, list[dict]], path: Path) -> None:
    commits = sorted({r["commit"] for records in results.values() for r in records})
    lines = [
        f".. Generated by benchmarks/reproduce_results.py on {time.strftime('%Y-%m-%d')} "
        "- do not edit.",
        "",
        ".. list-table:: Measured by ``benchmarks/reproduce_results.py`` (commit "
        f"{', '.join(commits) or 'none'}; n = number of seeds)",
        "   :header-rows: 1",
        "",
        "   * - data / run",
        "     - test accuracy (%), mean +- std",
        "     - epochs",
        "     - optimizer, lr",
        "     - wall time per run",
        "     - commands (per seed ``S``; ``RUN`` is the run folder)",
    ]
    for row in rows:
        records = results[row.key]
        if not records:
            lines += [f"   * - {row.data}: {row.label}", "     - not run", "     -", "     -",
                      "     -", "     -"]
            continue
        first = records[0]
        optimizer = "none" if first["optimizer"] == "none" else (
            f"{first['optimizer']}, {first['lr']:g}"
            + (f", {first['scheduler']}" if first["scheduler"] != "none" else ""))
        wall = statistics.mean(r["wall_s"] for r in records)
        commands = " ; ".join(f"python -m tinymin {_show(c, row)}" for c in first["commands"])
        lines += [
            f"   * - {row.data}: {row.label}",
            f"     - {mean_std([r['accuracy'] for r in records])} (n = {len(records)})",
            f"     - {first['epochs']}",
            f"     - {optimizer}",
            f"     - {wall:.0f} s",
            f"     - ``{commands}``",
        ]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _show(args: list[str], row: Row) -> str:
    """A command with the seed shown as ``S`` and run folders as ``RUN`` / ``EXACT_RUN``."""
    text = " ".join(args)
    text = re.sub(r"--seed \d+", "--seed S", text)
    text = re.sub(r"\S*/seed\d+/checkpoint\.npz", "RUN/checkpoint.npz", text)
    text = re.sub(r"--out \S*/seed\d+", "--out RUN", text)
    if row.needs:
        text = text.replace("--checkpoint RUN/checkpoint.npz --calibrate",
                            "--checkpoint EXACT_RUN/checkpoint.npz --calibrate")
        text = text.replace("--init-from RUN/checkpoint.npz", "--init-from EXACT_RUN/checkpoint.npz")
    return text


def write_figure(rows: list[Row], results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    # a panel per dataset with at least one finished curve
    datasets = [d for d in dict.fromkeys(r.data for r in rows)
                if any(r.curve and r.data == d and results[r.key] for r in rows)]
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(5.5 * max(1, len(datasets)), 4),
                             squeeze=False)
    if not datasets:
        axes[0][0].text(0.5, 0.5, "no finished runs yet", ha="center", va="center")
    for ax, data in zip(axes[0], datasets):
        for row in rows:
            if row.data != data or not row.curve:
                continue
            curves = [r["curve"] for r in results[row.key]]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            acc = 100 * np.array([c[:n] for c in curves])
            epochs = np.arange(1, n + 1)
            line, = ax.plot(epochs, acc.mean(axis=0), "o-", ms=3,
                            label=f"{row.curve} ({len(curves)} seeds)")
            ax.fill_between(epochs, acc.min(axis=0), acc.max(axis=0), color=line.get_color(),
                            alpha=0.25, lw=0)
        ax.set_title(TITLES.get(data, f"LeNet on {data}"))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="lower right")
    fig.suptitle("mean of the seeds (line) and their range (band)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)  # atomic: a reader never sees half an image
    plt.close(fig)


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (seconds)")
    parser.add_argument("--only", choices=["mnist", "fashion-mnist"], default=None,
                        help="only the rows of one dataset")
    parser.add_argument("--rows", nargs="+", default=None, metavar="KEY",
                        help="run only these rows (e.g. mnist-convert); the rows they need "
                        "must have finished already; the table still lists every row")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds 0..N-1")
    parser.add_argument("--jobs", type=int, default=1, help="commands run in parallel")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads per run")
    parser.add_argument("--runs", type=Path, default=None,
                        help="run folders (default runs/results, runs/results-quick)")
    parser.add_argument("--table-only", action="store_true",
                        help="run nothing: write the table and figure from finished runs")
    parser.add_argument("--table", type=Path, default=None,
                        help=f"where to write the table (default {TABLE.relative_to(REPO)})")
    parser.add_argument("--figure", type=Path, default=None,
                        help=f"where to write the figure (default {FIGURE.relative_to(REPO)})")
    parser.add_argument("--table-rows", nargs="+", default=None, metavar="KEY",
                        help="rows the table and figure list (default: every row), for a "
                        "table of a few rows besides the main one")
    args = parser.parse_args(argv)
    rows = all_rows()
    _ROWS.update({r.key: r for r in rows})
    if args.quick or args.only == "mnist":
        rows = [r for r in rows if r.data == "mnist-embedded"]
    elif args.only:
        rows = [r for r in rows if r.data == args.only]
    seeds = tuple(range(2 if args.quick and args.seeds == len(SEEDS) else args.seeds))
    runs = args.runs or REPO / "runs" / ("results-quick" if args.quick else "results")
    unknown = set(args.rows or []).union(args.table_rows or []) - set(_ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {sorted(_ROWS)}")
    if not args.table_only:
        selected = [r for r in rows if args.rows is None or r.key in args.rows]
        run_all(selected, seeds, runs, args.quick, args.jobs, args.threads)
    if args.table_rows:
        rows = [r for r in rows if r.key in args.table_rows]
    results = collect(rows, seeds, runs, args.quick)
    table, figure = (runs / TABLE.name, runs / FIGURE.name) if args.quick else (TABLE, FIGURE)
    table, figure = args.table or table, args.figure or figure
    write_table(rows, results, table)
    write_figure(rows, results, figure)
    print(f"wrote {table} and {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
