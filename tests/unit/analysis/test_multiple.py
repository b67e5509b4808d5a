"""Holm's procedure on hand-worked families."""

import pytest

from analysis.multiple import holm_rejected, holm_thresholds


@pytest.mark.parametrize(
    ("p_values", "rejected"),
    [
        ({"a": 0.01, "b": 0.04, "c": 0.03}, {"a"}),
        ({"a": 0.01, "b": 0.02, "c": 0.03}, {"a", "b", "c"}),
        ({"a": 0.02, "b": 0.9}, {"a"}),
        ({"a": 0.03, "b": 0.9}, set()),
        ({}, set()),
    ],
)
def test_step_down(p_values: dict[str, float], rejected: set[str]) -> None:
    assert holm_rejected(p_values, 0.05) == rejected


def test_thresholds_by_rank() -> None:
    assert holm_thresholds({"x": 0.5, "y": 0.001, "z": 0.2}, 0.06) == {"y": 0.02, "z": 0.03, "x": 0.06}
