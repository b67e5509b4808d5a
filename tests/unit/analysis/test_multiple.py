"""Holm's procedure, plain and weighted, on hand-worked families."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# --- weighted Holm -------------------------------------------------------------------------------

WEIGHTS = {"errors": 1.0, "latency": 0.5, "latency:tail": 0.5}


@pytest.mark.parametrize(
    ("p_values", "rejected"),
    [
        # By hand: errors' level is 0.05 x 1/2 = 0.025 first (p/w smallest), then latency's
        # 0.05 x 0.5/1 = 0.025, then the tail's 0.05.
        ({"errors": 0.02, "latency": 0.3, "latency:tail": 0.4}, {"errors"}),
        ({"errors": 0.03, "latency": 0.3, "latency:tail": 0.4}, set()),  # plain Holm: 0.03 > 0.0167 too
        ({"errors": 0.02, "latency": 0.012, "latency:tail": 0.4}, {"errors", "latency"}),
        # the tail first: 0.01 / 0.5 = 0.02 < 0.024: 0.01 <= 0.05 x 0.5/2 = 0.0125, then errors
        # 0.024 <= 0.05 x 1/1.5 = 0.0333, then latency 0.05 <= 0.05.
        ({"errors": 0.024, "latency": 0.05, "latency:tail": 0.01}, {"errors", "latency", "latency:tail"}),
    ],
)
def test_weighted_step_down_by_hand(p_values: dict[str, float], rejected: set[str]) -> None:
    assert holm_rejected(p_values, 0.05, WEIGHTS) == rejected


def test_equal_weights_are_plain_holm() -> None:
    p_values = {"a": 0.01, "b": 0.04, "c": 0.03}
    assert holm_thresholds(p_values, 0.05, dict.fromkeys(p_values, 3.0)) == pytest.approx(
        holm_thresholds(p_values, 0.05)
    )


@given(
    p=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
    w=st.lists(st.floats(0.1, 5.0), min_size=5, max_size=5),
)
def test_weighted_holm_rejects_at_least_weighted_bonferroni(p: list[float], w: list[float]) -> None:
    names = [f"t{i}" for i in range(len(p))]
    p_values = dict(zip(names, p, strict=True))
    weights = dict(zip(names, w, strict=False))
    total = sum(weights.values())
    bonferroni = {name for name in names if p_values[name] <= 0.05 * weights[name] / total}
    assert bonferroni <= holm_rejected(p_values, 0.05, weights)


def test_weighted_holm_holds_the_family_wise_error_rate() -> None:
    # Three true nulls with independent uniform p-values (the worst case is dependence, which
    # only lowers it): any rejection in at most alpha of 20,000 draws, with sampling slack.
    rng = np.random.default_rng(7)
    draws = rng.uniform(size=(20_000, 3))
    any_rejected = sum(
        bool(holm_rejected(dict(zip(WEIGHTS, row, strict=True)), 0.05, WEIGHTS)) for row in draws
    )
    assert any_rejected / 20_000 <= 0.05 + 0.005
