"""The rollout state machine: ``decide(spec, status, observed, now) -> Decision``, pure.

Status is the only memory: everything a decision needs is in the spec (what the user wants,
including intents), the status (facts recorded by earlier decisions) and what the reconciler
observed just now. The function reads no clock and does no I/O, so a restarted controller
that reads the same status makes the same decision, and every transition is a table row in
tests/unit/test_decide.py.

Rules, in the order they are applied (the first that ends the reconcile wins):

1. A changed candidate (or a retry intent after an ended rollout) starts a new rollout.
2. An ended rollout only finishes its scale-down after ``scaleDown.delay``.
3. An abort intent rolls back at once — before anything that needs Prometheus.
4. ``maxDuration`` exceeded rolls back; a hold or a gate never keeps duplicate GPUs forever.
5. Candidate pod failures (crash loop, OOM kill, restarts) roll back once it had traffic.
6. Harm found by the analysis (after Holm), a guard breach or a drift sanity failure rolls
   back — during analyze steps, approve waits and holds alike.
7. An exhausted errorBudget acts per ``inconclusive`` — except that it never promotes
   (Prometheus being down is no evidence): ``promote`` degrades to ``hold``.
8. A baseline that is not ``status.stableVersion`` freezes progress (BaselineMismatch).
9. Until the candidate is ready (preflight passed, pods ready on their accelerators,
   readyQuery true) traffic stays at 0; past ``progressDeadline`` the rollout fails.
10. Steps advance while they can: setWeight when the router reports the share; analyze on a
    PASS judged on at least one interval inside the step, on an approval naming the step (a
    person vouches; harm still rolls back), or at its end per ``inconclusive``; approve on an
    approval naming the step. Holds (drift, inconclusive) and ``paused`` stop
    advancing but not the analysis. After the last step the weight goes to 100 and the
    rollout succeeds: promotion.

Phases are derived from the resulting facts (:func:`derive_phase`), never branched on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from rollouts.api.durations import format_seconds, seconds
from rollouts.api.spec import Approval, ModelRolloutSpec, Step
from rollouts.api.status import (
    MAX_HISTORY,
    Condition,
    HistoryEntry,
    ModelRolloutStatus,
    Outcome,
    Phase,
    Result,
    Verdict,
)
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.observed import Decision, Event, EventType, Observed
from rollouts.controller.schedule import analysis_start_time, next_look_at
from rollouts.controller.steps import (
    expected_share,
    first_weight,
    replica_plan,
    resume_index,
    steps_hash,
)

ROUTER_POLL = timedelta(seconds=2)
READINESS_POLL = timedelta(seconds=5)
MAX_STEP_ADVANCES = 64
SHARE_TOLERANCE = 1e-6

UNAVAILABLE_HOLD = "analysis unavailable"
"""Prefix of the hold raised when errorBudget is exhausted; it lifts when looks succeed again."""

ConditionStatus = Literal["True", "False", "Unknown"]


def derive_phase(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> Phase:
    """The phase people see, derived from status facts and the paused intent."""
    if status.outcome is not None:
        return Phase(status.outcome.result.value)
    if status.candidate_version is None:
        return Phase.PENDING
    if spec.paused or status.hold:
        return Phase.PAUSED
    if status.candidate_ready_at is None:
        return Phase.PENDING
    return Phase.PROGRESSING


def approved(spec: ModelRolloutSpec, status: ModelRolloutStatus, step: int) -> Approval | None:
    """The approval that passes ``step`` in this rollout, if any.

    It must name the step, name this candidate version (or none), and not predate the current
    plan (a rollout start or a steps edit), so a stale click never passes a gate.
    """
    since = parse_timestamp(status.plan_started_at) if status.plan_started_at else None
    for approval in spec.approvals:
        if approval.step != step:
            continue
        if approval.version is not None and approval.version != spec.candidate.version:
            continue
        if since and approval.requested_at and parse_timestamp(approval.requested_at) < since:
            continue
        return approval
    return None


def abort_applies(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> bool:
    """Whether the abort intent is about this rollout (not a stale one, not undone by retry)."""
    abort = spec.abort
    if abort is None:
        return False
    if abort.version is not None and abort.version != spec.candidate.version:
        return False
    if status.retried_at and abort.requested_at:
        return parse_timestamp(abort.requested_at) >= parse_timestamp(status.retried_at)
    return True


def retry_requested(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> bool:
    """Whether a retry intent newer than the last one acted on applies to an ended rollout."""
    retry = spec.retry
    if retry is None or status.outcome is None or status.outcome.result is Result.SUCCEEDED:
        return False
    if retry.version is not None and retry.version != spec.candidate.version:
        return False
    return status.retried_at is None or parse_timestamp(retry.requested_at) > parse_timestamp(
        status.retried_at
    )


@dataclass
class _Transition:
    """The working state of one decision; built, used and dropped inside :func:`decide`."""

    spec: ModelRolloutSpec
    old: ModelRolloutStatus
    observed: Observed
    now: datetime
    facts: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    conditions: dict[str, Condition] = field(default_factory=dict)
    wake: list[datetime] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conditions = {c.type: c for c in self.old.conditions}
        self.history = list(self.old.history)

    # --- reading the status being built ---------------------------------------------

    @property
    def status(self) -> ModelRolloutStatus:
        return self.old.model_copy(update=self.facts)

    @property
    def stamp(self) -> str:
        return format_timestamp(self.now)

    def when(self, text: str | None) -> datetime | None:
        return parse_timestamp(text) if text else None

    # --- writing --------------------------------------------------------------------

    def set(self, **facts: Any) -> None:
        self.facts.update(facts)

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        """Record a transition: an Event, a log line (by the reconciler) and a history entry."""
        kind = EventType.WARNING if warning else EventType.NORMAL
        self.events.append(Event(reason=reason, message=message, type=kind))
        status = self.status
        self.history.append(
            HistoryEntry(
                time=self.stamp,
                reason=reason,
                message=message[:1024],
                step=status.current_step,
                weight=status.weight,
            )
        )

    def condition(self, kind: str, value: ConditionStatus, reason: str, message: str = "") -> None:
        previous = self.conditions.get(kind)
        unchanged = previous is not None and previous.status == value
        self.conditions[kind] = Condition(
            type=kind,
            status=value,
            reason=reason,
            message=message[:32768],
            last_transition_time=previous.last_transition_time if unchanged and previous else self.stamp,
            observed_generation=self.observed.generation,
        )

    def wake_at(self, moment: datetime | None) -> None:
        if moment is not None:
            self.wake.append(moment)

    # --- the decision ---------------------------------------------------------------

    def finish(self, weight: int, message: str) -> Decision:
        status = self.status
        plan = self.replicas(weight)
        facts = {
            "weight": weight,
            "effective_weight": (
                None
                if self.observed.effective_share is None
                else round(self.observed.effective_share * 100, 3)
            ),
            "observed_generation": self.observed.generation,
            "conditions": tuple(self.conditions.values()),
            "history": tuple(self.history[-MAX_HISTORY:]),
            "message": message[:1024],
        }
        status = status.model_copy(update=facts)
        status = status.model_copy(update={"phase": derive_phase(self.spec, status)})
        future = [moment for moment in self.wake if moment is not None]
        requeue = None
        if future:
            requeue = max(0.5, (min(future) - self.now).total_seconds())
        return Decision(
            status=status,
            weight=weight,
            baseline_replicas=plan[0],
            candidate_replicas=plan[1],
            events=tuple(self.events),
            requeue_after=requeue,
        )

    def replicas(self, weight: int) -> tuple[int | None, int | None]:
        """Desired sizes for both Deployments given the facts decided so far."""
        status = self.status
        base = status.baseline_replicas
        if base is None:
            return None, None
        outcome = status.outcome
        if outcome is not None:
            scale_down_due = self.scale_down_time(status)
            done = scale_down_due is not None and self.now >= scale_down_due
            if outcome.result is Result.SUCCEEDED:
                final = replica_plan(self.spec, 100, base)
                return (0 if done else (final.baseline or None)), final.candidate
            if self.spec.traffic.replicas is not None:
                return None, 0  # without a mesh, its pods are its traffic: stop them now
            return None, (0 if done else None)
        if status.candidate_ready_at is None and weight == 0:
            if self.spec.traffic.replicas is not None:
                return None, 1  # every Ready pod behind the shared Service gets traffic: keep one
            return None, replica_plan(self.spec, first_weight(self.spec.steps), base).candidate
        plan = replica_plan(self.spec, weight, base)
        return plan.baseline, plan.candidate

    def scale_down_time(self, status: ModelRolloutStatus) -> datetime | None:
        if status.outcome is None:
            return None
        pause = max(seconds(self.spec.scale_down.delay), seconds(self.spec.scale_down.drain))
        return parse_timestamp(status.outcome.at) + timedelta(seconds=pause)


def decide(spec: ModelRolloutSpec, status: ModelRolloutStatus, observed: Observed, now: datetime) -> Decision:
    """Decide the next status, router weight, replicas, events and requeue time (pure)."""
    t = _Transition(spec=spec, old=status, observed=observed, now=now)
    _start_if_new(t)
    if t.status.outcome is not None:
        return _after_end(t)
    if abort_applies(spec, t.status):
        reason = spec.abort.reason if spec.abort else ""
        who = f" by {spec.abort.requested_by}" if spec.abort and spec.abort.requested_by else ""
        return _end(t, Result.ABORTED, "Aborted", f"aborted{who}: {reason}")
    started = t.when(t.status.started_at) or now
    deadline = started + timedelta(seconds=seconds(spec.max_duration))
    if now >= deadline:
        return _end(
            t,
            Result.ROLLED_BACK,
            "MaxDurationExceeded",
            f"the rollout ran longer than maxDuration {spec.max_duration}",
        )
    t.wake_at(deadline)
    if observed.health.failures and (t.status.weight or 0) > 0:
        return _end(t, Result.ROLLED_BACK, "CandidateFailing", "; ".join(observed.health.failures))
    if observed.look is not None:
        t.set(analysis=observed.look.analysis)
        _analysis_condition(t)
        if observed.look.rollback:
            return _end(t, Result.ROLLED_BACK, "AnalysisFailed", "; ".join(observed.look.rollback))
        budget_hold = _error_budget(t)
        if budget_hold is not None:
            return budget_hold
    stable = t.status.stable_version
    if stable and spec.baseline.version != stable:
        message = (
            f"spec.baseline.version is {spec.baseline.version!r} but the stable version is "
            f"{stable!r}: set baseline to the stable version to proceed"
        )
        t.condition("Baseline", "False", "BaselineMismatch", message)
        if _condition_changed(t, "Baseline"):
            t.event("BaselineMismatch", message, warning=True)
        return t.finish(t.status.weight or 0, message)
    t.condition("Baseline", "True", "BaselineIsStable", f"baseline {spec.baseline.version} is stable")
    if t.status.candidate_ready_at is None:
        waiting = _readiness(t)
        if waiting is not None:
            return waiting
    _holds(t)
    return _advance(t)


# --- rule 1: a new rollout ---------------------------------------------------------------


def _start_if_new(t: _Transition) -> None:
    spec, status = t.spec, t.status
    new_candidate = status.candidate_version != spec.candidate.version
    retry = not new_candidate and retry_requested(spec, status)
    if not new_candidate and not retry:
        _steps_edited(t)
        return
    previous = status.candidate_version
    t.set(
        candidate_version=spec.candidate.version,
        stable_version=status.stable_version or spec.baseline.version,
        steps_hash=steps_hash(spec.steps),
        started_at=t.stamp,
        plan_started_at=t.stamp,
        baseline_replicas=t.observed.baseline_replicas,
        current_step=0,
        step_started_at=t.stamp,
        weight=0,
        candidate_ready_at=None,
        hold=None,
        outcome=None,
        analysis=None,
        scaled_down_at=None,
    )
    t.conditions = {}
    if retry and spec.retry is not None:
        t.set(retried_at=spec.retry.requested_at)
        t.event("RolloutRetried", f"retrying candidate {spec.candidate.version} from the first step")
    elif previous is not None and status.outcome is None:
        t.event(
            "CandidateChanged",
            f"candidate changed from {previous} to {spec.candidate.version} mid-rollout: starting over",
            warning=True,
        )
    else:
        t.event(
            "RolloutStarted",
            f"rolling out {spec.candidate.version} ({spec.candidate.deployment}) against "
            f"{spec.baseline.version} ({spec.baseline.deployment})",
        )
    t.condition("Progressing", "True", "RolloutStarted", f"rolling out {spec.candidate.version}")


def _steps_edited(t: _Transition) -> None:
    spec, status = t.spec, t.status
    current = steps_hash(spec.steps)
    if status.outcome is not None or status.steps_hash in (None, current):
        return
    resume = resume_index(spec.steps, status.weight or 0)
    t.set(
        steps_hash=current, current_step=resume, step_started_at=t.stamp, plan_started_at=t.stamp, hold=None
    )
    t.event(
        "StepsChanged",
        f"spec.steps changed mid-rollout: resuming at step {resume} so traffic never moves backwards",
        warning=True,
    )


# --- rule 2: after the end --------------------------------------------------------------


def _after_end(t: _Transition) -> Decision:
    status = t.status
    outcome = status.outcome
    assert outcome is not None
    weight = 100 if outcome.result is Result.SUCCEEDED else 0
    due = t.scale_down_time(status)
    if status.scaled_down_at is None and due is not None:
        if t.now >= due:
            loser = t.spec.baseline if outcome.result is Result.SUCCEEDED else t.spec.candidate
            t.set(scaled_down_at=t.stamp)
            t.event("ScaledDown", f"scaled {loser.deployment} ({loser.version}) to 0 replicas")
        else:
            t.wake_at(due)
    return t.finish(weight, _ended_message(outcome.result, outcome.message))


def _ended_message(result: Result, detail: str) -> str:
    words = {
        Result.SUCCEEDED: "promoted",
        Result.ROLLED_BACK: "rolled back",
        Result.ABORTED: "aborted",
        Result.FAILED: "failed",
    }
    return f"{words[result]}: {detail}" if detail else words[result]


def _end(t: _Transition, result: Result, reason: str, message: str) -> Decision:
    """End the rollout: promotion keeps 100%, every other end sends all traffic back (0%)."""
    t.set(outcome=Outcome(result=result, reason=reason, message=message[:1024], at=t.stamp), hold=None)
    if result is Result.SUCCEEDED:
        t.set(stable_version=t.spec.candidate.version)
    weight = 100 if result is Result.SUCCEEDED else 0
    t.set(weight=weight)
    t.event(reason, message, warning=result is not Result.SUCCEEDED)
    t.condition("Progressing", "False", reason, message)
    t.wake_at(t.scale_down_time(t.status))
    return t.finish(weight, _ended_message(result, message))


# --- rules 6 and 7: analysis ------------------------------------------------------------


def _analysis_condition(t: _Transition) -> None:
    analysis = t.status.analysis
    if analysis is None or analysis.verdict is None:
        return
    value: ConditionStatus = "False" if analysis.verdict in (Verdict.FAIL, Verdict.ERROR) else "True"
    reason = {
        Verdict.PASS: "AnalysisPassed",
        Verdict.FAIL: "AnalysisFailed",
        Verdict.INCONCLUSIVE: "AnalysisInconclusive",
        Verdict.NO_DATA: "AnalysisNoData",
        Verdict.ERROR: "AnalysisError",
    }[analysis.verdict]
    t.condition("Analysis", value, reason, analysis.reason)


def _error_budget(t: _Transition) -> Decision | None:
    analysis = t.status.analysis
    if analysis is None or analysis.consecutive_errors <= t.spec.analysis.error_budget:
        if t.status.hold and t.status.hold.startswith(UNAVAILABLE_HOLD):
            t.set(hold=None)
            t.event("AnalysisRecovered", "queries succeed again; the hold is lifted")
        return None
    policy = t.spec.analysis.inconclusive
    message = (
        f"{analysis.consecutive_errors} looks in a row failed (errorBudget "
        f"{t.spec.analysis.error_budget}): {analysis.reason}"
    )
    if policy == "rollback":
        return _end(t, Result.ROLLED_BACK, "ErrorBudgetExhausted", message)
    hold = f"{UNAVAILABLE_HOLD}: {message} (a failed query never promotes)"
    if t.status.hold != hold:
        t.set(hold=hold)
        t.event("Held", hold, warning=True)
    return None


# --- rule 9: readiness ------------------------------------------------------------------


def _readiness(t: _Transition) -> Decision | None:
    spec, observed = t.spec, t.observed
    health = observed.health
    started = t.when(t.status.started_at) or t.now
    deadline = started + timedelta(seconds=seconds(spec.progress_deadline))
    problems: list[tuple[str, str]] = []
    if health.preflight_errors:
        message = "; ".join(health.preflight_errors)
        t.condition("Preflight", "False", "PreflightFailed", message)
        problems.append(("PreflightFailed", message))
    elif health.preflight_warnings:
        message = "; ".join(health.preflight_warnings)
        t.condition("Preflight", "True", "PreflightWarnings", message)
        if _condition_changed(t, "Preflight"):
            for warning in health.preflight_warnings:
                t.event("PreflightWarning", warning, warning=True)
    else:
        t.condition("Preflight", "True", "PreflightPassed", "preflight checks passed")
    if health.failures:
        problems.append(("CandidateFailing", "; ".join(health.failures)))
    if not health.ready:
        problems.append(("CandidateNotReady", health.not_ready_reason or "candidate not ready"))
    if observed.ready_query.ok is False:
        problems.append(("ReadyQueryFalse", observed.ready_query.message))
    if not problems:
        t.set(candidate_ready_at=t.stamp)
        t.condition("Ready", "True", "CandidateReady", f"candidate {spec.candidate.version} is ready")
        t.event(
            "CandidateReady", f"candidate {spec.candidate.version} is ready; warm-up {spec.analysis.warmup}"
        )
        return None
    reason, message = problems[0]
    detail = "; ".join(text for _, text in problems)
    t.condition("Ready", "False", reason, detail)
    if _condition_changed(t, "Ready") and reason == "PreflightFailed":
        t.event("PreflightFailed", detail, warning=True)
    if t.now >= deadline:
        why = health.unschedulable or detail
        return _end(
            t,
            Result.FAILED,
            "ProgressDeadlineExceeded",
            f"candidate not ready within {spec.progress_deadline}: {why}",
        )
    t.wake_at(min(deadline, t.now + READINESS_POLL))
    return t.finish(0, f"waiting for the candidate: {message}")


def _condition_changed(t: _Transition, kind: str) -> bool:
    before = next((c for c in t.old.conditions if c.type == kind), None)
    after = t.conditions.get(kind)
    return after is not None and (
        before is None or (before.status, before.reason) != (after.status, after.reason)
    )


# --- rule 10: holds and steps -------------------------------------------------------------


def _holds(t: _Transition) -> None:
    """Raise a drift hold found by this look; release any hold approved at the current step."""
    look = t.observed.look
    step = t.status.current_step or 0
    if look is not None and look.hold and not approved(t.spec, t.status, step):
        hold = "; ".join(look.hold)
        if t.status.hold != hold:
            t.set(hold=hold)
            t.event("Held", f"{hold} — approve step {step} to continue", warning=True)
    if t.status.hold and approved(t.spec, t.status, step):
        t.set(hold=None)
        t.event("HoldReleased", f"hold at step {step} released by approval")


def _advance(t: _Transition) -> Decision:
    spec = t.spec
    steps = spec.steps
    for _ in range(MAX_STEP_ADVANCES):
        status = t.status
        index = status.current_step or 0
        weight = status.weight or 0
        if status.hold:
            t.condition("Held", "True", "Held", status.hold)
            return t.finish(weight, f"held at step {index}: {status.hold}")
        t.condition("Held", "False", "NotHeld")
        if spec.paused:
            t.wake_at(next_look_at(spec, status))
            return t.finish(weight, f"paused at step {index} (analysis keeps running)")
        if index >= len(steps):
            return _promote(t)
        waiting = _wait_reason(t, steps[index], index, weight)
        if isinstance(waiting, Decision):
            return waiting
        if waiting is not None:
            return t.finish(t.status.weight or 0, waiting)
        t.set(current_step=index + 1, step_started_at=t.stamp)
        if index + 1 < len(steps):
            t.event("StepStarted", _describe(steps[index + 1], index + 1))
    t.wake_at(t.now)
    return t.finish(t.status.weight or 0, "many steps advanced in one reconcile; continuing")


def _wait_reason(t: _Transition, step: Step, index: int, weight: int) -> str | Decision | None:
    """Why step ``index`` is not complete yet (None: it is; a Decision: the rollout ended)."""
    spec, status = t.spec, t.status
    if step.set_weight is not None:
        if step.set_weight != weight:
            t.set(weight=step.set_weight)
            t.event("WeightSet", f"candidate weight {weight}% → {step.set_weight}%")
        return _router_wait(t, step.set_weight)
    if step.analyze is not None:
        step_start = t.when(status.step_started_at) or t.now
        end = step_start + timedelta(seconds=seconds(step.analyze.duration))
        _feasibility_condition(t)
        if approved(spec, status, index):
            t.event("Approved", f"step {index} approved: moving on without waiting for a PASS")
            return None
        if _passed_inside_step(t, step_start):
            t.event("AnalysisPassed", f"step {index}: {status.analysis.reason if status.analysis else ''}")
            return None
        if t.now < end:
            t.wake_at(end)
            t.wake_at(next_look_at(spec, status))
            t.wake_at(analysis_start_time(spec, status))
            left = format_seconds((end - t.now).total_seconds())
            verdict = (
                status.analysis.verdict.value
                if status.analysis and status.analysis.verdict
                else "not started"
            )
            return f"step {index} analyze at {weight}%: {verdict}, {left} left"
        return _inconclusive_at_end(t, index)
    if approved(spec, status, index):
        t.event("Approved", f"step {index} approved")
        return None
    t.wake_at(next_look_at(spec, status))
    t.wake_at(analysis_start_time(spec, status))
    return f"waiting for approval of step {index} (rollouts promote)"


def _feasibility_condition(t: _Transition) -> None:
    """Say once, at an analyze step, when its traffic cannot reach the minimum evidence."""
    message = t.observed.feasibility
    if message is None:
        t.condition("EvidenceFeasible", "True", "EnoughTraffic", "the step can reach the minimum evidence")
        return
    t.condition("EvidenceFeasible", "False", "InsufficientTraffic", message)
    if _condition_changed(t, "EvidenceFeasible"):
        t.event("InsufficientTraffic", message, warning=True)


def _router_wait(t: _Transition, weight: int) -> str | None:
    base = t.status.baseline_replicas or 0
    want = expected_share(t.spec, weight, base)
    have = t.observed.effective_share
    if have is not None and abs(have - want) <= SHARE_TOLERANCE:
        return None
    t.wake_at(t.now + ROUTER_POLL)
    t.wake_at(analysis_start_time(t.spec, t.status))
    seen = "unknown" if have is None else f"{have * 100:.1f}%"
    error = f" ({t.observed.router_error})" if t.observed.router_error else ""
    return f"setting weight {weight}%: router reports {seen}{error}"


def _passed_inside_step(t: _Transition, step_start: datetime) -> bool:
    """A PASS counts for this step only if judged on an interval that began inside it."""
    analysis = t.status.analysis
    if analysis is None or analysis.verdict is not Verdict.PASS or analysis.last_look_at is None:
        return False
    interval = timedelta(seconds=seconds(t.spec.analysis.interval))
    return parse_timestamp(analysis.last_look_at) - interval >= step_start


def _inconclusive_at_end(t: _Transition, index: int) -> str | Decision | None:
    """An analyze step ended without a PASS: apply ``inconclusive``.

    ``promote`` moves on only on a genuine INCONCLUSIVE (evidence gathered, not enough): after
    NO_DATA or ERROR — Prometheus down, a query matching nothing — it holds instead, because
    an outage is no evidence and never promotes.
    """
    policy = t.spec.analysis.inconclusive
    analysis = t.status.analysis
    reason = analysis.reason if analysis and analysis.reason else "analysis never started"
    evidence = analysis is not None and analysis.verdict is Verdict.INCONCLUSIVE
    if policy == "promote" and evidence and analysis is not None and analysis.consecutive_errors == 0:
        t.event("InconclusivePromoted", f"step {index} ended without a PASS ({reason}); policy promote")
        return None
    if policy == "rollback":
        return _end(
            t, Result.ROLLED_BACK, "AnalysisInconclusive", f"step {index} ended without a PASS: {reason}"
        )
    if approved(t.spec, t.status, index):
        return None
    hold = f"step {index} ended without a PASS ({reason}); policy {policy}"
    t.set(hold=hold)
    t.event("Held", f"{hold} — approve step {index} to continue", warning=True)
    t.condition("Held", "True", "AnalysisInconclusive", hold)
    return f"held at step {index}: {hold}"


def _promote(t: _Transition) -> Decision:
    if (t.status.weight or 0) < 100:
        t.set(weight=100)
        t.event("WeightSet", f"candidate weight {t.old.weight or 0}% → 100%")
    waiting = _router_wait(t, 100)
    if waiting is not None:
        return t.finish(100, waiting)
    return _end(
        t,
        Result.SUCCEEDED,
        "Promoted",
        f"{t.spec.candidate.version} is the stable version; {t.spec.baseline.deployment} scales down "
        f"after {t.spec.scale_down.delay}",
    )


def _describe(step: Step, index: int) -> str:
    """``step 3: analyze up to 15m`` — steps are numbered from 0, as approvals name them."""
    if step.set_weight is not None:
        what = f"setWeight {step.set_weight}%"
    elif step.analyze is not None:
        what = f"analyze up to {step.analyze.duration}"
    else:
        what = "approve"
    return f"step {index}: {what}"


__all__ = ["abort_applies", "approved", "decide", "derive_phase", "retry_requested"]
