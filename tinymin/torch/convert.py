"""``to_torch`` and ``from_torch``: the same network, the same weights, on either engine.

Each supported tinymin layer has one torch equivalent, listed once in :data:`LAYERS`
(tinymin type, torch type, a converter each way), with the same state_dict keys;
values are copied bit for bit (numpy array <-> CPU tensor of the same dtype), so
``from_torch(to_torch(model)).state_dict()`` equals ``model.state_dict()`` exactly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn as tnn

from tinymin import nn
from tinymin.torch.layer import MinConv2d


def to_torch(model: nn.Module) -> tnn.Module:
    """The torch module equivalent to a tinymin ``model``, with identical state_dict.

    Returns a new module on the CPU in ``model``'s mode (train/eval) and dtype; move it
    with ``.to(device)``. Min layers keep their ``name``.

    Raises
    ------
    TypeError
        For a layer with no torch equivalent, naming its type and its path in ``model``.
    """
    module = _torch_layer(model, "")
    _load_arrays(module, model.state_dict())
    module.train(model.training)
    for name, sub in module.named_modules():
        sub.training = dict(model.named_modules())[name].training
    return module


def _torch_layer(layer: nn.Module, path: str) -> tnn.Module:
    for row in LAYERS:
        if isinstance(layer, row.tinymin):
            return row.to_torch(layer, path)
    raise TypeError(f"to_torch: layer {path or '(the model itself)'!r} is a {type(layer).__name__}, "
                    f"which has no torch equivalent here; supported: {SUPPORTED}")


def from_torch(module: tnn.Module) -> nn.Module:
    """The tinymin model equivalent to a torch ``module`` (made by :func:`to_torch`, or a
    plain ``torch.nn.Sequential`` of the supported layer types), with identical state_dict.

    A torch ``BatchNorm2d`` counter ``num_batches_tracked`` is dropped (tinymin's batch
    norm has none). Parameters come back to the CPU as numpy arrays of the same dtype.

    Raises
    ------
    TypeError
        For a layer of another type, naming its type and its path in ``module``.
    ValueError
        For a supported type with a setting tinymin lacks (dilation, groups, ceil_mode...).
    """
    if isinstance(module, tnn.parallel.DistributedDataParallel):
        module = module.module
    model = _tinymin_layer(module, "")
    state = {key: _to_numpy(key, value) for key, value in module.state_dict().items()
             if not _is_batchnorm_counter(module, key)}
    floating = [v.dtype for v in state.values() if np.issubdtype(v.dtype, np.floating)]
    if floating and floating[0] != np.float32:
        model.astype(floating[0])
    model.load_state_dict(state)
    for name, sub in model.named_modules():
        sub.training = module.get_submodule(name).training if name else module.training
    return model


def _to_numpy(key: str, value: torch.Tensor) -> np.ndarray:
    """A state entry on the CPU as numpy; floats only in tinymin's float32 or float64."""
    if value.is_floating_point() and value.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"from_torch: {key!r} is {value.dtype}; tinymin models hold float32 "
                        "or float64: convert the module first (module.float())")
    return value.detach().cpu().numpy()


def _tinymin_layer(layer: tnn.Module, path: str) -> nn.Module:
    for row in LAYERS:
        # torch's own layers by exact type (a subclass may compute something else);
        # containers and tinymin's MinConv2d twin also as subclasses
        if type(layer) is row.torch or (row.torch in (tnn.Sequential, MinConv2d)
                                        and isinstance(layer, row.torch)):
            return row.from_torch(layer, path)
    raise TypeError(f"from_torch: layer {path or '(the model itself)'!r} is a "
                    f"{type(layer).__name__}, which has no tinymin equivalent; supported: {SUPPORTED}")


# ------------------------------------------------------ one converter pair per type
def _sequential_to_torch(layer: nn.Sequential, path: str) -> tnn.Sequential:
    # every position, a tied layer's too (named_children gives it once)
    return tnn.Sequential(OrderedDict((name, _torch_layer(child, _join(path, name)))
                                      for name, child in layer._modules.items()))


def _sequential_from_torch(layer: tnn.Sequential, path: str) -> nn.Sequential:
    return nn.Sequential(OrderedDict((name, _tinymin_layer(child, _join(path, name)))
                                     for name, child in layer._modules.items()))


def _min_conv_twin(layer, path: str, twin_type: type):
    """The other engine's MinConv2d with the same settings and name (either direction)."""
    twin = twin_type(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                     layer.padding, layer.bias is not None, clip_value=layer.clip_value,
                     momentum=layer.momentum, scale=layer.scale, operator=layer.operator)
    twin.name = layer.name
    return twin


def _conv_from_torch(layer: tnn.Conv2d, path: str) -> nn.Conv2d:
    _require(layer.groups == 1 and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
             and not isinstance(layer.padding, str), path, "Conv2d with groups=1, dilation=1, "
             "zero padding given as numbers")
    return nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                     layer.padding, bias=layer.bias is not None)


def _batchnorm_to_torch(layer: nn.BatchNorm2d, path: str) -> tnn.BatchNorm2d:
    bn = tnn.BatchNorm2d(layer.num_features, layer.eps, layer.momentum, affine=layer.weight is not None)
    bn.register_buffer("num_batches_tracked", None)  # tinymin's has no counter: same keys
    return bn


def _batchnorm_from_torch(layer: tnn.BatchNorm2d, path: str) -> nn.BatchNorm2d:
    _require(layer.track_running_stats and layer.momentum is not None, path,
             "BatchNorm2d with running statistics and a float momentum")
    return nn.BatchNorm2d(layer.num_features, layer.eps, layer.momentum, affine=layer.affine)


def _maxpool_from_torch(layer: tnn.MaxPool2d, path: str) -> nn.MaxPool2d:
    _require(layer.dilation in (1, (1, 1)) and not layer.return_indices,
             path, "MaxPool2d without dilation or return_indices")
    return nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding,
                        ceil_mode=layer.ceil_mode)


def _avgpool_from_torch(layer: tnn.AvgPool2d, path: str) -> nn.AvgPool2d:
    return nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode,
                        layer.count_include_pad, layer.divisor_override)


def _avgpool_to_torch(layer: nn.AvgPool2d, path: str) -> tnn.AvgPool2d:
    return tnn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode,
                         layer.count_include_pad, layer.divisor_override)


@dataclass(frozen=True)
class LayerPair:
    """One tinymin layer type, its torch twin, and a converter each way
    (``converter(layer, path_in_model)``)."""

    tinymin: type
    torch: type
    to_torch: Callable[[Any, str], tnn.Module]
    from_torch: Callable[[Any, str], nn.Module]


def _no_arguments(target: type) -> Callable[[Any, str], Any]:
    return lambda layer, path: target()


#: THE table of supported layers, searched in order (MinConv2d before Conv2d).
LAYERS: tuple[LayerPair, ...] = (
    LayerPair(nn.Sequential, tnn.Sequential, _sequential_to_torch, _sequential_from_torch),
    LayerPair(nn.MinConv2d, MinConv2d, lambda layer, path: _min_conv_twin(layer, path, MinConv2d),
              lambda layer, path: _min_conv_twin(layer, path, nn.MinConv2d)),
    LayerPair(nn.Conv2d, tnn.Conv2d,
              lambda layer, path: tnn.Conv2d(layer.in_channels, layer.out_channels,
                                             layer.kernel_size, layer.stride, layer.padding,
                                             bias=layer.bias is not None),
              _conv_from_torch),
    LayerPair(nn.Linear, tnn.Linear,
              lambda layer, path: tnn.Linear(layer.in_features, layer.out_features,
                                             bias=layer.bias is not None),
              lambda layer, path: nn.Linear(layer.in_features, layer.out_features,
                                            bias=layer.bias is not None)),
    LayerPair(nn.BatchNorm2d, tnn.BatchNorm2d, _batchnorm_to_torch, _batchnorm_from_torch),
    LayerPair(nn.MaxPool2d, tnn.MaxPool2d,
              lambda layer, path: tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding,
                                                ceil_mode=layer.ceil_mode),
              _maxpool_from_torch),
    LayerPair(nn.AvgPool2d, tnn.AvgPool2d, _avgpool_to_torch, _avgpool_from_torch),
    LayerPair(nn.LeakyReLU, tnn.LeakyReLU,
              lambda layer, path: tnn.LeakyReLU(layer.negative_slope),
              lambda layer, path: nn.LeakyReLU(layer.negative_slope)),
    LayerPair(nn.Dropout, tnn.Dropout, lambda layer, path: tnn.Dropout(layer.p),
              lambda layer, path: nn.Dropout(layer.p)),
    LayerPair(nn.Flatten, tnn.Flatten,
              lambda layer, path: tnn.Flatten(layer.start_dim, layer.end_dim),
              lambda layer, path: nn.Flatten(layer.start_dim, layer.end_dim)),
    LayerPair(nn.ReLU, tnn.ReLU, _no_arguments(tnn.ReLU), _no_arguments(nn.ReLU)),
    LayerPair(nn.Sigmoid, tnn.Sigmoid, _no_arguments(tnn.Sigmoid), _no_arguments(nn.Sigmoid)),
    LayerPair(nn.Tanh, tnn.Tanh, _no_arguments(tnn.Tanh), _no_arguments(nn.Tanh)),
    LayerPair(nn.Identity, tnn.Identity, _no_arguments(tnn.Identity), _no_arguments(nn.Identity)),
)

SUPPORTED = ", ".join(row.tinymin.__name__ for row in LAYERS)


def _require(condition: bool, path: str, what: str) -> None:
    if not condition:
        where = path or "(the model itself)"
        raise ValueError(f"from_torch: layer {where!r}: tinymin supports only {what}")


def _is_batchnorm_counter(module: tnn.Module, key: str) -> bool:
    owner, _, name = key.rpartition(".")
    return name == "num_batches_tracked" and isinstance(module.get_submodule(owner), tnn.BatchNorm2d)


def _load_arrays(module: tnn.Module, state: dict[str, np.ndarray]) -> None:
    """Put each numpy array into ``module`` as a tensor of the same dtype and values."""
    own = module.state_dict()
    if list(own) != list(state):
        raise RuntimeError(f"to_torch: state_dict keys differ: torch {list(own)} vs tinymin {list(state)}")
    for key, value in state.items():
        owner_name, _, name = key.rpartition(".")
        owner = module.get_submodule(owner_name)
        tensor = torch.from_numpy(np.array(value, copy=True))
        if name in owner._parameters:
            owner._parameters[name] = tnn.Parameter(tensor)
        else:
            owner._buffers[name] = tensor


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
