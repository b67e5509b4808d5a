"""What the reconciler saw, and what the state machine decided: plain, immutable data.

The state machine (:mod:`rollouts.controller.core.decide`) reads only these types, never a
Kubernetes object or a Prometheus response, so every transition is testable with a table.
The fetch step builds :class:`Observed` from the caches, the guardrails, the router and the
metrics provider (raw windows); the evidence fold adds :class:`Evidence`; the reconciler
carries out a :class:`Decision` with idempotent effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from analysis import AnalysisState, Observation, RolloutJudgement
from analysis.observations import Window
from rollouts.api.conditions import Reason
from rollouts.api.spec import AutoscalerKind, HeaderMatch
from rollouts.api.status import AnalysisStatus, ModelRolloutStatus
from rollouts.guardrails.autoscalers import Autoscaler


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
class DeploymentState:
    """One Deployment as the cache shows it: whether it exists, its size and its Ready pods.

    The replica rules read these to keep the app serving: the baseline is scaled down only while
    the candidate has the Ready pods to replace it, and traffic goes back to the baseline only
    once it has a Ready pod (see rollouts.controller.core.decide, "Replicas and serving pods").
    """

    name: str
    exists: bool = True
    replicas: int = 0
    """spec.replicas (0 when missing)."""
    ready: int = 0
    """status.readyReplicas (0 when missing)."""
    pods: int = 0
    """Its pods that exist, Terminating ones included: they hold their accelerators until gone
    (the GPU budget grows the other side only into room they left, rollouts.controller.core.capacity)."""
    accelerators: int = 0
    """Accelerators one pod of its template asks for (rollouts.guardrails.accelerators.pod_demand)."""


@dataclass(frozen=True)
class ReadyQueryResult:
    """The readyQuery's answer: ``ok`` None when no readyQuery is configured."""

    ok: bool | None = None
    message: str = ""


@dataclass(frozen=True)
class WindowObservations:
    """One complete window: every metric's observation over ``window`` (a failure is data)."""

    window: Window
    observations: Mapping[str, Observation]


@dataclass(frozen=True)
class Evidence:
    """What the fold found: the new ``status.analysis`` and what it asks of the state machine."""

    analysis: AnalysisStatus
    rollback: tuple[str, ...] = ()
    hold: tuple[str, ...] = ()
    reset: str | None = None
    judgement: RolloutJudgement | None = None
    """The engine's judgement after the last window (per-metric numbers, harm tests)."""
    state: AnalysisState | None = None
    """The engine state after the last window (feasibility reads it without restoring again)."""


@dataclass(frozen=True)
class Observed:
    """Everything :func:`decide` may know about the world at ``now``."""

    generation: int
    baseline: DeploymentState
    """The baseline Deployment: its spec.replicas sizes an auto candidate at the start."""
    candidate: DeploymentState
    health: CandidateHealth
    ready_query: ReadyQueryResult = ReadyQueryResult()
    effective_share: float | None = None
    effective_mirror: float | None = 0.0
    """The fraction of requests the router reports mirrored to the candidate (None: unknown)."""
    effective_header_match: tuple[HeaderMatch, ...] | None = ()
    """The header route the router reports (() none; None: unknown)."""
    router_error: str | None = None
    windows: tuple[WindowObservations, ...] = ()
    """Every metric's observation for each window due now (complete windows only)."""
    evidence: Evidence | None = None
    """What the evidence fold made of ``windows`` (rollouts.controller.core.evidence.assess)."""
    replaced: tuple[DeploymentState, ...] = ()
    """Candidates of earlier rollouts (``status.replacedCandidates``) as they are now."""
    conflict: str | None = None
    """Why another, older rollout owns an object this one names (it then touches nothing)."""
    source_error: str | None = None
    """Why the metrics source cannot be used (a Secret, the address): said in status.message."""
    autoscaler: Autoscaler | None = None
    """The autoscaler spec.autoscaler names, as cached (None: none named, or not found)."""


class EventType(StrEnum):
    """Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """One transition, logged once and mirrored as a Kubernetes Event."""

    reason: Reason
    message: str
    type: EventType = EventType.NORMAL


@dataclass(frozen=True)
class AutoscalerMove:
    """Point autoscaler ``kind`` ``name``'s scaleTargetRef from Deployment ``source`` to ``target``.

    Applied only while it still names ``source`` (a JSON-patch ``test``), so a move written
    after someone else's edit fails instead of undoing it. For a ScaledObject the move is made
    on it, never on the HPA KEDA derives from it (rollouts.guardrails.autoscalers).
    """

    name: str
    source: str
    target: str
    kind: AutoscalerKind = AutoscalerKind.HPA


@dataclass(frozen=True)
class Decision:
    """What the reconciler must make true, and when to look again.

    ``weight``: the candidate weight the router must hold (applying it is idempotent); None
    only when the rollout must touch nothing (another rollout owns its objects).
    ``mirror`` / ``header_match``: the mirror percent (0: none) and header route (() none) the
    router must hold; None exactly when ``weight`` is.
    ``baseline_replicas`` / ``candidate_replicas``: desired Deployment sizes, None to leave a
    Deployment alone. ``scale_to_zero``: replaced candidates of earlier rollouts to stop.
    ``autoscaler_move``: the autoscaler to point at the promoted candidate (status.autoscaler
    records the move; None: nothing to move, or the move is done).
    ``requeue_after``: seconds until the next timer.
    """

    status: ModelRolloutStatus
    weight: int | None
    mirror: int | None = None
    header_match: tuple[HeaderMatch, ...] | None = None
    baseline_replicas: int | None = None
    candidate_replicas: int | None = None
    scale_to_zero: tuple[str, ...] = ()
    autoscaler_move: AutoscalerMove | None = None
    events: tuple[Event, ...] = field(default=())
    requeue_after: float | None = None
    evidence: Evidence | None = None
    """What this reconcile's windows added to the analysis (None: no window was folded)."""
