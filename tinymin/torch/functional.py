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
    5. The approximation (Eq. 13): ``y = mu_w * sum_k m(x_c, w_hat) + b``, on unfolded
       columns, in chunks whose ``(rows, C_out, K)`` temporary stays under a byte bound.

    Then, for calibrated layers, ``y = gain * y + offset`` (:func:`calibrated_output`):
    ordinary tensor operations after the Function, so autograd derives their backward.

Backward (:meth:`MinConv2dFunction.backward`)
    6. The exact gradients of ``conv2d(x_c, w_c)`` (PyTorch's own convolution backward).
    7. Through the clip (Eq. 15): zero where ``|x / mu_x| > T`` (or ``|w / mu_w| > T``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
import torch.nn.functional as F

from tinymin.minconv.operators import OPERATORS
from tinymin.minconv.spec import ClippedOperands, MinConvSpec, MinConvState
from tinymin.ops.checks import pair

#: Largest temporary of step 5's selector, in bytes, per device type (see :func:`set_chunk_bytes`).
_CHUNK_BYTES = {"cpu": 4 * 2**20, "cuda": 256 * 2**20}
#: Largest block of unfolded columns built at once (as tinymin's im2col bound).
_COLUMN_BYTES = 64 * 2**20


def set_chunk_bytes(n_bytes: int, device_type: str = "cpu") -> int:
    """Bound the temporaries of step 5 on one device type; returns the old bound.

    Defaults: 4 MiB on the CPU (a block near cache size, as in tinymin's numpy
    kernel), 256 MiB on CUDA (fewer, larger kernel launches). Any other device type
    uses the CUDA bound.
    """
    if n_bytes <= 0:
        raise ValueError(f"set_chunk_bytes: bound must be positive, got {n_bytes}")
    previous = get_chunk_bytes(device_type)
    _CHUNK_BYTES[device_type] = int(n_bytes)
    return previous


def get_chunk_bytes(device_type: str = "cpu") -> int:
    """The current bound set by :func:`set_chunk_bytes` for a device type."""
    return _CHUNK_BYTES.get(device_type, _CHUNK_BYTES["cuda"])


# ---------------------------------------------------------------- the forward steps
def step1_input_scale(x: torch.Tensor, running_abs_mean: torch.Tensor | None, training: bool,
                      multiple: torch.Tensor | float = 1.0, synchronise: bool = False) -> torch.Tensor:
    """Step 1: :math:`\\mu_x = c\\,\\operatorname{mean}|x|` (train) or :math:`\\hat\\mu_x` (eval).

    Returns a 0-d tensor of ``x``'s dtype on ``x``'s device (no host synchronisation),
    detached: step 1 is not differentiated. With ``synchronise`` and an initialised
    process group, the batch statistic is the average of every rank's mean ``|x|``
    (one ``all_reduce``, as SyncBatchNorm does for its statistics), so every rank uses,
    and stores, the same :math:`\\mu_x`: the one a single process computes on the whole
    global batch (ranks hold equal batches). :func:`update_running_mean` moves
    :math:`\\hat\\mu_x` in training.
    """
    if not training:
        if running_abs_mean is None:
            raise ValueError("min_conv2d: evaluation mode needs running_abs_mean (mu_x_hat)")
        return running_abs_mean.detach()[0].to(x.dtype)
    with torch.no_grad():
        batch_mean = x.detach().abs().mean()
        if synchronise and dist.is_available() and dist.is_initialized():
            dist.all_reduce(batch_mean, op=dist.ReduceOp.SUM)
            batch_mean /= dist.get_world_size()
        return batch_mean * multiple


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


def step3_clip(a: torch.Tensor, mu: torch.Tensor, clip_value: float | None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Step 3 (Eq. 14): :math:`a_c = \\mu\\, \\operatorname{clip}(a/\\mu, -T, T)`.

    Returns the clipped tensor and the mask :math:`|a/\\mu| \\le T` that step 7 needs
    (``None`` when ``clip_value`` is None: nothing is clipped).
    """
    if clip_value is None:
        return a, None
    bound = (clip_value * mu).to(a.dtype)
    inside = a.abs() <= bound
    return torch.minimum(torch.maximum(a, -bound), bound), inside


def step4_rescale(w_c: torch.Tensor, mu_x: torch.Tensor, mu_w: torch.Tensor) -> torch.Tensor:
    """Step 4 (Eq. 12): :math:`\\hat w = w_c\\, \\mu_x / \\mu_w`, so :math:`E|\\hat w| = E|x|`."""
    return w_c * (mu_x / mu_w.clamp_min(torch.finfo(w_c.dtype).tiny))


def clip_and_rescale(x: torch.Tensor, weight: torch.Tensor, mu_x: torch.Tensor,
                     clip_value: float | None, scale: str) -> ClippedOperands:
    """Steps 2-4 for a given step-1 scale ``mu_x``: what steps 5 and 6 work on."""
    mu_w = step2_weight_scale(weight, scale)
    x_c, x_inside = step3_clip(x, mu_x, clip_value)
    w_c, w_inside = step3_clip(weight, mu_w, clip_value)
    return ClippedOperands(mu_x=mu_x, mu_w=mu_w, x_c=x_c, x_inside=x_inside, w_c=w_c,
                           w_inside=w_inside, w_hat=step4_rescale(w_c, mu_x, mu_w))


def step5_approximate_conv(x_c: torch.Tensor, w_hat: torch.Tensor, mu_w: torch.Tensor,
                           stride: tuple[int, int], padding: tuple[int, int],
                           operator: str = "min") -> torch.Tensor:
    """Step 5 (Eq. 13): :math:`y_p = \\mu_w \\sum_k m(x_{p,k}, \\hat w_k)` on unfolded columns.

    The input is unfolded (``torch.nn.functional.unfold``, PyTorch's im2col) a few
    images at a time; each block of rows then meets the filters: on the CPU one filter
    at a time (a ``(rows, K)`` temporary that stays in cache, as in tinymin's numpy
    kernel), on a GPU all filters at once (one ``(rows, C_out, K)`` broadcast). Blocks
    are sized so that no selector temporary exceeds :func:`get_chunk_bytes` (and no
    column block 64 MiB): the whole ``rows x C_out x K`` tensor is never built.
    Returns the NCHW output without bias.
    """
    selector = selector_kernel(operator)
    n, _, h, w = x_c.shape
    c_out, k = w_hat.shape[0], w_hat[0].numel()
    kh, kw = w_hat.shape[2:]
    out_h = (h + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (w + 2 * padding[1] - kw) // stride[1] + 1
    limit, item = get_chunk_bytes(x_c.device.type), x_c.element_size()
    filters_per_block = 1 if x_c.device.type == "cpu" else c_out
    w_rows = w_hat.reshape(c_out, k)
    out = x_c.new_empty(n, out_h * out_w, c_out)
    for images in _chunks(n, out_h * out_w * k * item, max(limit, _COLUMN_BYTES)):
        cols = F.unfold(x_c[images], (kh, kw), padding=padding, stride=stride)  # (n, K, P)
        rows = cols.transpose(1, 2).reshape(-1, k)
        y = out[images].view(-1, c_out)
        for part in _chunks(len(rows), filters_per_block * k * item, limit):
            for filters in _chunks(c_out, 1, filters_per_block):
                y[part, filters] = selector(rows[part], w_rows[filters])
    out = out.transpose(1, 2).reshape(n, c_out, out_h, out_w)
    return out * mu_w.reshape(1, -1, 1, 1)


def _chunks(count: int, size_per_item: int, limit: int) -> Iterator[slice]:
    """Slices of ``range(count)`` of at most ``limit`` in total size (at least one item)."""
    step = max(1, limit // max(size_per_item, 1))
    for start in range(0, count, step):
        yield slice(start, min(start + step, count))


def min_selector(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_k \\operatorname{sgn}(w_{ck}) \\operatorname{clip}(x_{pk}, -|w_{ck}|, |w_{ck}|)`,
    which equals :math:`\\sum_k m(x_{pk}, w_{ck})` (the identity proved in
    :func:`tinymin._ext.reference.min_gemm`); ``rows`` (P, K), ``w`` (C, K) -> (P, C)."""
    bound = w.abs()
    clipped = torch.clamp(rows[:, None, :], min=-bound, max=bound)  # (P, C, K)
    return torch.einsum("pck,ck->pc", clipped, w.sign())


def max_selector(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_k \\operatorname{sgn}(x)\\operatorname{sgn}(w)\\max(|x|, |w|)` (the ablation)."""
    term = rows.sign()[:, None, :] * torch.maximum(rows.abs()[:, None, :], w.abs())
    return torch.einsum("pck,ck->pc", term, w.sign())


def adder_selector(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """AdderNet's :math:`-\\sum_k |x_{pk} - w_{ck}|`."""
    return -(rows[:, None, :] - w).abs().sum(dim=2)


def selector_kernel(operator: str):
    """The reduction that stands in for ``rows @ w.T`` for an operator (the torch twin of
    :func:`tinymin.minconv.operators.selector_kernel`)."""
    if operator == "min":
        return min_selector
    if operator == "max":
        return max_selector
    if operator == "adder":
        return adder_selector
    raise ValueError(f"min_conv2d: operator must be one of {OPERATORS}, got {operator!r}")


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

    ``apply(x, weight, bias, mu_x, spec)``: ``mu_x`` is step 1's scale (a 0-d tensor, from
    :func:`step1_input_scale`) and ``spec`` a :class:`tinymin.minconv.MinConvSpec`.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, mu_x, spec: MinConvSpec):
        """Steps 2-5: the approximate convolution; saves ``x_c``, ``w_c`` and the masks."""
        stride, padding = pair(spec.stride, "min_conv2d: stride"), pair(spec.padding, "min_conv2d: padding")
        ops = clip_and_rescale(x, weight, mu_x, spec.clip_value, spec.scale)
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
        return dx, dw, db, None, None


def calibrated_output(y: torch.Tensor, gain: torch.Tensor | None,
                      offset: torch.Tensor | None) -> torch.Tensor:
    """Optional calibration (:func:`tinymin.minconv.calibrate.calibrate_min`): per output
    channel :math:`y \\leftarrow g_c\\, y + o_c`. Ordinary tensor operations on frozen
    buffers, so autograd multiplies the gradient by :math:`g_c` on the way back.

    Unlike tinymin, which skips the identity after looking at the buffers, this always
    applies them: looking would make a GPU wait for the host. The identity (gain 1,
    offset 0) leaves ``y`` bit for bit unchanged.
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
    if x.dim() != 4 or weight.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"min_conv2d: input {tuple(x.shape)} and weight {tuple(weight.shape)} "
                         "must be (N, C_in, H, W) and (C_out, C_in, kh, kw)")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"min_conv2d: bias shape {tuple(bias.shape)} != ({weight.shape[0]},)")
    multiple = state.input_scale_multiple
    if isinstance(multiple, torch.Tensor):
        multiple = multiple.detach().reshape(()).to(x.dtype)
    running = state.running_abs_mean
    mu_x = step1_input_scale(x, running, training, multiple, spec.synchronise_input_scale)
    if training and running is not None:
        update_running_mean(running, state.num_batches_tracked, mu_x, spec.momentum)
    y = MinConv2dFunction.apply(x, weight, bias, mu_x, spec)
    return calibrated_output(y, state.output_gain, state.output_offset)
