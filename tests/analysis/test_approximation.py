"""tinymin.analysis.approximation: the relative error of the signed minimum (Eq. 6-7) and
its sweeps over mu and sigma (Figure 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import nonzero_floats

from tinymin.analysis import (
    elementwise_relative_error,
    optimal_mu,
    relative_error,
    relative_error_grid,
)
from tinymin.analysis.approximation import _relative_error_pairs


def test_elementwise_relative_error_equals_eq6_formula():
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 2.0, size=10_000)
    w = rng.standard_cauchy(size=10_000)
    formula = np.abs(1.0 - 1.0 / np.maximum(np.abs(x), np.abs(w)))
    np.testing.assert_allclose(elementwise_relative_error(x, w), formula, rtol=1e-12, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    nonzero_floats,
    nonzero_floats,
)
def test_elementwise_relative_error_formula_property(x, w):
    got = float(elementwise_relative_error(x, w))
    assert got == pytest.approx(abs(1.0 - 1.0 / max(abs(x), abs(w))), rel=1e-9, abs=1e-12)


def test_a_product_that_under_or_overflows_still_gets_its_error():
    # 5e-324 * 0.7 rounds back to 5e-324 (or 5e-324 * 0.1 to 0): the rounded product has
    # lost what the definition needs, while the closed form is exact
    x = np.array([5e-324, 5e-324, 1e200, -1e-200])
    w = np.array([0.7, 0.1, 1e200, 3e-200])
    expected = np.abs(1.0 - 1.0 / np.maximum(np.abs(x), np.abs(w)))
    np.testing.assert_allclose(elementwise_relative_error(x, w), expected, rtol=1e-12)


def test_elementwise_relative_error_is_nan_where_the_product_is_zero():
    out = elementwise_relative_error([0.0, 2.0, 0.0], [1.0, 0.0, 0.0])
    assert np.all(np.isnan(out))
    assert elementwise_relative_error([[2.0], [-4.0]], [1.0, 3.0]).shape == (2, 2)


def test_relative_error_is_the_mean_of_eq6_on_the_same_draws():
    # relative_error draws x = mu + sigma z1, w = mu + sigma z2 with z from default_rng(seed)
    mu, sigma, n = 0.7, 0.4, 4_000
    z = np.random.default_rng(9).standard_normal((2, n))
    direct = np.mean(elementwise_relative_error(mu + sigma * z[0], mu + sigma * z[1]))
    assert relative_error(mu, sigma, n_samples=n, seed=9) == pytest.approx(direct, rel=1e-10)


def test_relative_error_drops_zero_products():
    # x = [0, 1, 2], w = [1, 1, 0.5]: the first pair has x w = 0 and is dropped,
    # the others have errors |1 - 1/1| = 0 and |1 - 1/2| = 0.5
    z = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 0.5]])
    got = _relative_error_pairs(z, np.array([0.0]), np.array([1.0]))
    np.testing.assert_allclose(got, [0.25])
    all_zero = _relative_error_pairs(np.zeros((2, 3)), np.array([0.0]), np.array([1.0]))
    assert np.isnan(all_zero[0])


def test_relative_error_minimum_near_one_for_small_sigma():
    mus = np.linspace(0.5, 1.5, 51)
    curve = relative_error_grid(mus, [0.05], n_samples=50_000, seed=0)[:, 0]
    best = int(np.argmin(curve))
    assert 0.9 <= mus[best] <= 1.1
    assert 0.02 <= curve[best] <= 0.06  # docs/guides/minconv_math.rst section 3: D_min ~ 0.04
    # D(-mu) = D(mu) in distribution (the draws differ, so only up to Monte Carlo error)
    mirrored = relative_error(-mus[best], 0.05, n_samples=50_000)
    assert mirrored == pytest.approx(curve[best], rel=0.05)


def test_relative_error_minimum_near_sigma_1_7_at_mu_0():
    sigmas = np.linspace(0.5, 4.0, 36)
    curve = relative_error_grid([0.0], sigmas, n_samples=100_000, seed=0)[0]
    best = sigmas[int(np.argmin(curve))]
    assert 1.3 <= best <= 2.1
    assert 1.0 <= best * math.sqrt(2 / math.pi) <= 1.7  # E|x| "not far from 1"


def test_relative_error_grid_equals_pointwise_calls():
    mus, sigmas = [0.0, 0.8, -2.0], [0.1, 1.0]
    grid = relative_error_grid(mus, sigmas, n_samples=3_000, seed=4)
    assert grid.shape == (3, 2)
    for i, mu in enumerate(mus):
        for j, sigma in enumerate(sigmas):
            expected = relative_error(mu, sigma, n_samples=3_000, seed=4)
            assert grid[i, j] == pytest.approx(expected, rel=1e-12)


def test_relative_error_is_seeded():
    a = relative_error(0.5, 0.5, n_samples=2_000, seed=1)
    assert a == relative_error(0.5, 0.5, n_samples=2_000, seed=1)
    assert a != relative_error(0.5, 0.5, n_samples=2_000, seed=2)


def test_optimal_mu_stays_near_one_for_small_sigma():
    best = optimal_mu([0.02, 0.05, 0.1, 0.2], n_samples=20_000)
    assert best.shape == (4,)
    assert np.all(np.abs(best - 1.0) <= 0.1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: relative_error(1.0, 0.0),
        lambda: relative_error(1.0, -1.0),
        lambda: relative_error(1.0, float("nan")),
        lambda: relative_error(float("inf"), 1.0),
        lambda: relative_error(1.0, 1.0, n_samples=1),
        lambda: relative_error(1.0, 1.0, n_samples=10, seed=1.5),
        lambda: relative_error_grid([0.0], [1.0, 0.0]),
        lambda: relative_error_grid([], [1.0]),
        lambda: relative_error_grid([[0.0, 1.0]], [1.0]),
        lambda: optimal_mu([-0.1]),
    ],
)
def test_relative_error_bad_arguments_raise(call):
    with pytest.raises(ValueError):
        call()


def test_sigma_error_message_is_clear():
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        relative_error(0.0, 0.0)
