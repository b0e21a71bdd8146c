"""tinymin.viz.to_dot / draw_graph: the DOT text names what the graph holds, before and
after backward; min-conv shows Algorithm 1's two halves; module clusters; rendering and
the fallback without Graphviz."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinymin as tm
from tinymin import nn
from tinymin.viz import draw_graph, to_dot
from tinymin.viz import graph as graph_module

NODE = re.compile(r'^\s*(\w+) \[shape=(\w+), label="((?:[^"\\]|\\.)*)"', re.MULTILINE)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)( \[[^\]]*\])?;", re.MULTILINE)


def parse(dot: str):
    """``{id: (shape, label lines)}`` and the list of ``(src, dst, attributes)`` edges."""
    nodes = {m[1]: (m[2], m[3].split("\\n")) for m in NODE.finditer(dot)}
    edges = [(m[1], m[2], m[3] or "") for m in EDGE.finditer(dot)]
    return nodes, edges


def node_with(nodes, first_line):
    matches = [key for key, (_, lines) in nodes.items() if lines[0] == first_line]
    assert len(matches) == 1, f"{first_line!r}: {matches} in {nodes}"
    return matches[0]


def small_expression():
    a = tm.tensor(2.0, requires_grad=True)
    b = tm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (a * b + b).sum()
    return a, b, y


def test_small_expression_boxes_ovals_and_edges():
    a, b, y = small_expression()
    nodes, edges = parse(to_dot(y, params={"a": a, "b": b}))
    ops = sorted(lines[0] for shape, lines in nodes.values() if shape == "oval")
    assert [op.removesuffix("Function") for op in ops] == ["Add", "Mul", "Sum"]
    assert len([n for n in nodes.values() if n[0] == "box"]) == 5  # a, b, a*b, a*b+b, y
    na, nb = node_with(nodes, "a"), node_with(nodes, "b")
    assert nodes[na][1][1:] == ["() float32", "value 2", "requires_grad"]
    assert nodes[nb][1][1:] == ["(3,) float32", "requires_grad"]
    # b feeds both Mul and Add; each edge is drawn once
    targets = sorted(nodes[dst][1][0] for src, dst, _ in edges if src == nb)
    assert [t.removesuffix("Function") for t in targets] == ["Add", "Mul"]
    assert len(edges) == len(set(edges))
    out = [key for key, (_, lines) in nodes.items() if "value 18" in lines]
    assert len(out) == 1  # (2*[1,2,3] + [1,2,3]).sum() = 18


def test_gradient_norms_appear_after_backward_only():
    a, b, y = small_expression()
    before = to_dot(y, params={"a": a, "b": b})
    assert "|grad|" not in before
    y.backward()
    nodes, _ = parse(to_dot(y, params={"a": a, "b": b}))
    assert nodes[node_with(nodes, "a")][1][-1] == "|grad| 6"  # dy/da = sum(b) = 6
    assert nodes[node_with(nodes, "b")][1][-1] == f"|grad| {np.sqrt(3 * 9):.4g}"  # a + 1 = 3 each
    nodes, _ = parse(to_dot(y, params={"a": a, "b": b}, grads=False))
    assert all("|grad|" not in line for _, lines in nodes.values() for line in lines)


def test_graph_still_drawn_after_a_second_backward_and_the_same_text_twice():
    a, b, y = small_expression()
    y.backward()
    first = to_dot(y)
    assert first == to_dot(y)  # deterministic: node ids follow the walk
    a.grad = b.grad = None
    loss = (a * b).sum()
    loss.backward()
    assert "|grad| 6" in to_dot(loss, params=[("a", a), ("b", b)])


def test_deep_graph_has_no_recursion_limit():
    x = tm.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y + 1
    nodes, edges = parse(to_dot(y))
    assert len(nodes) == 3001 + 3000 and len(edges) == 2 * 3000


def test_min_conv_is_drawn_as_its_two_halves():
    tm.manual_seed(0)
    layer = nn.MinConv2d(1, 2, 3)
    x = tm.tensor(np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32))
    y = layer(x).sum()
    y.backward()
    dot = to_dot(y, params=layer)
    nodes, edges = parse(dot)
    fwd = node_with(nodes, graph_module.FORWARD_HALF)
    bwd = node_with(nodes, graph_module.BACKWARD_HALF)
    weight, bias = node_with(nodes, "weight"), node_with(nodes, "bias")
    image = [k for k, (_, lines) in nodes.items() if lines == ["(2, 1, 5, 5) float32"]][0]
    conv_out = [k for k, (_, lines) in nodes.items() if lines[0] == "(2, 2, 3, 3) float32"][0]
    solid = {(s, d) for s, d, attrs in edges if "dashed" not in attrs}
    dashed = {(s, d) for s, d, attrs in edges if "dashed" in attrs}
    assert {(image, fwd), (weight, fwd), (bias, fwd), (fwd, conv_out)} <= solid
    # the gradient's path: output -> exact backward -> the inputs that need a gradient
    assert dashed == {(conv_out, bwd), (bwd, weight), (bwd, bias)}
    assert "MinConv2d" in dot and "Algorithm 1" in dot


def test_group_by_module_draws_one_cluster_per_layer():
    tm.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 3))
    x = tm.tensor(np.random.default_rng(1).standard_normal((2, 1, 5, 5)).astype(np.float32))
    y = model(x).sum()
    dot = to_dot(y, params=model, group_by_module=True)
    clusters = re.findall(r'subgraph cluster_\d+ \{\n\s*label="([^"]*)";(.*?)\n  \}', dot, re.DOTALL)
    labels = [label for label, _ in clusters]
    assert labels == ["0 (Conv2d)", "1 (BatchNorm2d)", "4 (Linear)"]
    body = dict(clusters)
    assert "0.weight" in body["0 (Conv2d)"] and "Conv2d" in body["0 (Conv2d)"]
    assert "1.weight" in body["1 (BatchNorm2d)"] and "Reshape" in body["1 (BatchNorm2d)"]
    assert "4.bias" in body["4 (Linear)"] and "Linear" in body["4 (Linear)"]
    # the activation between layers stays outside every cluster
    assert all("ReLU" not in text for text in body.values()) and "ReLU" in dot
    # without grouping: no clusters at all
    assert "subgraph" not in to_dot(y, params=model)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="to_dot: expected a Tensor"):
        to_dot(np.ones(3))
    _, _, y = small_expression()
    with pytest.raises(ValueError, match="group_by_module=True needs params"):
        to_dot(y, group_by_module=True)
    with pytest.raises(TypeError, match=r"params\['w'\] is a ndarray"):
        to_dot(y, params={"w": np.ones(3)})
    with pytest.raises(ValueError, match=r"must end in \.png, \.svg, \.pdf or \.dot"):
        draw_graph(y, "graph.jpeg")


def test_draw_graph_without_graphviz_writes_dot_and_says_how(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(graph_module, "graphviz_available", lambda: False)
    _, _, y = small_expression()
    written = draw_graph(y, tmp_path / "g.png")
    assert written == tmp_path / "g.dot"
    assert written.read_text() == to_dot(y)
    message = capsys.readouterr().out
    assert f"dot -Tpng {written} -o {tmp_path / 'g.png'}" in message
    assert not (tmp_path / "g.png").exists()
    # asking for .dot writes it quietly
    assert draw_graph(y, tmp_path / "h.dot") == tmp_path / "h.dot"
    assert capsys.readouterr().out == ""


def test_draw_graph_with_graphviz_writes_the_rendered_bytes(tmp_path, monkeypatch):
    calls = []

    def fake_render(dot_text, fmt):
        calls.append((dot_text, fmt))
        return b"<svg>drawn</svg>"

    monkeypatch.setattr(graph_module, "graphviz_available", lambda: True)
    monkeypatch.setattr(graph_module, "_render", fake_render)
    _, _, y = small_expression()
    written = draw_graph(y, tmp_path / "sub" / "g.svg")
    assert written == tmp_path / "sub" / "g.svg"
    assert written.read_bytes() == b"<svg>drawn</svg>"
    assert calls == [(to_dot(y), "svg")]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["g.svg"]  # no temp file left


@pytest.mark.skipif(not graph_module.graphviz_available(), reason="Graphviz is not installed")
def test_real_graphviz_renders_a_png(tmp_path):
    _, _, y = small_expression()
    written = draw_graph(y, tmp_path / "g.png")
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_graph_prints_dot_text_without_graphviz(monkeypatch, capsys):
    monkeypatch.setattr(graph_module, "graphviz_available", lambda: False)
    _, _, y = small_expression()
    assert graph_module.show_graph(y) is None
    assert capsys.readouterr().out == to_dot(y) + "\n"


def test_clusters_follow_the_model_order():
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(11)])
    y = model(tm.ones(1, 2)).sum()
    labels = re.findall(r'label="(\d+) \(Linear\)"', to_dot(y, params=model, group_by_module=True))
    assert labels == [str(i) for i in range(11)]  # "10" after "9", not after "1"
