"""Step arithmetic: plan hashes, first weights and resume points.

Pure functions over the spec, kept apart from the state machine so each rule can be tested by
itself with a table of numbers. Replica plans and expected shares belong to the router kind's
traffic model (:mod:`rollouts.traffic`).
"""

from __future__ import annotations

import hashlib
import json

from rollouts.api.spec import Step
from rollouts.api.status import ModelRolloutStatus


def steps_hash(steps: tuple[Step, ...]) -> str:
    """A short, stable hash of the plan; a changed hash means the steps were edited."""
    wire = json.dumps([step.to_wire() for step in steps], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(wire.encode()).hexdigest()[:16]


def first_weight(steps: tuple[Step, ...]) -> int:
    """The first non-zero weight the plan asks for (100 when no step sets one)."""
    return next((s.set_weight for s in steps if s.set_weight), 100)


def first_load(steps: tuple[Step, ...]) -> int:
    """The share of requests the candidate first serves: its first non-zero weight or mirror.

    A candidate mirrored 50% of requests before its first ``setWeight: 10`` is sized for 50%, so
    its latency is judged at the load it actually takes.
    """
    loads = (step.set_weight or step.set_mirror or 0 for step in steps)
    return next((load for load in loads if load), 100)


def candidate_gets_requests(status: ModelRolloutStatus) -> bool:
    """Whether the routing in force sends the candidate requests: a weight, a mirror, a header route."""
    return bool(status.weight) or bool(status.mirror) or status.header_route is not None


def resume_index(steps: tuple[Step, ...], current_weight: int) -> int:
    """Where to continue after the steps were edited, without moving traffic backwards.

    The first setWeight step whose weight is at least the current weight: every gate and
    analysis at or after the current weight runs again. Past the last such step: the end.
    """
    return next(
        (
            i
            for i, step in enumerate(steps)
            if step.set_weight is not None and step.set_weight >= current_weight
        ),
        len(steps),
    )
