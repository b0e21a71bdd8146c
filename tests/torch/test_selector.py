"""Step 5's registered operator (tinymin/torch/selector.py): every implementation computes
the unfold reference's sums, and torch sees an ordinary op (``torch.library.opcheck``)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch engine needs the optional extra: "
                            'pip install -e ".[torch]"')

from tinymin import _ext  # noqa: E402
from tinymin.torch import selector  # noqa: E402
from tinymin.torch.selector import unfolded_selector_conv2d  # noqa: E402

#: (x shape, w shape, stride, padding): odd sizes, stride and padding per axis
CASES = [((2, 3, 7, 6), (5, 3, 3, 2), (1, 1), (1, 1)),
         ((3, 2, 9, 5), (4, 2, 3, 3), (2, 1), (0, 2)),
         ((1, 4, 5, 5), (3, 4, 5, 5), (1, 1), (2, 2))]


def operands(x_shape, w_shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(x_shape, generator=g, dtype=dtype)
    w = torch.randn(w_shape, generator=g, dtype=dtype) * 0.7
    return x, w, torch.rand(w_shape[0], generator=g, dtype=dtype) + 0.5


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("operator", ["min", "max", "adder"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_cpu_kernel_computes_the_reference_sums(case, operator, dtype, backend):
    x_shape, w_shape, stride, padding = CASES[case]
    x, w, scale = operands(x_shape, w_shape, dtype, seed=case)
    y = torch.ops.tinymin.selector_conv2d(x, w, scale, list(stride), list(padding), operator)
    expected = unfolded_selector_conv2d(x, w, scale, stride, padding, operator)
    assert y.dtype == dtype and y.shape == expected.shape
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.allclose(y, expected, rtol=tol, atol=tol * float(expected.abs().max()))


def test_the_cpu_path_runs_tinymins_kernel_on_the_tensors_memory(monkeypatch):
    x, w, scale = operands((2, 3, 6, 6), (4, 3, 3, 3), torch.float32)
    seen = {}
    real = selector.selector_conv

    def spy(x_np, w_rows, geom, operator, scale):
        seen["x"], seen["w"] = x_np, w_rows
        seen["out"] = real(x_np, w_rows, geom, operator, scale=scale)
        return seen["out"]

    monkeypatch.setattr(selector, "selector_conv", spy)
    monkeypatch.setattr(selector, "unfolded_selector_conv2d", None)  # the reference must not run
    y = torch.ops.tinymin.selector_conv2d(x, w, scale, [1, 1], [1, 1], "min")
    assert np.shares_memory(seen["x"], x.numpy()) and np.shares_memory(seen["w"], w.numpy())
    assert np.shares_memory(seen["out"], y.numpy())  # zero-copy out, too


def test_other_dtypes_take_the_reference_path():
    x, w, scale = operands((2, 2, 5, 5), (3, 2, 3, 3), torch.float64)
    x16, w16, s16 = x.to(torch.bfloat16), w.to(torch.bfloat16), scale.to(torch.bfloat16)
    y = torch.ops.tinymin.selector_conv2d(x16, w16, s16, [1, 1], [1, 1], "min")
    assert y.dtype == torch.bfloat16
    expected = unfolded_selector_conv2d(x16.double(), w16.double(), s16.double(), (1, 1), (1, 1))
    assert torch.allclose(y.double(), expected, rtol=0.05, atol=0.05 * float(expected.abs().max()))


def test_the_kernels_use_torchs_thread_count(monkeypatch):
    x, w, scale = operands((2, 2, 5, 5), (3, 2, 3, 3), torch.float32)
    counts = []
    real = selector.selector_conv

    def spy(*args, **kwargs):
        counts.append(_ext.num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(selector, "selector_conv", spy)
    before, tinymin_threads = torch.get_num_threads(), _ext.num_threads()
    torchs = tinymin_threads + 1  # not tinymin's own count, so the test can fail
    torch.set_num_threads(torchs)
    try:
        torch.ops.tinymin.selector_conv2d(x, w, scale, [1, 1], [0, 0], "min")
    finally:
        torch.set_num_threads(before)
    assert counts == [torchs] and _ext.num_threads() == tinymin_threads


def test_kernel_threads_sets_and_restores_the_kernels_thread_count():
    before = _ext.num_threads()
    with _ext.kernel_threads(3) as n:
        assert n == 3 and _ext.num_threads() == 3
    assert _ext.num_threads() == before
    with pytest.raises(ValueError, match="kernel_threads"):
        with _ext.kernel_threads(0):
            pass


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16],
                         ids=["float64", "float32", "bfloat16"])  # bfloat16: the reference path
@pytest.mark.parametrize("operator", ["min", "adder"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_torch_sees_an_ordinary_operator(operator, dtype, layout):
    x, w, scale = operands((2, 3, 6, 5), (4, 3, 3, 3), torch.float64)
    x, w, scale = x.to(dtype), w.to(dtype), scale.to(dtype)
    if layout == "transposed":  # the same values, not C-contiguous
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    torch.library.opcheck(torch.ops.tinymin.selector_conv2d.default,
                          (x, w, scale, [1, 2], [1, 0], operator))


def test_the_checked_entry_names_bad_shapes_and_operators():
    x, w, scale = operands((2, 3, 6, 6), (4, 3, 3, 3), torch.float32)
    with pytest.raises(ValueError, match="operator"):
        selector.selector_conv2d_checked(x, w, scale, (1, 1), (0, 0), "mul")
    with pytest.raises(ValueError, match=r"input \(2, 3, 6, 6\) and weight \(4, 2, 3, 3\)"):
        selector.selector_conv2d_checked(x, w[:, :2], scale, (1, 1), (0, 0))
    with pytest.raises(ValueError, match="larger than the padded input"):
        selector.selector_conv2d_checked(x[..., :2, :2], w, scale, (1, 1), (0, 0))


# The Triton kernel, in Triton's interpreter on CPU tensors. The interpreter is chosen
# when triton kernels are defined, so the check runs in a fresh process with
# TRITON_INTERPRET=1. Tiles of 8 rows x 2 filters leave ragged edges on both axes.
_TRITON_CHECK = textwrap.dedent("""
    import os
    import torch
    from tinymin.torch import triton_selector
    from tinymin.torch.selector import unfolded_selector_conv2d
    DEVICE = os.environ["CHECK_DEVICE"]  # cpu in the interpreter, cuda on a GPU
    cases = [((2, 2, 5, 4), (3, 2, 3, 2), (1, 1), (1, 1), "min", torch.float64),
             ((1, 3, 6, 5), (5, 3, 2, 3), (2, 1), (0, 2), "min", torch.float32),
             ((2, 1, 4, 4), (3, 1, 3, 3), (1, 2), (1, 1), "max", torch.float64),
             ((1, 2, 4, 5), (3, 2, 2, 2), (1, 1), (1, 0), "adder", torch.float64)]
    g = torch.Generator().manual_seed(0)
    for x_shape, w_shape, stride, padding, operator, dtype in cases:
        x = torch.randn(x_shape, generator=g, dtype=dtype).to(DEVICE)
        w = (torch.randn(w_shape, generator=g, dtype=dtype) * 0.7).to(DEVICE)
        scale = (torch.rand(w_shape[0], generator=g, dtype=dtype) + 0.5).to(DEVICE)
        y = triton_selector.selector_conv2d(x, w, scale, stride, padding, operator,
                                            block_p=8, block_c=2)
        expected = unfolded_selector_conv2d(x, w, scale, stride, padding, operator)
        assert y.shape == expected.shape, (y.shape, expected.shape)
        error = float((y - expected).abs().max() / expected.abs().max())
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        assert error <= tol, (operator, dtype, error)
        print("ok", operator, dtype, error)
    # NaN: Triton's minimum and maximum drop it, the kernel must not
    for operator in ("min", "max", "adder"):
        x = torch.randn((2, 2, 5, 4), generator=g, dtype=torch.float64)
        w = torch.randn((5, 2, 3, 2), generator=g, dtype=torch.float64)
        x[1, 0, 2, 1] = float("nan")
        w[3, 1, 0, 1] = float("nan")
        x, w = x.to(DEVICE), w.to(DEVICE)
        scale = torch.ones(5, dtype=torch.float64, device=DEVICE)
        y = triton_selector.selector_conv2d(x, w, scale, (1, 1), (1, 1), operator,
                                            block_p=8, block_c=2)
        expected = unfolded_selector_conv2d(x, w, scale, (1, 1), (1, 1), operator)
        assert expected.isnan().any() and not expected.isnan().all(), operator
        assert torch.equal(y.isnan(), expected.isnan()), operator
        assert torch.allclose(y, expected, rtol=1e-12, atol=0, equal_nan=True), operator
        print("ok nan", operator)
    try:
        triton_selector.selector_conv2d(x, w, scale, (1, 1), (1, 1), "min", block_p=48)
    except ValueError as exc:
        assert "block_p must be a power of two, got 48" in str(exc), exc
        print("ok block")
""")


def run_triton_check(device: str, interpret: bool) -> None:
    pytest.importorskip("triton", reason="the fused GPU kernel needs the optional gpu extra: "
                        'pip install -e ".[gpu]"')
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, CHECK_DEVICE=device,
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    env.pop("TRITON_INTERPRET", None)
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    result = subprocess.run([sys.executable, "-c", _TRITON_CHECK], env=env, cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok") == 4 + 3 + 1, result.stdout


def test_the_triton_kernel_computes_the_reference_sums_in_the_interpreter():
    run_triton_check("cpu", interpret=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_the_triton_kernel_computes_the_reference_sums_on_a_gpu():
    """The same check compiled for the GPU (no interpreter): NaN, ragged tiles, both dtypes."""
    run_triton_check("cuda", interpret=False)


def test_the_torch_engines_min_conv_runs_step_5_through_the_operator(monkeypatch):
    from tinymin.torch import min_conv2d

    calls = []
    real = selector.selector_conv

    def spy(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(selector, "selector_conv", spy)
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    min_conv2d(x, w).sum().backward()  # the exact backward needs no selector
    assert calls == ["min"] and x.grad is not None and w.grad is not None


def test_the_operator_itself_checks_before_any_kernel_runs():
    x, w, scale = operands((2, 3, 6, 6), (4, 3, 3, 3), torch.float32)
    op = torch.ops.tinymin.selector_conv2d
    with pytest.raises(ValueError, match=r"input \(2, 3, 6, 6\) and weight \(4, 2, 3, 3\)"):
        op(x, w[:, :2].contiguous(), scale, [1, 1], [0, 0], "min")
    with pytest.raises(ValueError, match="scale shape"):
        op(x, w, scale[:2].contiguous(), [1, 1], [0, 0], "min")
    with pytest.raises(ValueError, match="stride"):
        op(x, w, scale, [0, 1], [0, 0], "min")
    with pytest.raises(ValueError, match="operator"):
        op(x, w, scale, [1, 1], [0, 0], "mul")


def test_the_reference_returns_the_inputs_dtype_whatever_the_scales_dtype():
    """As the fake implementation promises (torch.compile compares the two): the
    reference used to return the scale's dtype where it was wider than the input's."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn((1, 2, 4, 4), generator=g).to(torch.bfloat16)
    w = torch.randn((3, 2, 3, 3), generator=g).to(torch.bfloat16)
    y = selector.unfolded_selector_conv2d(x, w, torch.ones(3), (1, 1), (0, 0))
    assert y.dtype == torch.bfloat16 and y.shape == (1, 3, 2, 2)
