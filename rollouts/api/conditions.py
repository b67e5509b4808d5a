"""The closed vocabularies of status: condition types and reasons, shared by writer and readers.

The controller writes them (conditions, Events, history entries, outcomes) and the CLI reads
them (``rollouts wait`` decides its exit code on ``SpecValid`` and ``Baseline``; ``rollouts get``
colours ``Ready`` and the conditions that mean a person must act). One enum for each, here in
the API package both import, so a renamed reason cannot leave a reader matching on a string that
no longer exists; ``tests/unit/test_conditions.py`` keeps the README's list of conditions in
step with :class:`ConditionType`.
"""

from __future__ import annotations

from enum import StrEnum


class ConditionType(StrEnum):
    """Every condition type the controller writes (``status.conditions[].type``)."""

    PROGRESSING = "Progressing"
    """False once the rollout ended; the reason says how."""
    READY = "Ready"
    """The candidate's readiness: Deployment available, pods on their accelerators, readyQuery."""
    PREFLIGHT = "Preflight"
    """The guardrails comparing candidate and baseline Deployments before any traffic."""
    BASELINE = "Baseline"
    """Whether spec.baseline is the stable version (False freezes progress)."""
    ANALYSIS = "Analysis"
    """The latest rollout-level verdict."""
    HELD = "Held"
    """Whether progress waits for a person (drift, inconclusive, an outage)."""
    EVIDENCE_FEASIBLE = "EvidenceFeasible"
    """At analyze steps: whether the traffic can reach the minimum evidence."""
    CONFLICT = "Conflict"
    """True when another rollout owns a Deployment or route rule this one names."""
    SPEC_VALID = "SpecValid"
    """Written (False) only when the stored spec does not parse; names the field."""


class Reason(StrEnum):
    """Every reason the controller writes: on conditions, Events, history and the outcome."""

    # how a rollout starts, moves and ends
    ROLLOUT_STARTED = "RolloutStarted"
    ROLLOUT_RETRIED = "RolloutRetried"
    CANDIDATE_CHANGED = "CandidateChanged"
    STEPS_CHANGED = "StepsChanged"
    STEP_STARTED = "StepStarted"
    WEIGHT_SET = "WeightSet"
    MIRROR_SET = "MirrorSet"
    HEADER_ROUTE_SET = "HeaderRouteSet"
    APPROVED = "Approved"
    INCONCLUSIVE_PROMOTED = "InconclusivePromoted"
    PROMOTED = "Promoted"
    ABORTED = "Aborted"
    SCALED_DOWN = "ScaledDown"
    AUTOSCALER_MOVED = "AutoscalerMoved"
    MAX_DURATION_EXCEEDED = "MaxDurationExceeded"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    # the candidate
    CANDIDATE_READY = "CandidateReady"
    CANDIDATE_NOT_READY = "CandidateNotReady"
    CANDIDATE_FAILING = "CandidateFailing"
    CANDIDATE_MISSING = "CandidateMissing"
    READY_QUERY_FALSE = "ReadyQueryFalse"
    PREFLIGHT_PASSED = "PreflightPassed"
    PREFLIGHT_WARNINGS = "PreflightWarnings"
    PREFLIGHT_WARNING = "PreflightWarning"
    PREFLIGHT_FAILED = "PreflightFailed"
    # the baseline
    BASELINE_IS_STABLE = "BaselineIsStable"
    BASELINE_MISMATCH = "BaselineMismatch"
    # the analysis
    ANALYSIS_PASSED = "AnalysisPassed"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    ANALYSIS_NO_DATA = "AnalysisNoData"
    ANALYSIS_ERROR = "AnalysisError"
    ANALYSIS_RECOVERED = "AnalysisRecovered"
    EVIDENCE_RESET = "EvidenceReset"
    ERROR_BUDGET_EXHAUSTED = "ErrorBudgetExhausted"
    ENOUGH_TRAFFIC = "EnoughTraffic"
    INSUFFICIENT_TRAFFIC = "InsufficientTraffic"
    # holds
    HELD = "Held"
    NOT_HELD = "NotHeld"
    HOLD_RELEASED = "HoldReleased"
    # ownership and the spec
    OBJECTS_CLAIMED = "ObjectsClaimed"
    NO_CONFLICT = "NoConflict"
    CONFLICT = "Conflict"
    SPEC_INVALID = "SpecInvalid"
