"""The controller's own pipeline on a simulated clock: what ``rollouts analyze`` replays.

Why: a rollout that was rolled back (or should have been) must be explainable after the fact,
and a plan must be tried before it goes live — with the answer the controller would give, not
a second implementation's. So the replay runs exactly the reconcile pipeline — the fetch of
the windows due (:func:`rollouts.controller.shell.fetch.fetch_windows`), the evidence fold
(:func:`rollouts.controller.core.evidence.assess`) and the state machine
(:func:`rollouts.controller.core.decide.decide`), with the plan's steps, analyze durations,
``inconclusive`` policy and error budget — and only the world around it is simulated:

- the candidate is ready ``warmup`` before the first window, so the analysis starts exactly at
  the first window (windows are aligned to the analysis start, as in the cluster);
- the router reports every asked weight at once; both Deployments are healthy at 4 replicas
  (the replica count only sizes an auto candidate, which the analysis never reads);
- the readyQuery is true (readiness is not replayed: the observations start after it);
- nobody approves: at an approve step or a hold the plan waits while the looks go on (harm
  still rolls back), and the final status says where it waits.

Time moves from one decision's requeue moment to the next, as the work queue would move it, so
windows are fetched one at a time when they become due; the replay ends at the rollout's end
(promotion or rollback) or when the next due window lies past the last one given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from analysis import AnalysisState, RolloutJudgement
from analysis.observations import Observation, Window
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus
from rollouts.controller.core.decide import decide
from rollouts.controller.core.evidence import assess
from rollouts.controller.core.observed import (
    CandidateHealth,
    DeploymentState,
    Event,
    Observed,
    ReadyQueryResult,
)
from rollouts.controller.core.schedule import due_windows
from rollouts.controller.shell.fetch import MetricsSource, fetch_windows
from rollouts.traffic.registry import traffic_model

REPLAY_REPLICAS = 4
"""Both Deployments' size in the simulated world."""
MAX_DECISIONS = 100_000
"""A bound on the loop (a decision that never moves time would otherwise spin)."""
MIN_STEP = timedelta(seconds=0.5)


@dataclass(frozen=True)
class ReplayedLook:
    """One window as the controller would have judged it."""

    number: int
    window: Window
    observations: dict[str, Observation]
    judgement: RolloutJudgement
    state: AnalysisState
    status: ModelRolloutStatus
    """The rollout's status after the decision that folded this window."""
    events: tuple[Event, ...] = ()
    """What the controller did on this look: the Events of the decision that folded it, and of
    the decisions after it that folded no further window (a step passed, a hold, the promotion
    or the rollback it led to)."""


@dataclass(frozen=True)
class Replay:
    """Every look, and the status the replay ended with (``status.outcome``: how it ended)."""

    looks: tuple[ReplayedLook, ...]
    status: ModelRolloutStatus


def _world(spec: ModelRolloutSpec, status: ModelRolloutStatus) -> Observed:
    weight = status.weight or 0
    return Observed(
        generation=1,
        baseline=DeploymentState(
            spec.baseline.workload_deployment, replicas=REPLAY_REPLICAS, ready=REPLAY_REPLICAS
        ),
        candidate=DeploymentState(
            spec.candidate.workload_deployment, replicas=REPLAY_REPLICAS, ready=REPLAY_REPLICAS
        ),
        health=CandidateHealth(ready=True),
        ready_query=ReadyQueryResult(ok=True, message="readiness is not replayed"),
        effective_share=traffic_model(spec.traffic).expected_share(spec, weight, REPLAY_REPLICAS),
        effective_mirror=(status.mirror or 0) / 100,
        effective_header_match=status.header_route.match if status.header_route else (),
    )


def replay(spec: ModelRolloutSpec, source: MetricsSource, windows: Sequence[Window]) -> Replay:
    """Run the pipeline over ``windows`` (consecutive, one interval each); see the module docstring."""
    if not windows:
        return Replay(looks=(), status=ModelRolloutStatus())
    last_end = windows[-1].end
    now = windows[0].start - spec.analysis.warmup.delta
    status = ModelRolloutStatus()
    looks: list[ReplayedLook] = []
    for _ in range(MAX_DECISIONS):
        due = due_windows(spec, status, now)
        if due and due[0].end > last_end:
            break
        observed = _world(spec, status)
        if due:
            observed = replace(observed, windows=fetch_windows(spec, status, source, now))
        observed = assess(spec, status, observed)
        decision = decide(spec, status, observed, now)
        status = decision.status
        evidence = decision.evidence
        if evidence is not None and evidence.judgement is not None and evidence.state is not None:
            for item in observed.windows:
                looks.append(
                    ReplayedLook(
                        number=len(looks) + 1,
                        window=item.window,
                        observations=dict(item.observations),
                        judgement=evidence.judgement,
                        state=evidence.state,
                        status=status,
                    )
                )
            if looks:
                looks[-1] = replace(looks[-1], events=decision.events)
        elif looks and decision.events:
            looks[-1] = replace(looks[-1], events=looks[-1].events + decision.events)
        if status.outcome is not None or decision.requeue_after is None:
            break
        now += max(MIN_STEP, timedelta(seconds=decision.requeue_after))
    return Replay(looks=tuple(looks), status=status)
