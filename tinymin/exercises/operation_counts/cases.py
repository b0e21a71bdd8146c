"""The cases of ``operation_counts``, against ``tinymin.minconv.fold.operation_counts``."""

from __future__ import annotations

from typing import Any, Callable

from tinymin import nn
from tinymin.exercises.checker import Case, call, fail
from tinymin.exercises.common import strategies
from tinymin.minconv.fold import operation_counts

HINTS = {
    "exact LeNet": "the exact LeNet of chapter 8: convolutions, pools, ReLUs, linear layers",
    "min LeNet, folded": "its min twin, folded: no multiplication left in the min layers",
    "min LeNet, not folded": "unfolded, every min output is still scaled by mu_w",
    "stride, padding, a 2x3 kernel, average pooling": "output sizes with stride and padding",
    "pooling given as pairs": "a pool whose kernel, stride and padding are pairs",
    "random models (hypothesis)": "random stacks of conv, min conv, pool and ReLU layers",
}
COLUMNS = ("layer", "multiplications", "comparisons", "sign_flips", "additions")


def _lenet(conv) -> nn.Sequential:
    return nn.Sequential(conv(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), conv(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 10))


def _strided() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(2, stride=1),
                         nn.MinConv2d(4, 2, (2, 3), padding=(1, 0)), nn.Flatten(), nn.Linear(16, 3))


def _pairs() -> nn.Sequential:
    return nn.Sequential(nn.MinConv2d(2, 3, 3), nn.MaxPool2d((2, 3), stride=(1, 2), padding=1), nn.ReLU())


_FIXED: dict[str, tuple[Callable[[], nn.Sequential], tuple, bool]] = {
    "exact LeNet": (lambda: _lenet(nn.Conv2d), (1, 28, 28), True),
    "min LeNet, folded": (lambda: _lenet(nn.MinConv2d), (1, 28, 28), True),
    "min LeNet, not folded": (lambda: _lenet(nn.MinConv2d), (1, 28, 28), False),
    "stride, padding, a 2x3 kernel, average pooling": (_strided, (3, 9, 8), False),
    "pooling given as pairs": (_pairs, (2, 7, 9), True),
}


def _expect_rows(case: str, inputs: dict, expected: list[dict], obtained: Any) -> None:
    if not isinstance(obtained, list) or len(obtained) != len(expected):
        fail(case, inputs, f"a list of {len(expected)} rows", obtained,
             f"a {type(obtained).__name__} of {len(obtained) if hasattr(obtained, '__len__') else '?'} "
             f"rows, expected a list of {len(expected)} (no row for Flatten)", HINTS[case])
    for want, got in zip(expected, obtained):
        if not isinstance(got, dict):
            fail(case, inputs, want, got, f"a row is a {type(got).__name__}, not a dict", HINTS[case])
        for column in COLUMNS:
            if got.get(column) != want[column]:
                fail(case, inputs, want, got, f"row {want['layer']!r}: {column} {got.get(column)!r}, "
                     f"expected {want[column]!r}", HINTS[case])


def _test(case: str):
    def test(functions, drawn=None):
        build, input_shape, folded = drawn if drawn is not None else _FIXED[case]
        model = build()
        inputs = {"model": " -> ".join(type(layer).__name__ for layer in model), "input_shape": input_shape,
                  "folded": folded}
        obtained = call(case, HINTS[case], inputs, functions["operation_counts"], model, input_shape, folded)
        _expect_rows(case, inputs, operation_counts(model, input_shape, folded), obtained)
    return test


def _models(st, hnp):
    @st.composite
    def draw(data):
        channels, size = data(st.integers(1, 3)), data(st.integers(6, 10))
        layers, c, h = [], channels, size
        for _ in range(data(st.integers(1, 4))):
            kind = data(st.sampled_from(["conv", "min", "max", "avg", "relu"]))
            if kind in ("conv", "min"):
                k, stride, padding = data(st.integers(1, 3)), data(st.integers(1, 2)), data(st.integers(0, 1))
                if h + 2 * padding < k:
                    continue
                out = data(st.integers(1, 4))
                layers.append((nn.Conv2d if kind == "conv" else nn.MinConv2d, (c, out, k), dict(
                    stride=stride, padding=padding)))
                c, h = out, (h + 2 * padding - k) // stride + 1
            elif kind in ("max", "avg") and h >= 2:
                layers.append((nn.MaxPool2d if kind == "max" else nn.AvgPool2d, (2,), {}))
                h //= 2
            elif kind == "relu":
                layers.append((nn.ReLU, (), {}))
        return (lambda: nn.Sequential(*(cls(*args, **kw) for cls, args, kw in layers))), \
            (channels, size, size), data(st.booleans())
    return draw()


def cases() -> list[Case]:
    """LeNet both ways, strides, paddings and pools, then random stacks."""
    st, hnp = strategies()
    found = [Case(name, _test(name), HINTS[name]) for name in _FIXED]
    found.append(Case("random models (hypothesis)", _test("random models (hypothesis)"),
                      HINTS["random models (hypothesis)"], strategy=_models(st, hnp), max_examples=30))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"operation_counts": operation_counts}
