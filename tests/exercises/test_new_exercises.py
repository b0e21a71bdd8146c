"""The exercises of chapters 4 and 6-13: planted wrong answers fail with the case that
names their mistake (each exercise's cases can tell right from wrong)."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from tinymin import exercises
from tinymin.exercises import EXERCISES

pytest.importorskip("hypothesis")

SOLUTIONS = __import__("pathlib").Path(__file__).parent / "solutions"


def solution(name):
    from tinymin.exercises.checker import load_functions

    return load_functions(SOLUTIONS / f"{name}.py", EXERCISES[name].functions)


def first_failure(name, **wrong):
    functions = {**solution(name), **wrong}
    report = exercises.check(name, functions=functions)
    assert not report.passed, f"{name}: a wrong answer passed every case\n{report.format()}"
    return report.failures[0]


def test_every_chapter_ends_with_an_exercise():
    chapters = exercises.by_chapter()
    assert sorted(chapters) == list(range(1, 14))
    assert len(EXERCISES) >= 14
    assert [e.chapter for e in EXERCISES.values()] == sorted(e.chapter for e in EXERCISES.values())


def test_collate_wrong_answers():
    right = solution("collate")["default_collate"]

    def always_float(samples):
        batch = right(samples)
        if isinstance(batch, list):
            return [type(b)(b.numpy().astype(np.float32)) if hasattr(b, "numpy") else b for b in batch]
        return batch

    def unchecked(samples):
        first = samples[0]
        if isinstance(first, tuple):
            return [unchecked([s[i] for s in samples]) for i in range(len(first))]
        return right(samples)

    def tuples(samples):  # the structure of a sample kept, where PyTorch gives a list
        batch = right(samples)
        return tuple(batch) if isinstance(batch, list) else batch

    assert first_failure("collate", default_collate=always_float).case == "(image, label) pairs"
    failure = first_failure("collate", default_collate=unchecked)
    assert failure.case == "samples that differ raise ValueError"
    assert "a tuple of 2 and a tuple of 1" in failure.problem
    failure = first_failure("collate", default_collate=tuples)
    assert failure.case == "(image, label) pairs" and "expected a list of 2" in failure.problem


def test_relative_error_wrong_answers():
    def closed_form(x, w):
        x, w = np.broadcast_arrays(np.asarray(x, float), np.asarray(w, float))
        return np.abs(1 - 1 / np.maximum(np.abs(x), np.abs(w)))

    def warns(x, w):
        x, w = np.asarray(x, float), np.asarray(w, float)
        with np.errstate(all="warn"):
            return np.abs(x * w - np.sign(x * w) * np.minimum(abs(x), abs(w))) / np.abs(x * w)

    failure = first_failure("relative_error", elementwise_relative_error=closed_form)
    assert failure.case == "a zero operand: NaN, no warning" and "wrong values" in failure.problem
    failure = first_failure("relative_error", elementwise_relative_error=warns)
    assert failure.case == "a zero operand: NaN, no warning"
    assert "it warned: RuntimeWarning" in failure.problem


def test_train_epoch_wrong_answers():
    def training_loop(clear=True, train_mode=True, weighted=True):
        def train_epoch(model, optimizer, loader, loss_fn=None, progress=True, desc="train"):
            from tinymin.nn import functional as F

            loss_fn = loss_fn or F.cross_entropy
            if train_mode:
                model.train()
            losses, correct, seen = [], 0, 0
            for x, y in loader:
                if clear:
                    optimizer.zero_grad()
                logits = model(x)
                loss = loss_fn(logits, y)
                loss.backward()
                optimizer.step()
                losses.append((loss.item(), len(y)))
                correct += int((logits.argmax(dim=1) == y).sum())
                seen += len(y)
            mean = sum(l * n for l, n in losses) / seen if weighted else statistics.mean(l for l, _ in losses)
            return {"loss": mean, "accuracy": correct / seen}
        return train_epoch

    failure = first_failure("train_epoch", train_epoch=training_loop(clear=False))
    assert failure.case == "several batches (gradients cleared each step)"
    failure = first_failure("train_epoch", train_epoch=training_loop(weighted=False))
    assert failure.case == "a smaller last batch (mean over samples)" and failure.problem.startswith("loss")
    assert first_failure("train_epoch", train_epoch=training_loop(train_mode=False)).case == \
        "training mode (dropout)"


def test_kernel_timing_wrong_answers():
    import time

    def with_means(kernel, twin, args, repeats=5, clock=time.perf_counter):
        kernel(*args), twin(*args)
        times = {kernel: [], twin: []}
        for _ in range(repeats):
            for f in (kernel, twin):
                start = clock()
                f(*args)
                times[f].append(clock() - start)
        k, t = statistics.mean(times[kernel]), statistics.mean(times[twin])
        return {"kernel_seconds": k, "twin_seconds": t, "speedup": t / k, "max_abs_difference": 0.0}

    def timing_the_warm_up(kernel, twin, args, repeats=5, clock=time.perf_counter):
        times = {kernel: [], twin: []}
        for _ in range(repeats + 1):
            for f in (kernel, twin):
                start = clock()
                f(*args)
                times[f].append(clock() - start)
        k, t = statistics.median(times[kernel][1:]), statistics.median(times[twin][1:])
        return {"kernel_seconds": k, "twin_seconds": t, "speedup": t / k, "max_abs_difference": 0.0}

    assert first_failure("kernel_timing", compare_to_twin=with_means).case == "medians of the timed calls"
    failure = first_failure("kernel_timing", compare_to_twin=timing_the_warm_up)
    assert failure.case == "disagreeing answers raise ValueError"
    assert "returned instead of raising ValueError" in failure.problem


def test_operation_counts_wrong_answers():
    right = solution("operation_counts")["operation_counts"]

    def always_folded(model, input_shape, folded=True):
        return right(model, input_shape, True)

    def with_flatten_row(model, input_shape, folded=True):
        rows = right(model, input_shape, folded)
        return rows + [{"layer": "Flatten", "multiplications": 0, "comparisons": 0, "sign_flips": 0,
                        "additions": 0}]

    failure = first_failure("operation_counts", operation_counts=always_folded)
    assert failure.case == "min LeNet, not folded"
    assert failure.problem == "row '0: MinConv2d': multiplications 0, expected 4704"
    failure = first_failure("operation_counts", operation_counts=with_flatten_row)
    assert "no row for Flatten" in failure.problem


def test_selectors_wrong_answers():
    def unsigned_max(cols, w):
        return np.maximum(np.abs(cols)[:, None, :], np.abs(w)[None, :, :]).sum(axis=2)

    def adder_plus(cols, w):
        return np.abs(cols[:, None, :] - w[None, :, :]).sum(axis=2)

    assert first_failure("selector_gemms", max_gemm=unsigned_max).case == "max: signs and zeros"
    assert first_failure("selector_gemms", adder_gemm=adder_plus).case == "adder: one pair"


def test_gain_offset_wrong_answers():
    right = solution("gain_offset")["fit_gain_offset"]

    def always_per_channel(approx, target, per_channel=True):
        return right(approx, target, True)

    def zero_offset(approx, target, per_channel=True):
        gain, _ = right(approx, target, per_channel)
        return gain, np.zeros_like(gain)

    assert first_failure("gain_offset", fit_gain_offset=always_per_channel).case == \
        "one shared gain (per_channel=False)"
    failure = first_failure("gain_offset", fit_gain_offset=zero_offset)
    assert failure.case == "an exact affine relation is recovered" and failure.problem.startswith("offset")


def test_torch_clip_wrong_answers():
    torch = pytest.importorskip("torch")

    def through_numpy(a, mu, clip_value):
        if clip_value is None:
            return a, None
        bound = clip_value * float(mu.max())
        clipped = np.clip(a.detach().numpy(), -bound, bound)
        return torch.from_numpy(clipped), a.abs() <= bound

    def strict_mask(a, mu, clip_value):
        if clip_value is None:
            return a, None
        bound = (clip_value * mu).to(a.dtype)
        return torch.minimum(torch.maximum(a, -bound), bound), a.abs() < bound

    assert first_failure("torch_clip", step3_clip=through_numpy).case == "per-channel mu"
    assert first_failure("torch_clip", step3_clip=strict_mask).case == "values exactly on the bound"


def test_an_adam_step_that_changes_its_inputs_in_place_fails_with_that_reason():
    right = solution("adam")["adam_step"]

    def in_place(param, grad, m, v, step, *hyper):
        new_param, new_m, new_v = right(param, grad, m, v, step, *hyper)
        m[...], v[...] = new_m, new_v  # the docstring promises the inputs are left alone
        return new_param, new_m.copy(), new_v.copy()

    failure = first_failure("adam", adam_step=in_place)
    assert "adam_step changed its argument m in place" in failure.problem
