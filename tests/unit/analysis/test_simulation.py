"""A small seeded version of bench/analysis_quality.py: the same claims, bounds chance cannot reach.

Each bound sits many standard errors from what the full benchmark measures (docs/analysis.md),
so a failure means the engine changed, not bad luck; the seeds make it reproducible anyway.
"""

from __future__ import annotations

import pytest

from analysis.simulate import RunOutcome, Scenario, run

pytestmark = pytest.mark.slow


def outcomes(scenario: Scenario, runs: int) -> list[RunOutcome]:
    return [run(scenario, seed) for seed in range(runs)]


def test_a_a_false_rollbacks_stay_under_alpha() -> None:
    # alpha = 0.05: at most 5% of 300 runs may roll back; 10% (30) is 4 standard errors above 5%.
    results = outcomes(Scenario("A/A", pod_spread=0.03, load_swing=0.5), 300)
    assert sum(r.rollback is not None for r in results) <= 30


def test_doubled_error_rate_is_rolled_back() -> None:
    # The full benchmark rolls back about 92%; 75 of 100 is 6 standard errors below.
    results = outcomes(Scenario("errors 1% -> 2%", error_ratio=2.0), 100)
    assert sum(r.rollback is not None for r in results) >= 75


def test_cpu_fallback_is_rolled_back_by_the_first_look_with_minimum_evidence() -> None:
    results = outcomes(Scenario("latency x40", latency_ratio=40.0, looks=12), 30)
    assert all(r.rollback is not None and r.rollback <= 10 for r in results)


def test_half_sd_score_shift_is_flagged_and_a_tiny_one_is_not() -> None:
    shifted = outcomes(Scenario("0.5 sd", score_shift=0.5, looks=20), 30)
    tiny = outcomes(Scenario("0.02 sd", score_shift=0.02, looks=20), 30)
    assert sum(r.drift_flagged is not None for r in shifted) >= 27
    assert sum(r.drift_flagged is not None for r in tiny) <= 3
    assert all(r.rollback is None for r in shifted)  # drift holds for a person by default
