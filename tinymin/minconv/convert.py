"""From an exact network to a min one: the module swap.

:func:`convert_to_min` is where the paper's transfer learning starts: a copy of a model
with every exact ``Conv2d`` replaced by a ``MinConv2d`` holding the same weights
(:meth:`MinConv2d.from_conv <tinymin.minconv.layer.MinConv2d.from_conv>`, one layer).
What follows the copy, re-estimating :math:`\\hat\\mu_x` and calibrating, is
:mod:`tinymin.minconv.calibrate`; the whole workflow on a checkpoint file
(``python -m tinymin convert``) is :func:`tinymin.conversion.convert_checkpoint`.
"""

from __future__ import annotations

import copy

from tinymin.minconv.layer import MinConv2d, name_min_layers
from tinymin.nn.conv import Conv2d
from tinymin.nn.module import Module


def convert_to_min(model: Module, **min_options) -> Module:
    """A copy of ``model`` with every :class:`~tinymin.nn.Conv2d` replaced by a
    :class:`MinConv2d` holding the same weights and bias (the paper's transfer learning).

    The original model is left untouched. ``min_options`` (``clip_value``, ``scale``,
    ``operator``, ``momentum``) go to every new layer. The new layers' ``mu_x_hat``
    starts at 1: call
    :func:`~tinymin.minconv.calibrate.recalibrate_running_statistics` before evaluating.
    """
    converted = copy.deepcopy(model)
    _replace_convs(converted, min_options)
    name_min_layers(converted)
    return converted


def _replace_convs(module: Module, min_options: dict) -> None:
    # every name, a tied layer's too (named_children gives it once)
    for name, child in list(module._modules.items()):
        if isinstance(child, Conv2d):  # exact only: MinConv2d is a sibling, not a subclass
            setattr(module, name, MinConv2d.from_conv(child, **min_options))
        else:
            _replace_convs(child, min_options)
