"""Prediction drift: PSI (score histograms) or Jensen-Shannon distance (classes) vs a noise floor.

Why a noise floor: both measures are positive even between identical distributions, and more so
the fewer predictions there are. Under H0 with M baseline and N candidate predictions in B bins,
PSI = sum (c - r) ln(c / r) ~ sum (c - r)^2 / p ~ (1/M + 1/N) chi2(B - 1), and the squared JS
distance ~ (1/8) (1/M + 1/N) chi2(B - 1). The floor is the 0.999 quantile of that law: drift is
reported only above it, so a small sample never looks like a shifted model.

Why merging: a bin with a handful of predictions makes ln(c / r) explode. Adjacent score bins
(or, for classes, all sparse classes together) are merged until each has at least 5 predictions
in both cohorts; B counts the merged bins.

Why a reweighted baseline: predictions move with time of day, and when the weight changes the
candidate's predictions come from different hours than most of the baseline's. The reference is
the baseline's distribution of each interval weighted by the candidate's share of predictions in
that interval, r = sum_i (n_c,i / N_c) b_i / n_b,i, and its effective size is Kish's
M = N_c^2 / sum_i (n_c,i^2 / n_b,i) (= N_b when the split never changes).

Worked example: candidate counts (30, 50, 20) against a baseline of (40, 40, 20):
PSI = -0.1 ln(0.75) + 0.1 ln(1.25) + 0 = 0.0511; JS distance = 0.0798; with M = N = 100 and
B = 3 the floors are 0.02 * 13.82 = 0.276 (PSI) and sqrt(0.276 / 8) = 0.186 (JS): no drift.

Chi-square and G statistics on the merged table are computed for display only (a fixed-horizon
test repeated every look is not a decision rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy.special import chdtrc, chdtri

FloatArray = npt.NDArray[np.float64]

MIN_BIN_COUNT = 5.0
FLOOR_QUANTILE = 0.999


def merge_ordered_bins(candidate: FloatArray, reference: FloatArray) -> list[list[int]]:
    """Groups of adjacent bins, each with at least MIN_BIN_COUNT in both cohorts.

    A trailing group that falls short joins the group before it.

    >>> merge_ordered_bins(np.array([1.0, 9, 2, 3, 40]), np.array([2.0, 8, 6, 1, 30]))
    [[0, 1], [2, 3], [4]]
    """
    groups: list[list[int]] = []
    current: list[int] = []
    have_c = have_r = 0.0
    for index, (count_c, count_r) in enumerate(zip(candidate, reference, strict=True)):
        current.append(index)
        have_c += count_c
        have_r += count_r
        if have_c >= MIN_BIN_COUNT and have_r >= MIN_BIN_COUNT:
            groups.append(current)
            current, have_c, have_r = [], 0.0, 0.0
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def merge_sparse_classes(candidate: FloatArray, reference: FloatArray) -> list[list[int]]:
    """Classes with at least MIN_BIN_COUNT in both cohorts stay; the rest form one "other" bin.

    An "other" bin still short of the minimum joins the smallest class that stayed.

    >>> merge_sparse_classes(np.array([50.0, 2, 30, 1]), np.array([40.0, 3, 35, 9]))
    [[0], [2, 1, 3]]
    """
    dense = [i for i in range(len(candidate)) if min(candidate[i], reference[i]) >= MIN_BIN_COUNT]
    sparse = [i for i in range(len(candidate)) if i not in dense]
    groups = [[i] for i in dense]
    if not sparse:
        return groups
    if not groups:
        return [sparse]
    if min(candidate[sparse].sum(), reference[sparse].sum()) >= MIN_BIN_COUNT:
        return [*groups, sparse]
    smallest = min(range(len(groups)), key=lambda g: candidate[groups[g]].sum() + reference[groups[g]].sum())
    groups[smallest] = groups[smallest] + sparse
    return groups


def psi(candidate: FloatArray, reference: FloatArray) -> float:
    """Population stability index sum (c - r) ln(c / r) of two probability vectors without zeros.

    >>> round(psi(np.array([0.3, 0.5, 0.2]), np.array([0.4, 0.4, 0.2])), 4)
    0.0511
    """
    return float(np.sum((candidate - reference) * np.log(candidate / reference)))


def js_distance(candidate: FloatArray, reference: FloatArray) -> float:
    """Jensen-Shannon distance sqrt(KL(c||m)/2 + KL(r||m)/2), m = (c + r)/2, natural log.

    >>> round(js_distance(np.array([0.3, 0.5, 0.2]), np.array([0.4, 0.4, 0.2])), 4)
    0.0798
    """
    middle = (candidate + reference) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(candidate > 0, candidate * np.log(candidate / middle), 0.0)
        right = np.where(reference > 0, reference * np.log(reference / middle), 0.0)
    return math.sqrt(max(0.0, float(left.sum() + right.sum()) / 2.0))


def noise_floor(numeric: bool, candidate_n: float, baseline_n: float, bins: int) -> float:
    """The 0.999 quantile of PSI (numeric) or JS distance (classes) between equal distributions.

    >>> round(noise_floor(True, 100, 100, 3), 3), round(noise_floor(False, 100, 100, 3), 3)
    (0.276, 0.186)
    """
    if bins < 2 or candidate_n <= 0 or baseline_n <= 0:
        return math.inf
    psi_floor = (1.0 / candidate_n + 1.0 / baseline_n) * float(chdtri(bins - 1, 1.0 - FLOOR_QUANTILE))
    return psi_floor if numeric else math.sqrt(psi_floor / 8.0)


@dataclass(frozen=True)
class DriftComparison:
    """Drift between candidate and reference after merging, with display-only tests."""

    value: float
    """PSI (numeric) or JS distance (classes)."""
    floor: float
    bins: int
    candidate_n: float
    baseline_n: float
    chi_square: float
    g_statistic: float
    g_p_value: float


def compare(
    numeric: bool, candidate: FloatArray, reference: FloatArray, baseline_n: float
) -> DriftComparison:
    """Merge sparse bins, then measure drift of candidate counts against a reference distribution.

    ``reference`` holds probabilities and ``baseline_n`` its (effective) sample size.

    >>> result = compare(True, np.array([30.0, 50, 20]), np.array([0.4, 0.4, 0.2]), 100.0)
    >>> round(result.value, 4), round(result.floor, 3), result.bins
    (0.0511, 0.276, 3)
    """
    candidate_n = float(candidate.sum())
    reference_counts = reference * baseline_n
    merge = merge_ordered_bins if numeric else merge_sparse_classes
    groups = merge(candidate, reference_counts)
    merged_c = np.array([candidate[g].sum() for g in groups])
    merged_r = np.array([reference_counts[g].sum() for g in groups])
    bins = len(groups)
    if bins < 2:
        return DriftComparison(0.0, math.inf, bins, candidate_n, baseline_n, 0.0, 0.0, 1.0)
    p_c = merged_c / candidate_n
    p_r = merged_r / baseline_n
    value = psi(p_c, p_r) if numeric else js_distance(p_c, p_r)
    chi_square, g_statistic = homogeneity_statistics(np.vstack([merged_c, merged_r]))
    return DriftComparison(
        value=value,
        floor=noise_floor(numeric, candidate_n, baseline_n, bins),
        bins=bins,
        candidate_n=candidate_n,
        baseline_n=baseline_n,
        chi_square=chi_square,
        g_statistic=g_statistic,
        g_p_value=float(chdtrc(bins - 1, g_statistic)),
    )


def homogeneity_statistics(table: FloatArray) -> tuple[float, float]:
    """Pearson's chi-square and the G statistic of a 2 x B table against its margins.

    With E = row total x column total / grand total: chi2 = sum (O - E)^2 / E and
    G = 2 sum O ln(O / E), each ~ chi2(B - 1) under H0 (display only).

    >>> [round(v, 3) for v in homogeneity_statistics(np.array([[30.0, 50, 20], [40, 40, 20]]))]
    [2.54, 2.547]
    """
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi_square = float(((table - expected) ** 2 / expected).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(table > 0, table * np.log(table / expected), 0.0)
    return chi_square, float(2.0 * terms.sum())


@dataclass(frozen=True)
class DriftEvidence:
    """Prediction counts accumulated over intervals in which both cohorts predicted."""

    candidate: tuple[int, ...] = ()
    baseline: tuple[int, ...] = ()
    reference: tuple[float, ...] = ()
    """sum_i (n_c,i / n_b,i) b_i: the reweighted baseline, in candidate units (module doc)."""
    kish_denominator: float = 0.0
    """sum_i n_c,i^2 / n_b,i."""
    invalid_candidate: int = 0
    invalid_baseline: int = 0

    def add(
        self, candidate: Sequence[int], baseline: Sequence[int], invalid_candidate: int, invalid_baseline: int
    ) -> DriftEvidence:
        """The evidence after one more interval (counts per bin, same layout as before)."""
        counted = replace(
            self,
            invalid_candidate=self.invalid_candidate + invalid_candidate,
            invalid_baseline=self.invalid_baseline + invalid_baseline,
        )
        n_c, n_b = sum(candidate), sum(baseline)
        if n_c == 0 or n_b == 0:
            return counted
        bins = len(candidate)
        c_sum = np.asarray(self.candidate or (0,) * bins) + np.asarray(candidate)
        b_sum = np.asarray(self.baseline or (0,) * bins) + np.asarray(baseline)
        reference = np.asarray(self.reference or (0.0,) * bins) + np.asarray(baseline) * (n_c / n_b)
        return replace(
            counted,
            candidate=tuple(int(v) for v in c_sum),
            baseline=tuple(int(v) for v in b_sum),
            reference=tuple(float(v) for v in reference),
            kish_denominator=self.kish_denominator + n_c * n_c / n_b,
        )

    @property
    def candidate_total(self) -> int:
        """Candidate predictions compared so far."""
        return sum(self.candidate)

    @property
    def effective_baseline(self) -> float:
        """Kish effective size of the reweighted baseline."""
        return self.candidate_total**2 / self.kish_denominator if self.kish_denominator else 0.0

    def compare(self, numeric: bool) -> DriftComparison:
        """Drift of the candidate against the reweighted baseline so far."""
        candidate = np.asarray(self.candidate, dtype=np.float64)
        reference = np.asarray(self.reference, dtype=np.float64) / max(self.candidate_total, 1)
        return compare(numeric, candidate, reference, self.effective_baseline)
