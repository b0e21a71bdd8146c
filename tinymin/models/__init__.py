"""The paper's networks (Tables 3 and 4) and a small MLP, exact or min-conv by one argument."""

from tinymin.models.networks import MODELS, build_model, lenet, mini_cifar, mlp

__all__ = ["MODELS", "build_model", "lenet", "mini_cifar", "mlp"]
