"""The closed sets the judge answers in: verdicts and the action a verdict asks for.

Why an ``Action`` beside the verdict: a FAIL does not always mean "roll back". Prediction drift
at the fail level holds the rollout for a person by default (a new model is expected to move
predictions), while a sanity failure of the same metric (NaN predictions, a single class, scores
out of range) rolls back. The controller acts on ``action`` and shows ``verdict``.

The values equal those of ``rollouts.api.status.Verdict`` so the controller maps by value.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """The judgement of one metric or of the whole rollout at one look."""

    PASS = "PASS"
    """Enough evidence that the candidate is no worse than the baseline (non-inferior)."""
    FAIL = "FAIL"
    """The candidate is worse: harm found (after Holm and the practical gate), or a bound broken."""
    INCONCLUSIVE = "INCONCLUSIVE"
    """Neither yet: more evidence is needed, or the effect sits between the gates."""
    NO_DATA = "NO_DATA"
    """The metric returned nothing to compare (no series, or no samples in a cohort)."""
    ERROR = "ERROR"
    """The query failed or returned something unusable; it never promotes."""


class Action(StrEnum):
    """What a verdict asks the controller to do."""

    NONE = "none"
    """Carry on: wait for evidence, or promote when the rollout verdict is PASS."""
    HOLD = "hold"
    """Stop progressing and wait for a person (drift at the fail level with onFail: hold)."""
    ROLLBACK = "rollback"
    """Send all traffic back to the baseline."""
