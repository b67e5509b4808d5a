"""Weighted Holm's step-down procedure across the harm tests of one rollout.

Why: several metrics each get a chance to find harm, and any one of them rolls back; without a
correction the false-rollback rate grows with the number of metrics. Holm controls it at alpha
under any dependence and rejects at least what Bonferroni does. With always-valid p-values
(running minima of 1/E) the guarantee holds over all looks at once: the first true null Holm
rejects needs p <= w alpha / W0 at some look (W0 the total weight of the true nulls), which
Ville's inequality bounds by w alpha / W0 each, alpha in all.

**Weighted** (Holm 1979, section 5): each test has a weight w_i > 0. Order the tests by p_i / w_i
ascending; with R the tests not yet rejected, reject the next test i while
p_i <= alpha w_i / sum_{k in R} w_k; stop at the first that fails. Equal weights give Holm.

**Choice: alpha is split per metric first, then per test within a metric** (analysis.judge
gives the weights): with an error rate and a latency metric with `slo`, the error rate's test
weighs 1/2 and latency's location and tail tests 1/4 each, instead of 1/3 each. Why: the latency
tail is a second test of the same metric, and adding an SLO should not take alpha from the error
rate, where moderate harm (1% -> 2%) is hardest to find at a 5% canary's traffic.

Worked example at alpha = 0.05 with p = (0.01, 0.04, 0.03), equal weights: 0.01 <= 0.05/3
rejects, then 0.03 <= 0.05/2 fails, so only the first test is rejected. Weights (2, 1, 1) for
p = (0.03, 0.2, 0.01): by p/w, 0.01/1 = 0.01 first: 0.01 <= 0.05 x 1/4 = 0.0125 rejects; then
0.03/2 = 0.015: 0.03 <= 0.05 x 2/3 = 0.0333 rejects; then 0.2 > 0.05 stops (plain Holm stops
after the first: 0.03 > 0.05/2).
"""

from __future__ import annotations

from collections.abc import Mapping


def holm_thresholds(
    p_values: Mapping[str, float], alpha: float, weights: Mapping[str, float] | None = None
) -> dict[str, float]:
    """The level each test is compared with: alpha w / (weight not yet rejected), by ascending p / w.

    Without ``weights`` every test weighs 1 (plain Holm).

    >>> holm_thresholds({"a": 0.01, "b": 0.04, "c": 0.03}, 0.05)
    {'a': 0.016666666666666666, 'c': 0.025, 'b': 0.05}
    >>> holm_thresholds({"e": 0.03, "l": 0.2, "t": 0.01}, 0.05, {"e": 2.0, "l": 1.0, "t": 1.0})
    {'t': 0.0125, 'e': 0.03333333333333333, 'l': 0.05}
    """
    weight = {name: (weights[name] if weights is not None else 1.0) for name in p_values}
    ordered = sorted(p_values, key=lambda name: (p_values[name] / weight[name], name))
    return {
        name: alpha * weight[name] / sum(weight[other] for other in ordered[rank:])
        for rank, name in enumerate(ordered)
    }


def holm_rejected(
    p_values: Mapping[str, float], alpha: float, weights: Mapping[str, float] | None = None
) -> frozenset[str]:
    """The tests (weighted) Holm rejects at family-wise level alpha.

    >>> sorted(holm_rejected({"a": 0.01, "b": 0.04, "c": 0.03}, 0.05))
    ['a']
    >>> sorted(holm_rejected({"e": 0.03, "l": 0.2, "t": 0.01}, 0.05, {"e": 2.0, "l": 1.0, "t": 1.0}))
    ['e', 't']
    """
    rejected: set[str] = set()
    for name, threshold in holm_thresholds(p_values, alpha, weights).items():
        if p_values[name] > threshold:
            break
        rejected.add(name)
    return frozenset(rejected)
