"""Exercise operation_counts: what one image costs, layer by layer (chapter 10).

Chapter 10 folds a trained min network so that inference needs no multiplication in
its min layers. Count the operations that prove it: for each layer of a
``Sequential`` model, the multiplications, comparisons, sign flips and additions one
image needs. With the layer's input of shape ``(C, H, W)`` (or ``(F,)`` after
``Flatten``), an output of ``(C_out, OH, OW)``,
``OH = (H + 2 p_h - k_h) // s_h + 1`` (the same for ``OW``), and
:math:`P = OH \\cdot OW \\cdot C \\cdot k_h k_w \\cdot C_\\mathrm{out}` (input-weight pairs):

* ``Conv2d``: :math:`P` multiplications and :math:`P` additions;
* ``MinConv2d``: :math:`P` comparisons, :math:`P` sign flips, :math:`P` additions, and
  no multiplication when folded, else :math:`OH \\cdot OW \\cdot C_\\mathrm{out}`;
* ``MaxPool2d``: :math:`n (k_h k_w - 1)` comparisons;
* ``AvgPool2d``: :math:`n (k_h k_w - 1)` additions and :math:`n` multiplications;
* ``ReLU``: one comparison per input element;
* ``Linear``: :math:`F_\\mathrm{in} F_\\mathrm{out}` multiplications and as many additions;

where :math:`n = C \\cdot OH \\cdot OW` is the pooling layer's output size (a convolution's
additions are its :math:`K - 1` accumulations and one bias per output). A min layer's
product becomes one comparison of magnitudes and one sign selection (Table 2); unfolded,
each output is still multiplied by :math:`\\mu_w`. ``Flatten`` costs nothing and gets no
row. Conv layers hold ``kernel_size``, ``stride`` and ``padding`` as pairs; pooling
layers as an int or a pair, and a ``stride`` of None means the kernel size.

Check your answer::

    python -m tinymin exercise check operation_counts --file this_file.py

tinymin's own answer: ``tinymin.minconv.fold.operation_counts`` (which also counts
the cases this exercise leaves out: leaky ReLU, per-channel scales, calibrated gains).
"""


def operation_counts(model, input_shape: tuple, folded: bool = True) -> list:
    """Operations per image, layer by layer.

    Parameters
    ----------
    model : tinymin.nn.Sequential
        Made of ``Conv2d``, ``MinConv2d``, ``MaxPool2d``, ``AvgPool2d``, ``ReLU``,
        ``Flatten`` and ``Linear`` layers.
    input_shape : tuple of int
        ``(C, H, W)`` of one image.
    folded : bool
        Count the min layers as folded (no :math:`\\mu_w` multiply).

    Returns
    -------
    list of dict
        One dict per layer except ``Flatten``, in order:
        ``{"layer": "<index>: <class name>", "multiplications": int, "comparisons": int,
        "sign_flips": int, "additions": int}`` (index: the layer's position in ``model``).
    """
    raise NotImplementedError
