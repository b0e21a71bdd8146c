"""Exercise train_epoch: one pass of the training loop over a DataLoader (chapter 8).

Every training run in tinymin, from chapter 2's MLP to chapter 8's LeNets, repeats
one epoch: for each batch :math:`(x, y)` of the loader, clear the gradients, compute
the loss :math:`\\ell_b` of the model's output, back-propagate, and step the optimizer.
The epoch reports the mean loss and the accuracy over the *samples* (a last batch
smaller than the others weighs less):

.. math::

    \\text{loss} = \\frac{\\sum_b |B_b|\\, \\ell_b}{\\sum_b |B_b|}, \\qquad
    \\text{accuracy} = \\frac{\\#\\{i : \\arg\\max_j \\text{logits}_{ij} = y_i\\}}{\\sum_b |B_b|}

where :math:`\\ell_b` is the batch's mean loss and the logits are those of the forward
pass that was back-propagated (before the step). The model must be in training mode
(dropout active) whatever mode it was given in.

Check your answer::

    python -m tinymin exercise check train_epoch --file this_file.py

tinymin's own answer: ``train_epoch`` and ``train_step`` in ``tinymin/train.py``.
"""

from tinymin.nn import functional as F


def train_epoch(model, optimizer, loader, loss_fn=F.cross_entropy, progress: bool = True,
                desc: str = "train") -> dict:
    """One pass over ``loader`` in training mode.

    Parameters
    ----------
    model : tinymin.nn.Module
    optimizer : tinymin.optim.Optimizer
    loader : tinymin.data.DataLoader
        Yields ``(x, y)`` Tensors: inputs and integer class labels.
    loss_fn : callable
        ``loss_fn(logits, y)``, a scalar Tensor: the batch's mean loss.
    progress, desc : bool, str
        A progress bar and its label (you may ignore them).

    Returns
    -------
    dict
        ``{"loss": float, "accuracy": float}`` over the epoch's samples.
    """
    raise NotImplementedError
