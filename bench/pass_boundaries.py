"""Boundaries for the error rate's PASS (issue 12): A/A promotions against false PASSes at the margin.

The error rate PASSes when the always-valid upper bound of the rate difference D, D + sd(D) z*,
is below the margin (the running minimum over the looks with minimum evidence, analysis.bounds).
A boundary aimed at the plan's horizon would make z* smaller there and promote more identical
candidates; this bench measures what each choice does to the level, on the error-rate statistics
alone: the same D, Var(D) and minimum-evidence rule as analysis.rates and analysis.bounds,
vectorised over runs (tests/unit/test_pass_boundaries_bench.py checks them against the engine's).

Boundaries z*(u) at information fraction u = tau / tau_forecast, alpha = 0.05:

- **mixture**: the normal mixture in use, tuned to the forecast (z* 2.766 at u = 1);
- **linear**: one exponential supermartingale, z = c (1 + u) / sqrt(u), c = sqrt(ln(1/alpha) / 2)
  (2.448 at u = 1); valid for any looks and any time past the horizon;
- **constant**: the score S = tau (D - margin) / sigma against a constant -c sqrt(tau_forecast) up
  to the forecast, z = c / sqrt(u) for u <= 1: for Brownian motion P(crossing by u = 1) =
  2 (1 - Phi(c)) (reflection), at most that with discrete looks; with c = Phi^-1(1 - 0.04 / 2)
  = 2.054 and the mixture at alpha 0.01 for every look (past the horizon too), alpha in all.

Variances of D: **plug-in** (in use: Agresti-Caffo, each cohort's own rate), **max** (the
candidate's rate at least the baseline's), **null** (the candidate's rate at baseline + margin,
the score-test variance of a non-inferiority test).

Rows: a candidate exactly at the margin (errors 1% -> 1.5%, margin 0.5 x 1%): a PASS is false,
and the bound must keep it <= alpha; A/A: a PASS is the promotion a good candidate should get.
Setups: 60 / 1,140 requests a look, 30 looks (1,800 candidate requests), and 50 / 950, 60 looks.

    .venv/bin/python -m bench.pass_boundaries                 # 20,000 runs per cell
    .venv/bin/python -m bench.pass_boundaries --runs 2000 --out /tmp/pass_boundaries.md
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from analysis.criteria import MinEvidence
from analysis.rates import MIN_MARGIN
from analysis.sequential import boundary, mixture_width, optimal_g
from bench.analysis_quality import machine
from bench.machine import revision, run_arguments, write_results
from bench.ratio_prior import SETUPS

RESULTS = Path(__file__).parent / "results" / "pass_boundaries.md"
ALPHA = 0.05
BASELINE_RATE = 0.01
HORIZON_ALPHA = 0.04
"""The constant boundary's share of alpha; the mixture at the rest covers every look."""

Floats = npt.NDArray[np.float64]
Boundary = Callable[[float], float]
"""z* at g = rho^2 tau (the information fraction is g / g_opt)."""


def mixture(g: float) -> float:
    """The normal mixture's z* (analysis.sequential.boundary)."""
    return boundary(g, ALPHA)


def linear(g: float) -> float:
    """One exponential supermartingale aimed at the forecast: c (1 + u) / sqrt(u)."""
    u = g / optimal_g(ALPHA)
    return math.sqrt(math.log(1.0 / ALPHA) / 2.0) * (1.0 + u) / math.sqrt(u) if u > 0 else math.inf


def constant(g: float) -> float:
    """A constant score boundary up to the forecast (alpha 0.04), the mixture (0.01) at every look."""
    u = g / optimal_g(ALPHA)
    horizon = float(norm.isf(HORIZON_ALPHA / 2.0)) / math.sqrt(u) if 0 < u <= 1.0 else math.inf
    return min(horizon, boundary(g, ALPHA - HORIZON_ALPHA))


BOUNDARIES: dict[str, Boundary] = {"mixture": mixture, "linear": linear, "constant": constant}


@dataclass(frozen=True)
class Counts:
    """Pooled counts of every run after some looks (arrays over runs)."""

    looks: int
    n_c: int
    n_b: int
    errors_c: Floats
    errors_b: Floats

    def margin(self) -> Floats:
        """The default margin, max(0.5 x baseline rate, 0.1pp)."""
        return np.maximum(0.5 * self.errors_b / (self.n_b * self.looks), MIN_MARGIN)

    def enough(self) -> npt.NDArray[np.bool_]:
        """analysis.bounds.rate_requests_needed: requests, and errors expected at max(rate, margin)."""
        need = MinEvidence()
        requests = self.n_c * self.looks
        rate = np.maximum(self.errors_b / (self.n_b * self.looks), self.margin())
        return np.asarray((requests >= need.requests) & (requests >= np.ceil(need.errors / rate)))

    def upper(self, z: float, variance: str) -> Floats:
        """D + sd(D) z with equal looks (h the same every look), for one variance rule."""
        n_c, n_b = self.n_c * self.looks, self.n_b * self.looks
        difference = self.errors_c / n_c - self.errors_b / n_b
        p_b = (self.errors_b + 1) / (n_b + 2)
        p_c = (self.errors_c + 1) / (n_c + 2)
        if variance == "max":
            p_c = np.maximum(p_c, p_b)
        elif variance == "null":
            p_c = np.maximum(p_c, p_b + self.margin())
        return np.asarray(difference + np.sqrt(p_c * (1 - p_c) / n_c + p_b * (1 - p_b) / n_b) * z)


def passed(
    bound: Boundary,
    variance: str,
    candidate_rate: float,
    setup: tuple[int, int, int],
    *,
    runs: int,
    seed: int,
) -> float:
    """Share of runs that PASSed at some look.

    As RunningBounds.shown_below: the running minimum of the running upper bound minus each
    look's margin went below 0.
    """
    looks, n_c, n_b = setup
    h = n_c * n_b / (n_c + n_b)
    rho2 = mixture_width(ALPHA, h * looks)
    rng = np.random.default_rng(seed)
    errors_c, errors_b = np.zeros(runs), np.zeros(runs)
    counted = np.zeros(runs, dtype=bool)
    running_upper, clearance = np.full(runs, np.inf), np.full(runs, np.inf)
    for look in range(1, looks + 1):
        errors_c = errors_c + rng.binomial(n_c, candidate_rate, runs)
        errors_b = errors_b + rng.binomial(n_b, BASELINE_RATE, runs)
        counts = Counts(look, n_c, n_b, errors_c, errors_b)
        counted |= counts.enough()
        upper = counts.upper(bound(rho2 * h * look), variance)
        running_upper = np.where(counted, np.minimum(running_upper, upper), running_upper)
        clearance = np.minimum(clearance, running_upper - counts.margin())
    return float(np.mean(clearance < 0.0))


def main() -> None:
    args = run_arguments(__doc__.splitlines()[0], 20000, RESULTS)
    began = time.monotonic()
    columns = [
        f"{what}, {looks * n_c:,} planned"
        for what in ("false PASS at the margin", "A/A PASS")
        for looks, n_c, _ in SETUPS
    ]
    lines = [
        "# Boundaries for the error rate's PASS (bench/pass_boundaries.py)",
        "",
        f"{machine()} Code: {revision()}.",
        "",
        f"{args.runs:,} seeded runs per cell (common random numbers across rows), alpha {ALPHA}, baseline",
        "error rate 1%, default margin 0.5 x the baseline's rate, the engine's minimum evidence (500",
        "candidate requests and 10 expected errors), the running minimum over the counted looks.",
        "A false PASS above alpha breaks the level; the module docstring defines each boundary.",
        "",
        "| boundary | variance of D | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for name, bound in BOUNDARIES.items():
        for variance in ("plug-in", "max", "null"):
            cells = [
                f"{100 * passed(bound, variance, rate, setup, runs=args.runs, seed=seed):.1f}%"
                for seed, rate in enumerate((BASELINE_RATE * 1.5, BASELINE_RATE))
                for setup in SETUPS
            ]
            in_use = " **in use**" if (name, variance) == ("mixture", "plug-in") else ""
            lines.append(f"| {name}{in_use} | {variance} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    write_results(args.out, lines, began)


if __name__ == "__main__":
    main()
