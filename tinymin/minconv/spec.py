"""What both engines' min-conv share: its settings, its state and its checks.

Engine-agnostic records, used unchanged by tinymin's numpy :func:`~.functional.min_conv2d`
and by its torch twin :func:`tinymin.torch.functional.min_conv2d`:

* :class:`MinConvSpec`: the configuration of one min-conv call (stride, padding, clip
  bound, momentum, scale, operator, ...): fixed for a layer, never learned;
* :class:`MinConvState`: the layer's buffers that a call reads or updates in place
  (:math:`\\hat\\mu_x`, the batch counter, the calibration gain, offset and multiple),
  numpy arrays in one engine, torch tensors in the other;
* :class:`ClippedOperands`: what steps 1-4 of Algorithm 1 produce;
* :func:`check_min_conv_options`: the one place the options are checked.

The maths (the numbered steps) is written out in each engine on purpose, so the two can
be read side by side; only these records are shared. Nothing here imports an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinymin.minconv.operators import OPERATORS

#: Default clip bound T, in units of the mean magnitude. The paper's value was lost
#: (docs/guides/minconv_math.rst, section 5). Measured here (LeNet from scratch on the
#: embedded MNIST subset, Adam 1e-3, 3 epochs, seed 0): T = None 92.8%, 2: 92.4%,
#: 4: 92.4%, 8: 92.6% test accuracy, equal within noise. T = 4 keeps the clip (and its
#: gradient mask) while rarely touching weights copied from an exact network.
DEFAULT_CLIP_VALUE = 4.0

#: One weight scale per layer (the paper) or per output channel (an ablation).
SCALES = ("layer", "channel")


def check_min_conv_options(owner: str, clip_value: float | None, scale: str, operator: str,
                           momentum: float | None = None) -> None:
    """The one place the min-conv options are checked (``owner`` names the caller).

    Raises
    ------
    ValueError
        For an unknown ``scale`` or ``operator``, a ``clip_value`` that is not positive
        (None is allowed: no clip) or a ``momentum`` outside ``[0, 1]``.
    """
    if scale not in SCALES:
        raise ValueError(f"{owner}: scale must be one of {SCALES}, got {scale!r}")
    if operator not in OPERATORS:
        raise ValueError(f"{owner}: operator must be one of {OPERATORS}, got {operator!r}")
    if clip_value is not None and not clip_value > 0:
        raise ValueError(f"{owner}: clip_value must be positive or None, got {clip_value}")
    if momentum is not None and not 0 <= momentum <= 1:
        raise ValueError(f"{owner}: momentum must be in [0, 1] or None, got {momentum}")


@dataclass(frozen=True)
class MinConvSpec:
    """The configuration of one min-conv call: everything but the arrays and the mode.

    Attributes
    ----------
    stride, padding : int or pair of int
    clip_value : float or None
        ``T``, the clip bound in units of the mean magnitude; None: no clip. The
        paper's value was lost (docs/guides/minconv_math.rst, section 5): this is a choice.
    momentum : float or None
        Moving-average momentum of :math:`\\hat\\mu_x` (PyTorch's convention); None for a
        cumulative average over ``num_batches_tracked`` batches.
    scale : {"layer", "channel"}
        One ``mu_w`` per layer (the paper) or per output channel (an ablation).
    operator : {"min", "max", "adder"}
        The stand-in for multiplication: the signed min-selector (the paper), the
        signed max-selector, or AdderNet-style ``-|a - b|``.
    layer_name : str
        Label of the ``tinymin.trace()`` records (and of messages).
    synchronise_input_scale : bool
        Torch engine only: average step 1's batch statistic over the ranks of the
        default process group (DistributedDataParallel). tinymin runs one process.
    """

    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    clip_value: float | None = DEFAULT_CLIP_VALUE
    momentum: float | None = 0.1
    scale: str = "layer"
    operator: str = "min"
    layer_name: str = "min_conv2d"
    synchronise_input_scale: bool = False

    def __post_init__(self) -> None:
        check_min_conv_options("min_conv2d", self.clip_value, self.scale, self.operator,
                               self.momentum)


@dataclass(frozen=True)
class MinConvState:
    """A min-conv layer's buffers, as one call sees them (arrays of the calling engine).

    Attributes
    ----------
    running_abs_mean : array of shape (1,), optional
        :math:`\\hat\\mu_x`; updated in place in training, read in evaluation.
    num_batches_tracked : integer array of shape (1,), optional
        Training batches seen (for ``momentum=None``); updated in place.
    output_gain, output_offset : array of shape (C_out,), optional
        The calibration affine ``y = gain * y + offset``
        (:func:`tinymin.minconv.calibrate.calibrate_min`); None skips a factor.
    input_scale_multiple : float or array of shape (1,)
        ``c`` in :math:`\\mu_x = c \\operatorname{mean}|x|` during training (1 in the
        paper; set by calibration).
    """

    running_abs_mean: Any = None
    num_batches_tracked: Any = None
    output_gain: Any = None
    output_offset: Any = None
    input_scale_multiple: Any = 1.0


@dataclass(frozen=True)
class ClippedOperands:
    """Steps 1-4 for one batch: the scales, the clipped operands and the clip masks
    (numpy arrays or torch tensors, as the engine that made them)."""

    mu_x: Any
    mu_w: Any
    x_c: Any
    x_inside: Any
    w_c: Any
    w_inside: Any
    w_hat: Any
