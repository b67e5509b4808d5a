"""The conditional-binomial e-process and the rate effect estimates against direct computation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.observations import RateCounts
from analysis.rates import (
    RATIO_GRID,
    RATIO_PRIOR,
    EProcess,
    RateEvidence,
    conditional_log_lr,
    hard_limit_log_lr,
    mixture_log_e,
    non_inferiority_margin,
    share,
)

counts = st.integers(0, 400)


@given(x_c=counts, x_b=counts, pi=st.floats(0.001, 0.999))
@settings(deadline=None)
def test_likelihood_ratio_equals_the_binomial_pmf_ratio(x_c: int, x_b: int, pi: float) -> None:
    k = x_c + x_b
    expected = [
        stats.binom.logpmf(x_c, k, float(share(pi, r))) - stats.binom.logpmf(x_c, k, pi) for r in RATIO_GRID
    ]
    assert conditional_log_lr(x_c, x_b, pi) == pytest.approx(expected, abs=1e-7)


def test_hand_computed_interval() -> None:
    # pi = 0.05, 3 of 10 errors from the candidate, r = 2: q = 0.1/1.05.
    q = 0.1 / 1.05
    by_hand = 3 * math.log(q / 0.05) + 7 * math.log((1 - q) / 0.95)
    assert conditional_log_lr(3, 7, 0.05)[2] == pytest.approx(by_hand)
    assert math.exp(mixture_log_e(conditional_log_lr(3, 7, 0.05))) == pytest.approx(6.3960, rel=1e-4)
    # The prior-weighted mean of the grid's LRs, as the docs write it out.
    lrs = (1.7250, 2.6365, 4.9113, 10.4097, 20.1882, 24.3400)
    by_hand_e = sum(w * lr for w, lr in zip((1, 3, 4, 1.5, 0.5, 0.5), lrs, strict=True)) / 10.5
    assert np.exp(conditional_log_lr(3, 7, 0.05)) == pytest.approx(lrs, rel=1e-4)
    assert math.exp(mixture_log_e(conditional_log_lr(3, 7, 0.05))) == pytest.approx(by_hand_e, rel=1e-4)
    assert sum(RATIO_PRIOR) == pytest.approx(1.0)


def test_e_process_is_a_supermartingale_under_the_null() -> None:
    # E[LR(r)] over the exact conditional law: binomial (Poisson errors) gives exactly 1,
    # hypergeometric (binomial errors) at most 1.
    k, n_c, n_b = 12, 50, 950
    x = np.arange(k + 1)
    lr = np.exp(conditional_log_lr(x, k - x, n_c / (n_c + n_b)))
    binomial = stats.binom.pmf(x, k, n_c / (n_c + n_b)) @ lr
    hypergeometric = stats.hypergeom.pmf(x, n_c + n_b, n_c, k) @ lr
    assert binomial == pytest.approx(np.ones(len(RATIO_GRID)))
    assert np.all(hypergeometric <= 1.0 + 1e-12)


@given(x_c=st.integers(0, 50), x_b=st.integers(0, 50), extra=st.integers(1, 20))
@settings(deadline=None)
def test_more_candidate_errors_never_lower_the_evidence(x_c: int, x_b: int, extra: int) -> None:
    fewer = EProcess().extend(conditional_log_lr(x_c, x_b, 0.1))
    more = EProcess().extend(conditional_log_lr(x_c + extra, x_b, 0.1))
    assert more.log_e >= fewer.log_e
    assert more.p_value <= fewer.p_value


def test_p_value_uses_the_running_maximum() -> None:
    high = EProcess().extend(conditional_log_lr(6, 4, 0.05))
    lower = high.extend(conditional_log_lr(0, 30, 0.05))
    assert lower.log_e < high.log_e
    assert lower.p_value == high.p_value == pytest.approx(math.exp(-high.log_e))


def test_no_events_or_an_empty_cohort_carry_no_evidence() -> None:
    assert np.all(conditional_log_lr(0, 0, 0.3) == 0.0)
    assert np.all(conditional_log_lr(4, 0, 1.0) == 0.0)
    evidence = RateEvidence().add(RateCounts(0, 0), RateCounts(100, 3))
    assert not evidence.compared
    assert evidence.baseline_requests == 100


STRATA = [((50, 1), (950, 9)), ((200, 5), (800, 8)), ((10, 0), (90, 2)), ((500, 12), (500, 4))]


def test_stratified_estimates_equal_their_formulas() -> None:
    evidence = RateEvidence()
    for (n_c, x_c), (n_b, x_b) in STRATA:
        evidence = evidence.add(RateCounts(n_c, x_c), RateCounts(n_b, x_b))
    h = [n_c * n_b / (n_c + n_b) for (n_c, _), (n_b, _) in STRATA]
    d = [x_c / n_c - x_b / n_b for (n_c, x_c), (n_b, x_b) in STRATA]
    mh = sum(x_c * n_b / (n_c + n_b) for (n_c, x_c), (n_b, _) in STRATA) / sum(
        x_b * n_c / (n_c + n_b) for (n_c, _), (n_b, x_b) in STRATA
    )
    assert evidence.difference == pytest.approx(np.dot(h, d) / sum(h))
    assert evidence.ratio == pytest.approx(mh)
    p_c = (1 + 1 + 5 + 0 + 12) / (760 + 2)
    p_b = (9 + 8 + 2 + 4 + 1) / (2340 + 2)
    variance = (
        sum(
            hi**2 * (p_c * (1 - p_c) / n_c + p_b * (1 - p_b) / n_b)
            for hi, ((n_c, _), (n_b, _)) in zip(h, STRATA, strict=True)
        )
        / sum(h) ** 2
    )
    assert evidence.difference_variance == pytest.approx(variance)
    assert evidence.candidate_requests == 760
    assert evidence.baseline_events == 23


def test_hard_limit_is_a_binomial_test_of_the_candidate_alone() -> None:
    expected = [
        stats.binom.logpmf(7, 60, float(share(0.05, r))) - stats.binom.logpmf(7, 60, 0.05) for r in RATIO_GRID
    ]
    assert hard_limit_log_lr(RateCounts(60, 7), 0.05) == pytest.approx(expected)


def test_margin_defaults() -> None:
    assert non_inferiority_margin(0.02, None) == pytest.approx(0.01)
    assert non_inferiority_margin(0.0, None) == 0.001
    assert non_inferiority_margin(0.0, None, floor=0.005) == 0.005
    assert non_inferiority_margin(0.3, 0.002) == 0.002
