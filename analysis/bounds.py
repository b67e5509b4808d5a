"""The non-inferiority bounds a PASS rests on: when they count, and their running intersection.

Why a running intersection: each bound the judge compares with a margin is a **confidence
sequence** — the normal-mixture bound of :mod:`analysis.sequential`, estimate + sd z*(rho^2 tau,
alpha), which holds at every look at once: P(for some look t, theta > U_t) <= alpha. That event
is the same as theta > min over t of U_t, so the running minimum of the upper bounds, and the
running maximum of the lower bounds, are confidence sequences with the same guarantee
(Howard et al. 2021, section 6; Waudby-Smith et al. 2024 for the asymptotic version used
here). The judge therefore compares the **running minimum** of the upper bound with the margin:
once a PASS bound is reached it cannot go back up, so a PASS cannot fall back to INCONCLUSIVE
because a later look's bound came out wider (the flicker). Nothing is spent with a fixed
margin: the controller already promotes at the first PASS, which is exactly the event "the
running minimum went below the margin". A default margin is estimated at each look (0.5 x the
baseline's rate); comparing the running minimum with the margin of each look makes the PASS
event slightly larger than "some look's own bound was below its own margin", by the look-to-look
wobble of the baseline's rate estimate.

Which bounds qualify (each is a normal-mixture bound of a statistic accumulated over the same
looks, with the mixture width fixed at the start):

- the error rate's and the latency tail's difference D -/+ sd(D) z*(rho^2 sum h, alpha)
  (:mod:`analysis.rates`);
- the latency location's CLES -/+ sd z*(rho^2 tau, alpha) with the DeLong variance
  (:mod:`analysis.ranks`), at the level the location rule uses (alpha, or alpha / 2 when a
  quantile tolerance shares it: :func:`location_pass_alpha`).

Drift (PSI or Jensen-Shannon against warn and a noise floor) and guards (the latest value) are
not confidence sequences and are not intersected.

Two conditions keep the intersection honest:

1. A bound joins only at looks where the metric has its **minimum evidence** (the same rule the
   judge uses, :func:`rate_requests_needed`, :func:`tail_requests_needed`): the bounds rest on a
   central limit theorem and are not trusted on a handful of events. Once met it stays met.
2. The target is the stratified effect over the looks so far; intersecting assumes it does not
   move (the same assumption the stratified estimate makes). If the candidate degrades later,
   the harm e-process, not the bound, catches it: a FAIL still overrides a PASS.

Worked example (issue 12's setup, error rate only, seed 5 of analysis.simulate; a test in
tests/unit/analysis/test_promotions.py): at look 15 the candidate has 7 errors in 922 requests
against 198 in 17,082 (1.16%, margin 0.58pp): D = -0.41pp, upper bound +0.48pp, a PASS. At look
16, 9 in 983 against 216 in 18,299: D = -0.27pp and that look's own bound is +0.65pp, above the
margin of 0.59pp, which alone would read INCONCLUSIVE; the running minimum stays +0.48pp, a PASS.

**The latency tail's minimum evidence.** The error rate counts ``minEvidence.errors`` expected
candidate errors at max(baseline rate, margin). The share of requests above an SLO is usually
far below the tail margin's floor (``tailIncrease``, 0.5pp), so the same rule counted events at
the floor alone and asked a fixed 10 / 0.005 = 2,000 candidate requests whatever the share. The
tail counts its expected events **at the share a candidate at the margin would have**, baseline
share + margin: the count the bound's normal approximation needs where the false PASS is
decided. At a 0.37% share and a 0.5pp margin that is 10 / 0.0087 = 1,150 requests; at a share
near zero it is still about 2,000. Simulated on the statistics alone, 2,000 runs per cell, a
candidate exactly at the margin PASSes in 0.9-5.2% of runs (alpha 0.05) with this rule, in up to
9.7% with 500 requests and no event count (docs/analysis.md, "Defaults and minimum evidence").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.criteria import ErrorRateCriteria, LatencyCriteria, MinEvidence
from analysis.ranks import RankEvidence
from analysis.rates import MIN_MARGIN, RateEvidence, non_inferiority_margin, requests_needed


@dataclass(frozen=True)
class RunningBounds:
    """Running maximum of the lower bounds and minimum of the upper bounds, over counted looks.

    None until a look with minimum evidence; stored in the metric's state (status), so a restart
    keeps the intersection. ``clearance`` is the running minimum, over the counted looks, of the
    running upper bound minus the margin in force at that look: a default margin is estimated
    (0.5 x the baseline's rate) and moves a little from look to look, and without it a bound that
    cleared the margin by a hair could fall back behind it when the margin moved.

    >>> bounds = RunningBounds().tighten(-0.01, 0.006, 0.005).tighten(-0.012, 0.0044, 0.0045)
    >>> bounds = bounds.tighten(-0.004, 0.007, 0.0042)
    >>> bounds.lower, bounds.upper, round(bounds.clearance, 4), bounds.shown_below(0.0042)
    (-0.004, 0.0044, -0.0001, True)
    """

    lower: float | None = None
    upper: float | None = None
    clearance: float | None = None

    @property
    def counted(self) -> bool:
        """True once a look with minimum evidence has contributed its bounds."""
        return self.upper is not None

    def tighten(self, lower: float, upper: float, margin: float | None = None) -> RunningBounds:
        """The intersection with one more look's bounds (non-finite bounds are left out)."""
        new_lower, new_upper, clearance = self.lower, self.upper, self.clearance
        if math.isfinite(lower):
            new_lower = lower if new_lower is None else max(new_lower, lower)
        if math.isfinite(upper):
            new_upper = upper if new_upper is None else min(new_upper, upper)
        if new_upper is not None and margin is not None:
            now = new_upper - margin
            clearance = now if clearance is None else min(clearance, now)
        return RunningBounds(new_lower, new_upper, clearance)

    def shown_below(self, margin: float) -> bool:
        """PASS side: the running minimum is below ``margin``, or was below the margin of a look."""
        return (self.upper is not None and self.upper < margin) or (
            self.clearance is not None and self.clearance < 0.0
        )


def error_rate_margin(metric: ErrorRateCriteria, rates: RateEvidence) -> float:
    """The error rate's margin: as configured, else max(0.5 x baseline rate, 0.1pp)."""
    return non_inferiority_margin(rates.baseline_rate, metric.margin, MIN_MARGIN)


def tail_margin(metric: LatencyCriteria, tail: RateEvidence) -> float:
    """The tail's margin: max(0.5 x baseline share above the SLO, ``tailIncrease``)."""
    return non_inferiority_margin(tail.baseline_rate, None, metric.tail_increase)


def rate_requests_needed(need: MinEvidence, baseline_rate: float, margin: float) -> int:
    """Error rate: ``need.requests``, and ``need.errors`` expected at max(baseline rate, margin).

    >>> rate_requests_needed(MinEvidence(), 0.01, 0.005), rate_requests_needed(MinEvidence(), 0.0, 0.001)
    (1000, 10000)
    """
    return requests_needed(need.requests, need.errors, baseline_rate, margin)


def tail_requests_needed(need: MinEvidence, baseline_share: float, margin: float) -> int:
    """Latency tail: ``need.requests``, and ``need.errors`` expected at baseline share + margin.

    The share a candidate at the margin would have (module docstring).

    >>> tail_requests_needed(MinEvidence(), 0.0037, 0.005), tail_requests_needed(MinEvidence(), 0.0, 0.005)
    (1150, 2000)
    >>> tail_requests_needed(MinEvidence(), 0.02, 0.01)  # a large share: the request floor
    500
    """
    return max(need.requests, math.ceil(need.errors / (baseline_share + margin)))


def rate_bounds(rates: RateEvidence, rho2: float, alpha: float) -> tuple[float, float]:
    """This look's always-valid one-sided bounds on the rate difference D."""
    radius = rates.difference_radius(rho2, alpha)
    return rates.difference - radius, rates.difference + radius


def location_pass_alpha(metric: LatencyCriteria, alpha: float) -> float:
    """The level of the CLES bound: alpha, or alpha / 2 when a quantile tolerance can PASS too.

    >>> location_pass_alpha(LatencyCriteria("latency", ""), 0.05)
    0.025
    """
    return alpha / 2.0 if metric.tolerance is not None and metric.pass_below is not None else alpha


def cles_bounds(ranks: RankEvidence, rho2: float, alpha: float) -> tuple[float, float]:
    """This look's always-valid one-sided bounds on CLES."""
    radius = ranks.cles_radius(rho2, alpha)
    return ranks.cles - radius, ranks.cles + radius


def counted_bounds(
    stored: RunningBounds, now: tuple[float, float], enough_now: bool, margin: float | None
) -> tuple[RunningBounds, bool]:
    """The bounds the judge compares, and whether the minimum evidence has been met at some look.

    The stored intersection, with this look's bounds when it has the minimum evidence (they are
    already in it when the engine wrote the state; a state stored before the field existed has
    none). Minimum evidence met at an earlier look stays met: the counts behind it were real,
    and a baseline rate that drifts down must not take a PASS back.
    """
    bounds = stored.tighten(*now, margin) if enough_now else stored
    return bounds, enough_now or stored.counted
