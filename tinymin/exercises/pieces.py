"""The pieces of tinymin a learner's exercise can replace, and how each is called.

Every function a learner writes in an exercise that has a counterpart in the framework
is one :class:`PieceSpec` in :data:`PIECES`: its exercise, the dispatch name that
tinymin's own function looks up in :mod:`tinymin.overrides`, where tinymin calls it,
the arguments the learner's function must accept, and two small functions:

* ``adapt(call, *args)``: turns the dispatch point's call into a call of the
  learner's function (``call``) and checks what comes back: the right shape (a wrong
  one is named here, not three layers later), cast to the dtype tinymin would give;
* ``reference(*args)``: tinymin's own answer in the learner's signature, which the
  milestone compares with the learner's on the first batch.

Exercises without a counterpart (timing a kernel, the torch engine's clip) are in
:data:`NO_COUNTERPART`, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinymin import _ext
from tinymin.analysis.approximation import elementwise_relative_error
from tinymin.autograd import sum_to
from tinymin.data.dataloader import default_collate
from tinymin.minconv import functional as minconv
from tinymin.minconv.calibrate import fit_gain_offset
from tinymin.minconv.fold import operation_counts
from tinymin.train import train_epoch

#: Bound (bytes) on the (rows, C, K) array a broadcasting selector GEMM builds per call:
#: a learner's numpy min_gemm is called on blocks of rows, so LeNet's second layer does
#: not ask it for 2.5 GB at once.
GEMM_BLOCK_BYTES = 32 * 2**20


class LearnerCodeError(RuntimeError):
    """A learner's function raised, or returned something of the wrong kind or shape."""


class WrongAnswer(LearnerCodeError):
    """What a learner's function returned is not what tinymin can use (kind, length,
    shape); :class:`tinymin.exercises.swap.Piece` adds which piece and file."""


@dataclass(frozen=True)
class PieceSpec:
    """One function of an exercise that tinymin can call instead of its own.

    Parameters
    ----------
    exercise, function : str
        The exercise (``"clip_and_rescale"``) and the function its file defines
        (``"step3_clip"``); ``function`` is also the dispatch name in
        :mod:`tinymin.overrides`.
    where : str
        Where tinymin calls it, for the announcement.
    arity : int
        How many positional arguments the learner's function is called with.
    keywords : tuple of str
        Arguments passed by name.
    adapt : callable
        ``adapt(call, *args, **kwargs)``: the dispatch point's arguments in, ``call``
        (the learner's function) called, its answer checked and returned as tinymin's
        own would be.
    reference : callable
        tinymin's own answer, with the learner's signature.
    in_training : bool
        Whether training the LeNet (the milestone) calls it.
    key : str, optional
        The dispatch name when it is not ``function`` (the torch engine's step 3).
    engine : str
        The engine whose training calls it: ``"tinymin"`` or ``"torch"``.
    """

    exercise: str
    function: str
    where: str
    arity: int
    adapt: Callable[..., Any]
    reference: Callable[..., Any]
    keywords: tuple[str, ...] = ()
    in_training: bool = True
    key: str = ""
    engine: str = "tinymin"

    @property
    def dispatch(self) -> str:
        """The name tinymin's function looks up in :mod:`tinymin.overrides`."""
        return self.key or self.function


# ------------------------------------------------------------------ checking answers
def _array(value: Any, what: str, shape: tuple, dtype) -> np.ndarray:
    """``value`` as an array of ``shape`` (cast to ``dtype``), or a LearnerCodeError."""
    if not isinstance(value, (np.ndarray, np.generic, float, int)):
        raise WrongAnswer(f"{what} is a {type(value).__name__}, not a numpy array")
    array = np.asarray(value)
    if array.shape != tuple(shape):
        raise WrongAnswer(f"{what} has shape {array.shape}; tinymin's has shape {tuple(shape)}")
    return array if array.dtype == dtype else array.astype(dtype)


def _tuple(value: Any, n: int, what: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise WrongAnswer(f"{what} must return a tuple of {n}, returned {type(value).__name__}"
                               + (f" of {len(value)}" if isinstance(value, (tuple, list)) else ""))
    return tuple(value)


def _into(out: np.ndarray | None, array: np.ndarray) -> np.ndarray:
    if out is None:
        return array
    np.copyto(out, array)
    return out


def _scalar_if_square(pair: tuple[int, int]) -> Any:
    """(k, k) -> k: the exercise's im2col takes one int per size, as its template says."""
    return pair[0] if pair[0] == pair[1] else pair


# ------------------------------------------------------------------- the adapters
def _same(call, *args):
    return call(*args)


def _adapt_sum_to(call, grad, shape):
    return _array(call(grad, shape), "sum_to's answer", tuple(shape), grad.dtype)


def _adapt_matmul_backward(call, a, b, grad):
    grad_a, grad_b = _tuple(call(a, b, grad), 2, "matmul_backward")
    return (_array(grad_a, "matmul_backward's grad_a", a.shape, grad.dtype),
            _array(grad_b, "matmul_backward's grad_b", b.shape, grad.dtype))


def _adapt_adam_step(call, param, grad, m, v, step, *, lr, beta1, beta2, eps):
    # copies: the learner's function may change its arguments; tinymin writes the answer
    answer = call(param.copy(), np.array(grad, dtype=param.dtype), m.copy(), v.copy(), step,
                  lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    return tuple(_array(a, f"adam_step's new {name}", param.shape, param.dtype)
                 for a, name in zip(_tuple(answer, 3, "adam_step"), ("param", "m", "v")))


def _adapt_im2col(call, x, kernel_size, stride, padding, out):
    (oh, ow), (kh, kw) = _ext.conv_output_shape(x.shape[2], x.shape[3], kernel_size, stride,
                                                padding), kernel_size
    cols = call(x, *(_scalar_if_square(p) for p in (kernel_size, stride, padding)))
    shape = (x.shape[0] * oh * ow, x.shape[1] * kh * kw)
    return _into(out, _array(cols, "im2col's answer", shape, x.dtype))


def _adapt_gemm(name: str):
    def adapt(call, cols, w, out):
        """Call the learner's GEMM on blocks of rows (bounded memory), into one answer."""
        answer = np.empty((cols.shape[0], w.shape[0]), cols.dtype) if out is None else out
        rows = max(1, GEMM_BLOCK_BYTES // max(1, w.shape[0] * w.shape[1] * 8))
        for start in range(0, cols.shape[0], rows):
            block = cols[start:start + rows]
            answer[start:start + rows] = _array(call(block, w), f"{name}'s answer",
                                                (block.shape[0], w.shape[0]), cols.dtype)
        return answer
    return adapt


def _adapt_step3(call, a, mu, clip_value):
    a_c, inside = _tuple(call(a, mu, clip_value), 2, "step3_clip")
    a_c = _array(a_c, "step3_clip's a_c", a.shape, a.dtype)
    if inside is None:
        if clip_value is not None:
            raise WrongAnswer("step3_clip returned no mask (None) although clip_value is "
                                   f"{clip_value}")
        return a_c, None
    return a_c, _array(inside, "step3_clip's mask", a.shape, bool)


def _adapt_step4(call, w_c, mu_x, mu_w):
    return _array(call(w_c, mu_x, mu_w), "step4_rescale's answer", w_c.shape, w_c.dtype)


def _adapt_step7(call, grad, inside):
    if grad is None:  # no gradient wanted for that operand: nothing to mask
        return None
    return _array(call(grad, inside), "step7_through_clip's answer", grad.shape, grad.dtype)


def _adapt_torch_step3(call, a, mu, clip_value):
    a_c, inside = _tuple(call(a, mu, clip_value), 2, "step3_clip")
    if tuple(getattr(a_c, "shape", ())) != tuple(a.shape):
        raise WrongAnswer(f"step3_clip's a_c has shape {tuple(getattr(a_c, 'shape', ()))}; tinymin's "
                          f"has shape {tuple(a.shape)}")
    return a_c, inside


def _reference_torch_step3(a, mu, clip_value):
    """Step 3 by its numpy twin, as tensors (the exercises sit beside ``tinymin.torch`` in
    the layers and do not import it; the torch_clip exercise checks against the same twin)."""
    import torch  # the learner's torch_clip needs torch anyway

    a_c, inside = minconv.step3_clip(a.detach().cpu().numpy(), np.asarray(mu.detach().cpu()), clip_value)
    return torch.from_numpy(np.asarray(a_c)), None if inside is None else torch.from_numpy(inside)


def _adapt_train_epoch(call, *args):
    row = call(*args)
    if not isinstance(row, dict) or not {"loss", "accuracy"} <= set(row):
        raise WrongAnswer("train_epoch must return a dict with 'loss' and 'accuracy', "
                               f"returned {row!r:.80}")
    return row


# ----------------------------------------------- tinymin's own, learner's signature
def _reference_matmul_backward(a, b, grad):
    """The gradients tinymin's autograd gives ``a @ b`` (the exercise's reference)."""
    import tinymin as tm

    ta, tb = tm.tensor(a, requires_grad=True), tm.tensor(b, requires_grad=True)
    (ta @ tb).backward(grad)
    return ta.grad.numpy(), tb.grad.numpy()


def _reference_adam_step(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """``tinymin.optim.Adam.step`` from the given state, as new arrays."""
    import tinymin as tm
    from tinymin.nn import Parameter
    from tinymin.optim import Adam

    weight = Parameter(np.array(param))
    optimizer = Adam([weight], lr=lr, betas=(beta1, beta2), eps=eps)
    optimizer.state[weight].update(step=step - 1, exp_avg=np.array(m), exp_avg_sq=np.array(v))
    weight.grad = tm.tensor(np.array(grad, dtype=weight.dtype))
    optimizer.step()
    state = optimizer.state[weight]
    return weight.numpy().copy(), state["exp_avg"].copy(), state["exp_avg_sq"].copy()


def _reference_im2col(x, kernel_size, stride=1, padding=0):
    return _ext.im2col(np.ascontiguousarray(x), kernel_size, stride, padding)


def _reference_gemm(kernel):
    return lambda cols, w: kernel(np.ascontiguousarray(cols), np.ascontiguousarray(w))


_SELECTOR = "MinConv2d(operator={!r}): step 5 (tinymin._ext.{}, on blocks of rows)"

#: Every swappable function by dispatch name, in the order training first calls them.
PIECES: dict[str, PieceSpec] = {spec.dispatch: spec for spec in (
    PieceSpec("collate", "default_collate", "every DataLoader's batches (tinymin.data)", 1, _same,
              default_collate),
    PieceSpec("clip_and_rescale", "step3_clip", "step 3 of every MinConv2d "
              "(tinymin.minconv.functional)", 3, _adapt_step3, minconv.step3_clip),
    PieceSpec("clip_and_rescale", "step4_rescale", "step 4 of every MinConv2d "
              "(tinymin.minconv.functional)", 3, _adapt_step4, minconv.step4_rescale),
    PieceSpec("im2col", "im2col", "tinymin._ext.im2col: the column matrix of every convolution", 4,
              _adapt_im2col, _reference_im2col),
    PieceSpec("min_gemm", "min_gemm", _SELECTOR.format("min", "min_gemm"), 2,
              _adapt_gemm("min_gemm"), _reference_gemm(_ext.min_gemm)),
    PieceSpec("selector_gemms", "max_gemm", _SELECTOR.format("max", "max_gemm"), 2,
              _adapt_gemm("max_gemm"), _reference_gemm(_ext.max_gemm), in_training=False),
    PieceSpec("selector_gemms", "adder_gemm", _SELECTOR.format("adder", "adder_gemm"), 2,
              _adapt_gemm("adder_gemm"), _reference_gemm(_ext.adder_gemm), in_training=False),
    PieceSpec("sum_to", "sum_to", "tinymin.autograd.sum_to: the backward of every broadcast", 2,
              _adapt_sum_to, sum_to),
    PieceSpec("matmul_backward", "matmul_backward", "the backward of Tensor @ Tensor and of "
              "every nn.Linear", 3, _adapt_matmul_backward, _reference_matmul_backward),
    PieceSpec("clip_and_rescale", "step7_through_clip", "step 7 of every MinConv2d "
              "(tinymin.minconv.functional)", 2, _adapt_step7, minconv.step7_through_clip),
    PieceSpec("adam", "adam_step", "optim.Adam and AdamW: the update of every parameter", 5,
              _adapt_adam_step, _reference_adam_step, keywords=("lr", "beta1", "beta2", "eps")),
    PieceSpec("train_epoch", "train_epoch", "tinymin.train.fit: every training epoch", 6,
              _adapt_train_epoch, train_epoch),
    PieceSpec("gain_offset", "fit_gain_offset", "calibration of converted min layers (convert, "
              "train --calibrate)", 3, _same, fit_gain_offset, in_training=False),
    PieceSpec("relative_error", "elementwise_relative_error", "tinymin.analysis (the paper's "
              "statistics)", 2, _same, elementwise_relative_error, in_training=False),
    PieceSpec("operation_counts", "operation_counts", "tinymin.minconv.fold.operation_counts", 3,
              _same, operation_counts, in_training=False),
    PieceSpec("torch_clip", "step3_clip", "step 3 of the torch engine's MinConv2d "
              "(tinymin.torch.functional)", 3, _adapt_torch_step3, _reference_torch_step3,
              in_training=False, key="torch_step3_clip", engine="torch"),
)}

#: Exercises whose functions have no dispatch point in tinymin's engine, and why.
NO_COUNTERPART: dict[str, str] = {
    "kernel_timing": "it times a kernel against its twin; nothing in training calls it",
}


def exercise_pieces(exercise: str) -> list[PieceSpec]:
    """The pieces of ``exercise``, in :data:`PIECES` order (empty if it has none)."""
    return [spec for spec in PIECES.values() if spec.exercise == exercise]


def exercises_with_pieces(engine: str | None = None) -> list[str]:
    """Every exercise that has at least one piece (in ``engine``'s training, if given),
    in the order of :data:`PIECES`."""
    return list(dict.fromkeys(spec.exercise for spec in PIECES.values()
                              if engine is None or spec.engine == engine))
