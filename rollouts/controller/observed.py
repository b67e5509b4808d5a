"""What the reconciler saw, and what the state machine decided: plain, immutable data.

The state machine (:mod:`rollouts.controller.decide`) reads only these types, never a
Kubernetes object or a Prometheus response, so every transition is testable with a table.
The reconciler builds :class:`Observed` from its caches, the guardrails and the analysis
engine, and carries out a :class:`Decision` with idempotent effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rollouts.api.status import AnalysisStatus, ModelRolloutStatus, Verdict


@dataclass(frozen=True)
class CandidateHealth:
    """The candidate's readiness and failures, from the guardrails (no Prometheus needed).

    ``ready``: Deployment available and every pod on a node with the accelerator it requests.
    ``failures``: crash loops, OOM kills, restarts past the limit — reasons to roll back.
    ``unschedulable``: the scheduler's reason for Pending pods, reported at progressDeadline.
    ``preflight_errors`` block all traffic; ``preflight_warnings`` become Events once.
    """

    ready: bool
    not_ready_reason: str = ""
    unschedulable: str | None = None
    failures: tuple[str, ...] = ()
    preflight_errors: tuple[str, ...] = ()
    preflight_warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadyQueryResult:
    """The readyQuery's answer: ``ok`` None when no readyQuery is configured."""

    ok: bool | None = None
    message: str = ""


@dataclass(frozen=True)
class LookResult:
    """The outcome of this reconcile's analysis looks (none when no look was due).

    ``analysis`` is the updated accumulated analysis (status.analysis). ``rollback`` lists
    reasons to roll back now (harm after Holm, guard breaches, drift sanity failures, hard
    limits); ``hold`` lists drift findings that wait for a person. Failed queries are counted in
    ``analysis.consecutive_errors``.
    """

    analysis: AnalysisStatus
    rollback: tuple[str, ...] = ()
    hold: tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict | None:
        """The rollout-level verdict after these looks."""
        return self.analysis.verdict


@dataclass(frozen=True)
class Observed:
    """Everything :func:`decide` may know about the world at ``now``."""

    generation: int
    baseline_replicas: int
    """The baseline Deployment's spec.replicas (0 when it is missing): sizes an auto candidate."""
    health: CandidateHealth
    ready_query: ReadyQueryResult = ReadyQueryResult()
    effective_share: float | None = None
    router_error: str | None = None
    look: LookResult | None = None
    feasibility: str | None = None


class EventType(StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """One transition, logged once and mirrored as a Kubernetes Event."""

    reason: str
    message: str
    type: EventType = EventType.NORMAL


@dataclass(frozen=True)
class Decision:
    """What the reconciler must make true, and when to look again.

    ``weight``: the candidate weight the router must hold (always set: applying it is
    idempotent). ``baseline_replicas`` / ``candidate_replicas``: desired Deployment sizes, None
    to leave a Deployment alone. ``requeue_after``: seconds until the next timer.
    """

    status: ModelRolloutStatus
    weight: int
    baseline_replicas: int | None = None
    candidate_replicas: int | None = None
    events: tuple[Event, ...] = field(default=())
    requeue_after: float | None = None
