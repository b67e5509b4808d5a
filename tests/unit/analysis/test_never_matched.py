"""Issue 10 item 14: an errors query that never matched any series cannot PASS.

Zero errors from a query that matches nothing (a misspelt metric name) looks exactly like zero
errors from a healthy candidate in any one interval; the engine remembers, in the stored state,
whether the query has ever matched, and the judge refuses PASS (and INCONCLUSIVE, which
``inconclusive: promote`` would promote) until it has.
"""

from __future__ import annotations

import json

from analysis import (
    AnalysisCriteria,
    ErrorRateCriteria,
    MinEvidence,
    RateCounts,
    RateObservation,
    Verdict,
    judge,
    restore,
    start,
    update,
)
from analysis.state import AnalysisState, ErrorRateState, metric_state_from_json

ERRORS = ErrorRateCriteria(
    "errors", 'model_errros_total{version="{{version}}"}', 'model_requests_total{version="{{version}}"}'
)
CRITERIA = AnalysisCriteria(metrics=(ERRORS,), min_evidence=MinEvidence(requests=100, errors=1))


def look(candidate_errors: int, matched: bool, requests: int = 5000) -> dict[str, RateObservation]:
    return {
        "errors": RateObservation(
            RateCounts(requests, candidate_errors), RateCounts(requests * 19, 0), errors_matched=matched
        )
    }


def run(looks: list[dict[str, RateObservation]]) -> AnalysisState:
    state = start(CRITERIA)
    for observations in looks:
        state = update(state, observations)
    return state


def through_status(state: AnalysisState) -> AnalysisState:
    tuning = json.loads(json.dumps(state.tuning.to_status()))
    states = {name: json.loads(json.dumps(state.metric_state_json(name))) for name in state.metrics}
    return restore(state.criteria, tuning, states)


def test_a_query_that_never_matched_is_no_data_with_the_fix() -> None:
    state = run([look(0, matched=False) for _ in range(20)])
    judgement = judge(state)
    assert judgement.verdict is Verdict.NO_DATA
    (errors,) = judgement.metrics
    assert errors.verdict is Verdict.NO_DATA
    assert ERRORS.errors_query in errors.reason
    assert "initialise it at 0 at start-up" in errors.reason
    assert "check the metric name" in errors.reason


def test_the_same_counts_pass_once_the_query_has_matched_in_any_interval() -> None:
    looks = [look(0, matched=False) for _ in range(20)]
    looks[7] = look(0, matched=True)  # e.g. the baseline's counter, initialised at 0
    assert judge(run(looks)).verdict is Verdict.PASS


def test_absent_series_after_a_match_count_as_zero() -> None:
    looks = [look(0, matched=True)] + [look(0, matched=False) for _ in range(19)]
    assert judge(run(looks)).verdict is Verdict.PASS


def test_harm_still_fails_however_the_query_matched() -> None:
    looks = [look(500, matched=True)] + [look(500, matched=False) for _ in range(5)]
    judgement = judge(run(looks))
    assert judgement.verdict is Verdict.FAIL


def test_the_fact_survives_a_restart_and_old_states_read_as_never_matched() -> None:
    matched = run([look(0, matched=True)] + [look(0, matched=False) for _ in range(19)])
    restored = through_status(matched)
    assert restored.metrics["errors"] == matched.metrics["errors"]
    assert judge(restored).verdict is Verdict.PASS

    stored = matched.metric_state_json("errors")
    assert stored["errors_matched"] is True
    del stored["errors_matched"]  # written by a controller from before the field existed
    old = metric_state_from_json(stored)
    assert isinstance(old, ErrorRateState)
    assert old.errors_matched is False
    # The next look that matches sets it; until then no PASS.
    assert judge(restore(CRITERIA, matched.tuning.to_status(), {"errors": stored})).verdict is Verdict.NO_DATA
    resumed = update(restore(CRITERIA, matched.tuning.to_status(), {"errors": stored}), look(0, True))
    assert judge(resumed).verdict is Verdict.PASS
