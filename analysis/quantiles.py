"""Latency quantiles from histogram buckets, with always-valid bounds, for the tolerance gate.

Why: the rank test (analysis.ranks) says *whether* the candidate is slower, in a scale-free
unit (CLES). Two identical servers on a loaded machine differ by a few milliseconds and CLES
reaches ~0.6; nobody states a tolerance in CLES. People say "at most 10% (or 10 ms) slower at the
median and p90", so the practical gate is stated and checked that way:

    allowed(Q_b) = max(ratio * Q_b, Q_b + milliseconds / 1000)

where Q_b is the baseline's q-quantile; the candidate is within the tolerance at q when its
q-quantile Q_c <= allowed(Q_b).

**Estimates.** Quantiles are interpolated linearly within the bucket that holds them, as
PromQL's ``histogram_quantile`` does: the first bucket starts at 0, and a quantile that falls in
the +Inf bucket is the highest finite edge (a lower bound). The candidate's CDF F_c pools its
requests over the intervals compared; the baseline's is **reweighted to the candidate's mix of
intervals**, G = sum_i (n_c,i / N_c) b_i / n_b,i (counts per bucket), so load that swings over
the run, or weights that change mid-run, move both cohorts alike.

**Always-valid bounds (a proportion test at the true quantile).** The interpolated CDF at a
point x is a mean of per-request weights in [0, 1] (1 below x's bucket, the interpolation share
inside it, 0 above), so at the candidate's true q-quantile Q_c its estimate has mean q and
variance at most q (1 - q) / N_c: whether "P(candidate above x) > 1 - q" is a proportion test.
The normal mixture (analysis.sequential) at level alpha/2 gives, at every look at once,
F_c_hat(Q_c) <= q + r_c with r_c = z*(rho^2 N_c, alpha/2) sqrt(q (1 - q) / N_c); so the
candidate's upper bound is U_c = Q_c_hat(q + r_c), the estimate at a shifted level (+inf when it
falls past the highest finite edge). The baseline's lower bound is L_b = Q_b_hat(q - r_b) with
r_b = z*(rho^2 S, alpha/2) sqrt(q (1 - q) S) / N_c, S = sum_i n_c,i^2 / n_b,i (the variance of
the reweighted sum sum_i n_c,i (F_b,i_hat - q) is q (1 - q) S). Both hold together with
probability >= 1 - alpha (a union bound), and allowed() is increasing, so

    U_c <= allowed(L_b)   implies   Q_c <= allowed(Q_b)

except with probability alpha: the PASS side of the tolerance. Only the variance at the
quantile itself is used (no plug-in), so the bound needs no density estimate; its price is
that coarse buckets make it wide (the interpolation slope is the bucket's width over its share).

Worked example: edges (0.1, 0.25, 0.5) s; candidate counts (400, 450, 130, 20) over one
interval, baseline (3800, 4300, 1500, 400). Candidate median: rank 500 falls in the second
bucket, 0.1 + 0.15 * (500 - 400) / 450 = 0.1333 s; baseline median 0.1 + 0.15 * 1200 / 4300
= 0.1419 s (ratio 0.94). At rho^2 = 0.00669, alpha = 0.05: g_c = 6.69, z*(6.69, 0.025) = 3.04,
r_c = 3.04 * sqrt(0.25 / 1000) = 0.0481 and U_c = Q_c_hat(0.5481) = 0.1494 s; S = 1000^2 / 10000
= 100, g_b = 0.669, z* = 4.03, r_b = 4.03 * 0.5 * 10 / 1000 = 0.0202, L_b = Q_b_hat(0.4798)
= 0.1348 s, allowed max(1.1 * 0.1348, 0.1348 + 0.010) = 0.1483 s < 0.1494 s: not yet within a 10% /
10 ms tolerance; the candidate needs more requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from analysis.sequential import boundary

QUANTILE_NAMES = {0.5: "median"}
"""Words for quantiles in reasons; any other q reads "p90", "p99", "p99.9"."""


def quantile_name(q: float) -> str:
    """How a quantile reads in a reason and in the names of the structured numbers.

    >>> quantile_name(0.5), quantile_name(0.9), quantile_name(0.999)
    ('median', 'p90', 'p99.9')
    """
    return QUANTILE_NAMES.get(q, f"p{100 * q:.10g}")


def histogram_quantile(edges: Sequence[float], counts: Sequence[float], q: float) -> float:
    """The q-quantile interpolated within its bucket, as PromQL's ``histogram_quantile``.

    ``counts`` has one more entry than ``edges`` (the +Inf bucket). NaN without counts; the
    highest finite edge when the quantile falls in the +Inf bucket; +inf when q > 1 is asked
    (a bound past every request).

    >>> round(histogram_quantile((0.1, 0.25, 0.5), (400, 450, 130, 20), 0.5), 6)
    0.133333
    >>> histogram_quantile((0.1, 0.25, 0.5), (400, 450, 130, 20), 0.99)
    0.5
    """
    total = float(sum(counts))
    if total <= 0.0:
        return math.nan
    if q > 1.0:
        return math.inf
    rank = max(q, 0.0) * total
    below = 0.0
    for index, count in enumerate(counts):
        if index == len(edges):
            return float(edges[-1])
        if count > 0 and below + count >= rank:
            lower = float(edges[index - 1]) if index else min(0.0, float(edges[0]))
            upper = float(edges[index])
            return lower + (upper - lower) * (rank - below) / count
        below += count
    return float(edges[-1])


def upper_bound(edges: Sequence[float], counts: Sequence[float], q: float) -> float:
    """The estimate at a raised level, +inf when it falls past the highest finite edge.

    >>> round(upper_bound((0.1, 0.25, 0.5), (400, 450, 130, 20), 0.5476), 6)
    0.1492
    >>> upper_bound((0.1, 0.25, 0.5), (400, 450, 130, 20), 0.99)
    inf
    """
    total = float(sum(counts))
    if total <= 0.0 or q > 1.0 or q * total > total - counts[-1]:
        return math.inf
    return histogram_quantile(edges, counts, q)


@dataclass(frozen=True)
class QuantileEvidence:
    """Counts for the quantile comparison, over the intervals with requests in both cohorts."""

    candidate: tuple[int, ...] = ()
    """Candidate requests per bucket."""
    reweighted_baseline: tuple[float, ...] = ()
    """sum_i n_c,i b_i / n_b,i per bucket: the baseline at the candidate's mix of intervals."""
    baseline_spread: float = 0.0
    """S = sum_i n_c,i^2 / n_b,i: the variance scale of the reweighted baseline."""

    def add(self, candidate: Sequence[int], baseline: Sequence[int]) -> QuantileEvidence:
        """The evidence after one more interval (an interval missing a cohort changes nothing)."""
        n_c, n_b = sum(candidate), sum(baseline)
        if n_c == 0 or n_b == 0:
            return self
        share = n_c / n_b
        old_c = self.candidate or (0,) * len(candidate)
        old_b = self.reweighted_baseline or (0.0,) * len(baseline)
        return QuantileEvidence(
            candidate=tuple(a + b for a, b in zip(old_c, candidate, strict=True)),
            reweighted_baseline=tuple(a + share * b for a, b in zip(old_b, baseline, strict=True)),
            baseline_spread=self.baseline_spread + n_c * share,
        )

    @property
    def candidate_total(self) -> int:
        """N_c: candidate requests in the intervals compared."""
        return sum(self.candidate)

    def projected(self, candidate_total: float) -> QuantileEvidence:
        """The same shapes at ``candidate_total`` candidate requests (feasibility forecasts)."""
        factor = candidate_total / self.candidate_total if self.candidate_total else 0.0
        return QuantileEvidence(
            candidate=tuple(round(factor * count) for count in self.candidate),
            reweighted_baseline=tuple(factor * count for count in self.reweighted_baseline),
            baseline_spread=factor * self.baseline_spread,
        )


@dataclass(frozen=True)
class QuantileComparison:
    """Candidate vs baseline at one quantile: estimates, always-valid bounds, what is allowed."""

    q: float
    candidate: float
    baseline: float
    candidate_upper: float
    """U_c: always-valid upper bound of the candidate's quantile (+inf: not bounded yet)."""
    baseline_lower: float
    """L_b: always-valid lower bound of the baseline's quantile."""
    allowed: float
    """allowed(baseline): the most the candidate's estimate may be (the FAIL side)."""
    allowed_lower: float
    """allowed(L_b): what U_c must stay under to PASS."""

    @property
    def name(self) -> str:
        """The quantile in words: median, p90, ..."""
        return quantile_name(self.q)

    @property
    def ratio(self) -> float:
        """Candidate over baseline estimate (inf when the baseline's is 0)."""
        if self.baseline > 0.0:
            return self.candidate / self.baseline
        return math.inf if self.candidate > 0.0 else 1.0

    @property
    def beyond(self) -> bool:
        """The estimate is beyond the tolerance (the gate a FAIL needs)."""
        return self.candidate > self.allowed

    @property
    def within(self) -> bool:
        """Shown within the tolerance, always-valid at alpha (the bound a PASS needs)."""
        return self.candidate_upper <= self.allowed_lower


def allowed_latency(baseline: float, ratio: float, milliseconds: float) -> float:
    """max(ratio x baseline, baseline + milliseconds): the slowest quantile the tolerance allows.

    >>> round(allowed_latency(0.1, 1.1, 10.0), 6), round(allowed_latency(0.001, 1.1, 10.0), 6)
    (0.11, 0.011)
    """
    return max(ratio * baseline, baseline + milliseconds / 1000.0)


def compare_quantile(
    evidence: QuantileEvidence,
    edges: Sequence[float],
    q: float,
    *,
    tolerance: tuple[float, float],
    rho2: float,
    alpha: float,
) -> QuantileComparison | None:
    """Estimates and bounds at quantile q (module docstring); None before any comparison.

    ``tolerance`` is (ratio, milliseconds); the bounds are each at alpha / 2.

    >>> evidence = QuantileEvidence().add((400, 450, 130, 20), (3800, 4300, 1500, 400))
    >>> c = compare_quantile(evidence, (0.1, 0.25, 0.5), 0.5, tolerance=(1.1, 10.0), rho2=0.00669, alpha=0.05)
    >>> [round(v, 4) for v in (c.candidate, c.baseline, c.candidate_upper, c.baseline_lower)]
    [0.1333, 0.1419, 0.1494, 0.1348]
    >>> round(c.allowed_lower, 4), c.within, c.beyond
    (0.1483, False, False)
    """
    n_c = evidence.candidate_total
    if n_c == 0 or not edges:
        return None
    ratio, milliseconds = tolerance
    spread = q * (1.0 - q)
    r_c = boundary(rho2 * n_c, alpha / 2.0) * math.sqrt(spread / n_c)
    s = evidence.baseline_spread
    r_b = boundary(rho2 * s, alpha / 2.0) * math.sqrt(spread * s) / n_c
    candidate = histogram_quantile(edges, evidence.candidate, q)
    baseline = histogram_quantile(edges, evidence.reweighted_baseline, q)
    baseline_lower = histogram_quantile(edges, evidence.reweighted_baseline, q - r_b) if q > r_b else 0.0
    return QuantileComparison(
        q=q,
        candidate=candidate,
        baseline=baseline,
        candidate_upper=upper_bound(edges, evidence.candidate, q + r_c),
        baseline_lower=baseline_lower,
        allowed=allowed_latency(baseline, ratio, milliseconds),
        allowed_lower=allowed_latency(baseline_lower, ratio, milliseconds),
    )


def seconds(value: float) -> str:
    """A latency in the unit people read it in.

    >>> seconds(0.00045), seconds(0.0123), seconds(0.412), seconds(1.93), seconds(math.inf)
    ('0.45 ms', '12.3 ms', '412 ms', '1.93 s', 'unbounded')
    """
    if math.isinf(value):
        return "unbounded"
    if value >= 1.0:
        return f"{value:.3g} s"
    return f"{1000.0 * value:.3g} ms"


def times(ratio: float) -> str:
    """A ratio as people say it: 41x, 1.25x.

    >>> times(41.2), times(1.254), times(math.inf)
    ('41x', '1.25x', 'inf x')
    """
    if math.isinf(ratio):
        return "inf x"
    return f"{ratio:.0f}x" if ratio >= 10.0 else f"{ratio:.3g}x"
