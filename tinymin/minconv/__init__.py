"""MinConvNets in one package: the paper (Yang et al., 2021) from equation to file.

The rest of tinymin is an ordinary framework (tensor, autograd, ``nn``, ``optim``,
``data``); this package holds what the paper adds to it. The mathematics is in
docs/guides/minconv_math.rst; each piece of it lives here:

=================================================  ===============================================
The paper                                          tinymin
=================================================  ===============================================
Eq. 1-2, convolution as im2col + GEMM              :func:`tinymin.nn.functional.conv2d` (the exact
                                                   twin; its geometry and backward are reused)
Eq. 3-7, Table 1, Figure 3: why a minimum          :mod:`tinymin.analysis`
Eq. 8-11, the signed min-selector :math:`m`,       :mod:`.operators`: :func:`~.operators.selector_kernel`,
and the max / adder alternatives                   ``OPERATORS``
Table 2, :math:`m` as a 4-to-1 multiplexer         :func:`.operators.multiplexer`
Algorithm 1, step 1: :math:`\\mu_x`, running        :func:`.functional.step1_input_scale`,
:math:`\\hat\\mu_x`                                   :func:`.functional.update_running_mean`
Algorithm 1, step 2: :math:`\\mu_w`                 :func:`.functional.step2_weight_scale`
Eq. 14, step 3: clip                               :func:`.functional.step3_clip`
Eq. 12, step 4: :math:`\\hat w = w_c \\mu_x/\\mu_w`    :func:`.functional.step4_rescale`
Eq. 13, step 5: the approximate convolution        :func:`.functional.step5_approximate_conv`
Algorithm 1, step 6: exact backward                :func:`.functional.step6_exact_gradients`
Eq. 15, step 7: through the clip                   :func:`.functional.step7_through_clip`
Algorithm 1 as one autograd Function               :class:`.functional.MinConv2dFunction`,
                                                   :func:`.functional.min_conv2d`
A call's settings and a layer's buffers (both       :class:`.spec.MinConvSpec`,
engines)                                           :class:`.spec.MinConvState`
Steps 1-4 of a layer, for inspection               :func:`.layer.clipped_operands`
The min-conv layer                                 :class:`.layer.MinConv2d`,
                                                   :meth:`.layer.MinConv2d.from_conv`
Section 4.3, transfer learning                     :func:`.convert.convert_to_min`,
                                                   :func:`.calibrate.recalibrate_running_statistics`
Beyond the paper: post-training calibration        :func:`.calibrate.calibrate_min`,
                                                   :func:`.thresholds.fit_thresholds`,
                                                   :func:`.calibrate.correct_linear`,
                                                   :func:`.reconstruct.reconstruct_min`
                                                   (on a checkpoint file:
                                                   :func:`tinymin.conversion.convert_checkpoint`)
Section 4 (Eq. 12-13): inference without products  :func:`.fold.fold_min_model`,
                                                   :func:`.fold.operation_counts`
How close each layer is to the exact convolution   :func:`.diagnostics.layer_diagnostics`
=================================================  ===============================================

``tinymin.nn.MinConv2d``, ``tinymin.nn.functional.min_conv2d``,
``tinymin.nn.convert_to_min`` and ``tinymin.nn.calibrate_min`` are the same objects,
re-exported so that code written against the PyTorch-shaped API keeps working.
"""

from tinymin.minconv.calibrate import calibrate_min, recalibrate_running_statistics
from tinymin.minconv.convert import convert_to_min
from tinymin.minconv.functional import MinConv2dFunction, min_conv2d
from tinymin.minconv.layer import MinConv2d, clipped_operands, min_layers, name_min_layers
from tinymin.minconv.operators import OPERATORS, multiplexer
from tinymin.minconv.spec import DEFAULT_CLIP_VALUE, MinConvSpec, MinConvState

__all__ = [
    "DEFAULT_CLIP_VALUE", "OPERATORS", "MinConv2d", "MinConv2dFunction", "MinConvSpec",
    "MinConvState", "calibrate_min", "clipped_operands", "convert_to_min", "min_conv2d",
    "min_layers", "multiplexer", "name_min_layers", "recalibrate_running_statistics",
]
