"""The ModelRollout status: the controller's only memory, written only by the controller.

A restarted controller must resume from here alone, so status holds every fact a decision
needs: which candidate this rollout is about, the step and when it started, when the candidate
became ready, the analysis accumulators (sufficient statistics per metric, opaque to this
package) and the tuning constants fixed when analysis started.

``phase`` is derived from those facts by the state machine and written for people and printer
columns; no code reads it to decide anything.

Status models ignore unknown fields (unlike the spec): a CLI one release behind must still read
a status written by a newer controller.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from rollouts.api.base import Text, Timestamp
from rollouts.api.spec import AutoscalerKind, HeaderRoute

MAX_HISTORY = 20
MAX_CONDITIONS = 16
MAX_REPLACED = 16
MAX_NOTIFIER_RECORDS = 8
"""As many as spec.notifications may name (rollouts.api.notifications.MAX_NOTIFIERS)."""


class Phase(StrEnum):
    """Where a rollout stands, derived from status facts."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    FAILED = "Failed"


class Verdict(StrEnum):
    """The closed set of analysis verdicts. Only FAIL rolls back."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    NO_DATA = "NO_DATA"
    ERROR = "ERROR"


class Result(StrEnum):
    """How a rollout ended."""

    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    FAILED = "Failed"


Name = Annotated[str, Field(max_length=253)]
Reason = Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")]


class StatusModel(BaseModel):
    """Base of status models: camelCase, immutable, tolerant of fields from newer controllers."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, unset and empty fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Condition(StatusModel):
    """A Kubernetes-convention condition (metav1.Condition)."""

    type: Annotated[str, Field(max_length=316)] = Field(description="Condition type, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: Reason = Field(description="CamelCase reason.")
    message: Annotated[str, Field(max_length=32768)] = Field(default="", description="Details.")
    last_transition_time: Timestamp = Field(description="When status last changed.")
    observed_generation: int | None = Field(default=None, description="Spec generation seen.")


class HistoryEntry(StatusModel):
    """One transition of the rollout (bounded list, newest last)."""

    time: Timestamp = Field(description="When it happened.")
    reason: Reason = Field(description="What happened, e.g. StepStarted, RolledBack.")
    message: Text = Field(default="", description="Details in words.")
    step: int | None = Field(default=None, description="Step index at the time.")
    weight: int | None = Field(default=None, description="Candidate weight after it.")


class MetricResult(StatusModel):
    """The latest judgement of one metric, with the numbers behind it."""

    name: Name = Field(description="Metric name from spec.analysis.metrics.")
    kind: Annotated[str, Field(max_length=32)] = Field(description="errorRate, latency, drift or guard.")
    verdict: Verdict = Field(description="PASS, FAIL, INCONCLUSIVE, NO_DATA or ERROR.")
    effect: float | None = Field(default=None, description="Estimated effect (ratio, CLES, PSI ...).")
    lower: float | None = Field(default=None, description="Lower always-valid bound of the effect.")
    upper: float | None = Field(default=None, description="Upper always-valid bound of the effect.")
    log10_e: float | None = Field(
        default=None, alias="log10E", description="Harm evidence, log10 of the e-value."
    )
    p_value: float | None = Field(default=None, description="Always-valid p-value of the harm test.")
    baseline_samples: int | None = Field(default=None, description="Baseline samples so far.")
    candidate_samples: int | None = Field(default=None, description="Candidate samples so far.")
    reason: Text = Field(default="", description="One line a person can check.")
    state: dict[str, Any] = Field(
        default_factory=dict,
        description="Sufficient statistics accumulated by the analysis engine (opaque).",
        json_schema_extra={"x-crd": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    )


class AnalysisStatus(StatusModel):
    """Where the continuous analysis stands."""

    started_at: Timestamp | None = Field(default=None, description="First counted interval's start.")
    last_look_at: Timestamp | None = Field(default=None, description="End of the last interval judged.")
    looks: int = Field(default=0, description="Intervals judged so far.")
    consecutive_errors: int = Field(default=0, description="Failed looks in a row (vs errorBudget).")
    verdict: Verdict | None = Field(default=None, description="The rollout-level verdict.")
    reason: Text = Field(default="", description="Why, in one line.")
    tuning: dict[str, float] = Field(
        default_factory=dict,
        description="Constants fixed when analysis started (alpha, mixture widths ...).",
        json_schema_extra={"maxProperties": 64},
    )
    metrics: tuple[MetricResult, ...] = Field(
        default=(),
        max_length=16,
        description="One entry per metric.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class Outcome(StatusModel):
    """How and why the rollout ended."""

    result: Result = Field(description="Succeeded, RolledBack, Aborted or Failed.")
    reason: Reason = Field(description="CamelCase reason.")
    message: Text = Field(default="", description="Details in words.")
    at: Timestamp = Field(description="When.")


class NotifierRecord(StatusModel):
    """What was done for one notifier: every event up to throughEventId is sent (or predates it)."""

    notifier: Name = Field(description="The notifier (spec.notifications[].notifier).")
    through_event_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description=(
            "Id of the last event done with: sent (its receiver answered 2xx) or older than the "
            "subscription. Later history entries are still to send. Unset: every entry is."
        ),
    )
    through_time: Timestamp | None = Field(
        default=None, description="Time of that event, used once the entry has left status.history."
    )
    last_error: Text | None = Field(
        default=None,
        description="Why the next event is not sent yet (retried with back-off); never a URL or token.",
    )


class AutoscalerStatus(StatusModel):
    """The autoscaler handover decided at promotion: recorded first, then carried out.

    Written once the promoted candidate is Ready at the baseline's size; every later reconcile
    re-applies the move until the autoscaler's scaleTargetRef names ``target``
    (docs/autoscalers.md).
    """

    kind: AutoscalerKind = Field(description="The autoscaler's kind.")
    name: Name = Field(description="The autoscaler (spec.autoscaler.name).")
    target: Name = Field(description="The Deployment it is moved to: the promoted candidate.")
    moved_at: Timestamp = Field(description="When the move was decided.")


class CostStatus(StatusModel):
    """What the rollout cost beyond the baseline, folded in at reconciles (docs/guardrails.md).

    Extra means beyond the baseline's size at the start (``baselineReplicas``): the pods (from
    spec.replicas) and accelerators (from the pod templates' requests) that the rollout's
    Deployments hold together on top of it. ``extraPods`` and ``extraAccelerators`` are the
    extra seen at ``accountedAt``; the seconds are integrated up to it, and final once
    ``scaledDownAt`` is set.
    """

    extra_pod_seconds: float = Field(default=0.0, ge=0, description="Pod-seconds beyond the baseline so far.")
    extra_accelerator_seconds: float = Field(
        default=0.0, ge=0, description="Accelerator-seconds (GPU-seconds ...) beyond the baseline so far."
    )
    extra_pods: int = Field(default=0, ge=0, description="Pods beyond the baseline at accountedAt.")
    extra_accelerators: int = Field(
        default=0, ge=0, description="Accelerators beyond the baseline at accountedAt."
    )
    accounted_at: Timestamp = Field(description="The seconds are counted up to here, never twice.")


class ReplicaPlanStatus(StatusModel):
    """The sizes asked for under the GPU budget (spec.capacity; rollouts.controller.core.capacity).

    ``baseline + candidate <= budget`` always; a size is the Deployment's own where the
    controller leaves it as it is.
    """

    budget: int = Field(ge=0, description="Most pods the two may have: baselineReplicas + maxSurge.")
    baseline: int = Field(ge=0, description="The baseline's size asked for now.")
    candidate: int = Field(ge=0, description="The candidate's size asked for now.")


class ModelRolloutStatus(StatusModel):
    """Written only by the controller; see the module docstring."""

    phase: Phase | None = Field(default=None, description="Derived phase, for people and columns.")
    message: Text = Field(default="", description="One-line summary of where the rollout stands.")
    observed_generation: int | None = Field(default=None, description="Last spec generation acted on.")
    candidate_version: Annotated[str, Field(max_length=63)] | None = Field(
        default=None, description="The candidate version this status is about."
    )
    candidate_deployment: Name | None = Field(
        default=None,
        description="The candidate Deployment this status is about (a later candidate retires it).",
    )
    replaced_candidates: tuple[Name, ...] = Field(
        default=(),
        max_length=MAX_REPLACED,
        description=(
            "Candidate Deployments of earlier rollouts that a new candidate replaced; the controller "
            "scales them to 0 and drops them from this list once they are at 0."
        ),
    )
    stable_version: Annotated[str, Field(max_length=63)] | None = Field(
        default=None,
        description="The version that last succeeded (the baseline of the next rollout).",
    )
    steps_hash: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="Hash of spec.steps when this rollout started; an edit restarts it.",
    )
    started_at: Timestamp | None = Field(default=None, description="When this rollout started.")
    plan_started_at: Timestamp | None = Field(
        default=None,
        description="When the current plan began (rollout start or steps edit); older approvals don't count.",
    )
    baseline_replicas: int | None = Field(
        default=None, description="Baseline replicas when the rollout started (sizes an auto candidate)."
    )
    current_step: int | None = Field(default=None, description="Index of the step in progress.")
    step_started_at: Timestamp | None = Field(default=None, description="When it started.")
    weight: int | None = Field(default=None, description="Candidate weight asked of the router.")
    effective_weight: float | None = Field(default=None, description="Candidate share the router reports.")
    mirror: int | None = Field(
        default=None,
        description="Percent of requests mirrored to the candidate (answers discarded), asked of the router.",
    )
    header_route: HeaderRoute | None = Field(
        default=None, description="Requests with these headers go to the candidate (asked of the router)."
    )
    candidate_ready_at: Timestamp | None = Field(
        default=None, description="When the candidate was first ready (warm-up counts from here)."
    )
    hold: Text | None = Field(default=None, description="Why progress is held for a person, if it is.")
    retried_at: Timestamp | None = Field(default=None, description="The retry intent last acted on.")
    scaled_down_at: Timestamp | None = Field(default=None, description="When the loser was scaled down.")
    cost: CostStatus | None = Field(
        default=None, description="Pod- and accelerator-seconds beyond the baseline (the rollout's cost)."
    )
    replica_plan: ReplicaPlanStatus | None = Field(
        default=None, description="The sizes asked for under spec.capacity (none without a budget)."
    )
    outcome: Outcome | None = Field(default=None, description="Set when the rollout has ended.")
    autoscaler: AutoscalerStatus | None = Field(
        default=None,
        description="The autoscaler handed to the promoted candidate (docs/autoscalers.md).",
    )
    analysis: AnalysisStatus | None = Field(default=None, description="The continuous analysis.")
    conditions: tuple[Condition, ...] = Field(
        default=(),
        max_length=MAX_CONDITIONS,
        description="Kubernetes-convention conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    history: tuple[HistoryEntry, ...] = Field(
        default=(), max_length=MAX_HISTORY, description="The last transitions, newest last."
    )
    notifications: tuple[NotifierRecord, ...] = Field(
        default=(),
        max_length=MAX_NOTIFIER_RECORDS,
        description="Per notifier of spec.notifications, the last event sent (docs/notifications.md).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["notifier"]},
    )
