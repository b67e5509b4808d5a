"""The rollout state machine: ``decide(spec, status, observed, now) -> Decision``, pure.

Status is the only memory: everything a decision needs is in the spec (what the user wants,
including intents), the status (facts recorded by earlier decisions) and what the reconciler
observed just now. The function reads no clock and does no I/O, so a restarted controller
that reads the same status makes the same decision, and every transition is a table row in
tests/unit/test_decide.py.

Rules, in the order they are applied (the first that ends the reconcile wins):

0. A rollout that names a Deployment or route rule owned by an older active rollout touches
   nothing: no status facts, no router write, no scaling; a ``Conflict`` condition names the
   owner (see rollouts.controller.core.claims).
1. A changed candidate (or a retry intent after an ended rollout) starts a new rollout.
2. An ended rollout only finishes its scale-down after ``scaleDown.delay``.
3. An abort intent rolls back at once — before anything that needs Prometheus.
4. ``maxDuration`` exceeded rolls back; a hold or a gate never keeps duplicate GPUs forever.
5. A candidate Deployment deleted after it was ready rolls back; candidate pod failures (crash
   loop, OOM kill, restarts) roll back once it had traffic.
6. Harm found by the analysis (after Holm), a guard breach or a drift sanity failure rolls
   back — during analyze steps, approve waits and holds alike.
7. An exhausted errorBudget acts per ``inconclusive`` — except that it never promotes
   (Prometheus being down is no evidence): ``promote`` degrades to ``hold``.
8. A baseline that is not ``status.stableVersion`` freezes progress (BaselineMismatch).
9. Until the candidate is ready (preflight passed, pods ready on their accelerators,
   readyQuery evaluated for this candidate and true) traffic stays at 0; past
   ``progressDeadline`` the rollout fails.
10. Steps advance while they can: setWeight when the router reports the share; analyze on a
    PASS judged on at least one interval inside the step, on an approval naming the step (a
    person vouches; harm still rolls back), or at its end per ``inconclusive``; approve on an
    approval naming the step. Holds (drift, inconclusive) and ``paused`` stop
    advancing but not the analysis. After the last step the weight goes to 100 and the
    rollout succeeds: promotion.

Phases are derived from the resulting facts (:func:`derive_phase`), never branched on. Every
decision, whichever rule made it, folds the sizes observed into the rollout's cost
(``status.cost``, rollouts.controller.core.cost) on its way out.

Replicas and serving pods — letting the controller deploy must never leave the app without
serving pods, whatever the outcome:

The router kind's traffic model (rollouts.traffic) gives the replica plan and the share to
expect; where the rules differ it is by one property of the model, ``pods_are_traffic`` (every
Ready pod takes requests, as with the replicas router), never by router kind. A model whose
platform sizes the versions (``platform_sizes``: Knative's autoscaler) gets no sizes at all: the
rules below are then the platform's.

- The baseline is scaled below its current size only while the candidate exists and has the
  Ready pods the plan gives it (the 100% step when pods are the traffic, the scale-down after a
  promotion); otherwise the baseline is left as it is and the scale-down waits.
- A rollout that ends other than by promotion brings the baseline back to at least its size at
  the start. Traffic goes back to it (weight 0) once it has a Ready pod; until then the weight
  stays where it was, so a route never points at a version with nothing to serve. When pods
  are the traffic the candidate shrinks as baseline pods become
  Ready — ``candidate = max(0, b − ready baseline pods)`` — so the two together keep at least b
  Ready pods; the handover needs room for one extra pod, as a Deployment's ``maxSurge: 1``.
- When pods are the traffic, promotion keeps the baseline for ``scaleDown.delay`` (its pods
  still take a share of requests) unless a ``setWeight: 100`` step already scaled it to 0;
  promotion waits for the candidate's full size, not a 100% share.
- Under a GPU budget (``spec.capacity.maxSurge``, weight routers only) the sizes come from
  rollouts.controller.core.capacity instead (``_Transition.budgeted``): baseline + candidate never
  exceed the baseline's size at the start plus the surge; the baseline gives up a pod only for
  a Ready candidate pod and never below what its share needs; a rollback sends traffic back at
  once, cuts the candidate to the surge and grows the baseline back. ``status.replicaPlan``
  shows the sizes.
- Candidates replaced by a newer candidate are scaled to 0 (``status.replacedCandidates``),
  and when pods are the traffic a setWeight step waits until they have no Ready pod, so the
  share reported is the share served.

Autoscalers (docs/autoscalers.md) — the autoscaler ``spec.autoscaler`` names owns the size of
the Deployment it targets, so the controller never writes that size:

- While it sizes the baseline, the baseline's size is left to it and an auto candidate follows
  the baseline's *current* size and the weight — never below the size at the start, since a
  load-driven autoscaler shrinks the baseline as the candidate takes its share
  (``_Transition.sizing_base``).
- After a promotion its move to the candidate is recorded (``status.autoscaler``) once the
  candidate is Ready at that size; the reconciler then points it at the
  candidate, at every reconcile until it does. From the record on the candidate's size is left
  to it, and the baseline scales down only once the autoscaler no longer sizes it.
- A rollout that ends other than by promotion moves nothing: the autoscaler kept the baseline.
  The baseline is still brought back to at least its size at the start (above) until the
  candidate's scale-down; afterwards its size is the autoscaler's alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Literal

from rollouts.api.conditions import ConditionType, Reason
from rollouts.api.durations import format_seconds
from rollouts.api.spec import Approval, HeaderMatch, HeaderRoute, ModelRolloutSpec, Step
from rollouts.api.status import (
    MAX_HISTORY,
    MAX_REPLACED,
    AnalysisStatus,
    AutoscalerStatus,
    Condition,
    CostStatus,
    HistoryEntry,
    ModelRolloutStatus,
    Outcome,
    Phase,
    ReplicaPlanStatus,
    Result,
    Verdict,
)
from rollouts.api.timestamps import format_timestamp, parse_timestamp
from rollouts.controller.core.capacity import Budget, beside, restored, share_needs, split, surge_pods
from rollouts.controller.core.cost import account, describe
from rollouts.controller.core.evidence import begin, step_feasibility
from rollouts.controller.core.observed import (
    AutoscalerMove,
    Decision,
    DeploymentState,
    Event,
    EventType,
    Evidence,
    Observed,
)
from rollouts.controller.core.schedule import analysis_start_time, next_look_at
from rollouts.controller.core.steps import (
    candidate_gets_requests,
    first_load,
    first_weight,
    resume_index,
    steps_hash,
)
from rollouts.traffic.base import ReplicaPlan, TrafficModel
from rollouts.traffic.registry import traffic_model

ROUTER_POLL = timedelta(seconds=2)
READINESS_POLL = timedelta(seconds=5)
CONFLICT_POLL = timedelta(seconds=30)
SERVING_POLL = timedelta(seconds=5)
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

    It must name the step, name this candidate version, and not predate the current plan (a
    rollout start or a steps edit), so a stale click never passes a gate. An approval without a
    version (possible only under an older CRD) counts for no candidate: it would otherwise pass
    the same gate for every later one.
    """
    since = parse_timestamp(status.plan_started_at) if status.plan_started_at else None
    for approval in spec.approvals:
        if approval.step != step:
            continue
        if approval.version != spec.candidate.version:
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
@dataclass(frozen=True)
class Facts:
    """The status facts a decision records, typed: each is the status field of the same name.

    Set with ``t.facts = replace(t.facts, weight=50)``, which the type checker verifies (a typo
    such as ``wieght`` is an error, not a silently dropped update); ``tests/unit/test_decide.py``
    checks that every field names a status field.
    """

    candidate_version: str | None
    candidate_deployment: str | None
    replaced_candidates: tuple[str, ...]
    stable_version: str | None
    steps_hash: str | None
    started_at: str | None
    plan_started_at: str | None
    baseline_replicas: int | None
    current_step: int | None
    step_started_at: str | None
    weight: int | None
    mirror: int | None
    header_route: HeaderRoute | None
    candidate_ready_at: str | None
    hold: str | None
    retried_at: str | None
    scaled_down_at: str | None
    outcome: Outcome | None
    analysis: AnalysisStatus | None
    autoscaler: AutoscalerStatus | None
    cost: CostStatus | None

    @classmethod
    def of(cls, status: ModelRolloutStatus) -> Facts:
        """The facts as ``status`` records them."""
        return cls(**{item.name: getattr(status, item.name) for item in fields(cls)})

    def onto(self, status: ModelRolloutStatus) -> ModelRolloutStatus:
        """``status`` with these facts."""
        return status.model_copy(update={item.name: getattr(self, item.name) for item in fields(self)})


@dataclass
class _Transition:
    """The working state of one decision; built, used and dropped inside :func:`decide`."""

    spec: ModelRolloutSpec
    old: ModelRolloutStatus
    observed: Observed
    now: datetime
    facts: Facts = field(init=False)
    evidence: Evidence | None = None
    """What this reconcile's windows added (rule 6), read by rules 7 and 10."""
    events: list[Event] = field(default_factory=list)
    conditions: dict[str, Condition] = field(default_factory=dict)
    wake: list[datetime] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.facts = Facts.of(self.old)
        self.conditions = {c.type: c for c in self.old.conditions}
        self.history = list(self.old.history)

    # --- reading the status being built ---------------------------------------------

    @property
    def status(self) -> ModelRolloutStatus:
        return self.facts.onto(self.old)

    @property
    def model(self) -> TrafficModel:
        """What the rollout's router kind means for shares and replicas."""
        return traffic_model(self.spec.traffic)

    @property
    def stamp(self) -> str:
        return format_timestamp(self.now)

    def when(self, text: str | None) -> datetime | None:
        return parse_timestamp(text) if text else None

    # --- writing --------------------------------------------------------------------

    def event(self, reason: Reason, message: str, warning: bool = False) -> None:
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

    def condition(
        self, kind: ConditionType, value: ConditionStatus, reason: Reason, message: str = ""
    ) -> None:
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

    def finish(self, message: str, *, touch: bool = True) -> Decision:
        """The decision: the recorded weight for the router and the replica plan.

        ``touch`` False: the reconciler must change nothing (another rollout owns the objects).
        """
        replaced = self.replaced_left()
        self.facts = replace(self.facts, replaced_candidates=replaced)
        self.facts = replace(self.facts, cost=account(self.status, self.observed, self.now))
        status = self.status
        weight = status.weight or 0
        plan = self.replicas(weight) if touch else (None, None)
        facts = {
            "effective_weight": (
                None
                if self.observed.effective_share is None
                else round(self.observed.effective_share * 100, 3)
            ),
            "observed_generation": self.observed.generation,
            "replica_plan": self.plan_status(plan) if touch else self.old.replica_plan,
            "conditions": tuple(self.conditions.values()),
            "history": tuple(self.history[-MAX_HISTORY:]),
            "message": _with_source_error(message, self.observed.source_error)[:1024],
        }
        status = status.model_copy(update=facts)
        status = status.model_copy(update={"phase": derive_phase(self.spec, status)})
        future = [moment for moment in self.wake if moment is not None]
        requeue = None
        if future:
            requeue = max(0.5, (min(future) - self.now).total_seconds())
        return Decision(
            status=status,
            weight=weight if touch else None,
            mirror=(status.mirror or 0) if touch else None,
            header_match=(status.header_route.match if status.header_route else ()) if touch else None,
            baseline_replicas=plan[0],
            candidate_replicas=plan[1],
            scale_to_zero=replaced if touch and not self.model.platform_sizes else (),
            autoscaler_move=self.autoscaler_move() if touch else None,
            evidence=self.evidence,
            events=tuple(self.events),
            requeue_after=requeue,
        )

    def replaced_left(self) -> tuple[str, ...]:
        """Replaced candidates still to stop: not named by this spec, still sized or serving."""
        named = {self.spec.baseline.workload_deployment, self.spec.candidate.workload_deployment}
        seen = {state.name: state for state in self.observed.replaced}
        left = []
        for name in self.status.replaced_candidates:
            state = seen.get(name)
            if name in named or (state is not None and not state.exists):
                continue
            if state is not None and state.replicas == 0 and state.ready == 0:
                continue
            left.append(name)
        return tuple(left)

    def replicas(self, weight: int) -> tuple[int | None, int | None]:
        """Desired sizes for both Deployments given the facts decided so far.

        The rules are in the module docstring ("Replicas and serving pods").
        """
        status = self.status
        base = self.sizing_base
        if base is None or self.model.platform_sizes:
            return None, None
        budget = self.budget
        if budget is not None:
            return self.budgeted(weight, budget)
        observed = self.observed
        autoscaled = self.baseline_autoscaled
        outcome = status.outcome
        if outcome is not None:
            done = self.scale_down_done(status)
            if outcome.result is Result.SUCCEEDED and self.handed_over:
                needed = max(1, observed.candidate.replicas)  # the autoscaler's size for it, all Ready
                return (None if autoscaled else self.baseline_down_to(0 if done else None, needed)), None
            if outcome.result is Result.SUCCEEDED:
                final = self.model.replica_plan(self.spec, 100, base)
                if autoscaled:
                    return None, final.candidate
                kept = final.baseline or None  # the replicas router's 100% has none: leave it be
                return self.baseline_down_to(0 if done else kept, final.candidate), final.candidate
            restore = base if observed.baseline.exists and observed.baseline.replicas < base else None
            if autoscaled and status.scaled_down_at is not None:
                restore = None  # the rollback is over: the size is the autoscaler's again
            if self.model.pods_are_traffic:
                handover = max(0, min(observed.candidate.replicas, base - observed.baseline.ready))
                return restore, handover if observed.candidate.exists else None
            return restore, (0 if done and baseline_serving(observed) else None)
        if weight == 0 and (status.candidate_ready_at is None or not self.model.pods_are_traffic):
            if self.model.pods_are_traffic:
                return None, 1  # every Ready pod behind the shared Service gets traffic: keep one
            # Before live traffic (not Ready yet, or mirrored / header-routed): sized for the load to come.
            load = max(first_load(self.spec.steps), status.mirror or 0)
            return None, self.model.replica_plan(self.spec, load, base).candidate
        plan = self.model.replica_plan(self.spec, weight, base)
        baseline: int | None = plan.baseline
        if self.model.pods_are_traffic and (status.current_step or 0) >= len(self.spec.steps):
            baseline = None  # promoting: the baseline stays until scaleDown.delay after the end
        if autoscaled:
            baseline = None  # the autoscaler sizes the baseline
        return self.baseline_down_to(baseline, plan.candidate), plan.candidate

    @property
    def budget(self) -> Budget | None:
        """The GPU budget (``spec.capacity``) once the rollout has a baseline size to start from."""
        capacity, start = self.spec.capacity, self.status.baseline_replicas
        if capacity is None or start is None:
            return None
        observed = self.observed
        return Budget(start, surge_pods(capacity.max_surge, observed.baseline, observed.candidate))

    def plan_status(self, plan: tuple[int | None, int | None]) -> ReplicaPlanStatus | None:
        """``plan`` as status shows it under a budget (a size left alone: the Deployment's own)."""
        budget = self.budget
        if budget is None:
            return None
        baseline, candidate = plan
        observed = self.observed
        return ReplicaPlanStatus(
            budget=budget.limit,
            baseline=observed.baseline.replicas if baseline is None else baseline,
            candidate=observed.candidate.replicas if candidate is None else candidate,
        )

    def budgeted(self, weight: int, budget: Budget) -> tuple[int | None, int | None]:
        """Sizes under the budget (rollouts.controller.core.capacity), for a weight router."""
        status, candidate = self.status, self.observed.candidate
        outcome = status.outcome
        if outcome is not None and outcome.result is not Result.SUCCEEDED:
            return self.restored_within(budget)
        started = status.candidate_ready_at is not None or weight > 0
        sizing = weight if started else first_weight(self.spec.steps)
        size = self.model.replica_plan(self.spec, sizing, budget.baseline).candidate
        done = outcome is not None and self.scale_down_done(status)
        target = 0 if done else max(share_needs(budget.baseline, weight), budget.limit - size)
        plan = split(budget, target, size, candidate.ready if candidate.exists else 0)
        if candidate.ready < min(size, budget.limit - target):
            self.wake_at(self.now + SERVING_POLL)  # baseline pods go as candidate pods turn Ready
        settled = beside(budget, plan, self.observed.baseline, candidate)
        return settled.baseline, settled.candidate

    def restored_within(self, budget: Budget) -> tuple[int | None, int | None]:
        """After a rollback: the candidate makes room once traffic is back, the baseline grows into it."""
        observed, status = self.observed, self.status
        candidate = observed.candidate.replicas if observed.candidate.exists else 0
        if self.scale_down_done(status) and baseline_serving(observed):
            candidate = 0
        elif (status.weight or 0) == 0:
            candidate = min(candidate, budget.surge)  # it serves nothing now: harm beats capacity
        plan = ReplicaPlan(baseline=restored(budget, candidate), candidate=candidate)
        baseline = beside(budget, plan, observed.baseline, observed.candidate).baseline
        grow = observed.baseline.exists and observed.baseline.replicas < baseline
        return (baseline if grow else None), (candidate if observed.candidate.exists else None)

    @property
    def sizing_base(self) -> int | None:
        """The baseline size the replica plan is made from (None before a rollout starts).

        The size at the start; while the autoscaler sizes the baseline, its current size when
        that is larger. Never less than the size at the start: as the candidate's weight grows
        the baseline's share of the load falls, and a load-driven autoscaler shrinks it — a
        candidate following it down would lose capacity exactly while its own share grows.
        """
        start = self.status.baseline_replicas
        if start is None or not self.baseline_autoscaled:
            return start
        return max(start, self.observed.baseline.replicas)

    @property
    def baseline_autoscaled(self) -> bool:
        """Whether the autoscaler spec.autoscaler names sizes the baseline now (as cached)."""
        found = self.observed.autoscaler
        return found is not None and found.target == self.spec.baseline.workload_deployment

    @property
    def handed_over(self) -> bool:
        """Whether status records the autoscaler's move to this rollout's candidate."""
        record = self.status.autoscaler
        return record is not None and record.target == self.spec.candidate.workload_deployment

    def autoscaler_move(self) -> AutoscalerMove | None:
        """The recorded move, while the autoscaler (as cached) still sizes the baseline."""
        record = self.status.autoscaler
        found = self.observed.autoscaler
        if not self.handed_over or record is None or found is None or not self.baseline_autoscaled:
            return None
        return AutoscalerMove(name=found.name, source=found.target, target=record.target, kind=found.kind)

    def baseline_down_to(self, target: int | None, candidate_needed: int) -> int | None:
        """``target`` for the baseline, or None while the candidate cannot take over its pods."""
        current = self.observed.baseline.replicas
        if target is None or target >= current:
            return target
        candidate = self.observed.candidate
        if not candidate.exists or candidate.ready < candidate_needed:
            self.wake_at(self.now + SERVING_POLL)
            return None
        return target

    def scale_down_done(self, status: ModelRolloutStatus) -> bool:
        """Whether the loser's scale-down is due (``scaleDown.delay`` after the end)."""
        due = self.scale_down_time(status)
        return due is not None and self.now >= due

    def scale_down_time(self, status: ModelRolloutStatus) -> datetime | None:
        if status.outcome is None:
            return None
        pause = max(self.spec.scale_down.delay.seconds, self.spec.scale_down.drain.seconds)
        return parse_timestamp(status.outcome.at) + timedelta(seconds=pause)


def decide(spec: ModelRolloutSpec, status: ModelRolloutStatus, observed: Observed, now: datetime) -> Decision:
    """Decide the next status, router weight, replicas, events and requeue time (pure).

    Applies :data:`RULES` in order; the first that returns a decision ends the reconcile.
    """
    t = _Transition(spec=spec, old=status, observed=observed, now=now)
    for rule in RULES:
        decision = rule(t)
        if decision is not None:
            return decision
    raise AssertionError("rule 10 always decides")


# --- rule 0: objects owned by another rollout ----------------------------------------------


def _rule_0_owned_elsewhere(t: _Transition) -> Decision | None:
    """Rule 0: touch nothing; say which rollout owns what, once as an Event, and look again later."""
    message = t.observed.conflict
    if message is None:
        return None
    t.condition(ConditionType.CONFLICT, "True", Reason.OBJECTS_CLAIMED, message)
    if _condition_changed(t, ConditionType.CONFLICT):
        t.event(Reason.CONFLICT, message, warning=True)
    t.wake_at(t.now + CONFLICT_POLL)
    return t.finish(message, touch=False)


def _with_source_error(message: str, error: str | None) -> str:
    return f"{message} (metrics: {error})" if error else message


def baseline_serving(observed: Observed) -> bool:
    """Whether the baseline has a Ready pod to take traffic back."""
    return observed.baseline.ready >= 1


# --- rule 1: a new rollout ---------------------------------------------------------------


def _rule_1_start_if_new(t: _Transition) -> Decision | None:
    """Rule 1: a changed candidate or a retry starts a new rollout; a steps edit resumes."""
    _start_if_new(t)
    t.condition(
        ConditionType.CONFLICT,
        "False",
        Reason.NO_CONFLICT,
        "no other rollout owns the objects this one names",
    )
    return None


def _start_if_new(t: _Transition) -> None:
    spec, status = t.spec, t.status
    new_candidate = status.candidate_version != spec.candidate.version
    retry = not new_candidate and retry_requested(spec, status)
    if not new_candidate and not retry:
        _steps_edited(t)
        return
    previous = status.candidate_version
    t.facts = replace(
        t.facts,
        candidate_version=spec.candidate.version,
        candidate_deployment=spec.candidate.workload_deployment,
        replaced_candidates=_replaced(status, spec),
        stable_version=status.stable_version or spec.baseline.version,
        steps_hash=steps_hash(spec.steps),
        started_at=t.stamp,
        plan_started_at=t.stamp,
        baseline_replicas=t.observed.baseline.replicas,
        current_step=0,
        step_started_at=t.stamp,
        weight=0,
        mirror=None,
        header_route=None,
        candidate_ready_at=None,
        hold=None,
        outcome=None,
        analysis=None,
        scaled_down_at=None,
        autoscaler=None,
        cost=None,
    )
    t.conditions = {}
    if retry and spec.retry is not None:
        t.facts = replace(t.facts, retried_at=spec.retry.requested_at)
        t.event(Reason.ROLLOUT_RETRIED, f"retrying candidate {spec.candidate.version} from the first step")
    elif previous is not None and status.outcome is None:
        t.event(
            Reason.CANDIDATE_CHANGED,
            f"candidate changed from {previous} to {spec.candidate.version} mid-rollout: starting over",
            warning=True,
        )
    else:
        t.event(
            Reason.ROLLOUT_STARTED,
            f"rolling out {spec.candidate.version} ({spec.candidate.workload_deployment}) against "
            f"{spec.baseline.version} ({spec.baseline.workload_deployment})",
        )
    t.condition(
        ConditionType.PROGRESSING, "True", Reason.ROLLOUT_STARTED, f"rolling out {spec.candidate.version}"
    )


def _replaced(status: ModelRolloutStatus, spec: ModelRolloutSpec) -> tuple[str, ...]:
    """The replaced-candidates list after a new start: the last candidate joins it."""
    names = [*status.replaced_candidates]
    last = status.candidate_deployment
    if last is not None and last not in names:
        names.append(last)
    keep = [
        name
        for name in names
        if name not in (spec.baseline.workload_deployment, spec.candidate.workload_deployment)
    ]
    return tuple(keep[-MAX_REPLACED:])


def _steps_edited(t: _Transition) -> None:
    spec, status = t.spec, t.status
    current = steps_hash(spec.steps)
    if status.outcome is not None or status.steps_hash in (None, current):
        return
    resume = resume_index(spec.steps, status.weight or 0)
    t.facts = replace(
        t.facts,
        steps_hash=current,
        current_step=resume,
        step_started_at=t.stamp,
        plan_started_at=t.stamp,
        hold=None,
    )
    t.event(
        Reason.STEPS_CHANGED,
        f"spec.steps changed mid-rollout: resuming at step {resume} so traffic never moves backwards",
        warning=True,
    )


# --- rule 2: after the end --------------------------------------------------------------


def _rule_2_after_end(t: _Transition) -> Decision | None:
    """Rule 2: an ended rollout only finishes its scale-down (and keeps the app serving)."""
    status = t.status
    outcome = status.outcome
    if outcome is None:
        return None
    t.facts = replace(t.facts, weight=_ended_weight(t, outcome.result))
    message = _ended_message(outcome.result, outcome.message)
    if outcome.result is Result.SUCCEEDED:
        _hand_over(t)
    due = t.scale_down_time(status)
    if status.scaled_down_at is None and due is not None:
        if t.now < due:
            t.wake_at(due)
        elif _loser_can_go(t, outcome.result):
            loser = t.spec.baseline if outcome.result is Result.SUCCEEDED else t.spec.candidate
            t.facts = replace(t.facts, scaled_down_at=t.stamp)
            t.facts = replace(t.facts, cost=account(t.status, t.observed, t.now))  # final now
            cost = f"; the rollout used {describe(t.status.cost)}" if t.status.cost else ""
            loser_named = f"{loser.workload_deployment} ({loser.version})"
            said = (
                f"{loser_named} left to the platform's autoscaler"
                if t.model.platform_sizes
                else f"scaled {loser_named} to 0 replicas"
            )
            t.event(Reason.SCALED_DOWN, said + cost)
        else:
            t.wake_at(t.now + SERVING_POLL)
            message = f"{message} (scale-down waits: {_serving_wait(t, outcome.result)})"
    return t.finish(message)


def _ended_weight(t: _Transition, result: Result) -> int:
    """100 after a promotion; otherwise 0 once the baseline can serve, the last weight until then."""
    if result is Result.SUCCEEDED:
        return 100
    if baseline_serving(t.observed):
        return 0
    t.wake_at(t.now + SERVING_POLL)
    return t.old.weight or 0


def _loser_can_go(t: _Transition, result: Result) -> bool:
    """Whether the version that lost may be scaled to 0 without leaving nothing to serve."""
    observed = t.observed
    if result is Result.SUCCEEDED:
        return observed.candidate.exists and observed.candidate.ready >= 1 and not t.baseline_autoscaled
    return baseline_serving(observed) or not observed.baseline.exists


def _hand_over(t: _Transition) -> None:
    """After a promotion, record the autoscaler's move once the candidate can take its place.

    The candidate must be Ready at the plan's full size (:attr:`_Transition.sizing_base`: the
    autoscaler's size for the baseline, or the size at the start if larger): then the
    autoscaler, moved, finds a target already at least at the size it chose. The move is recorded here
    and carried out by the reconciler after the status write (``Decision.autoscaler_move``),
    again at every reconcile until the autoscaler names the candidate.
    """
    ref, found, candidate = t.spec.autoscaler, t.observed.autoscaler, t.observed.candidate
    if ref is None or found is None or t.status.autoscaler is not None or not t.baseline_autoscaled:
        return
    needed = t.model.replica_plan(t.spec, 100, t.sizing_base or 0).candidate
    if not candidate.exists or candidate.ready < needed:
        t.wake_at(t.now + SERVING_POLL)
        return
    target = t.spec.candidate.workload_deployment
    record = AutoscalerStatus(kind=ref.kind, name=ref.name, target=target, moved_at=t.stamp)
    t.facts = replace(t.facts, autoscaler=record)
    t.event(
        Reason.AUTOSCALER_MOVED,
        f"{ref.kind} {ref.name} moved from {t.spec.baseline.workload_deployment} to {target} "
        f"({candidate.ready} Ready of {needed})",
    )


def _serving_wait(t: _Transition, result: Result) -> str:
    side: DeploymentState = t.observed.candidate if result is Result.SUCCEEDED else t.observed.baseline
    found = t.observed.autoscaler
    if result is Result.SUCCEEDED and found is not None and t.baseline_autoscaled:
        return f"{found.kind} {found.name} still sizes {found.target}: it moves to {side.name} first"
    if not side.exists:
        return f"Deployment {side.name} not found"
    return f"Deployment {side.name} has {side.ready} Ready pod(s)"


def _ended_message(result: Result, detail: str) -> str:
    words = {
        Result.SUCCEEDED: "promoted",
        Result.ROLLED_BACK: "rolled back",
        Result.ABORTED: "aborted",
        Result.FAILED: "failed",
    }
    return f"{words[result]}: {detail}" if detail else words[result]


def _end(t: _Transition, result: Result, reason: Reason, message: str) -> Decision:
    """End the rollout: promotion keeps 100%, every other end sends all traffic back (0%)."""
    outcome = Outcome(result=result, reason=reason, message=message[:1024], at=t.stamp)
    t.facts = replace(t.facts, outcome=outcome, hold=None)
    _remove_mirror_and_header_route(t)
    if result is Result.SUCCEEDED:
        t.facts = replace(t.facts, stable_version=t.spec.candidate.version)
    weight = _ended_weight(t, result)
    t.facts = replace(t.facts, weight=weight)
    t.event(reason, message, warning=result is not Result.SUCCEEDED)
    if result is Result.SUCCEEDED:
        _hand_over(t)
    t.condition(ConditionType.PROGRESSING, "False", reason, message)
    t.wake_at(t.scale_down_time(t.status))
    ended = _ended_message(result, message)
    if weight != (100 if result is Result.SUCCEEDED else 0):
        ended = f"{ended}; traffic stays until the baseline has a Ready pod ({_serving_wait(t, result)})"
    return t.finish(ended)


# --- rules 3, 4 and 5: abort, maxDuration, a failing candidate --------------------------------


def _rule_3_abort(t: _Transition) -> Decision | None:
    """Rule 3: an abort intent about this rollout ends it at once, before any analysis."""
    abort = t.spec.abort
    if abort is None or not abort_applies(t.spec, t.status):
        return None
    who = f" by {abort.requested_by}" if abort.requested_by else ""
    return _end(t, Result.ABORTED, Reason.ABORTED, f"aborted{who}: {abort.reason}")


def _rule_4_max_duration(t: _Transition) -> Decision | None:
    """Rule 4: past ``maxDuration`` the rollout rolls back; otherwise wake up at that moment."""
    started = t.when(t.status.started_at) or t.now
    deadline = started + t.spec.max_duration.delta
    if t.now < deadline:
        t.wake_at(deadline)
        return None
    return _end(
        t,
        Result.ROLLED_BACK,
        Reason.MAX_DURATION_EXCEEDED,
        f"the rollout ran longer than maxDuration {t.spec.max_duration}",
    )


def _rule_5_candidate_failing(t: _Transition) -> Decision | None:
    """Rule 5: a deleted candidate Deployment, or failing candidate pods once it had traffic."""
    observed = t.observed
    if t.status.candidate_ready_at is not None and not observed.candidate.exists:
        return _end(
            t,
            Result.ROLLED_BACK,
            Reason.CANDIDATE_MISSING,
            f"candidate Deployment {t.spec.candidate.workload_deployment} was deleted",
        )
    if observed.health.failures and candidate_gets_requests(t.status):
        return _end(t, Result.ROLLED_BACK, Reason.CANDIDATE_FAILING, "; ".join(observed.health.failures))
    return None


# --- rules 6 and 7: analysis ------------------------------------------------------------


def _rule_6_harm(t: _Transition) -> Decision | None:
    """Rule 6: start the analysis when due; record the windows' evidence; harm rolls back."""
    status = t.status
    evidence = t.observed.evidence
    if evidence is None:
        start_at = analysis_start_time(t.spec, status)
        if status.analysis is None and t.spec.analysis.metrics and start_at is not None and t.now >= start_at:
            t.facts = replace(t.facts, analysis=begin(t.now))
        return None
    t.evidence = evidence
    t.facts = replace(t.facts, analysis=evidence.analysis)
    _analysis_condition(t)
    if evidence.reset is not None:
        t.condition(ConditionType.ANALYSIS, "Unknown", Reason.EVIDENCE_RESET, evidence.reset)
        t.event(Reason.EVIDENCE_RESET, evidence.reset, warning=True)
    if evidence.rollback:
        return _end(t, Result.ROLLED_BACK, Reason.ANALYSIS_FAILED, "; ".join(evidence.rollback))
    return None


def _rule_7_error_budget(t: _Transition) -> Decision | None:
    """Rule 7: an exhausted errorBudget rolls back under policy rollback, else holds."""
    if t.evidence is None:
        return None
    return _error_budget(t)


# --- rule 8: the baseline ------------------------------------------------------------------


def _rule_8_baseline(t: _Transition) -> Decision | None:
    """Rule 8: a baseline that is not the stable version freezes progress."""
    spec, stable = t.spec, t.status.stable_version
    if not stable or spec.baseline.version == stable:
        t.condition(
            ConditionType.BASELINE,
            "True",
            Reason.BASELINE_IS_STABLE,
            f"baseline {spec.baseline.version} is stable",
        )
        return None
    message = (
        f"spec.baseline.version is {spec.baseline.version!r} but the stable version is "
        f"{stable!r}: set baseline to the stable version to proceed"
    )
    t.condition(ConditionType.BASELINE, "False", Reason.BASELINE_MISMATCH, message)
    if _condition_changed(t, ConditionType.BASELINE):
        t.event(Reason.BASELINE_MISMATCH, message, warning=True)
    return t.finish(message)


def _analysis_condition(t: _Transition) -> None:
    analysis = t.status.analysis
    if analysis is None or analysis.verdict is None:
        return
    value: ConditionStatus = "False" if analysis.verdict in (Verdict.FAIL, Verdict.ERROR) else "True"
    reason = {
        Verdict.PASS: Reason.ANALYSIS_PASSED,
        Verdict.FAIL: Reason.ANALYSIS_FAILED,
        Verdict.INCONCLUSIVE: Reason.ANALYSIS_INCONCLUSIVE,
        Verdict.NO_DATA: Reason.ANALYSIS_NO_DATA,
        Verdict.ERROR: Reason.ANALYSIS_ERROR,
    }[analysis.verdict]
    t.condition(ConditionType.ANALYSIS, value, reason, analysis.reason)


def _error_budget(t: _Transition) -> Decision | None:
    analysis = t.status.analysis
    if analysis is None or analysis.consecutive_errors <= t.spec.analysis.error_budget:
        if t.status.hold and t.status.hold.startswith(UNAVAILABLE_HOLD):
            t.facts = replace(t.facts, hold=None)
            t.event(Reason.ANALYSIS_RECOVERED, "queries succeed again; the hold is lifted")
        return None
    policy = t.spec.analysis.inconclusive
    message = (
        f"{analysis.consecutive_errors} looks in a row failed (errorBudget "
        f"{t.spec.analysis.error_budget}): {analysis.reason}"
    )
    if policy == "rollback":
        return _end(t, Result.ROLLED_BACK, Reason.ERROR_BUDGET_EXHAUSTED, message)
    hold = f"{UNAVAILABLE_HOLD}: {message} (a failed query never promotes)"
    if t.status.hold != hold:
        t.facts = replace(t.facts, hold=hold)
        t.event(Reason.HELD, hold, warning=True)
    return None


# --- rule 9: readiness ------------------------------------------------------------------


def _rule_9_readiness(t: _Transition) -> Decision | None:
    """Rule 9: no traffic until the candidate is ready; past progressDeadline it fails."""
    if t.status.candidate_ready_at is not None:
        return None
    spec, observed = t.spec, t.observed
    health = observed.health
    started = t.when(t.status.started_at) or t.now
    deadline = started + spec.progress_deadline.delta
    problems: list[tuple[Reason, str]] = []
    if health.preflight_errors:
        message = "; ".join(health.preflight_errors)
        t.condition(ConditionType.PREFLIGHT, "False", Reason.PREFLIGHT_FAILED, message)
        problems.append((Reason.PREFLIGHT_FAILED, message))
    elif health.preflight_warnings:
        message = "; ".join(health.preflight_warnings)
        t.condition(ConditionType.PREFLIGHT, "True", Reason.PREFLIGHT_WARNINGS, message)
        if _condition_changed(t, ConditionType.PREFLIGHT):
            for warning in health.preflight_warnings:
                t.event(Reason.PREFLIGHT_WARNING, warning, warning=True)
    else:
        t.condition(ConditionType.PREFLIGHT, "True", Reason.PREFLIGHT_PASSED, "preflight checks passed")
    if health.failures:
        problems.append((Reason.CANDIDATE_FAILING, "; ".join(health.failures)))
    if not health.ready:
        problems.append((Reason.CANDIDATE_NOT_READY, health.not_ready_reason or "candidate not ready"))
    if observed.ready_query.ok is False or (
        spec.analysis.ready_query is not None and observed.ready_query.ok is not True
    ):
        problems.append(
            (
                Reason.READY_QUERY_FALSE,
                observed.ready_query.message or "readyQuery not evaluated yet for this candidate",
            )
        )
    if not problems:
        t.facts = replace(t.facts, candidate_ready_at=t.stamp)
        t.condition(
            ConditionType.READY,
            "True",
            Reason.CANDIDATE_READY,
            f"candidate {spec.candidate.version} is ready",
        )
        t.event(
            Reason.CANDIDATE_READY,
            f"candidate {spec.candidate.version} is ready; warm-up {spec.analysis.warmup}",
        )
        return None
    reason, message = problems[0]
    detail = "; ".join(text for _, text in problems)
    t.condition(ConditionType.READY, "False", reason, detail)
    if _condition_changed(t, ConditionType.READY) and reason == Reason.PREFLIGHT_FAILED:
        t.event(Reason.PREFLIGHT_FAILED, detail, warning=True)
    if t.now >= deadline:
        why = health.unschedulable or detail
        return _end(
            t,
            Result.FAILED,
            Reason.PROGRESS_DEADLINE_EXCEEDED,
            f"candidate not ready within {spec.progress_deadline}: {why}",
        )
    t.wake_at(min(deadline, t.now + READINESS_POLL))
    return t.finish(f"waiting for the candidate: {message}")


def _condition_changed(t: _Transition, kind: ConditionType) -> bool:
    before = next((c for c in t.old.conditions if c.type == kind), None)
    after = t.conditions.get(kind)
    return after is not None and (
        before is None or (before.status, before.reason) != (after.status, after.reason)
    )


# --- rule 10: holds and steps -------------------------------------------------------------


def _holds(t: _Transition) -> None:
    """Raise a drift hold found by this look; release any hold approved at the current step."""
    evidence = t.evidence
    step = t.status.current_step or 0
    if evidence is not None and evidence.hold and not approved(t.spec, t.status, step):
        hold = "; ".join(evidence.hold)
        if t.status.hold != hold:
            t.facts = replace(t.facts, hold=hold)
            t.event(Reason.HELD, f"{hold} — approve step {step} to continue", warning=True)
    if t.status.hold and approved(t.spec, t.status, step):
        t.facts = replace(t.facts, hold=None)
        t.event(Reason.HOLD_RELEASED, f"hold at step {step} released by approval")


def _rule_10_steps(t: _Transition) -> Decision:
    """Rule 10: holds, then steps advance while they can; after the last, promotion."""
    _holds(t)
    return _advance(t)


def _advance(t: _Transition) -> Decision:
    spec = t.spec
    steps = spec.steps
    for _ in range(MAX_STEP_ADVANCES):
        status = t.status
        index = status.current_step or 0
        weight = status.weight or 0
        if status.hold:
            t.condition(ConditionType.HELD, "True", Reason.HELD, status.hold)
            t.wake_at(next_look_at(spec, status))  # a hold stops the steps, never the analysis
            return t.finish(f"held at step {index}: {status.hold}")
        t.condition(ConditionType.HELD, "False", Reason.NOT_HELD)
        if spec.paused:
            t.wake_at(next_look_at(spec, status))
            return t.finish(f"paused at step {index} (analysis keeps running)")
        if index >= len(steps):
            return _promote(t)
        waiting = _wait_reason(t, steps[index], index, weight)
        if isinstance(waiting, Decision):
            return waiting
        if waiting is not None:
            return t.finish(waiting)
        t.facts = replace(t.facts, current_step=index + 1, step_started_at=t.stamp)
        if index + 1 < len(steps):
            t.event(Reason.STEP_STARTED, _describe(steps[index + 1], index + 1))
    t.wake_at(t.now)
    return t.finish("many steps advanced in one reconcile; continuing")


def _wait_reason(t: _Transition, step: Step, index: int, weight: int) -> str | Decision | None:
    """Why step ``index`` is not complete yet (None: it is; a Decision: the rollout ended)."""
    spec, status = t.spec, t.status
    if step.set_weight is not None:
        if step.set_weight != weight:
            t.facts = replace(t.facts, weight=step.set_weight)
            t.event(Reason.WEIGHT_SET, f"candidate weight {weight}% → {step.set_weight}%")
        if status.mirror:
            t.facts = replace(t.facts, mirror=None)
            t.event(Reason.MIRROR_SET, f"mirror {status.mirror}% removed: live traffic moves")
        return _router_wait(t, step.set_weight) or _routing_wait(t)
    if step.set_mirror is not None:
        if step.set_mirror != (status.mirror or 0):
            t.facts = replace(t.facts, mirror=step.set_mirror or None)
            t.event(Reason.MIRROR_SET, f"mirror {status.mirror or 0}% → {step.set_mirror}% of requests")
        return _routing_wait(t)
    if step.set_header_route is not None:
        if step.set_header_route != status.header_route:
            t.facts = replace(t.facts, header_route=step.set_header_route)
            t.event(
                Reason.HEADER_ROUTE_SET,
                f"requests with {step.set_header_route.describe()} go to the candidate",
            )
        return _routing_wait(t)
    if step.analyze is not None:
        step_start = t.when(status.step_started_at) or t.now
        end = step_start + step.analyze.duration.delta
        _feasibility_condition(t)
        if approved(spec, status, index):
            t.event(Reason.APPROVED, f"step {index} approved: moving on without waiting for a PASS")
            return None
        if _passed_inside_step(t, step_start):
            t.event(
                Reason.ANALYSIS_PASSED, f"step {index}: {status.analysis.reason if status.analysis else ''}"
            )
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
        t.event(Reason.APPROVED, f"step {index} approved")
        return None
    t.wake_at(next_look_at(spec, status))
    t.wake_at(analysis_start_time(spec, status))
    return f"waiting for approval of step {index} (rollouts promote)"


def _feasibility_condition(t: _Transition) -> None:
    """Say once, at an analyze step, when its traffic cannot reach the minimum evidence."""
    state = t.evidence.state if t.evidence is not None else None
    message = step_feasibility(t.spec, t.status, t.now, state)
    if message is None:
        t.condition(
            ConditionType.EVIDENCE_FEASIBLE,
            "True",
            Reason.ENOUGH_TRAFFIC,
            "the step can reach the minimum evidence",
        )
        return
    t.condition(ConditionType.EVIDENCE_FEASIBLE, "False", Reason.INSUFFICIENT_TRAFFIC, message)
    if _condition_changed(t, ConditionType.EVIDENCE_FEASIBLE):
        t.event(Reason.INSUFFICIENT_TRAFFIC, message, warning=True)


def _router_wait(t: _Transition, weight: int) -> str | None:
    replaced = _replaced_serving(t)
    if replaced is not None:
        return replaced
    base = t.status.baseline_replicas or 0
    want = t.model.expected_share(t.spec, weight, base)
    have = t.observed.effective_share
    if have is not None and abs(have - want) <= SHARE_TOLERANCE:
        return None
    t.wake_at(t.now + ROUTER_POLL)
    t.wake_at(analysis_start_time(t.spec, t.status))
    seen = "unknown" if have is None else f"{have * 100:.1f}%"
    error = f" ({t.observed.router_error})" if t.observed.router_error else ""
    return f"setting weight {weight}%: router reports {seen}{error}"


def _routing_wait(t: _Transition) -> str | None:
    """Wait until the router reports the mirror and header route status asks for."""
    status, observed = t.status, t.observed
    want_mirror = (status.mirror or 0) / 100
    want_match = status.header_route.match if status.header_route else ()
    have_mirror, have_match = observed.effective_mirror, observed.effective_header_match
    if (
        have_mirror is not None
        and abs(have_mirror - want_mirror) <= SHARE_TOLERANCE
        and have_match is not None
        and _header_keys(have_match) == _header_keys(want_match)
    ):
        return None
    t.wake_at(t.now + ROUTER_POLL)
    seen = "unknown" if have_mirror is None else f"{have_mirror * 100:.1f}%"
    error = f" ({observed.router_error})" if observed.router_error else ""
    return f"setting mirror {status.mirror or 0}% and header route: router reports mirror {seen}{error}"


def _header_keys(match: tuple[HeaderMatch, ...]) -> set[tuple[str, str, str]]:
    """A header route's matches, header names compared case-insensitively (Istio lower-cases them)."""
    return {(header.name.lower(), header.value, header.type) for header in match}


def _remove_mirror_and_header_route(t: _Transition) -> None:
    """The rollout ended: neither mirror nor header route outlives it (applied with the weight)."""
    status = t.status
    if status.mirror or status.header_route is not None:
        t.facts = replace(t.facts, mirror=None, header_route=None)
        t.event(Reason.MIRROR_SET, "mirror and header route removed")


def _full_size_wait(t: _Transition) -> str | None:
    """Pods are the traffic: promotion waits for the candidate's full size, not a 100% share.

    The baseline's pods stay (and serve) until ``scaleDown.delay`` after the promotion.
    """
    replaced = _replaced_serving(t)
    if replaced is not None:
        return replaced
    needed = t.model.replica_plan(t.spec, 100, t.status.baseline_replicas or 0).candidate
    ready = t.observed.candidate.ready
    if ready >= needed:
        return None
    t.wake_at(t.now + ROUTER_POLL)
    return f"promoting: candidate has {ready} of {needed} Ready pods"


def _replaced_serving(t: _Transition) -> str | None:
    """Pods are the traffic: replaced candidates' Ready pods take requests too."""
    if not t.model.pods_are_traffic:
        return None
    serving = [
        f"{state.name} ({state.ready} Ready)"
        for state in t.observed.replaced
        if state.exists and state.ready > 0 and state.name in t.status.replaced_candidates
    ]
    if not serving:
        return None
    t.wake_at(t.now + ROUTER_POLL)
    return f"waiting for replaced candidates to stop: {', '.join(serving)}"


def _passed_inside_step(t: _Transition, step_start: datetime) -> bool:
    """A PASS counts for this step only if judged on an interval that began inside it."""
    analysis = t.status.analysis
    if analysis is None or analysis.verdict is not Verdict.PASS or analysis.last_look_at is None:
        return False
    interval = t.spec.analysis.interval.delta
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
        t.event(Reason.INCONCLUSIVE_PROMOTED, f"step {index} ended without a PASS ({reason}); policy promote")
        return None
    if policy == "rollback":
        return _end(
            t,
            Result.ROLLED_BACK,
            Reason.ANALYSIS_INCONCLUSIVE,
            f"step {index} ended without a PASS: {reason}",
        )
    if approved(t.spec, t.status, index):
        return None
    hold = f"step {index} ended without a PASS ({reason}); policy {policy}"
    t.facts = replace(t.facts, hold=hold)
    t.wake_at(next_look_at(t.spec, t.status))  # a hold stops the steps, never the analysis
    t.event(Reason.HELD, f"{hold} — approve step {index} to continue", warning=True)
    t.condition(ConditionType.HELD, "True", Reason.ANALYSIS_INCONCLUSIVE, hold)
    return f"held at step {index}: {hold}"


def _promote(t: _Transition) -> Decision:
    if (t.status.weight or 0) < 100:
        t.facts = replace(t.facts, weight=100)
        t.event(Reason.WEIGHT_SET, f"candidate weight {t.old.weight or 0}% → 100%")
    waiting = _router_wait(t, 100) if not t.model.pods_are_traffic else _full_size_wait(t)
    if waiting is not None:
        return t.finish(waiting)
    return _end(
        t,
        Result.SUCCEEDED,
        Reason.PROMOTED,
        f"{t.spec.candidate.version} is the stable version; {t.spec.baseline.workload_deployment} "
        f"scales down after {t.spec.scale_down.delay}",
    )


def _describe(step: Step, index: int) -> str:
    """``step 3: analyze up to 15m`` — steps are numbered from 0, as approvals name them."""
    if step.set_weight is not None:
        what = f"setWeight {step.set_weight}%"
    elif step.set_mirror is not None:
        what = f"setMirror {step.set_mirror}%"
    elif step.set_header_route is not None:
        what = f"setHeaderRoute {step.set_header_route.describe()}"
    elif step.analyze is not None:
        what = f"analyze up to {step.analyze.duration}"
    else:
        what = "approve"
    return f"step {index}: {what}"


__all__ = ["abort_applies", "approved", "decide", "derive_phase", "retry_requested"]


Rule = Callable[[_Transition], Decision | None]

RULES: tuple[Rule, ...] = (
    _rule_0_owned_elsewhere,
    _rule_1_start_if_new,
    _rule_2_after_end,
    _rule_3_abort,
    _rule_4_max_duration,
    _rule_5_candidate_failing,
    _rule_6_harm,
    _rule_7_error_budget,
    _rule_8_baseline,
    _rule_9_readiness,
    _rule_10_steps,
)
"""The rules of the module docstring, in its order; the first to return a decision wins."""
