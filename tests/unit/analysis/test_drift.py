"""PSI and Jensen-Shannon against direct computation; the noise floor against simulation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from analysis.drift import (
    MIN_BIN_COUNT,
    DriftEvidence,
    compare,
    js_distance,
    merge_ordered_bins,
    merge_sparse_classes,
    noise_floor,
    psi,
)

probabilities = st.lists(st.floats(0.01, 1.0), min_size=2, max_size=20).map(lambda v: np.array(v) / sum(v))


@given(probabilities, st.data())
@settings(deadline=None)
def test_psi_and_js_equal_direct_computation(p: np.ndarray, data: st.DataObject) -> None:
    q = data.draw(
        st.lists(st.floats(0.01, 1.0), min_size=len(p), max_size=len(p)).map(lambda v: np.array(v) / sum(v))
    )
    assert psi(p, q) == pytest.approx(sum((a - b) * math.log(a / b) for a, b in zip(p, q, strict=True)))
    with np.errstate(invalid="ignore"):  # for p == q scipy takes the sqrt of a rounding-negative 0
        reference = float(np.nan_to_num(jensenshannon(p, q)))
    # Compared squared: near 0 a square root turns rounding errors of 1e-17 into 1e-9.
    assert js_distance(p, q) ** 2 == pytest.approx(reference**2, abs=1e-12)


def test_merged_bins_reach_the_minimum_in_both_cohorts() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        candidate = rng.poisson(rng.uniform(0, 8), size=15).astype(float)
        reference = rng.poisson(rng.uniform(0, 8), size=15).astype(float)
        for merge in (merge_ordered_bins, merge_sparse_classes):
            groups = merge(candidate, reference)
            assert sorted(i for g in groups for i in g) == list(range(15))
            if len(groups) > 1:
                assert all(candidate[g].sum() >= MIN_BIN_COUNT for g in groups)
                assert all(reference[g].sum() >= MIN_BIN_COUNT for g in groups)


def test_ordered_merging_keeps_bins_adjacent() -> None:
    groups = merge_ordered_bins(np.array([0.0, 1, 9, 0, 6, 1]), np.array([2.0, 9, 1, 1, 7, 0]))
    assert all(g == list(range(g[0], g[-1] + 1)) for g in groups)


@pytest.mark.parametrize("numeric", [True, False])
def test_noise_floor_is_the_0999_quantile_under_h0(numeric: bool) -> None:
    rng = np.random.default_rng(2024)
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.2, 0.1, 0.05])
    candidate_n, baseline_n, runs = 400, 3000, 20_000
    candidate = rng.multinomial(candidate_n, p, size=runs) / candidate_n
    baseline = rng.multinomial(baseline_n, p, size=runs) / baseline_n
    floor = noise_floor(numeric, candidate_n, baseline_n, len(p))
    eps = 1e-12
    if numeric:
        values = np.sum((candidate - baseline) * np.log((candidate + eps) / (baseline + eps)), axis=1)
    else:
        values = jensenshannon(candidate, baseline, axis=1)
    # 0.1% expected above the floor; 0.5% would be 8.9 standard errors away.
    assert np.mean(values > floor) < 0.005


def test_display_tests_equal_scipy_on_the_merged_table() -> None:
    result = compare(True, np.array([30.0, 50, 20]), np.array([0.4, 0.4, 0.2]), 100.0)
    table = np.array([[30, 50, 20], [40, 40, 20]])
    assert result.chi_square == pytest.approx(chi2_contingency(table, correction=False)[0])
    g, p_value = chi2_contingency(table, correction=False, lambda_="log-likelihood")[:2]
    assert (result.g_statistic, result.g_p_value) == pytest.approx((g, p_value))


def test_reweighted_baseline_follows_the_candidates_intervals() -> None:
    # Interval 1: baseline all in bin 0; interval 2: all in bin 1. The candidate is 90% in
    # interval 2, so its reference must be 90% bin 1, whatever the baseline's own split.
    evidence = DriftEvidence().add([10, 0], [500, 0], 0, 0).add([0, 90], [0, 100], 0, 0)
    reference = np.array(evidence.reference) / evidence.candidate_total
    assert reference == pytest.approx([0.1, 0.9])
    assert evidence.effective_baseline == pytest.approx(100**2 / (10**2 / 500 + 90**2 / 100))
    assert evidence.compare(numeric=True).value == pytest.approx(0.0, abs=1e-12)


def test_a_constant_split_keeps_the_real_baseline_size() -> None:
    evidence = DriftEvidence().add([5, 5], [95, 95], 0, 0).add([10, 3], [190, 57], 1, 2)
    assert evidence.effective_baseline == pytest.approx(95 + 95 + 190 + 57)
    assert (evidence.invalid_candidate, evidence.invalid_baseline) == (1, 2)


def test_one_bin_after_merging_has_no_finite_floor() -> None:
    result = compare(False, np.array([2.0, 1.0]), np.array([0.5, 0.5]), 3.0)
    assert result.bins == 1
    assert result.floor == math.inf
