"""The ``python -m tinymin`` command line: train, eval, plot, convert, table1.

Each sub-command is one function taking the parsed arguments: it checks them, calls
the library and prints. The work itself lives in the library: ``train`` in
:mod:`tinymin.experiment` (build, then run), ``convert`` in
:func:`tinymin.minconv.convert.convert_checkpoint`, ``plot`` in :mod:`tinymin.viz`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import tinymin
from tinymin.checkpoint import CheckpointError, load_checkpoint
from tinymin.data import DataLoader, random_subset
from tinymin.data.catalog import CATALOG, load_splits
from tinymin.experiment import TrainingRun
from tinymin.models import MODELS, build_model
from tinymin.train import evaluate


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
    train.add_argument("--dropout", type=float, default=None,
                       help="dropout probability before the last layer (lenet, mini_cifar; "
                       "default: the paper's 0.5)")
    train.add_argument("--engine", choices=["tinymin", "torch"], default="tinymin",
                       help="tinymin's numpy/Cython engine, or PyTorch (the torch extra; "
                       "also under torchrun)")
    train.add_argument("--device", default=None,
                       help="--engine torch: cpu (default), cuda or cuda:N")
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


def check_train_options(args: argparse.Namespace) -> None:
    """Option combinations ``train`` cannot run, refused before anything is built."""
    if args.calibrate and (not args.init_from or args.conv != "min"):
        raise SystemExit("--calibrate needs --conv min and --init-from an exact checkpoint")
    if args.resume and not args.out:
        raise SystemExit("--resume needs --out pointing at the run to continue")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.dropout is not None and args.model == "mlp":
        raise ValueError("--dropout: the mlp model has no dropout layer")
    if args.device is not None and args.engine != "torch":
        raise ValueError("--device needs --engine torch (tinymin's engine runs on the CPU)")


def cmd_train(args: argparse.Namespace) -> int:
    """Parse (done), build, run: :class:`tinymin.experiment.TrainingRun`."""
    check_train_options(args)
    run = _torch_run(args) if args.engine == "torch" else TrainingRun.build(args)
    history = run.run()
    if history:
        final = history[-1]
        print(f"final test accuracy: {final['test_accuracy']:.2%} "
              f"(epoch {final['epoch']}, {args.model}, {args.conv} conv, {args.data})")
    return 0


def _torch_run(args: argparse.Namespace):
    """The run built for the torch engine (imported only here: tinymin never needs torch)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise ValueError('--engine torch needs PyTorch, which is not installed: pip install -e ".[torch]" '
                         "(or train with --engine tinymin)")
    from tinymin.torch.experiment import TorchTrainingRun

    args.device = args.device or "cpu"
    return TorchTrainingRun.build(args)


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
