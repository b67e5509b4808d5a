"""Mann-Whitney from bucket counts against scipy on the expanded samples, and CLES by brute force."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.ranks import RankEvidence, stratum_ranks

bucket_counts = st.lists(st.integers(0, 30), min_size=2, max_size=12)


def expand(counts: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def cohorts(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    candidate = draw(bucket_counts)
    baseline = draw(st.lists(st.integers(0, 30), min_size=len(candidate), max_size=len(candidate)))
    return candidate, baseline


pairs = st.composite(cohorts)()


@given(pairs)
@settings(max_examples=200, deadline=None)
def test_equals_scipy_on_the_expanded_samples(pair: tuple[list[int], list[int]]) -> None:
    candidate, baseline = pair
    x, y = expand(candidate), expand(baseline)
    assume(len(x) > 0 and len(y) > 0 and len(np.unique(np.concatenate([x, y]))) > 1)
    reference = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=False)
    ranks = stratum_ranks(candidate, baseline)
    assert float(ranks.u) == pytest.approx(reference.statistic)
    assert float(ranks.p_two_sided) == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-12)


@given(pairs)
@settings(deadline=None)
def test_cles_and_placements_by_brute_force(pair: tuple[list[int], list[int]]) -> None:
    candidate, baseline = pair
    x, y = expand(candidate), expand(baseline)
    assume(len(x) > 0 and len(y) > 0)
    slower = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    wins = slower.mean()
    ranks = stratum_ranks(candidate, baseline)
    assert float(ranks.cles) == pytest.approx(wins)
    candidate_placements, baseline_placements = slower.mean(axis=1), slower.mean(axis=0)
    assert float(ranks.candidate_placement_ss) == pytest.approx(((candidate_placements - wins) ** 2).sum())
    assert float(ranks.baseline_placement_ss) == pytest.approx(((baseline_placements - wins) ** 2).sum())


def test_identical_cohorts_have_no_effect() -> None:
    ranks = stratum_ranks([3, 10, 4, 1], [3, 10, 4, 1])
    assert float(ranks.cles) == 0.5
    assert float(ranks.z) == 0.0


def test_batch_of_intervals_matches_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    candidate = rng.integers(0, 20, size=(5, 8))
    baseline = rng.integers(0, 20, size=(5, 8))
    batch = stratum_ranks(candidate, baseline)
    for row in range(5):
        single = stratum_ranks(candidate[row], baseline[row])
        assert float(batch.u[row]) == pytest.approx(float(single.u))
        assert float(batch.null_variance[row]) == pytest.approx(float(single.null_variance))


def test_van_elteren_sum_and_stratified_cles() -> None:
    strata = [([5, 3, 2], [40, 30, 20]), ([1, 1, 8], [10, 10, 10]), ([0, 4, 0], [3, 0, 5])]
    evidence = RankEvidence()
    for candidate, baseline in strata:
        evidence = evidence.add(stratum_ranks(candidate, baseline), rho2=0.01)
    score = variance = weight = weighted = 0.0
    for candidate, baseline in strata:
        ranks = stratum_ranks(candidate, baseline)
        n_c, n_b = sum(candidate), sum(baseline)
        score += (float(ranks.u) - n_c * n_b / 2) / (n_c + n_b + 1)
        variance += float(ranks.null_variance) / (n_c + n_b + 1) ** 2
        weight += n_c * n_b / (n_c + n_b)
        weighted += n_c * n_b / (n_c + n_b) * float(ranks.cles)
    assert evidence.score == pytest.approx(score)
    assert evidence.score_variance == pytest.approx(variance)
    assert evidence.cles == pytest.approx(weighted / weight)
    assert evidence.candidate_dof == (10 - 1) + (10 - 1) + (4 - 1)


def test_delong_variance_matches_the_spread_of_cles_in_simulation() -> None:
    rng = np.random.default_rng(11)
    edges = np.linspace(-2, 3, 12)

    def one_interval(shift: float) -> tuple[np.ndarray, np.ndarray]:
        c = np.bincount(np.searchsorted(edges, rng.normal(shift, 1, 80)), minlength=13)
        b = np.bincount(np.searchsorted(edges, rng.normal(0, 1, 400)), minlength=13)
        return c, b

    estimates, variances = [], []
    for _ in range(400):
        evidence = RankEvidence()
        for _ in range(6):
            evidence = evidence.add(stratum_ranks(*one_interval(0.6)), rho2=0.01)
        estimates.append(evidence.cles)
        variances.append(evidence.cles_variance)
    # Away from H0 the DeLong variance must track the real spread (within Monte Carlo error).
    assert np.mean(variances) == pytest.approx(np.var(estimates), rel=0.2)
