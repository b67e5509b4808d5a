"""Always-valid inference from a normal mixture: e-values, p-values and confidence sequences.

Why: the controller looks every interval, and a fixed-horizon test repeated at each look rejects
a true null far more often than alpha (about 30% over 60 looks at alpha = 0.05). A mixture
martingale keeps P(it ever exceeds 1/alpha) <= alpha however often and whenever it is read
(Ville's inequality), so its running maximum gives a p-value and its level set gives bounds that
hold at every look at once.

The one-sided normal mixture (Robbins 1970; Howard et al. 2021, "Time-uniform, nonparametric,
nonasymptotic confidence sequences", with a half-normal mixing density). Let an estimate have
standardised value z = (estimate - null) / sd, and let g = rho^2 * tau, where tau is the
"intrinsic time" (an effective sample size) and rho^2 the mixture width fixed when analysis
starts. Mixing exp(lambda*S - lambda^2*V/2) over lambda >= 0 with a half-normal density gives

    M(z, g) = 2 / sqrt(1 + g) * exp(z^2 * g / (2 (1 + g))) * Phi(z * sqrt(g / (1 + g)))

Worked example: z = 3 at g = 8 gives ln M = ln 2 - 0.5 ln 9 + 9 * 8 / 18 + ln Phi(2.828)
= 0.693 - 1.099 + 4.0 - 0.0023 = 3.592, so M = 36.3 and the always-valid p is 1/36.3 = 0.028
(a fixed-horizon one-sided z-test would say 0.00135: the price of looking at every interval).

The boundary z*(g, alpha) solves M(z*, g) = 1/alpha; the one-sided always-valid bounds are
estimate -/+ sd * z*. For alpha = 0.05 and g = 8, z* = 2.768. The width rho^2 is chosen so that
z* is smallest at the expected sample size: g_opt = argmin_g z*(g, alpha) (about 6.69 for
alpha = 0.05, where z* = 2.766) and rho^2 = g_opt / tau_expected.

Validity: exact for Gaussian increments with known variance; for the rank and rate statistics
here it rests on the per-interval central limit theorem (Waudby-Smith et al. 2024, "Time-uniform
central limit theory and asymptotic confidence sequences"), which the simulations in
bench/analysis_quality.py check (A/A false rollbacks <= alpha).
"""

from __future__ import annotations

import math

from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_ndtr

LOG_TWO = math.log(2.0)


def log_mixture_e(z: float, g: float) -> float:
    """The log e-value ln M(z, g) of the one-sided normal mixture (formula in the module doc).

    >>> round(log_mixture_e(3.0, 8.0), 3)
    3.592
    >>> round(log_mixture_e(0.0, 8.0), 3)  # no evidence: M = 1/sqrt(1 + g) < 1
    -1.099
    """
    if g <= 0.0:
        return 0.0
    shrink = g / (1.0 + g)
    return float(LOG_TWO - 0.5 * math.log1p(g) + 0.5 * z * z * shrink + log_ndtr(z * math.sqrt(shrink)))


def boundary(g: float, alpha: float) -> float:
    """z*(g, alpha): the standardised value at which M reaches 1/alpha.

    >>> round(boundary(8.0, 0.05), 3)
    2.768
    >>> round(boundary(0.5, 0.05), 2)  # early, little information: a much wider bound
    3.89
    """
    if g <= 0.0:
        return math.inf
    target = math.log(1.0 / alpha)
    upper = math.sqrt(2.0 * (1.0 + g) / g * (target + 0.5 * math.log1p(g) + LOG_TWO)) + 1.0
    return float(brentq(lambda z: log_mixture_e(z, g) - target, 0.0, upper, xtol=1e-12))


def optimal_g(alpha: float) -> float:
    """The g that makes z*(g, alpha) smallest: the bound is tightest where tau = g / rho^2.

    >>> round(optimal_g(0.05), 2)
    6.69
    """
    result = minimize_scalar(
        lambda log_g: boundary(math.exp(log_g), alpha), bounds=(-5.0, 8.0), method="bounded"
    )
    return float(math.exp(result.x))


def mixture_width(alpha: float, expected_tau: float) -> float:
    """rho^2, fixed when analysis starts: the bound is tightest at the expected sample size.

    >>> round(mixture_width(0.05, 1000.0), 5)
    0.00669
    """
    return optimal_g(alpha) / max(expected_tau, 1.0)


def always_valid_p(max_log_e: float) -> float:
    """The always-valid p = min(1, 1 / max_t E_t) from the running maximum of ln E (Ville's inequality).

    >>> always_valid_p(math.log(40.0))
    0.025
    """
    return min(1.0, math.exp(-max_log_e))


def one_sided_radius(variance: float, g: float, alpha: float) -> float:
    """The radius sd * z*(g, alpha): how far an always-valid one-sided bound sits from the estimate.

    >>> round(one_sided_radius(0.0001, 8.0, 0.05), 5)  # sd 0.01
    0.02768
    """
    if variance <= 0.0 and g > 0.0:
        return 0.0
    return math.sqrt(max(variance, 0.0)) * boundary(g, alpha)
