"""Weight initialisation (Kaiming/He and Xavier/Glorot), drawn from tinymin's generator.

Every function fills ``tensor.data`` in place and returns the tensor, like
``torch.nn.init``. ``tinymin.manual_seed`` makes the draws reproducible; a
``generator=`` (a :class:`tinymin.Generator`) draws apart from the global one.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from tinymin.random import Generator, default_rng
from tinymin.tensor import Tensor


def fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """Fan-in and fan-out of a weight of shape ``(out, in, *kernel)``.

    .. math::

        \\text{fan\\_in} = C_{in} \\prod k, \\qquad \\text{fan\\_out} = C_{out} \\prod k
    """
    if tensor.ndim < 2:
        raise ValueError(f"fan_in_and_fan_out: needs a weight with >= 2 dims, got {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain, PyTorch's: 1 (linear, sigmoid and the convolutions), 5/3
    (tanh), :math:`\\sqrt2` (relu), :math:`\\sqrt{2/(1+a^2)}` (leaky_relu), 3/4 (selu)."""
    if nonlinearity in ("linear", "sigmoid", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    tensor.numpy()[...] = values.astype(tensor.dtype)
    return tensor


def _rng(generator: Generator | None) -> np.random.Generator:
    if generator is None:
        return default_rng()
    if not isinstance(generator, Generator):
        raise TypeError(f"nn.init: generator must be a tinymin.Generator, got "
                        f"{type(generator).__module__}.{type(generator).__name__}")
    return generator.numpy_generator


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Generator | None = None) -> Tensor:
    """Fill with :math:`U(a, b)`."""
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    """Fill with :math:`N(\\text{mean}, \\text{std}^2)`."""
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def zeros_(tensor: Tensor) -> Tensor:
    tensor.numpy()[...] = 0
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    tensor.numpy()[...] = 1
    return tensor


def constant_(tensor: Tensor, val: float) -> Tensor:
    tensor.numpy()[...] = val
    return tensor


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: Generator | None = None) -> Tensor:
    """He initialisation: :math:`U(-b, b)`, :math:`b = \\text{gain}\\sqrt{3/\\text{fan}}`
    (an empty tensor is left as it is, with PyTorch's warning)."""
    if _is_empty(tensor):
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: Generator | None = None) -> Tensor:
    """He initialisation: :math:`N(0, \\sigma^2)`, :math:`\\sigma = \\text{gain}/\\sqrt{\\text{fan}}`
    (an empty tensor is left as it is, with PyTorch's warning)."""
    if _is_empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: Generator | None = None) -> Tensor:
    """Glorot: :math:`U(-b, b)`, :math:`b = \\text{gain}\\sqrt{6/(\\text{fan\\_in}+\\text{fan\\_out})}`."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: Generator | None = None) -> Tensor:
    """Glorot normal: :math:`N(0, \\sigma^2)`,
    :math:`\\sigma = \\text{gain}\\sqrt{2/(\\text{fan\\_in}+\\text{fan\\_out})}`."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _is_empty(tensor: Tensor) -> bool:
    """Whether ``tensor`` has no elements (a fan of 0 would divide by zero); warns then."""
    if np.size(tensor.numpy()) == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


def _fan(tensor: Tensor, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out
