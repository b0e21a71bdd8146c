"""Optimizers and learning-rate schedulers, shaped like ``torch.optim``.

>>> from tinymin import optim
>>> optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)  # doctest: +SKIP
>>> scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=30)   # doctest: +SKIP

Each training step: ``optimizer.zero_grad()``, ``loss.backward()``,
``optimizer.step()``; each epoch: ``scheduler.step()``.
"""

from tinymin.optim import lr_scheduler
from tinymin.optim.adadelta import Adadelta
from tinymin.optim.adagrad import Adagrad
from tinymin.optim.adam import Adam, AdamW
from tinymin.optim.lr_scheduler import CosineAnnealingLR, StepLR
from tinymin.optim.optimizer import Optimizer
from tinymin.optim.rmsprop import RMSprop
from tinymin.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "Optimizer",
    "RMSprop",
    "StepLR",
    "lr_scheduler",
]
