"""Mann-Whitney from histogram bucket counts, stratified by interval, with CLES and its bounds.

Why bucket counts: latency arrives as Prometheus histogram buckets. Quantiles interpolated from
buckets are wrong by up to a bucket; ranks are exact up to ties, and every request in one bucket
is a tie. So the test is Mann-Whitney with mid-ranks and the tie-corrected variance.

**One interval.** With candidate counts c_j and baseline counts b_j per bucket (j in increasing
latency), B_<j the baseline count below bucket j, n = n_c + n_b and t_j = c_j + b_j:

    U      = sum_j c_j (B_<j + b_j / 2)           pairs where the candidate is slower, ties half
    E0[U]  = n_c n_b / 2
    Var0[U] = n_c n_b / 12 * ((n + 1) - sum_j (t_j^3 - t_j) / (n (n - 1)))
    CLES   = U / (n_c n_b) = P(candidate slower) + 1/2 P(same bucket)

which equals ``scipy.stats.mannwhitneyu(candidate, baseline, method="asymptotic",
use_continuity=False)`` on the expanded samples (tested). Worked example: candidate (1, 2, 2),
baseline (3, 1, 0) over three buckets: U = 1*(0 + 1.5) + 2*(3 + 0.5) + 2*(4 + 0) = 16.5 of
n_c n_b = 20 pairs, CLES = 0.825; ties t = (4, 3, 2) give Var0 = 20/12 * (10 - 90/72) = 14.58,
z = (16.5 - 10)/3.819 = 1.702, two-sided p = 0.0887.

**Across intervals (van Elteren).** The harm statistic sums (U_i - E0 U_i) / (n_i + 1) over
intervals with variance sum Var0 U_i / (n_i + 1)^2, so each interval compares the cohorts as they
were then; z = S / sqrt(V) feeds the normal mixture of analysis.sequential with intrinsic time
tau = sum h_i, h_i = n_c n_b / n. The effect is the stratified CLES, sum h_i CLES_i / sum h_i.

**Bounds away from H0 (DeLong).** A candidate request's placement is the share of that interval's
baseline it is slower than (ties half); a baseline request's placement is the share of the
candidate slower than it. Both average to CLES_i. With s_c^2, s_b^2 their within-interval
variances pooled over intervals, Var(CLES) = (s_c^2 sum h_i^2/n_c,i + s_b^2 sum h_i^2/n_b,i) /
(sum h_i)^2; in the example s_c^2 = 0.269/4 = 0.0672 (placements 0.375, 0.875, 0.875, 1, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from analysis.sequential import always_valid_p, log_mixture_e, one_sided_radius

FloatArray = npt.NDArray[np.float64]

PLACEMENT_VARIANCE_MAX = 0.25
"""Largest variance of a value in [0, 1]; used until an interval has two requests of a cohort."""


@dataclass(frozen=True)
class StratumRanks:
    """Mann-Whitney quantities of one interval (arrays when given a batch of intervals)."""

    candidate_total: FloatArray
    baseline_total: FloatArray
    u: FloatArray
    null_variance: FloatArray
    candidate_placement_ss: FloatArray
    """Sum of squared deviations of candidate placements from CLES_i."""
    baseline_placement_ss: FloatArray

    @property
    def cles(self) -> FloatArray:
        """U / (n_c n_b), 0.5 where a cohort is empty."""
        pairs = self.candidate_total * self.baseline_total
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(pairs > 0, self.u / pairs, 0.5), dtype=np.float64)

    @property
    def z(self) -> FloatArray:
        """(U - n_c n_b / 2) / sqrt(Var0 U), 0 where undefined."""
        with np.errstate(divide="ignore", invalid="ignore"):
            deviation = self.u - self.candidate_total * self.baseline_total / 2.0
            z = deviation / np.sqrt(self.null_variance)
        return np.asarray(np.where(self.null_variance > 0, z, 0.0), dtype=np.float64)

    @property
    def p_two_sided(self) -> FloatArray:
        """Fixed-horizon two-sided p (display only; decisions use the mixture).

        ``2 * ndtr(-|z|)`` is ``2 * scipy.stats.norm.sf(|z|)``: scipy.special's normal CDF gives
        the same numbers without importing scipy.stats, which alone cost the controller ~60 MB
        of resident memory at start.
        """
        return np.asarray(2.0 * ndtr(-np.abs(self.z)), dtype=np.float64)


def stratum_ranks(candidate: npt.ArrayLike, baseline: npt.ArrayLike) -> StratumRanks:
    """Mann-Whitney of one interval from bucket counts (last axis = buckets, slowest last).

    >>> ranks = stratum_ranks([1, 2, 2], [3, 1, 0])
    >>> float(ranks.u), float(ranks.cles), round(float(ranks.null_variance), 2)
    (16.5, 0.825, 14.58)
    >>> round(float(ranks.z), 3), round(float(ranks.p_two_sided), 4)
    (1.702, 0.0887)
    """
    c = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    n_c = c.sum(axis=-1)
    n_b = b.sum(axis=-1)
    n = n_c + n_b
    baseline_below = np.cumsum(b, axis=-1) - b
    candidate_above = n_c[..., None] - np.cumsum(c, axis=-1)
    u = (c * (baseline_below + 0.5 * b)).sum(axis=-1)
    ties = c + b
    tie_term = (ties**3 - ties).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tie_share = np.where(n > 1, tie_term / (n * (n - 1)), 0.0)
        null_variance = n_c * n_b / 12.0 * ((n + 1) - tie_share)
        candidate_placement = (baseline_below + 0.5 * b) / n_b[..., None]
        baseline_placement = (candidate_above + 0.5 * c) / n_c[..., None]
        cles = np.where(n_c * n_b > 0, u / (n_c * n_b), 0.5)
    candidate_ss = np.where(n_b > 0, (c * (candidate_placement - cles[..., None]) ** 2).sum(axis=-1), 0.0)
    baseline_ss = np.where(n_c > 0, (b * (baseline_placement - cles[..., None]) ** 2).sum(axis=-1), 0.0)
    return StratumRanks(
        candidate_total=np.asarray(n_c),
        baseline_total=np.asarray(n_b),
        u=np.asarray(u),
        null_variance=np.asarray(np.where(n_c * n_b > 0, null_variance, 0.0)),
        candidate_placement_ss=np.asarray(candidate_ss),
        baseline_placement_ss=np.asarray(baseline_ss),
    )


def _pooled(squares: float, dof: int) -> float:
    """Pooled variance of placements, PLACEMENT_VARIANCE_MAX before there is any spread to pool."""
    return squares / dof if dof else PLACEMENT_VARIANCE_MAX


@dataclass(frozen=True)
class RankEvidence:
    """Sufficient statistics of the stratified Mann-Whitney comparison (module docstring)."""

    score: float = 0.0
    """S = sum (U_i - n_c n_b / 2) / (n_i + 1)."""
    score_variance: float = 0.0
    """V = sum Var0 U_i / (n_i + 1)^2."""
    max_log_e: float = 0.0
    """Running maximum of ln M(S / sqrt(V), rho^2 tau)."""
    weight: float = 0.0
    """tau = sum h_i, h_i = n_c n_b / n."""
    weighted_cles: float = 0.0
    """sum h_i CLES_i."""
    weight_sq_candidate: float = 0.0
    """sum h_i^2 / n_c,i."""
    weight_sq_baseline: float = 0.0
    """sum h_i^2 / n_b,i."""
    candidate_placement_ss: float = 0.0
    baseline_placement_ss: float = 0.0
    candidate_dof: int = 0
    """sum (n_c,i - 1): degrees of freedom of the pooled candidate placement variance."""
    baseline_dof: int = 0

    def add(self, stratum: StratumRanks, rho2: float) -> RankEvidence:
        """The evidence after one more interval (an interval missing a cohort changes nothing)."""
        n_c = float(stratum.candidate_total)
        n_b = float(stratum.baseline_total)
        if n_c == 0.0 or n_b == 0.0:
            return self
        n = n_c + n_b
        h = n_c * n_b / n
        score = self.score + float(stratum.u - n_c * n_b / 2.0) / (n + 1.0)
        score_variance = self.score_variance + float(stratum.null_variance) / (n + 1.0) ** 2
        weight = self.weight + h
        z = score / math.sqrt(score_variance) if score_variance > 0.0 else 0.0
        return RankEvidence(
            score=score,
            score_variance=score_variance,
            max_log_e=max(self.max_log_e, log_mixture_e(z, rho2 * weight)),
            weight=weight,
            weighted_cles=self.weighted_cles + h * float(stratum.cles),
            weight_sq_candidate=self.weight_sq_candidate + h * h / n_c,
            weight_sq_baseline=self.weight_sq_baseline + h * h / n_b,
            candidate_placement_ss=self.candidate_placement_ss + float(stratum.candidate_placement_ss),
            baseline_placement_ss=self.baseline_placement_ss + float(stratum.baseline_placement_ss),
            candidate_dof=self.candidate_dof + int(n_c) - 1,
            baseline_dof=self.baseline_dof + int(n_b) - 1,
        )

    @property
    def compared(self) -> bool:
        """True once some interval had requests in both cohorts."""
        return self.weight > 0.0

    @property
    def p_value(self) -> float:
        """Always-valid p of the harm test: 1 / max over looks of M."""
        return always_valid_p(self.max_log_e)

    @property
    def cles(self) -> float:
        """Stratified CLES: P(candidate slower) + 1/2 P(same bucket); 0.5 before any data."""
        return self.weighted_cles / self.weight if self.compared else 0.5

    def log_e(self, rho2: float) -> float:
        """Log e-value ln M of the harm test now (the p-value uses the running maximum instead)."""
        if self.score_variance <= 0.0:
            return 0.0
        return log_mixture_e(self.score / math.sqrt(self.score_variance), rho2 * self.weight)

    @property
    def cles_variance(self) -> float:
        """DeLong variance of the stratified CLES with pooled placement variances."""
        if not self.compared:
            return math.inf
        spread = (
            _pooled(self.candidate_placement_ss, self.candidate_dof) * self.weight_sq_candidate
            + _pooled(self.baseline_placement_ss, self.baseline_dof) * self.weight_sq_baseline
        )
        return spread / (self.weight * self.weight)

    def cles_radius(self, rho2: float, alpha: float) -> float:
        """Half-width of the always-valid one-sided bounds on CLES at level alpha."""
        return one_sided_radius(self.cles_variance, rho2 * self.weight, alpha)

    def cles_log_e(self, null_cles: float, rho2: float) -> float:
        """Log e-value ln M of "CLES > null_cles" with the DeLong variance (used to compare gate rules)."""
        z = (self.cles - null_cles) / math.sqrt(self.cles_variance)
        return log_mixture_e(z, rho2 * self.weight)
