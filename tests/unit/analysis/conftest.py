"""Builders shared by the analysis tests: criteria and observations in a line each."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import (
    AnalysisCriteria,
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    HistogramObservation,
    LatencyCriteria,
    RateCounts,
    RateObservation,
)

LATENCY_EDGES = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SCORE_EDGES = tuple(float(e) for e in np.round(np.linspace(0.1, 0.9, 9), 2))


def rates(candidate: tuple[int, int], baseline: tuple[int, int]) -> RateObservation:
    """(requests, errors) of each cohort."""
    return RateObservation(RateCounts(*candidate), RateCounts(*baseline))


def histogram(
    candidate: list[int], baseline: list[int], edges: tuple[float, ...] = LATENCY_EDGES
) -> HistogramObservation:
    return HistogramObservation(edges, tuple(candidate), tuple(baseline))


@pytest.fixture
def full_criteria() -> AnalysisCriteria:
    return AnalysisCriteria(
        metrics=(
            ErrorRateCriteria("errors", "e", "t"),
            LatencyCriteria("latency", "b", slo=0.5),
            DriftCriteria("scores", "s", score_range=None),
            GuardCriteria("gpu", "g", max=100.0, consecutive=2),
        )
    )
