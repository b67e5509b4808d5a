"""Restart safety: state and tuning through JSON give exactly the same numbers."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from analysis import (
    AnalysisCriteria,
    AnalysisState,
    ClassObservation,
    DriftCriteria,
    GuardCriteria,
    HistogramObservation,
    ScalarObservation,
    StateError,
    TrafficForecast,
    judge,
    restore,
    start,
    update,
)
from analysis.state import ErrorRateState, metric_state_from_json
from tests.unit.analysis.conftest import SCORE_EDGES, histogram, rates


def intervals(seed: int, count: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    looks = []
    for _ in range(count):
        looks.append(
            {
                "errors": rates((50, int(rng.binomial(50, 0.02))), (950, int(rng.binomial(950, 0.01)))),
                "latency": histogram(list(rng.integers(0, 12, 9)), list(rng.integers(0, 200, 9))),
                "scores": HistogramObservation(
                    SCORE_EDGES, tuple(rng.integers(0, 10, 10)), tuple(rng.integers(0, 100, 10)), 1, 0
                ),
                "gpu": ScalarObservation(float(rng.uniform(50, 150))),
            }
        )
    return looks


def through_status(state: AnalysisState) -> AnalysisState:
    """What a restarted controller reads: status written as JSON, read back."""
    tuning = json.loads(json.dumps(state.tuning.to_status()))
    states = {name: json.loads(json.dumps(state.metric_state_json(name))) for name in state.metrics}
    return restore(state.criteria, tuning, states)


def test_a_restart_at_every_look_changes_nothing(full_criteria: AnalysisCriteria) -> None:
    looks = intervals(seed=42, count=25)
    steady = start(full_criteria, TrafficForecast(50, 950, 60))
    restarted = steady
    for observations in looks:
        steady = update(steady, observations)  # type: ignore[arg-type]
        restarted = update(through_status(restarted), observations)  # type: ignore[arg-type]
        assert judge(restarted) == judge(steady)
    assert restarted.metrics == steady.metrics
    assert restarted.tuning == steady.tuning


def test_whole_floats_written_as_integers_read_back(full_criteria: AnalysisCriteria) -> None:
    # The API server may hand back 3 for 3.0; reading coerces by the declared type.
    state = update(start(full_criteria), intervals(seed=1, count=1)[0])  # type: ignore[arg-type]
    stored = state.metric_state_json("errors")
    stored["rates"]["weight"] = 47
    stored["rates"]["harm"]["max_log_e"] = 0
    restored = metric_state_from_json(stored)
    assert isinstance(restored, ErrorRateState)
    assert restored.rates.weight == 47.0
    assert isinstance(restored.rates.weight, float)


def test_class_names_and_guard_values_round_trip() -> None:
    criteria = AnalysisCriteria(
        metrics=(DriftCriteria("classes", "q", by="label"), GuardCriteria("g", "q", max=1))
    )
    state = update(
        start(criteria),
        {"classes": ClassObservation(("a", "b"), (3, 4), (30, 40)), "g": ScalarObservation(0.25)},
    )
    assert through_status(state).metrics == state.metrics


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("rates"), "missing keys"),
        (lambda s: s.update(extra=1), "unknown keys"),
        (lambda s: s.update(version=99), "state version 99"),
        (lambda s: s["rates"].update(candidate_requests=2.5), "whole number"),
        (lambda s: s["rates"].update(weight="many"), "expected a number"),
        (lambda s: s["rates"]["harm"].update(log_products=3), "expected a list"),
        (lambda s: s["last"].update(outcome="maybe"), "expected one of"),
    ],
)
def test_corrupt_state_is_refused(full_criteria: AnalysisCriteria, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    stored = start(full_criteria).metric_state_json("errors")
    edit(stored)
    with pytest.raises(StateError, match=message):
        restore(full_criteria, start(full_criteria).tuning.to_status(), {"errors": stored})


def test_missing_tuning_is_refused(full_criteria: AnalysisCriteria) -> None:
    with pytest.raises(StateError, match="incomplete"):
        restore(full_criteria, {"alpha": 0.05}, {})


def test_a_metric_whose_kind_changed_starts_fresh(full_criteria: AnalysisCriteria) -> None:
    state = update(start(full_criteria), intervals(seed=3, count=1)[0])  # type: ignore[arg-type]
    renamed = replace(
        full_criteria, metrics=(GuardCriteria("errors", "q", max=1.0), *full_criteria.metrics[1:])
    )
    stored = {name: state.metric_state_json(name) for name in state.metrics}
    restored = restore(renamed, state.tuning.to_status(), stored)
    assert restored.metrics["errors"].kind == "guard"
    assert restored.metrics["errors"].last.outcome == "pending"
    assert restored.metrics["latency"] == state.metrics["latency"]


def test_tuning_is_fixed_from_the_forecast(full_criteria: AnalysisCriteria) -> None:
    tuning = start(full_criteria, TrafficForecast(50, 950, 60)).tuning
    assert tuning.expected_samples == pytest.approx(2850.0)
    assert set(tuning.to_status()) == {"alpha", "expectedSamples", "rho2"}
    assert start(full_criteria).tuning.expected_samples == 1000.0
