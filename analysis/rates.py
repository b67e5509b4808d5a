"""Rates compared interval by interval: an exact e-process for harm, bounds for non-inferiority.

Used for the error rate and for the share of requests slower than the latency SLO.

**Harm: the conditional-binomial ratio-grid e-process.** In one interval the candidate served
n_c requests with x_c errors and the baseline n_b with x_b. Given the k = x_c + x_b errors, if
both rates are equal (and errors are Poisson) each error came from the candidate with probability
pi = n_c / (n_c + n_b), the interval's traffic share; under a rate ratio r it did with probability

    q(r) = pi * r / (pi * r + 1 - pi)

The interval's likelihood ratio is LR(r) = (q/pi)^x_c * ((1-q)/(1-pi))^x_b, the e-value is the
weighted mean over a fixed grid of ratios (1.25, 1.5, 2, 3, 5, 10), with weights (1, 3, 4, 1.5,
0.5, 0.5) / 10.5 (RATIO_PRIOR), of the running products of LR(r), and
the always-valid p is 1 / max over looks of E. Each interval uses its own share pi, so weight
changes and load swings never confound the comparison. Under binomial errors the conditional law
is hypergeometric, which is smaller in convex order than the binomial (Hoeffding 1963); LR is
convex in x_c, so E[LR] <= 1 still holds: the test stays valid, slightly conservative.

Worked example: 50 candidate and 950 baseline requests (pi = 0.05), x_c = 3, x_b = 7 (k = 10).
At r = 2, q = 0.1/1.05 = 0.0952 and ln LR = 3 ln(1.905) + 7 ln(0.9524) = 1.934 - 0.341 = 1.592.
Over the grid the LRs are 1.72, 2.64, 4.91, 10.4, 20.2, 24.3; E = (1.72 + 3 x 2.64 + 4 x 4.91 +
1.5 x 10.4 + 0.5 x 20.2 + 0.5 x 24.3) / 10.5 = 6.40, log10 E = 0.81
(a one-sided exact binomial test of 3 of 10 at 5% gives 0.0115 for comparison).

**Effect and non-inferiority.** Each interval is weighted by h = n_c n_b / (n_c + n_b):
the rate difference D = sum h (x_c/n_c - x_b/n_b) / sum h, and the Mantel-Haenszel ratio
RR = sum(x_c n_b / n) / sum(x_b n_c / n). Var(D) = (p_c(1-p_c) sum h^2/n_c + p_b(1-p_b) sum h^2/n_b)
/ (sum h)^2 with Agresti-Caffo rates p = (x + 1)/(n + 2), so zero errors never give a zero
variance. The always-valid upper bound is D + sqrt(Var) * z*(rho^2 sum h, alpha) (see
analysis.sequential); it counts only once minimum evidence holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from analysis.observations import RateCounts
from analysis.sequential import always_valid_p, one_sided_radius

MIN_MARGIN = 0.001
"""Smallest default non-inferiority margin on a rate difference: 0.1 percentage points."""

RATIO_GRID: tuple[float, ...] = (1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Rate ratios the e-process mixes over; changing it changes the stored state's meaning."""

RATIO_PRIOR: tuple[float, ...] = (1.0 / 10.5, 3.0 / 10.5, 4.0 / 10.5, 1.5 / 10.5, 0.5 / 10.5, 0.5 / 10.5)
"""The mixing weight of each grid ratio (sum 1): most on the moderate ratios (1.5, 2, 3).

Why: a severe ratio (5x, 10x) multiplies its likelihood ratio so fast that a small weight delays
it by at most a look, while a moderate one (2x at a 5% canary: 18 expected candidate errors in
a 30-look plan) is decided near the horizon, where every nat of prior counts. Chosen by
simulation (docs/analysis.md, "The ratio grid's weights"); changing them changes what a stored
running maximum means, not the stored products.
"""

FloatArray = npt.NDArray[np.float64]


def share(null_share: npt.ArrayLike, ratio: npt.ArrayLike) -> FloatArray:
    """The share q = pi r / (pi r + 1 - pi): an event's chance of being the candidate's under ratio r.

    >>> float(share(0.05, 2.0).round(4))
    0.0952
    """
    pi = np.asarray(null_share, dtype=np.float64)
    r = np.asarray(ratio, dtype=np.float64)
    return np.asarray(pi * r / (pi * r + 1.0 - pi), dtype=np.float64)


def conditional_log_lr(
    candidate_events: npt.ArrayLike,
    other_events: npt.ArrayLike,
    null_share: npt.ArrayLike,
    ratios: tuple[float, ...] = RATIO_GRID,
    null_ratio: float = 1.0,
) -> FloatArray:
    """Log likelihood ratios ln LR(r) per grid ratio (last axis) of a split of events.

    The null is the ratio ``null_ratio`` (1: equal rates).

    ``null_share`` is pi; the null share is q(null_ratio) and the alternatives q(null_ratio * r).
    The same formula serves the hard limit: x_c errors against n_c - x_c successes, pi = limit.
    Works elementwise on arrays (simulations pass one entry per run).

    >>> [round(float(v), 3) for v in conditional_log_lr(3, 7, 0.05)]
    [0.545, 0.969, 1.592, 2.343, 3.005, 3.192]
    """
    x = np.asarray(candidate_events, dtype=np.float64)[..., None]
    y = np.asarray(other_events, dtype=np.float64)[..., None]
    pi = np.asarray(null_share, dtype=np.float64)[..., None]
    grid = np.asarray(ratios, dtype=np.float64)
    null = share(pi, null_ratio)
    alternative = share(pi, null_ratio * grid)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = x * np.log(alternative / null) + y * np.log((1.0 - alternative) / (1.0 - null))
    informative = (pi > 0.0) & (pi < 1.0) & ((x + y) > 0.0)
    return np.asarray(np.where(informative, terms, 0.0), dtype=np.float64)


def mixture_log_e(log_products: npt.ArrayLike, prior: tuple[float, ...] = RATIO_PRIOR) -> FloatArray:
    """Log e-value ln E = ln(prior-weighted mean of the running products), from their logs (last axis).

    >>> round(float(mixture_log_e(conditional_log_lr(3, 7, 0.05))) / math.log(10), 2)
    0.81
    """
    values = np.asarray(log_products, dtype=np.float64)
    top = values.max(axis=-1, keepdims=True)
    weighted = np.exp(values - top) @ np.asarray(prior, dtype=np.float64)
    return np.asarray(np.log(weighted) + top[..., 0], dtype=np.float64)


@dataclass(frozen=True)
class EProcess:
    """Running log products of a ratio-grid e-process and the running maximum of ln E."""

    log_products: tuple[float, ...] = (0.0,) * len(RATIO_GRID)
    max_log_e: float = 0.0

    def extend(self, log_lr: FloatArray) -> EProcess:
        """The e-process after one more interval's ln LR per grid ratio."""
        products = np.asarray(self.log_products) + log_lr
        log_e = float(mixture_log_e(products))
        return EProcess(tuple(float(v) for v in products), max(self.max_log_e, log_e))

    @property
    def log_e(self) -> float:
        """The log e-value ln E now."""
        return float(mixture_log_e(self.log_products))

    @property
    def p_value(self) -> float:
        """Always-valid p: 1 / max over looks of E."""
        return always_valid_p(self.max_log_e)


@dataclass(frozen=True)
class RateEvidence:
    """Sufficient statistics of one rate comparison, accumulated interval by interval."""

    harm: EProcess = field(default_factory=EProcess)
    candidate_requests: int = 0
    candidate_events: int = 0
    baseline_requests: int = 0
    baseline_events: int = 0
    weight: float = 0.0
    """sum h, h = n_c n_b / (n_c + n_b): the intrinsic time tau of the confidence sequence."""
    mh_candidate: float = 0.0
    """sum x_c n_b / n: numerator of the Mantel-Haenszel ratio."""
    mh_baseline: float = 0.0
    """sum x_b n_c / n: its denominator. The difference D is (mh_candidate - mh_baseline) / weight."""
    weight_sq_candidate: float = 0.0
    """sum h^2 / n_c, for Var(D)."""
    weight_sq_baseline: float = 0.0
    """sum h^2 / n_b, for Var(D)."""

    def add(self, candidate: RateCounts, baseline: RateCounts) -> RateEvidence:
        """The evidence after one more interval; an interval missing a cohort only adds counts."""
        totals = replace(
            self,
            candidate_requests=self.candidate_requests + candidate.requests,
            candidate_events=self.candidate_events + candidate.events,
            baseline_requests=self.baseline_requests + baseline.requests,
            baseline_events=self.baseline_events + baseline.events,
        )
        if candidate.requests == 0 or baseline.requests == 0:
            return totals
        n = candidate.requests + baseline.requests
        h = candidate.requests * baseline.requests / n
        log_lr = conditional_log_lr(candidate.events, baseline.events, candidate.requests / n)
        return replace(
            totals,
            harm=self.harm.extend(log_lr),
            weight=self.weight + h,
            mh_candidate=self.mh_candidate + candidate.events * baseline.requests / n,
            mh_baseline=self.mh_baseline + baseline.events * candidate.requests / n,
            weight_sq_candidate=self.weight_sq_candidate + h * h / candidate.requests,
            weight_sq_baseline=self.weight_sq_baseline + h * h / baseline.requests,
        )

    @property
    def compared(self) -> bool:
        """True once some interval had traffic in both cohorts."""
        return self.weight > 0.0

    @property
    def candidate_rate(self) -> float:
        """Pooled candidate rate x_c / n_c (0 without requests)."""
        return self.candidate_events / self.candidate_requests if self.candidate_requests else 0.0

    @property
    def baseline_rate(self) -> float:
        """Pooled baseline rate x_b / n_b (0 without requests)."""
        return self.baseline_events / self.baseline_requests if self.baseline_requests else 0.0

    @property
    def ratio(self) -> float:
        """Mantel-Haenszel rate ratio over the compared intervals (inf when the baseline had none)."""
        if self.mh_baseline > 0.0:
            return self.mh_candidate / self.mh_baseline
        return math.inf if self.mh_candidate > 0.0 else 1.0

    @property
    def difference(self) -> float:
        """Stratified rate difference D = sum h (p_c - p_b) / sum h."""
        return (self.mh_candidate - self.mh_baseline) / self.weight if self.compared else 0.0

    @property
    def difference_variance(self) -> float:
        """Var(D) with Agresti-Caffo rates (module docstring)."""
        if not self.compared:
            return math.inf
        p_c = (self.candidate_events + 1) / (self.candidate_requests + 2)
        p_b = (self.baseline_events + 1) / (self.baseline_requests + 2)
        spread = p_c * (1 - p_c) * self.weight_sq_candidate + p_b * (1 - p_b) * self.weight_sq_baseline
        return spread / (self.weight * self.weight)

    def difference_radius(self, rho2: float, alpha: float) -> float:
        """Half-width of the always-valid one-sided bounds on D at level alpha."""
        return one_sided_radius(self.difference_variance, rho2 * self.weight, alpha)


def hard_limit_log_lr(candidate: RateCounts, limit: float) -> FloatArray:
    """Log likelihood ratios that the candidate's rate exceeds ``limit`` (odds ratio r above it).

    >>> [round(float(v), 2) for v in hard_limit_log_lr(RateCounts(requests=50, events=6), 0.05)]
    [0.72, 1.2, 1.72, 1.83, 0.54, -4.76]
    """
    return conditional_log_lr(candidate.events, candidate.requests - candidate.events, limit)


def non_inferiority_margin(
    baseline_rate: float, configured: float | None, floor: float = MIN_MARGIN
) -> float:
    """The margin p_c - p_b must stay under to PASS: as configured, else max(0.5 p_b, floor).

    The floor is 0.1pp for error rates; the latency tail uses its practical gate (0.5pp), so a
    margin is never tighter than the increase that would count as harm.

    >>> non_inferiority_margin(0.01, None), non_inferiority_margin(0.0004, None)
    (0.005, 0.001)
    """
    return configured if configured is not None else max(0.5 * baseline_rate, floor)


def requests_needed(min_requests: int, min_events: float, baseline_rate: float, margin: float) -> int:
    """Candidate requests before a PASS: min_requests, and min_events expected at max(p_b, margin).

    >>> requests_needed(500, 10, 0.01, 0.005), requests_needed(500, 10, 0.0, 0.001)
    (1000, 10000)
    """
    return max(min_requests, math.ceil(min_events / max(baseline_rate, margin)))
