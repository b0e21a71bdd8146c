"""The :class:`Optimizer` base class: parameter groups, per-parameter state, checkpoints.

An optimizer holds two things, with the same names and shapes as in PyTorch:

``param_groups``
    A list of dicts. Each has ``"params"`` (a list of parameters) and the
    hyper-parameters used for them (``"lr"``, ``"momentum"``, ...). A plain list of
    parameters makes one group; a list of dicts makes one group per dict, so that,
    say, the last layer can have its own learning rate. Options a dict leaves out are
    filled from the optimizer's ``defaults``. A scheduler changes ``group["lr"]``.
``state``
    A dict from parameter to that parameter's own running values (momentum buffer,
    Adam's moments and step counter), filled in by the first ``step()``.

``step()`` reads each ``p.grad`` and changes ``p``'s numbers (``p.numpy()``) **in
place**, so that every view of the array (and every module holding it) sees the new values. A parameter
whose ``grad`` is ``None`` received no gradient and is left alone. The loop over
groups and parameters lives here, once; a subclass (SGD, Adam) only writes
:meth:`Optimizer.update_parameter`, the maths for one parameter. The updates work
in place with numpy's ``out=`` and a reusable work array (:meth:`Optimizer.scratch`),
so a step allocates no new arrays: on LeNet's 3.3 M parameters the temporaries
numpy would otherwise create cost more than the arithmetic.

``state_dict()`` / ``load_state_dict()`` give and take the state as plain Python
values and arrays; :mod:`tinymin.checkpoint.state_codec` stores them in a checkpoint.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Protocol

import numpy as np

from tinymin.optim._checks import check_state_dict_layout

__all__ = ["Optimizer"]


class ParameterLike(Protocol):
    """What an optimizer needs of a parameter (``tinymin.nn.Parameter`` is one)."""

    shape: tuple[int, ...]
    grad: Any  # None, or a Tensor of the parameter's shape

    def numpy(self) -> np.ndarray: ...  # the numbers, updated in place by step()


class Optimizer:
    """Base class of all optimizers: holds ``param_groups`` and ``state``.

    Subclasses pass their hyper-parameters as ``defaults``, check them in
    :meth:`_check_hyperparameters` and implement :meth:`update_parameter`; the
    loop in :meth:`step` is shared.

    Parameters
    ----------
    params : iterable of parameters, or iterable of dicts
        The parameters to optimize, in a defined order (a list or a generator such as
        ``model.parameters()``; not a set). Or dicts, one per group, each with a
        ``"params"`` entry and any options that differ from ``defaults``.
    defaults : dict
        Default hyper-parameters for every group.

    Attributes
    ----------
    defaults : dict
        The default hyper-parameters.
    param_groups : list of dict
        The groups, each with ``"params"`` and its hyper-parameters.
    state : dict
        Per-parameter state, keyed by the parameter object itself.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._check_hyperparameters(self.defaults, type(self).__name__)
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[tuple[np.dtype, int], np.ndarray] = {}  # see scratch()

        _check_is_ordered(params, "params")
        if isinstance(params, Mapping):
            raise TypeError(
                f"{type(self).__name__}: params is a single dict; pass a list of parameter "
                "groups instead, e.g. [{'params': model.parameters(), 'lr': 0.1}]"
            )
        if _looks_like_parameter(params):
            raise TypeError(
                f"{type(self).__name__}: params is a single parameter; wrap it in a list, "
                f"e.g. {type(self).__name__}([w], ...)"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, e.g. a layer unfrozen while fine-tuning.

        Parameters
        ----------
        param_group : dict
            ``"params"`` (a parameter or an ordered iterable of them) and any
            hyper-parameters that differ from ``defaults``.

        Raises
        ------
        TypeError
            If the group is not a dict, its params are a set, or one is not a parameter.
        ValueError
            If a parameter appears twice, or a hyper-parameter is invalid.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a parameter group needs a 'params' entry")
        params = param_group["params"]
        _check_is_ordered(params, "param_group['params']")
        params = [params] if _looks_like_parameter(params) else list(params)
        # named_parameters() works as in PyTorch 2: the names are dropped (not stored)
        params = [p[1] if _is_named_parameter(p) else p for p in params]
        for position, p in enumerate(params):
            _check_is_parameter(p, position)

        group = {"params": params, **self.defaults}
        group.update((k, v) for k, v in param_group.items() if k != "params")
        self._check_hyperparameters(group, type(self).__name__)

        seen: dict[int, int] = {}  # id(parameter) -> position; ids, since == is elementwise
        for position, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(
                    f"a parameter group lists the same parameter twice "
                    f"(at positions {seen[id(p)]} and {position})"
                )
            seen[id(p)] = position
        for index, other in enumerate(self.param_groups):
            for p in other["params"]:
                if id(p) in seen:
                    raise ValueError(
                        f"the parameter at position {seen[id(p)]} of the new group is already "
                        f"in parameter group {index}; a parameter may be in one group only"
                    )
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        """Raise ValueError for an invalid option in ``group``; subclasses override.

        Run on the constructor's options, on every group added and on every group of a
        loaded state, so a checkpoint cannot hold what the constructor refuses.
        ``where`` starts the message: the class name, or the group being loaded.
        """

    # ------------------------------------------------------------------ updates
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients before the next ``backward()``.

        Gradients accumulate (``backward`` adds into ``.grad``), so call this once per
        training step.

        Parameters
        ----------
        set_to_none : bool, default True
            True sets ``p.grad = None`` (frees memory; the next step skips a parameter
            that gets no new gradient). False fills the existing arrays with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place.

        Calls :meth:`update_parameter` once per parameter whose ``grad`` is not None,
        in the order of ``param_groups``, with that parameter's group.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (needed by a few optimizers
            such as L-BFGS; accepted everywhere, as in PyTorch).

        Returns
        -------
        loss : object or None
            What the closure returned, or None without a closure.
        """
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue  # no gradient reached it: leave the parameter alone
                self.update_parameter(p.numpy(), checked_grad(p), self.state[p], group)
        return loss

    def update_parameter(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        """Update one parameter in place: the optimizer's maths; subclasses implement it.

        Parameters
        ----------
        param : ndarray
            The parameter's values (``p.numpy()``), changed in place.
        grad : ndarray
            Its gradient, of the same shape; only read, never changed.
        state : dict
            The parameter's own state (``self.state[p]``), empty before its first step.
        group : dict
            The hyper-parameters of the parameter's group (``"lr"``, ...).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement update_parameter()")

    def scratch(self, like: np.ndarray, slot: int = 0) -> np.ndarray:
        """A work array with the shape and dtype of ``like``; its contents are garbage.

        One flat buffer per (dtype, slot), grown to the largest parameter and reused
        by every later call, so :meth:`update_parameter` can compute with
        ``np.multiply(..., out=self.scratch(param))`` instead of allocating
        temporaries (a fresh 13 MB array costs page faults on every step). Use a
        different ``slot`` for each work array that must be alive at the same time.
        Not part of ``state``: it holds nothing between steps.
        """
        key = (like.dtype, slot)
        buffer = self._scratch.get(key)
        if buffer is None or buffer.size < like.size:
            buffer = self._scratch[key] = np.empty(like.size, dtype=like.dtype)
        return buffer[: like.size].reshape(like.shape)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state, with parameters replaced by their indices.

        Parameters are numbered 0, 1, 2, ... in the order of ``param_groups``, as in
        PyTorch; a model rebuilt in the same order maps back onto the same indices.
        Unlike PyTorch, the arrays are copies: later steps do not change a state_dict
        already taken.

        Returns
        -------
        dict
            ``{"state": {index: {name: array or number}},
            "param_groups": [{option: value, ..., "params": [indices]}],
            "optimizer": class name}``; the name lets :meth:`load_state_dict` refuse
            another optimizer's state.
        """
        index_of: dict[int, int] = {}  # id(parameter) -> index
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index_of[id(p)] = len(index_of)
                packed["params"].append(index_of[id(p)])
            groups.append(packed)
        state = {index_of[id(p)]: copy.deepcopy(s) for p, s in self.state.items() if s}
        return {"state": dict(sorted(state.items())), "param_groups": groups,
                "optimizer": type(self).__name__}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`, into this optimizer's parameters.

        Everything is checked before anything changes, so a failed load leaves the
        optimizer as it was. State arrays are copied and cast to their parameter's
        dtype; options saved in a group replace the group's current ones.

        Parameters
        ----------
        state_dict : dict
            As returned by :meth:`state_dict` (or
            :func:`tinymin.checkpoint.state_codec.unflatten_state_dict`).

        Raises
        ------
        ValueError
            If the state is another optimizer's (an Adam state loaded into SGD), if
            the number of groups, the number of parameters in a group, or the shape
            of a state array differs from this optimizer's, if a state array is not
            floating point, or if an option fails the constructor's checks (a
            negative or non-numeric ``lr``), naming the mismatch.
        """
        name = type(self).__name__
        keys = {"state", "param_groups"}
        if not isinstance(state_dict, Mapping) or not keys <= set(state_dict) <= keys | {"optimizer"}:
            found = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ValueError(
                f"{name}.load_state_dict: an optimizer state_dict has the keys 'state' and "
                f"'param_groups' (and 'optimizer', its name), got {found}"
            )
        check_state_dict_layout(state_dict, f"{name}.load_state_dict")
        self._check_same_optimizer(state_dict)
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, "
                f"but this optimizer has {len(self.param_groups)}"
            )
        # saved index -> (its parameter, a description for messages, its new group)
        where: dict[int, tuple[Any, str, dict[str, Any]]] = {}
        new_groups = []
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"parameter group {g}: loaded state dict has {len(saved['params'])} "
                    f"parameters, but this optimizer's group has {len(group['params'])}"
                )
            options = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            new_group = {**group, **options}
            self._check_hyperparameters(new_group, f"{name}.load_state_dict: parameter group {g}")
            new_groups.append(new_group)
            for position, (index, p) in enumerate(zip(saved["params"], group["params"])):
                if index in where:
                    raise ValueError(f"loaded state dict lists parameter index {index} twice")
                where[index] = (p, f"parameter {index} (group {g}, position {position})",
                                new_group)

        new_state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for index, saved_state in state_dict["state"].items():
            if index not in where:
                raise ValueError(
                    f"loaded state dict has state for parameter index {index!r}, "
                    "which no parameter group lists"
                )
            p, description, group = where[index]
            self._check_state_complete(saved_state, group, f"{name}.load_state_dict: {description}")
            new_state[p] = {
                key: _restore_state_value(value, p, f"{name}.load_state_dict: {description}: "
                                                    f"state {key!r}")
                for key, value in saved_state.items()
            }

        # Every check passed: now change the optimizer. The group dicts are updated in
        # place, so anything holding one (a scheduler) keeps seeing the live values.
        for group, new_group in zip(self.param_groups, new_groups):
            group.update(new_group)
        self.state = new_state

    def _state_keys(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        """The keys a parameter's state holds once it has taken a step (an optimizer
        whose update reads them overrides this; an empty state is a parameter that
        has not taken one)."""
        return ()

    def _check_state_complete(self, state: Mapping[str, Any], group: Mapping[str, Any],
                              where: str) -> None:
        """Refuse a saved state that would fail at the next step: keys missing, a
        buffer that is not an array, or a step count that is not a non-negative
        integer. (The arrays' shapes and dtypes: :func:`_restore_state_value`.)"""
        missing = [key for key in self._state_keys(group) if key not in state]
        if state and missing:
            raise ValueError(f"{where}: state lacks {missing} (it holds {sorted(state)})")
        for key in self._state_keys(group):
            if key != "step" and key in state and not isinstance(state[key], np.ndarray):
                raise ValueError(f"{where}: state {key!r} must be an array of the "
                                 f"parameter's shape, got {type(state[key]).__name__} "
                                 f"{state[key]!r}")
        step = state.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, np.integer))
                                 or step < 0):
            raise ValueError(f"{where}: state 'step' must be a non-negative integer, "
                             f"got {step!r}")

    def _check_same_optimizer(self, state_dict: Mapping[str, Any]) -> None:
        """Refuse another optimizer's state: its buffers mean something else (Adam's
        ``exp_avg`` is not SGD's ``momentum_buffer``). A state saved without its
        optimizer's name is judged by the options its groups hold."""
        name = type(self).__name__
        saved_name = state_dict.get("optimizer")
        if saved_name is not None and saved_name != name:
            raise ValueError(f"{name}.load_state_dict: the state was saved by {saved_name}, "
                             f"not {name}; load it into a {saved_name}")
        for g, group in enumerate(state_dict["param_groups"]):
            missing = sorted(set(self.defaults) - set(group))
            if missing:
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {g} lacks {name}'s options "
                    f"{missing} (it holds {sorted(set(group) - {'params'})}): the state is "
                    f"another optimizer's"
                )

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


# ---------------------------------------------------------------------- helpers
def checked_grad(p: ParameterLike) -> np.ndarray:
    """The numpy array of ``p.grad``, after checking it has the parameter's shape.

    Without this check numpy would broadcast a wrong-shaped gradient silently.
    """
    grad = p.grad.numpy()
    if grad.shape != p.shape:
        raise ValueError(
            f"a gradient of shape {grad.shape} does not match its parameter of shape {p.shape}"
        )
    return grad


def gradient_with_weight_decay(
    grad: np.ndarray, param: np.ndarray, weight_decay: float, maximize: bool, out: np.ndarray
) -> np.ndarray:
    r"""The gradient an update uses: :math:`g = \pm\nabla + \lambda\theta` (PyTorch's order).

    Negated when ``maximize``, plus the L2 term ``weight_decay * param`` when it is not
    zero. Written into ``out`` when anything changes; otherwise ``grad`` itself is
    returned (never changed: ``p.grad`` stays as backward left it).
    """
    if weight_decay == 0:
        return np.negative(grad, out=out) if maximize else grad
    np.multiply(param, weight_decay, out=out)
    if maximize:
        out -= grad
    else:
        out += grad
    return out


def _looks_like_parameter(obj: Any) -> bool:
    return callable(getattr(obj, "numpy", None)) and hasattr(obj, "grad")


def _check_is_parameter(p: Any, position: int) -> None:
    if not _looks_like_parameter(p):
        hint = ""
        if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
            hint = " (a (name, value) pair whose value is not a parameter)"
        raise TypeError(
            f"an optimizer can only optimize parameters (tensors: objects with a .numpy() "
            f"and a .grad), but the item at position {position} is a {type(p).__name__}{hint}"
        )
    if type(p).__hash__ is None:
        raise TypeError(
            f"the {type(p).__name__} at position {position} is unhashable, but optimizer "
            "state is a dict keyed by parameter; give the class __hash__ = object.__hash__"
        )
    if not getattr(p, "is_leaf", True):
        raise ValueError(
            f"the item at position {position} is not a leaf tensor (it was computed from "
            "other tensors); optimize the parameters it was computed from"
        )


def _check_is_ordered(params: Any, name: str) -> None:
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{name} must be an ordered collection (a list, tuple or generator), not a "
            f"{type(params).__name__}: a set's iteration order changes from run to run, "
            "and the order of the parameters numbers them in state_dict() and checkpoints"
        )


def _is_named_parameter(item: Any) -> bool:
    """A ``(name, parameter)`` pair, as ``Module.named_parameters()`` yields."""
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            and _looks_like_parameter(item[1]))


def _restore_state_value(value: Any, p: ParameterLike, description: str) -> Any:
    """A copy of a saved state value, checked against its parameter ``p``.

    An array must have the parameter's shape and a floating-point dtype; it is cast to
    the parameter's dtype, as PyTorch casts floating state. Integer, bool or complex
    buffers are refused here (PyTorch would cast them silently, dropping an imaginary
    part): no optimizer makes one, so such a state is corrupt.
    """
    if not isinstance(value, np.ndarray):
        return copy.deepcopy(value)
    if not np.issubdtype(value.dtype, np.floating):
        raise ValueError(f"{description} has dtype {value.dtype}, but optimizer state must "
                         f"be floating point (the parameter is {p.dtype})")
    if value.shape != p.shape:
        raise ValueError(
            f"{description} has shape {value.shape}, but the parameter has shape {p.shape}"
        )
    return value.astype(p.dtype, copy=True)  # state lives in the parameter's dtype
