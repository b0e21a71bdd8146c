"""tinymin's kernel layer: im2col, col2im, the selector GEMMs, the fused convolution
kernels, the weight gradient, the leaky ReLU's backward and Adam's update, twice.

Every function here exists in two backends with the same signature:

* ``"cython"``: the compiled kernels in ``_im2col.pyx``, ``_min_gemm.pyx``, ``_fused.pyx``,
  ``_selector_gemm.pyx``, ``_conv_grad.pyx``, ``_activation.pyx`` and ``_optim.pyx`` (OpenMP-parallel,
  vectorised), built by ``pip install -e .``;
* ``"numpy"``: the readable twins in :mod:`tinymin._ext.reference`, for learners and
  debuggers, and the fallback when the extension is not built.

The backend comes from the environment variable ``TINYMIN_BACKEND=numpy|cython``
(default: ``cython`` when built), and can be changed at run time with
:func:`set_backend` or, for a block of code, ``with use_backend("numpy"): ...``.

The functions below are thin wrappers: they check every argument *before* any kernel
runs (a kernel trusts its input), turn int arguments into pairs, and dispatch.
Wrong shapes or values raise ``ValueError``, wrong dtypes ``TypeError``; every
message starts with the function's name. Non-contiguous arrays are refused, never
silently copied (a copy of a 40 MB column matrix is a cost you should see): call
``np.ascontiguousarray`` first.

Layout, for ``x`` of shape (N, C, H, W), kernel (KH, KW), stride (SH, SW), zero
padding (PH, PW), ``OH, OW = conv_output_shape(H, W, ...)``::

    cols[(n*OH + i)*OW + j, (c*KH + u)*KW + v] = x[n, c, i*SH - PH + u, j*SW - PW + v]

so that ``im2col(x, ...) @ weight.reshape(C_out, -1).T`` is the convolution
(cross-correlation with zero padding, PyTorch semantics), in rows ordered
(n, i, j).
"""

from __future__ import annotations

# First, before numpy loads OpenBLAS: threads.py sets the BLAS/OpenMP environment.
from tinymin._ext.threads import kernel_threads, num_threads, set_num_threads  # isort: skip

import contextlib
import importlib
import os
import warnings
from collections.abc import Iterator
from numbers import Integral

import numpy as np

from tinymin import overrides
from tinymin._ext import reference
from tinymin._ext.checks import (  # the checks run before any kernel
    _array,
    _check_out,
    _fused_checks,
    _geometry,
    _is_fortran,
    _leaky_relu_checks,
    _weight_grad_checks,
    _weight_grad_of_input_checks,
    check_array_size,
)

__all__ = [
    "HAVE_CYTHON",
    "KernelFallbackWarning",
    "adam_update",
    "adder_gemm",
    "backend",
    "check_array_size",
    "col2im",
    "conv_output_shape",
    "conv_weight_grad",
    "conv_weight_grad_of_input",
    "has_fused_gemm",
    "im2col",
    "im2col_gemm",
    "im2col_min_gemm",
    "kernel_threads",
    "leaky_relu_backward",
    "max_gemm",
    "min_gemm",
    "num_threads",
    "set_backend",
    "set_num_threads",
    "use_backend",
]

_BACKENDS = ("cython", "numpy")


class KernelFallbackWarning(UserWarning):
    """The Cython kernels were asked for (or are the default) but are not built."""


try:
    _im2col = importlib.import_module("tinymin._ext._im2col")
    _min_gemm = importlib.import_module("tinymin._ext._min_gemm")
    _fused = importlib.import_module("tinymin._ext._fused")
    _selector_gemm = importlib.import_module("tinymin._ext._selector_gemm")
    _optim = importlib.import_module("tinymin._ext._optim")
    _activation = importlib.import_module("tinymin._ext._activation")
    _conv_grad = importlib.import_module("tinymin._ext._conv_grad")
except ImportError as _err:  # not built (source checkout), or built for another Python
    _im2col = _min_gemm = _fused = _selector_gemm = _optim = _activation = _conv_grad = None
    _WHY = (
        "are not built"
        if isinstance(_err, ModuleNotFoundError)
        else f"failed to load ({str(_err).splitlines()[0] if str(_err) else type(_err).__name__})"
    )
else:
    _WHY = ""
    try:  # step 4 of the thread policy (threads.py): a libgomp that torch loaded spins
        from tinymin._ext import threads as _threads
        from tinymin._ext._openmp import start_team as _start_team

        _threads.quiet_spinning_runtime(_start_team)
    except ImportError:  # built before _openmp.pyx existed: the kernels still work
        pass

#: True when the compiled Cython kernels could be imported.
HAVE_CYTHON: bool = all(module is not None for module in (_im2col, _selector_gemm, _optim, _activation,
                                                         _conv_grad))

_warned = False


def _warn_fallback() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"tinymin._ext: the Cython kernels {_WHY}; using the slower numpy backend. "
            "Build them with `pip install -e .` in the tinymin checkout.",
            KernelFallbackWarning,
            stacklevel=3,
        )


def _resolve(name: object, who: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in _BACKENDS:
        raise ValueError(f"{who}: backend must be one of {_BACKENDS}, got {name!r}")
    name = name.strip().lower()
    if name == "cython" and not HAVE_CYTHON:
        _warn_fallback()
        return "numpy"
    return name


def _initial_backend() -> str:
    env = os.environ.get("TINYMIN_BACKEND", "").strip()
    if not env:
        if not HAVE_CYTHON:
            _warn_fallback()
        return "cython" if HAVE_CYTHON else "numpy"
    try:
        return _resolve(env, "TINYMIN_BACKEND")
    except ValueError as err:  # a typo in the environment must not break `import tinymin`
        default = "cython" if HAVE_CYTHON else "numpy"
        warnings.warn(f"{err}; using {default!r}", KernelFallbackWarning, stacklevel=3)
        return default


_backend = _initial_backend()


def backend() -> str:
    """The backend now in use: ``"cython"`` or ``"numpy"``."""
    return _backend


def set_backend(name: str) -> None:
    """Use ``"cython"`` or ``"numpy"`` kernels from now on.

    Asking for ``"cython"`` when the extension is not built warns once and keeps
    numpy (the program goes on, only slower). Any other name raises ``ValueError``.
    """
    global _backend
    _backend = _resolve(name, "set_backend")


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Context manager: use backend ``name`` inside the ``with`` block, then restore.

    >>> from tinymin import _ext
    >>> with _ext.use_backend("numpy"):
    ...     _ext.backend()
    'numpy'
    """
    global _backend
    previous = _backend
    _backend = _resolve(name, "use_backend")
    try:
        yield _backend
    finally:
        _backend = previous


def _impl(module_name: str):
    """The module holding the current backend's version of a kernel family."""
    if _backend == "numpy":
        return reference
    return {"im2col": _im2col, "gemm": _selector_gemm, "optim": _optim,
            "activation": _activation}[module_name]


# ------------------------------------------------------------------- public API
def conv_output_shape(h: int, w: int, kernel_size, stride=(1, 1), padding=(0, 0)):
    """Spatial output size ``(OH, OW)`` of a convolution.

    ``OH = (h + 2*PH - KH) // SH + 1`` (same for the width). Raises ``ValueError``
    when the kernel does not fit in the padded input, or for a non-positive kernel or
    stride, or a negative padding.
    """
    return _geometry("conv_output_shape", h, w, kernel_size, stride, padding)[3]


def im2col(x, kernel_size, stride=(1, 1), padding=(0, 0), out=None) -> np.ndarray:
    """Unfold the receptive fields of ``x`` into the rows of a matrix.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64, C-contiguous
    kernel_size, stride, padding : int or (int, int)
        Kernel size and stride positive, padding (zeros) non-negative.
    out : ndarray, shape (N*OH*OW, C*KH*KW), optional
        Reuse this buffer (same dtype as ``x``, C-contiguous).

    Returns
    -------
    cols : ndarray, shape (N*OH*OW, C*KH*KW)
        ``cols[(n*OH + i)*OW + j, (c*KH + u)*KW + v] = x_padded[n, c, i*SH + u, j*SW + v]``.
    """
    who = "im2col"
    _array(x, who, "x", 4)
    n, c, h, w = x.shape
    kernel_size, stride, padding, (oh, ow) = _geometry(who, h, w, kernel_size, stride, padding)
    shape = (n * oh * ow, c * kernel_size[0] * kernel_size[1])
    if out is None:
        check_array_size(who, "a column matrix", shape, x.itemsize,
                         f"x of shape {x.shape} with kernel {kernel_size}, stride {stride}, "
                         f"padding {padding}")
    out = _check_out(out, who, shape, x.dtype, x)
    mine = overrides.lookup("im2col")
    if mine is not None:  # the learner's im2col (tinymin.exercises.use), on checked arguments
        return mine(x, kernel_size, stride, padding, out)
    return _impl("im2col").im2col(x, kernel_size, stride, padding, out)


def col2im(cols, x_shape, kernel_size, stride=(1, 1), padding=(0, 0)) -> np.ndarray:
    """Fold ``cols`` back to shape ``x_shape``, adding overlapping entries.

    The adjoint of :func:`im2col` (``<im2col(x), cols> == <x, col2im(cols)>``): the
    input gradient of a convolution computed through im2col. Entries that came from
    the padding are dropped.

    Parameters
    ----------
    cols : ndarray, shape (N*OH*OW, C*KH*KW), float32 or float64
        C-contiguous, or Fortran-contiguous (each column contiguous, as
        ``(w.T @ g.T).T`` gives it): the Cython kernel folds that layout about twice as
        fast, since each kernel offset's values are then contiguous rows to add.
    x_shape : (N, C, H, W)
    kernel_size, stride, padding : int or (int, int)

    Returns
    -------
    dx : ndarray, shape ``x_shape``, dtype of ``cols``
    """
    who = "col2im"
    _array(cols.T if _is_fortran(cols) else cols, who, "cols", 2)
    if (
        not isinstance(x_shape, (tuple, list))
        or len(x_shape) != 4
        or not all(isinstance(d, Integral) and not isinstance(d, bool) and d >= 0 for d in x_shape)
    ):
        raise ValueError(f"{who}: x_shape must be 4 non-negative ints (N, C, H, W), got {x_shape!r}")
    n, c, h, w = (int(d) for d in x_shape)
    kernel_size, stride, padding, (oh, ow) = _geometry(who, h, w, kernel_size, stride, padding)
    expected = (n * oh * ow, c * kernel_size[0] * kernel_size[1])
    if cols.shape != expected:
        raise ValueError(
            f"{who}: cols has shape {cols.shape}, but x_shape {(n, c, h, w)} with kernel "
            f"{kernel_size}, stride {stride}, padding {padding} needs {expected}"
        )
    check_array_size(who, "an output", (n, c, h + 2 * padding[0], w + 2 * padding[1]),
                     cols.itemsize, f"x_shape {(n, c, h, w)} with padding {padding}")
    return _impl("im2col").col2im(cols, (n, c, h, w), kernel_size, stride, padding)


def _gemm_checks(who: str, cols, w, wname: str, out):
    _array(cols, who, "cols", 2)
    _array(w, who, wname, 2)
    if cols.dtype != w.dtype:
        raise TypeError(
            f"{who}: cols is {cols.dtype} but {wname} is {w.dtype}; both must have the same dtype"
        )
    if cols.shape[1] != w.shape[1]:
        raise ValueError(
            f"{who}: K mismatch, cols has shape {cols.shape} (K = "
            f"{cols.shape[1]}) but {wname} has shape {w.shape} (K = {w.shape[1]})"
        )
    return _check_out(out, who, (cols.shape[0], w.shape[0]), cols.dtype, cols, w)


def min_gemm(cols, w_hat, out=None) -> np.ndarray:
    """Min-selector GEMM (Eq. 13, docs/guides/minconv_math.rst section 4): the approximate convolution's core.

    ``out[p, c] = sum_k m(cols[p, k], w_hat[c, k])`` with
    ``m(a, b) = sgn(a) sgn(b) min(|a|, |b|)``.

    Parameters
    ----------
    cols : ndarray, shape (P, K), float32 or float64, C-contiguous
    w_hat : ndarray, shape (C, K), same dtype, C-contiguous
    out : ndarray, shape (P, C), optional

    Returns
    -------
    out : ndarray, shape (P, C)
    """
    out = _gemm_checks("min_gemm", cols, w_hat, "w_hat", out)
    mine = overrides.lookup("min_gemm")
    if mine is not None:  # the learner's min_gemm (tinymin.exercises.use), on checked arguments
        return mine(cols, w_hat, out)
    return _impl("gemm").min_gemm(cols, w_hat, out)


def im2col_min_gemm(x, w_hat, kernel_size, stride=(1, 1), padding=(0, 0), cols=None,
                    out=None, nchw: bool = False, scale=None, bias=None) -> np.ndarray:
    """``min_gemm(im2col(x, kernel_size, stride, padding), w_hat)``, fused.

    The Cython kernel runs the min-selector on each block of output rows while its
    receptive fields are in the cache (read from ``x`` itself, or from a block
    unfolded into ``cols`` when that is given), so no column matrix goes through memory.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), float32 or float64, C-contiguous
    w_hat : ndarray, shape (C, C_in*KH*KW), same dtype, C-contiguous
    kernel_size, stride, padding : int or (int, int)
    cols : ndarray, shape (N*OH*OW, C_in*KH*KW), optional
        Receives ``im2col(x, ...)`` too (same dtype, C-contiguous).
    out : ndarray, shape (N*OH*OW, C) (or (N, C, OH, OW) with ``nchw``), optional
    nchw : bool
        Return (N, C, OH, OW), each block transposed while in the cache.
    scale : ndarray, shape (C,), optional
        With ``nchw``: channel c multiplied by ``scale[c]`` (Algorithm 1's mu_w).
    bias : ndarray, shape (C,), optional
        Added to channel c after the scale (rounded separately, as ``y * scale + bias``
        in numpy): Algorithm 1's step 5 in one call.
    """
    kernel_size, stride, padding, cols, out = _fused_checks(
        "im2col_min_gemm", x, w_hat, "w_hat", kernel_size, stride, padding, cols, out, nchw=nchw,
        per_channel=(("scale", scale), ("bias", bias)))
    module = reference if _backend == "numpy" else _fused
    return module.im2col_min_gemm(x, w_hat, kernel_size, stride, padding, cols, out, bool(nchw),
                                  scale, bias)


def has_fused_gemm() -> bool:
    """True when :func:`im2col_gemm` runs a fused Cython kernel (the backend is
    ``"cython"`` and the build has AVX-512DQ); else it is im2col followed by BLAS."""
    return _backend == "cython" and _min_gemm is not None and _min_gemm.HAS_VRANGE


def im2col_gemm(x, w, kernel_size, stride=(1, 1), padding=(0, 0), cols=None,
                out=None, bias=None, nchw: bool = False) -> np.ndarray:
    """``im2col(x, kernel_size, stride, padding) @ w.T``: the exact convolution's core.

    Fused where :func:`has_fused_gemm` says so: the kernel unfolds a block of output
    rows into a buffer that stays in the cache and multiplies it at once, as
    :func:`im2col_min_gemm` does with the min-selector. Elsewhere the numpy twin
    (im2col, then BLAS) runs. Parameters as in :func:`im2col_min_gemm`, with ``w``
    the (C, C_in*KH*KW) filters, and:

    bias : ndarray, shape (C,), optional
        Added to every output position (same dtype as ``x``, C-contiguous).
    nchw : bool
        Return the layer's output, shape (N, C, OH, OW) (``out`` must have that
        shape), instead of (N*OH*OW, C) rows: the kernel transposes each block while
        it is in the cache.
    """
    kernel_size, stride, padding, cols, out = _fused_checks(
        "im2col_gemm", x, w, "w", kernel_size, stride, padding, cols, out, nchw=nchw,
        per_channel=(("bias", bias),))
    module = _fused if has_fused_gemm() else reference
    return module.im2col_gemm(x, w, kernel_size, stride, padding, cols, out, bias, bool(nchw))


def max_gemm(cols, w, out=None) -> np.ndarray:
    """Max-selector GEMM: ``out[p, c] = sum_k sgn(a) sgn(b) max(|a|, |b|)``.

    ``a = cols[p, k]``, ``b = w[c, k]``. Shapes and dtypes as in :func:`min_gemm`.
    """
    out = _gemm_checks("max_gemm", cols, w, "w", out)
    mine = overrides.lookup("max_gemm")
    if mine is not None:  # the learner's max_gemm (tinymin.exercises.use), on checked arguments
        return mine(cols, w, out)
    return _impl("gemm").max_gemm(cols, w, out)


def adder_gemm(cols, w, out=None) -> np.ndarray:
    """AdderNet GEMM: ``out[p, c] = -sum_k |cols[p, k] - w[c, k]|``.

    Shapes and dtypes as in :func:`min_gemm`.
    """
    out = _gemm_checks("adder_gemm", cols, w, "w", out)
    mine = overrides.lookup("adder_gemm")
    if mine is not None:  # the learner's adder_gemm (tinymin.exercises.use), on checked arguments
        return mine(cols, w, out)
    return _impl("gemm").adder_gemm(cols, w, out)


def conv_weight_grad(cols, grad, out=None) -> np.ndarray:
    """A convolution's weight gradient ``G^T cols`` (C x K) from its NCHW output gradient.

    Parameters
    ----------
    cols : ndarray, shape (N*OH*OW, K)
        The forward's column matrix (row ``n * OH * OW + q``), float32 or float64,
        C-contiguous.
    grad : ndarray, shape (N, C, OH, OW)
        The output gradient, same dtype, C-contiguous.
    out : ndarray, shape (C, K), optional

    In an AVX-512 build (backend ``"cython"``) a kernel reads ``grad`` as it is; the
    numpy twin transposes it to P x C rows and calls BLAS.
    """
    out = _weight_grad_checks("conv_weight_grad", cols, grad, out)
    fast = _backend == "cython" and _conv_grad is not None and _conv_grad.HAS_WGRAD
    return (_conv_grad if fast else reference).conv_weight_grad(cols, grad, out)


def conv_weight_grad_of_input(x, grad, kernel_size, stride=(1, 1), padding=(0, 0),
                              out=None) -> np.ndarray:
    """``conv_weight_grad(im2col(x, kernel_size, stride, padding), grad)``, the weight
    gradient (C x K) of the convolution of ``x``, without the column matrix.

    In an AVX-512 build (backend ``"cython"``) the kernel reads the zero-padded ``x``
    itself, with the bits of :func:`conv_weight_grad`; the numpy twin builds the
    columns. ``grad``: the (N, C, OH, OW) output gradient, same dtype as ``x``."""
    kernel_size, stride, padding, out = _weight_grad_of_input_checks(
        "conv_weight_grad_of_input", x, grad, kernel_size, stride, padding, out)
    fast = _backend == "cython" and _conv_grad is not None and _conv_grad.HAS_WGRAD
    module = _conv_grad if fast else reference
    return module.conv_weight_grad_of_input(x, grad, kernel_size, stride, padding, out)


def leaky_relu_backward(y, grad, negative_slope: float, out=None) -> np.ndarray:
    """The leaky ReLU's input gradient: ``grad`` where ``y > 0``, else
    ``negative_slope * grad`` (``y``: the forward's output; ``0 <= negative_slope <= 1``,
    for which ``y > 0`` exactly where the input was).

    ``y``, ``grad`` (and ``out``, if given): one shape and dtype (float32 or float64),
    C-contiguous.
    """
    out = _leaky_relu_checks("leaky_relu_backward", y, grad, negative_slope, out)
    return _impl("activation").leaky_relu_backward(y, grad, float(negative_slope), out)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, beta1: float,
                beta2: float, step_size: float, sqrt_bias_correction2: float,
                eps: float) -> None:
    """One Adam step on one parameter, in place (:class:`tinymin.optim.Adam`'s maths).

    ``exp_avg = beta1 exp_avg + (1 - beta1) grad``, ``exp_avg_sq = beta2 exp_avg_sq +
    (1 - beta2) grad**2``, then ``param -= step_size * exp_avg / (sqrt(exp_avg_sq) /
    sqrt_bias_correction2 + eps)`` (with AMSGrad, ``max_exp_avg_sq`` keeps the running
    maximum of ``exp_avg_sq`` and replaces it in the last step).

    Parameters
    ----------
    param, grad, exp_avg, exp_avg_sq : ndarray
        One shape and one dtype (float32 or float64), C-contiguous. All but ``grad``
        are changed in place (and must be writeable and not overlap).
    max_exp_avg_sq : ndarray, optional
        Same shape and dtype; None without AMSGrad.
    beta1, beta2, step_size, sqrt_bias_correction2, eps : float
        ``step_size = lr / (1 - beta1**t)``, ``sqrt_bias_correction2 =
        sqrt(1 - beta2**t)`` at step ``t``.
    """
    who = "adam_update"
    arrays = {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
    if max_exp_avg_sq is not None:
        arrays["max_exp_avg_sq"] = max_exp_avg_sq
    for name, a in arrays.items():
        _array(a, who, name, np.ndim(param) if isinstance(param, np.ndarray) else 1)
        if a.dtype != param.dtype:
            raise TypeError(f"{who}: {name} is {a.dtype} but param is {param.dtype}")
        if a.shape != param.shape:
            raise ValueError(f"{who}: {name} has shape {a.shape}, but param has {param.shape}")
    written = [(name, a) for name, a in arrays.items() if name != "grad"]
    for index, (name, a) in enumerate(written):
        if not a.flags.writeable:
            raise ValueError(f"{who}: {name} is read-only")
        for other_name, other in written[index + 1:]:
            if np.may_share_memory(a, other):
                raise ValueError(f"{who}: {name} and {other_name} overlap")
    _impl("optim").adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, float(beta1),
                               float(beta2), float(step_size), float(sqrt_bias_correction2),
                               float(eps))
