"""``to_torch`` and ``from_torch``: the same network, the same weights, on either engine.

Each supported tinymin layer has one torch equivalent with the same state_dict keys;
values are copied bit for bit (numpy array <-> CPU tensor of the same dtype), so
``from_torch(to_torch(model)).state_dict()`` equals ``model.state_dict()`` exactly.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn as tnn

from tinymin import nn
from tinymin.torch.layer import MinConv2d

SUPPORTED = ("Sequential, Linear, Conv2d, MinConv2d, MaxPool2d, AvgPool2d, BatchNorm2d, ReLU, "
             "LeakyReLU, Sigmoid, Tanh, Dropout, Flatten, Identity")


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
    if isinstance(layer, nn.Sequential):
        return tnn.Sequential(OrderedDict((name, _torch_layer(child, _join(path, name)))
                                          for name, child in layer.named_children()))
    if isinstance(layer, nn.MinConv2d):
        twin = MinConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                         layer.padding, layer.bias is not None, layer.clip_value, layer.momentum,
                         layer.scale, layer.operator)
        twin.name = layer.name
        return twin
    if isinstance(layer, nn.Conv2d):
        return tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                          layer.padding, bias=layer.bias is not None)
    if isinstance(layer, nn.Linear):
        return tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    if isinstance(layer, nn.BatchNorm2d):
        bn = tnn.BatchNorm2d(layer.num_features, layer.eps, layer.momentum, affine=layer.weight is not None)
        bn.register_buffer("num_batches_tracked", None)  # tinymin's has no counter: same keys
        return bn
    if isinstance(layer, nn.MaxPool2d):
        return tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, nn.AvgPool2d):
        return tnn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, nn.LeakyReLU):
        return tnn.LeakyReLU(layer.negative_slope)
    if isinstance(layer, nn.Dropout):
        return tnn.Dropout(layer.p)
    if isinstance(layer, nn.Flatten):
        return tnn.Flatten(layer.start_dim, layer.end_dim)
    simple = {nn.ReLU: tnn.ReLU, nn.Sigmoid: tnn.Sigmoid, nn.Tanh: tnn.Tanh, nn.Identity: tnn.Identity}
    if type(layer) in simple:
        return simple[type(layer)]()
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
    state = {key: value.detach().cpu().numpy() for key, value in module.state_dict().items()
             if not _is_batchnorm_counter(module, key)}
    floating = [v.dtype for v in state.values() if np.issubdtype(v.dtype, np.floating)]
    if floating and floating[0] != np.float32:
        model.astype(floating[0])
    model.load_state_dict(state)
    for name, sub in model.named_modules():
        sub.training = module.get_submodule(name).training if name else module.training
    return model


def _tinymin_layer(layer: tnn.Module, path: str) -> nn.Module:
    where = path or "(the model itself)"
    if isinstance(layer, tnn.Sequential):
        return nn.Sequential(OrderedDict((name, _tinymin_layer(child, _join(path, name)))
                                         for name, child in layer.named_children()))
    if isinstance(layer, MinConv2d):
        twin = nn.MinConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                            layer.padding, layer.bias is not None, layer.clip_value, layer.momentum,
                            layer.scale, layer.operator)
        twin.name = layer.name
        return twin
    if type(layer) is tnn.Conv2d:
        _require(layer.groups == 1 and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
                 and not isinstance(layer.padding, str), where, "Conv2d with groups=1, dilation=1, "
                 "zero padding given as numbers")
        return nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                         layer.padding, bias=layer.bias is not None)
    if type(layer) is tnn.Linear:
        return nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    if type(layer) is tnn.BatchNorm2d:
        _require(layer.track_running_stats and layer.momentum is not None, where,
                 "BatchNorm2d with running statistics and a float momentum")
        return nn.BatchNorm2d(layer.num_features, layer.eps, layer.momentum, affine=layer.affine)
    if type(layer) is tnn.MaxPool2d:
        _require(layer.dilation in (1, (1, 1)) and not layer.ceil_mode and not layer.return_indices,
                 where, "MaxPool2d without dilation, ceil_mode or return_indices")
        return nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
    if type(layer) is tnn.AvgPool2d:
        _require(not layer.ceil_mode and layer.count_include_pad and layer.divisor_override is None,
                 where, "AvgPool2d with count_include_pad=True and no ceil_mode or divisor_override")
        return nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
    if type(layer) is tnn.LeakyReLU:
        return nn.LeakyReLU(layer.negative_slope)
    if type(layer) is tnn.Dropout:
        return nn.Dropout(layer.p)
    if type(layer) is tnn.Flatten:
        return nn.Flatten(layer.start_dim, layer.end_dim)
    simple = {tnn.ReLU: nn.ReLU, tnn.Sigmoid: nn.Sigmoid, tnn.Tanh: nn.Tanh, tnn.Identity: nn.Identity}
    if type(layer) in simple:
        return simple[type(layer)]()
    raise TypeError(f"from_torch: layer {where!r} is a {type(layer).__name__}, which has no tinymin "
                    f"equivalent; supported: {SUPPORTED}")


def _require(condition: bool, where: str, what: str) -> None:
    if not condition:
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
