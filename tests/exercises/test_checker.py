"""The exercise checker: tinymin's own answers pass every case, and planted wrong
answers fail with the case that names their mistake; the command line's exit status."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tinymin import exercises
from tinymin.autograd import sum_to as tinymin_sum_to
from tinymin.exercises import checks
from tinymin.minconv import functional as minconv

pytest.importorskip("hypothesis")


def first_failure(name, functions):
    report = exercises.check(name, functions=functions)
    assert not report.passed, f"{name}: a wrong answer passed every case\n{report.format()}"
    return report.failures[0]


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_tinymin_own_answer_passes_every_case(name):
    report = exercises.check(name, functions=checks.reference_functions(name))
    assert report.passed, report.format()
    assert len(report.results) >= 5
    assert report.format().endswith(f"all {len(report.results)} cases pass")


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_every_template_loads_and_is_reported_as_not_written(name):
    report = exercises.check(name)
    assert [r.passed for r in report.results] == [False]  # stops after the first case
    assert "NotImplementedError" in report.failures[0].obtained
    assert "not written yet" in report.format()


# --------------------------------------------------------------------- sum_to
def sum_to_without_keepdims(grad, shape):
    out = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    return out.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1))


def sum_to_without_leading_axes(grad, shape):
    extra = grad.ndim - len(shape)
    stretched = tuple(extra + i for i, n in enumerate(shape) if n == 1)
    return grad.sum(axis=stretched, keepdims=True)


def test_sum_to_wrong_answers():
    failure = first_failure("sum_to", {"sum_to": sum_to_without_keepdims})
    assert failure.case == "stretched axes"
    assert failure.inputs["shape"] == (2, 1, 4)
    assert failure.expected.shape == (2, 1, 4) and np.shape(failure.obtained) == (2, 4)
    assert "keepdims=True" in failure.hint
    assert first_failure("sum_to", {"sum_to": sum_to_without_leading_axes}).case == "leading axes"


# ------------------------------------------------------------ matmul_backward
def matmul_backward_without_sum_to(a, b, grad):
    return grad @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ grad


def matmul_backward_with_dot_t(a, b, grad):
    return tuple(tinymin_sum_to(g, s.shape) for g, s in ((grad @ b.T, a), (a.T @ grad, b)))


def test_matmul_backward_wrong_answers():
    failure = first_failure("matmul_backward", {"matmul_backward": matmul_backward_without_sum_to})
    assert failure.case == "b broadcast over the batch"
    assert "grad_b: shape (5, 4, 2), expected (4, 2)" in failure.hint
    failure = first_failure("matmul_backward", {"matmul_backward": matmul_backward_with_dot_t})
    assert failure.case == "batched, same batch"
    assert failure.obtained.startswith("raised ValueError")


# ----------------------------------------------------------------------- adam
def adam_without_bias_correction(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * m / (np.sqrt(v) + eps), m, v


def adam_without_moving_average(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = (1 - beta1) * grad  # forgets beta1 * m
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def test_adam_wrong_answers():
    failure = first_failure("adam", {"adam_step": adam_without_bias_correction})
    assert failure.case == "first step"
    assert "param after step 1" in failure.hint
    failure = first_failure("adam", {"adam_step": adam_without_moving_average})
    assert failure.case == "ten steps (bias correction still matters)"
    assert "param after step 2" in failure.hint


# --------------------------------------------------------------------- im2col
def im2col_without_padding(x, kernel_size, stride=1, padding=0):
    return checks._ext.im2col(np.ascontiguousarray(x), kernel_size, stride, 0)


def im2col_channel_last(x, kernel_size, stride=1, padding=0):
    n, c = x.shape[:2]
    cols = checks._ext.im2col(np.ascontiguousarray(x), kernel_size, stride, padding)
    k = kernel_size
    return cols.reshape(-1, c, k, k).transpose(0, 2, 3, 1).reshape(cols.shape)


def im2col_ignoring_stride(x, kernel_size, stride=1, padding=0):
    return checks._ext.im2col(np.ascontiguousarray(x), kernel_size, 1, padding)


def test_im2col_wrong_answers():
    failure = first_failure("im2col", {"im2col": im2col_without_padding})
    assert failure.case == "padding 1" and failure.inputs["padding"] == 1
    assert first_failure("im2col", {"im2col": im2col_channel_last}).case == "several images and channels"
    assert first_failure("im2col", {"im2col": im2col_ignoring_stride}).case == "stride 2"


# ------------------------------------------------------------------- min_gemm
def min_gemm_without_sign(cols, w_hat):
    return np.minimum(np.abs(cols)[:, None, :], np.abs(w_hat)[None, :, :]).sum(axis=2)


def min_gemm_transposed(cols, w_hat):
    a, b = cols[None, :, :], w_hat[:, None, :]
    return (np.sign(a) * np.sign(b) * np.minimum(np.abs(a), np.abs(b))).sum(axis=2)


def test_min_gemm_wrong_answers():
    failure = first_failure("min_gemm", {"min_gemm": min_gemm_without_sign})
    assert failure.case == "negative operands (the sign)"
    assert failure.expected.tolist() == [[-3.0]] and failure.obtained.tolist() == [[5.0]]
    assert first_failure("min_gemm", {"min_gemm": min_gemm_transposed}).case == "several rows and filters"


# ----------------------------------------------------------- clip_and_rescale
def clip_answers(**wrong):
    answers = {"clip": minconv.step3_clip, "rescale": minconv.step4_rescale,
               "through_clip": minconv.step7_through_clip}
    answers.update(wrong)
    return answers


def test_clip_and_rescale_wrong_answers():
    def clip_in_raw_units(a, mu, clip_value):
        return np.clip(a, -clip_value, clip_value), np.abs(a) <= clip_value * mu

    def clip_strict_mask(a, mu, clip_value):
        return np.clip(a, -clip_value * mu, clip_value * mu), np.abs(a) < clip_value * mu

    failure = first_failure("clip_and_rescale", clip_answers(clip=clip_in_raw_units))
    assert failure.case == "step 3: clip x" and "a_c: wrong values" in failure.hint
    failure = first_failure("clip_and_rescale", clip_answers(clip=clip_strict_mask))
    assert failure.case == "step 3: values exactly on the bound"
    assert failure.hint.startswith("inside:")
    inverted = clip_answers(rescale=lambda w_c, mu_x, mu_w: w_c * mu_w / mu_x)
    failure = first_failure("clip_and_rescale", inverted)
    assert failure.case == "step 4: rescale"
    failure = first_failure("clip_and_rescale", clip_answers(through_clip=lambda grad, inside: grad))
    assert failure.case == "step 7: through the clip"


# ------------------------------------------------------------ the command line
def test_cli_list_and_path(capsys):
    assert exercises.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in exercises.EXERCISES)
    assert exercises.main(["path", "sum_to"]) == 0
    assert capsys.readouterr().out.strip() == str(exercises.EXERCISES["sum_to"].template)


def test_cli_check_exit_status(tmp_path, capsys):
    right = tmp_path / "right.py"
    right.write_text("from tinymin.autograd import sum_to\n")
    assert exercises.main(["check", "sum_to", "--file", str(right)]) == 0
    assert "all 7 cases pass" in capsys.readouterr().out
    wrong = tmp_path / "wrong.py"
    wrong.write_text(textwrap.dedent("""
        def sum_to(grad, shape):
            return grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    """))
    assert exercises.main(["check", "sum_to", "--file", str(wrong)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  stretched axes" in out and "expected:" in out and "obtained:" in out
    assert "hint:" in out
    assert exercises.main(["check", "sum_to", "--file", str(tmp_path / "missing.py")]) == 2
    assert "no file" in capsys.readouterr().out
    (tmp_path / "empty.py").write_text("x = 1\n")
    assert exercises.main(["check", "sum_to", "--file", str(tmp_path / "empty.py")]) == 2
    assert "defines no function sum_to" in capsys.readouterr().out


def test_python_m_tinymin_exercise_runs_and_exits_with_the_status(tmp_path):
    root = Path(__file__).parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    right = tmp_path / "my_min_gemm.py"
    right.write_text(textwrap.dedent("""
        import numpy as np

        def min_gemm(cols, w_hat):
            a, b = cols[:, None, :], w_hat[None, :, :]
            return (np.sign(a) * np.sign(b) * np.minimum(np.abs(a), np.abs(b))).sum(axis=2)
    """))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "tinymin", "exercise", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    passed = run("check", "min_gemm", "--file", str(right))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.strip().endswith("all 5 cases pass")
    template = run("check", "min_gemm")
    assert template.returncode == 1 and "not written yet" in template.stdout
    listed = run("list")
    assert listed.returncode == 0 and listed.stdout.startswith("sum_to ")
