"""Hypothesis strategies shared by the tests (imported as ``from strategies import ...``;
pyproject's ``pythonpath = ["tests"]`` makes this file importable from every test folder).

Each strategy draws the inputs of one family of tests: seeds for numpy generators, shapes
that broadcast, convolution geometries that fit, and the good and bad arguments the fuzz
tests throw at the public API. The exercise checker keeps its own strategies in
``tinymin/exercises/`` because it runs without the test suite.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

seeds = st.integers(0, 2**16)
"""A seed for ``np.random.default_rng``: hypothesis shrinks the seed, numpy draws the values."""

broadcast_pair = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
"""Two shapes (``.input_shapes``) that broadcast together, scalars included."""

conv_cases = st.tuples(
    st.integers(1, 2), st.integers(1, 3), st.integers(1, 3),  # n, c_in, c_out
    st.integers(1, 3), st.integers(1, 3),  # kh, kw
    st.integers(1, 2), st.integers(1, 2), st.integers(0, 2), st.integers(0, 2),  # stride, pad
    st.integers(0, 4), st.integers(0, 4),  # extra height/width
)
"""A convolution ``(n, c_in, c_out, kh, kw, sh, sw, ph, pw, extra_h, extra_w)`` whose input
is ``(kh + extra_h, kw + extra_w)``, so the window always fits."""

im2col_geometry = st.tuples(
    st.integers(0, 2),  # N
    st.integers(1, 3),  # C
    st.integers(1, 7),  # H
    st.integers(1, 7),  # W
    st.integers(1, 3),  # KH
    st.integers(1, 3),  # KW
    st.integers(1, 3),  # SH
    st.integers(1, 3),  # SW
    st.integers(0, 2),  # PH
    st.integers(0, 2),  # PW
).filter(lambda g: g[4] <= g[2] + 2 * g[8] and g[5] <= g[3] + 2 * g[9])
"""An im2col geometry ``(N, C, H, W, KH, KW, SH, SW, PH, PW)``, empty batches included,
whose kernel fits the padded input."""

any_dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.float16])
"""Dtypes a user may pass, the ones the kernels refuse included."""

sides = st.integers(0, 6)
"""An image side, zero included."""

window_arguments = st.one_of(  # stride / padding / kernel_size values, good and bad
    st.integers(-1, 4),
    st.tuples(st.integers(-1, 4), st.integers(-1, 4)),
    st.sampled_from([1.5, (1, 2, 3), "2", None, True, (1.0, 1)]),
)
"""A ``stride``, ``padding`` or ``kernel_size`` argument, valid or not."""

nonzero_floats = st.floats(min_value=-1e3, max_value=1e3).filter(lambda v: abs(v) > 1e-3)
"""A finite float away from zero, where relative errors are defined."""
