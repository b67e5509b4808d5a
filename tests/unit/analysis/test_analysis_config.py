"""The spec-to-criteria mapping: every analysis field reaches the engine unchanged."""

from __future__ import annotations

from pathlib import Path

import yaml

from analysis import (
    DriftCriteria,
    ErrorRateCriteria,
    GuardCriteria,
    LatencyCriteria,
    LatencyTolerance,
    MinEvidence,
    ScoreRange,
)
from analysis.criteria import HistogramKind
from rollouts.api.resource import ModelRollout
from rollouts.controller.core.analysis_config import analysis_criteria

EXAMPLE = Path(__file__).parents[3] / "examples" / "rollouts" / "gateway-api.yaml"


def test_the_example_rollout_maps_field_by_field() -> None:
    rollout = ModelRollout.model_validate(yaml.safe_load(EXAMPLE.read_text()))
    criteria = analysis_criteria(rollout.spec.analysis)
    errors, latency, scores, gpu = criteria.metrics
    assert criteria.alpha == 0.05
    assert criteria.min_evidence == MinEvidence(requests=500, errors=10, predictions=200)
    assert errors == ErrorRateCriteria(
        "errors",
        'model_requests_total{version="{{version}}", code=~"5.."}',
        'model_requests_total{version="{{version}}"}',
        max_ratio=1.25,
        max_increase=0.001,
        hard_limit=0.05,
        margin=None,
    )
    assert latency == LatencyCriteria(
        "latency",
        'model_request_duration_seconds_bucket{version="{{version}}"}',
        slo=0.5,
        max_shift=0.55,
        tolerance=LatencyTolerance(quantiles=(0.5, 0.9, 0.99), ratio=1.1, milliseconds=20.0),
    )
    assert scores == DriftCriteria(
        "scores",
        'model_prediction_score_bucket{version="{{version}}"}',
        warn=0.1,
        fail=0.25,
        on_fail="hold",
        score_range=ScoreRange(0.0, 1.0),
    )
    assert gpu == GuardCriteria(
        "gpu-memory", 'max(model_gpu_memory_bytes{version="{{version}}"}) / 2^20', max=70000, consecutive=2
    )


# Every query names {{version}} (the schema refuses one that does not: both cohorts would read
# the same series).
B, C, INVALID, E, T = (f'{name}{{version="{{{{version}}}}"}}' for name in ("b", "c", "i", "e", "t"))


def test_overrides_reach_the_engine() -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    analysis = document["spec"]["analysis"]
    analysis["alpha"] = 0.01
    analysis["minEvidence"] = {"requests": 100, "errors": 3, "predictions": 50}
    analysis["metrics"] = [
        {
            "name": "latency",
            "latency": {
                "buckets": B,
                "maxShift": 0.6,
                "tailRatio": 2.0,
                "tailIncrease": 0.01,
                "slo": 1.0,
                "tolerance": {"quantiles": [0.99], "ratio": 1.5, "milliseconds": 0},
            },
        },
        {
            "name": "labels",
            "drift": {
                "buckets": C,
                "by": "label",
                "onFail": "rollback",
                "invalid": INVALID,
                "maxInvalidRatio": 0.05,
            },
        },
        {"name": "errors", "errorRate": {"errors": E, "total": T, "margin": 0.002}},
    ]
    criteria = analysis_criteria(ModelRollout.model_validate(document).spec.analysis)
    assert criteria.alpha == 0.01
    assert criteria.min_evidence == MinEvidence(requests=100, errors=3, predictions=50)
    latency, labels, errors = criteria.metrics
    assert latency == LatencyCriteria(
        "latency",
        B,
        slo=1.0,
        max_shift=0.6,
        tail_ratio=2.0,
        tail_increase=0.01,
        tolerance=LatencyTolerance(quantiles=(0.99,), ratio=1.5, milliseconds=0.0),
    )
    assert latency.pass_below == 0.61  # type: ignore[union-attr]
    assert labels == DriftCriteria(
        "labels", C, by="label", on_fail="rollback", invalid_query=INVALID, max_invalid_ratio=0.05
    )
    assert not labels.numeric  # type: ignore[union-attr]
    assert errors == ErrorRateCriteria("errors", E, T, margin=0.002)


def test_a_native_histogram_reaches_the_engine() -> None:
    example = EXAMPLE.parents[1] / "native-histograms" / "rollout.yaml"
    rollout = ModelRollout.model_validate(yaml.safe_load(example.read_text()))
    _, latency = analysis_criteria(rollout.spec.analysis).metrics
    assert latency == LatencyCriteria(
        "latency", 'model_request_duration_seconds{version="{{version}}"}', histogram=HistogramKind.NATIVE
    )
