"""Reverse-mode automatic differentiation: the engine under every Tensor.

The idea in four lines
----------------------
* Every operation is a :class:`Function` with a ``forward`` (numpy in, numpy out) and,
  right beside it, a ``backward`` that maps the gradient of the output to the gradients
  of the inputs (the chain rule, one local derivative at a time).
* ``Function.apply`` runs ``forward`` and, when some input needs a gradient, records a
  :class:`Context`: the node of the graph that remembers the function, its inputs and
  whatever ``forward`` saved for later.
* :func:`backward` visits the nodes in reverse topological order, iteratively (a deep
  graph cannot hit Python's recursion limit), and calls each ``backward`` once, after
  all the gradient that flows into its output has been summed.
* Broadcasting in ``forward`` is undone in ``backward`` by one helper, :func:`sum_to`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tinymin import grad_mode, overrides

# the switches of graph recording live in grad_mode; importable from here as before
from tinymin.grad_mode import (  # noqa: F401
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)

if TYPE_CHECKING:  # imported for type hints only; tensor.py imports this module
    from tinymin.tensor import Tensor

def sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the backward of broadcasting.

    If ``a`` of shape ``shape`` was broadcast to ``grad.shape`` in the forward pass,
    each element of ``a`` was used once for every position it was copied to, so its
    gradient is the sum over those positions:

    .. math::

        \\frac{\\partial L}{\\partial a_i} = \\sum_{j \\,:\\, j \\mapsto i}
        \\frac{\\partial L}{\\partial y_j}

    Parameters
    ----------
    grad : numpy.ndarray
        Gradient with respect to the broadcast result.
    shape : tuple of int
        Shape of the operand before broadcasting.

    Returns
    -------
    numpy.ndarray
        Array of exactly ``shape``.
    """
    mine = overrides.lookup("sum_to")
    if mine is not None:  # the learner's sum_to (tinymin.exercises.use)
        return mine(grad, shape)
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"sum_to: cannot sum shape {grad.shape} to larger shape {shape}")
    # Leading axes that broadcasting prepended, then axes that were stretched from 1.
    stretched = tuple(extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    out = grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True)
    return out.reshape(shape)


class VersionCounter:
    """How many times a tensor's data has been changed in place.

    Every in-place Tensor method (``add_``, ``mul_``, ``zero_``, ``x[i] = v`` ...)
    calls :meth:`bump`. A tensor and the views made from it (``detach()``, a slice, a
    reshape) share one counter, because they share memory. When a Function saves an
    array for backward, its Context notes the counter's value; if the value differs
    when backward reads the array, the gradient would be computed from changed numbers,
    so backward raises instead (as PyTorch does).
    """

    def __init__(self) -> None:
        self.value = 0
        self.last_op = ""
        # the tensors over this memory (id -> weak reference: a view must not keep its
        # base alive), and the ids of those made as views of another
        self._tensors: dict[int, weakref.ReferenceType] = {}
        self._views: set[int] = set()

    def bump(self, op: str) -> None:
        """Count one in-place change, made by ``op`` (named in the error backward raises)."""
        self.value += 1
        self.last_op = op

    def share(self, base: Tensor, view: Tensor) -> None:
        """``view`` (a slice, reshape, ``detach()``) reads ``base``'s memory: both count here."""
        for tensor in (base, view):
            if id(tensor) not in self._tensors:
                self._tensors[id(tensor)] = weakref.ref(tensor, self._forgetter(id(tensor)))
        self._views.add(id(view))

    def _forgetter(self, key: int) -> Callable[[weakref.ReferenceType], None]:
        # drops a tensor's entry when it is collected (a parameter viewed at every step
        # must not grow this), unless its id was taken since by another tensor
        tensors, views = self._tensors, self._views

        def forget(ref: weakref.ReferenceType) -> None:
            if tensors.get(key) is ref:
                del tensors[key]
                views.discard(key)

        return forget

    def sharing(self, tensor: Tensor) -> tuple[list[Tensor], bool]:
        """The live tensors over this memory other than ``tensor``, and whether ``tensor``
        was made as a view of another (what an in-place op must check: see
        ``Tensor._refuse_in_graph``)."""
        alive = (ref() for ref in list(self._tensors.values()))  # entries of collected ones go
        others = [other for other in alive if other is not None and other is not tensor]
        return others, id(tensor) in self._views  # ids are unique among live tensors


_SECOND_BACKWARD = (
    "{name}: trying to backward through the graph a second time (or to read saved "
    "tensors after they were freed). backward() frees what the graph saved; specify "
    "retain_graph=True in the first backward() if you need to backward through the "
    "graph a second time."
)


class Context:
    """One node of the graph: what a Function's ``backward`` needs to know.

    Attributes
    ----------
    function : type
        The :class:`Function` subclass that produced the output.
    inputs : tuple
        The positional arguments of ``apply``: Tensors and plain values.
    input_grad_fns : tuple
        Each input's ``grad_fn`` when this node was recorded (None for leaves and plain
        values): the node the gradient goes on to, even after an in-place op.
    needs_input_grad : tuple of bool
        For each input, whether its gradient is wanted (lets ``backward`` skip work).
    saved_tensors : tuple of numpy.ndarray
        What ``forward`` stored with :meth:`save_for_backward`. Reading it checks that
        no saved tensor was changed in place since, and raises after :meth:`release`.
    """

    def __init__(self, function: type, inputs: tuple) -> None:
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = tuple(_requires_grad(a) for a in inputs)
        # The node each input was when recorded: an in-place op gives a tensor a new
        # grad_fn, and this edge must still lead to the old one (see _topological_order).
        self.input_grad_fns = tuple(getattr(a, "grad_fn", None) for a in inputs)
        self._saved: tuple = ()
        # (counter, its value when saved, input position or -1 for the output, shape)
        self._saved_versions: list[tuple[VersionCounter, int, int, tuple]] = []
        self._release_callbacks: list[Callable[[], None]] = []
        self.released = False

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays that ``backward`` will need (inputs, outputs, masks)."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """What ``forward`` saved; raises RuntimeError if one was changed in place since,
        or after :meth:`release`."""
        if self.released:
            raise RuntimeError(_SECOND_BACKWARD.format(name=self.name))
        for counter, version, position, shape in self._saved_versions:
            if counter.value != version:
                role = "the output" if position < 0 else f"input {position}"
                raise RuntimeError(
                    f"{self.function.__name__}.backward: one of the variables needed for "
                    f"gradient computation has been modified by an in-place operation "
                    f"({counter.last_op}): {role} of {self.function.__name__}, shape {shape}, "
                    f"is at version {counter.value}; expected version {version}. Change a "
                    f".clone() of it instead, or do the in-place change after backward()."
                )
        return self._saved

    def note_versions(self, tensors: list[tuple[int, Tensor]]) -> None:
        """Remember the version of every tensor whose memory a saved array shares.

        ``tensors`` pairs each input's position (-1 for the output) with the tensor. A
        saved array shares a tensor's memory when it is its data or a view of it (a
        fresh array, whose ``base`` is None, cannot be a view).
        """
        for array in self._saved:
            if not isinstance(array, np.ndarray):
                continue
            for position, tensor in tensors:
                if array is tensor._array or (array.base is not None
                                            and np.may_share_memory(array, tensor._array)):
                    counter = tensor._version_counter
                    self._saved_versions.append((counter, counter.value, position, tensor.shape))

    def call_on_release(self, callback: Callable[[], None]) -> None:
        """Have :meth:`release` call ``callback()`` once the saved arrays are let go.

        For a Function whose saved arrays are scratch buffers it wants back (the
        convolutions' column matrices, reused by the next forward instead of
        allocated again): only ``release`` knows that no second backward will read them.
        """
        self._release_callbacks.append(callback)

    def release(self) -> None:
        """Free the saved arrays (their memory too); ``backward`` does this when done,
        unless ``retain_graph=True``."""
        self._saved = ()
        self._saved_versions = []
        self.released = True
        callbacks, self._release_callbacks = self._release_callbacks, []
        for callback in callbacks:
            callback()

    @property
    def name(self) -> str:
        """The node's name: ``SumFunction``'s prints as ``<SumBackward>``, as in PyTorch."""
        return self.function.__name__.removesuffix("Function") + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _requires_grad(value: Any) -> bool:
    return bool(getattr(value, "requires_grad", False))


# Function.apply builds Tensors, and tensor.py is built on this module, so the
# functions that need the Tensor class look it up when called: the one link upwards
# inside the engine, and the only place where ops find the Tensor class.
def unwrap(value: Any) -> Any:
    """A Tensor becomes its numpy array; anything else passes through."""
    from tinymin.tensor import Tensor

    return value._array if isinstance(value, Tensor) else value


def as_tensor(value: Any) -> Tensor:
    """``value`` itself if it is a Tensor, else a new Tensor of it (tinymin's dtype rules)."""
    from tinymin.tensor import Tensor

    return value if isinstance(value, Tensor) else Tensor(value)


class Function:
    """Base class of every differentiable operation.

    Subclasses define two static methods that sit side by side:

    ``forward(ctx, *args, **kwargs) -> numpy.ndarray``
        Computes the result from numpy arrays (Tensors are unwrapped before the call)
        and saves what backward needs with ``ctx.save_for_backward``.
    ``backward(ctx, grad_output) -> tuple``
        Returns one gradient (or ``None``) per positional argument of ``forward``.

    Call an operation with ``MyFunction.apply(*args, **kwargs)``.
    """

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run ``forward`` and, if any input needs a gradient, record the graph node."""
        from tinymin.tensor import Tensor

        ctx = Context(cls, args)
        arrays = [a._array if isinstance(a, Tensor) else a for a in args]
        output = cls.forward(ctx, *arrays, **kwargs)
        record = grad_mode.is_grad_enabled() and any(ctx.needs_input_grad)
        result = Tensor(output, requires_grad=record)
        inputs = [(i, a) for i, a in enumerate(args) if isinstance(a, Tensor)]
        if result._array.base is not None:  # a view (reshape, slice): of an input?
            _share_version_with_viewed_input(result, inputs)
        if record:
            result.grad_fn = ctx
            ctx.note_versions(inputs + [(-1, result)])
        return result


def _share_version_with_viewed_input(result: Tensor, inputs: list[tuple[int, Tensor]]) -> None:
    """A result that is a view of an input (reshape, slice) shares its version counter,
    so an in-place change through either one is seen by both."""
    for _, tensor in inputs:
        if np.may_share_memory(result._array, tensor._array):
            result._version_counter = tensor._version_counter
            tensor._version_counter.share(tensor, result)
            return


def backward(root: Tensor, gradient: Any = None, retain_graph: bool = False) -> None:
    """Backpropagate from ``root``: fill ``.grad`` of every leaf that requires it.

    Gradients accumulate into ``.grad``, a Tensor (call ``zero_grad`` between steps),
    as in PyTorch. Each node frees what it saved once its backward has run, so a second
    ``backward`` through the same graph raises RuntimeError unless the first one was
    given ``retain_graph=True``.

    Parameters
    ----------
    root : Tensor
        The output to differentiate, usually a scalar loss.
    gradient : array_like, optional
        :math:`\\partial L / \\partial \\mathrm{root}`; needed when ``root`` is not a
        scalar, defaults to 1 for a scalar.
    retain_graph : bool
        Keep the saved arrays, so that ``backward`` can run through the graph again.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no grad_fn; "
            "create the leaves with requires_grad=True"
        )
    seed = _initial_gradient(root, gradient)
    pending = {(id(root), id(root.grad_fn)): seed}
    for tensor, grad_fn in reversed(_topological_order(root)):
        grad = pending.pop((id(tensor), id(grad_fn)), None)
        if grad is None:
            continue
        if grad_fn is None or (tensor._retain_grad and grad_fn is tensor.grad_fn):
            _accumulate(tensor, grad)
        if grad_fn is not None:
            _propagate(grad_fn, grad, pending)
            if not retain_graph:
                grad_fn.release()


def _initial_gradient(root: Tensor, gradient: Any) -> np.ndarray:
    if gradient is None:
        if root._array.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs; "
                f"this tensor has shape {root.shape}, pass gradient= of that shape"
            )
        return np.ones_like(root._array)
    grad = np.asarray(unwrap(gradient), dtype=root._array.dtype)
    if grad.shape != root.shape:
        raise ValueError(f"backward: gradient shape {grad.shape} != tensor shape {root.shape}")
    return grad


def _topological_order(root: Tensor) -> list[tuple[Tensor, Context | None]]:
    """The graph's nodes reachable from ``root``, each after the nodes it was made from.

    A node is a pair (tensor, its grad_fn at the time): usually one per tensor, but an
    in-place op (``c += 1``) makes a second node for the same tensor, whose input is the
    first. An explicit stack replaces recursion, so a graph thousands of ops deep is fine.
    """
    order: list[tuple[Tensor, Context | None]] = []
    visited: set[tuple[int, int]] = set()
    stack = [((root, root.grad_fn), False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        key = (id(node[0]), id(node[1]))
        if key in visited:
            continue
        visited.add(key)
        stack.append((node, True))
        ctx = node[1]
        if ctx is not None:
            for parent, parent_fn, needed in zip(ctx.inputs, ctx.input_grad_fns, ctx.needs_input_grad):
                if needed and (id(parent), id(parent_fn)) not in visited:
                    stack.append(((parent, parent_fn), False))
    return order


def _propagate(ctx: Context, grad: np.ndarray, pending: dict[tuple[int, int], np.ndarray]) -> None:
    """Call one node's backward and add its input gradients to the pending sums."""
    if ctx.released:
        raise RuntimeError(_SECOND_BACKWARD.format(name=ctx.name))
    input_grads = ctx.function.backward(ctx, grad)
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    if len(input_grads) != len(ctx.inputs):
        # zip() would silently drop the missing gradients: a parameter would get none.
        raise RuntimeError(
            f"{ctx.function.__name__}.backward returned {len(input_grads)} gradients for "
            f"{len(ctx.inputs)} inputs; return one gradient (or None) per positional "
            f"input of forward"
        )
    for parent, parent_fn, needed, parent_grad in zip(ctx.inputs, ctx.input_grad_fns,
                                                      ctx.needs_input_grad, input_grads):
        if not needed or parent_grad is None:
            continue
        if parent_grad.shape != parent.shape:
            raise RuntimeError(
                f"{ctx.name} returned a gradient of shape {parent_grad.shape} for an "
                f"input of shape {parent.shape}"
            )
        key = (id(parent), id(parent_fn))
        pending[key] = parent_grad if key not in pending else pending[key] + parent_grad


def _accumulate(tensor: Tensor, grad: np.ndarray) -> None:
    """Add ``grad`` into ``tensor.grad`` (a Tensor of its own memory, as in PyTorch)."""
    grad = grad.astype(tensor._array.dtype, copy=False)
    from tinymin.tensor import Tensor

    if tensor.grad is None:
        tensor.grad = Tensor._from_array(grad.copy())  # never alias an array the graph uses
    else:
        tensor.grad = Tensor._from_array(tensor.grad._array + grad)
