"""bench/peers.py's judges on tiny seeded settings: properties that hold by design, and can fail.

The seeds make every check reproducible; the counted bounds sit many standard errors from what
bench/results/peers.md measures, so a failure means a judge (or the engine) changed.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.simulate import Scenario, observations, raw_looks
from bench.peers import (
    ALPHA,
    ArgoKayenta,
    Classification,
    Decision,
    Engine,
    Flagger,
    NaiveTest,
    Outcome,
    classify,
    histogram_quantile,
    mann_whitney_shift,
)

LOW_TRAFFIC = {"requests_per_look": 1200.0, "looks": 30}  # ~60 candidate requests per look


def test_raw_looks_are_the_engines_observations_and_add_up() -> None:
    scenario = Scenario("A/A", looks=4, pod_spread=0.03, load_swing=0.5)
    looks = raw_looks(scenario, np.random.default_rng(3))
    assert [look.observations for look in looks] == observations(scenario, np.random.default_rng(3))
    for look in looks:
        for cohort in (look.candidate, look.baseline):
            assert sum(cohort.latency_counts) == cohort.requests
            assert cohort.latency_sum_squares * cohort.requests >= cohort.latency_sum**2 - 1e-9


def test_histogram_quantile_interpolates_as_prometheus_does() -> None:
    edges = (0.1, 0.25, 0.5, 1.0)
    # 60 requests, one above 0.5 s: rank 59.4 falls in (0.5, 1.0], 0.4 of the way into its one request.
    assert histogram_quantile(0.99, edges, [50, 9, 0, 1, 0]) == pytest.approx(0.7)
    assert histogram_quantile(0.99, edges, [50, 10, 0, 0, 0]) == pytest.approx(0.1 + 0.15 * 9.4 / 10)
    assert histogram_quantile(0.5, edges, [0, 0, 0, 0, 5]) == 1.0  # in +Inf: the highest finite bound
    assert np.isnan(histogram_quantile(0.99, edges, [0, 0, 0, 0, 0]))


def test_mann_whitney_interval_holds_the_estimate_and_moves_with_a_shift() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.lognormal(0.0, 1.0, 12), rng.lognormal(0.0, 1.0, 15)
    shift = mann_whitney_shift(x, y, 0.98)
    moved = mann_whitney_shift(x + 2.0, y, 0.98)
    assert shift is not None and moved is not None
    estimate, lower, upper = shift
    assert lower <= estimate <= upper
    assert moved == pytest.approx((estimate + 2.0, lower + 2.0, upper + 2.0))
    # A 99% interval is wider than a 90% one.
    wide, narrow = mann_whitney_shift(x, y, 0.99), mann_whitney_shift(x, y, 0.90)
    assert wide is not None and narrow is not None
    assert wide[1] <= narrow[1] and wide[2] >= narrow[2]


def test_kayenta_classifies_a_clear_increase_high_and_identical_data_pass() -> None:
    rng = np.random.default_rng(1)
    control = list(rng.normal(100.0, 5.0, 10))
    assert classify([v * 2.0 for v in control], control) is Classification.HIGH
    assert classify(control, control) is Classification.PASS
    assert classify([float("nan")] * 3, control) is Classification.NODATA


def test_flagger_with_threshold_1_rolls_back_the_cpu_fallback_at_the_first_look() -> None:
    scenario = Scenario("latency x40", latency_ratio=40.0, **LOW_TRAFFIC)
    for seed in range(5):
        looks = raw_looks(scenario, np.random.default_rng(seed))
        assert Flagger(threshold=1)(scenario, looks) == Outcome(Decision.ROLLBACK, 1)
        assert Flagger(threshold=5)(scenario, looks) == Outcome(Decision.ROLLBACK, 5)  # every interval fails
        # Argo + Kayenta can only act when its first measurement ends, after one interval.
        assert ArgoKayenta()(scenario, looks) == Outcome(Decision.ROLLBACK, 10)


def test_flagger_fails_a_check_on_one_error_in_sixty_requests() -> None:
    # The threshold is absolute, on the canary alone: 59/60 = 98.3% success is under 99%.
    scenario = Scenario("A/A", **LOW_TRAFFIC)
    looks = raw_looks(scenario, np.random.default_rng(0))
    one_error = [look for look in looks if look.candidate.errors == 1 and look.candidate.requests < 100]
    assert one_error, "seed 0 has a look with exactly one candidate error"
    assert not Flagger(threshold=1).check(one_error[0].candidate)


@pytest.mark.slow
def test_naive_per_look_test_exceeds_alpha_on_a_a_and_the_engine_does_not() -> None:
    # Repeated testing at a fixed level: over 30 looks the naive test's A/A false rollbacks measure
    # ~25% (bench/results/peers.md); 15 of 120 (12.5%) is 2.5x alpha and 3 standard errors below it.
    # The engine's always-valid tests stay under alpha whatever the number of looks (~1% measured).
    scenario = Scenario("A/A", **LOW_TRAFFIC)
    runs = 120
    naive = engine = 0
    for seed in range(runs):
        looks = raw_looks(scenario, np.random.default_rng(seed))
        naive += NaiveTest()(scenario, looks).decision is Decision.ROLLBACK
        engine += Engine()(scenario, looks).decision is Decision.ROLLBACK
    assert naive >= 15 > ALPHA * runs
    assert engine <= ALPHA * runs
