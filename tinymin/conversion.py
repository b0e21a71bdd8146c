"""``python -m tinymin convert``: an exact checkpoint becomes a min model.

The run-level workflow over :mod:`tinymin.minconv` (the paper's package):
:func:`~tinymin.minconv.convert.convert_to_min`, then
:func:`~tinymin.minconv.calibrate.recalibrate_running_statistics` and
:func:`~tinymin.minconv.calibrate.calibrate_min`, evaluated on the test set before and
after and saved as a checkpoint. It sits beside :mod:`tinymin.experiment`, above the
training stack it uses (checkpoints, data, models, evaluation).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinymin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinymin.data import DataLoader
from tinymin.data.catalog import load_splits
from tinymin.data.dataset import random_subset
from tinymin.minconv.calibrate import (
    DEFAULT_FIT_MAX_K,
    LayerCalibration,
    LinearCorrection,
    calibrate_min,
    recalibrate_running_statistics,
)
from tinymin.minconv.convert import convert_to_min
from tinymin.minconv.reconstruct import DEFAULT_STEPS, LayerReconstruction
from tinymin.models import build_model
from tinymin.train import evaluate


@dataclass
class ConversionReport:
    """What :func:`convert_checkpoint` did and measured (test accuracies in [0, 1])."""

    exact_accuracy: float
    copy_accuracy: float
    calibration_images: int
    layers: list[LayerCalibration | LinearCorrection | LayerReconstruction] = field(
        default_factory=list)
    calibrated_accuracy: float | None = None
    seconds: float = 0.0
    written: Path | None = None


def convert_checkpoint(path: str | os.PathLike, calibrate: int = 256, clip_value: float | None = None,
                       shared_gain: bool = False, out: str | os.PathLike | None = None,
                       data_root: str | None = None, test_limit: int | None = None,
                       seed: int = 0, fit_max_k: int = DEFAULT_FIT_MAX_K,
                       linear_correction: bool = False, method: str = "fit",
                       steps: int = DEFAULT_STEPS) -> ConversionReport:
    """Exact checkpoint -> min model: copy, re-estimate :math:`\\hat\\mu_x`, calibrate,
    evaluate, save (what ``python -m tinymin convert`` runs).

    Parameters
    ----------
    path : path
        A checkpoint of an exact model (``conv="exact"`` in its config).
    calibrate : int
        Training images to calibrate on; 0 only re-estimates :math:`\\hat\\mu_x` on
        256 images (the paper's plain copy).
    clip_value : float, optional
        The min layers' clip bound (default: the layer's).
    shared_gain : bool
        One calibration gain per layer instead of per channel (fully foldable).
    fit_max_k, linear_correction, method
        Stage 2, the linear correction and the method (``"fit"`` or ``"reconstruct"``)
        of :func:`calibrate_min`.
    steps : int
        Adam steps per layer of ``method="reconstruct"``
        (:func:`tinymin.minconv.reconstruct.reconstruct_min`).
    out : path, optional
        Where to write the min model's checkpoint.
    data_root, test_limit, seed
        Where the dataset lives, how many test images to evaluate on (a seeded random
        subset) and the seed of the subsets.
    """
    checkpoint = load_checkpoint(path)
    config = dict(checkpoint.config.get("model", {}))
    if config.get("conv") != "exact":
        raise CheckpointError(f"{path}: convert needs an exact model, got conv={config.get('conv')!r}")
    exact = build_model(config.pop("name"), **config)
    exact.load_state_dict(checkpoint.model_state)
    data = checkpoint.config.get("data", "mnist-embedded")
    train_set, test_set, _ = load_splits(data, data_root, augment=False)
    test_loader = DataLoader(random_subset(test_set, test_limit, seed + 1), 256)
    options = {} if clip_value is None else {"clip_value": clip_value}
    model = convert_to_min(exact, **options)
    calibration = random_subset(train_set, calibrate or 256, seed)
    images = np.stack([calibration[i][0] for i in range(len(calibration))])
    recalibrate_running_statistics(model, [images])
    report = ConversionReport(evaluate(exact, test_loader)["accuracy"],
                              evaluate(model, test_loader)["accuracy"], len(images))
    if calibrate > 0:
        start = time.perf_counter()
        report.layers = calibrate_min(model, images, per_channel_gain=not shared_gain,
                                      fit_max_k=fit_max_k, linear_correction=linear_correction,
                                      seed=seed, method=method,
                                      **({"steps": steps} if method == "reconstruct" else {}))
        report.seconds = time.perf_counter() - start
        report.calibrated_accuracy = evaluate(model, test_loader)["accuracy"]
    if out:
        model_config = {**checkpoint.config.get("model", {}), "conv": "min", **options}
        run_config = {**checkpoint.config, "model": model_config, "converted_from": str(path)}
        report.written = save_checkpoint(out, model, run_config, epoch=0)
    return report
