"""The normal mixture against direct numerical integration, and its boundary and p-value."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from analysis.sequential import (
    always_valid_p,
    boundary,
    log_mixture_e,
    mixture_width,
    one_sided_radius,
    optimal_g,
)


@pytest.mark.parametrize(("z", "g"), [(0.0, 1.0), (1.5, 0.3), (3.0, 8.0), (-2.0, 5.0), (6.0, 40.0)])
def test_closed_form_equals_the_mixture_integral(z: float, g: float) -> None:
    # Standardised: S = z sqrt(V), V = 1/variance-units; mix exp(l S - l^2 V / 2) over l >= 0 with
    # a half-normal of precision matching g = rho^2 tau (here V = 1, c^2 = g).
    c = math.sqrt(g)

    def integrand(lam: float) -> float:
        return math.exp(lam * z - lam * lam / 2.0) * 2.0 * stats.norm.pdf(lam, scale=c)

    value, _ = integrate.quad(integrand, 0.0, np.inf)
    assert log_mixture_e(z, g) == pytest.approx(math.log(value), rel=1e-7, abs=1e-9)


@given(g=st.floats(0.01, 1e4), alpha=st.sampled_from([0.01, 0.05, 0.1]))
@settings(deadline=None)
def test_boundary_reaches_exactly_one_over_alpha(g: float, alpha: float) -> None:
    assert log_mixture_e(boundary(g, alpha), g) == pytest.approx(math.log(1 / alpha), abs=1e-8)


@given(z=st.floats(-50, 50), g=st.floats(1e-6, 1e6), more=st.floats(0, 10))
@settings(deadline=None)
def test_e_value_grows_with_the_evidence(z: float, g: float, more: float) -> None:
    assert log_mixture_e(z + more, g) >= log_mixture_e(z, g) - 1e-12


def test_boundary_is_wider_than_a_fixed_horizon_test() -> None:
    fixed = stats.norm.isf(0.05)
    for g in (0.1, 1.0, 6.69, 100.0):
        assert boundary(g, 0.05) > fixed


def test_width_is_tuned_to_the_expected_sample_size() -> None:
    g = optimal_g(0.05)
    rho2 = mixture_width(0.05, 2000.0)
    assert rho2 * 2000.0 == pytest.approx(g)
    assert boundary(g, 0.05) <= min(boundary(g * 0.8, 0.05), boundary(g * 1.25, 0.05))


@given(st.floats(-1e3, 1e3))
@settings(deadline=None)
def test_p_value_is_a_probability(log_e: float) -> None:
    assert 0.0 <= always_valid_p(max(log_e, 0.0)) <= 1.0


def test_radius_is_sd_times_boundary() -> None:
    assert one_sided_radius(0.04, 3.0, 0.05) == pytest.approx(0.2 * boundary(3.0, 0.05))
    assert one_sided_radius(0.04, 0.0, 0.05) == math.inf
