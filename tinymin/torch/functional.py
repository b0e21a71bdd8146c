"""Algorithm 1 in PyTorch: the same named steps as tinymin's numpy min-conv, on torch tensors.

Each function here is the torch twin of the numpy step with the same name (see
:doc:`/guides/algorithm1` and :doc:`/guides/scaling_out`, which put them side by side),
so the two engines can be read, and tested, line by line against each other. They run
unchanged on CPU and CUDA tensors, in float32 and float64.

Forward (:func:`min_conv2d`, then :class:`MinConv2dFunction`)
    1. ``mu_x``: mean ``|x|`` of the batch (training; the moving average is updated,
       and under DistributedDataParallel the batch value is averaged over all ranks)
       or the moving average ``mu_x_hat`` (evaluation). Not differentiated, so
       :func:`min_conv2d` computes it before the Function runs.
    2. ``mu_w``: mean ``|w|``, per layer or per output channel.
    3. Clip both operands (Eq. 14): ``x_c = mu_x * clip(x / mu_x, -T, T)``.
    4. Rescale the weights (Eq. 12): ``w_hat = w_c * mu_x / mu_w``.
    5. The approximation (Eq. 13): ``y = mu_w * sum_k m(x_c, w_hat) + b``: one registered
       operator (:mod:`tinymin.torch.selector`), tinymin's Cython kernel on the CPU, a
       fused Triton kernel on CUDA, the ``unfold`` reference elsewhere.

    Then, for calibrated layers, ``y = gain * y + offset`` (:func:`calibrated_output`):
    ordinary tensor operations after the Function, so autograd derives their backward.

Backward (:meth:`MinConv2dFunction.backward`)
    6. The exact gradients of ``conv2d(x_c, w_c)`` (PyTorch's own convolution backward).
    7. Through the clip (Eq. 15): zero where ``|x / mu_x| > T`` (or ``|w / mu_w| > T``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from tinymin import overrides
from tinymin.minconv.spec import ClippedOperands, MinConvSpec, MinConvState
from tinymin.ops.checks import pair

# get/set_chunk_bytes live in selector.py (the reference path's bound); importable from here too
from tinymin.torch.selector import (  # noqa: F401
    check_dtypes,
    check_geometry,
    get_chunk_bytes,
    selector_conv2d_checked,
    set_chunk_bytes,
)


# ---------------------------------------------------------------- the forward steps
def step1_input_scale(x: torch.Tensor, running_abs_mean: torch.Tensor | None, training: bool,
                      multiple: torch.Tensor | float = 1.0, synchronise: bool = False) -> torch.Tensor:
    """Step 1: :math:`\\mu_x = c\\,\\operatorname{mean}|x|` (train) or :math:`\\hat\\mu_x` (eval).

    Returns a 0-d tensor of ``x``'s dtype on ``x``'s device (no host synchronisation),
    detached: step 1 is not differentiated. With ``synchronise`` and an initialised
    process group, the batch statistic is the mean ``|x|`` of the global batch: every
    rank's sum of ``|x|`` and count, added by one ``all_reduce`` (as SyncBatchNorm does
    for its statistics), so every rank uses, and stores, the same :math:`\\mu_x`: the one
    a single process computes on the whole global batch, also where a rank's batch is
    smaller or empty. :func:`update_running_mean` moves :math:`\\hat\\mu_x` in training.
    """
    if not training:
        if running_abs_mean is None:
            raise ValueError("min_conv2d: evaluation mode needs running_abs_mean (mu_x_hat)")
        return running_abs_mean.detach()[0].to(x.dtype)
    with torch.no_grad():
        if synchronise and dist.is_available() and dist.is_initialized():
            # sum |x| and the count over the ranks: the mean of the global batch, also
            # where one rank's batch is smaller or empty
            totals = torch.stack([x.detach().abs().sum(),
                                  torch.tensor(float(x.numel()), dtype=x.dtype, device=x.device)])
            dist.all_reduce(totals, op=dist.ReduceOp.SUM)
            return totals[0] / totals[1].clamp_min(1) * multiple
        return x.detach().abs().mean() * multiple


def _synchronised(spec: MinConvSpec) -> bool:
    # whether step 1 averages over the ranks (then every rank must join the all_reduce)
    return spec.synchronise_input_scale and dist.is_available() and dist.is_initialized()


def update_running_mean(running_abs_mean: torch.Tensor, num_batches_tracked: torch.Tensor | None,
                        batch_value: torch.Tensor, momentum: float | None) -> None:
    """Step 1 in training: move the buffer ``running_abs_mean`` (shape ``(1,)``) towards the
    batch's ``mu_x``, in place: :math:`\\hat\\mu_x \\leftarrow (1 - m)\\hat\\mu_x + m\\,\\mu_x`
    (``momentum=None``: a cumulative average over ``num_batches_tracked`` batches)."""
    if num_batches_tracked is not None:
        num_batches_tracked += 1
    if momentum is None:
        if num_batches_tracked is None:
            raise ValueError("min_conv2d: momentum=None needs num_batches_tracked")
        weight = 1.0 / num_batches_tracked.to(running_abs_mean.dtype)
    else:
        weight = momentum
    with torch.no_grad():
        running_abs_mean.mul_(1 - weight).add_(weight * batch_value.to(running_abs_mean.dtype))


def step2_weight_scale(weight: torch.Tensor, scale: str) -> torch.Tensor:
    """Step 2: :math:`\\mu_w = \\operatorname{mean}|w|`, per layer (shape ``()``) or per
    output channel (shape ``(C_out, 1, 1, 1)``, for ``scale="channel"``)."""
    if scale == "layer":
        return weight.abs().mean()
    return weight.abs().mean(dim=(1, 2, 3), keepdim=True)


def step3_clip(a: torch.Tensor, mu: torch.Tensor, clip_value: float | None,
               with_mask: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Step 3 (Eq. 14): :math:`a_c = \\mu\\, \\operatorname{clip}(a/\\mu, -T, T)`.

    Returns the clipped tensor and the mask :math:`|a/\\mu| \\le T` that step 7 needs
    (``None`` when ``clip_value`` is None: nothing is clipped, or when ``with_mask`` is
    False: no gradient will flow back through ``a``).
    """
    mine = overrides.lookup("torch_step3_clip")
    if mine is not None:  # the learner's step3_clip of the torch_clip exercise (tinymin.exercises.use)
        a_c, inside = mine(a, mu, clip_value)
        return a_c, inside if with_mask else None
    if clip_value is None:
        return a, None
    bound = (clip_value * mu).to(a.dtype)
    inside = a.abs() <= bound if with_mask else None
    return torch.minimum(torch.maximum(a, -bound), bound), inside


def step4_rescale(w_c: torch.Tensor, mu_x: torch.Tensor, mu_w: torch.Tensor) -> torch.Tensor:
    """Step 4 (Eq. 12): :math:`\\hat w = w_c\\, \\mu_x / \\mu_w`, so :math:`E|\\hat w| = E|x|`."""
    return w_c * (mu_x / mu_w.clamp_min(torch.finfo(w_c.dtype).tiny))


def clip_and_rescale(x: torch.Tensor, weight: torch.Tensor, mu_x: torch.Tensor,
                     clip_value: float | None, scale: str, x_mask: bool = True,
                     w_mask: bool = True) -> ClippedOperands:
    """Steps 2-4 for a given step-1 scale ``mu_x``: what steps 5 and 6 work on
    (``x_mask`` / ``w_mask``: make step 3's mask of that operand, which only step 7
    reads)."""
    mu_w = step2_weight_scale(weight, scale)
    x_c, x_inside = step3_clip(x, mu_x, clip_value, with_mask=x_mask)
    w_c, w_inside = step3_clip(weight, mu_w, clip_value, with_mask=w_mask)
    return ClippedOperands(mu_x=mu_x, mu_w=mu_w, x_c=x_c, x_inside=x_inside, w_c=w_c,
                           w_inside=w_inside, w_hat=step4_rescale(w_c, mu_x, mu_w))


def step5_approximate_conv(x_c: torch.Tensor, w_hat: torch.Tensor, mu_w: torch.Tensor,
                           stride: tuple[int, int], padding: tuple[int, int],
                           operator: str = "min") -> torch.Tensor:
    """Step 5 (Eq. 13): :math:`y_p = \\mu_w \\sum_k m(x_{p,k}, \\hat w_k)` over every receptive field.

    One registered operator, ``torch.ops.tinymin.selector_conv2d``
    (:mod:`tinymin.torch.selector`): on the CPU tinymin's own im2col and Cython selector
    GEMM on the tensors' memory, on CUDA a fused Triton kernel (with the ``gpu``
    extra), elsewhere the readable reference
    :func:`~tinymin.torch.selector.unfolded_selector_conv2d` (``unfold``, then the
    selector in blocks of rows). Returns the NCHW output without bias.
    """
    return selector_conv2d_checked(x_c, w_hat, mu_w, stride, padding, operator)


# --------------------------------------------------------------- the backward steps
def step6_exact_gradients(grad: torch.Tensor, x_c: torch.Tensor, w_c: torch.Tensor,
                          stride: tuple[int, int], padding: tuple[int, int], need_x: bool,
                          need_w: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Step 6: the gradients of the *exact* ``conv2d(x_c, w_c)`` (PyTorch's convolution backward)."""
    dx_c = torch.nn.grad.conv2d_input(x_c.shape, w_c, grad, stride, padding) if need_x else None
    dw_c = torch.nn.grad.conv2d_weight(x_c, w_c.shape, grad, stride, padding) if need_w else None
    return dx_c, dw_c


def step7_through_clip(grad: torch.Tensor | None, inside: torch.Tensor | None) -> torch.Tensor | None:
    """Step 7 (Eq. 15): straight-through inside the clip bound, zero outside."""
    if grad is None or inside is None:
        return grad
    return grad * inside


class MinConv2dFunction(torch.autograd.Function):
    """Steps 2-7 of Algorithm 1 as one autograd Function: approximate forward, exact backward.

    ``apply(x, weight, bias, mu_x, spec, grad_flows)``: ``mu_x`` is step 1's scale (a 0-d
    tensor, from :func:`step1_input_scale`), ``spec`` a
    :class:`tinymin.minconv.MinConvSpec`, ``grad_flows`` whether gradient mode was on
    at the call (inside ``forward`` torch has turned it off, and ``needs_input_grad``
    does not say), so that step 3 makes only the masks step 7 will read.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, mu_x, spec: MinConvSpec, grad_flows: bool = True):
        """Steps 2-5: the approximate convolution; saves ``x_c``, ``w_c`` and the masks."""
        stride, padding = pair(spec.stride, "min_conv2d: stride"), pair(spec.padding, "min_conv2d: padding")
        ops = clip_and_rescale(x, weight, mu_x, spec.clip_value, spec.scale,
                               x_mask=grad_flows and ctx.needs_input_grad[0],
                               w_mask=grad_flows and ctx.needs_input_grad[1])
        y = step5_approximate_conv(ops.x_c, ops.w_hat, ops.mu_w, stride, padding, spec.operator)
        if bias is not None:
            y = y + bias.reshape(1, -1, 1, 1)
        ctx.save_for_backward(ops.x_c, ops.w_c, ops.x_inside, ops.w_inside)
        ctx.stride, ctx.padding = stride, padding
        return y

    @staticmethod
    def backward(ctx, grad):
        """Steps 6-7: exact conv2d gradients at the clipped operands, times the clip masks."""
        x_c, w_c, x_inside, w_inside = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx_c, dw_c = step6_exact_gradients(grad, x_c, w_c, ctx.stride, ctx.padding,
                                           need_x=need_x, need_w=need_w)
        dx, dw = step7_through_clip(dx_c, x_inside), step7_through_clip(dw_c, w_inside)
        db = grad.sum(dim=(0, 2, 3)) if need_b else None
        return dx, dw, db, None, None, None


def calibrated_output(y: torch.Tensor, gain: torch.Tensor | None,
                      offset: torch.Tensor | None) -> torch.Tensor:
    """Optional calibration (:func:`tinymin.minconv.calibrate.calibrate_min`): per output
    channel :math:`y \\leftarrow g_c\\, y + o_c`. Ordinary tensor operations on frozen
    buffers, so autograd multiplies the gradient by :math:`g_c` on the way back.

    Unlike tinymin, which skips the identity after looking at the buffers, this always
    applies them: looking would make a GPU wait for the host. The identity (gain 1,
    offset 0) changes no value of ``y``; only a -0.0 comes out as +0.0 (-0.0 + 0.0).
    """
    if gain is None and offset is None:
        return y
    if gain is not None:
        y = y * gain.to(y.dtype).reshape(1, -1, 1, 1)
    if offset is not None:
        y = y + offset.to(y.dtype).reshape(1, -1, 1, 1)
    return y


def min_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
               spec: MinConvSpec | None = None, state: MinConvState | None = None,
               training: bool = True) -> torch.Tensor:
    """Min-selector convolution (Algorithm 1) on torch tensors: approximate forward, exact backward.

    .. math::

        y_{p,c} = \\mu_w \\sum_{k} m\\big(x_{c,\\,p,k},\\; \\hat w_{c,k}\\big) + b_c,
        \\qquad m(a, b) = \\operatorname{sgn}(a)\\operatorname{sgn}(b)\\min(|a|, |b|),
        \\qquad \\hat w = w_c \\frac{\\mu_x}{\\mu_w}

    Arguments as :func:`tinymin.minconv.functional.min_conv2d` (the same
    :class:`~tinymin.minconv.spec.MinConvSpec` and :class:`~tinymin.minconv.spec.MinConvState`),
    with tensors in place of numpy arrays; ``spec.synchronise_input_scale`` averages
    step 1's batch statistic over the ranks of the default process group
    (DistributedDataParallel training).
    """
    spec = MinConvSpec() if spec is None else spec
    state = MinConvState() if state is None else state
    # every check before step 1 moves the running statistics (as tinymin's engine)
    stride, padding = pair(spec.stride, "min_conv2d: stride"), pair(spec.padding, "min_conv2d: padding")
    check_geometry(x, weight, stride, padding)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"min_conv2d: bias shape {tuple(bias.shape)} != ({weight.shape[0]},)")
    check_dtypes(x, weight, bias)
    multiple = state.input_scale_multiple
    if isinstance(multiple, torch.Tensor):
        multiple = multiple.detach().reshape(()).to(x.dtype)
    running = state.running_abs_mean
    if x.numel() == 0 and not _synchronised(spec):
        # an empty batch has no mean |x| and moves no statistic; any scale gives the
        # same empty output (as tinymin's engine)
        mu_x = torch.ones((), dtype=x.dtype, device=x.device)
    else:
        mu_x = step1_input_scale(x, running, training, multiple, spec.synchronise_input_scale)
        if training and running is not None:
            update_running_mean(running, state.num_batches_tracked, mu_x, spec.momentum)
    y = MinConv2dFunction.apply(x, weight, bias, mu_x, spec, torch.is_grad_enabled())
    return calibrated_output(y, state.output_gain, state.output_offset)
