"""Step 5 of Algorithm 1 on torch tensors, one registered operator: ``tinymin::selector_conv2d``.

.. math::

    y_{n,c,i,j} = s_c \\sum_k m\\big(x_{n,\\,p(i,j),\\,k},\\; w_{c,k}\\big)

with ``m`` the selector of ``operator`` (``"min"``: the paper's
:math:`\\operatorname{sgn}(a)\\operatorname{sgn}(b)\\min(|a|, |b|)`, Eq. 13 of
docs/guides/minconv_math.rst, section 4; ``"max"``; ``"adder"``), ``k`` running over a
receptive field of the zero-padded input and ``s`` one scale per output channel
(``mu_w``). One operator, three implementations, picked by the device of ``x``:

* **CPU** (float32, float64): tinymin's own kernels, im2col and the Cython selector
  GEMM (:func:`tinymin._ext.min_gemm`), on the tensors' memory: ``Tensor.numpy()`` in,
  ``torch.from_numpy`` out, no copy. So ``--engine torch --conv min`` on a CPU costs
  what tinymin's engine costs.
* **CUDA**, with Triton installed (the ``gpu`` extra): one fused Triton kernel
  (:mod:`tinymin.torch.triton_selector`) that reads ``x`` and ``w`` once and keeps the
  clip, the signed minimum and the sum in registers.
* **Anywhere else** (other dtypes, other devices, CUDA without Triton): the readable
  reference, :func:`unfolded_selector_conv2d`: ``torch.nn.functional.unfold`` and the
  selector in blocks of rows, written with stock tensor operations.

The operator is registered with ``torch.library.custom_op`` and a fake (meta)
implementation, so ``torch.compile`` and DistributedDataParallel see an ordinary op.
It has no autograd formula on purpose: Algorithm 1's backward is the *exact*
convolution's (step 6), written in :class:`tinymin.torch.functional.MinConv2dFunction`,
which calls this operator from its forward, where no graph is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from tinymin import _ext
from tinymin.minconv.functional import selector_conv
from tinymin.minconv.operators import OPERATORS
from tinymin.ops.conv import conv_geometry

#: Largest temporary of the reference's selector, in bytes, per device type (see :func:`set_chunk_bytes`).
_CHUNK_BYTES = {"cpu": 4 * 2**20, "cuda": 256 * 2**20}
#: Largest block of unfolded columns the reference builds at once (as tinymin's im2col bound).
_COLUMN_BYTES = 64 * 2**20
#: The dtypes tinymin's CPU kernels (and the Triton kernel) compute in.
_KERNEL_DTYPES = (torch.float32, torch.float64)


def set_chunk_bytes(n_bytes: int, device_type: str = "cpu") -> int:
    """Bound the temporaries of the reference path on one device type; returns the old bound.

    Defaults: 4 MiB on the CPU (a block near cache size), 256 MiB on CUDA (fewer,
    larger kernel launches). Any other device type uses the CUDA bound. Only
    :func:`unfolded_selector_conv2d` builds such temporaries.
    """
    if n_bytes <= 0:
        raise ValueError(f"set_chunk_bytes: bound must be positive, got {n_bytes}")
    previous = get_chunk_bytes(device_type)
    _CHUNK_BYTES[device_type] = int(n_bytes)
    return previous


def get_chunk_bytes(device_type: str = "cpu") -> int:
    """The current bound set by :func:`set_chunk_bytes` for a device type."""
    return _CHUNK_BYTES.get(device_type, _CHUNK_BYTES["cuda"])


def output_size(x_shape, w_shape, stride: Sequence[int], padding: Sequence[int]) -> tuple:
    """``(N, C_out, OH, OW)`` of a convolution of ``x_shape`` by ``w_shape``."""
    n, _, h, w = x_shape
    out_h = (h + 2 * padding[0] - w_shape[2]) // stride[0] + 1
    out_w = (w + 2 * padding[1] - w_shape[3]) // stride[1] + 1
    return n, w_shape[0], out_h, out_w


# ------------------------------------------------------------ the readable reference
def min_selector(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_k \\operatorname{sgn}(w_{ck}) \\operatorname{clip}(x_{pk}, -|w_{ck}|, |w_{ck}|)`,
    which equals :math:`\\sum_k m(x_{pk}, w_{ck})` (the identity proved in
    :func:`tinymin._ext.reference.min_gemm`); ``rows`` (P, K), ``w`` (C, K) -> (P, C)."""
    bound = w.abs()
    clipped = torch.clamp(rows[:, None, :], min=-bound, max=bound)  # (P, C, K)
    # a product and a sum, not einsum: on CUDA einsum is a matmul, which TF32 (after
    # torch.set_float32_matmul_precision("high")) would round to 10 mantissa bits
    return (clipped * w.sign()).sum(dim=2)


def max_selector(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_k \\operatorname{sgn}(x)\\operatorname{sgn}(w)\\max(|x|, |w|)` (the ablation)."""
    term = rows.sign()[:, None, :] * torch.maximum(rows.abs()[:, None, :], w.abs())
    return (term * w.sign()).sum(dim=2)  # not einsum: see min_selector


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


def _chunks(count: int, size_per_item: int, limit: int) -> Iterator[slice]:
    """Slices of ``range(count)`` of at most ``limit`` in total size (at least one item)."""
    step = max(1, limit // max(size_per_item, 1))
    for start in range(0, count, step):
        yield slice(start, min(start + step, count))


def unfolded_selector_conv2d(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                             stride: Sequence[int], padding: Sequence[int],
                             operator: str = "min") -> torch.Tensor:
    """The reference: ``torch.nn.functional.unfold`` (PyTorch's im2col), then the selector.

    The input is unfolded a few images at a time; each block of rows then meets the
    filters: on the CPU one filter at a time (a ``(rows, K)`` temporary that stays in
    cache), elsewhere all filters at once (one ``(rows, C_out, K)`` broadcast). Blocks
    are sized so that no selector temporary exceeds :func:`get_chunk_bytes` (and no
    column block 64 MiB): the whole ``rows x C_out x K`` tensor is never built, but
    each block of it goes through memory. ``scale`` has one entry per output channel.
    """
    selector = selector_kernel(operator)
    n, c_out, out_h, out_w = output_size(x.shape, weight.shape, stride, padding)
    k = weight[0].numel()
    limit, item = get_chunk_bytes(x.device.type), x.element_size()
    filters_per_block = 1 if x.device.type == "cpu" else c_out
    w_rows = weight.reshape(c_out, k)
    out = x.new_empty(n, out_h * out_w, c_out)
    for images in _chunks(n, out_h * out_w * k * item, max(limit, _COLUMN_BYTES)):
        cols = F.unfold(x[images], tuple(weight.shape[2:]), padding=tuple(padding),
                        stride=tuple(stride))  # (n, K, P)
        rows = cols.transpose(1, 2).reshape(-1, k)
        y = out[images].view(-1, c_out)
        for part in _chunks(len(rows), filters_per_block * k * item, limit):
            for filters in _chunks(c_out, 1, filters_per_block):
                y[part, filters] = selector(rows[part], w_rows[filters])
    out = out.transpose(1, 2).reshape(n, c_out, out_h, out_w)
    # contiguous, in x's dtype, as the fake implementation promises (torch.compile checks)
    return (out * scale.to(x.dtype).reshape(1, -1, 1, 1)).contiguous()


# ------------------------------------------------------------- the CPU: tinymin's kernels
def tinymin_selector_conv2d(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                            stride: Sequence[int], padding: Sequence[int],
                            operator: str = "min") -> torch.Tensor:
    """Step 5 on CPU tensors by tinymin's im2col and selector GEMM, without a copy.

    ``x`` and ``weight`` (float32 or float64, one dtype, C-contiguous) are read through
    ``Tensor.numpy()`` (the same memory); the NCHW result is a new numpy array handed
    to torch by ``torch.from_numpy`` (the same memory again). The kernels use
    ``torch.get_num_threads()`` threads, the torch engine's setting (under ``torchrun``
    one per process unless you say otherwise).
    """
    x_np, w_np = x.detach().numpy(), weight.detach().numpy()
    geom = conv_geometry("min_conv2d", x_np.shape, w_np.shape, tuple(stride), tuple(padding))
    w_rows = w_np.reshape(geom.out_channels, -1)
    scale_np = np.ascontiguousarray(scale.detach().numpy().reshape(-1))
    with _ext.kernel_threads(torch.get_num_threads()):
        out = selector_conv(x_np, w_rows, geom, operator, scale=scale_np)
    return torch.from_numpy(out)


def _uses_kernels(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether tinymin's (or the Triton) kernels compute this call: dtypes they know."""
    return x.dtype in _KERNEL_DTYPES and weight.dtype == x.dtype


# --------------------------------------------------------------- the registered operator
@torch.library.custom_op("tinymin::selector_conv2d", mutates_args=())
def selector_conv2d(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                    stride: Sequence[int], padding: Sequence[int], operator: str) -> torch.Tensor:
    """Step 5: ``y[n, c] = scale[c] * sum_k m(x, w[c])`` over each zero-padded receptive
    field (module docstring); ``x`` (N, C_in, H, W), ``weight`` (C_out, C_in, kh, kw),
    ``scale`` (C_out,). Any device: the unfold reference."""
    check_operands(x, weight, scale, stride, padding, operator)
    return unfolded_selector_conv2d(x, weight, scale, stride, padding, operator)


@selector_conv2d.register_kernel("cpu")
def _selector_conv2d_cpu(x, weight, scale, stride, padding, operator):
    check_operands(x, weight, scale, stride, padding, operator)
    if not _uses_kernels(x, weight):
        return unfolded_selector_conv2d(x, weight, scale, stride, padding, operator)
    return tinymin_selector_conv2d(x.contiguous(), weight.contiguous(), scale.to(x.dtype),
                                   stride, padding, operator)


@selector_conv2d.register_kernel("cuda")
def _selector_conv2d_cuda(x, weight, scale, stride, padding, operator):
    check_operands(x, weight, scale, stride, padding, operator)
    triton_selector = triton_kernels()
    if triton_selector is None or not _uses_kernels(x, weight):
        return unfolded_selector_conv2d(x, weight, scale, stride, padding, operator)
    return triton_selector.selector_conv2d(x, weight, scale, stride, padding, operator)


@selector_conv2d.register_fake
def _selector_conv2d_fake(x, weight, scale, stride, padding, operator):
    return x.new_empty(output_size(x.shape, weight.shape, stride, padding))


_triton_module = None


def triton_kernels():
    """:mod:`tinymin.torch.triton_selector`, or None when Triton is not installed."""
    global _triton_module
    if _triton_module is None:
        try:
            from tinymin.torch import triton_selector
        except ImportError:
            _triton_module = False
        else:
            _triton_module = triton_selector
    return _triton_module or None


def check_operands(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                   stride: Sequence[int], padding: Sequence[int], operator: str) -> None:
    """The checks every implementation relies on (a kernel trusts its input): shapes,
    stride and padding, the operator, dtypes, one device. Raises ``ValueError`` naming
    both shapes (``TypeError`` for dtypes)."""
    if operator not in OPERATORS:
        raise ValueError(f"min_conv2d: operator must be one of {OPERATORS}, got {operator!r}")
    check_geometry(x, weight, stride, padding)
    if tuple(scale.shape) != (weight.shape[0],):
        raise ValueError(f"min_conv2d: scale shape {tuple(scale.shape)} != ({weight.shape[0]},)")
    check_dtypes(x, weight)
    if not x.device == weight.device == scale.device:
        raise ValueError(f"min_conv2d: input, weight and scale on different devices "
                         f"({x.device}, {weight.device}, {scale.device})")


def check_dtypes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
    """One floating dtype for the input, the weight and the bias, as ``torch.nn.Conv2d``
    requires (no silent promotion: the output's dtype is the input's). ``TypeError``
    naming the dtypes and the shapes."""
    tensors = {"input": x, "weight": weight, **({"bias": bias} if bias is not None else {})}
    if not x.is_floating_point() or any(t.dtype != x.dtype for t in tensors.values()):
        found = ", ".join(f"{name} {t.dtype} {tuple(t.shape)}" for name, t in tensors.items())
        raise TypeError(f"min_conv2d: input, weight and bias must share one floating dtype, "
                        f"got {found}")


def check_geometry(x: torch.Tensor, weight: torch.Tensor, stride: Sequence[int],
                   padding: Sequence[int]) -> None:
    """Shapes, stride and padding of a convolution of ``x`` by ``weight``, and a
    non-empty output. ``ValueError`` naming both shapes."""
    if x.dim() != 4 or weight.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"min_conv2d: input {tuple(x.shape)} and weight {tuple(weight.shape)} "
                         "must be (N, C_in, H, W) and (C_out, C_in, kh, kw)")
    if len(stride) != 2 or len(padding) != 2 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"min_conv2d: stride {tuple(stride)} must be 2 positive ints and "
                         f"padding {tuple(padding)} 2 non-negative ints")
    if min(output_size(x.shape, weight.shape, stride, padding)[2:]) <= 0:
        raise ValueError(f"min_conv2d: kernel {tuple(weight.shape[2:])} is larger than the padded "
                         f"input (input {tuple(x.shape)}, padding {tuple(padding)})")


def selector_conv2d_checked(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                            stride: Sequence[int], padding: Sequence[int],
                            operator: str = "min") -> torch.Tensor:
    """:func:`selector_conv2d` with ``scale`` a scalar or one value per filter (``mu_w`` of
    either weight scale), checked first."""
    scale = scale.reshape(-1).expand(weight.shape[0]).contiguous()
    check_operands(x, weight, scale, stride, padding, operator)
    return selector_conv2d(x, weight, scale, list(stride), list(padding), operator)


__all__ = ["get_chunk_bytes", "selector_conv2d", "selector_conv2d_checked", "set_chunk_bytes",
           "check_dtypes", "check_geometry", "check_operands", "tinymin_selector_conv2d",
           "unfolded_selector_conv2d"]
