"""The min-selector convolution: Algorithm 1 of the MinConvNets paper.

The forward pass **approximates** a convolution without multiplying inputs by weights;
the backward pass is the **exact** gradient of the ordinary convolution at the
clipped operands (docs/guides/minconv_math.rst, sections 4 and 5). Each numbered step
below is one small function, so a learner can set a breakpoint on any of them (or wrap
a forward pass in ``tinymin.trace()`` and print them all):

Forward
    1. ``mu_x``: mean ``|x|`` of the batch (training; the moving average is updated)
       or the moving average ``mu_x_hat`` (evaluation). Not differentiated, so
       :func:`min_conv2d` computes it before the autograd Function runs.
    2. ``mu_w``: mean ``|w|`` of the layer's weights (or of each output channel).
    3. Clip both operands in normalised units: ``x_c = mu_x * clip(x / mu_x, -T, T)``.
    4. Rescale the weights so both operands have the same mean magnitude (Eq. 12):
       ``w_hat = w_c * mu_x / mu_w``.
    5. The approximation, and the only place it lives (Eq. 13):
       ``y = mu_w * sum_k m(x_c, w_hat) + b`` with ``m(a, b) = sgn(a) sgn(b) min(|a|, |b|)``.

Backward
    6. ``dL/dx_c`` and ``dL/dw_c`` of the *exact* ``conv2d(x_c, w_c)`` (two GEMMs + col2im).
    7. Through the clip (Eq. 15): zero where ``|x / mu_x| > T`` (or ``|w / mu_w| > T``).
       ``mu_x`` and ``mu_w`` are constants.

Steps 2-7 are :class:`MinConv2dFunction`; the optional calibration gain and offset
(:func:`tinymin.minconv.calibrate.calibrate_min`) follow it as ordinary tensor
operations, so autograd derives their backward.
"""

from __future__ import annotations

import numpy as np

from tinymin import _ext, overrides
from tinymin.autograd import Context, Function, is_grad_enabled
from tinymin.minconv.operators import selector_kernel
from tinymin.minconv.spec import ClippedOperands, MinConvSpec, MinConvState
from tinymin.ops.checks import check_float
from tinymin.ops.conv import (
    ConvGeometry,
    check_unbatched,
    columns_needed,
    conv_backward,
    conv_geometry,
    fits_in_one_chunk,
    im2col,
    image_chunks,
    keep_columns,
    rows_to_nchw,
)
from tinymin.tensor import Tensor
from tinymin.trace import record


# ---------------------------------------------------------------- the forward steps
def step1_input_scale(x: np.ndarray, running_abs_mean: np.ndarray | None, training: bool,
                      multiple: float = 1.0) -> float:
    """Step 1: :math:`\\mu_x = c\\,\\operatorname{mean}|x|` (train) or :math:`\\hat\\mu_x` (eval).

    ``multiple`` is :math:`c`: 1 in the paper, set by
    :func:`tinymin.minconv.calibrate.calibrate_min` so that training after calibration
    uses the calibrated scale too. Reads ``running_abs_mean`` (shape ``(1,)``) in
    evaluation and changes nothing: :func:`update_running_mean` moves it in training.
    """
    if not training:
        if running_abs_mean is None:
            raise ValueError("min_conv2d: evaluation mode needs running_abs_mean (mu_x_hat)")
        return float(running_abs_mean[0])
    return multiple * float(np.abs(x).mean())


def update_running_mean(running_abs_mean: np.ndarray, num_batches_tracked: np.ndarray | None,
                        batch_value: float, momentum: float | None) -> None:
    """Step 1 in training: move the buffer ``running_abs_mean`` (shape ``(1,)``) towards
    the batch's ``mu_x``, in place, with PyTorch's convention

    .. math::

        \\hat\\mu_x \\leftarrow (1 - m)\\, \\hat\\mu_x + m\\, \\mu_x

    (the paper's :math:`\\alpha` is :math:`1 - m`). ``momentum=None`` makes it a
    cumulative average over the batches counted in ``num_batches_tracked``, which is how
    :func:`tinymin.minconv.calibrate.recalibrate_running_statistics` re-estimates it.
    """
    if num_batches_tracked is not None:
        num_batches_tracked += 1
    if momentum is None:
        if num_batches_tracked is None:
            raise ValueError("min_conv2d: momentum=None needs num_batches_tracked")
        weight = 1.0 / float(num_batches_tracked[0])
    else:
        weight = momentum
    running_abs_mean[0] = (1 - weight) * running_abs_mean[0] + weight * batch_value


def step2_weight_scale(weight: np.ndarray, scale: str) -> np.ndarray:
    """Step 2: :math:`\\mu_w = \\operatorname{mean}|w|`, per layer (shape ``()``) or per
    output channel (shape ``(C_out, 1, 1, 1)``, for ``scale="channel"``)."""
    if scale == "layer":
        return np.asarray(np.abs(weight).mean(), dtype=weight.dtype)
    return np.abs(weight).mean(axis=(1, 2, 3), keepdims=True)


def step3_clip(a: np.ndarray, mu, clip_value: float | None,
               with_mask: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Step 3 (Eq. 14): :math:`a_c = \\mu\\, \\operatorname{clip}(a/\\mu, -T, T)`.

    Returns the clipped array and the mask :math:`|a/\\mu| \\le T` that step 7 needs
    (``None`` when ``clip_value`` is None: nothing is clipped, or when ``with_mask`` is
    False: no gradient will flow back through ``a``, so step 7 will not run for it).
    """
    mine = overrides.lookup("step3_clip")
    if mine is not None:  # the learner's step3_clip (tinymin.exercises.use)
        a_c, inside = mine(a, mu, clip_value)
        return a_c, inside if with_mask else None
    if clip_value is None:
        return a, None
    bound = np.asarray(clip_value * mu, dtype=a.dtype)
    inside = np.abs(a) <= bound if with_mask else None
    return np.clip(a, -bound, bound), inside


def step4_rescale(w_c: np.ndarray, mu_x: float, mu_w) -> np.ndarray:
    """Step 4 (Eq. 12): :math:`\\hat w = w_c\\, \\mu_x / \\mu_w`, so
    :math:`E|\\hat w| = E|x|` (the similarity constraint)."""
    mine = overrides.lookup("step4_rescale")
    if mine is not None:  # the learner's step4_rescale (tinymin.exercises.use)
        return mine(w_c, mu_x, mu_w)
    return (w_c * (mu_x / np.maximum(mu_w, np.finfo(w_c.dtype).tiny))).astype(w_c.dtype)


def clip_and_rescale(x: np.ndarray, weight: np.ndarray, mu_x: float, clip_value: float | None,
                     scale: str, x_mask: bool = True, w_mask: bool = True) -> ClippedOperands:
    """Steps 2-4 for a given step-1 scale ``mu_x``: what steps 5 and 6 work on.

    ``x_mask`` / ``w_mask``: compute step 3's clip mask of ``x`` / ``weight`` (False
    where no gradient will flow back to it: the mask of a 64 x 32 x 14 x 14 batch
    costs about as much as the clip itself).
    """
    mu_w = step2_weight_scale(weight, scale)
    x_c, x_inside = step3_clip(x, mu_x, clip_value, with_mask=x_mask)
    w_c, w_inside = step3_clip(weight, mu_w, clip_value, with_mask=w_mask)
    return ClippedOperands(mu_x=mu_x, mu_w=mu_w, x_c=x_c, x_inside=x_inside, w_c=w_c,
                           w_inside=w_inside, w_hat=step4_rescale(w_c, mu_x, mu_w))


def selector_conv(x: np.ndarray, w_rows: np.ndarray, geom: ConvGeometry, operator: str = "min",
                  cols: np.ndarray | None = None, scale: np.ndarray | None = None,
                  bias: np.ndarray | None = None) -> np.ndarray:
    """:math:`s_c \\sum_k m(x_{p,k}, w_{c,k}) + b_c` at every output position, as an NCHW
    array: im2col and the selector GEMM of ``operator``, then the per-channel ``scale``
    :math:`s` and ``bias`` :math:`b` (shape (C_out,) each, same dtype as ``x``; none if
    None).

    ``w_rows`` is (C_out, K); ``cols`` the column matrix of the whole ``x`` if the
    caller built it already, else the images go through im2col in memory-bounded
    chunks (:func:`~tinymin.ops.conv.set_im2col_limit`). For the min operator without
    ``cols`` the fused kernel (:func:`tinymin._ext.im2col_min_gemm`) writes the NCHW
    output itself, scaled and with its bias, each block while it is in the cache; not
    while a learner's im2col or min_gemm is swapped in (``tinymin.exercises.use``):
    then their own two functions run, one after the other. Either way the scale and
    the bias round separately, so both give the same bits.
    """
    out = np.empty((geom.batch, geom.out_channels, geom.out_h, geom.out_w), dtype=x.dtype)
    if operator == "min" and cols is None and _fused_min_applies():
        for chunk in image_chunks(geom, x.itemsize):
            _ext.im2col_min_gemm(np.ascontiguousarray(x[chunk]), w_rows, geom.kernel, geom.stride,
                                 geom.padding, out=out[chunk], nchw=True, scale=scale, bias=bias)
        return out
    if cols is not None:
        rows_to_nchw(selector_kernel(operator)(cols, w_rows), geom.batch, geom, out=out)
    else:
        for chunk in image_chunks(geom, x.itemsize):
            rows = selector_kernel(operator)(im2col(x[chunk], geom), w_rows)
            rows_to_nchw(rows, chunk.stop - chunk.start, geom, out=out[chunk])
    if scale is not None:
        out *= scale.reshape(1, -1, 1, 1)
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


def _fused_min_applies() -> bool:
    # not while a learner's im2col or min_gemm is swapped in (tinymin.exercises.use):
    # then their own two functions run, one after the other
    return overrides.lookup("im2col") is None and overrides.lookup("min_gemm") is None


def step5_approximate_conv(x_c: np.ndarray, w_hat: np.ndarray, mu_w, geom: ConvGeometry,
                           operator: str = "min", cols: np.ndarray | None = None,
                           bias: np.ndarray | None = None) -> np.ndarray:
    """Step 5 (Eq. 13): :math:`y_p = \\mu_w \\sum_k m(x_{p,k}, \\hat w_k) + b`, by im2col
    and the selector GEMM (:func:`tinymin._ext.min_gemm` for ``operator="min"``).

    ``cols`` is the column matrix of the whole ``x_c`` if the caller built it already
    (to reuse it in step 6); otherwise it is built here, in memory-bounded chunks.
    Returns the NCHW output, with ``bias`` (shape (C_out,)) added if given.
    """
    w_rows = np.ascontiguousarray(w_hat.reshape(geom.out_channels, -1), dtype=x_c.dtype)
    scale = np.ascontiguousarray(np.broadcast_to(np.asarray(mu_w, dtype=x_c.dtype).reshape(-1),
                                                 (geom.out_channels,)))
    if bias is not None:
        bias = np.ascontiguousarray(bias, dtype=x_c.dtype)
    return selector_conv(x_c, w_rows, geom, operator, cols, scale=scale, bias=bias)


# --------------------------------------------------------------- the backward steps
def step6_exact_gradients(grad: np.ndarray, x_c: np.ndarray, w_c: np.ndarray, geom: ConvGeometry,
                          need_x: bool, need_w: bool, cols: np.ndarray | None = None):
    """Step 6: the gradients of the *exact* ``conv2d(x_c, w_c)``, reused from conv2d
    (``cols``: the forward's column matrix of ``x_c``, if it kept it)."""
    return conv_backward(grad, x_c, w_c, geom, cols, need_x=need_x, need_w=need_w)


def step7_through_clip(grad: np.ndarray | None, inside: np.ndarray | None) -> np.ndarray | None:
    """Step 7 (Eq. 15): straight-through inside the clip bound, zero outside."""
    mine = overrides.lookup("step7_through_clip")
    if mine is not None:  # the learner's step7_through_clip (tinymin.exercises.use)
        return mine(grad, inside)
    if grad is None or inside is None:
        return grad
    return grad * inside


class MinConv2dFunction(Function):
    """Steps 2-7 of Algorithm 1 as one autograd Function: approximate forward, exact backward.

    ``apply(x, weight, bias, mu_x, spec)``: ``mu_x`` is step 1's scale (a float, from
    :func:`step1_input_scale`) and ``spec`` a :class:`MinConvSpec`.
    """

    @staticmethod
    def forward(ctx: Context, x, weight, bias, mu_x: float, spec: MinConvSpec):
        geom = conv_geometry("min_conv2d", x.shape, weight.shape, spec.stride, spec.padding)
        # step 7 runs only for an operand a gradient flows back to: only its mask is needed
        need_x = is_grad_enabled() and ctx.needs_input_grad[0]
        need_w = is_grad_enabled() and ctx.needs_input_grad[1]
        ops = clip_and_rescale(x, weight, mu_x, spec.clip_value, spec.scale,
                               x_mask=need_x, w_mask=need_w)
        # one column matrix for step 5 and step 6's weight gradient, when it fits the
        # bound, the weight gradient will be needed and reads it (columns_needed: not
        # where the fused kernels read the input itself); otherwise step 5 runs im2col
        # fused with the selector and no column matrix is built
        keep_cols = (need_w
                     and fits_in_one_chunk(geom, ops.x_c.itemsize)
                     and columns_needed(ops.x_c, ops.w_c, geom))
        cols = im2col(ops.x_c, geom, out=keep_columns(ctx, ops.x_c, geom)) if keep_cols else None
        y = step5_approximate_conv(ops.x_c, ops.w_hat, ops.mu_w, geom, spec.operator, cols, bias)
        name = spec.layer_name
        record(name, "2. mu_w (weight scale)", mu_w=ops.mu_w)
        masks = {key: mask for key, mask in (("x_inside", ops.x_inside), ("w_inside", ops.w_inside))
                 if mask is not None}
        record(name, "3. clip", x_c=ops.x_c, w_c=ops.w_c, **masks)
        record(name, "4. w_hat = w_c * mu_x / mu_w", w_hat=ops.w_hat)
        record(name, f"5. y = mu_w * sum_k m(x_c, w_hat) + b  [{spec.operator}]", y=y)
        ctx.save_for_backward(ops.x_c, ops.w_c, ops.x_inside, ops.w_inside, geom, name, cols)
        return y

    @staticmethod
    def backward(ctx: Context, grad):
        x_c, w_c, x_inside, w_inside, geom, layer_name, cols = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx_c, dw_c = step6_exact_gradients(grad, x_c, w_c, geom, need_x=need_x, need_w=need_w,
                                           cols=cols)
        record(layer_name, "6. exact gradients of conv2d(x_c, w_c)",
               **({"dx_c": dx_c} if need_x else {}), **({"dw_c": dw_c} if need_w else {}))
        dx, dw = step7_through_clip(dx_c, x_inside), step7_through_clip(dw_c, w_inside)
        record(layer_name, "7. through the clip masks",
               **({"dx": dx} if need_x else {}), **({"dw": dw} if need_w else {}))
        db = grad.sum(axis=(0, 2, 3)) if need_b else None
        return dx, dw, db, None, None


def calibrated_output(y: Tensor, gain: np.ndarray | None, offset: np.ndarray | None,
                      layer_name: str = "min_conv2d") -> Tensor:
    """Optional calibration (:func:`tinymin.minconv.calibrate.calibrate_min`): per output
    channel :math:`y \\leftarrow g_c\\, y + o_c`, fitted once by least squares.

    Ordinary tensor operations on constants, so autograd derives the backward (the
    gain scales the gradient that flows back). None skips a factor.
    """
    if gain is None and offset is None:
        return y
    if gain is not None:
        y = y * Tensor(gain.reshape(1, -1, 1, 1))
    if offset is not None:
        y = y + Tensor(offset.reshape(1, -1, 1, 1))
    record(layer_name, "5b. calibrated y = gain * y + offset", y=y.numpy())
    return y


def min_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
               spec: MinConvSpec | None = None, state: MinConvState | None = None,
               training: bool = True) -> Tensor:
    """Min-selector convolution (Algorithm 1): approximate forward, exact backward.

    .. math::

        y_{p,c} = \\mu_w \\sum_{k} m\\big(x_{c,\\,p,k},\\; \\hat w_{c,k}\\big) + b_c,
        \\qquad m(a, b) = \\operatorname{sgn}(a)\\operatorname{sgn}(b)\\min(|a|, |b|),
        \\qquad \\hat w = w_c \\frac{\\mu_x}{\\mu_w}

    Step 1 (and the running-mean update) runs here, then :class:`MinConv2dFunction`
    (steps 2-7), then the calibration affine, if any.

    Parameters
    ----------
    x : Tensor
        Input ``(N, C_in, H, W)``, or one unbatched ``(C_in, H, W)`` image (a batch of
        one, as in :func:`~tinymin.nn.functional.conv2d`: the output has no batch axis
        either).
    weight : Tensor
        ``(C_out, C_in, kh, kw)``.
    bias : Tensor, optional
        ``(C_out,)``.
    spec : MinConvSpec, optional
        The configuration: stride, padding, clip bound ``T``, momentum, scale,
        operator, trace label. Default ``MinConvSpec()``.
    state : MinConvState, optional
        The layer's buffers: ``running_abs_mean`` (:math:`\\hat\\mu_x`, shape ``(1,)``,
        updated in place when ``training``, read when not), ``num_batches_tracked``,
        the calibration ``output_gain`` / ``output_offset`` (constants for autograd:
        the gain scales the gradient that flows back) and ``input_scale_multiple``.
        Default: no buffers (training only, nothing recorded).
    training : bool
        Use and record the batch statistic (True) or use ``running_abs_mean`` (False).

    Examples
    --------
    >>> import numpy as np
    >>> import tinymin as tm
    >>> from tinymin.minconv import MinConvSpec, MinConvState, min_conv2d
    >>> x, w = tm.ones(1, 1, 4, 4), tm.ones(2, 1, 3, 3)
    >>> y = min_conv2d(x, w, None, MinConvSpec(padding=1), MinConvState(np.ones(1)), training=False)
    >>> y.shape
    (1, 2, 4, 4)
    """
    spec = MinConvSpec() if spec is None else spec
    state = MinConvState() if state is None else state
    check_float("min_conv2d", input=x, weight=weight, bias=bias)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"min_conv2d: bias shape {tuple(bias.shape)} != ({weight.shape[0]},)")
    check_unbatched("min_conv2d", np.shape(x), weight.shape, spec.stride, spec.padding)
    if np.ndim(x) == 3:  # unbatched: a batch of one (checked above with its own shape)
        return min_conv2d(x[None], weight, bias, spec, state, training)[0]
    conv_geometry("min_conv2d", x.shape, weight.shape, spec.stride, spec.padding)  # before mu_x_hat moves
    x_data = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    running = state.running_abs_mean
    if x_data.size == 0:
        # an empty batch has no mean |x| and moves no statistic; any scale gives the
        # same empty output
        mu_x = 1.0
    else:
        multiple = np.asarray(state.input_scale_multiple).item()
        mu_x = step1_input_scale(x_data, running, training, multiple)
        if training and running is not None:
            update_running_mean(running, state.num_batches_tracked, mu_x, spec.momentum)
    record(spec.layer_name, "1. mu_x (input scale)", mu_x=mu_x, training=training)
    y = MinConv2dFunction.apply(x, weight, bias, mu_x, spec)
    return calibrated_output(y, state.output_gain, state.output_offset, spec.layer_name)
