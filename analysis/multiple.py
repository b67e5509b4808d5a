"""Holm's step-down procedure across the harm tests of one rollout.

Why: several metrics each get a chance to find harm, and any one of them rolls back; without a
correction the false-rollback rate grows with the number of metrics. Holm controls it at alpha
under any dependence and rejects at least what Bonferroni does. With always-valid p-values
(running minima of 1/E) the guarantee holds over all looks at once: the first true null Holm
rejects needs p <= alpha / m0 at some look, which Ville's inequality bounds by alpha / m0 each.

Sort the m p-values ascending; reject the j-th (j = 1..m) while p_(j) <= alpha / (m - j + 1);
stop at the first that fails. Worked example at alpha = 0.05 with p = (0.01, 0.04, 0.03):
0.01 <= 0.05/3 rejects, then 0.03 <= 0.05/2 fails, so only the first test is rejected.
"""

from __future__ import annotations

from collections.abc import Mapping


def holm_thresholds(p_values: Mapping[str, float], alpha: float) -> dict[str, float]:
    """The level each test is compared with: alpha / (m - rank + 1), rank by ascending p.

    >>> holm_thresholds({"a": 0.01, "b": 0.04, "c": 0.03}, 0.05)
    {'a': 0.016666666666666666, 'c': 0.025, 'b': 0.05}
    """
    ordered = sorted(p_values, key=lambda name: (p_values[name], name))
    total = len(ordered)
    return {name: alpha / (total - rank) for rank, name in enumerate(ordered)}


def holm_rejected(p_values: Mapping[str, float], alpha: float) -> frozenset[str]:
    """The tests Holm rejects at family-wise level alpha.

    >>> sorted(holm_rejected({"a": 0.01, "b": 0.04, "c": 0.03}, 0.05))
    ['a']
    """
    rejected: set[str] = set()
    for name, threshold in holm_thresholds(p_values, alpha).items():
        if p_values[name] > threshold:
            break
        rejected.add(name)
    return frozenset(rejected)
