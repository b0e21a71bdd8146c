"""LeNet (Table 3), mini_cifar (Table 4) and an MLP.

``conv="exact"`` builds :class:`~tinymin.nn.Conv2d` layers, ``conv="min"`` builds
:class:`~tinymin.nn.MinConv2d` layers (Algorithm 1) with the same shapes, so the
same weights fit both and transfer learning is a ``load_state_dict`` away.
"""

from __future__ import annotations

from typing import Any, Callable

from tinymin import nn

#: Slope of the leaky ReLU after every convolution (the paper gives none; PyTorch's default).
NEGATIVE_SLOPE = 0.01
#: Dropout before the last layer of LeNet and mini_cifar (the paper's 50%).
DROPOUT = 0.5


def conv_layer(conv: str, in_channels: int, out_channels: int, kernel_size: int, padding: int,
               **min_options: Any) -> nn.Module:
    """One convolution of the requested kind: ``"exact"`` or ``"min"``."""
    if conv == "exact":
        if min_options:
            raise ValueError(f"options {sorted(min_options)} only apply to conv='min'")
        return nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
    if conv == "min":
        return nn.MinConv2d(in_channels, out_channels, kernel_size, padding=padding, **min_options)
    raise ValueError(f"conv must be 'exact' or 'min', got {conv!r}")


def lenet(num_classes: int = 10, in_channels: int = 1, conv: str = "exact",
          second_pool: bool = True, input_size: int = 28, dropout: float = DROPOUT,
          **min_options: Any) -> nn.Sequential:
    """The paper's LeNet (Table 3) for ``input_size`` x ``input_size`` images.

    conv 5x5x32 + leaky ReLU, max-pool 2x2, conv 5x5x64 + leaky ReLU, [max-pool 2x2],
    FC 1024 + ReLU, dropout ``dropout`` (the paper's 50%), FC ``num_classes``.

    Choices where the paper is silent (docs/guides/minconv_math.rst, section 7): both convolutions use
    padding 2 ("same"), so conv2 sees 14x14x32 maps; ``second_pool=True`` adds a 2x2
    max-pool after conv2 (as in the classic TensorFlow MNIST network this table
    matches), which makes the first FC layer 3136 -> 1024 instead of 12544 -> 1024.
    """
    side = input_size // 2 // (2 if second_pool else 1)
    layers: list[nn.Module] = [
        conv_layer(conv, in_channels, 32, 5, 2, **min_options), nn.LeakyReLU(NEGATIVE_SLOPE),
        nn.MaxPool2d(2),
        conv_layer(conv, 32, 64, 5, 2, **min_options), nn.LeakyReLU(NEGATIVE_SLOPE),
    ]
    if second_pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(64 * side * side, 1024), nn.ReLU(), nn.Dropout(dropout),
               nn.Linear(1024, num_classes)]
    return nn.Sequential(*layers)


def mini_cifar(num_classes: int = 10, in_channels: int = 3, conv: str = "exact",
               input_size: int = 28, dropout: float = DROPOUT, **min_options: Any) -> nn.Sequential:
    """The paper's mini_cifar network (Table 4) for 28x28 crops of CIFAR images.

    conv 3x3x32, max-pool, conv 1x1x16, conv 3x3x64, max-pool, conv 1x1x32,
    conv 3x3x128, conv 1x1x64 (each conv + leaky ReLU), FC 1024 + ReLU, dropout ``dropout``
    (the paper's 50%),
    FC ``num_classes``.

    Choices where the paper is silent: 3x3 convolutions use padding 1 and 1x1 none,
    so spatial size only changes at the two 2x2 max-pools (28 -> 14 -> 7).
    """
    spec = [(in_channels, 32, 3), "pool", (32, 16, 1), (16, 64, 3), "pool", (64, 32, 1),
            (32, 128, 3), (128, 64, 1)]
    layers: list[nn.Module] = []
    for item in spec:
        if item == "pool":
            layers.append(nn.MaxPool2d(2))
            continue
        c_in, c_out, k = item
        layers += [conv_layer(conv, c_in, c_out, k, k // 2, **min_options),
                   nn.LeakyReLU(NEGATIVE_SLOPE)]
    side = input_size // 4
    layers += [nn.Flatten(), nn.Linear(64 * side * side, 1024), nn.ReLU(), nn.Dropout(dropout),
               nn.Linear(1024, num_classes)]
    return nn.Sequential(*layers)


def mlp(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, hidden: int = 256,
        conv: str = "exact") -> nn.Sequential:
    """A two-layer perceptron: flatten, Linear(hidden) + ReLU, Linear(num_classes).

    ``conv`` is accepted (and must be ``"exact"``) so every model takes the same config.
    """
    if conv != "exact":
        raise ValueError("mlp has no convolutions: conv must be 'exact'")
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size * input_size, hidden),
                         nn.ReLU(), nn.Linear(hidden, num_classes))


MODELS: dict[str, Callable[..., nn.Sequential]] = {"lenet": lenet, "mini_cifar": mini_cifar,
                                                    "mlp": mlp}


def build_model(name: str, **config: Any) -> nn.Sequential:
    """Build a model by name from a config dict (as stored in checkpoints)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name](**config)
