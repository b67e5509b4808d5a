"""bench/ratio_prior.py measures the engine's error-rate e-process: properties that hold by design."""

from __future__ import annotations

import pytest

from analysis.rates import RATIO_PRIOR
from bench.ratio_prior import LEVEL, SETUPS, rolled_back

UNIFORM = (1.0,) * len(RATIO_PRIOR)


def test_false_rollbacks_stay_under_the_level_whatever_the_prior() -> None:
    for prior in (UNIFORM, RATIO_PRIOR):
        share, _ = rolled_back(prior, 0.01, SETUPS[0], runs=4000, seed=0)
        assert share <= LEVEL


def test_severe_harm_goes_at_the_first_look_and_the_prior_finds_moderate_harm_more_often() -> None:
    _, look = rolled_back(RATIO_PRIOR, 0.10, SETUPS[0], runs=2000, seed=1)
    assert look == 1
    uniform, _ = rolled_back(UNIFORM, 0.02, SETUPS[0], runs=4000, seed=2)
    tuned, _ = rolled_back(RATIO_PRIOR, 0.02, SETUPS[0], runs=4000, seed=2)
    assert tuned > uniform + 0.02
    assert uniform == pytest.approx(0.73, abs=0.04)
