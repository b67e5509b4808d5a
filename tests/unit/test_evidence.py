"""The evidence fold and the window schedule (rollouts.controller.core.evidence, .schedule): pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analysis import QueryFailed
from analysis.engine import expected_samples
from analysis.observations import RateCounts, RateObservation, Window
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus, Verdict
from rollouts.api.timestamps import format_timestamp
from rollouts.controller.core.evidence import begin, fold, forecast, planned_intervals, step_feasibility
from rollouts.controller.core.observed import WindowObservations
from rollouts.controller.core.schedule import LOOK_DELAY, MAX_WINDOWS_PER_RECONCILE, due_windows

T0 = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def spec_of(**analysis: Any) -> ModelRolloutSpec:
    return ModelRolloutSpec.model_validate(
        {
            "baseline": {"deployment": "m-v1", "version": "v1"},
            "candidate": {"deployment": "m-v2", "version": "v2"},
            "traffic": {"replicas": {}},
            "steps": [{"setWeight": 10}, {"analyze": {"duration": "30m"}}],
            "analysis": {
                "prometheus": {"address": "http://prometheus:9090"},
                "interval": "1m",
                "metrics": [
                    {
                        "name": "errors",
                        "errorRate": {
                            "errors": 'e{v="{{version}}"}',
                            "total": 't{v="{{version}}"}',
                        },
                    }
                ],
                **analysis,
            },
        }
    )


def window(k: int, candidate: tuple[int, int], baseline: tuple[int, int]) -> WindowObservations:
    observation = RateObservation(RateCounts(*candidate), RateCounts(*baseline))
    return WindowObservations(Window(T0 + k * MINUTE, T0 + (k + 1) * MINUTE), {"errors": observation})


def failed(k: int) -> WindowObservations:
    return WindowObservations(
        Window(T0 + k * MINUTE, T0 + (k + 1) * MINUTE), {"errors": QueryFailed("connection refused")}
    )


def test_tuning_is_fixed_at_the_first_window_from_its_traffic_over_the_plan() -> None:
    spec = spec_of()
    evidence = fold(spec, begin(T0), [window(0, (100, 1), (900, 9))])
    assert planned_intervals(spec) == 30
    assert evidence.analysis.tuning["expectedSamples"] == pytest.approx(
        expected_samples(forecast(spec, {"errors": RateObservation(RateCounts(100, 1), RateCounts(900, 9))}))
    )
    assert evidence.analysis.tuning["expectedSamples"] == pytest.approx(30 * 100 * 900 / 1000)
    later = fold(spec, evidence.analysis, [window(1, (5, 0), (5, 0))])
    assert later.analysis.tuning == evidence.analysis.tuning  # fixed once


def test_folding_windows_one_by_one_equals_folding_them_together() -> None:
    spec = spec_of()
    windows = [window(k, (100, 1 + k % 2), (900, 9)) for k in range(6)]
    together = fold(spec, begin(T0), windows).analysis
    one_by_one = begin(T0)
    for item in windows:
        one_by_one = fold(spec, one_by_one, [item]).analysis
    assert together == one_by_one
    assert together.looks == 6
    assert together.last_look_at == format_timestamp(T0 + 6 * MINUTE)


def test_failed_queries_count_consecutive_errors_and_a_good_window_resets_them() -> None:
    spec = spec_of()
    evidence = fold(spec, begin(T0), [window(0, (100, 1), (900, 9)), failed(1), failed(2)])
    assert evidence.analysis.consecutive_errors == 2
    assert fold(spec, evidence.analysis, [window(3, (100, 1), (900, 9))]).analysis.consecutive_errors == 0


def test_harm_gives_rollback_reasons() -> None:
    spec = spec_of()
    evidence = fold(spec, begin(T0), [window(k, (200, 40), (1800, 18)) for k in range(5)])
    assert evidence.analysis.verdict is Verdict.FAIL
    assert evidence.rollback and evidence.rollback[0].startswith("errors: candidate worse")


def test_unreadable_evidence_starts_over_and_says_why() -> None:
    spec = spec_of()
    good = fold(spec, begin(T0), [window(0, (100, 1), (900, 9))]).analysis
    broken = good.model_copy(
        update={
            "metrics": tuple(
                m.model_copy(update={"state": {"kind": "errorRate", "rates": "nonsense"}})
                for m in good.metrics
            )
        }
    )
    evidence = fold(spec, broken, [window(1, (100, 1), (900, 9))])
    assert evidence.reset is not None and "started over" in evidence.reset
    assert evidence.analysis.looks == 2  # the count of looks goes on; the evidence is new
    assert evidence.analysis.metrics[0].candidate_samples == 100


def test_windows_are_aligned_to_the_analysis_start_and_caught_up_after_a_restart() -> None:
    spec = spec_of()
    status = ModelRolloutStatus(analysis=begin(T0))
    assert due_windows(spec, status, T0 + MINUTE) == []  # not due before the look delay
    assert due_windows(spec, status, T0 + MINUTE + LOOK_DELAY) == [Window(T0, T0 + MINUTE)]
    restarted = T0 + timedelta(minutes=7, seconds=30)
    assert due_windows(spec, status, restarted) == [
        Window(T0 + k * MINUTE, T0 + (k + 1) * MINUTE) for k in range(7)
    ]
    long_down = T0 + timedelta(hours=1)
    assert len(due_windows(spec, status, long_down)) == MAX_WINDOWS_PER_RECONCILE


def test_feasibility_is_judged_on_the_new_evidence() -> None:
    spec = spec_of()
    evidence = fold(spec, begin(T0), [window(0, (2, 0), (18, 0))])
    status = ModelRolloutStatus(
        analysis=evidence.analysis, current_step=1, weight=10, step_started_at=format_timestamp(T0)
    )
    message = step_feasibility(spec, status, T0 + 2 * MINUTE, evidence.state)
    assert message is not None and message.startswith("step 1 may not reach a PASS at 10%")
    assert step_feasibility(spec, status, T0 + 2 * MINUTE) == message  # restored from status: the same


def test_feasibility_at_a_mirror_step_forecasts_the_mirrored_share() -> None:
    """At weight 0 with 50% mirrored, a third of the samples are the candidate's: 10 of 30 a look."""
    spec = spec_of()
    evidence = fold(spec, begin(T0), [window(0, (10, 0), (20, 0))])
    status = ModelRolloutStatus(
        analysis=evidence.analysis, current_step=1, weight=0, mirror=50, step_started_at=format_timestamp(T0)
    )
    message = step_feasibility(spec, status, T0 + 2 * MINUTE, evidence.state)
    assert message is not None and message.startswith("step 1 may not reach a PASS at 0% with 50% mirrored")
    assert "the forecast reaches 290" in message  # 10 seen, then 10 a look over the 28 looks left
    header_only = status.model_copy(update={"mirror": None})
    assert step_feasibility(spec, header_only, T0 + 2 * MINUTE, evidence.state) is None  # no forecast
