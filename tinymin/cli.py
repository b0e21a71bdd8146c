"""The ``python -m tinymin`` command line: train, eval, plot, convert, table1, exercise,
milestone.

Each sub-command is one function taking the parsed arguments: it checks them, calls
the library and prints. The work itself lives in the library: ``train`` in
:mod:`tinymin.experiment` (build, then run), ``convert`` in
:func:`tinymin.conversion.convert_checkpoint`, ``plot`` in :mod:`tinymin.viz`,
``exercise`` in :mod:`tinymin.exercises.cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import tinymin
from tinymin.checkpoint import CheckpointError, load_checkpoint
from tinymin.data import DataLoader, random_subset
from tinymin.data.catalog import CATALOG, DatasetInfo, load_split
from tinymin.exercises import cli as exercise_cli
from tinymin.exercises import milestone
from tinymin.exercises.swap import LearnerCodeError, use_folder
from tinymin.experiment import RECIPES, TrainingRun
from tinymin.models import MODELS, build_model
from tinymin.run_folder import check_output_file
from tinymin.run_options import check_options
from tinymin.train import NonFiniteLossError, evaluate


def build_parser(recipe: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``recipe``, that recipe's options are ``train``'s defaults."""
    parser = argparse.ArgumentParser(prog="python -m tinymin",
                                     description="Train and study MinConvNets with tinymin.")
    parser.add_argument("--version", action="version", version=f"tinymin {tinymin.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub, RECIPES[recipe] if recipe else {})
    _add_eval_parser(sub)
    plot = _subcommand(sub, "plot", "draw accuracy/loss curves of runs into a PNG")
    plot.add_argument("runs", nargs="+", help="run folders (each with a metrics.csv)")
    plot.add_argument("--out", default="curves.png", help="PNG file to write")
    plot.add_argument("--title", default=None, help="title above the curves")
    from tinymin.minconv.reconstruct import DEFAULT_STEPS

    convert = _subcommand(sub, "convert", "turn an exact checkpoint into a calibrated "
                          "MinConvNet (no retraining)")
    convert.add_argument("--checkpoint", required=True, help="exact model checkpoint (.npz)")
    convert.add_argument("--calibrate", type=_non_negative_int, default=256,
                         help="training images used to calibrate (0: only re-estimate "
                         "mu_x_hat on 256 images, the paper's plain copy)")
    convert.add_argument("--clip-value", type=float, default=None,
                         help="MinConv2d clip bound T in units of the mean |x|; None: the "
                         "layer's default")
    convert.add_argument("--shared-gain", action="store_true",
                         help="one gain per layer (fully multiplication-free after folding)")
    _add_calibration_options(convert)
    convert.add_argument("--reconstruct", nargs="?", type=_non_negative_int, const=DEFAULT_STEPS,
                         default=None, metavar="STEPS",
                         help="fit every threshold of every min layer to the exact network's "
                         f"output, layer by layer, by STEPS Adam steps each (default {DEFAULT_STEPS}; "
                         "tinymin.minconv.reconstruct; --fit-max-k does not apply)")
    convert.add_argument("--out", default=None,
                         help="checkpoint file to write the min model to; None: write nothing")
    convert.add_argument("--force", action="store_true",
                         help="let --out replace an existing file (the input checkpoint "
                         "included) or write into another run's folder")
    convert.add_argument("--data-root", default=None,
                         help="folder holding the dataset files; None: the usual places")
    convert.add_argument("--test-limit", type=_positive_int, default=None,
                         help="evaluate on N random test images; None: all")
    convert.add_argument("--seed", type=int, default=0, help="seed of the image subsets")
    table = _subcommand(sub, "table1", "reproduce the paper's Table 1 (correlations)")
    table.add_argument("--samples", type=int, default=1_000_000,
                       help="random pairs per distribution")
    table.add_argument("--seed", type=int, default=0, help="random seed")
    milestone.add_arguments(_subcommand(sub, "milestone", "the capstone: train the MinConv LeNet on "
                                        "your own exercise pieces, against tinymin's own"))
    exercise_cli.add_arguments(_subcommand(sub, "exercise", "list the exercises, or grade your "
                                           "solution of one (see docs/guides/learning_path.rst)"))
    return parser


def _subcommand(sub, name: str, description: str) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` shows every option's default after its meaning."""
    return sub.add_parser(name, help=description, description=description,
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def _add_train_parser(sub, defaults: dict) -> None:
    train = _subcommand(sub, "train", "train a model, with a progress bar and checkpoints")
    train.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                       help="a named set of options (tinymin.experiment.RECIPES); options "
                       "given explicitly override it")
    train.add_argument("--model", choices=sorted(MODELS), default="lenet", help="network to train")
    train.add_argument("--data", choices=sorted(CATALOG), default="mnist-embedded",
                       help="dataset (mnist-embedded ships with tinymin)")
    train.add_argument("--data-root", default=None,
                       help="folder holding the dataset files; None: the usual places")
    train.add_argument("--download", action="store_true", help="fetch missing dataset files")
    train.add_argument("--conv", choices=["exact", "min"], default="exact",
                       help="exact convolution, or the min-selector convolution (Algorithm 1)")
    train.add_argument("--clip-value", type=float, default=None,
                       help="MinConv2d clip bound T in units of the mean |x|; None: the "
                       "layer's default")
    train.add_argument("--epochs", type=int, default=5,
                       help="epochs in all (with --resume: the total, above those done)")
    train.add_argument("--batch-size", type=_positive_int, default=64, help="training images per step")
    train.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam",
                       help="update rule")
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    train.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    train.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (AdamW: decoupled)")
    train.add_argument("--scheduler", choices=["none", "step", "cosine"], default="none",
                       help="learning-rate schedule over the epochs")
    train.add_argument("--no-augment", action="store_true", help="no random crops/flips (CIFAR)")
    train.add_argument("--seed", type=int, default=0,
                       help="seed of initialisation, shuffling and subsets")
    train.add_argument("--out", default=None,
                       help="run folder for config.json, metrics.csv and checkpoint.npz; "
                       "None: keep nothing")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out; only --epochs (to extend), "
                       "--no-progress, --train-limit, --test-limit, --data-root, --download, "
                       "--engine, --device, --init-from and --calibrate may differ from the "
                       "saved run's options")
    train.add_argument("--restart", action="store_true",
                       help="discard the run in --out (its config.json, metrics.csv, scales.csv "
                       "and checkpoint.npz) and start it again from scratch")
    train.add_argument("--init-from", default=None,
                       help="checkpoint whose weights start this run (transfer learning; "
                       "exact -> min allowed)")
    train.add_argument("--calibrate", type=_non_negative_int, default=0,
                       help="with --init-from an exact checkpoint and --conv min: calibrate "
                       "the min layers on N training images before fine-tuning (0: the "
                       "paper's plain copy)")
    _add_calibration_options(train)
    train.add_argument("--dropout", type=float, default=None,
                       help="dropout probability before the last layer (lenet, mini_cifar); "
                       "None: the paper's 0.5")
    train.add_argument("--engine", choices=["tinymin", "torch"], default="tinymin",
                       help="tinymin's numpy/Cython engine, or PyTorch (the torch extra; "
                       "also under torchrun)")
    train.add_argument("--device", default=None,
                       help="--engine torch: cpu, cuda or cuda:N; None: cpu")
    train.add_argument("--train-limit", type=_positive_int, default=None,
                       help="use only N random training images; None: all")
    train.add_argument("--test-limit", type=_positive_int, default=None,
                       help="use only N random test images; None: all")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--mine", default=None, metavar="DIR", help="folder of your exercise files: train on "
                       "your own pieces in place of tinymin's (see `milestone`)")
    train.set_defaults(**defaults)


def _add_eval_parser(sub) -> None:
    ev = _subcommand(sub, "eval", "evaluate a checkpoint on its dataset's test split")
    ev.add_argument("--checkpoint", required=True, help="checkpoint file (.npz) to evaluate")
    ev.add_argument("--data", choices=sorted(CATALOG), default=None,
                    help="another dataset with the same input shape and classes; None: the "
                    "one the checkpoint was trained on")
    ev.add_argument("--data-root", default=None,
                    help="folder holding the dataset files; None: the usual places")
    ev.add_argument("--batch-size", type=_positive_int, default=256, help="test images per batch")
    ev.add_argument("--test-limit", type=_positive_int, default=None,
                    help="evaluate on N random test images; None: all")


def _add_calibration_options(parser: argparse.ArgumentParser) -> None:
    """The choices of :func:`tinymin.minconv.calibrate.calibrate_min` (convert, train --calibrate)."""
    from tinymin.minconv.calibrate import DEFAULT_FIT_MAX_K

    parser.add_argument("--fit-max-k", type=_non_negative_int, default=DEFAULT_FIT_MAX_K,
                        help="fit the thresholds one by one in the min layers whose receptive "
                        "field C_in*kh*kw is at most this (the first layer of lenet and "
                        "mini_cifar); 0: off")
    parser.add_argument("--linear-correction", action=argparse.BooleanOptionalAction,
                        default=False, help="fit a gain and offset per unit of the first "
                        "Linear layer after the min layers")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def check_train_options(args: argparse.Namespace) -> None:
    """Options ``train`` cannot run, refused before anything is built (the check both
    engines share, :func:`tinymin.run_options.check_options`, and the output path)."""
    check_options(args)
    if args.out:
        check_output_path("--out", args.out, folder=True)


def check_output_path(option: str, path: str, folder: bool = False) -> None:
    """Refuse an output path that cannot be written: a folder where a file is wanted
    (or a file where a folder is wanted), or a path below an existing file."""
    target = Path(path)
    if target.exists() and target.is_dir() != folder:
        wanted = "a folder" if folder else "a file name"
        found = "a file" if folder else "a folder"
        raise ValueError(f"{option} {path}: is {found}; give {wanted}")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{option} {path}: {parent} is a file, not a folder")
            return


def cmd_train(args: argparse.Namespace) -> int:
    """Parse (done), build, run: :class:`tinymin.experiment.TrainingRun`."""
    check_train_options(args)
    try:
        with use_folder(args.mine, args.engine) if args.mine else contextlib.nullcontext():
            run = _torch_run(args) if args.engine == "torch" else TrainingRun.build(args)
            history = run.run()
    except LearnerCodeError as exc:  # a learner's piece raised or answered wrongly
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
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


def check_same_shape(path: str, config: dict, trained_on: str, info: DatasetInfo) -> None:
    """Refuse a dataset whose images or classes do not fit the checkpoint's model."""
    model = (config.get("in_channels"), config.get("input_size"), config.get("num_classes"))
    wanted = (info.in_channels, info.input_size, info.num_classes)
    if None not in model and model != wanted:
        raise ValueError(f"{path}: the model (trained on {trained_on}) takes {model[0]}x{model[1]}"
                         f"x{model[1]} images and {model[2]} classes, but {info.name} has "
                         f"{wanted[0]}x{wanted[1]}x{wanted[1]} images and {wanted[2]} classes")


def cmd_eval(args: argparse.Namespace) -> int:
    """A checkpoint's test loss and accuracy on its dataset (or ``--data``)."""
    checkpoint = load_checkpoint(args.checkpoint)
    config = dict(checkpoint.config.get("model", {}))
    if "name" not in config:
        raise CheckpointError(f"{args.checkpoint}: config names no model")
    trained_on = checkpoint.config.get("data", "mnist-embedded")
    data = args.data or trained_on
    if data not in CATALOG:  # only a checkpoint's config can name one the CLI would refuse
        raise CheckpointError(f"{args.checkpoint}: config names the dataset {data!r}, which "
                              f"tinymin does not know ({', '.join(sorted(CATALOG))}); give --data")
    check_same_shape(args.checkpoint, config, trained_on, CATALOG[data])
    try:
        model = build_model(config.pop("name"), **config)
        model.load_state_dict(checkpoint.model_state)
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:  # weights that do not fit
        raise CheckpointError(f"{args.checkpoint}: its weights do not fit the model its config "
                              f"names: {exc}") from exc
    test_set = load_split(data, False, args.data_root, augment=False)
    test_set = random_subset(test_set, args.test_limit, 1)
    result = evaluate(model, DataLoader(test_set, args.batch_size), progress=True)
    print(f"{args.checkpoint}: test loss {result['loss']:.4f}, "
          f"test accuracy {result['accuracy']:.2%} on {len(test_set)} {data} images")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Accuracy and loss curves of the run folders into one PNG."""
    from tinymin.viz import plot_runs

    check_output_path("--out", args.out)
    plot_runs(args.runs, args.out, title=args.title)
    print(f"wrote {args.out}")
    return 0


def cmd_table1(args: argparse.Namespace) -> int:
    """The paper's Table 1 (operator correlations), measured by Monte Carlo."""
    from tinymin.analysis import format_table1, table1

    print(format_table1(table1(n_samples=args.samples, seed=args.seed)))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Exact checkpoint -> min model (:func:`tinymin.conversion.convert_checkpoint`)."""
    from tinymin.conversion import convert_checkpoint

    reconstruct = args.reconstruct is not None
    if reconstruct and (args.shared_gain or args.linear_correction):
        raise ValueError("--reconstruct fits a gain per channel and no linear correction: "
                         "drop --shared-gain and --linear-correction")
    if args.out:
        check_output_path("--out", args.out)
        check_output_file("--out", args.out, inputs=(args.checkpoint,), force=args.force)
    report = convert_checkpoint(args.checkpoint, calibrate=args.calibrate, clip_value=args.clip_value,
                                shared_gain=args.shared_gain, out=args.out, data_root=args.data_root,
                                test_limit=args.test_limit, seed=args.seed, fit_max_k=args.fit_max_k,
                                linear_correction=args.linear_correction,
                                method="reconstruct" if reconstruct else "fit",
                                steps=args.reconstruct or 0)
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
            "convert": cmd_convert, "exercise": exercise_cli.run, "milestone": milestone.run_command}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse; a ``train --recipe`` becomes the defaults of a second parse, so that
    explicit options still win."""
    args = build_parser().parse_args(argv)
    if getattr(args, "recipe", None):
        args = build_parser(args.recipe).parse_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; returns the exit status.

    0 on success; 2 for a user error (a bad option, a missing or corrupt file, an option
    that differs from the checkpoint's), printed as one ``error:`` line, as argparse does
    for its own; 1 when training diverges (the loss became NaN or infinite).
    """
    args = parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except NonFiniteLossError as exc:
        _report(f"error: {exc}")
        return 1
    except (ValueError, OSError) as exc:  # CheckpointError and DatasetError are ValueErrors
        _report(f"error: {_one_line(exc)}")
        _let_rank_0_fail_first()
        return 2


def _report(line: str) -> None:
    """An error line to stderr, from one process: under torchrun every rank meets the
    same error, and rank 0 alone says it."""
    if os.environ.get("RANK", "0") == "0":
        print(line, file=sys.stderr)


#: How long a silent rank waits for torchrun to stop it after a user error (seconds).
RANK_0_GRACE_SECONDS = 30.0


def _let_rank_0_fail_first(grace: float = RANK_0_GRACE_SECONDS) -> None:
    """Under torchrun, a rank other than 0 waits after a user error until torchrun stops
    it (or ``grace`` seconds pass).

    torchrun stops every worker (``SIGTERM``) as soon as one exits with an error. Every
    rank meets the same bad option, but only rank 0 says so: when a silent rank exited
    first, rank 0 could be stopped before it printed, and the user saw torchrun's
    summary without the error line (seen once in a CI run). Waiting makes rank 0's
    exit, after its message, the one torchrun reacts to.
    """
    if os.environ.get("RANK", "0") != "0" and "TORCHELASTIC_RUN_ID" in os.environ:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            time.sleep(0.05)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
