"""bench/pass_boundaries.py computes the engine's bounds: its vectorised D, sd(D) and minimum
evidence equal analysis.rates and analysis.bounds on the same counts, so its table speaks for the
engine's PASS rule; and its boundaries hold the properties the docstring states."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.bounds import rate_bounds, rate_requests_needed
from analysis.criteria import MinEvidence
from analysis.observations import RateCounts
from analysis.rates import RateEvidence
from analysis.sequential import boundary, mixture_width, optimal_g
from bench.pass_boundaries import ALPHA, Counts, constant, linear, mixture, passed


@pytest.mark.parametrize(("looks", "errors_c", "errors_b"), [(5, 2, 60), (17, 9, 190), (30, 30, 330)])
def test_the_bench_bound_is_the_engines(looks: int, errors_c: int, errors_b: int) -> None:
    n_c, n_b = 60, 1140
    evidence = RateEvidence()
    # The same totals spread over equal looks: the engine's stratified D is the pooled one.
    per_c = [errors_c // looks + (1 if i < errors_c % looks else 0) for i in range(looks)]
    per_b = [errors_b // looks + (1 if i < errors_b % looks else 0) for i in range(looks)]
    for x_c, x_b in zip(per_c, per_b, strict=True):
        evidence = evidence.add(RateCounts(requests=n_c, events=x_c), RateCounts(requests=n_b, events=x_b))
    rho2 = mixture_width(ALPHA, 30 * n_c * n_b / (n_c + n_b))
    _, engine_upper = rate_bounds(evidence, rho2, ALPHA)
    counts = Counts(looks, n_c, n_b, np.array([float(errors_c)]), np.array([float(errors_b)]))
    bench_upper = counts.upper(mixture(rho2 * evidence.weight), "plug-in")
    assert bench_upper[0] == pytest.approx(engine_upper, rel=1e-9)
    margin = max(0.5 * evidence.baseline_rate, 0.001)
    assert counts.margin()[0] == pytest.approx(margin)
    needed = rate_requests_needed(MinEvidence(), evidence.baseline_rate, margin)
    assert bool(counts.enough()[0]) is (n_c * looks >= needed)


def test_the_boundaries_meet_where_the_docstring_says() -> None:
    g = optimal_g(ALPHA)
    assert mixture(g) == pytest.approx(2.766, abs=1e-3)
    assert linear(g) == pytest.approx(2.448, abs=1e-3)
    assert constant(g) == pytest.approx(2.054, abs=1e-3)
    # Past the forecast the constant boundary is the mixture at the alpha left for it.
    assert constant(2 * g) == pytest.approx(boundary(2 * g, 0.01))


def test_a_wider_variance_never_passes_more() -> None:
    plug_in, wider, null = (
        passed(mixture, variance, 0.015, (30, 60, 1140), runs=3000, seed=1)
        for variance in ("plug-in", "max", "null")
    )
    assert plug_in >= wider >= null
    assert null < plug_in
