"""The autograd graph, drawn: Graphviz DOT text from a tensor back to its leaves.

Every Tensor made by an operation remembers it in ``tensor.grad_fn``, a
:class:`~tinymin.autograd.Context` whose ``function`` is the :class:`~tinymin.autograd.Function`
class and whose ``inputs`` are the arguments it was called with. Following
``grad_fn.inputs`` from the output reaches every tensor the output was computed from;
:func:`to_dot` writes that walk down in the DOT language:

* tensors are boxes: the parameter's name when it has one, shape, dtype,
  ``requires_grad``, the value of a one-element tensor and, after ``backward``, the norm
  of ``.grad``;
* Functions are ovals, with an arrow from each input tensor and to the output;
* a min-conv Function is drawn as its two halves (Algorithm 1): "forward: approximate,
  Eq. 13" on the solid path and "backward: exact conv2d gradients x clip masks" on a
  dashed path that runs the other way, where the gradient flows.

DOT text needs nothing installed. :func:`draw_graph` renders it to PNG/SVG/PDF with the
``graphviz`` Python package and the Graphviz ``dot`` program when both are installed
(``pip install -e ".[graph]"`` and, for example, ``apt install graphviz``), and
otherwise writes the ``.dot`` file and says how to render it. :func:`show_graph` is
what the tutorial chapters call: a matplotlib figure of the rendered graph where
Graphviz exists, the DOT text printed where it does not.

Example
-------
>>> import tinymin as tm
>>> a = tm.tensor(2.0, requires_grad=True)
>>> y = a * a + 1
>>> print(to_dot(y).splitlines()[0])
digraph autograd {
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tinymin.checkpoint import write_bytes_atomic, write_text_atomic
from tinymin.tensor import Tensor

#: Functions drawn as two halves, because their forward and backward are different maps
#: (Algorithm 1: approximate forward, exact backward).
TWO_HALF_FUNCTIONS = {"MinConv2dFunction"}
FORWARD_HALF = "forward: approximate, Eq. 13"
BACKWARD_HALF = "backward: exact conv2d gradients x clip masks"

RENDERED_FORMATS = ("png", "svg", "pdf")
_INSTALL_HINT = ('pip install -e ".[graph]" (the graphviz package) and the Graphviz program '
                 "(apt install graphviz, brew install graphviz, or graphviz.org)")


# ------------------------------------------------------------------ the walk
def _graph_nodes(output: Tensor) -> tuple[list[Tensor], list[Any]]:
    """Every tensor and every graph node (Context) reachable from ``output``, in the
    order first met (so the DOT text, and the picture, are the same on every run)."""
    tensors: list[Tensor] = []
    contexts: list[Any] = []
    seen: set[int] = set()
    stack = [output]
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        tensors.append(tensor)
        if tensor.grad_fn is not None:
            contexts.append(tensor.grad_fn)
            stack.extend(reversed(_tensor_inputs(tensor.grad_fn)))
    return tensors, contexts


def _tensor_inputs(ctx: Any) -> list[Tensor]:
    """The Tensor arguments of one recorded call (plain values such as shapes are left out)."""
    return [a for a in ctx.inputs if isinstance(a, Tensor)]


def _parameter_names(params: Any) -> dict[int, str]:
    """``id(tensor) -> name`` from a Module, a mapping name -> tensor, or (name, tensor) pairs."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        pairs: Iterable = params.named_parameters()
    elif isinstance(params, Mapping):
        pairs = params.items()
    elif isinstance(params, Iterable) and not isinstance(params, (str, bytes, Tensor)):
        pairs = params
    else:
        raise TypeError(f"to_dot: params must be a Module, a mapping of names to Tensors or "
                        f"(name, Tensor) pairs, got a {type(params).__name__}")
    names = {}
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"to_dot: params must hold (name, Tensor) pairs, got {pair!r:.60}")
        name, tensor = pair
        if not isinstance(tensor, Tensor):
            raise TypeError(f"to_dot: params[{name!r}] is a {type(tensor).__name__}, not a Tensor")
        names[id(tensor)] = str(name)
    return names


# ------------------------------------------------------------------ labels
def _tensor_label(tensor: Tensor, name: str | None, grads: bool) -> str:
    lines = [name] if name else []
    lines.append(f"{tuple(tensor.shape)} {tensor.dtype}")
    if tensor.numel() == 1:
        lines.append(f"value {tensor.item():.4g}")
    if tensor.requires_grad:
        lines.append("requires_grad")
    if grads and tensor.grad is not None:
        lines.append(f"|grad| {float(np.linalg.norm(tensor.grad.numpy())):.4g}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    """A DOT string literal: quotes and backslashes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# ------------------------------------------------------------------ clusters
def _module_of_contexts(contexts: list[Any], outputs: dict[int, Tensor],
                        param_names: dict[int, str]) -> dict[int, str]:
    """``id(ctx) -> module name`` for the nodes that belong to one module's cluster.

    A graph keeps no record of modules, only of parameters, so the rule reads the
    parameters: a node belongs to module ``M`` when one of its inputs is a parameter of
    ``M`` (``"features.0.weight"`` belongs to ``"features.0"``) or was made from ``M``'s
    parameters alone (the reshaped weight of a batch norm). Operations between layers
    (activations, pooling, reshapes of activations) stay outside, as the arrows that
    join the clusters.
    """
    owner: dict[int, str] = {}  # id(tensor) -> module, for parameters and tensors made from them
    for tensor_id, name in param_names.items():
        if "." in name:
            owner[tensor_id] = name.rsplit(".", 1)[0]
    module_of: dict[int, str] = {}
    # contexts were met output-first; inputs are made before outputs, so walk them reversed
    for ctx in reversed(contexts):
        inputs = _tensor_inputs(ctx)
        modules = [owner[id(t)] for t in inputs if id(t) in owner]
        if not modules:
            continue
        module_of[id(ctx)] = modules[0]
        if all(owner.get(id(t)) == modules[0] for t in inputs):
            owner[id(outputs[id(ctx)])] = modules[0]
    return module_of


# ------------------------------------------------------------------ DOT text
def to_dot(output: Tensor, params: Any = None, grads: bool = True,
           group_by_module: bool = False) -> str:
    """Graphviz DOT text of the graph that computed ``output``, back to its leaves.

    Parameters
    ----------
    output : Tensor
        Where the walk starts, usually the loss.
    params : Module or mapping or iterable of (name, Tensor), optional
        Names for the parameter boxes (``model`` works: its ``named_parameters()``).
    grads : bool
        Show ``|grad|``, the Euclidean norm of ``.grad``, on tensors that have one (after
        ``backward``: the leaves, and tensors that called ``retain_grad()``).
    group_by_module : bool
        Draw one cluster per layer: the Functions that use a layer's parameters, with
        their outputs and the parameters, in a box named after the layer. Needs
        ``params`` with dotted names (a Module).

    Returns
    -------
    str
        The DOT text; render it with ``dot -Tpng graph.dot -o graph.png`` or
        :func:`draw_graph`.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(output).__name__}")
    if group_by_module and params is None:
        raise ValueError("to_dot: group_by_module=True needs params (a Module or named parameters)")
    param_names = _parameter_names(params)
    tensors, contexts = _graph_nodes(output)
    tensor_ids = {id(t): f"t{i}" for i, t in enumerate(tensors)}
    ctx_ids = {id(c): f"f{i}" for i, c in enumerate(contexts)}
    outputs = {id(t.grad_fn): t for t in tensors if t.grad_fn is not None}  # id(ctx) -> its output
    module_of = _module_of_contexts(contexts, outputs, param_names) if group_by_module else {}

    # Each statement goes to the cluster of its module ("" = the top level).
    body: dict[str, list[str]] = {"": []}

    def emit(module: str, line: str) -> None:
        body.setdefault(module, []).append(line)

    for tensor in tensors:
        name = param_names.get(id(tensor))
        module = module_of.get(id(tensor.grad_fn), "") if tensor.grad_fn is not None else ""
        if group_by_module and name and "." in name:
            module = name.rsplit(".", 1)[0]
        style = ', style=filled, fillcolor="#dbe8f5"' if name else ""
        if tensor is output:
            style = ', style=filled, fillcolor="#f5e6c8"'
        emit(module, f"{tensor_ids[id(tensor)]} [shape=box, label="
                     f"{_quote(_tensor_label(tensor, name, grads))}{style}];")

    edges: list[str] = []
    for tensor in tensors:
        ctx = tensor.grad_fn
        if ctx is None:
            continue
        node = ctx_ids[id(ctx)]
        inputs = [tensor_ids[id(t)] for t in _tensor_inputs(ctx)]
        module = module_of.get(id(ctx), "")
        out = tensor_ids[id(tensor)]
        if ctx.function.__name__ in TWO_HALF_FUNCTIONS:
            lines, half_edges = _two_halves(node, ctx, inputs, out)
            for line in lines:
                emit(module, line)
            edges.extend(half_edges)
            continue
        emit(module, f"{node} [shape=oval, label={_quote(ctx.function.__name__)}];")
        edges.extend(f"{src} -> {node};" for src in dict.fromkeys(inputs))
        edges.append(f"{node} -> {out};")

    lines = ["digraph autograd {", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    lines += [f"  {line}" for line in body[""]]
    kinds = {name: type(m).__name__ for name, m in params.named_modules()} \
        if hasattr(params, "named_modules") else {}
    order: dict[str, int] = {}  # clusters in the model's order (that of its parameters)
    for name in param_names.values():
        order.setdefault(name.rsplit(".", 1)[0], len(order))
    for i, module in enumerate(sorted((m for m in body if m), key=lambda m: (order.get(m, 0), m))):
        label = f"{module} ({kinds[module]})" if module in kinds else module
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_quote(label)}; style=rounded; color=gray50;")
        lines += [f"    {line}" for line in body[module]]
        lines.append("  }")
    lines += [f"  {edge}" for edge in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _two_halves(node: str, ctx: Any, inputs: list[str], out: str) -> tuple[list[str], list[str]]:
    """One min-conv node as a cluster of its two halves, and the edges through them."""
    name = ctx.function.__name__
    lines = [
        f"subgraph cluster_{node} {{",
        f"  label={_quote(name + ' (Algorithm 1)')}; style=dashed; color=gray40;",
        f'  {node}_fwd [shape=oval, label={_quote(FORWARD_HALF)}, style=filled, fillcolor="#fde2d4"];',
        f'  {node}_bwd [shape=oval, label={_quote(BACKWARD_HALF)}, style=filled, fillcolor="#d9f0d3"];',
        "}",
    ]
    edges = [f"{src} -> {node}_fwd;" for src in dict.fromkeys(inputs)]
    edges.append(f"{node}_fwd -> {out};")
    # the gradient runs the other way: from the output, through the exact half, to the inputs
    edges.append(f'{out} -> {node}_bwd [style=dashed, color=darkgreen, label="grad", constraint=false];')
    needs = [n for n, t in zip(inputs, _tensor_inputs(ctx)) if t.requires_grad]
    edges += [f"{node}_bwd -> {src} [style=dashed, color=darkgreen, constraint=false];"
              for src in dict.fromkeys(needs)]
    return lines, edges


# ------------------------------------------------------------------ rendering
def graphviz_available() -> bool:
    """True when the ``graphviz`` Python package and the ``dot`` program are both installed."""
    return importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None


def _render(dot_text: str, fmt: str) -> bytes:
    import graphviz

    return graphviz.Source(dot_text).pipe(format=fmt)


def draw_graph(output: Tensor, path: str | os.PathLike, params: Any = None, grads: bool = True,
               group_by_module: bool = False) -> Path:
    """Draw the graph of ``output`` to ``path`` (``.png``, ``.svg``, ``.pdf`` or ``.dot``).

    Renders with Graphviz when the ``graphviz`` package and the ``dot`` program are
    installed (``pip install -e ".[graph]"``); otherwise, and for a ``.dot`` path,
    writes the DOT text beside ``path`` and prints the command that renders it. The
    other arguments are those of :func:`to_dot`.

    Returns
    -------
    pathlib.Path
        The file written: ``path`` itself, or ``path`` with the suffix ``.dot``.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in RENDERED_FORMATS + ("dot",):
        raise ValueError(f"draw_graph: {path} must end in .png, .svg, .pdf or .dot")
    dot_text = to_dot(output, params=params, grads=grads, group_by_module=group_by_module)
    if fmt != "dot" and graphviz_available():
        return write_bytes_atomic(path, _render(dot_text, fmt))
    dot_path = write_text_atomic(path.with_suffix(".dot"), dot_text)
    if fmt != "dot":
        print(f"draw_graph: Graphviz is not installed, so wrote {dot_path}. To draw it, install "
              f"{_INSTALL_HINT}, then run: dot -T{fmt} {dot_path} -o {path}")
    return dot_path


def show_graph(output: Tensor, params: Any = None, grads: bool = True,
               group_by_module: bool = False, title: str | None = None):
    """Show the graph in the tutorials: a matplotlib figure of the rendered picture when
    Graphviz is installed, the DOT text printed when it is not.

    Returns the figure, or None when the DOT text was printed.
    """
    dot_text = to_dot(output, params=params, grads=grads, group_by_module=group_by_module)
    if not graphviz_available():
        print(f"// {title}\n{dot_text}" if title else dot_text)  # a DOT comment line
        return None
    import matplotlib.image
    import matplotlib.pyplot as plt

    image = matplotlib.image.imread(io.BytesIO(_render(dot_text, "png")), format="png")
    height, width = image.shape[:2]
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
