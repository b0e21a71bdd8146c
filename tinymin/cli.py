"""The ``python -m tinymin`` command line: train, eval, plot, table1.

Each sub-command is one function taking the parsed arguments; the work itself lives
in the library (:mod:`tinymin.train`, :mod:`tinymin.checkpoint`, :mod:`tinymin.viz`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import tinymin
from tinymin import optim
from tinymin.checkpoint import CheckpointError, load_checkpoint, write_text_atomic
from tinymin.data import DataLoader, random_subset
from tinymin.data.catalog import CATALOG, load_splits
from tinymin.models import MODELS, build_model
from tinymin.train import evaluate, fit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tinymin",
                                     description="Train and study MinConvNets with tinymin.")
    parser.add_argument("--version", action="version", version=f"tinymin {tinymin.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_eval_parser(sub)
    plot = sub.add_parser("plot", help="draw accuracy/loss curves of runs into a PNG")
    plot.add_argument("runs", nargs="+", help="run folders (each with a metrics.csv)")
    plot.add_argument("--out", default="curves.png", help="PNG file to write")
    plot.add_argument("--title", default=None)
    convert = sub.add_parser("convert", help="turn an exact checkpoint into a calibrated "
                             "MinConvNet (no retraining)")
    convert.add_argument("--checkpoint", required=True, help="exact model checkpoint")
    convert.add_argument("--calibrate", type=_non_negative_int, default=256,
                         help="training images used to calibrate (0: only re-estimate "
                         "mu_x_hat on 256 images, the paper's plain copy)")
    convert.add_argument("--clip-value", type=float, default=None)
    convert.add_argument("--shared-gain", action="store_true",
                         help="one gain per layer (fully multiplication-free after folding)")
    convert.add_argument("--out", default=None, help="where to write the min checkpoint")
    convert.add_argument("--data-root", default=None)
    convert.add_argument("--test-limit", type=int, default=None)
    convert.add_argument("--seed", type=int, default=0)
    table = sub.add_parser("table1", help="reproduce the paper's Table 1 (correlations)")
    table.add_argument("--samples", type=int, default=1_000_000)
    table.add_argument("--seed", type=int, default=0)
    return parser


def _add_train_parser(sub) -> None:
    train = sub.add_parser("train", help="train a model, with a progress bar and checkpoints")
    train.add_argument("--model", choices=sorted(MODELS), default="lenet")
    train.add_argument("--data", choices=sorted(CATALOG), default="mnist-embedded")
    train.add_argument("--data-root", default=None, help="folder holding the dataset files")
    train.add_argument("--download", action="store_true", help="fetch missing dataset files")
    train.add_argument("--conv", choices=["exact", "min"], default="exact")
    train.add_argument("--clip-value", type=float, default=None,
                       help="MinConv2d clip bound T in units of the mean |x| (default: layer's)")
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--scheduler", choices=["none", "step", "cosine"], default="none")
    train.add_argument("--no-augment", action="store_true", help="no random crops/flips (CIFAR)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="run folder (metrics.csv, checkpoint.npz)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--init-from", default=None,
                       help="checkpoint whose weights start this run (transfer learning)")
    train.add_argument("--calibrate", type=_non_negative_int, default=0,
                       help="with --init-from an exact checkpoint and --conv min: calibrate "
                       "the min layers on N training images before fine-tuning (0: the "
                       "paper's plain copy)")
    train.add_argument("--train-limit", type=int, default=None, help="use only N training images")
    train.add_argument("--test-limit", type=int, default=None, help="use only N test images")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a checkpoint on its dataset's test split")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data-root", default=None)
    ev.add_argument("--batch-size", type=int, default=256)
    ev.add_argument("--test-limit", type=int, default=None)


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float):
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def make_scheduler(name: str, optimizer, epochs: int):
    if name == "step":
        return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    return None


def model_config(args: argparse.Namespace, info) -> dict[str, Any]:
    config: dict[str, Any] = {"name": args.model, "num_classes": info.num_classes,
                              "in_channels": info.in_channels, "input_size": info.input_size,
                              "conv": args.conv}
    if args.conv == "min" and args.clip_value is not None:
        config["clip_value"] = args.clip_value
    return config


def cmd_train(args: argparse.Namespace) -> int:
    tinymin.manual_seed(args.seed)
    train_set, test_set, info = load_splits(args.data, args.data_root, not args.no_augment,
                                            args.download)
    train_set = random_subset(train_set, args.train_limit, args.seed)
    test_set = random_subset(test_set, args.test_limit, args.seed + 1)
    config = model_config(args, info)
    name = config.pop("name")
    model = build_model(name, **config)
    config["name"] = name
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum,
                               args.weight_decay)
    scheduler = make_scheduler(args.scheduler, optimizer, args.epochs)
    train_loader = DataLoader(train_set, args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, 256)
    start_epoch = 0
    source_conv = _init_from(model, args.init_from, train_loader) if args.init_from else None
    if args.calibrate:
        _calibrate_transfer(model, args, source_conv)
    if args.resume:
        start_epoch = _resume(args, model, optimizer, scheduler, train_loader)
    run_config = {"model": config, "data": args.data, "train_args": _plain(vars(args))}
    if args.out:
        write_text_atomic(Path(args.out) / "config.json", json.dumps(run_config, indent=2) + "\n")
    print(f"training {name} ({args.conv} conv) on {args.data}: {len(train_set)} train / "
          f"{len(test_set)} test images, {args.epochs} epochs")
    history = fit(model, optimizer, train_loader, args.epochs - start_epoch if args.resume
                  else args.epochs, test_loader, scheduler, run_dir=args.out, config=run_config,
                  start_epoch=start_epoch, progress=not args.no_progress,
                  on_epoch_end=_scale_logger(model, args.out, test_set))
    final = history[-1] if history else None
    if final is not None:
        print(f"final test accuracy: {final['test_accuracy']:.2%} "
              f"(epoch {final['epoch']}, {name}, {args.conv} conv, {args.data})")
    return 0


def _scale_logger(model, run_dir: str | None, test_set):
    """For min models with a run folder: log mu_x_hat, mu_w and each layer's correlation
    with the exact convolution to ``scales.csv`` after every epoch."""
    from tinymin.minconv.diagnostics import layer_diagnostics, scale_snapshot
    from tinymin.minconv.layer import min_layers
    from tinymin.train import append_metrics

    if run_dir is None or not min_layers(model):
        return None
    probe = np.stack([test_set[i][0] for i in range(min(128, len(test_set)))])

    def log_scales(epoch: int, model) -> None:
        model.eval()
        row = {"epoch": epoch, **scale_snapshot(model)}
        for diag in layer_diagnostics(model, probe):
            row[f"{diag['layer']}.correlation"] = round(diag["correlation"], 5)
        append_metrics(Path(run_dir) / "scales.csv", row, fields=list(row))

    return log_scales


def _init_from(model, path: str, train_loader) -> str | None:
    """Copy weights from a checkpoint (exact -> min transfer keeps shapes); returns the
    checkpoint's ``conv`` ("exact" or "min")."""
    checkpoint = load_checkpoint(path)
    result = model.load_state_dict(checkpoint.model_state, strict=False)
    if result.unexpected_keys:
        raise CheckpointError(f"{path}: keys {result.unexpected_keys} do not exist in this model")
    print(f"initialised from {path} (epoch {checkpoint.epoch}); "
          f"not in checkpoint, kept fresh: {result.missing_keys or 'none'}")
    if any(key.endswith("running_abs_mean") for key in result.missing_keys):
        # mu_x_hat still holds its initial value after the copy (docs/guides/minconv_math.rst,
        # section 6).
        from tinymin.minconv.convert import recalibrate_running_statistics

        recalibrate_running_statistics(model, train_loader, max_batches=20)
    return checkpoint.config.get("model", {}).get("conv")


def _calibrate_transfer(model, args: argparse.Namespace, source_conv: str | None) -> None:
    """Fit the copied min layers to the exact ones they replace (tinymin's extension of
    the paper's transfer: see ``tinymin.minconv.convert``), then fine-tune as usual."""
    from tinymin.minconv.convert import calibrate_min
    from tinymin.minconv.layer import min_layers

    if not args.init_from or not min_layers(model):
        raise SystemExit("--calibrate needs --conv min and --init-from an exact checkpoint")
    if source_conv != "exact":
        raise SystemExit(f"--calibrate fits min layers to exact ones: {args.init_from} holds "
                         f"a conv={source_conv!r} model, not an exact one")
    if args.resume:
        return  # the resumed checkpoint already holds the calibrated layers
    # calibrate on plain images: no random crops or flips, and no draws from the RNG
    plain_train, _, _ = load_splits(args.data, args.data_root, augment=False)
    subset = random_subset(plain_train, args.calibrate, args.seed)
    images = np.stack([subset[i][0] for i in range(len(subset))])
    for layer in calibrate_min(model, images):
        print("  calibrated " + str(layer))


def _resume(args: argparse.Namespace, model, optimizer, scheduler, train_loader) -> int:
    from tinymin.train import resume_training

    if not args.out:
        raise SystemExit("--resume needs --out pointing at the run to continue")
    checkpoint = load_checkpoint(Path(args.out) / "checkpoint.npz")
    epoch = resume_training(checkpoint, model, optimizer, scheduler, train_loader, args.out)
    print(f"resuming {args.out} after epoch {epoch}")
    return epoch


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool, type(None)))}


def cmd_eval(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    config = dict(checkpoint.config.get("model", {}))
    if "name" not in config:
        raise CheckpointError(f"{args.checkpoint}: config names no model")
    model = build_model(config.pop("name"), **config)
    model.load_state_dict(checkpoint.model_state)
    data = checkpoint.config.get("data", "mnist-embedded")
    _, test_set, _ = load_splits(data, args.data_root, augment=False)
    test_set = random_subset(test_set, args.test_limit, 1)
    result = evaluate(model, DataLoader(test_set, args.batch_size), progress=True)
    print(f"{args.checkpoint}: test loss {result['loss']:.4f}, "
          f"test accuracy {result['accuracy']:.2%} on {len(test_set)} {data} images")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from tinymin.viz import plot_runs

    plot_runs(args.runs, args.out, title=args.title)
    print(f"wrote {args.out}")
    return 0


def cmd_table1(args: argparse.Namespace) -> int:
    from tinymin.analysis import format_table1, table1

    print(format_table1(table1(n_samples=args.samples, seed=args.seed)))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Exact checkpoint -> min model (:func:`tinymin.minconv.convert.convert_checkpoint`)."""
    from tinymin.minconv.convert import convert_checkpoint

    report = convert_checkpoint(args.checkpoint, args.calibrate, args.clip_value, args.shared_gain,
                                args.out, args.data_root, args.test_limit, args.seed)
    print(f"exact model:                       {report.exact_accuracy:.2%}")
    print(f"min copy (mu_x_hat = mean |x|):    {report.copy_accuracy:.2%}")
    if report.calibrated_accuracy is not None:
        for layer in report.layers:
            print("  " + str(layer))
        print(f"min, calibrated on {report.calibration_images} images: "
              f"{report.calibrated_accuracy:.2%} (calibration took {report.seconds:.1f} s)")
    if report.written is not None:
        print(f"wrote {args.out}")
    return 0


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "plot": cmd_plot, "table1": cmd_table1,
            "convert": cmd_convert}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
