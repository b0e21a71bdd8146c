"""The cases of ``train_epoch``, against ``tinymin.train.train_epoch`` on twin models."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import tinymin as tm
from tinymin import nn
from tinymin.data import DataLoader, TensorDataset
from tinymin.exercises.checker import Case, call, expect_close, fail
from tinymin.exercises.common import rng, strategies
from tinymin.nn import functional as F
from tinymin.train import train_epoch

HINTS = {
    "one batch": "one batch: forward, loss, backward, step",
    "several batches (gradients cleared each step)": "each step must use only its own batch's gradient",
    "a smaller last batch (mean over samples)": "10 samples in batches of 4: the last batch holds 2",
    "training mode (dropout)": "the model comes in eval mode and has a dropout layer",
    "the loss_fn argument": "a loss function other than the default",
    "random runs (hypothesis)": "random sizes, batch sizes, learning rates",
}


def _twin(seed: int, n: int, batch: int, dropout: bool) -> tuple[nn.Module, DataLoader]:
    """A small classifier and a loader of ``n`` random samples; the same for a given seed."""
    tm.manual_seed(seed)
    layers = [nn.Linear(4, 6), nn.ReLU()] + ([nn.Dropout(0.3)] if dropout else []) + [nn.Linear(6, 3)]
    generator = rng(seed)
    x = generator.standard_normal((n, 4)).astype(np.float32)
    y = generator.integers(0, 3, n)
    return nn.Sequential(*layers), DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=False)


def _double_cross_entropy(logits, y):
    return F.cross_entropy(logits, y) * 2.0


_FIXED = {
    "one batch": dict(seed=1, n=4, batch=4, dropout=False, lr=0.1),
    "several batches (gradients cleared each step)": dict(seed=2, n=12, batch=4, dropout=False, lr=0.1),
    "a smaller last batch (mean over samples)": dict(seed=3, n=10, batch=4, dropout=False, lr=0.1),
    "training mode (dropout)": dict(seed=4, n=8, batch=4, dropout=True, lr=0.1),
    "the loss_fn argument": dict(seed=5, n=8, batch=4, dropout=False, lr=0.1, loss_fn=_double_cross_entropy),
}


def _epoch(run: Callable, setting: dict[str, Any]) -> tuple[Any, nn.Module]:
    model, loader = _twin(setting["seed"], setting["n"], setting["batch"], setting["dropout"])
    optimizer = tm.optim.SGD(model.parameters(), lr=setting["lr"])
    if setting["dropout"]:
        model.eval()  # handed over in eval mode: train_epoch must switch dropout on
    tm.manual_seed(99)  # the same dropout masks for both runs
    result = run(model, optimizer, loader, setting.get("loss_fn", F.cross_entropy), progress=False)
    return result, model


def _test(case: str):
    def test(functions, drawn=None):
        setting = drawn if drawn is not None else _FIXED[case]
        inputs = {k: getattr(v, "__name__", v) for k, v in setting.items()}
        expected, tinymin_model = _epoch(train_epoch, setting)
        obtained, model = _epoch(lambda *a, **k: call(case, HINTS[case], inputs, functions["train_epoch"],
                                                      *a, **k), setting)
        if not isinstance(obtained, dict) or not {"loss", "accuracy"} <= set(obtained):
            fail(case, inputs, "a dict with loss and accuracy", obtained,
                 "return a dict {'loss': ..., 'accuracy': ...}", HINTS[case])
        for key in ("loss", "accuracy"):
            expect_close(case, HINTS[case], inputs, expected[key], _number(obtained[key]), rtol=1e-5,
                         atol=1e-7, what=key)
        if not model.training:
            fail(case, inputs, "training mode", "eval mode", "the model is still in eval mode", HINTS[case])
        for (name, want), got in zip(tinymin_model.named_parameters(), model.parameters()):
            expect_close(case, HINTS[case], inputs, want.data, got.data, rtol=1e-5, atol=1e-6,
                         what=f"{name} after the epoch")
    return test


def _number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and np.size(getattr(value, "data", value)) == 1 else value


def _runs(st, hnp):
    return st.fixed_dictionaries({
        "seed": st.integers(0, 1000), "n": st.integers(1, 9), "batch": st.integers(1, 5),
        "dropout": st.booleans(), "lr": st.sampled_from([0.01, 0.1, 0.5])})


def cases() -> list[Case]:
    """Fixed runs, then random ones."""
    st, hnp = strategies()
    found = [Case(name, _test(name), HINTS[name]) for name in _FIXED]
    found.append(Case("random runs (hypothesis)", _test("random runs (hypothesis)"),
                      HINTS["random runs (hypothesis)"], strategy=_runs(st, hnp), max_examples=15,
                      shrink=False))
    return found


def reference() -> dict[str, Callable]:
    """tinymin's own answer."""
    return {"train_epoch": train_epoch}
