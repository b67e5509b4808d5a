"""Verdicts per metric and for the rollout, from observations through update and judge."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import (
    Action,
    AnalysisCriteria,
    ClassObservation,
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    HistogramObservation,
    LatencyCriteria,
    MinEvidence,
    NoData,
    ObservationError,
    QueryFailed,
    RateCounts,
    RateObservation,
    ScalarObservation,
    ScoreRange,
    TrafficForecast,
    Verdict,
    judge,
    start,
    update,
)
from tests.unit.analysis.conftest import LATENCY_EDGES, SCORE_EDGES, histogram, rates


def run(criteria: AnalysisCriteria, looks: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    state = start(criteria, TrafficForecast(50, 950, 60))
    for observations in looks:
        state = update(state, observations)  # type: ignore[arg-type]
    return state, judge(state)


def metric(judgement, name: str):  # type: ignore[no-untyped-def]
    return next(m for m in judgement.metrics if m.name == name)


ERRORS = AnalysisCriteria(metrics=(ErrorRateCriteria("errors", "e", "t"),))


def test_no_look_yet_is_no_data() -> None:
    _, judgement = run(ERRORS, [])
    assert judgement.verdict is Verdict.NO_DATA
    assert metric(judgement, "errors").reason == "errors: no data: no look yet"


def test_clearly_worse_error_rate_fails_with_numbers_in_the_reason() -> None:
    _, judgement = run(ERRORS, [{"errors": rates((100, 20), (900, 9))}] * 3)
    result = metric(judgement, "errors")
    assert result.verdict is Verdict.FAIL
    assert judgement.action is Action.ROLLBACK
    assert result.effect == pytest.approx(0.19)
    assert result.candidate_samples == 300
    assert result.baseline_samples == 2700
    assert "ratio 20.00" in result.reason
    assert "n=300/2,700" in result.reason
    assert result.p_value is not None and result.p_value <= 0.05


def test_equal_rates_pass_with_enough_evidence() -> None:
    _, judgement = run(ERRORS, [{"errors": rates((1000, 20), (1000, 20))}] * 8)
    result = metric(judgement, "errors")
    assert result.verdict is Verdict.PASS, result.reason
    assert result.upper is not None and result.upper < 0.01
    assert judgement.verdict is Verdict.PASS


def test_no_pass_before_minimum_evidence() -> None:
    # Zero candidate errors look perfect, but 400 requests at 1% are 4 expected errors, not 10.
    _, judgement = run(ERRORS, [{"errors": rates((100, 0), (900, 9))}] * 4)
    result = metric(judgement, "errors")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "needs 1,000 candidate requests" in result.reason


def test_significant_but_small_increase_stays_under_the_practical_gate() -> None:
    # Ratio 1.2: real (with this much data) but below maxRatio 1.25: never a rollback.
    looks = [{"errors": rates((50_000, 1200), (50_000, 1000))}] * 20
    _, judgement = run(ERRORS, looks)
    result = metric(judgement, "errors")
    assert result.verdict is not Verdict.FAIL
    assert result.p_value is not None and result.p_value < 0.01
    assert result.verdict is Verdict.PASS  # +0.4pp is inside the default margin (0.5 x 2% = 1pp)
    tight = AnalysisCriteria(metrics=(ErrorRateCriteria("errors", "e", "t", margin=0.002),))
    _, judgement = run(tight, looks)
    assert metric(judgement, "errors").verdict is Verdict.INCONCLUSIVE
    assert "higher but under the practical gate" in metric(judgement, "errors").reason


def test_hard_limit_fails_without_a_practical_gate() -> None:
    criteria = AnalysisCriteria(metrics=(ErrorRateCriteria("errors", "e", "t", hard_limit=0.05),))
    _, judgement = run(criteria, [{"errors": rates((200, 30), (200, 28))}] * 3)
    result = metric(judgement, "errors")
    assert result.verdict is Verdict.FAIL
    assert "hard limit 5.00%" in result.reason
    assert {t.name for t in judgement.harm_tests} == {"errors", "errors:hardLimit"}


def test_failed_query_is_error_and_never_promotes() -> None:
    good = {"errors": rates((1000, 20), (1000, 20))}
    _, judgement = run(ERRORS, [good] * 8 + [{"errors": QueryFailed("timed out after 30s")}])
    assert judgement.verdict is Verdict.ERROR
    assert metric(judgement, "errors").reason == "errors: query failed: timed out after 30s"
    _, recovered = run(ERRORS, [good] * 8 + [{"errors": QueryFailed("x")}, good])
    assert recovered.verdict is Verdict.PASS


def test_a_fail_stands_through_a_failed_query() -> None:
    bad = {"errors": rates((100, 20), (900, 9))}
    _, judgement = run(ERRORS, [bad] * 3 + [{"errors": QueryFailed("connection refused")}])
    assert judgement.verdict is Verdict.FAIL


def test_missing_observation_is_no_data() -> None:
    _, judgement = run(ERRORS, [{"errors": rates((1000, 20), (1000, 20))}] * 8 + [{}])
    assert judgement.verdict is Verdict.NO_DATA
    assert "no observation for this interval" in judgement.reason


def test_empty_cohorts_are_no_data_not_pass() -> None:
    _, judgement = run(ERRORS, [{"errors": rates((0, 0), (0, 0))}] * 5)
    assert metric(judgement, "errors").verdict is Verdict.NO_DATA
    assert judgement.verdict is Verdict.NO_DATA


def test_wrong_observation_kind_is_an_error() -> None:
    _, judgement = run(ERRORS, [{"errors": ScalarObservation(3.0)}])
    assert judgement.verdict is Verdict.ERROR
    assert "needs a RateObservation" in judgement.reason


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RateCounts(-1, 0), "must not be negative"),
        (lambda: RateCounts(10, 11), "11 events out of 10 requests"),
        (lambda: RateCounts(float("nan"), 0), "must be finite"),
        (lambda: RateCounts(2.5, 0), "whole number"),
        (lambda: HistogramObservation((0.1, 0.2), (1, 2), (1, 2, 3)), "candidate has 2 counts"),
        (lambda: HistogramObservation((0.2, 0.1), (1, 2, 3), (1, 2, 3)), "increase strictly"),
        (lambda: HistogramObservation((0.1, math.inf), (1, 2, 3), (1, 2, 3)), "finite"),
        (lambda: ClassObservation(("a", "a"), (1, 2), (1, 2)), "distinct"),
        (lambda: ScalarObservation(float("nan")), "finite"),
        (lambda: ScalarObservation(True), "must be a number"),
    ],
)
def test_bad_counts_are_refused_with_a_clear_message(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ObservationError, match=message):
        build()


# --- latency ---------------------------------------------------------------------------------

LATENCY = AnalysisCriteria(metrics=(LatencyCriteria("latency", "b"),))


def test_forty_times_slower_fails_at_the_first_look() -> None:
    baseline = [100, 400, 350, 90, 10, 0, 0, 0, 0]
    candidate = [0, 0, 0, 0, 0, 2, 10, 30, 8]
    _, judgement = run(LATENCY, [{"latency": histogram(candidate, baseline)}])
    result = metric(judgement, "latency")
    assert result.verdict is Verdict.FAIL
    assert result.effect == 1.0
    # People's terms first (quantiles, how many times slower), the statistics after them.
    assert result.reason.startswith("latency: candidate slower: median 3.58 s vs 48.4 ms (74x), p90 ")
    assert "beyond the tolerance (1.1x or +10 ms); CLES 1.00 (bound" in result.reason
    assert "n=50/950" in result.reason
    assert result.details["median_ratio"] == pytest.approx(3.58 / 0.0484, rel=0.01)


def test_same_latency_passes_once_there_are_enough_requests() -> None:
    counts = [10, 40, 80, 60, 20, 5, 2, 1, 0]
    state, judgement = run(LATENCY, [{"latency": histogram(counts, [c * 3 for c in counts])}] * 2)
    assert metric(judgement, "latency").verdict is Verdict.INCONCLUSIVE
    assert "needs 500 candidate requests" in metric(judgement, "latency").reason
    state = update(state, {"latency": histogram(counts, [c * 3 for c in counts])})
    result = metric(judge(state), "latency")
    assert result.verdict is Verdict.PASS, result.reason
    assert result.upper is not None and result.upper < 0.56


def test_changed_bucket_layout_is_an_error() -> None:
    first = {"latency": histogram([1] * 9, [1] * 9)}
    other_edges = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
    second = {"latency": HistogramObservation(other_edges, (1,) * 9, (1,) * 9)}
    _, judgement = run(LATENCY, [first, second])
    assert judgement.verdict is Verdict.ERROR
    assert "bucket layout changed" in judgement.reason


def test_slo_must_be_a_bucket_edge() -> None:
    criteria = AnalysisCriteria(metrics=(LatencyCriteria("latency", "b", slo=0.3),))
    _, judgement = run(criteria, [{"latency": histogram([1] * 9, [1] * 9)}])
    assert judgement.verdict is Verdict.ERROR
    assert "slo 0.3 is not a bucket edge" in judgement.reason


def test_tail_above_the_slo_fails_even_when_the_median_is_unchanged() -> None:
    criteria = AnalysisCriteria(metrics=(LatencyCriteria("latency", "b", slo=0.5),))
    baseline = [100, 300, 300, 200, 99, 1, 0, 0, 0]
    candidate = [100, 300, 300, 200, 40, 60, 0, 0, 0]
    _, judgement = run(criteria, [{"latency": histogram(candidate, baseline)}] * 4)
    result = metric(judgement, "latency")
    assert result.verdict is Verdict.FAIL, result.reason
    assert "requests above 0.5s 6.00% vs 0.10%" in result.reason


# --- drift -----------------------------------------------------------------------------------


def scores(candidate: list[int], baseline: list[int], invalid: int = 0) -> HistogramObservation:
    return HistogramObservation(SCORE_EDGES, tuple(candidate), tuple(baseline), invalid_candidate=invalid)


BASE_SCORES = [5, 20, 40, 60, 80, 80, 60, 40, 20, 5]


def drift_criteria(**kwargs: object) -> AnalysisCriteria:
    return AnalysisCriteria(metrics=(DriftCriteria("scores", "s", **kwargs),))  # type: ignore[arg-type]


def test_large_drift_holds_by_default_and_rolls_back_when_asked() -> None:
    shifted = [0, 0, 5, 5, 20, 40, 60, 80, 100, 100]
    looks = [{"scores": scores(shifted, BASE_SCORES)}]
    _, held = run(drift_criteria(), looks)
    assert held.verdict is Verdict.FAIL
    assert held.action is Action.HOLD
    assert "onFail hold" in held.reason
    _, rolled = run(drift_criteria(on_fail="rollback"), looks)
    assert rolled.action is Action.ROLLBACK


def test_no_drift_passes() -> None:
    _, judgement = run(drift_criteria(), [{"scores": scores(BASE_SCORES, [4 * c for c in BASE_SCORES])}])
    assert judgement.verdict is Verdict.PASS, judgement.reason


@pytest.mark.parametrize(
    ("observation", "criteria", "why"),
    [
        (scores(BASE_SCORES, BASE_SCORES, invalid=30), drift_criteria(), "invalid predictions"),
        (scores([0, 0, 0, 0, 0, 410, 0, 0, 0, 0], BASE_SCORES), drift_criteria(), "one bucket"),
        (
            scores([0, 0, 0, 0, 0, 0, 0, 0, 0, 410], BASE_SCORES),
            drift_criteria(score_range=ScoreRange(0.0, 0.9)),
            "one bucket",
        ),
        (
            scores([5, 20, 40, 60, 80, 80, 60, 40, 0, 25], BASE_SCORES),
            drift_criteria(score_range=ScoreRange(0.0, 0.9)),
            "outside [0, 0.9]",
        ),
    ],
)
def test_sanity_failures_roll_back_even_with_onfail_hold(observation, criteria, why: str) -> None:  # type: ignore[no-untyped-def]
    _, judgement = run(criteria, [{"scores": observation}])
    assert judgement.verdict is Verdict.FAIL
    assert judgement.action is Action.ROLLBACK
    assert why in judgement.reason


def test_classes_may_appear_over_time() -> None:
    criteria = drift_criteria(by="label")
    first = ClassObservation(("ok", "fraud"), (190, 10), (950, 50))
    second = ClassObservation(("ok", "fraud", "review"), (180, 10, 10), (900, 50, 50))
    state, judgement = run(criteria, [{"scores": first}, {"scores": second}])
    assert state.metrics["scores"].classes == ("ok", "fraud", "review")  # type: ignore[union-attr]
    assert judgement.verdict in (Verdict.PASS, Verdict.INCONCLUSIVE)


# --- guards ----------------------------------------------------------------------------------

GUARD = AnalysisCriteria(metrics=(GuardCriteria("gpu", "g", max=100.0, consecutive=2),))


def test_guard_needs_consecutive_breaches() -> None:
    _, once = run(GUARD, [{"gpu": ScalarObservation(120.0)}])
    assert once.verdict is Verdict.INCONCLUSIVE
    assert "1 of 2 looks in a row" in once.reason
    _, twice = run(GUARD, [{"gpu": ScalarObservation(120.0)}] * 2)
    assert twice.verdict is Verdict.FAIL
    assert twice.action is Action.ROLLBACK
    _, recovered = run(GUARD, [{"gpu": ScalarObservation(120.0)}, {"gpu": ScalarObservation(90.0)}])
    assert recovered.verdict is Verdict.PASS


def test_guard_without_value_is_no_data() -> None:
    _, judgement = run(GUARD, [{"gpu": NoData("query returned no series")}])
    assert judgement.verdict is Verdict.NO_DATA


# --- the rollout -----------------------------------------------------------------------------


def test_holm_spends_alpha_across_harm_tests(full_criteria: AnalysisCriteria) -> None:
    state = start(full_criteria)
    judgement = judge(state)
    assert {t.name for t in judgement.harm_tests} == {"errors", "latency", "latency:tail"}
    # Weighted Holm: errors weighs 1, latency's location and tail 1/2 each (total 2); all p = 1,
    # so errors comes first at 0.05 x 1/2, then latency at 0.05 x 0.5/1, then the tail at 0.05.
    levels = {t.name: t.level for t in judgement.harm_tests}
    assert levels == pytest.approx({"errors": 0.025, "latency": 0.025, "latency:tail": 0.05})


def test_a_hard_limit_shares_its_metrics_weight() -> None:
    # errors and errors:hardLimit 1/2 each, latency (no slo) 1: total 2. All p = 1: latency
    # first (p / w = 1) at 0.05 x 1/2, then the two error tests at 0.05 x 0.5/1 and 0.05.
    criteria = AnalysisCriteria(
        metrics=(ErrorRateCriteria("errors", "e", "t", hard_limit=0.05), LatencyCriteria("latency", "b"))
    )
    levels = {t.name: t.level for t in judge(start(criteria)).harm_tests}
    assert levels == pytest.approx({"latency": 0.025, "errors": 0.025, "errors:hardLimit": 0.05})


def test_rollout_error_beats_inconclusive_and_fail_beats_error(full_criteria: AnalysisCriteria) -> None:
    state = start(full_criteria)
    state = update(state, {"errors": QueryFailed("HTTP 503"), "gpu": ScalarObservation(1.0)})
    assert judge(state).verdict is Verdict.ERROR
    for _ in range(2):
        state = update(state, {"errors": QueryFailed("HTTP 503"), "gpu": ScalarObservation(500.0)})
    assert judge(state).verdict is Verdict.FAIL


def test_no_metrics_pass() -> None:
    judgement = judge(start(AnalysisCriteria(metrics=())))
    assert judgement.verdict is Verdict.PASS
    assert judgement.reason == "no metrics to judge"


def test_minimum_evidence_is_configurable() -> None:
    criteria = replace(ERRORS, min_evidence=MinEvidence(requests=100, errors=1, predictions=10))
    _, judgement = run(criteria, [{"errors": rates((200, 4), (200, 4))}] * 40)
    assert metric(judgement, "errors").verdict is Verdict.PASS


# --- properties --------------------------------------------------------------------------------

interval = st.tuples(st.integers(0, 300), st.integers(0, 30)).map(lambda t: (t[0], min(t[1], t[0])))


@given(st.lists(interval, min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_identical_cohorts_never_fail(intervals: list[tuple[int, int]]) -> None:
    criteria = AnalysisCriteria(
        metrics=(
            ErrorRateCriteria("errors", "e", "t", hard_limit=None),
            LatencyCriteria("latency", "b", slo=0.5),
        )
    )
    looks = []
    for requests, events in intervals:
        buckets = [requests - events, 0, 0, 0, 0, events, 0, 0, 0]
        looks.append(
            {"errors": rates((requests, events), (requests, events)), "latency": histogram(buckets, buckets)}
        )
    _, judgement = run(criteria, looks)
    assert judgement.verdict is not Verdict.FAIL
    for result in judgement.metrics:
        assert result.p_value is None or 0.0 <= result.p_value <= 1.0


@given(
    st.lists(st.tuples(interval, interval), min_size=1, max_size=20), st.integers(0, 19), st.integers(1, 5)
)
@settings(max_examples=60, deadline=None)
def test_more_harm_evidence_never_lowers_e(intervals, where: int, extra: int) -> None:  # type: ignore[no-untyped-def]
    # More harm: some of the candidate's successful requests in one interval fail instead.
    # (Adding requests too would change the traffic share pi, which is not more evidence.)
    def max_log_e(add: int) -> float:
        state = start(ERRORS)
        for index, ((n_c, x_c), (n_b, x_b)) in enumerate(intervals):
            more = min(add, n_c - x_c) if index == where % len(intervals) else 0
            observation = rates((n_c, x_c + more), (n_b, x_b))
            state = update(state, {"errors": observation})
        return state.metrics["errors"].rates.harm.max_log_e  # type: ignore[union-attr]

    assert max_log_e(extra) >= max_log_e(0) - 1e-9


def test_all_judgement_numbers_are_finite(full_criteria: AnalysisCriteria) -> None:
    rng = np.random.default_rng(0)
    state = start(full_criteria)
    for _ in range(5):
        state = update(
            state,
            {
                "errors": rates((50, int(rng.integers(0, 3))), (950, int(rng.integers(0, 20)))),
                "latency": histogram(list(rng.integers(0, 10, 9)), list(rng.integers(0, 200, 9))),
                "scores": scores(list(rng.integers(0, 10, 10)), list(rng.integers(0, 200, 10))),
                "gpu": ScalarObservation(10.0),
            },
        )
    for result in judge(state).metrics:
        for value in (result.effect, result.lower, result.upper, result.log10_e, result.p_value):
            assert value is None or math.isfinite(value), result


def test_edges_are_used_as_given() -> None:
    assert len(LATENCY_EDGES) + 1 == 9
    assert RateObservation(RateCounts(1, 0), RateCounts(1, 0)).candidate.requests == 1
