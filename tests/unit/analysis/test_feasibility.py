"""Can a step reach a PASS? The worked example of analysis.feasibility and its opposite."""

from analysis import (
    AnalysisCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    TrafficForecast,
    feasibility,
    start,
    update,
)
from tests.unit.analysis.conftest import rates


def test_a_short_low_traffic_step_cannot_pass_and_says_why() -> None:
    criteria = AnalysisCriteria(
        metrics=(ErrorRateCriteria("errors", "e", "t"), GuardCriteria("gpu", "q", max=1))
    )
    state = update(start(criteria, TrafficForecast(50, 950, 60)), {"errors": rates((50, 0), (950, 9))})
    errors, gpu = feasibility(state, TrafficForecast(50, 950, 14))
    assert not errors.feasible
    assert errors.needed == 1056  # 10 errors at 9/950
    assert errors.reachable == 750
    assert "needs 1,056 candidate requests" in errors.reason
    assert gpu.feasible


def test_enough_traffic_is_feasible() -> None:
    criteria = AnalysisCriteria(metrics=(ErrorRateCriteria("errors", "e", "t"),))
    state = update(start(criteria), {"errors": rates((500, 5), (500, 5))})
    (errors,) = feasibility(state, TrafficForecast(500, 500, 30))
    assert errors.feasible, errors.reason
